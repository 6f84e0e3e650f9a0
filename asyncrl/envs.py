"""Environments with the paper's preprocessing: Atari (ALE), CartPole and a toy corridor; the
continuous-control tasks (MuJoCo, the Control Suite) come from envs_continuous.

The Atari backends live in envs_atari (the only module that imports ``ale_py``). Every env
returned by :func:`make_env` follows the gymnasium API and the same contract:

- ``reward`` is the *learning* reward (clipped to [-1, 1] when ``cfg.clip_rewards``);
  ``info["raw_reward"]`` is always the raw game reward of the agent step (summed over skipped
  frames), so a reported score is the sum of raw rewards over a whole game.
- ``terminated`` is a true game over (all lives lost, never a single life loss); ``truncated`` is
  the time limit. They are never merged: truncation bootstraps, termination does not. Both can
  be true at once when the game ends on the limit's last step; termination then wins.
- ``info["life_lost"]`` is true on the step that loses a life without ending the game (never
  on a game over, never on games without lives). The game goes on: what a lost life means for
  learning is the runtime's business (``env.terminal_on_life_loss``).
- With ``cfg.fire_reset`` (set per game in conf/env/, for the games that wait for FIRE to launch
  the ball), the env presses FIRE for one agent step after every reset (after the no-ops) and
  after every lost life, so that no policy can stall a game at its serve. Those steps' rewards
  count in the score; their frames are the env's, not agent steps.
- Atari observations are uint8 ``(frame_stack, screen_size, screen_size)``, most recent frame
  last. Every call returns a fresh array the caller may keep. Atari ``info`` also carries
  ``lives``, ``episode_frame_number`` and ``frame_number``.

Two Atari backends produce identical observations, rewards and flags for the same seed and
actions: "gymnasium" (gymnasium's wrappers, the reference) and "lean" (the ALE driven directly:
no per-frame screen copy or info dict, no wrapper layers; ~15-20% more steps/s). A third,
"vector", steps the game in ale-py's C++ vector environment, which releases the GIL, for the
thread runtime: the same preprocessing, other no-op draws (see :class:`_VectorAtari`).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from .envs_atari import ATARI_BACKENDS, _FireReset, _gymnasium_atari, _LeanAtari, _VectorAtari
from .envs_continuous import CONTINUOUS_KINDS

__all__ = ["EnvSpec", "KINDS", "CONTINUOUS_KINDS", "make_env", "env_spec", "action_size", "atari_games",
           "bench_env", "render_frame"]

KINDS = ("atari", "cartpole", "toy") + CONTINUOUS_KINDS


@dataclass(frozen=True)
class EnvSpec:
    obs_shape: tuple
    obs_dtype: str  # "uint8" | "float32"
    n_actions: int  # the number of actions, or a Box action's dimension
    frame_skip: int  # emulator frames per agent step as the env really runs (1 for vector envs)


def make_env(cfg: Any, seed: int, render: bool = False) -> gym.Env:
    """Build the env described by ``cfg`` (an EnvCfg or its DictConfig).

    ``seed`` fixes every source of randomness (ALE, no-op counts, sticky actions, initial
    states): it is applied at the first ``reset()`` unless that call passes its own seed, and
    later resets continue the same random streams.
    """
    if cfg.kind == "atari":
        if cfg.backend == "gymnasium":
            env = _gymnasium_atari(cfg)
        elif cfg.backend == "lean" or (cfg.backend == "vector" and render):
            env = _LeanAtari(cfg)  # rendering needs the emulator's screen, which "vector" keeps in C++
        elif cfg.backend == "vector":
            env = _VectorAtari(cfg)
        else:
            raise ValueError(f"unknown Atari backend {cfg.backend!r} ({' | '.join(ATARI_BACKENDS)})")
        if getattr(cfg, "fire_reset", False):
            env = _FireReset(env)
    elif cfg.kind == "cartpole":
        env = gym.make("CartPole-v1", render_mode="rgb_array" if render else None)
    elif cfg.kind == "toy":
        env = TimeLimit(_Corridor(cfg.length), max_episode_steps=cfg.max_steps)
    elif cfg.kind in CONTINUOUS_KINDS:
        from .envs_continuous import make_continuous_env

        env = make_continuous_env(cfg, render)
    else:
        raise ValueError(f"unknown env kind {cfg.kind!r} ({' | '.join(KINDS)})")
    return _RewardsAndSeed(env, clip_rewards=cfg.clip_rewards, seed=seed)


def render_frame(env: gym.Env) -> np.ndarray:
    """The current screen as an RGB array (for videos); needs make_env(..., render=True) on CartPole."""
    base = env.unwrapped
    if hasattr(base, "ale"):  # Atari, either backend: the emulator's own full-size screen
        return base.ale.getScreenRGB()
    frame = env.render()
    if frame is None:
        raise ValueError("this env cannot render; build it with make_env(cfg, seed, render=True)")
    return frame


def env_spec(cfg: Any) -> EnvSpec:
    env = make_env(cfg, seed=0)
    try:
        space = env.observation_space
        return EnvSpec(
            obs_shape=tuple(space.shape),
            obs_dtype=np.dtype(space.dtype).name,
            n_actions=action_size(env.action_space),
            frame_skip=int(cfg.frame_skip) if cfg.kind == "atari" else 1,
        )
    finally:
        env.close()


def action_size(space: spaces.Space) -> int:
    """A Discrete space's number of actions, or a Box's number of action components."""
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    return int(space.n)


def atari_games() -> list[str]:
    """The 57 ALE ids of the paper's Atari suite, in the reference-score table's order."""
    table = resources.files("asyncrl.data").joinpath("atari_reference_scores.csv")
    with table.open(newline="") as f:
        return [row["ale_id"] for row in csv.DictReader(f)]


def bench_env(cfg: Any, steps: int = 5000) -> float:
    """Agent steps per second with uniformly random actions (resets included): drawn from the
    action space, seeded by make_env, so a Box (continuous control) works as a Discrete does."""
    env = make_env(cfg, seed=0)
    actions = [env.action_space.sample() for _ in range(steps)]
    try:
        env.reset()
        start = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        return steps / (time.perf_counter() - start)
    finally:
        env.close()


class _RewardsAndSeed(gym.Wrapper):
    """Outermost wrapper of every env: raw vs learning reward, and the seed given to make_env."""

    def __init__(self, env: gym.Env, clip_rewards: bool, seed: int):
        super().__init__(env)
        self._clip = bool(clip_rewards)
        self._pending_seed: int | None = int(seed)
        self._lives = 0
        # Seeded too so that code sampling random actions is as reproducible as the env.
        self.action_space.seed(int(seed))

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is None:
            seed = self._pending_seed
        self._pending_seed = None
        obs, info = self.env.reset(seed=seed, options=options)
        self._lives = info.get("lives", 0)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        raw = float(reward)
        info["raw_reward"] = raw
        lives = info.get("lives", 0)
        info["life_lost"] = lives < self._lives and not terminated
        self._lives = lives
        reward = min(1.0, max(-1.0, raw)) if self._clip else raw
        return obs, reward, terminated, truncated, info


# --------------------------------------------------------------------------------------------
# Toy


class _Corridor(gym.Env):
    """A corridor of cells 0..length-1 starting at 0: action 0 = left (a wall at 0), 1 = right.

    Reaching the last cell pays +1 and ends the game. Small enough that a correct learner solves
    it in seconds, and its optimal values are known in closed form (V(s) = gamma ** (length-2-s)),
    which makes it a test bed for methods.
    """

    def __init__(self, length: int):
        if length < 2:
            raise ValueError(f"corridor length must be >= 2, got {length}")
        self._length = int(length)
        self._pos = 0
        self.action_space = spaces.Discrete(2)
        self.observation_space = spaces.Box(0.0, 1.0, (self._length,), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._pos = 0
        return self._obs(), {}

    def step(self, action):
        self._pos = max(0, self._pos - 1) if action == 0 else self._pos + 1
        terminated = self._pos == self._length - 1
        return self._obs(), float(terminated), terminated, False, {}

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self._length, dtype=np.float32)
        obs[self._pos] = 1.0
        return obs

"""Environments with the paper's preprocessing: Atari (ALE), CartPole and a toy corridor; the
continuous-control tasks (MuJoCo, the Control Suite) come from envs_continuous.

This is the only module that imports ``ale_py``. Every env returned by :func:`make_env` follows
the gymnasium API and the same contract:

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

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation, TimeLimit

from .envs_continuous import CONTINUOUS_KINDS

__all__ = ["EnvSpec", "KINDS", "CONTINUOUS_KINDS", "make_env", "env_spec", "action_size", "atari_games",
           "bench_env", "render_frame"]

KINDS = ("atari", "cartpole", "toy") + CONTINUOUS_KINDS
ATARI_BACKENDS = ("gymnasium", "lean", "vector")


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
    """Agent steps per second with uniformly random actions (resets included)."""
    env = make_env(cfg, seed=0)
    actions = np.random.default_rng(0).integers(env.action_space.n, size=steps).tolist()
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
# Atari


def _atari_env(cfg: Any):
    # Imported here so that CartPole/toy runs, and every child process using them, skip
    # loading the emulator.
    from ale_py.env import AtariEnv

    # obs_type="grayscale": the preprocessing reads screens from the ALE itself, so AtariEnv's
    # own per-frame observation is thrown away; grayscale is a third of the RGB copy.
    return AtariEnv(
        game=cfg.game,
        obs_type="grayscale",
        frameskip=1,
        repeat_action_probability=cfg.repeat_action_probability,
        full_action_space=cfg.full_action_space,
        max_num_frames_per_episode=cfg.max_episode_frames,
    )


def _check_noop_starts(cfg: Any, meanings: list) -> None:
    """No-op starts (env.noop_max > 0) play action 0 at reset: it must be NOOP."""
    if int(cfg.noop_max) > 0 and meanings[0] != "NOOP":
        raise ValueError(f"{cfg.game}: no-op starts need action 0 to be NOOP")


def _gymnasium_atari(cfg: Any) -> gym.Env:
    env = _FreshFinalFrame(
        _atari_env(cfg),
        noop_max=cfg.noop_max,
        frame_skip=cfg.frame_skip,
        screen_size=cfg.screen_size,
        terminal_on_life_loss=False,
        grayscale_obs=True,
    )
    return FrameStackObservation(env, cfg.frame_stack)


class _FireReset(gym.Wrapper):
    """Press FIRE for one agent step after a reset and after a lost life (games that wait for it).

    Games such as Breakout do nothing until FIRE launches the ball, after the start and after
    every lost life: a policy that never presses FIRE would play until the 30-minute cap. The
    forced step's reward is added to the step it follows (the score stays the whole game's), and
    if it ends the game, that step ends the game."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()
        if "FIRE" not in meanings:
            raise ValueError(f"fire_reset: this game's action set has no FIRE ({meanings})")
        self._fire = meanings.index("FIRE")
        self._lives = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        obs, _, terminated, truncated, info = self.env.step(self._fire)
        if terminated or truncated:  # a game over within one step of the start: start again
            obs, info = self.env.reset(options=options)
        self._lives = info.get("lives", 0)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = info.get("lives", 0)
        if lives < self._lives and not (terminated or truncated):
            obs, more, terminated, truncated, info = self.env.step(self._fire)
            reward += more
            lives = info.get("lives", 0)
        self._lives = lives
        return obs, reward, terminated, truncated, info


class _FreshFinalFrame(AtariPreprocessing):
    """AtariPreprocessing whose last observation of an episode is the final screen.

    gymnasium's step leaves its frame loop on termination/truncation *before* grabbing any
    screen, so the step that ends an episode returns the previous step's frame again. A
    truncated episode is bootstrapped from that observation, so it must show the state the
    game really stopped in. Rule (shared with the lean backend): the ending step's frame is the
    last emulator screen, unpooled (its partner frame may not have been grabbed).
    """

    def step(self, action):
        obs, reward, terminated, truncated, info = super().step(action)
        if terminated or truncated:
            self.ale.getScreenGrayscale(self.obs_buffer[0])
            self.obs_buffer[1].fill(0)  # max(screen, 0) == screen: _get_obs then just resizes
            obs = self._get_obs()
        return obs, reward, terminated, truncated, info


class _LeanAtari(gym.Env):
    """The gymnasium Atari stack re-done on the ALE directly, for speed.

    Seeding, ROM loading and the action set come from ale-py's AtariEnv so that both backends
    draw the same ALE seed and the same no-op counts from the same generator; every step after
    that calls the ALE alone. Must stay observation-for-observation identical to
    ``_gymnasium_atari`` (tested), including its reset and no-op quirks.
    """

    def __init__(self, cfg: Any):
        self._atari = _atari_env(cfg)
        self.ale = self._atari.ale
        if cfg.full_action_space:
            self._actions = list(self.ale.getLegalActionSet())
        else:
            self._actions = list(self.ale.getMinimalActionSet())
        self._noop_max = int(cfg.noop_max)
        _check_noop_starts(cfg, self._atari.get_action_meanings())
        self._skip = int(cfg.frame_skip)
        self._size = (int(cfg.screen_size), int(cfg.screen_size))
        height, width = self.ale.getScreenDims()
        self._screens = np.zeros((2, height, width), dtype=np.uint8)  # last, second-to-last frame
        self._stack = np.zeros((int(cfg.frame_stack), *self._size), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(self._actions))
        self.observation_space = spaces.Box(0, 255, self._stack.shape, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        self._atari.reset(seed=seed)
        noops = self._atari.np_random.integers(1, self._noop_max + 1) if self._noop_max else 0
        for _ in range(noops):
            self.ale.act(self._actions[0])
            if self.ale.game_over():
                # Same as AtariPreprocessing: reset and carry on with the remaining no-ops.
                self._atari.reset(seed=seed)
        self.ale.getScreenGrayscale(self._screens[0])
        self._stack[:] = self._resize(self._screens[0])
        return self._stack.copy(), self._info()

    def step(self, action):
        act, ale, screens = self.ale.act, self.ale, self._screens
        a = self._actions[action]
        reward = 0
        ended = False
        for t in range(self._skip):
            reward += act(a)
            if ale.game_over():  # with truncation
                ended = True
                break
            if t == self._skip - 2:
                ale.getScreenGrayscale(screens[1])
        ale.getScreenGrayscale(screens[0])
        if self._skip > 1 and not ended:
            np.maximum(screens[0], screens[1], out=screens[0])
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = self._resize(screens[0])
        terminated = ale.game_over(with_truncation=False)
        truncated = ale.game_truncated()
        return self._stack.copy(), float(reward), terminated, truncated, self._info()

    def get_action_meanings(self) -> list[str]:
        return self._atari.get_action_meanings()

    def _resize(self, screen: np.ndarray) -> np.ndarray:
        return cv2.resize(screen, self._size, interpolation=cv2.INTER_AREA)

    def _info(self) -> dict:
        return {
            "lives": self.ale.lives(),
            "episode_frame_number": self.ale.getEpisodeFrameNumber(),
            "frame_number": self.ale.getFrameNumber(),
        }

    def close(self):
        self._atari.close()


class _VectorAtari(gym.Env):
    """The lean backend's protocol, stepped by ale-py's C++ vector environment (one game, on a C++
    thread of its own). The emulator and the preprocessing then run outside the GIL, so that
    actor-learners on Python threads (runtime=thread) play their games in parallel.

    Same frame skip with the max over the last two frames, same 84x84 area resize, the frame stack
    filled with the first frame at a reset, raw rewards, game over as `terminated`: with no-op
    starts off, observations, rewards and flags equal the lean backend's step for step (tested),
    except on the step that ends a game. It differs from "lean" in three ways, none of which changes
    the protocol (up to noop_max no-ops, 30 minutes of play): the no-op count at a reset is drawn
    by ALE's C++ generator from 0..noop_max-1 (lean: 1..noop_max), so a seed gives other games;
    the frame a game ends on is pooled like every other (lean: the last screen alone); and the time
    limit counts the frames after the no-ops.
    """

    def __init__(self, cfg: Any):
        from ale_py.vector_env import AtariVectorEnv

        probe = _atari_env(cfg)  # the action meanings (FIRE, NOOP), which the vector env does not give
        self._meanings = probe.get_action_meanings()
        probe.close()
        _check_noop_starts(cfg, self._meanings)
        size = int(cfg.screen_size)
        self._vec = AtariVectorEnv(
            game=cfg.game, num_envs=1, num_threads=1, frameskip=int(cfg.frame_skip), grayscale=True,
            stack_num=1, img_height=size, img_width=size, maxpool=True, noop_max=int(cfg.noop_max),
            repeat_action_probability=float(cfg.repeat_action_probability),
            full_action_space=bool(cfg.full_action_space), max_num_frames_per_episode=int(cfg.max_episode_frames),
            episodic_life=False, reward_clipping=False, use_fire_reset=False,
        )
        self._action = np.zeros(1, dtype=np.int64)
        self._stack = np.zeros((int(cfg.frame_stack), size, size), dtype=np.uint8)
        self.action_space = spaces.Discrete(len(self._meanings))
        self.observation_space = spaces.Box(0, 255, self._stack.shape, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        # the C++ side takes 31-bit seeds; actor-learner seeds are 32-bit
        obs, info = self._vec.reset(seed=None if seed is None else int(seed) & 0x7FFFFFFF)
        self._stack[:] = obs[0, -1]
        return self._stack.copy(), self._info(info)

    def step(self, action):
        self._action[0] = action
        obs, reward, terminated, truncated, info = self._vec.step(self._action)
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = obs[0, -1]
        return self._stack.copy(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), self._info(info)

    def get_action_meanings(self) -> list[str]:
        return list(self._meanings)

    @staticmethod
    def _info(info: dict) -> dict:
        return {k: int(info[k][0]) for k in ("lives", "episode_frame_number", "frame_number")}

    def close(self):
        self._vec.close()


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

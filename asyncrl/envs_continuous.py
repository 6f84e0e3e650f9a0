"""Continuous-control environments: gymnasium's MuJoCo tasks, DeepMind's Control Suite through
shimmy, and a toy 1-D task for tests. :func:`asyncrl.envs.make_env` builds them; MuJoCo, dm_control
and shimmy are imported only when such an env is made (the Atari path never needs them).

Every env made here presents float32 observations (a Control Suite dict flattened, keys in
order) and a float32 Box action space with the task's bounds. An action is clipped to those
bounds when it is sent to the task: the learner keeps the action it sampled, unclipped, and its
log-probability. One agent step is one environment step (frame_skip 1), so budgets and
intervals count environment steps. `cfg.max_steps` is the time limit; reaching it truncates the
episode (bootstrapped), never terminates it.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

CONTINUOUS_KINDS = ("mujoco", "dm_control", "toy_continuous")
INSTALL_HINT = 'pip install -e ".[mujoco]"'


def missing_package(kind: str) -> str:
    """The package an env kind needs and this Python lacks ("" when none is missing)."""
    needs = {"mujoco": ("mujoco",), "dm_control": ("mujoco", "dm_control", "shimmy")}.get(kind, ())
    return next((name for name in needs if importlib.util.find_spec(name) is None), "")


def make_continuous_env(cfg: Any, render: bool = False) -> gym.Env:
    mode = "rgb_array" if render else None
    if cfg.kind == "toy_continuous":
        env = TimeLimit(TargetLine(), max_episode_steps=int(cfg.max_steps))
    elif cfg.kind == "mujoco":
        env = gym.make(cfg.gym_id, max_episode_steps=int(cfg.max_steps), render_mode=mode)
    elif cfg.kind == "dm_control":
        import shimmy

        gym.register_envs(shimmy)
        # the suite's own time limit ends an episode as a truncation too (shimmy: discount 1)
        env = TimeLimit(gym.make(cfg.gym_id, render_mode=mode), max_episode_steps=int(cfg.max_steps))
    else:
        raise ValueError(f"unknown continuous env kind {cfg.kind!r} ({' | '.join(CONTINUOUS_KINDS)})")
    return ClippedFloat32(env)


class ClippedFloat32(gym.Wrapper):
    """float32 (flattened) observations; actions clipped to the bounds, in the task's dtype."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        act = env.action_space
        if not isinstance(act, spaces.Box):
            raise ValueError(f"a continuous-control env needs a Box action space, not {act}")
        self._low, self._high, self._dtype = act.low.astype(np.float64), act.high.astype(np.float64), act.dtype
        self.action_space = spaces.Box(act.low.astype(np.float32), act.high.astype(np.float32), dtype=np.float32)
        self._obs_space = env.observation_space
        size = spaces.flatdim(self._obs_space)
        self.observation_space = spaces.Box(-np.inf, np.inf, (size,), dtype=np.float32)

    def _obs(self, obs) -> np.ndarray:
        if isinstance(self._obs_space, spaces.Dict):
            obs = spaces.flatten(self._obs_space, obs)
        return np.asarray(obs, dtype=np.float32).reshape(-1)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        return self._obs(obs), info

    def step(self, action):
        a = np.clip(np.asarray(action, dtype=np.float64), self._low, self._high).astype(self._dtype)
        obs, reward, terminated, truncated, info = self.env.step(a)
        return self._obs(obs), float(reward), bool(terminated), bool(truncated), info


class TargetLine(gym.Env):
    """A toy 1-D task: each step shows a target g ~ U(-0.9, 0.9) and pays 1 - (a - g)^2 for the
    action a in [-1, 1] (clipped). Never terminates; the time limit ends it. The optimal policy
    plays a = g (return = the episode length); always playing 0 earns ~0.73 a step, a uniformly
    random action ~0.39. A test bed for the Gaussian policy and the action clipping."""

    def __init__(self):
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.observation_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self._target = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return self._draw(), {}

    def step(self, action):
        a = float(np.asarray(action).reshape(-1)[0])
        reward = 1.0 - (a - self._target) ** 2
        return self._draw(), reward, False, False, {}

    def _draw(self) -> np.ndarray:
        self._target = float(self.np_random.uniform(-0.9, 0.9))
        return np.array([self._target], dtype=np.float32)

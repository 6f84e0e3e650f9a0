"""The Atari games with the paper's preprocessing, in three backends that give identical
observations, rewards and flags for the same seed and actions (see asyncrl.envs for the contract
every env keeps): "gymnasium" (gymnasium's wrappers, the reference), "lean" (the ALE driven
directly) and "vector" (ale-py's C++ vector environment, which releases the GIL). The only module
that imports ``ale_py``; FIRE after a reset and a lost life for the games that wait for it."""

from __future__ import annotations

from typing import Any

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

ATARI_BACKENDS = ("gymnasium", "lean", "vector")

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



"""Evaluation: whole games (all lives) from no-op starts, scored with the raw game score."""

from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np
import torch

from .envs import make_env, render_frame

EVAL_RANK = 1_000_000  # a method instance distinct from every actor-learner's random stream


@torch.no_grad()
def evaluate(
    net, method, env_cfg, episodes: int, seed: int,
    on_frame: Optional[Callable[[np.ndarray], None]] = None,
    cancelled: Optional[Callable[[], bool]] = None,
) -> Optional[List[float]]:
    """Play `episodes` whole games with `method.act_eval`; return their raw scores.

    Each game starts after up to env_cfg.noop_max no-ops (the env does them) and ends at game
    over or at the time limit (max_episode_frames: 30 minutes of emulator time on Atari).
    `on_frame`, if given, receives the RGB screen after every step of the first game (videos).
    `cancelled`, if given, is polled every step: once it returns True the evaluation stops and
    returns None (a run being stopped does not wait minutes for its evaluation).
    """
    env = make_env(env_cfg, seed=seed, render=on_frame is not None)
    scores = []
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        state = net.initial_state()  # evaluation carries its own recurrent state
        score, done = 0.0, False
        record = on_frame is not None and episode == 0
        if record:
            on_frame(render_frame(env))
        while not done:
            if cancelled is not None and cancelled():
                env.close()
                return None
            out, _, state = net(torch.from_numpy(np.asarray(obs))[None], state)
            obs, _, terminated, truncated, info = env.step(method.act_eval(out[0]))
            score += float(info["raw_reward"])
            done = terminated or truncated
            if record:
                on_frame(render_frame(env))
        scores.append(score)
        obs, _ = env.reset()
    env.close()
    return scores


def summarize(scores: List[float]) -> dict:
    a = np.asarray(scores, dtype=float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std()),
        "min": float(a.min()),
        "max": float(a.max()),
        "episodes": int(a.size),
    }

"""Evaluation: whole games (all lives) from no-op starts, scored with the raw game score; for a
Gaussian policy, the mean action's score and, labelled, the sampled actions'."""

from __future__ import annotations

from typing import Callable, List, Optional

import numpy as np
import torch

from .envs import make_env, render_frame

EVAL_RANK = 1_000_000  # a method instance distinct from every actor-learner's random stream


class Scores(list):
    """The per-episode raw scores of an evaluation. `sampled`: for a method whose evaluation plays a
    deterministic action (Method.sampled_eval_score: a Gaussian's mean mu), the scores of as many
    further episodes played with actions drawn from its policy, reported apart; else None."""

    sampled: Optional[List[float]] = None


@torch.no_grad()
def evaluate(
    net, method, env_cfg, episodes: int, seed: int,
    on_frame: Optional[Callable[[np.ndarray], None]] = None,
    cancelled: Optional[Callable[[], bool]] = None,
) -> Optional[Scores]:
    """Play `episodes` whole games with `method.act_eval`; return their raw scores.

    Each game starts after up to env_cfg.noop_max no-ops (the env does them) and ends at game
    over or at the time limit (max_episode_frames: 30 minutes of emulator time on Atari).
    `on_frame`, if given, receives the RGB screen after every step of the first game (videos).
    `cancelled`, if given, is polled every step: once it returns True the evaluation stops and
    returns None (a run being stopped does not wait minutes for its evaluation).
    """
    env = make_env(env_cfg, seed=seed, render=on_frame is not None)
    try:
        scores = _play(env, net, method.act_eval, episodes, seed, on_frame, cancelled)
        if scores is not None and getattr(method, "sampled_eval_score", False):
            # the env's random streams go on: these episodes start from other initial states
            sampled = _play(env, net, lambda out: method.act(out, 0), episodes, None, None, cancelled)
            if sampled is None:
                return None
            scores.sampled = list(sampled)
        return scores
    finally:
        env.close()


def _play(env, net, choose, episodes: int, seed: Optional[int], on_frame, cancelled) -> Optional[Scores]:
    """`episodes` whole games, the first from env.reset(seed=seed), each action `choose(head output)`;
    None once `cancelled()`."""
    scores = Scores()
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed) if episode == 0 else env.reset()
        state = net.initial_state()  # evaluation carries its own recurrent state
        score, done = 0.0, False
        record = on_frame is not None and episode == 0
        if record:
            on_frame(render_frame(env))
        while not done:
            if cancelled is not None and cancelled():
                return None
            out, _, state = net(torch.from_numpy(np.asarray(obs))[None], state)
            obs, _, terminated, truncated, info = env.step(choose(out[0]))
            score += float(info["raw_reward"])
            done = terminated or truncated
            if record:
                on_frame(render_frame(env))
        scores.append(score)
    return scores


def summarize(scores: List[float]) -> dict:
    """mean, std, min, max and episodes; for Scores with `sampled` ones, also their sampled_mean,
    sampled_std, sampled_min and sampled_max, and "policy": "mean" (the scores without the prefix
    are the mean action's)."""
    a = np.asarray(scores, dtype=float)
    out = {
        "mean": float(a.mean()),
        "std": float(a.std()),
        "min": float(a.min()),
        "max": float(a.max()),
        "episodes": int(a.size),
    }
    sampled = getattr(scores, "sampled", None)
    if sampled:
        out["policy"] = "mean"
        out.update({f"sampled_{k}": v for k, v in summarize(sampled).items() if k != "episodes"})
    return out

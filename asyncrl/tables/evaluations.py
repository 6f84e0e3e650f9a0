"""Which of a run's evaluations stands for its score: its own periodic and final ones, or a later
``scripts/evaluate.py`` entry of enough games, by the policy it played."""

from __future__ import annotations

import numpy as np

# The fewest games an evaluate.py entry needs to be chosen as the final evaluation.
FINAL_EVAL_EPISODES = 30

_EVAL_FIELDS = ["eval_source", "eval_policy", "eval_frames", "eval_mean", "eval_std", "eval_min",
                "eval_max", "eval_episodes"]


def own_evaluations(evals) -> list:
    """A run's own evaluations (periodic, then its final one), in order, from its summary's
    ``evals``: the entries scripts/evaluate.py appended later (``"source"``) are left out; [] when
    the summary has no list."""
    return [e for e in evals if isinstance(e, dict) and "source" not in e] if isinstance(evals, list) else []


def final_evaluation(evals, min_episodes: int = FINAL_EVAL_EPISODES, policy: str | None = None) -> dict:
    """The evaluation that stands for a run's final score, from its ``summary.json`` ``evals`` list.

    1. The latest (last appended) entry written by ``scripts/evaluate.py`` (``"source":
       "evaluate.py"``) with ``episodes >= min_episodes`` and, if ``policy`` is given, that
       ``policy`` (e.g. ``"sampled"``): ``eval_source = "evaluate.py"``.
    2. Else the run's own last periodic evaluation (an entry without ``source``):
       ``eval_source = "run"``.
    3. Else ``eval_source = "none"`` and NaN values.

    Returns the keys ``eval_source``, ``eval_policy`` (NaN when the entry does not record one:
    the method's default), ``eval_frames``, ``eval_mean``, ``eval_std``, ``eval_min``,
    ``eval_max``, ``eval_episodes``.
    """
    evals = [e for e in evals if isinstance(e, dict)] if isinstance(evals, list) else []
    chosen, source = None, "none"
    for entry in reversed(evals):
        if (entry.get("source") == "evaluate.py" and (entry.get("episodes") or 0) >= min_episodes
                and (policy is None or entry.get("policy") == policy)):
            chosen, source = entry, "evaluate.py"
            break
    if chosen is None:
        own = own_evaluations(evals)
        if own:
            chosen, source = own[-1], "run"
    chosen = chosen or {}
    return {
        "eval_source": source,
        "eval_policy": chosen.get("policy", np.nan),
        "eval_frames": float(chosen.get("frames", np.nan)),
        "eval_mean": float(chosen.get("mean", np.nan)),
        "eval_std": float(chosen.get("std", np.nan)),
        "eval_min": float(chosen.get("min", np.nan)),
        "eval_max": float(chosen.get("max", np.nan)),
        "eval_episodes": float(chosen.get("episodes", np.nan)),
    }


def argmax_evaluations(evals, min_episodes: int = FINAL_EVAL_EPISODES) -> list:
    """The scripts/evaluate.py entries of an A3C run played by the argmax of pi (``"policy":
    "argmax"``) with >= ``min_episodes`` games, by frames (the checkpoint each played); of two at
    the same frames the later appended one stands."""
    entries = [e for e in evals if isinstance(e, dict) and e.get("source") == "evaluate.py"
               and e.get("policy") == "argmax" and (e.get("episodes") or 0) >= min_episodes] \
        if isinstance(evals, list) else []
    return sorted({float(e["frames"]): e for e in entries}.values(), key=lambda e: float(e["frames"]))

"""Learning-rate sweeps, finished or not (the paper's Fig. 2 while the runs still train): each
rate's training score at the frames every run of its sweep has reached, its own evaluations, and
the frames its training score took to reach a threshold."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .evaluations import own_evaluations
from .markdown import _format_cell, group_heading
from .methods import SCORE_THRESHOLDS, _threshold_cells, time_to_threshold
from .runs import load_episodes

# Runs of one sweep differ only in the learning rate (and the seed the preset draws it from).
LR_SWEEP_GROUP = ["method", "env", "runtime", "threads", "total_frames", "terminal_on_life_loss", "lr_anneal_frames"]

# Training-score window of the sweep table: 100 games, as the Atari result pages quote them;
# a Pong game lasts ~4k frames early on, so 100 games span ~0.4M frames.
LR_SWEEP_WINDOW = 100


def lr_sweep_groups(runs: pd.DataFrame, min_rates: int = 2) -> pd.DataFrame:
    """Runs of every :data:`LR_SWEEP_GROUP` group holding at least ``min_rates`` distinct learning
    rates, whatever their status (a sweep is chosen from while its runs still train; unreadable
    summaries are left out), ordered by group, lr and seed."""
    ok = runs[(runs["status"] != "unreadable") & runs["lr"].notna()] if len(runs) else runs
    if ok.empty:
        return ok.reset_index(drop=True)
    counts = ok.groupby(LR_SWEEP_GROUP, dropna=False)["lr"].transform("nunique")
    keep = ok[counts >= min_rates]
    return keep.sort_values([*LR_SWEEP_GROUP, "lr", "seed"], kind="mergesort").reset_index(drop=True)


def score_at(episodes: pd.DataFrame, frames: float, k: int) -> float:
    """Mean score of the last ``k`` training games finished at or before ``frames`` (NaN if fewer
    than ``k`` games had finished by then)."""
    done = episodes[episodes["frames"] <= frames]
    if len(done) < k:
        return np.nan
    return float(done["score"].to_numpy(dtype=float)[-k:].mean())


def lr_sweep(
    runs: pd.DataFrame,
    k: int = LR_SWEEP_WINDOW,
    thresholds: dict | None = None,
    min_rates: int = 2,
    episodes_loader: Callable[[str], pd.DataFrame] = load_episodes,
) -> pd.DataFrame:
    """One row per run of the groups of :func:`lr_sweep_groups`, compared at equal frames.

    ``frames`` and ``hours`` are what the run has trained (the larger of its summary's figure and
    its last training game's: a running run rewrites its summary only now and then), ``common_frames`` the fewest
    frames any run of the group has trained (its runs may still be training, or were stopped at
    different points), and ``score_at_common`` the mean of each run's
    last ``k`` training games finished by then (:func:`score_at`): the fair comparison of a sweep
    in progress. Also: ``score_last`` (the same at the run's own last game), ``frames_to_threshold``
    (:func:`time_to_threshold`, window ``k``; thresholds by game as in :func:`methods_comparison`),
    the run's own periodic evaluations (``evals_own``: ``[(frames, mean), ...]``, ``best_eval``),
    ``rank`` (1 = highest ``score_at_common`` in its group) and ``run_dir``.
    """
    thresholds = SCORE_THRESHOLDS if thresholds is None else thresholds
    cols = [*LR_SWEEP_GROUP, "lr", "seed", "status", "frames", "hours", "common_frames", "score_at_common",
            "rank", "score_last", "threshold", "frames_to_threshold", "best_eval", "evals_own", "run_dir"]
    chosen = lr_sweep_groups(runs, min_rates)
    if chosen.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    rows = []
    for _, group in chosen.groupby(LR_SWEEP_GROUP, sort=True, dropna=False):
        episodes = [episodes_loader(d) for d in group["run_dir"]]
        # a running run's summary is rewritten only now and then: its last training game says more
        frames = [max(float(0 if pd.isna(f) else f), float(e["frames"].max()) if len(e) else 0.0)
                  for f, e in zip(group["frames"], episodes)]
        common = min(frames)
        for run, eps, trained in zip(group.to_dict("records"), episodes, frames):
            threshold = float(thresholds.get(run["env"], np.nan))
            own = own_evaluations(run.get("evals"))
            rows.append({
                **{c: run[c] for c in [*LR_SWEEP_GROUP, "lr", "seed", "status", "run_dir"]},
                "frames": trained,
                "hours": max(0.0 if pd.isna(run["wall_time_s"]) else float(run["wall_time_s"]),
                             float(eps["wall_time_s"].max()) if len(eps) else 0.0) / 3600,
                "common_frames": common,
                "score_at_common": score_at(eps, common, k),
                "score_last": score_at(eps, np.inf, k),
                "threshold": threshold,
                "frames_to_threshold": time_to_threshold(eps, threshold, k)[0],
                "best_eval": max((float(e["mean"]) for e in own), default=np.nan),
                "evals_own": [(int(e["frames"]), float(e["mean"])) for e in own],
            })
    table = pd.DataFrame(rows)
    table["rank"] = (table.groupby(LR_SWEEP_GROUP, dropna=False)["score_at_common"]
                     .rank(ascending=False, method="min").astype("Int64"))
    return table[cols]


def lr_sweep_markdown(table: pd.DataFrame, k: int = LR_SWEEP_WINDOW) -> str:
    """Markdown of :func:`lr_sweep`: one section per sweep, one row per run, best first."""
    if table.empty:
        return "(no group of runs with two or more learning rates yet)"
    parts = []
    for key, rows in table.groupby(LR_SWEEP_GROUP, sort=True, dropna=False):
        g = dict(zip(LR_SWEEP_GROUP, key))
        common = rows["common_frames"].iloc[0]
        threshold = rows["threshold"].iloc[0]
        target = f"MA-{k} ≥ {threshold:g}" if pd.notna(threshold) else "threshold"
        lines = [
            group_heading(f"{g['method']} on {g['env']}", g, runtime=True),
            "",
            f"Compared at {common / 1e6:.2f}M frames, the fewest any run of this sweep has trained.",
            "",
            f"| rank | lr | seed | status | frames | hours | mean of last {k} games at {common / 1e6:.2f}M "
            f"| at its last game | frames to {target} | evaluations (frames: mean) |",
            "|" + "---|" * 10,
        ]
        for r in rows.sort_values(["rank", "lr"], na_position="last").itertuples(index=False):
            to = _threshold_cells(r.threshold, r.frames_to_threshold)[0]
            evals = ", ".join(f"{f / 1e6:.0f}M: {m:.1f}" for f, m in r.evals_own) or "—"
            lines.append(f"| {_format_cell(r.rank, '.0f')} | {r.lr:g} | {r.seed} | {r.status} | {r.frames / 1e6:.2f}M "
                         f"| {_format_cell(r.hours, '.2f')} | {_format_cell(r.score_at_common, '.1f')} "
                         f"| {_format_cell(r.score_last, '.1f')} | {to} | {evals} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)

"""The methods on one game side by side (the table behind the paper's Fig. 3 for one game): per
run, its final evaluation and the frames and hours its training score took to reach a threshold."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .evaluations import FINAL_EVAL_EPISODES, _EVAL_FIELDS, final_evaluation
from .markdown import _format_cell, group_heading, hours_label, trained_label
from .runs import code_versions, completed_runs, free_cores, host_count, load_episodes, moving_average, shared_hours

# Runs are compared across methods within one (game, thread count, frame budget, lost-life
# setting, learning-rate horizon). The learning rate is not part of it: each method has its own tuned rate, as in the paper.
METHODS_GROUP = ["env", "threads", "total_frames", "terminal_on_life_loss", "lr_anneal_frames"]

# Training-score threshold per game for "frames to threshold" (make_tables.py --threshold GAME=SCORE
# overrides or adds). Pong -15: 6 points above the untrained -21, reached early by every method
# that learns; the paper's Fig. 3 curves pass it well before the end.
SCORE_THRESHOLDS = {"pong": -15.0}


def methods_groups(runs: pd.DataFrame, min_methods: int = 2) -> pd.DataFrame:
    """The completed runs of every :data:`METHODS_GROUP` group (game, threads, frame budget,
    lost-life setting) that holds completed runs of at least ``min_methods`` distinct methods,
    ordered by group, method and seed."""
    done = completed_runs(runs)
    if done.empty:
        return done
    counts = done.groupby(METHODS_GROUP, dropna=False)["method"].transform("nunique")
    keep = done[counts >= min_methods]
    return keep.sort_values([*METHODS_GROUP, "method", "seed"], kind="mergesort").reset_index(drop=True)


def time_to_threshold(episodes: pd.DataFrame, threshold: float, k: int = 10) -> tuple[float, float]:
    """``(frames, wall_time_s)`` of the first training game whose :func:`moving_average` over the
    last ``k`` games is >= ``threshold``; ``(nan, nan)`` when never reached (or no threshold)."""
    if threshold is None or pd.isna(threshold):
        return np.nan, np.nan
    curve = moving_average(episodes, k)
    reached = (curve["score_ma"] >= threshold).to_numpy()
    if not reached.any():
        return np.nan, np.nan
    first = int(reached.argmax())
    return float(curve["frames"].iloc[first]), float(curve["wall_time_s"].iloc[first])


def methods_comparison(
    runs: pd.DataFrame,
    k: int = 10,
    thresholds: dict | None = None,
    min_episodes: int = FINAL_EVAL_EPISODES,
    min_methods: int = 2,
    policy: str | None = None,
    episodes_loader: Callable[[str], pd.DataFrame] = load_episodes,
) -> pd.DataFrame:
    """One row per completed run of the groups of :func:`methods_groups`: the methods side by side.

    Columns: the group (:data:`METHODS_GROUP`), ``method``, ``seed``, ``runtime``, ``lr``,
    ``frames`` (trained), ``hours`` (``wall_time_s / 3600``), ``load_hours``/``shared_hours``
    (:func:`~asyncrl.tables.runs.shared_hours`: how much of it shared the machine), the final evaluation of
    :func:`final_evaluation` (``eval_*``), and the threshold test: ``threshold`` (from
    ``thresholds``, default :data:`SCORE_THRESHOLDS`, by game; NaN if none), ``frames_to_threshold``
    and ``hours_to_threshold`` (:func:`time_to_threshold` with window ``k``) and
    ``threshold_reached`` (True/False; None without a threshold), then ``run_dir``.
    """
    thresholds = SCORE_THRESHOLDS if thresholds is None else thresholds
    cols = [*METHODS_GROUP, "method", "seed", "runtime", "lr", "frames", "hours", "load_hours", "shared_hours", "hosts",
            "code_versions", *_EVAL_FIELDS,
            "threshold", "frames_to_threshold", "hours_to_threshold", "threshold_reached", "run_dir"]
    chosen = methods_groups(runs, min_methods)
    if chosen.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    rows = []
    for run in chosen.to_dict("records"):
        threshold = float(thresholds.get(run["env"], np.nan))
        frames_to, seconds_to = time_to_threshold(episodes_loader(run["run_dir"]), threshold, k)
        load_h, shared_h = shared_hours(run["run_dir"], free_cores(run))
        rows.append({
            **{c: run[c] for c in [*METHODS_GROUP, "method", "seed", "runtime", "lr", "frames", "run_dir"]},
            "hours": run["wall_time_s"] / 3600,
            "load_hours": load_h,
            "shared_hours": shared_h,
            "hosts": host_count(run),
            "code_versions": code_versions(run),
            **final_evaluation(run.get("evals"), min_episodes, policy),
            "threshold": threshold,
            "frames_to_threshold": frames_to,
            "hours_to_threshold": seconds_to / 3600,
            "threshold_reached": None if np.isnan(threshold) else not np.isnan(frames_to),
        })
    return pd.DataFrame(rows)[cols]


def _threshold_cells(threshold, frames, hours=np.nan) -> tuple[str, str]:
    """The "frames to threshold" and "hours to it" cells of a table row: "no threshold set" (the game
    has none), "not reached", or the frames in millions and the hours."""
    if pd.isna(threshold):
        return "no threshold set", "—"
    if pd.isna(frames):
        return "not reached", "—"
    return f"{frames / 1e6:.2f}M", _format_cell(float(hours), ".2f")


def methods_markdown(table: pd.DataFrame, k: int = 10) -> str:
    """Markdown of :func:`methods_comparison`: one section per group, one row per run."""
    if table.empty:
        return "(no group of completed runs with two or more methods yet)"
    parts = []
    for key, rows in table.groupby(METHODS_GROUP, sort=True, dropna=False):
        g = dict(zip(METHODS_GROUP, key))
        threshold = rows["threshold"].iloc[0]
        target = f"MA ≥ {threshold:g}" if pd.notna(threshold) else "threshold"
        lines = [
            group_heading(g['env'], g),
            "",
            f"| method | seed | frames | hours | evaluation | policy | games | mean | std | min | max "
            f"| frames to {target} | hours to it |",
            "|" + "---|" * 13,
        ]
        for r in rows.itertuples(index=False):
            source = {"evaluate.py": "evaluate.py", "run": "run's last own", "none": "none"}[r.eval_source]
            to_frames, to_hours = _threshold_cells(r.threshold, r.frames_to_threshold, r.hours_to_threshold)
            policy = (r.eval_policy if isinstance(r.eval_policy, str)
                      else "method default" if r.eval_source != "none" else "—")
            stats = [_format_cell(v, ".1f") for v in (r.eval_mean, r.eval_std, r.eval_min, r.eval_max)]
            games = "—" if pd.isna(r.eval_episodes) else str(int(r.eval_episodes))
            hours = hours_label(r.hours, r.load_hours, r.shared_hours, r.hosts)
            lines.append(f"| {r.method} | {r.seed} | {trained_label(r.frames, r.code_versions)} | {hours} | {source} | {policy} "
                         f"| {games} | {' | '.join(stats)} | {to_frames} | {to_hours} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)

"""Learning-rate robustness on a continuous-control task (the paper's Fig. S7): the runs of a sweep
that differ only in their initial learning rate and seed (conf/experiment/mujoco_lr.yaml), each
with its first and final evaluations, and how many of them reach a target score at which rates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .continuous import continuous_tasks, steps_label
from .evaluations import own_evaluations
from .lr_sweep import LR_SWEEP_GROUP, lr_sweep_groups
from .markdown import horizon_label

# The final evaluation (mean action) that counts as the task learned in the summary: InvertedPendulum
# pays +1 a step for at most 1000 steps, so 900 is a pole held for 90% of the episode.
LR_TARGETS = {"inverted_pendulum": 900.0}

# A sweep needs this many distinct rates to be shown (as the Atari scatter, figures/<method>_<game>_lr.png)
LR_MIN_RATES = 3

CONTINUOUS_LR_COLUMNS = [*LR_SWEEP_GROUP, "seed", "lr", "status", "frames", "first_eval_frames", "first_eval",
                         "last_eval_frames", "last_eval", "last_sampled", "final", "target", "reached", "run",
                         "run_dir"]
SUMMARY_COLUMNS = ["method", "env", "threads", "total_frames", "runs", "completed", "target", "reached",
                   "lr_low", "lr_high", "inside", "inside_reached", "lr_best", "best_final"]


def continuous_lr_runs(runs: pd.DataFrame, min_rates: int = LR_MIN_RATES) -> pd.DataFrame:
    """The runs of every learning-rate sweep (:func:`~asyncrl.tables.lr_sweep.lr_sweep_groups`: any
    status but unreadable, at least ``min_rates`` distinct rates) on a continuous-control task."""
    chosen = lr_sweep_groups(runs, min_rates)
    return chosen[chosen["env"].isin(continuous_tasks())].reset_index(drop=True) if len(chosen) else chosen


def continuous_lr_table(runs: pd.DataFrame, targets: dict | None = None,
                        min_rates: int = LR_MIN_RATES) -> pd.DataFrame:
    """One row per run of :func:`continuous_lr_runs`, by sweep, lr and seed.

    ``first_eval``: its first own evaluation (mean action mu); ``last_eval``: its last own one
    (``last_sampled``: the sampled actions' score of it), which is the run's final evaluation once
    the run completed (``final`` True). ``reached``: the final evaluation is >= the task's
    ``target`` (:data:`LR_TARGETS`; NaN target: none set, and ``reached`` False)."""
    targets = LR_TARGETS if targets is None else targets
    chosen = continuous_lr_runs(runs, min_rates)
    rows = []
    for run in chosen.to_dict("records"):
        own = own_evaluations(run.get("evals"))
        first, last = (own[0], own[-1]) if own else ({}, {})
        final = run["status"] == "completed" and bool(own)
        target = float(targets.get(run["env"], np.nan))
        rows.append({
            **{c: run[c] for c in [*LR_SWEEP_GROUP, "seed", "lr", "status", "frames", "run_dir"]},
            "first_eval_frames": float(first.get("frames", np.nan)), "first_eval": float(first.get("mean", np.nan)),
            "last_eval_frames": float(last.get("frames", np.nan)), "last_eval": float(last.get("mean", np.nan)),
            "last_sampled": float(last.get("sampled_mean", np.nan)), "final": final, "target": target,
            "reached": bool(final and pd.notna(target) and float(last["mean"]) >= target),
            "run": Path(run["run_dir"]).name,
        })
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CONTINUOUS_LR_COLUMNS})
    return pd.DataFrame(rows)[CONTINUOUS_LR_COLUMNS]


def continuous_lr_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per sweep of :func:`continuous_lr_table`: ``runs`` (any status), ``completed`` (with a final
    evaluation), ``reached`` (completed runs whose final evaluation is >= ``target``), the rates
    they span (``lr_low``..``lr_high``) and, of the completed runs with a rate in that span,
    ``inside`` and ``inside_reached`` (equal: every rate of the span reached it); ``lr_best`` and
    ``best_final``: the completed run with the highest final evaluation (NaN: none completed)."""
    rows = []
    for key, group in table.groupby(LR_SWEEP_GROUP, sort=True, dropna=False):
        g = dict(zip(LR_SWEEP_GROUP, key))
        done = group[group["final"]]
        hit = done[done["reached"]]
        low, high = (hit["lr"].min(), hit["lr"].max()) if len(hit) else (np.nan, np.nan)
        inside = done[(done["lr"] >= low) & (done["lr"] <= high)] if len(hit) else done.iloc[:0]
        best = done.loc[done["last_eval"].idxmax()] if len(done) else None
        rows.append({**{c: g[c] for c in ["method", "env", "threads", "total_frames"]}, "runs": len(group),
                     "completed": len(done), "target": group["target"].iloc[0], "reached": len(hit),
                     "lr_low": low, "lr_high": high, "inside": len(inside), "inside_reached": int(inside["reached"].sum()),
                     "lr_best": best["lr"] if best is not None else np.nan,
                     "best_final": best["last_eval"] if best is not None else np.nan})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def _summary_line(s) -> str:
    """One sweep's summary in words."""
    if not s.completed:
        return f"None of its {s.runs} runs has completed yet."
    line = f"{s.completed} of {s.runs} runs completed."
    if pd.notna(s.target):
        line += f" {s.reached} of the {s.completed} completed reach a final evaluation ≥ {s.target:g}"
        line += (f", at rates from {s.lr_low:.3g} to {s.lr_high:.3g}; {s.inside_reached} of the {s.inside} "
                 "completed runs with a rate in that range reach it." if s.reached else ".")
    return line + f" The best final evaluation, {s.best_final:.1f}, has lr {s.lr_best:.3g}."


def continuous_lr_markdown(table: pd.DataFrame, summary: pd.DataFrame) -> str:
    """Markdown of :func:`continuous_lr_table` with :func:`continuous_lr_summary`: one section per
    sweep, its summary, then its runs by learning rate."""
    if table.empty:
        return "(no learning-rate sweep on a continuous-control task yet)"
    parts = []
    for (key, group), s in zip(table.groupby(LR_SWEEP_GROUP, sort=True, dropna=False), summary.itertuples()):
        g = dict(zip(LR_SWEEP_GROUP, key))
        lines = [f"## {g['method']} on {g['env']}: {g['threads']} actor-learners, "
                 f"{steps_label(g['total_frames'])} steps per run"
                 f"{horizon_label(g['total_frames'], g['lr_anneal_frames'])}", "", _summary_line(s), "",
                 "| lr | seed | status | steps | first evaluation (μ): at steps | last evaluation (μ): at steps "
                 "| its sampled actions | final ≥ target |", "|" + "---|" * 8]
        for r in group.sort_values(["lr", "seed"]).itertuples(index=False):
            first = "—" if pd.isna(r.first_eval) else f"{r.first_eval:.1f} at {steps_label(r.first_eval_frames)}"
            last = "—" if pd.isna(r.last_eval) else (
                f"{r.last_eval:.1f} at {steps_label(r.last_eval_frames)}" + ("" if r.final else " (not final)"))
            reached = "—" if not r.final or pd.isna(r.target) else ("yes" if r.reached else "no")
            sampled = "—" if pd.isna(r.last_sampled) else f"{r.last_sampled:.1f}"
            lines.append(f"| {r.lr:.3g} | {r.seed} | {r.status} | {steps_label(r.frames)} | {first} | {last} "
                         f"| {sampled} | {reached} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)

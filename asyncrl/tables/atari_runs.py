"""Atari runs one by one: how far their evaluations got, and the frames and training hours of
the first evaluation to reach the game's target score, by the run's own policy and by the argmax of pi."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .evaluations import _EVAL_FIELDS, argmax_evaluations, final_evaluation, own_evaluations
from .markdown import frames_label, hours_label, trained_label
from .reference import reference_scores
from .runs import code_versions, completed_runs, free_cores, host_count, shared_hours

# The evaluation score that counts as a game learned, for "frames to the first evaluation >= target"
# (a run that ended at stop_at_score uses its own). Pong +18: a game won by
# a wide margin (the paper's A3C FF 1-day Table S3 Pong is 11.4; pfrl's published A3C reaches 20.9).
TARGET_SCORES = {"pong": 18.0}

ATARI_RUN_COLUMNS = [
    "method", "env", "run", "threads", "seed", "lr", "total_frames", "frames", "hours", "load_hours", "shared_hours", "hosts",
    "code_versions", "target", "target_frames",
    "target_hours", "target_mean", "stopped_at_score", "best_eval", "best_eval_frames", "evaluations",
    *_EVAL_FIELDS, "argmax_target_frames", "argmax_target_hours", "argmax_target_mean", "argmax_frames",
    "argmax_mean", "argmax_std", "argmax_min", "argmax_max", "argmax_episodes", "run_dir",
]


def atari_runs(runs: pd.DataFrame, targets: dict | None = None, policy: str | None = "sampled") -> pd.DataFrame:
    """One row per completed Atari run (any of the 57 games), by game, method, threads and seed.

    ``target``: the run's stop_at_score if it ended at one, else :data:`TARGET_SCORES` for its game
    (NaN: none). ``target_frames``/``target_hours``/``target_mean``: the first of its own periodic
    evaluations whose mean reached it (NaN: none did), with the training hours at its snapshot.
    ``stopped_at_score``: training ended at that evaluation. ``best_eval``: its best periodic
    evaluation. The final evaluation (the ``eval_*`` fields) is :func:`final_evaluation`'s choice:
    the latest ``scripts/evaluate.py`` entry of >= 30 games with ``policy`` (None: any), else the
    run's own last one. ``run``: the run directory's name (it tells runs of one setting apart).
    ``load_hours``/``shared_hours``: :func:`~asyncrl.tables.runs.shared_hours`, the training hours
    whose other load was recorded, and those it took >= SHARED_LOAD of a core more than the cores the
    run left free (0 and 0: not recorded).

    The argmax of pi (A3C), a policy the periodic evaluations do not play, from
    :func:`argmax_evaluations` (scripts/evaluate.py on the run's checkpoints, its final one and any
    earlier ones committed): ``argmax_target_*``, the first (by frames) whose mean reached the target,
    with the training hours of that checkpoint; ``argmax_*``, the one at the most frames. NaN: none."""
    targets = TARGET_SCORES if targets is None else targets
    done = completed_runs(runs)
    done = done[done["env"].isin(set(reference_scores().index))]
    rows = []
    for run in done.sort_values(["env", "method", "threads", "seed", "run_dir"]).to_dict("records"):
        own = own_evaluations(run["evals"])
        stopped = run.get("stopped_at_score") if isinstance(run.get("stopped_at_score"), dict) else None
        target = float(stopped["stop_at_score"]) if stopped else float(targets.get(run["env"], np.nan))
        # the run's periodic evaluations; the last of `own` is the final one when training ended normally
        periodic = own[:-1] if own and own[-1].get("frames") == run["frames"] else own
        first = next((e for e in periodic if pd.notna(target) and float(e["mean"]) >= target), None)
        best = max(periodic, key=lambda e: float(e["mean"]), default=None)
        greedy = argmax_evaluations(run["evals"])
        greedy_first = next((e for e in greedy if pd.notna(target) and float(e["mean"]) >= target), None)
        greedy_last = greedy[-1] if greedy else {}
        load_h, shared_h = shared_hours(run["run_dir"], free_cores(run))
        rows.append({
            **{c: run[c] for c in ["method", "env", "threads", "seed", "lr", "total_frames", "frames", "run_dir"]},
            "run": Path(run["run_dir"]).name,
            "hours": float(run["wall_time_s"]) / 3600,
            "load_hours": load_h,
            "shared_hours": shared_h,
            "hosts": host_count(run),
            "code_versions": code_versions(run),
            "target": target,
            "target_frames": float(first["frames"]) if first else np.nan,
            "target_hours": float(first["wall_time_s"]) / 3600 if first else np.nan,
            "target_mean": float(first["mean"]) if first else np.nan,
            "stopped_at_score": stopped is not None,
            "best_eval": float(best["mean"]) if best else np.nan,
            "best_eval_frames": float(best["frames"]) if best else np.nan,
            "evaluations": len(periodic),
            **final_evaluation(run["evals"], policy=policy),
            "argmax_target_frames": float(greedy_first["frames"]) if greedy_first else np.nan,
            "argmax_target_hours": float(greedy_first["wall_time_s"]) / 3600 if greedy_first else np.nan,
            "argmax_target_mean": float(greedy_first["mean"]) if greedy_first else np.nan,
            **{f"argmax_{k}": float(greedy_last.get(k, np.nan)) for k in ("frames", "mean", "std", "min", "max", "episodes")},
        })
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ATARI_RUN_COLUMNS})
    return pd.DataFrame(rows)[ATARI_RUN_COLUMNS]


def atari_runs_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`atari_runs`: one row per run."""
    if table.empty:
        return "(no completed Atari run yet)"
    lines = ["| game | method | run | lr | schedule | trained | hours | first evaluation ≥ target "
             "| best periodic evaluation | final evaluation: mean ± std [min, max] (games, from) "
             "| argmax of π (evaluate.py): first ≥ target; at the most frames |",
             "|" + "---|" * 11]
    for r in table.itertuples(index=False):
        if pd.isna(r.target):
            reached = "—"
        elif pd.isna(r.target_frames):
            reached = f"≥ {r.target:g}: not reached"
        else:
            reached = (f"≥ {r.target:g}: {r.target_mean:.1f} at {r.target_frames / 1e6:.2f}M frames, "
                       f"{r.target_hours:.2f} h" + (" (training ended there)" if r.stopped_at_score else ""))
        best = "—" if pd.isna(r.best_eval) else f"{r.best_eval:.1f} at {r.best_eval_frames / 1e6:.0f}M"
        final = "—" if pd.isna(r.eval_mean) else (
            f"{r.eval_mean:.1f} ± {r.eval_std:.1f} [{r.eval_min:g}, {r.eval_max:g}] "
            f"({r.eval_episodes:.0f}, {'evaluate.py' if r.eval_source == 'evaluate.py' else 'the run'})")
        if pd.isna(r.argmax_mean):
            greedy = "—"
        else:
            first = ("—" if pd.isna(r.target) else f"≥ {r.target:g}: not reached" if pd.isna(r.argmax_target_frames)
                     else f"≥ {r.target:g}: {r.argmax_target_mean:.1f} at {r.argmax_target_frames / 1e6:.2f}M frames, "
                          f"{r.argmax_target_hours:.2f} h")
            greedy = (f"{first}; {r.argmax_mean:.1f} ± {r.argmax_std:.1f} [{r.argmax_min:g}, {r.argmax_max:g}] "
                      f"({r.argmax_episodes:.0f}) at {r.argmax_frames / 1e6:.2f}M")
        lines.append(f"| {r.env} | {r.method} | {r.run} | {r.lr:g} | {frames_label(r.total_frames)} "
                     f"| {trained_label(r.frames, r.code_versions)} | {hours_label(r.hours, r.load_hours, r.shared_hours, r.hosts)} | {reached} "
                     f"| {best} | {final} | {greedy} |")
    return "\n".join(lines)

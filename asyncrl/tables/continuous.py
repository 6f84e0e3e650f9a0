"""Continuous-control tasks (the paper's section 5.3 and its Fig. S8): each task's runs with their
final and best evaluations (the mean action mu, and the sampled actions labelled), their steps and
training hours and the machine they met, beside a uniformly random policy's score and a published
reference; and every run's evaluations as curves by steps and by training hours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .evaluations import own_evaluations
from .markdown import hours_label
from .reference import continuous_references
from .runs import completed_runs, free_cores, run_hosts, shared_hours

# The task table's runs: the paper's setting on a 2-core machine (--continuous-threads chooses another)
CONTINUOUS_THREADS = 2

_EVAL_COLUMNS = ["eval_frames", "eval_hours", "eval_mean", "eval_std", "eval_episodes", "sampled_mean",
                 "sampled_std", "best_eval", "best_eval_frames", "best_eval_hours", "evaluations"]
CONTINUOUS_COLUMNS = [
    "task", "gym_id", "method", "seed", "lr", "total_frames", "frames", "hours", "load_hours", "shared_hours",
    "cpu", "hosts", "stopped_at_score", *_EVAL_COLUMNS, "random", "random_std", "random_episodes", "reference",
    "reference_algorithm", "reference_budget", "run", "run_dir",
]
CURVE_COLUMNS = ["task", "gym_id", "seed", "run", "frames", "hours", "mean", "std", "episodes", "sampled_mean",
                 "sampled_std", "final"]


def continuous_tasks() -> list[str]:
    """The continuous-control tasks the tables know (env names with a reference row)."""
    return list(continuous_references().index)


def continuous_runs(runs: pd.DataFrame, threads: int = CONTINUOUS_THREADS) -> pd.DataFrame:
    """The runs of the task table: completed, on a task of :func:`continuous_tasks`, with ``threads``
    actor-learners, at the largest frame budget (``total_frames``) any such run of the task has, so
    that a learning-rate sweep's shorter runs of the task stay out; by task, seed and directory."""
    done = completed_runs(runs)
    if done.empty:
        return done
    done = done[done["env"].isin(continuous_tasks()) & (done["threads"] == threads)]
    budget = done.groupby("env")["total_frames"].transform("max")
    chosen = done[done["total_frames"] == budget]
    return chosen.sort_values(["env", "seed", "run_dir"], kind="mergesort").reset_index(drop=True)


def _evaluation_cells(evals) -> dict:
    """The final evaluation (the run's own last one) and the best of its own evaluations (by the
    mean action's score; the first of equals), with the steps and training hours of their snapshots."""
    own = own_evaluations(evals)
    if not own:
        return {c: np.nan for c in _EVAL_COLUMNS} | {"evaluations": 0}
    final = own[-1]
    best = max(own, key=lambda e: float(e["mean"]))
    number = lambda e, k: float(e.get(k, np.nan))  # noqa: E731
    return {
        "eval_frames": number(final, "frames"), "eval_hours": number(final, "wall_time_s") / 3600,
        "eval_mean": number(final, "mean"), "eval_std": number(final, "std"),
        "eval_episodes": number(final, "episodes"), "sampled_mean": number(final, "sampled_mean"),
        "sampled_std": number(final, "sampled_std"), "best_eval": number(best, "mean"),
        "best_eval_frames": number(best, "frames"), "best_eval_hours": number(best, "wall_time_s") / 3600,
        "evaluations": len(own),
    }


def continuous_table(runs: pd.DataFrame, threads: int = CONTINUOUS_THREADS) -> pd.DataFrame:
    """One row per run of :func:`continuous_runs`.

    ``eval_*``: the run's final evaluation, played with the mean action mu (``sampled_*``: as many
    episodes with actions drawn from the policy, labelled); ``best_eval*``: the best of its own
    evaluations by mu's score, at the steps (``frames``: one step is one environment step) and
    training hours of its snapshot. ``frames``/``hours``: what the run trained (a run that stopped at
    ``stop_at_score`` trained on while its last evaluation played; ``stopped_at_score`` True).
    ``load_hours``/``shared_hours``: :func:`~asyncrl.tables.runs.shared_hours`. ``cpu``: the
    processors it trained on (" → " between hosts). ``random*`` and ``reference*``:
    :func:`continuous_references` of its task."""
    chosen = continuous_runs(runs, threads)
    if chosen.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CONTINUOUS_COLUMNS})
    refs = continuous_references()
    rows = []
    for run in chosen.to_dict("records"):
        ref = refs.loc[run["env"]]
        load_h, shared_h = shared_hours(run["run_dir"], free_cores(run))
        hosts = run_hosts(run)
        rows.append({
            "task": run["env"], "gym_id": ref["gym_id"],
            **{c: run[c] for c in ["method", "seed", "lr", "total_frames", "frames", "run_dir"]},
            "hours": float(run["wall_time_s"]) / 3600, "load_hours": load_h, "shared_hours": shared_h,
            "cpu": " → ".join(dict.fromkeys(hosts)), "hosts": len(hosts),
            "stopped_at_score": isinstance(run.get("stopped_at_score"), dict),
            **_evaluation_cells(run["evals"]),
            **{c: ref[c] for c in ["random", "random_std", "random_episodes", "reference", "reference_algorithm",
                                   "reference_budget"]},
            "run": Path(run["run_dir"]).name,
        })
    return pd.DataFrame(rows)[CONTINUOUS_COLUMNS]


def _score(mean, std, episodes=None) -> str:
    if pd.isna(mean):
        return "—"
    return f"{mean:.1f} ± {std:.1f}" + (f" ({episodes:.0f})" if episodes is not None and pd.notna(episodes) else "")


def steps_label(frames) -> str:
    """Environment steps for the tables: 150250 -> "150,250"; "—" when unknown."""
    return "—" if frames is None or pd.isna(frames) else f"{frames:,.0f}"


def continuous_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`continuous_table`: one row per run."""
    if table.empty:
        return "(no completed continuous-control run yet)"
    lines = ["| task | seed | steps trained (budget) | training hours | CPU | final evaluation, mean action μ: "
             "mean ± std (episodes), at steps | sampled actions | best evaluation (μ): at steps, hours "
             "| random policy: mean ± std (episodes) | published reference |",
             "|" + "---|" * 10]
    for r in table.itertuples(index=False):
        trained = f"{steps_label(r.frames)} ({steps_label(r.total_frames)})"
        final = "—" if pd.isna(r.eval_mean) else (
            f"{_score(r.eval_mean, r.eval_std, r.eval_episodes)} at {steps_label(r.eval_frames)}"
            + (" (stop_at_score reached)" if r.stopped_at_score else ""))
        best = "—" if pd.isna(r.best_eval) else (
            f"{r.best_eval:.1f} at {steps_label(r.best_eval_frames)}, {r.best_eval_hours:.2f} h")
        ref = "none" if pd.isna(r.reference) else f"{r.reference:.1f} ({r.reference_algorithm}, {r.reference_budget})"
        lines.append(f"| {r.gym_id} | {r.seed} | {trained} | {hours_label(r.hours, r.load_hours, r.shared_hours, r.hosts)} "
                     f"| {r.cpu} | {final} | {_score(r.sampled_mean, r.sampled_std)} | {best} "
                     f"| {_score(r.random, r.random_std, r.random_episodes)} | {ref} |")
    return "\n".join(lines)


def continuous_curves(runs: pd.DataFrame, threads: int = CONTINUOUS_THREADS) -> pd.DataFrame:
    """The evaluation curves of the task table's runs (:func:`continuous_runs`): one row per own
    evaluation, by task, seed and steps, with the training ``hours`` of its snapshot; the mean
    action's ``mean``/``std`` and the sampled actions' ``sampled_*``. An evaluation repeated at the
    same steps (the final one of a run that stopped at its score) counts once, the later standing;
    ``final`` marks the run's final evaluation."""
    chosen = continuous_runs(runs, threads)
    refs = continuous_references() if len(chosen) else None
    rows = []
    for run in chosen.to_dict("records"):
        own = own_evaluations(run["evals"])
        by_frames = {float(e["frames"]): (i == len(own) - 1, e) for i, e in enumerate(own)}
        for frames, (final, e) in sorted(by_frames.items()):
            rows.append({"task": run["env"], "gym_id": refs.loc[run["env"], "gym_id"], "seed": run["seed"],
                         "run": Path(run["run_dir"]).name, "frames": frames,
                         "hours": float(e.get("wall_time_s", np.nan)) / 3600, "final": final,
                         **{k: float(e.get(k, np.nan)) for k in ["mean", "std", "episodes", "sampled_mean",
                                                                 "sampled_std"]}})
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in CURVE_COLUMNS})
    return pd.DataFrame(rows)[CURVE_COLUMNS]

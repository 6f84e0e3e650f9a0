"""Schedule A/Bs: completed runs of one method, game and setting that differ only in their schedule
(the learning-rate horizon and, for the methods that explore by eps, how often each actor-learner
draws its final eps), side by side: each run's own evaluations at equal frames, its final
evaluation, and the frames and hours its training score took to reach a threshold."""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pandas as pd

from .evaluations import FINAL_EVAL_EPISODES, _EVAL_FIELDS, final_evaluation, own_evaluations
from .markdown import _format_cell, frames_label, group_heading, hours_label, trained_label
from .methods import SCORE_THRESHOLDS, _threshold_cells, time_to_threshold
from .runs import (code_versions, completed_runs, free_cores, host_count, load_episodes, run_config,
                   shared_hours)

# What the runs of one A/B share; they differ in their schedule (SCHEDULE_KEYS) only. The seed is
# part of it: an A/B compares schedules, not seeds.
SCHEDULE_GROUP = ["method", "env", "threads", "seed", "runtime", "total_frames", "terminal_on_life_loss", "lr"]
SCHEDULE_KEYS = ["lr_anneal_frames", "epsilon_resample"]

# The methods that explore by eps (asyncrl/methods/value_based.py). One of their runs whose
# summary.json and config.yaml name no draw drew once per run (the only draw before the key existed).
EPSILON_METHODS = ("n_step_q", "one_step_q", "one_step_sarsa")

# The evaluation interval of a run whose config.yaml does not give one (config.EvalCfg's default)
EVAL_INTERVAL = 4_000_000

_RUN_FIELDS = ["frames", "hours", "load_hours", "shared_hours", "hosts", "code_versions"]
_THRESHOLD_FIELDS = ["threshold", "frames_to_threshold", "hours_to_threshold", "threshold_reached"]


def epsilon_draw(run: dict) -> Optional[str]:
    """When a run's actor-learners drew their final eps: summary.json ``epsilon_resample``, else (for
    :data:`EPSILON_METHODS`) its config.yaml ``method.epsilon.resample``, else ``"per_run"``; None
    for a method that does not explore by eps (A3C), whatever its config holds."""
    recorded = run.get("epsilon_resample")
    if isinstance(recorded, str):
        return recorded
    if run["method"] not in EPSILON_METHODS:
        return None
    epsilon = (run_config(run["run_dir"]).get("method") or {}).get("epsilon") or {}
    return str(epsilon.get("resample", "per_run"))


def setting_label(total_frames, lr_anneal_frames, epsilon: Optional[str]) -> str:
    """A run's schedule in words: "LR horizon 20M (= budget), ε per run", "LR horizon 320M, ε per
    episode"; no ε part for a method that does not explore by eps."""
    horizon = f"LR horizon {frames_label(lr_anneal_frames)}"
    if pd.notna(lr_anneal_frames) and int(lr_anneal_frames) == int(total_frames):
        horizon += " (= budget)"
    return horizon + (f", ε {epsilon.replace('_', ' ')}" if epsilon else "")


def schedule_groups(runs: pd.DataFrame) -> pd.DataFrame:
    """The completed runs of every :data:`SCHEDULE_GROUP` group that holds at least two schedules,
    with their ``epsilon_resample`` (:func:`epsilon_draw`) and ``setting`` (:func:`setting_label`);
    ordered by group, then horizon, then eps drawn per run before per episode."""
    done = completed_runs(runs)
    if done.empty:
        return done.assign(setting=pd.Series(dtype=object))
    records = done.to_dict("records")
    done["epsilon_resample"] = pd.Series([epsilon_draw(r) for r in records], dtype=object)
    done["setting"] = [setting_label(r["total_frames"], r["lr_anneal_frames"], e)
                       for r, e in zip(records, done["epsilon_resample"])]
    settings = done.groupby(SCHEDULE_GROUP, dropna=False)["setting"].transform("nunique")
    keep = done[settings >= 2].assign(_draw=lambda d: d["epsilon_resample"].map({"per_run": 0, "per_episode": 1}))
    keep = keep.sort_values([*SCHEDULE_GROUP, "lr_anneal_frames", "_draw", "run_dir"], kind="mergesort")
    return keep.drop(columns="_draw").reset_index(drop=True)


def evaluation_interval(run_dir) -> int:
    """A run's evaluation interval in frames: its config.yaml ``eval.interval_frames``, else
    :data:`EVAL_INTERVAL`."""
    interval = (run_config(run_dir).get("eval") or {}).get("interval_frames")
    return int(interval) if isinstance(interval, (int, float)) else EVAL_INTERVAL


def evaluations_at(evals, interval: int) -> dict:
    """A run's own evaluations (:func:`own_evaluations`) by their frames rounded to the nearest
    multiple of ``interval`` (as they are when ``interval`` <= 0), in order: {frames: entry}. Of two
    that round alike (the last periodic one and the final one at the budget) the later stands."""
    at = {}
    for entry in own_evaluations(evals):
        frames = float(entry.get("frames", np.nan))
        if np.isnan(frames):
            continue
        at[int(round(frames / interval) * interval) if interval > 0 else int(frames)] = entry
    return dict(sorted(at.items()))


def _run_row(run: dict, episodes: pd.DataFrame, threshold: float, k: int, min_episodes: int,
             policy: Optional[str]) -> dict:
    """One row of :func:`schedule_ab`: the run's schedule, training, evaluations and threshold test."""
    frames_to, seconds_to = time_to_threshold(episodes, threshold, k)
    load_h, shared_h = shared_hours(run["run_dir"], free_cores(run))
    at = evaluations_at(run.get("evals"), evaluation_interval(run["run_dir"]))
    return {
        **{c: run[c] for c in [*SCHEDULE_GROUP, *SCHEDULE_KEYS, "setting", "frames"]},
        "hours": run["wall_time_s"] / 3600, "load_hours": load_h, "shared_hours": shared_h,
        "hosts": host_count(run), "code_versions": code_versions(run),
        **{f"eval_{frames_label(f)}": float(e.get("mean", np.nan)) for f, e in at.items()},
        **final_evaluation(run.get("evals"), min_episodes, policy),
        "threshold": threshold, "frames_to_threshold": frames_to, "hours_to_threshold": seconds_to / 3600,
        "threshold_reached": None if np.isnan(threshold) else not np.isnan(frames_to),
        # the evaluations the figures draw: (frames, training seconds, mean, std) of each that stands
        "evals_at": [tuple(float(e.get(c, np.nan)) for c in ("frames", "wall_time_s", "mean", "std"))
                     for e in at.values()],
        "run_dir": run["run_dir"],
        "_at": list(at),  # the rounded frames, for the order of the eval_<frames> columns
    }


def schedule_ab(
    runs: pd.DataFrame,
    k: int = 10,
    thresholds: dict | None = None,
    min_episodes: int = FINAL_EVAL_EPISODES,
    policy: str | None = None,
    episodes_loader: Callable[[str], pd.DataFrame] = load_episodes,
) -> pd.DataFrame:
    """One row per run of :func:`schedule_groups`: the schedules of one setting side by side.

    Columns: the group (:data:`SCHEDULE_GROUP`), the schedule (:data:`SCHEDULE_KEYS`, ``setting``),
    ``frames`` (trained), ``hours`` with ``load_hours``/``shared_hours``, ``hosts`` and
    ``code_versions``; ``eval_<frames>`` (e.g. ``eval_4M``): the mean of each own evaluation by
    :func:`evaluations_at` with the run's evaluation interval; the final evaluation of
    :func:`final_evaluation` (``eval_source`` ... ``eval_episodes``); the threshold test of
    :func:`time_to_threshold` (window ``k``, ``thresholds`` by game, default
    :data:`SCORE_THRESHOLDS`); ``evals_at``: the evaluations as (frames, seconds, mean, std) for the
    figures; ``run_dir``. The ``eval_<frames>`` columns are in order of frames."""
    thresholds = SCORE_THRESHOLDS if thresholds is None else thresholds
    fixed = [*SCHEDULE_GROUP, *SCHEDULE_KEYS, "setting", *_RUN_FIELDS]
    tail = [*_EVAL_FIELDS, *_THRESHOLD_FIELDS, "evals_at", "run_dir"]
    chosen = schedule_groups(runs)
    if chosen.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*fixed, *tail]})
    rows = [_run_row(run, episodes_loader(run["run_dir"]), float(thresholds.get(run["env"], np.nan)), k,
                     min_episodes, policy) for run in chosen.to_dict("records")]
    at = sorted({f for r in rows for f in r.pop("_at")})
    return pd.DataFrame(rows)[[*fixed, *dict.fromkeys(f"eval_{frames_label(f)}" for f in at), *tail]]


def _final_cell(r: dict) -> str:
    """The final evaluation as "mean ± std (games, from)"; "—" without one."""
    if r["eval_source"] == "none":
        return "—"
    source = {"evaluate.py": "evaluate.py", "run": "run's last own"}[r["eval_source"]]
    return (f"{_format_cell(r['eval_mean'], '.1f')} ± {_format_cell(r['eval_std'], '.1f')} "
            f"({_format_cell(r['eval_episodes'], '.0f')}, {source})")


def schedule_markdown(table: pd.DataFrame) -> str:
    """Markdown of :func:`schedule_ab`: one section per group, one row per run (its schedule), the
    group's evaluation columns in order of frames."""
    if table.empty:
        return "(no group of completed runs with two or more schedules yet)"
    parts = []
    for key, rows in table.groupby(SCHEDULE_GROUP, sort=True, dropna=False):
        g = dict(zip(SCHEDULE_GROUP, key))
        at = [c for c in table.columns if c.startswith("eval_") and c not in _EVAL_FIELDS and rows[c].notna().any()]
        threshold = rows["threshold"].iloc[0]
        target = f"MA ≥ {threshold:g}" if pd.notna(threshold) else "threshold"
        header = ["setting", "trained", "hours", *(f"eval {c.removeprefix('eval_')}" for c in at),
                  "final evaluation", f"frames to {target}", "hours to it"]
        lines = [group_heading(f"{g['method']} on {g['env']}, seed {g['seed']}, lr {g['lr']:g}", g, runtime=True), "",
                 "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in rows.to_dict("records"):
            to_frames, to_hours = _threshold_cells(r["threshold"], r["frames_to_threshold"], r["hours_to_threshold"])
            cells = [r["setting"], trained_label(r["frames"], r["code_versions"]),
                     hours_label(r["hours"], r["load_hours"], r["shared_hours"], r["hosts"]),
                     *(_format_cell(r[c], ".1f") for c in at), _final_cell(r), to_frames, to_hours]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)

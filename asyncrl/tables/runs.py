"""Run directories and their training games: ``summary.json`` files found below a runs root,
the completed ones apart from the rest, each run's ``episodes.csv`` and its moving average."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd
import yaml

EPISODE_COLUMNS = ["frames", "wall_time_s", "actor", "score", "length"]

# The summary fields every table relies on; a summary missing one still loads (as NaN).
SUMMARY_COLUMNS = [
    "method", "env", "threads", "seed", "runtime", "status", "cores", "total_frames", "lr_anneal_frames",
    "epsilon_resample", "frames", "wall_time_s", "frames_per_s", "final_score", "lr", "network", "frame_skip",
    "eval_protocol", "terminal_on_life_loss", "evals", "run_dir",
]

_INT_COLUMNS = ["threads", "seed", "cores", "total_frames", "lr_anneal_frames", "frames", "frame_skip"]


def load_runs(root: str | Path) -> pd.DataFrame:
    """One row per run directory below ``root``: the fields of its ``summary.json`` plus ``run_dir``.

    Runs are found by globbing ``**/summary.json``, so the directory layout does not matter. A
    summary that cannot be parsed (e.g. caught mid-write) becomes a row with status
    ``unreadable`` so that :func:`excluded_runs` lists it instead of it silently vanishing.
    Integer fields use pandas' nullable ``Int64``; a missing ``status`` reads as ``unknown``.
    """
    rows = []
    for path in sorted(Path(root).glob("**/summary.json")):
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            summary = {"status": "unreadable", "error": str(err)}
        summary["run_dir"] = str(path.parent)
        rows.append(summary)
    runs = pd.DataFrame(rows)
    runs = runs.reindex(columns=list(dict.fromkeys([*SUMMARY_COLUMNS, *runs.columns])))
    for col in _INT_COLUMNS:
        runs[col] = pd.to_numeric(runs[col], errors="coerce").round().astype("Int64")
    for col in ["wall_time_s", "frames_per_s", "final_score", "lr"]:
        runs[col] = pd.to_numeric(runs[col], errors="coerce").astype(float)
    # the learning-rate horizon; runs written before the option existed annealed to 0 at their budget
    runs["lr_anneal_frames"] = runs["lr_anneal_frames"].fillna(runs["total_frames"])
    runs["status"] = runs["status"].fillna("unknown").astype(object)
    runs["runtime"] = runs["runtime"].fillna("unknown").astype(object)
    # runs written before the option existed never ended learning at a lost life
    runs["terminal_on_life_loss"] = [v is True or v == 1 for v in runs["terminal_on_life_loss"]]
    return runs


def protocol_label(runs: pd.DataFrame) -> str:
    """The protocols of a set of Atari runs, for table titles and notes: evaluation starts and what
    a lost life meant for learning, e.g. "noop_starts_30, lost life not terminal"."""
    if runs.empty:
        return "no-op starts"
    labels = sorted({
        f"{r.eval_protocol}, lost life {'terminal' if r.terminal_on_life_loss else 'not terminal'}"
        for r in runs.itertuples() if isinstance(r.eval_protocol, str)
    })
    return "; ".join(labels) or "no-op starts"


def completed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs whose status is ``completed``: the only ones any table averages."""
    return runs[runs["status"] == "completed"].reset_index(drop=True)


def excluded_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs left out of every table (status other than ``completed``: failed, interrupted,
    running, unreadable, ...), with how far each got (``frames`` of ``total_frames``)."""
    cols = ["method", "env", "threads", "seed", "runtime", "status", "frames", "total_frames", "run_dir"]
    return runs.loc[runs["status"] != "completed", cols].reset_index(drop=True)


def run_config(run_dir: str | Path) -> dict:
    """A run's resolved config (``config.yaml`` beside its summary) as plain dicts; {} when the file
    is missing or cannot be parsed."""
    try:
        config = yaml.safe_load((Path(run_dir) / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def load_episodes(run_dir: str | Path) -> pd.DataFrame:
    """The training games of one run (``episodes.csv``), ordered by the global frame counter.

    Ties in ``frames`` (two actor-learners finishing at the same counter value) are broken by
    ``wall_time_s``. A run without the file gives an empty frame with the usual columns.
    """
    path = Path(run_dir) / "episodes.csv"
    try:
        st = path.stat()
    except FileNotFoundError:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in EPISODE_COLUMNS})
    # make_tables reads a run's games for several tables and figures: parse the file once (again
    # when it changed, as a running run's file does), and hand each caller its own copy
    return _read_episodes(str(path.resolve()), st.st_mtime_ns, st.st_size).copy()


@functools.lru_cache(maxsize=256)
def _read_episodes(path: str, mtime_ns: int, size: int) -> pd.DataFrame:
    episodes = pd.read_csv(path)
    return episodes.sort_values(["frames", "wall_time_s"], kind="mergesort").reset_index(drop=True)


def moving_average(episodes: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    """Moving average of the training score over the last ``k`` finished games, ordered by frames.

    One row per game that completes a full window (the first ``k - 1`` games have none, so one lucky
    early game cannot count as reaching a score): columns ``frames``, ``wall_time_s`` (of that
    game's end) and ``score_ma``. Each window's mean is computed on its own values, so identical
    windows give bit-identical averages.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(episodes) < k:
        return pd.DataFrame({"frames": [], "wall_time_s": [], "score_ma": []}, dtype=float)
    scores = episodes["score"].to_numpy(dtype=float)
    windows = np.lib.stride_tricks.sliding_window_view(scores, k)
    return pd.DataFrame({
        "frames": episodes["frames"].to_numpy(dtype=float)[k - 1:],
        "wall_time_s": episodes["wall_time_s"].to_numpy(dtype=float)[k - 1:],
        "score_ma": windows.mean(axis=1),
    })


# A metrics row counts as shared when processes other than the run's used at least this many cores'
# worth of CPU during its interval (runtime/load.py: an idle machine reads ~0; tests or a CI run
# beside a run read ~1 and more; the 2-core machine is then split between them)
SHARED_LOAD = 0.5


def shared_hours(run_dir: str | Path, free_cores: float = 0.0, min_load: float = SHARED_LOAD) -> tuple[float, float]:
    """(hours measured, hours shared) of a run's training, from its metrics.csv ``other_load``:
    each row stands for the wall time since the row before it (the first row, since 0); "measured"
    sums the rows that record other_load, "shared" those where it is >= ``free_cores + min_load``:
    other processes took at least ``min_load`` of a core more than the cores the run left free (a
    1-actor-learner run on 2 cores leaves one: another such run beside it does not slow it). (0, 0)
    for a run whose rows lack the column (or have no file): its sharing is unknown, not absent."""
    try:
        m = pd.read_csv(Path(run_dir) / "metrics.csv", usecols=lambda c: c in ("wall_time_s", "other_load"))
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return 0.0, 0.0
    if "other_load" not in m.columns or m.empty:
        return 0.0, 0.0
    wall = pd.to_numeric(m["wall_time_s"], errors="coerce")
    dt = wall.diff().fillna(wall).clip(lower=0)
    load = pd.to_numeric(m["other_load"], errors="coerce")
    return float(dt[load.notna()].sum()) / 3600, float(dt[load >= free_cores + min_load].sum()) / 3600


# How run_hosts names a machine a summary does not record (written before the fields).
UNRECORDED_HOST = "host not recorded"


def run_hosts(run: dict) -> tuple:
    """The machines a run trained on, as processor names in order: summary.json ``hosts``
    (results.host_history), else its ``cpu``, else (:data:`UNRECORDED_HOST`,)."""
    hosts = run.get("hosts")
    if isinstance(hosts, list) and hosts:
        return tuple(str(h.get("cpu") or UNRECORDED_HOST) for h in hosts)
    cpu = run.get("cpu")
    return (cpu,) if isinstance(cpu, str) and cpu else (UNRECORDED_HOST,)


def host_count(run: dict) -> int:
    """How many machines a run trained on (:func:`run_hosts`): more than one and its hours and
    frames/s mix their speeds. 1 for runs from before the field."""
    return len(run_hosts(run))


def code_versions(run: dict) -> Optional[int]:
    """How many code versions a run trained under: the distinct package and conf hashes of its
    summary.json ``code`` (results.code_history). More than one and its curve joins segments of
    different code. None when not known: a run from before the field, or one whose earlier code is
    unrecorded and whose recorded segments are one version (the unrecorded one may be the same);
    two recorded versions are two, whatever the unrecorded ones were."""
    code = run.get("code")
    if not isinstance(code, list) or not code:
        return None
    known = {(c.get("source"), c.get("conf")) for c in code if c.get("source") is not None}
    if len(known) < 2 and any(c.get("source") is None for c in code):
        return None
    return len(known)


def free_cores(run: dict) -> float:
    """The cores a run leaves to others: its summary's cores minus its actor-learners (0 when it
    has as many or more, or does not record its cores)."""
    cores, threads = run.get("cores"), run.get("threads")
    if cores is None or threads is None or pd.isna(cores) or pd.isna(threads):
        return 0.0
    return max(0.0, float(cores) - float(threads))

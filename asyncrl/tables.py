"""The paper's tables (Mnih et al. 2016, Tables 1, 2 and S3) from run directories, Table 2 also
composed with idle-machine throughput benchmarks (``scripts/bench.py`` CSVs), and the methods on
one game side by side (the table behind the paper's Fig. 3).

Pure functions: pandas in, pandas out; no Hydra, no torch, no plotting. ``scripts/make_tables.py``
wires them to files, and ``docs/tables.md`` explains every definition in prose.

A run directory is found by its ``summary.json`` (at any depth below the runs root); next to it,
``episodes.csv`` has one row per finished *training* game (``frames, wall_time_s, actor, score,
length``). Only runs whose status is ``completed`` enter any table; the others are listed by
:func:`excluded_runs` and never averaged in.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd

EPISODE_COLUMNS = ["frames", "wall_time_s", "actor", "score", "length"]

# The summary fields every table relies on; a summary missing one still loads (as NaN).
SUMMARY_COLUMNS = [
    "method", "env", "threads", "seed", "runtime", "status", "cores", "total_frames", "frames",
    "wall_time_s", "frames_per_s", "final_score", "lr", "network", "frame_skip", "eval_protocol",
    "terminal_on_life_loss", "evals", "run_dir",
]
_INT_COLUMNS = ["threads", "seed", "cores", "total_frames", "frames", "frame_skip"]

# Paper Table 1 as printed: (mean, median) human-normalized score, human starts.
PAPER_TABLE1 = {
    "dqn": (121.9, 47.5),
    "gorila": (215.2, 71.3),
    "double_dqn": (332.9, 110.9),
    "dueling": (343.8, 117.1),
    "prioritized": (463.6, 127.6),
    "a3c_ff_1day": (344.1, 68.2),
    "a3c_ff": (496.8, 116.6),
    "a3c_lstm": (623.0, 112.6),
}
PAPER_LABELS = {
    "dqn": "DQN",
    "gorila": "Gorila",
    "double_dqn": "D-DQN",
    "dueling": "Dueling D-DQN",
    "prioritized": "Prioritized DQN",
    "a3c_ff_1day": "A3C FF, 1 day",
    "a3c_ff": "A3C FF, 4 days",
    "a3c_lstm": "A3C LSTM, 4 days",
}

# Paper Table 2 (16-core machine, 7 games): speedup by number of actor-learner threads, keyed by our method names.
PAPER_TABLE2 = {
    "one_step_q": {1: 1.0, 2: 3.0, 4: 6.3, 8: 13.3, 16: 24.1},
    "one_step_sarsa": {1: 1.0, 2: 2.8, 4: 5.9, 8: 13.1, 16: 22.1},
    "n_step_q": {1: 1.0, 2: 2.7, 4: 5.9, 8: 10.7, 16: 17.2},
    "a3c": {1: 1.0, 2: 2.1, 4: 3.7, 8: 6.9, 16: 12.5},
}

# Relative tolerance when asking whether a moving average reached the reference score: the
# reference is one run's own moving-average value, so equality must count as reaching it even
# after float rounding in another run's window mean.
_REACH_RTOL = 1e-9


# --------------------------------------------------------------------------------------------
# Packaged reference data
# --------------------------------------------------------------------------------------------

def _read_data_csv(name: str) -> pd.DataFrame:
    with resources.files("asyncrl.data").joinpath(name).open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


REFERENCES = ("human_starts", "noop")  # the two evaluation protocols the reference table covers


def reference_scores(references: str = "human_starts") -> pd.DataFrame:
    """Random and human scores per game, indexed by ALE id (columns game, random, human), for one
    evaluation protocol: a score is normalized with the references of the protocol it was played in.

    ``human_starts``: the references the paper's Table 1 is normalized with (Nair et al. 2015 for
    49 games, van Hasselt et al. 2016 for the other 8). ``noop``: the no-op-starts references
    (random: Mnih et al. 2015 and Wang et al. 2016; human: Wang et al. 2016), for our runs, which
    are evaluated from no-op starts.
    """
    if references not in REFERENCES:
        raise ValueError(f"unknown references {references!r} (valid: {', '.join(REFERENCES)})")
    ref = _read_data_csv("atari_reference_scores.csv").set_index("ale_id")
    if references == "noop":
        ref = ref.drop(columns=["random", "human"]).rename(columns={"random_noop": "random", "human_noop": "human"})
    return ref[["game", "random", "human"]]


def paper_scores() -> pd.DataFrame:
    """The paper's Table S3 raw scores (human starts), indexed by ALE id; NaN where a method has no score.

    Columns: ``game`` and the eight score columns of :data:`PAPER_TABLE1` (DQN and Gorila cover 49
    of the 57 games).
    """
    scores = _read_data_csv("a3c_paper_scores.csv")
    return scores.set_index("ale_id")[["game", *PAPER_TABLE1]]


# --------------------------------------------------------------------------------------------
# Runs and episodes
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Speedup (paper Table 2)
# --------------------------------------------------------------------------------------------

# Runs are compared for speedup only within one comparison group: same method, runtime backend,
# game, lost-life setting, learning rate and frame budget. Process and thread backends scale very
# differently under the GIL (threads ~1.3x at 2, processes ~1.9x); a lost life that ends learning
# episodes changes what the agent learns from; and the learning rate anneals to 0 at total_frames,
# so runs at another rate or budget follow another schedule. None of these are ever mixed.
SPEEDUP_GROUP = ["method", "runtime", "env", "terminal_on_life_loss", "lr", "total_frames"]


def times_to_reference(
    runs: pd.DataFrame,
    k: int = 10,
    fraction: float = 1.0,
    episodes_loader: Callable[[str], pd.DataFrame] = load_episodes,
) -> pd.DataFrame:
    """For every completed run: the reference score of its comparison group and when it got there.

    The comparison group is :data:`SPEEDUP_GROUP`: (method, runtime, game, lost-life setting,
    learning rate, frame budget); runs that differ in any of these never share a reference.

    Definitions (``MA`` = :func:`moving_average` over the last ``k`` training games):

    - ``first_ma`` / ``best_ma``: a run's first and highest MA value.
    - reference of a comparison group, over all its compared runs (every thread count and seed):
      ``reference = b - (1 - fraction) * (b - s0)`` with ``b`` = min over runs of ``best_ma`` and
      ``s0`` = min over runs of ``first_ma``. With ``fraction = 1`` it is the highest score that
      *every* run's MA reaches; a smaller fraction moves it towards the untrained level. Since each
      run's best >= its first >= s0, every compared run reaches it for any fraction in [0, 1].
    - ``time_to_ref`` / ``frames_to_ref``: ``wall_time_s`` and ``frames`` of the first game whose
      MA is >= the reference.

    A completed run with fewer than ``k`` training games has no MA: it does not enter the
    reference, and its times are NaN (it stays in the output so that it is visible).
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    per_run = completed_runs(runs)[[*SPEEDUP_GROUP, "threads", "seed", "cores", "frames_per_s", "run_dir"]]
    episodes = [episodes_loader(d) for d in per_run["run_dir"]]
    curves = [moving_average(e, k) for e in episodes]
    per_run = per_run.assign(
        games=[len(e) for e in episodes],
        first_ma=[c["score_ma"].iloc[0] if len(c) else np.nan for c in curves],
        best_ma=[c["score_ma"].max() if len(c) else np.nan for c in curves],
    )

    group = per_run.groupby(SPEEDUP_GROUP, dropna=False)
    s0 = group["first_ma"].transform("min")
    b = group["best_ma"].transform("min")
    # Written as b - ..., not s0 + fraction * (b - s0): with fraction = 1 this is exactly b, the
    # value the worst run's own MA attains, with no rounding that could put it out of reach.
    per_run["reference"] = b - (1.0 - fraction) * (b - s0)

    time_to_ref, frames_to_ref = [], []
    for curve, ref in zip(curves, per_run["reference"]):
        reached = curve["score_ma"] >= ref - _REACH_RTOL * max(1.0, abs(ref))
        if np.isnan(ref) or not reached.any():
            time_to_ref.append(np.nan)
            frames_to_ref.append(np.nan)
        else:
            first = reached.to_numpy().argmax()
            time_to_ref.append(curve["wall_time_s"].iloc[first])
            frames_to_ref.append(curve["frames"].iloc[first])
    per_run["time_to_ref"] = time_to_ref
    per_run["frames_to_ref"] = frames_to_ref
    return per_run


def speedup_by_game(per_run: pd.DataFrame) -> pd.DataFrame:
    """Per comparison group (:data:`SPEEDUP_GROUP`) and thread count: seed means and the speedup
    against 1 actor-learner.

    Seed means (over the runs that reached the reference): ``time_to_ref``, ``frames_to_ref``,
    ``frames_per_s`` (the summary's whole-run throughput). Then, with ``1`` = the 1-thread row of
    the same comparison group (same game, lost-life setting, lr and budget):

    - ``speedup = time_to_ref(1) / time_to_ref(n)`` (a ratio of seed means, not a mean of ratios),
    - ``throughput_scaling = frames_per_s(n) / frames_per_s(1)``,
    - ``data_efficiency = frames_to_ref(1) / frames_to_ref(n)``.

    Since time = frames / (frames/s), speedup = throughput_scaling x data_efficiency exactly when
    each run's frames/s is constant. NaN when the group has no 1-thread run. ``oversubscribed`` is
    True when ``threads`` exceeds the ``cores`` recorded by any of the cell's runs.
    """
    keys = [*SPEEDUP_GROUP, "threads"]
    reached = per_run.dropna(subset=["time_to_ref"])
    cells = reached.groupby(keys, dropna=False).agg(
        seeds=("seed", "count"),
        time_to_ref=("time_to_ref", "mean"),
        frames_to_ref=("frames_to_ref", "mean"),
        frames_per_s=("frames_per_s", "mean"),
        reference=("reference", "first"),
        cores=("cores", "min"),
    ).reset_index()
    cells["oversubscribed"] = (cells["threads"] > cells["cores"]).fillna(False).astype(bool)

    measures = ["time_to_ref", "frames_to_ref", "frames_per_s"]
    base = cells.loc[cells["threads"] == 1, [*SPEEDUP_GROUP, *measures]]
    # A left merge keeps the rows of `cells` in order, so the columns below line up with it.
    one = cells.merge(base, on=SPEEDUP_GROUP, how="left", suffixes=("", "_1"))
    cells["speedup"] = (one["time_to_ref_1"] / one["time_to_ref"]).to_numpy()
    cells["throughput_scaling"] = (one["frames_per_s"] / one["frames_per_s_1"]).to_numpy()
    cells["data_efficiency"] = (one["frames_to_ref_1"] / one["frames_to_ref"]).to_numpy()
    return cells.sort_values(keys).reset_index(drop=True)


def speedup_table(by_game: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 2 layout, long form: per (method, runtime, threads) the mean over games.

    ``speedup``, ``throughput_scaling`` and ``data_efficiency`` are each averaged over the
    comparison groups where the speedup is defined (a 1-thread run and an n-thread run both
    reached the reference): one group per game, unless a game was run at several settings (lost
    life, lr, budget), each of which is then a speedup of its own and enters the mean separately.
    ``games`` counts the games and ``groups`` the groups, so a game missing for one method just
    lowers its count. ``oversubscribed`` is True if any of those groups' n-thread runs had more
    threads than cores. ``paper_speedup`` is the paper's Table 2 value for that method and thread
    count (NaN if none).
    """
    cols = ["method", "runtime", "threads", "speedup", "throughput_scaling", "data_efficiency",
            "games", "groups", "oversubscribed", "paper_speedup"]
    valid = by_game.dropna(subset=["speedup"])
    if valid.empty:
        return pd.DataFrame(columns=cols)
    table = valid.groupby(["method", "runtime", "threads"]).agg(
        speedup=("speedup", "mean"),
        throughput_scaling=("throughput_scaling", "mean"),
        data_efficiency=("data_efficiency", "mean"),
        games=("env", "nunique"),
        groups=("env", "size"),
        oversubscribed=("oversubscribed", "any"),
    ).reset_index()
    table["paper_speedup"] = [
        PAPER_TABLE2.get(m, {}).get(int(n), np.nan) for m, n in zip(table["method"], table["threads"])
    ]
    return table[cols]


def _row_label(method: str, runtime: str, runtimes: Iterable[str]) -> str:
    # The backend is only worth naming when both appear in the table.
    return f"{method} [{runtime}]" if len(set(runtimes)) > 1 else method


def speedup_markdown(table: pd.DataFrame, column: str = "speedup") -> str:
    """Wide Markdown of one column of :func:`speedup_table`: rows = methods, columns = thread counts.

    For ``column="speedup"`` the paper's Table 2 is shown beside ours: each of its methods gets a
    ``(paper)`` row (under ours, or alone when we have no run of it). A trailing ``*`` marks an
    oversubscribed cell (more threads than the machine's cores).
    """
    with_paper = column == "speedup"
    threads = set(table["threads"].astype(int))
    methods = set(table["method"])
    if with_paper:
        threads |= {n for v in PAPER_TABLE2.values() for n in v}
        methods |= set(PAPER_TABLE2)
    if not threads:
        return "(no speedup: no game has completed 1-thread and n-thread runs)"
    threads = sorted(threads)
    lines = [f"| method | {' | '.join(str(n) for n in threads)} |", "|" + "---|" * (len(threads) + 1)]
    for method in sorted(methods):
        for runtime, rows in table[table["method"] == method].groupby("runtime", sort=True):
            cells = {int(n): f"{v:.2f}" + ("*" if o else "")
                     for n, v, o in zip(rows["threads"], rows[column], rows["oversubscribed"])}
            label = _row_label(method, runtime, table["runtime"])
            lines.append(f"| {label} | " + " | ".join(cells.get(n, "—") for n in threads) + " |")
        if with_paper and method in PAPER_TABLE2:
            paper = PAPER_TABLE2[method]
            lines.append(f"| {method} (paper) | "
                         + " | ".join(f"{paper[n]:.1f}" if n in paper else "—" for n in threads) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Table 2 on Atari: data efficiency from the runs x throughput scaling from idle benchmarks
# --------------------------------------------------------------------------------------------

BENCH_KEY = ["method", "runtime", "env", "threads"]
# Columns that may carry the time a benchmark row was measured (the first one present is used);
# a CSV without any of them is ordered by its path only.
BENCH_TIME_COLUMNS = ("timestamp", "started_utc", "started", "measured_at")
# A benchmark row counts as taken on an idle machine when its 1-min load average (load1_median,
# measured just before the run) is <= BENCH_MAX_LOAD x its cores. Not 0.5 x cores: benchmark runs
# follow each other, so the previous run's own processes are still in the 1-min average (idle-
# machine rows reach 1.3 on 2 cores in results/bench/pong), while a machine shared with training
# runs reads >= the cores they keep busy on top of that.
BENCH_MAX_LOAD = 1.0
# Rows that record ``other_load_median`` (scripts/bench.py since 2026-11-26: the cores' worth of CPU
# used by processes other than the benchmark's while it ran) are judged by it instead, which neither
# counts the previous benchmark run nor this run's own processes: idle when it is
# <= BENCH_MAX_OTHER_LOAD x cores (an idle machine reads ~0.0x; one training run beside it, >= 1 core).
BENCH_MAX_OTHER_LOAD = 0.15

_BENCH_COLUMNS = ["method", "runtime", "env", "threads", "cores", "agent_steps_per_s", "load1_median",
                  "other_load_median", "overrides"]


def load_bench(root: str | Path | None) -> pd.DataFrame:
    """Every row of every ``throughput.csv`` below ``root`` (``scripts/bench.py`` output), one row
    per (CSV, method, runtime, threads) measurement.

    Adds ``bench_csv`` (the file), ``bench_row`` (its line order in the file) and ``bench_time``
    (UTC time from the first of :data:`BENCH_TIME_COLUMNS` the file has, else NaT). A missing root
    (or ``None``) gives an empty frame with the usual columns.
    """
    frames = []
    for path in sorted(Path(root).glob("**/throughput.csv")) if root is not None else []:
        try:
            rows = pd.read_csv(path)
        except (OSError, ValueError, pd.errors.EmptyDataError):
            continue
        time_col = next((c for c in BENCH_TIME_COLUMNS if c in rows.columns), None)
        times = rows[time_col] if time_col else pd.Series([None] * len(rows), dtype=object)
        rows = rows.reindex(columns=_BENCH_COLUMNS)
        rows["bench_csv"] = str(path)
        rows["bench_row"] = np.arange(len(rows))
        rows["bench_time"] = pd.to_datetime(times.astype(object), utc=True, errors="coerce", format="mixed").to_numpy()
        frames.append(rows)
    if not frames:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in [*_BENCH_COLUMNS, "bench_csv", "bench_row"]})
        empty["bench_time"] = pd.Series(dtype="datetime64[ns, UTC]")
        return empty
    bench = pd.concat(frames, ignore_index=True)
    bench["bench_time"] = pd.to_datetime(bench["bench_time"], utc=True)
    for col in ["threads", "cores"]:
        bench[col] = pd.to_numeric(bench[col], errors="coerce").round().astype("Int64")
    for col in ["agent_steps_per_s", "load1_median", "other_load_median"]:
        bench[col] = pd.to_numeric(bench[col], errors="coerce").astype(float)
    for col in ["method", "runtime", "env"]:
        bench[col] = bench[col].astype(object)
    return bench


def bench_idle(bench: pd.DataFrame, max_load: float = BENCH_MAX_LOAD,
               max_other_load: float = BENCH_MAX_OTHER_LOAD) -> pd.Series:
    """Whether each benchmark row was taken on an idle machine: ``other_load_median <= max_other_load
    * cores`` where the row records it, else ``load1_median <= max_load * cores``; False for a row
    with neither (or no cores)."""
    cores = pd.to_numeric(bench["cores"], errors="coerce").astype(float)
    other = pd.to_numeric(bench["other_load_median"], errors="coerce").astype(float)
    load1 = pd.to_numeric(bench["load1_median"], errors="coerce").astype(float)
    idle = (other <= max_other_load * cores).where(other.notna(), load1 <= max_load * cores)
    return idle.fillna(False).astype(bool)


def bench_scaling(bench: pd.DataFrame, max_load: float = BENCH_MAX_LOAD,
                  max_other_load: float = BENCH_MAX_OTHER_LOAD) -> pd.DataFrame:
    """Throughput scaling per (method, runtime, game, threads) from idle-machine benchmarks.

    ``bench_scaling = agent_steps_per_s(n) / agent_steps_per_s(1)``, both rows from the **same**
    CSV (one machine, one code version, one session). Rules:

    - a row is *idle* by :func:`bench_idle` (its other load where recorded, else its 1-min load); a
      row with no load recorded is not.
      A pair (n row and the 1-thread row of its CSV) is usable only when both rows are idle;
    - a row measured twice in one CSV: the newer one (``bench_time``), else the later line;
    - several CSVs with a usable pair: the newest by the pair's ``bench_time`` (the later of its two
      rows); CSVs without times rank below those with, and ties go to the lexicographically last
      path (which is the newest when the benchmark directories are named by date).

    Columns: the key, ``bench_scaling``, ``bench_steps_per_s`` and ``bench_steps_per_s_1`` (the
    chosen pair), ``bench_load1`` and ``bench_other_load`` (the larger of their loads; NaN other
    load for rows that predate it), ``bench_cores``, ``bench_overrides``,
    ``bench_csv``, ``bench_candidates`` (usable pairs found) and ``bench_skipped`` (pairs skipped as
    not idle). A key with pairs but none usable keeps a row with NaN scaling.
    """
    cols = [*BENCH_KEY, "bench_scaling", "bench_steps_per_s", "bench_steps_per_s_1", "bench_load1",
            "bench_other_load", "bench_cores", "bench_overrides", "bench_csv", "bench_candidates", "bench_skipped"]
    rows = bench.dropna(subset=["method", "runtime", "env", "threads"])
    if rows.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols}).astype({"threads": "Int64"})
    rows = rows.assign(idle=bench_idle(rows, max_load, max_other_load))
    rows = rows.sort_values(["bench_csv", "bench_time", "bench_row"], na_position="first", kind="mergesort")
    rows = rows.drop_duplicates(["bench_csv", *BENCH_KEY], keep="last")
    ones = rows.loc[rows["threads"] == 1, ["bench_csv", "method", "runtime", "env", "agent_steps_per_s",
                                          "load1_median", "other_load_median", "idle", "bench_time"]]
    pairs = rows.merge(ones, on=["bench_csv", "method", "runtime", "env"], suffixes=("", "_1"))
    pairs["usable"] = pairs["idle"] & pairs["idle_1"] & (pairs["agent_steps_per_s_1"] > 0)
    pairs["pair_time"] = pairs[["bench_time", "bench_time_1"]].max(axis=1)

    out = []
    for key, group in pairs.groupby(BENCH_KEY, sort=True):
        usable = group[group["usable"]].sort_values(["pair_time", "bench_csv"], na_position="first", kind="mergesort")
        row = dict(zip(BENCH_KEY, key), bench_candidates=len(usable), bench_skipped=int((~group["usable"]).sum()))
        if len(usable):
            best = usable.iloc[-1]
            row.update(
                bench_scaling=best["agent_steps_per_s"] / best["agent_steps_per_s_1"],
                bench_steps_per_s=best["agent_steps_per_s"], bench_steps_per_s_1=best["agent_steps_per_s_1"],
                bench_load1=max(best["load1_median"], best["load1_median_1"]),
                bench_other_load=max(best["other_load_median"], best["other_load_median_1"]),
                bench_cores=best["cores"],
                bench_overrides=best["overrides"], bench_csv=best["bench_csv"])
        out.append(row)
    table = pd.DataFrame(out).reindex(columns=cols)
    table["threads"] = table["threads"].astype("Int64")
    table["bench_cores"] = pd.to_numeric(table["bench_cores"], errors="coerce").astype("Int64")
    for col in ["bench_scaling", "bench_steps_per_s", "bench_steps_per_s_1", "bench_load1", "bench_other_load"]:
        table[col] = pd.to_numeric(table[col], errors="coerce").astype(float)
    return table


def composed_speedup(by_game: pd.DataFrame, scaling: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 2 cells composed from two independent measurements, beside the measured one.

    For each row of :func:`speedup_by_game` whose data efficiency is defined (its comparison group
    has 1-thread and n-thread runs that reached the reference), in the groups where it is defined
    for at least one n > 1 (a group with only 1-thread runs has nothing to show):

    - ``data_efficiency = frames_to_ref(1) / frames_to_ref(n)`` from the runs. It counts frames, not
      seconds, so it does not depend on what else the machine was running;
    - ``bench_scaling`` from :func:`bench_scaling` (idle-machine benchmarks, same method, runtime,
      game and thread count);
    - ``composed_speedup = data_efficiency x bench_scaling``: the wall-clock speedup the runs would
      have shown on an idle machine (time = frames / throughput);
    - ``measured_speedup`` (= ``speedup``) and ``measured_throughput_scaling`` (= the runs'
      ``throughput_scaling``): from the runs' own wall clock, so they include whatever load the
      machine carried during each run.

    ``oversubscribed``: more threads than the cores of any of the runs or of the benchmark row.
    ``paper_speedup``: the paper's Table 2 value (16 cores, mean over 7 games).
    """
    cols = [*SPEEDUP_GROUP, "threads", "seeds", "reference", "frames_to_ref", "data_efficiency", "bench_scaling",
            "composed_speedup", "measured_speedup", "measured_throughput_scaling", "oversubscribed",
            "paper_speedup", "bench_steps_per_s", "bench_steps_per_s_1", "bench_load1", "bench_other_load",
            "bench_cores", "bench_overrides", "bench_csv", "bench_candidates", "bench_skipped"]
    cells = by_game.dropna(subset=["data_efficiency"])
    has_n = (cells["threads"] > 1).groupby([cells[c] for c in SPEEDUP_GROUP], dropna=False).transform("any")
    cells = cells[has_n.astype(bool)]
    if cells.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    scaling = scaling.astype({c: object for c in ["method", "runtime", "env"]})
    table = cells.astype({c: object for c in ["method", "runtime", "env"]}).merge(scaling, on=BENCH_KEY, how="left")
    table["composed_speedup"] = table["data_efficiency"] * table["bench_scaling"]
    table["measured_speedup"] = table["speedup"]
    table["measured_throughput_scaling"] = table["throughput_scaling"]
    over_bench = (table["threads"].astype(float) > table["bench_cores"].astype(float)).fillna(False)
    table["oversubscribed"] = table["oversubscribed"].astype(bool) | over_bench.astype(bool)
    table["paper_speedup"] = [PAPER_TABLE2.get(m, {}).get(int(n), np.nan)
                              for m, n in zip(table["method"], table["threads"])]
    table["bench_candidates"] = table["bench_candidates"].fillna(0).astype(int)
    table["bench_skipped"] = table["bench_skipped"].fillna(0).astype(int)
    return table[cols].sort_values([*SPEEDUP_GROUP, "threads"]).reset_index(drop=True)


def frames_label(frames) -> str:
    """A frame count for labels and file names: 20000000 -> "20M", 200000 -> "200k"."""
    if frames is None or pd.isna(frames):
        return "?"
    frames = float(frames)
    if frames >= 1e6:
        return f"{frames / 1e6:g}M"
    if frames >= 1e3:
        return f"{frames / 1e3:g}k"
    return f"{frames:g}"


def life_label(env: str, terminal_on_life_loss: bool) -> str:
    """", lost life terminal" / ", lost life not terminal" for Atari games; "" for games without
    lives (CartPole, toy) unless the setting was on."""
    if not terminal_on_life_loss and env not in reference_scores().index:
        return ""
    return ", lost life " + ("terminal" if terminal_on_life_loss else "not terminal")


def composed_markdown(table: pd.DataFrame) -> str:
    """Wide Markdown of :func:`composed_speedup` in the paper's Table 2 layout: columns = thread
    counts; per comparison group four rows (composed speedup, its two factors, the measured
    wall-clock speedup), then the paper's row for the method. ``*`` marks an oversubscribed cell."""
    if table.empty:
        return "(no composed speedup: no Atari game has completed 1-thread and n-thread runs)"
    threads = sorted(set(table["threads"].astype(int)))
    head = f"| method | game, budget, lr, lost life | quantity | {' | '.join(str(n) for n in threads)} |"
    lines = [head, "|" + "---|" * (len(threads) + 3)]
    quantities = [
        ("composed_speedup", "**speedup, composed** = data efficiency × throughput scaling"),
        ("data_efficiency", "data efficiency (runs: frames to reference)"),
        ("bench_scaling", "throughput scaling (idle-machine bench)"),
        ("measured_speedup", "speedup, measured wall clock (runs; machine shared)"),
    ]
    runtimes = table["runtime"]
    for method, by_method in table.groupby("method", sort=True):
        for key, rows in by_method.groupby(SPEEDUP_GROUP, sort=True, dropna=False):
            g = dict(zip(SPEEDUP_GROUP, key))
            label = _row_label(method, g["runtime"], runtimes)
            setting = (f"{g['env']}, {frames_label(g['total_frames'])} frames, lr {g['lr']:g}"
                       + life_label(g["env"], g["terminal_on_life_loss"]))
            for i, (column, name) in enumerate(quantities):
                cells = {int(n): f"{v:.2f}" + ("*" if o else "")
                         for n, v, o in zip(rows["threads"], rows[column], rows["oversubscribed"]) if pd.notna(v)}
                first = (label, setting) if i == 0 else ("", "")
                lines.append(f"| {first[0]} | {first[1]} | {name} | "
                             + " | ".join(cells.get(n, "—") for n in threads) + " |")
        if method in PAPER_TABLE2:
            paper = PAPER_TABLE2[method]
            lines.append(f"| {method} (paper) | 7 games, 16 cores | speedup | "
                         + " | ".join(f"{paper[n]:.1f}" if n in paper else "—" for n in threads) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Methods on one game (paper Fig. 3 for one game, with a table)
# --------------------------------------------------------------------------------------------

# Runs are compared across methods within one (game, thread count, frame budget, lost-life
# setting). The learning rate is not part of it: each method has its own tuned rate, as in the paper.
METHODS_GROUP = ["env", "threads", "total_frames", "terminal_on_life_loss"]

# Training-score threshold per game for "frames to threshold" (make_tables.py --threshold GAME=SCORE
# overrides or adds). Pong -15: 6 points above the untrained -21, reached early by every method
# that learns; the paper's Fig. 3 curves pass it well before the end.
SCORE_THRESHOLDS = {"pong": -15.0}

# The fewest games an evaluate.py entry needs to be chosen as the final evaluation.
FINAL_EVAL_EPISODES = 30

_EVAL_FIELDS = ["eval_source", "eval_policy", "eval_frames", "eval_mean", "eval_std", "eval_min",
                "eval_max", "eval_episodes"]


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
    ``frames`` (trained), ``hours`` (``wall_time_s / 3600``), the final evaluation of
    :func:`final_evaluation` (``eval_*``), and the threshold test: ``threshold`` (from
    ``thresholds``, default :data:`SCORE_THRESHOLDS`, by game; NaN if none), ``frames_to_threshold``
    and ``hours_to_threshold`` (:func:`time_to_threshold` with window ``k``) and
    ``threshold_reached`` (True/False; None without a threshold), then ``run_dir``.
    """
    thresholds = SCORE_THRESHOLDS if thresholds is None else thresholds
    cols = [*METHODS_GROUP, "method", "seed", "runtime", "lr", "frames", "hours", *_EVAL_FIELDS,
            "threshold", "frames_to_threshold", "hours_to_threshold", "threshold_reached", "run_dir"]
    chosen = methods_groups(runs, min_methods)
    if chosen.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    rows = []
    for run in chosen.to_dict("records"):
        threshold = float(thresholds.get(run["env"], np.nan))
        frames_to, seconds_to = time_to_threshold(episodes_loader(run["run_dir"]), threshold, k)
        rows.append({
            **{c: run[c] for c in [*METHODS_GROUP, "method", "seed", "runtime", "lr", "frames", "run_dir"]},
            "hours": run["wall_time_s"] / 3600,
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
            f"## {g['env']}: {g['threads']} thread{'s' * (g['threads'] != 1)}, "
            f"{frames_label(g['total_frames'])}-frame budget{life_label(g['env'], g['terminal_on_life_loss'])}",
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
            lines.append(f"| {r.method} | {r.seed} | {r.frames / 1e6:.2f}M | {r.hours:.2f} | {source} | {policy} "
                         f"| {games} | {' | '.join(stats)} | {to_frames} | {to_hours} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


# --------------------------------------------------------------------------------------------
# Atari runs one by one: how far their evaluations got, and when
# --------------------------------------------------------------------------------------------

# The evaluation score that counts as a game learned, for "frames to the first evaluation >= target"
# (a run that ended at stop_at_score uses its own). Pong +18: the score the Pong issue asks for
# (the paper's A3C FF 1-day Table S3 Pong is 11.4; pfrl's published A3C reaches 20.9).
TARGET_SCORES = {"pong": 18.0}

ATARI_RUN_COLUMNS = [
    "method", "env", "run", "threads", "seed", "lr", "total_frames", "frames", "hours", "target", "target_frames",
    "target_hours", "target_mean", "stopped_at_score", "best_eval", "best_eval_frames", "evaluations",
    *_EVAL_FIELDS, "argmax_target_frames", "argmax_target_hours", "argmax_target_mean", "argmax_frames",
    "argmax_mean", "argmax_std", "argmax_min", "argmax_max", "argmax_episodes", "run_dir",
]


def argmax_evaluations(evals, min_episodes: int = FINAL_EVAL_EPISODES) -> list:
    """The scripts/evaluate.py entries of an A3C run played by the argmax of pi (``"policy":
    "argmax"``) with >= ``min_episodes`` games, by frames (the checkpoint each played); of two at
    the same frames the later appended one stands."""
    entries = [e for e in evals if isinstance(e, dict) and e.get("source") == "evaluate.py"
               and e.get("policy") == "argmax" and (e.get("episodes") or 0) >= min_episodes] \
        if isinstance(evals, list) else []
    return sorted({float(e["frames"]): e for e in entries}.values(), key=lambda e: float(e["frames"]))


def atari_runs(runs: pd.DataFrame, targets: dict | None = None, policy: str | None = "sampled") -> pd.DataFrame:
    """One row per completed Atari run (any of the 57 games), by game, method, threads and seed.

    ``target``: the run's stop_at_score if it ended at one, else :data:`TARGET_SCORES` for its game
    (NaN: none). ``target_frames``/``target_hours``/``target_mean``: the first of its own periodic
    evaluations whose mean reached it (NaN: none did), with the training hours at its snapshot.
    ``stopped_at_score``: training ended at that evaluation. ``best_eval``: its best periodic
    evaluation. The final evaluation (the ``eval_*`` fields) is :func:`final_evaluation`'s choice:
    the latest ``scripts/evaluate.py`` entry of >= 30 games with ``policy`` (None: any), else the
    run's own last one. ``run``: the run directory's name (it tells runs of one setting apart).

    The argmax of pi (A3C), a policy the periodic evaluations do not play, from
    :func:`argmax_evaluations` (scripts/evaluate.py on the run's checkpoints, e.g. the ones its
    sessions committed): ``argmax_target_*``, the first (by frames) whose mean reached the target,
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
        rows.append({
            **{c: run[c] for c in ["method", "env", "threads", "seed", "lr", "total_frames", "frames", "run_dir"]},
            "run": Path(run["run_dir"]).name,
            "hours": float(run["wall_time_s"]) / 3600,
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
                     f"| {r.frames / 1e6:.2f}M | {r.hours:.2f} | {reached} | {best} | {final} | {greedy} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Learning-rate sweeps, finished or not (paper Fig. 2 while the runs still train)
# --------------------------------------------------------------------------------------------

# Runs of one sweep differ only in the learning rate (and the seed the preset draws it from).
LR_SWEEP_GROUP = ["method", "env", "runtime", "threads", "total_frames", "terminal_on_life_loss"]

# Training-score window of the sweep table: 100 games, as the README's Atari figures are quoted;
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
            f"## {g['method']} on {g['env']}: {g['threads']} thread{'s' * (g['threads'] != 1)} ({g['runtime']}), "
            f"{frames_label(g['total_frames'])}-frame budget{life_label(g['env'], g['terminal_on_life_loss'])}",
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


# --------------------------------------------------------------------------------------------
# Human-normalized scores (paper Table 1)
# --------------------------------------------------------------------------------------------

def hns(score, random, human, video_pinball_rule: bool = True):
    """Human-normalized score in percent.

    ``hns = 100 * (score - random) / (human - random)`` (van Hasselt et al. Eq. 5), except, with
    ``video_pinball_rule`` (the default, used for every row of every table here), where
    ``human < random``: then ``hns = 100 * score / human``, i.e. random is taken as 0. Under the
    human-starts references that case is only Video Pinball (random 20452.0 > human 15641.1). This
    rule is the one that reproduces the paper's 57-game Table 1 rows; the paper does
    not state it. ``video_pinball_rule=False`` gives the plain signed formula.

    Scalars give a float; Series (aligned by the caller) give a Series.
    """
    signed = 100.0 * (score - random) / (human - random)
    if not video_pinball_rule:
        return signed
    result = np.where(np.asarray(human) < np.asarray(random), 100.0 * score / human, signed)
    if isinstance(signed, pd.Series):
        return pd.Series(result, index=signed.index, name=signed.name)
    return float(result) if np.ndim(result) == 0 else result


def hns_per_game(scores_by_method: pd.DataFrame, video_pinball_rule: bool = True,
                 references: str = "human_starts") -> pd.DataFrame:
    """Per-game human-normalized scores: same shape as the input (rows = ALE ids, columns = methods),
    with the random/human references of ``references`` (see :func:`reference_scores`).

    Rows whose id has no reference score (CartPole, toy envs) are dropped; NaN scores stay NaN.
    """
    ref = reference_scores(references)
    scores = scores_by_method.loc[scores_by_method.index.isin(ref.index)]
    rnd, hum = ref.loc[scores.index, "random"], ref.loc[scores.index, "human"]
    return scores.apply(lambda col: hns(col.astype(float), rnd, hum, video_pinball_rule))


def human_normalized_table(scores_by_method: pd.DataFrame, video_pinball_rule: bool = True,
                           references: str = "human_starts") -> pd.DataFrame:
    """Per method (a column of ``scores_by_method``, rows = ALE ids, raw scores): the mean and median
    over games of :func:`hns`, and ``games``, the number of games with a score.

    Each method is summarized over its own games (a missing game just lowers ``games``).
    """
    per_game = hns_per_game(scores_by_method, video_pinball_rule, references)
    return pd.DataFrame({
        "games": per_game.count(),
        "mean": per_game.mean(),
        "median": per_game.median(),
    }).rename_axis("method")


def paper_table1() -> pd.DataFrame:
    """The paper's Table 1 recomputed from its Table S3 with :func:`human_normalized_table`.

    Columns: ``label``, ``games``, ``mean``/``median`` (Video Pinball rule, as for our runs),
    ``mean_signed``/``median_signed`` (plain signed formula), ``paper_mean``/``paper_median`` (as
    printed) and ``matches`` (both recomputed values within 0.2 of the printed ones).

    With the rule, the six 57-game rows (D-DQN, Dueling, Prioritized, the three A3C rows) match.
    The DQN and Gorila rows (49 games, Video Pinball included) match the signed formula instead:
    122.2/47.5 and 215.3/71.3 against 121.9/47.5 and 215.2/71.3 printed.
    """
    scores = paper_scores().drop(columns="game")
    table = human_normalized_table(scores)
    signed = human_normalized_table(scores, video_pinball_rule=False)
    table["mean_signed"] = signed["mean"]
    table["median_signed"] = signed["median"]
    table["paper_mean"] = [PAPER_TABLE1[m][0] for m in table.index]
    table["paper_median"] = [PAPER_TABLE1[m][1] for m in table.index]
    table["matches"] = ((table["mean"] - table["paper_mean"]).abs() <= 0.2) & (
        (table["median"] - table["paper_median"]).abs() <= 0.2)
    table.insert(0, "label", [PAPER_LABELS[m] for m in table.index])
    return table


def table1(our_scores: pd.DataFrame, protocol: str = "no-op starts", references: str = "noop") -> pd.DataFrame:
    """Table 1 with the paper alongside: one row per (source, method), columns games/mean/median.

    Sources: ``ours (<protocol>, <references> references)`` from ``our_scores`` (rows = ALE ids,
    columns = our methods), normalized with the references of our evaluation protocol (no-op
    starts); the paper's rows keep the human-starts references they were published with;
    ``paper, same games``: the paper's Table S3 columns normalized over only the Atari games we
    have (a like-for-like comparison, when ours cover fewer than 57); ``paper Table 1``: as printed
    (57 games; 49 for DQN and Gorila, human starts).
    """
    parts = []
    ours = human_normalized_table(our_scores, references=references)
    ours = ours[ours["games"] > 0]
    if not ours.empty:
        label = "no-op" if references == "noop" else "human-starts"
        parts.append(ours.assign(source=f"ours ({protocol}; {label} references)"))
        games = hns_per_game(our_scores, references=references).dropna(how="all").index
        paper_same = human_normalized_table(paper_scores().loc[games].drop(columns="game"))
        paper_same = paper_same[paper_same["games"] > 0].rename(index=PAPER_LABELS)
        parts.append(paper_same.assign(source=f"paper Table S3, same {len(games)} games (human starts; human-starts references)"))
    printed = pd.DataFrame(
        {"games": [49 if m in ("dqn", "gorila") else 57 for m in PAPER_TABLE1],
         "mean": [v[0] for v in PAPER_TABLE1.values()],
         "median": [v[1] for v in PAPER_TABLE1.values()]},
        index=pd.Index([PAPER_LABELS[m] for m in PAPER_TABLE1], name="method"))
    parts.append(printed.assign(source="paper Table 1 (human starts; human-starts references)"))
    table = pd.concat(parts).reset_index()
    return table[["source", "method", "games", "mean", "median"]]


# --------------------------------------------------------------------------------------------
# Raw scores (paper Table S3)
# --------------------------------------------------------------------------------------------

LIFE_NOT_TERMINAL = " (lost life not terminal)"  # method suffix of such Atari runs in the score tables


def final_scores(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (method, game): the mean ``final_score`` over seeds of the completed runs with the
    largest thread count of that (method, game) — the paper's Table S3 used its full 16 threads.

    Columns ``method``, ``env``, ``score``, ``threads`` (the count used), ``seeds`` (runs averaged).
    Runs without a final score (no evaluation happened) are ignored. Runs of one (method, game)
    that differ in what a lost life meant for learning are different protocols and never averaged:
    where both appear, those with ``terminal_on_life_loss`` false (the default before it became
    true) read ``<method>`` + :data:`LIFE_NOT_TERMINAL`. The tables' protocol label names the
    settings present.
    """
    done = completed_runs(runs).dropna(subset=["final_score"])
    both = done.groupby(["method", "env"])["terminal_on_life_loss"].transform("nunique") > 1
    done = done.assign(method=[m + LIFE_NOT_TERMINAL if b and not t else m
                               for m, b, t in zip(done["method"], both, done["terminal_on_life_loss"])])
    top = done[done["threads"] == done.groupby(["method", "env"])["threads"].transform("max")]
    return top.groupby(["method", "env"]).agg(
        score=("final_score", "mean"), threads=("threads", "first"), seeds=("final_score", "count"),
    ).reset_index()


def scores_by_method(finals: pd.DataFrame) -> pd.DataFrame:
    """:func:`final_scores` pivoted: rows = games (ALE ids or other env names), columns = methods."""
    return finals.pivot(index="env", columns="method", values="score").rename_axis(columns=None)


def raw_scores_table(finals: pd.DataFrame) -> pd.DataFrame:
    """Paper Table S3 layout: rows = games, our methods' mean final scores beside the paper's columns.

    For each of our methods: ``ours_<method>`` (score), ``ours_<method>_threads``,
    ``ours_<method>_seeds`` (see :func:`final_scores`). Then the eight paper columns. Rows: the
    paper's 57 games, then any non-Atari env we ran (no paper scores).
    """
    paper = paper_scores()
    ours = pd.concat(
        [rows.set_index("env")[["score", "threads", "seeds"]].rename(columns={
            "score": f"ours_{method}", "threads": f"ours_{method}_threads", "seeds": f"ours_{method}_seeds"})
         for method, rows in finals.groupby("method")],
        axis=1,
    ) if len(finals) else pd.DataFrame(index=pd.Index([], name="env"))
    extra = [e for e in ours.index if e not in paper.index]
    index = pd.Index([*paper.index, *sorted(extra)], name="env")
    table = ours.reindex(index).join(paper)
    counts = [c for c in ours.columns if c.endswith(("_threads", "_seeds"))]
    table[counts] = table[counts].astype("Int64")  # reindexing made them float (NaN rows)
    table["game"] = table["game"].fillna(pd.Series(index, index=index))
    return table[["game", *ours.columns, *PAPER_TABLE1]].reset_index()


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _format_cell(value, floatfmt: str) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if isinstance(value, (float, np.floating)):
        return format(value, floatfmt)
    return str(value)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A GitHub Markdown table of ``df`` (its index is not written): floats as ``floatfmt``,
    missing values as ``—``, booleans as ``yes``/blank."""
    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_format_cell(v, floatfmt) for v in row) + " |")
    return "\n".join(lines)


def write_table(df: pd.DataFrame, out_dir: str | Path, name: str, title: str,
                body: str | None = None, notes: Iterable[str] = ()) -> list[Path]:
    """Write ``OUT/name.csv`` (``df`` as is) and ``OUT/name.md`` (title, ``body`` — default
    :func:`to_markdown` of ``df`` — and notes as a list). Returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{name}.csv", out_dir / f"{name}.md"
    df.to_csv(csv_path, index=False)
    text = [f"# {title}", "", body if body is not None else to_markdown(df), ""]
    text += [f"- {note}" for note in notes]
    md_path.write_text("\n".join(text).rstrip() + "\n", encoding="utf-8")
    return [csv_path, md_path]

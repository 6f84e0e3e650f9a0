"""Table 2 on Atari: data efficiency from the runs (frames to the reference) times throughput
scaling from ``tools/bench.py`` CSVs taken on an idle machine, beside the runs' own
wall-clock speedup and the paper's row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .markdown import frames_label, horizon_label, life_label
from .reference import PAPER_TABLE2, reference_scores
from .speedup import SPEEDUP_GROUP, _row_label

BENCH_KEY = ["method", "runtime", "env", "threads"]

# A comparison group whose reference score is below this human-normalized score (no-op references:
# (reference - random) / (human - random)) is "near random play": every compared run reaching it
# says little about learning (Pong: 0.1 is -17.2, where random play scores -20.7 and a method that
# has not learned wanders between -21 and -19), so its data efficiency measures noise in when a
# moving average first touched a level, not learning speed. The tables keep its cells and mark them.
NEAR_RANDOM_HNS = 0.1

# Columns that may carry the time a benchmark row was measured (the first one present is used);
# a CSV without any of them is ordered by its path only.
BENCH_TIME_COLUMNS = ("timestamp", "started_utc", "started", "measured_at")

# A benchmark row counts as taken on an idle machine when its 1-min load average (load1_median,
# measured just before the run) is <= BENCH_MAX_LOAD x its cores. Not 0.5 x cores: benchmark runs
# follow each other, so the previous run's own processes are still in the 1-min average (idle-
# machine rows reach 1.3 on 2 cores in results/bench/pong), while a machine shared with training
# runs reads >= the cores they keep busy on top of that.
BENCH_MAX_LOAD = 1.0

# Rows that record ``other_load_median`` (tools/bench.py: the cores' worth of CPU
# used by processes other than the benchmark's while it ran) are judged by it instead, which neither
# counts the previous benchmark run nor this run's own processes: idle when it is
# <= BENCH_MAX_OTHER_LOAD x cores (an idle machine reads ~0.0x; one training run beside it, >= 1 core).
BENCH_MAX_OTHER_LOAD = 0.15

_BENCH_COLUMNS = ["method", "runtime", "env", "threads", "cores", "agent_steps_per_s", "load1_median",
                  "other_load_median", "overrides", "cpu"]


def load_bench(root: str | Path | None) -> pd.DataFrame:
    """Every row of every ``throughput.csv`` below ``root`` (``tools/bench.py`` output), one row
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
    for col in ["method", "runtime", "env", "cpu"]:
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
    CSV (one machine, one code version, one benchmark run). Rules:

    - a row is *idle* by :func:`bench_idle` (its other load where recorded, else its 1-min load); a
      row with no load recorded is not.
      A pair (n row and the 1-thread row of its CSV) is usable only when both rows are idle;
    - a row measured twice in one CSV: the newer one (``bench_time``), else the later line;
    - several CSVs with a usable pair: the newest by the pair's ``bench_time`` (the later of its two
      rows); CSVs without times rank below those with, and ties go to the lexicographically last
      path (which is the newest when the benchmark directories are named by date).

    Columns: the key, ``bench_scaling``, ``bench_steps_per_s`` and ``bench_steps_per_s_1`` (the
    chosen pair), ``bench_load1`` and ``bench_other_load`` (the larger of their loads; NaN other
    load for rows without it), ``bench_cores``, ``bench_cpu`` (the host's processor, None for
    rows without that column), ``bench_overrides``,
    ``bench_csv``, ``bench_candidates`` (usable pairs found) and ``bench_skipped`` (pairs skipped as
    not idle). A key with pairs but none usable keeps a row with NaN scaling.
    """
    cols = [*BENCH_KEY, "bench_scaling", "bench_steps_per_s", "bench_steps_per_s_1", "bench_load1",
            "bench_other_load", "bench_cores", "bench_cpu", "bench_overrides", "bench_csv", "bench_candidates",
            "bench_skipped"]
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
                bench_cores=best["cores"], bench_cpu=best.get("cpu") if pd.notna(best.get("cpu")) else None,
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
    ``one_host`` (from :func:`speedup_by_game`): the cell's runs and its 1-thread runs all trained on
    one recorded machine; when False the measured speedup also compares machines.
    ``reference_hns``: the group's reference score human-normalized with the game's no-op random and
    human scores; ``near_random``: it is below :data:`NEAR_RANDOM_HNS`, so the group's data
    efficiency (and the composed speedup) does not measure learning speed.
    ``paper_speedup``: the paper's Table 2 value (16 cores, mean over 7 games).
    """
    cols = [*SPEEDUP_GROUP, "threads", "seeds", "reference", "reference_hns", "near_random", "frames_to_ref",
            "data_efficiency", "bench_scaling", "composed_speedup", "measured_speedup", "measured_throughput_scaling",
            "oversubscribed", "one_host",
            "paper_speedup", "bench_steps_per_s", "bench_steps_per_s_1", "bench_load1", "bench_other_load",
            "bench_cores", "bench_cpu", "bench_overrides", "bench_csv", "bench_candidates", "bench_skipped"]
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
    ref = reference_scores("noop").reindex(table["env"])
    table["reference_hns"] = ((table["reference"].to_numpy(float) - ref["random"].to_numpy(float))
                              / (ref["human"].to_numpy(float) - ref["random"].to_numpy(float)))
    table["near_random"] = (table["reference_hns"] < NEAR_RANDOM_HNS).astype(bool)
    table["paper_speedup"] = [PAPER_TABLE2.get(m, {}).get(int(n), np.nan)
                              for m, n in zip(table["method"], table["threads"])]
    table["bench_candidates"] = table["bench_candidates"].fillna(0).astype(int)
    table["bench_skipped"] = table["bench_skipped"].fillna(0).astype(int)
    return table[cols].sort_values([*SPEEDUP_GROUP, "threads"]).reset_index(drop=True)


def composed_markdown(table: pd.DataFrame) -> str:
    """Wide Markdown of :func:`composed_speedup` in the paper's Table 2 layout: columns = thread
    counts; per comparison group four rows (composed speedup, its two factors, the measured
    wall-clock speedup), then the paper's row for the method. ``*`` marks an oversubscribed cell,
    ``†`` a cell of a group whose reference is near random play (``near_random``), ``‡`` a measured
    cell whose runs did not all train on one machine (``one_host`` False)."""
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
                       + horizon_label(g["total_frames"], g["lr_anneal_frames"]) + life_label(g["env"], g["terminal_on_life_loss"]))
            for i, (column, name) in enumerate(quantities):
                machines = column == "measured_speedup"
                cells = {int(n): f"{v:.2f}" + ("*" if o else "") + ("†" if r else "") + ("‡" if machines and not h else "")
                         for n, v, o, r, h in zip(rows["threads"], rows[column], rows["oversubscribed"],
                                                  rows["near_random"], rows["one_host"]) if pd.notna(v)}
                first = (label, setting) if i == 0 else ("", "")
                lines.append(f"| {first[0]} | {first[1]} | {name} | "
                             + " | ".join(cells.get(n, "—") for n in threads) + " |")
        if method in PAPER_TABLE2:
            paper = PAPER_TABLE2[method]
            lines.append(f"| {method} (paper) | 7 games, 16 cores | speedup | "
                         + " | ".join(f"{paper[n]:.1f}" if n in paper else "—" for n in threads) + " |")
    return "\n".join(lines)


def bench_host(table: pd.DataFrame, bench_csv: str) -> str:
    """The host a benchmark CSV used in ``table`` (:func:`composed_speedup`) was measured on, for the
    notes: "<cpu>, <n> cores", each host once; "host not recorded" for rows from before bench.py
    wrote the ``cpu`` column."""
    rows = table[table["bench_csv"] == bench_csv]
    hosts = []
    for cpu, cores in zip(rows["bench_cpu"], rows["bench_cores"]):
        h = ((cpu if isinstance(cpu, str) and cpu else "host not recorded")
             + (f", {int(cores)} cores" if pd.notna(cores) else ""))
        hosts += [h] if h not in hosts else []
    return "; ".join(hosts) or "host not recorded"

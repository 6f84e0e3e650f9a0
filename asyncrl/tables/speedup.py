"""Paper Table 2 from the runs: per game, the time one actor-learner takes to reach a reference
score over the time n take, within one comparison group, then averaged over games."""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd

from .reference import PAPER_TABLE2
from .runs import UNRECORDED_HOST, completed_runs, load_episodes, moving_average, run_hosts

# Relative tolerance when asking whether a moving average reached the reference score: the
# reference is one run's own moving-average value, so equality must count as reaching it even
# after float rounding in another run's window mean.
_REACH_RTOL = 1e-9


# Runs are compared for speedup only within one comparison group: same method, runtime backend,
# game, lost-life setting, learning rate and frame budget. Process and thread backends scale very
# differently under the GIL (threads ~1.3x at 2, processes ~1.9x); a lost life that ends learning
# episodes changes what the agent learns from; and the learning rate anneals to 0 at its horizon,
# so runs at another rate, budget or horizon follow another schedule. None of these are ever mixed.
SPEEDUP_GROUP = ["method", "runtime", "env", "terminal_on_life_loss", "lr", "total_frames", "lr_anneal_frames"]


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
    completed = completed_runs(runs)
    per_run = completed[[*SPEEDUP_GROUP, "threads", "seed", "cores", "frames_per_s", "run_dir"]]
    per_run = per_run.assign(host=[run_hosts(r) for r in completed.to_dict("records")])
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


def _machines(host_tuples: Iterable[tuple]) -> frozenset:
    """Every machine some of the runs trained on (their :func:`run_hosts`)."""
    return frozenset(h for t in host_tuples for h in t)


def _one_host(*machine_sets) -> bool:
    """True when runs trained on one and the same recorded machine, all of them and throughout; a
    missing set (NaN: no 1-thread cell) is not."""
    if any(not isinstance(m, frozenset) for m in machine_sets):
        return False
    hosts = frozenset().union(*machine_sets)
    return len(hosts) == 1 and UNRECORDED_HOST not in hosts


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
    True when ``threads`` exceeds the ``cores`` recorded by any of the cell's runs. ``one_host`` is
    True when the cell's runs and its 1-thread runs all trained on one recorded machine
    (:func:`run_hosts`); otherwise the measured ``speedup`` and ``throughput_scaling`` compare
    machines as well as thread counts, while ``data_efficiency`` (frames) does not depend on them.
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
        machines=("host", _machines),
    ).reset_index()
    cells["oversubscribed"] = (cells["threads"] > cells["cores"]).fillna(False).astype(bool)

    measures = ["time_to_ref", "frames_to_ref", "frames_per_s"]
    base = cells.loc[cells["threads"] == 1, [*SPEEDUP_GROUP, *measures, "machines"]]
    # A left merge keeps the rows of `cells` in order, so the columns below line up with it.
    one = cells.merge(base, on=SPEEDUP_GROUP, how="left", suffixes=("", "_1"))
    cells["one_host"] = [_one_host(m, m1) for m, m1 in zip(one["machines"], one["machines_1"])]
    cells = cells.drop(columns="machines")
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

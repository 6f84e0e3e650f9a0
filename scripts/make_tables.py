"""Regenerate the paper's tables and figures from run directories.

    python scripts/make_tables.py [--runs results/runs] [--out results] [--k 10] [--sweep-k 100] [--fraction 1.0]
        [--bench results/bench] [--bench-max-other-load 0.15] [--bench-max-load 1.0] [--threshold pong=-15 ...] [--eval-policy sampled]
        [--atari5-threads 2] [--atari5-lr-horizon 320000000] [--continuous-threads 2]

Reads every run below --runs (any directory holding a summary.json) and every benchmark CSV
below --bench (throughput.csv from tools/bench.py), and writes OUT/tables/*.{csv,md} and
OUT/figures/*.png. Definitions: docs/tables.md and asyncrl/tables.py.
With no runs at all it still writes the paper's own tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import asyncrl  # noqa: F401
except ImportError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")  # files only; no display on a training machine
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from asyncrl import tables as T  # noqa: E402

HNS_NOTE = ("HNS = 100·(score − random)/(human − random) with the human-starts random/human references; "
            "where human < random (only Video Pinball) HNS = 100·score/human. The paper does not state this "
            "rule; it is the one that reproduces its 57-game rows (docs/tables.md).")


def write_tables(runs: pd.DataFrame, out: Path, k: int, fraction: float, bench: pd.DataFrame | None = None,
                 bench_max_load: float = T.BENCH_MAX_LOAD, thresholds: dict | None = None,
                 bench_max_other_load: float = T.BENCH_MAX_OTHER_LOAD,
                 eval_policy: str | None = None, sweep_k: int = T.LR_SWEEP_WINDOW,
                 atari5_setting: dict | None = None,
                 continuous_threads: int = T.CONTINUOUS_THREADS) -> tuple[list[Path], dict]:
    """Write every table; return the written paths and the intermediate frames the figures reuse
    (``atari5``: the runs of the five-game table, ``schedules``: the schedule A/B table, each empty
    when it was not written; ``curves`` and ``continuous_lr``: the continuous-control curves and
    learning-rate sweep, empty without runs)."""
    tables_dir = out / "tables"
    done = T.completed_runs(runs)
    atari = done[done["env"].isin(T.reference_scores().index)]  # the protocol label of the Atari runs
    written = _write_score_tables(runs, tables_dir, T.protocol_label(atari))
    speedup_written, per_run, by_game, speedup = _write_speedup_tables(runs, done, tables_dir, k, fraction)
    written += speedup_written
    written += _write_table2_atari(by_game, tables_dir, bench, bench_max_load, bench_max_other_load)
    comparison = T.methods_comparison(runs, k=k, thresholds=thresholds, policy=eval_policy)
    used = thresholds if thresholds is not None else T.SCORE_THRESHOLDS
    written += _write_methods_table(comparison, tables_dir, k, used, eval_policy)
    # a continuous-control task's learning-rate sweep has its own table (mujoco_lr): evaluations, not training games
    sweep = T.lr_sweep(_without_continuous(runs), k=sweep_k, thresholds=used)
    written += _write_lr_sweep_table(sweep, tables_dir, sweep_k)
    written += _write_atari_runs_table(runs, tables_dir, eval_policy)
    atari5_written, atari5 = _write_atari5_table(runs, tables_dir, atari5_setting)
    written += atari5_written
    schedule_written, schedules = _write_schedule_table(runs, tables_dir, k, used, eval_policy)
    written += schedule_written
    continuous_written, continuous = _write_continuous_tables(runs, tables_dir, continuous_threads)
    written += continuous_written
    written += T.write_table(T.excluded_runs(runs), tables_dir, "excluded_runs",
                             "Runs left out of every table", notes=[
        "Any status other than 'completed' (failed, interrupted, running, unreadable summary).",
    ])
    return written, {"done": done, "speedup": speedup, "comparison": comparison, "thresholds": used,
                     "sweep": sweep, "per_run": per_run, "atari5": atari5, "schedules": schedules, **continuous}


def _without_continuous(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs on anything but a continuous-control task (those have tables of their own)."""
    return runs[~runs["env"].isin(T.continuous_tasks())] if len(runs) else runs


def _write_score_tables(runs: pd.DataFrame, tables_dir: Path, protocol: str) -> list[Path]:
    """paper_table1, table1_hns and table_s3_raw: the paper's Table 1 recomputed, and our final scores."""
    written: list[Path] = []
    paper1 = T.paper_table1().reset_index()
    written += T.write_table(paper1, tables_dir, "paper_table1", "Paper Table 1 recomputed from Table S3", notes=[
        HNS_NOTE,
        "mean/median: that rule for every row; mean_signed/median_signed: the plain signed formula; "
        "matches: both recomputed values within 0.2 of the printed ones.",
        "The six 57-game rows match with the rule. DQN and Gorila (49 games) match the signed formula "
        "instead.",
    ])

    finals = T.final_scores(runs)
    written += T.write_table(T.table1(T.scores_by_method(finals), protocol), tables_dir, "table1_hns",
                             "Human-normalized scores (paper Table 1 layout)", notes=[
        HNS_NOTE,
        f"Ours: evaluation protocol {protocol}, normalized with the no-op-starts random/human references "
        "(random: Mnih et al. 2015 / Wang et al. 2016; human: Wang et al. 2016); mean final score over the "
        "seeds of the completed runs with the largest thread count per (method, game). The paper's rows "
        "are human starts, normalized with the human-starts references it used (human starts are not "
        "public): the rows are not strictly comparable.",
        "'paper Table S3, same N games' restricts the paper's scores to the Atari games we ran.",
    ])

    raw = T.raw_scores_table(finals)
    written += T.write_table(raw, tables_dir, "table_s3_raw", "Raw scores per game (paper Table S3 layout)", notes=[
        f"ours_<method>: mean final score ({protocol}) over the seeds (ours_<method>_seeds) of the completed "
        "runs with the largest thread count (ours_<method>_threads) for that game.",
        "Paper columns: human starts, 30 minutes of emulator time (the paper's supplementary Table S3).",
    ])
    return written


def _write_speedup_tables(runs: pd.DataFrame, done: pd.DataFrame, tables_dir: Path, k: int,
                          fraction: float) -> tuple[list[Path], pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """table2_speedup, table2_factors and table2_per_game; also returns the per-run, per-game and
    per-thread-count frames they are built from."""
    written: list[Path] = []
    per_run = T.times_to_reference(runs, k=k, fraction=fraction)
    by_game = T.speedup_by_game(per_run)
    speedup = T.speedup_table(by_game)
    cores = sorted(int(c) for c in done["cores"].dropna().unique())
    reference = "b" if fraction == 1 else f"b − (1 − {fraction:g})·(b − s0), s0 = lowest first moving average"
    speed_notes = [
        f"Reference score per (method, game): {reference}, where b = lowest best moving average (last {k} "
        "training games) over all compared runs (every thread count and seed); every compared run reaches it.",
        "Compared runs share method, runtime, game, lost-life setting, learning rate and frame budget "
        "(the learning rate anneals to 0 at the budget); runs differing in any of them are never compared.",
        "speedup(n) = mean over seeds of the wall time to the reference with 1 actor-learner ÷ the same "
        "with n; then the mean over games (the 'games' column of the CSV).",
        f"* = oversubscribed: more actor-learners than the machine's cores (recorded cores: "
        f"{', '.join(map(str, cores)) or 'none'}).",
        "Paper rows: Table 2 of the paper (16-core machine, 7 games, unpublished reference scores).",
        "Only completed runs; see excluded_runs.md for the others.",
    ]
    if (speedup["groups"] > speedup["games"]).any():
        speed_notes.append("Some games were run at several settings (lost life, lr, budget): each setting is "
                           "a speedup of its own, and the mean is over these groups (the 'groups' column).")
    written += T.write_table(
        speedup[["method", "runtime", "threads", "speedup", "games", "oversubscribed", "paper_speedup"]],
        tables_dir, "table2_speedup", "Training speedup by number of actor-learners (paper Table 2 layout)",
        body=T.speedup_markdown(speedup), notes=speed_notes)

    factors = speedup[["method", "runtime", "threads", "throughput_scaling", "data_efficiency", "speedup",
                       "games", "oversubscribed"]]
    factor_body = "\n\n".join(
        f"## {title}\n\n{T.speedup_markdown(speedup, column)}"
        for title, column in [("Throughput scaling: frames/s(n) ÷ frames/s(1)", "throughput_scaling"),
                              ("Data efficiency: frames to reference(1) ÷ frames to reference(n)",
                               "data_efficiency")])
    written += T.write_table(factors, tables_dir, "table2_factors", "The two factors of the speedup",
                             body=factor_body, notes=[
        "Per game, speedup = throughput scaling × data efficiency when each run's frames/s is constant; "
        "each factor is then averaged over games separately, so the means need not multiply exactly.",
        "frames/s is the whole-run figure of summary.json. * = oversubscribed.",
    ])

    written += T.write_table(by_game, tables_dir, "table2_per_game",
                             "Speedup per game: reference scores and seed means",
                             body=T.to_markdown(by_game.assign(lr=by_game["lr"].map(_fmt_lr)), ".2f"), notes=[
        "reference: the score every compared run of the (method, runtime, game, lost-life setting, lr, frame "
        "budget) reaches; time_to_ref and frames_to_ref are seed means over the runs of that thread count.",
    ])
    return written, per_run, by_game, speedup


def _write_table2_atari(by_game: pd.DataFrame, tables_dir: Path, bench: pd.DataFrame | None,
                        bench_max_load: float, bench_max_other_load: float) -> list[Path]:
    """table2_atari: data efficiency from the runs composed with the benchmarks' throughput scaling."""
    bench = T.load_bench(None) if bench is None else bench  # None: no benchmarks
    scaling = T.bench_scaling(bench, bench_max_load, bench_max_other_load)
    atari_by_game = by_game[by_game["env"].isin(T.reference_scores().index)]
    composed = T.composed_speedup(atari_by_game, scaling)
    csvs = [f"{path} ({T.bench_host(composed, path)})" for path in sorted(set(composed["bench_csv"].dropna()))]
    return T.write_table(composed, tables_dir, "table2_atari",
                         "Atari speedup by number of actor-learners: composed from two factors "
                         "(paper Table 2 layout)", body=T.composed_markdown(composed),
                         notes=_table2_atari_notes(csvs, bench_max_load, bench_max_other_load))


def _table2_atari_notes(csvs: list, bench_max_load: float, bench_max_other_load: float) -> list[str]:
    """The notes of table2_atari: what each kind of cell is, and the benchmark CSVs used."""
    return [
        "Composed cells (bold rows): speedup = data efficiency × throughput scaling, from two independent "
        "measurements. Data efficiency = frames to the reference with 1 actor-learner ÷ the same with n, from the "
        "runs (reference as in table2_speedup); it counts frames, not seconds, so it does not depend on the load "
        "the runs shared the machine with.",
        "Throughput scaling = agent steps/s with n ÷ with 1, both from one benchmark CSV "
        f"(tools/bench.py) taken on an idle machine: rows whose other load (CPU used by processes other than "
        f"the benchmark's while it ran) exceeded {bench_max_other_load:g} × cores are skipped, and rows "
        f"without that column when their 1-min load before the run exceeded {bench_max_load:g} × cores; of several CSVs the newest (row timestamp, else the "
        "lexicographically last path) is used. CSVs used: " + (", ".join(csvs) or "none") + ".",
        "Measured cells: the runs' own wall-clock speedup (time to the reference). Runs may share "
        "the machine's cores with each other, with tests or with other work, and may train on different "
        "machines (a run resumed on another host), so these mix the parallel speedup with whatever load and "
        "host each run met; they are shown for comparison, the composed row is the estimate. The load each "
        "run met is in atari_runs (shared hours).",
        "‡ = a measured cell whose runs, or its 1-actor-learner runs, did not all train on one recorded machine "
        "(summary.json hosts, else cpu): its wall-clock ratio also compares the machines' speeds. Data efficiency "
        "counts frames and does not depend on the machine.",
        f"* = oversubscribed: more actor-learners than the cores of the runs or of the benchmark "
        "(the cell measures time-sharing, not parallel speedup).",
        f"† = the group's reference score is near random play: human-normalized (no-op random and human scores) "
        f"below {T.NEAR_RANDOM_HNS:g}, e.g. below -17.2 on Pong. Every run reaching it shows little learning, so the "
        "frames to it (and the data efficiency and speedups built on them) time noise in a moving average, not "
        "learning; reference_hns is in table2_atari.csv.",
        "Paper rows: Table 2 of the paper (16 cores, mean over 7 games). Only Atari games; all CSV columns, "
        "including the benchmark rows used, are in table2_atari.csv.",
        "Figures: figures/data_efficiency_<method>_<game>_<budget>_lr<lr>[_lost_life_terminal].png, one per "
        "comparison group: each run's moving average vs frames, the reference, and where each run first reached it.",
    ]


def _write_methods_table(comparison: pd.DataFrame, tables_dir: Path, k: int, used: dict,
                         eval_policy: str | None) -> list[Path]:
    """methods_comparison: the methods on one game, final evaluations and frames to a threshold."""
    return T.write_table(comparison, tables_dir, "methods_comparison",
                         "Methods on one game (paper Fig. 3 for one game): final evaluation and frames to a "
                         "training score", body=T.methods_markdown(comparison, k), notes=[
        "One section per group of completed runs with the same game, thread count, frame budget and lost-life "
        "setting that holds at least two methods; one row per run (seeds are separate rows).",
        f"evaluation: the latest evaluate.py entry with >= {T.FINAL_EVAL_EPISODES} games"
        + (f" and policy '{eval_policy}'" if eval_policy else "")
        + " ('evaluate.py'), else the run's last own periodic evaluation ('run's last own'; the method's "
        "default policy). hours = training wall time ÷ 3600.",
        SHARED_NOTE,
        f"frames to MA ≥ threshold: frames at the first training game where the mean score of the last {k} "
        "games reaches the game's threshold (thresholds: "
        + (", ".join(f"{g} {v:g}" for g, v in sorted(used.items())) or "none") + "; --threshold GAME=SCORE).",
        "Figures: figures/methods_<game>_threads<n>_<budget>[_lost_life_terminal]_score_vs_frames.png and "
        "_score_vs_time.png.",
    ])


def _write_lr_sweep_table(sweep: pd.DataFrame, tables_dir: Path, sweep_k: int) -> list[Path]:
    """lr_sweep: learning-rate sweeps compared at the frames every run of a sweep has reached."""
    return T.write_table(sweep.drop(columns=["evals_own"]), tables_dir, "lr_sweep",
                         "Learning-rate sweeps, finished or not (paper Fig. 2 at equal frames)",
                         body=T.lr_sweep_markdown(sweep, sweep_k), notes=[
        "One section per group of runs (any status but unreadable) that differ only in the learning rate and "
        "seed: same method, game, runtime, thread count, frame budget and lost-life setting. The lr_robustness "
        "preset draws each run's rate from LogUniform(1e-4, 1e-2) by its seed, as the paper's Fig. 2 did.",
        f"Runs are ranked by the mean score of their last {sweep_k} training games finished by the "
        "frame count every run of the sweep has reached, so runs stopped or still training at different points "
        "compare at equal frames. Evaluations: each run's own periodic ones (10 games, no-op starts).",
        "Figures: figures/lr_sweep_<method>_<game>_threads<n>_<budget>_score_vs_frames.png and "
        "_score_vs_time.png; the completed runs' final score vs rate is figures/<method>_<game>_lr.png.",
    ])


def _write_atari_runs_table(runs: pd.DataFrame, tables_dir: Path, eval_policy: str | None) -> list[Path]:
    """atari_runs: every completed Atari run, its evaluations and the frames to its target."""
    singles = T.atari_runs(runs, policy=eval_policy)
    return T.write_table(singles, tables_dir, "atari_runs", "Atari runs: evaluations, and frames to a target score",
                         body=T.atari_runs_markdown(singles), notes=[
        "Every completed run on an Atari game, one row each. Evaluations are whole games from no-op starts; "
        "'hours' is training wall time (summed over resumes).",
        SHARED_NOTE,
        "Target: the score the run stopped at (stop_at_score), else "
        + ", ".join(f"{g} {v:g}" for g, v in sorted(T.TARGET_SCORES.items()))
        + "; 'first evaluation ≥ target' is the first of the run's own periodic evaluations to reach it, "
        "at the frames and training hours of its snapshot.",
        "Final evaluation: the latest scripts/evaluate.py entry of at least 30 games"
        + (f" with policy '{eval_policy}'" if eval_policy else "") + " if there is one, else the run's own final "
        "evaluation.",
        "Argmax of π (A3C): the run's own evaluations draw actions from π; scripts/evaluate.py sample=false plays "
        "the argmax instead, on the final checkpoint or on an earlier committed one (the entry's frames and "
        "training hours are that checkpoint's). First such entry of at least 30 games reaching the target, by "
        "frames, and the one at the most frames.",
    ])


def _write_atari5_table(runs: pd.DataFrame, tables_dir: Path,
                        setting: dict | None) -> tuple[list[Path], pd.DataFrame]:
    """atari5: A3C FF on the paper's five games; not written while none of them has a run of the
    setting. Returns the paths and the runs the table shows (for the overview figure)."""
    setting = T.ATARI5_SETTING if setting is None else setting
    chosen = T.atari5_runs(runs, setting) if len(runs) else runs
    if chosen.empty:
        return [], chosen
    table = T.atari5_table(runs, setting)
    return T.write_table(table, tables_dir, "atari5", "A3C FF on the paper's five Atari games (Figs. 1 and 3): "
                         "final evaluations beside the paper's and pfrl's scores",
                         body=T.atari5_markdown(table, setting), notes=_atari5_notes(setting)), chosen


def _atari5_notes(setting: dict) -> list[str]:
    """The notes of the atari5 table: which run stands for a game, the two policies, the references."""
    return [
        f"Per game, the completed run of method {setting['method']} (A3C FF) with {setting['threads']} "
        f"actor-learners, the learning rate annealed to 0 over {T.frames_label(setting['lr_anneal_frames'])} frames "
        f"and a lost life {'terminal' if setting['terminal_on_life_loss'] else 'not terminal'} for learning "
        "(--atari5-threads, --atari5-lr-horizon) with the most frames trained; its budget is the 'schedule'. "
        "'—': no such completed run of the game. Every Atari run, whatever its setting, is in atari_runs.",
        "Evaluations are whole games from no-op starts (up to 30 no-ops). Draw from π: the latest "
        f"scripts/evaluate.py entry of at least {T.FINAL_EVAL_EPISODES} games with policy 'sampled', else the "
        "run's own final evaluation ('the run'; A3C's own evaluations draw from π). Argmax of π: the "
        f"scripts/evaluate.py entry (sample=false, at least {T.FINAL_EVAL_EPISODES} games) at the most frames. "
        "'at xM': the evaluation played the checkpoint at x million frames, not the run's last.",
        "HNS % = 100·(score − random)/(human − random) with the no-op-starts references (random: Mnih et al. "
        "2015 / Wang et al. 2016; human: Wang et al. 2016); 'random (no-op)' is that random score.",
        "'hours' is training wall time (summed over resumes). " + SHARED_NOTE,
        "Paper A3C FF, 1 day: the paper's Table S3, evaluated from human starts (30 minutes of emulator time; "
        "16 actor-learners), a protocol other than ours: compare with care.",
        "pfrl A3C: the published scores of pfrl's A3C reproduction (pfnet/pfrl, "
        "examples/atari/reproduction/a3c/README.md, results of PFRL commit 39918e2; 16 CPUs): per seed the highest mean of its intermediate evaluations (no-op starts "
        "up to 30, one every 1M frames, 200 in all), averaged over 3 seeds. It is a best evaluation during "
        "training, not a final one.",
        "Figures: figures/atari5_overview.png (the five games: each run's training-score moving average vs "
        "frames, its evaluations as markers, the no-op random score dotted); per game, "
        "figures/a3c_<game>_score_vs_frames.png and _score_vs_time.png (every A3C run of the game).",
    ]


def _write_schedule_table(runs: pd.DataFrame, tables_dir: Path, k: int, used: dict,
                          eval_policy: str | None) -> tuple[list[Path], pd.DataFrame]:
    """schedule_ab: runs of one setting that differ in their schedule; not written while no group
    holds two schedules. Returns the paths and the table (for the figures)."""
    table = T.schedule_ab(runs, k=k, thresholds=used, policy=eval_policy)
    if table.empty:
        return [], table
    return T.write_table(table.drop(columns=["evals_at"]), tables_dir, "schedule_ab",
                         "Schedule A/Bs: the learning-rate horizon and the ε draw, all else equal",
                         body=T.schedule_markdown(table), notes=[
        "One section per group of completed runs with the same method, game, thread count, seed, runtime, frame "
        "budget, lost-life setting and learning rate that holds two or more schedules; one row per run. A schedule "
        "is the learning-rate horizon (the rate anneals linearly to 0 there; '= budget': at the run's own "
        "total_frames, so a shorter horizon is a faster anneal) and, for the value-based methods, when each "
        "actor-learner draws its final ε: once per run, or again at every new game (per episode).",
        "eval xM: the mean of the run's own evaluation whose frames round to x million (the nearest multiple of the "
        "run's evaluation interval); of two that round alike (the last periodic one and the final one at the "
        "budget) the later. Final evaluation: the latest evaluate.py entry with >= "
        f"{T.FINAL_EVAL_EPISODES} games" + (f" and policy '{eval_policy}'" if eval_policy else "")
        + ", else the run's own last.",
        f"frames to MA ≥ threshold: frames at the first training game where the mean score of the last {k} games "
        "reaches the game's threshold (thresholds: " + (", ".join(f"{g} {v:g}" for g, v in sorted(used.items()))
                                                        or "none") + "; --threshold GAME=SCORE).",
        SHARED_NOTE,
        "Figures: figures/schedule_ab_<method>_<game>_threads<n>_<budget>_seed<s>_lr<lr>[_lost_life_terminal].png, "
        "one per group: each run's training-score moving average vs frames and vs training hours, one colour per "
        "schedule, its evaluations as markers with ± 1 std bars.",
    ]), table
def _write_continuous_tables(runs: pd.DataFrame, tables_dir: Path, threads: int) -> tuple[list[Path], dict]:
    """mujoco (the tasks beside a random policy and a reference), mujoco_curves (their evaluations by
    steps and hours) and mujoco_lr (a learning-rate sweep on a task): each written only when it has
    runs. Returns the paths and the frames of the figures (``curves``, ``continuous_lr``)."""
    written: list[Path] = []
    table = T.continuous_table(runs, threads)
    curves = T.continuous_curves(runs, threads)
    if len(table):
        written += T.write_table(table, tables_dir, "mujoco", "Continuous control (paper section 5.3): final "
                                 "evaluations beside a random policy and a published reference",
                                 body=T.continuous_markdown(table), notes=_continuous_notes(threads))
        written += T.write_table(curves, tables_dir, "mujoco_curves", "Continuous control: evaluations by steps and "
                                 "training hours (paper Fig. S8)", body=T.to_markdown(curves, ".3f"), notes=[
            "One row per evaluation of the runs in mujoco.md (10 episodes each way unless 'episodes' says otherwise): "
            "mean/std with the mean action μ, sampled_mean/sampled_std with actions drawn from the policy; frames are "
            "environment steps, hours the training time of the evaluation's snapshot; final: the run's final "
            "evaluation. Figure: figures/mujoco_curves.png."])
    lr_table = T.continuous_lr_table(runs)
    if len(lr_table):
        summary = T.continuous_lr_summary(lr_table)
        written += T.write_table(lr_table, tables_dir, "mujoco_lr", "Continuous control: score against initial "
                                 "learning rate (paper Fig. S7)", body=T.continuous_lr_markdown(lr_table, summary),
                                 notes=_continuous_lr_notes())
    return written, {"continuous": table, "curves": curves, "continuous_lr": lr_table}


def _continuous_notes(threads: int) -> list[str]:
    return [
        f"Per continuous-control task, its completed runs with {threads} actor-learners (--continuous-threads) at the "
        "largest step budget any such run of the task has; a learning-rate sweep's shorter runs are in mujoco_lr.",
        "Steps are environment steps (frame skip 1). Evaluations play whole episodes with the mean action μ; "
        "'sampled actions' is the same evaluation's score with actions drawn from the policy. The final "
        "evaluation is the run's last; a run that ended at stop_at_score trained on while that evaluation "
        "played, so it trained more steps than the evaluation's snapshot had.",
        "'training hours' is training wall time. " + SHARED_NOTE,
        "Random policy: uniformly random actions in the task's bounds, whole episodes through asyncrl's env "
        "(tools/random_scores.py; asyncrl/data/mujoco_reference_scores.csv).",
        "Published reference: another algorithm's published result at its own budget and on the task version its "
        "source used (the paper gives no MuJoCo numbers, only figures); its source is the reference_source column of asyncrl/data/mujoco_reference_scores.csv.",
        "Curves: mujoco_curves.md and figures/mujoco_curves.png.",
    ]


def _continuous_lr_notes() -> list[str]:
    return [
        "One section per group of runs on a continuous-control task that differ only in the learning rate and seed "
        f"(at least {T.LR_MIN_RATES} rates; any status): conf/experiment/mujoco_lr.yaml draws each run's initial rate "
        "from LogUniform(1e-5, 1e-1) by its seed, as the paper's Fig. S7 did, and anneals it linearly to 0 at the "
        "LR horizon the heading names (else at the budget).",
        "Evaluations play whole episodes with the mean action μ (the sampled actions' score of the last one beside "
        "it). The last evaluation is the final one once the run completed; the summary counts completed runs only. "
        "Targets: " + ", ".join(f"{t} {v:g}" for t, v in sorted(T.LR_TARGETS.items())) + ".",
        "Figure: figures/mujoco_lr_scatter.png (final evaluation against the initial learning rate, log scale).",
    ]


def _fmt_lr(lr) -> str:
    return "—" if pd.isna(lr) else f"{lr:g}"


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _thread_colors(threads) -> dict:
    threads = sorted(set(int(n) for n in threads))
    cmap = plt.get_cmap("viridis")
    return {n: cmap(i / max(1, len(threads) - 1)) for i, n in enumerate(threads)}


def curve_window(episodes: list, k: int) -> int:
    """Moving-average window of a figure's curves: k games, wider when a run has thousands of games
    (a Breakout run has ~14k) so that several curves stay readable: about 200 points per run."""
    return max([k] + [len(e) // 200 for e in episodes])


# Keys whose values tell two runs of one game and thread count apart in plot_curves (another
# experiment, not another seed): each value gets its own colour and legend entry
CURVE_VARIANTS = ("total_frames", "lr", "lr_anneal_frames")
_VARIANT_LABELS = {"total_frames": lambda v: f"{T.frames_label(v)}-frame schedule", "lr": lambda v: f"lr {v:g}",
                   "lr_anneal_frames": lambda v: f"LR horizon {T.frames_label(v)}"}


def _variant_label(keys: tuple, values: tuple) -> str:
    return ", ".join(_VARIANT_LABELS[k](v) for k, v in zip(keys, values))


# The tables' note on '(x shared)' hours (atari_runs, methods_comparison)
SHARED_NOTE = (
    f"'(x shared)': x of those hours ran while processes other than the run's used >= {T.SHARED_LOAD:g} core's "
    "worth of CPU more than the cores the run left free (cores − actor-learners; metrics.csv other_load; "
    "a plain figure: not recorded). Frames are exact whatever the load; hours and frames/s hold "
    "for the load the run met. ', n hosts': the run trained on n machines in turn (resumed on another; "
    "summary.json hosts), so its hours and frames/s mix their speeds.")


def plot_curves(done: pd.DataFrame, fig_dir: Path, k: int) -> list[Path]:
    """Paper Figs 3 and 4: moving-average training score vs frames and vs wall time, one colour per
    thread count (and per frame budget or learning rate, when runs of the game differ in those:
    e.g. a longer schedule, run later); runs of one game that differ in what a lost life means
    (env.terminal_on_life_loss) are drawn solid (terminal) and dashed (not), and each run's own
    evaluations are its white markers (circles; squares for the not-terminal runs when both appear).
    An A3C run's scripts/evaluate.py games by the argmax of pi (>= 30 games each, on its final and
    committed checkpoints: T.argmax_evaluations) are filled diamonds joined by a dotted line.
    Seeds of one setting share their legend entry."""
    written = []
    for (method, env), runs in done.groupby(["method", "env"]):
        both = runs["terminal_on_life_loss"].nunique() > 1
        keys = tuple(c for c in CURVE_VARIANTS if c in runs and runs[c].nunique() > 1)
        variants = [tuple(r[c] for c in keys) for _, r in runs.iterrows()]
        if keys:  # one colour per (thread count, variant)
            settings = sorted(set(zip(runs["threads"].astype(int), variants)))
            palette = {s: f"C{i}" for i, s in enumerate(settings)}
        else:
            palette = {(n, ()): c for n, c in _thread_colors(runs["threads"]).items()}
        episodes = [T.load_episodes(d) for d in runs["run_dir"]]
        window = curve_window(episodes, k)
        curves = [(int(n), bool(life), v, T.moving_average(e, window), evals)
                  for n, life, v, e, evals in zip(runs["threads"], runs["terminal_on_life_loss"], variants, episodes,
                                                  runs.get("evals", pd.Series([None] * len(runs))))]
        if not any(len(c) for _, _, _, c, _ in curves):
            continue
        for x, xlabel, scale, suffix in [("frames", "frames (millions)", 1e-6, "score_vs_frames"),
                                         ("wall_time_s", "wall time (hours)", 1 / 3600, "score_vs_time")]:
            fig, ax = plt.subplots(figsize=(6, 4))
            labelled = set()
            for n, life, v, curve, evals in sorted(curves, key=lambda item: item[:3]):
                key = (n, life, v) if both else (n, v)
                label = f"{n} thread{'s' * (n > 1)}" + (f", {_variant_label(keys, v)}" if keys else "")
                if both:
                    label += ", lost life " + ("terminal" if life else "not terminal")
                color = (palette[(n, v)] if not both or len(palette) > 1 else ("C0" if life else "C1"))
                ax.plot(curve[x] * scale, curve["score_ma"], color=color, lw=1.2, ls="-" if life or not both else "--",
                        label=None if key in labelled else label)
                evals_all, evals = evals, T.own_evaluations(evals)
                if evals:  # the run's own evaluations (not later re-evaluations by evaluate.py)
                    ax.plot([e[x] * scale for e in evals], [e["mean"] for e in evals], "o" if life or not both else "s",
                            ms=5, mfc="white", mec=color, mew=1.2, ls="none", zorder=3,
                            label=None if "evals" in labelled else "evaluations (mean of each)")
                    labelled.add("evals")
                greedy = T.argmax_evaluations(evals_all)
                if greedy:
                    ax.plot([e[x] * scale for e in greedy], [e["mean"] for e in greedy], "D:", color=color, ms=4,
                            lw=0.8, zorder=3, label=None if "argmax" in labelled else "argmax of π (evaluate.py, 30 games)")
                    labelled.add("argmax")
                labelled.add(key)
            ax.set(xlabel=xlabel, ylabel=_score_label(window), title=f"{method} — {env}")
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
            written.append(_save(fig, fig_dir / f"{method}_{env}_{suffix}.png"))
    return written


def plot_atari5(chosen: pd.DataFrame, fig_dir: Path, k: int) -> list[Path]:
    """The five games in one figure, one panel each: the run of the atari5 table (``chosen``,
    T.atari5_runs) as its training-score moving average vs frames, its own evaluations as white
    circles and its scripts/evaluate.py games by the argmax of pi as diamonds, the game's no-op
    random score dotted; a game without a run says so. Nothing without any run."""
    if chosen.empty:
        return []
    runs = chosen.set_index("env")
    names = T.reference_scores("noop")
    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
    for ax, game in zip(axes.flat, T.FIVE_GAMES):
        ax.set(title=names.loc[game, "game"])
        if game not in runs.index:
            ax.set(xticks=[], yticks=[])
            ax.text(0.5, 0.5, "no completed run", transform=ax.transAxes, ha="center", va="center", color="gray")
            continue
        ax.set(xlabel="frames (millions)")
        ax.grid(alpha=0.3)
        ax.axhline(names.loc[game, "random"], color="gray", ls=":", lw=1, label="random (no-op)")
        run = runs.loc[game]
        episodes = T.load_episodes(run["run_dir"])
        window = curve_window([episodes], k)
        curve = T.moving_average(episodes, window)
        ax.plot(curve["frames"] * 1e-6, curve["score_ma"], color="C0", lw=1.2, label="training score (moving average)")
        own, greedy = T.own_evaluations(run["evals"]), T.argmax_evaluations(run["evals"])
        ax.plot([e["frames"] * 1e-6 for e in own], [e["mean"] for e in own], "o", ms=5, mfc="white", mec="C0",
                mew=1.2, ls="none", zorder=3, label="evaluations, draw from π (mean of each)")
        ax.plot([e["frames"] * 1e-6 for e in greedy], [e["mean"] for e in greedy], "D", color="C1", ms=4,
                ls="none", zorder=3, label="argmax of π (evaluate.py)")
        ax.set_ylabel(f"score (lines: last {window} games)")
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes.flat[:-1]), key=lambda hl: len(hl[1]))
    axes.flat[-1].axis("off")  # the sixth panel holds the legend
    axes.flat[-1].legend(handles, labels, loc="center", fontsize=9)
    fig.suptitle("A3C FF on the paper's five games")
    return [_save(fig, fig_dir / "atari5_overview.png")]


# One colour per method, the same in every figure; other methods get the next colours by name.
METHOD_COLORS = {"a3c": "C0", "a3c_lstm": "C1", "n_step_q": "C2", "one_step_q": "C3", "one_step_sarsa": "C4"}


def _method_colors(methods) -> dict:
    colors = dict(METHOD_COLORS)
    extra = sorted(set(methods) - set(colors))
    colors.update({m: f"C{len(METHOD_COLORS) + i}" for i, m in enumerate(extra)})
    return colors


def _score_label(window: int) -> str:
    """The y-axis of the score figures: lines are training games, markers evaluations."""
    return f"score\n(lines: mean of last {window} training games;\nmarkers: evaluations)"


def methods_figure_stem(env: str, threads: int, total_frames, terminal_on_life_loss: bool, lr_anneal_frames=None) -> str:
    """File-name stem of one methods figure:
    methods_<game>_threads<n>_<budget>[_lr<horizon>][_lost_life_terminal], the horizon where it is not the budget."""
    stem = f"methods_{env}_threads{int(threads)}_{T.frames_label(total_frames)}"
    if T.horizon_label(total_frames, lr_anneal_frames):
        stem += f"_lr{T.frames_label(lr_anneal_frames)}"
    return stem + ("_lost_life_terminal" if terminal_on_life_loss else "")


def plot_methods(runs: pd.DataFrame, fig_dir: Path, k: int, thresholds: dict | None = None) -> list[Path]:
    """Paper Fig. 3 for one game: every method's training-score moving average (last k games) vs
    frames and vs training hours, for each (game, threads, frame budget, lost-life setting) group
    with completed runs of >= 2 methods. Seeds of a method share its colour (METHOD_COLORS), and each
    run's own periodic evaluations are white markers in it; the game's score threshold is dotted."""
    thresholds = T.SCORE_THRESHOLDS if thresholds is None else thresholds
    chosen = T.methods_groups(runs)
    colors = _method_colors(chosen["method"]) if len(chosen) else {}
    written = []
    for key, group in chosen.groupby(T.METHODS_GROUP, sort=True, dropna=False):
        env, threads, total_frames, life, horizon = key
        episodes = [T.load_episodes(d) for d in group["run_dir"]]
        window = curve_window(episodes, k)
        curves = [(m, T.moving_average(e, window), T.own_evaluations(ev))
                  for m, e, ev in zip(group["method"], episodes, group.get("evals", pd.Series([None] * len(group))))]
        if not any(len(c) for _, c, _ in curves):
            continue
        title = (f"{env}: {threads} thread{'s' * (threads != 1)}, {T.frames_label(total_frames)} frames"
                 + T.horizon_label(total_frames, horizon) + T.life_label(env, life))
        stem = methods_figure_stem(env, threads, total_frames, life, horizon)
        for x, xlabel, scale, suffix in [("frames", "frames (millions)", 1e-6, "score_vs_frames"),
                                         ("wall_time_s", "training time (hours)", 1 / 3600, "score_vs_time")]:
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            labelled = set()
            for method, curve, evals in curves:
                if not len(curve):
                    continue
                ax.plot(curve[x] * scale, curve["score_ma"], color=colors[method], lw=1.2,
                        label=None if method in labelled else method)
                labelled.add(method)
                if evals:
                    ax.plot([e[x] * scale for e in evals], [e["mean"] for e in evals], "o", ms=5, mfc="white",
                            mec=colors[method], mew=1.2, ls="none", zorder=3)
                    labelled.add("evals")
            if "evals" in labelled:  # one legend entry for every method's markers, in no method's colour
                ax.plot([], [], "o", ms=5, mfc="white", mec="gray", mew=1.2, ls="none", label="evaluations (mean of each)")
            if env in thresholds:
                ax.axhline(thresholds[env], color="gray", ls=":", lw=1, label=f"threshold {thresholds[env]:g}")
            ax.set(xlabel=xlabel, ylabel=_score_label(window), title=title)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
            written.append(_save(fig, fig_dir / f"{stem}_{suffix}.png"))
    return written


def data_efficiency_figure_stem(method: str, env: str, total_frames, lr, terminal_on_life_loss: bool) -> str:
    """File-name stem of one data-efficiency figure:
    data_efficiency_<method>_<game>_<budget>_lr<lr>[_lost_life_terminal]."""
    stem = f"data_efficiency_{method}_{env}_{T.frames_label(total_frames)}_lr{lr:g}"
    return stem + ("_lost_life_terminal" if terminal_on_life_loss else "")


def plot_data_efficiency(per_run: pd.DataFrame, fig_dir: Path, k: int) -> list[Path]:
    """Paper Fig. 3 (data efficiency) for one Table 2 comparison group: the training-score moving
    average over the last k games (the one the reference is defined on) vs frames, one colour per
    thread count, for each group (T.SPEEDUP_GROUP) with completed runs at >= 2 thread counts. The
    group's reference score is the dashed line and each run's first reaching of it a filled marker
    at frames_to_ref: the horizontal distances between the markers are the data efficiency."""
    written = []
    runs = per_run.dropna(subset=["reference"])
    for key, group in runs.groupby(T.SPEEDUP_GROUP, sort=True, dropna=False):
        if group["threads"].nunique() < 2:
            continue
        g = dict(zip(T.SPEEDUP_GROUP, key))
        colors = {n: f"C{i}" for i, n in enumerate(sorted(set(group["threads"].astype(int))))}  # distinct at a glance
        fig, ax = plt.subplots(figsize=(6.5, 4.2))
        labelled = set()
        for run in group.sort_values(["threads", "seed"]).itertuples():
            n, color = int(run.threads), colors[int(run.threads)]
            curve = T.moving_average(T.load_episodes(run.run_dir), k)
            ax.plot(curve["frames"] * 1e-6, curve["score_ma"], color=color, lw=0.8, alpha=0.85,
                    label=None if n in labelled else f"{n} actor-learner{'s' * (n > 1)}")
            labelled.add(n)
            if pd.notna(run.frames_to_ref):
                ax.plot(run.frames_to_ref * 1e-6, run.reference, "o", ms=7, color=color, mec="black", zorder=3)
        reference = group["reference"].iloc[0]
        ax.axhline(reference, color="gray", ls="--", lw=1, label=f"reference {reference:g} (first reached: ●)")
        title = (f"{g['method']} — {g['env']}: data efficiency, {T.frames_label(g['total_frames'])} frames, "
                 f"lr {g['lr']:g}" + T.horizon_label(g["total_frames"], g["lr_anneal_frames"])
                 + T.life_label(g["env"], g["terminal_on_life_loss"]))
        ax.set(xlabel="frames (millions)", ylabel=f"score (mean of last {k} training games)", title=title)
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        stem = data_efficiency_figure_stem(g["method"], g["env"], g["total_frames"], g["lr"], g["terminal_on_life_loss"])
        written.append(_save(fig, fig_dir / f"{stem}.png"))
    return written


def plot_speedup(speedup: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Speedup vs actor-learners per method, the paper's Table 2 dashed in the same colour."""
    if speedup.empty:
        return []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    top = max(16, int(speedup["threads"].max()))
    ax.plot([1, top], [1, top], color="gray", ls=":", lw=1, label="linear")
    for i, ((method, runtime), rows) in enumerate(speedup.groupby(["method", "runtime"])):
        color = f"C{i}"
        ax.plot(rows["threads"], rows["speedup"], "o-", color=color, label=f"{method} [{runtime}]")
        over = rows[rows["oversubscribed"]]
        # Hollow rings around the oversubscribed points, as the '*' in the Markdown table.
        ax.scatter(over["threads"], over["speedup"], s=160, facecolors="none", edgecolors="red", zorder=3)
        if method in T.PAPER_TABLE2:
            paper = T.PAPER_TABLE2[method]
            ax.plot(list(paper), list(paper.values()), "--", color=color, alpha=0.7, label=f"{method} (paper)")
    ax.set(xscale="log", yscale="log", xlabel="actor-learners", ylabel="speedup (time to reference)",
           title="Speedup vs actor-learners (red rings: oversubscribed)")
    ticks = sorted(set(speedup["threads"].astype(int)) | {1, 2, 4, 8, 16})
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    return [_save(fig, fig_dir / "speedup.png")]


def plot_lr(done: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Paper Fig 2: final score vs learning rate, for each (method, game) with >= 3 distinct rates."""
    written = []
    for (method, env), runs in done.dropna(subset=["lr", "final_score"]).groupby(["method", "env"]):
        if runs["lr"].nunique() < 3:
            continue
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(runs["lr"], runs["final_score"], s=18)
        ax.set(xscale="log", xlabel="learning rate", ylabel="final score", title=f"{method} — {env}")
        ax.grid(alpha=0.3)
        written.append(_save(fig, fig_dir / f"{method}_{env}_lr.png"))
    return written


def plot_lr_sweep(sweep: pd.DataFrame, fig_dir: Path, k: int, thresholds: dict | None = None) -> list[Path]:
    """Paper Fig. 2 while a sweep trains: each run's training-score moving average (last k games) vs
    frames and vs training hours, one colour per learning rate (log scale, viridis), its own
    evaluations as white markers, the frame count every run has reached dotted."""
    thresholds = T.SCORE_THRESHOLDS if thresholds is None else thresholds
    written = []
    for key, group in sweep.groupby(T.LR_SWEEP_GROUP, sort=True, dropna=False):
        g = dict(zip(T.LR_SWEEP_GROUP, key))
        curves = [(r, T.moving_average(T.load_episodes(r["run_dir"]), k)) for r in group.to_dict("records")]
        if not any(len(c) for _, c in curves):
            continue
        logs = np.log10(group["lr"].to_numpy(dtype=float))
        span = max(logs.max() - logs.min(), 1e-12)
        cmap = plt.get_cmap("viridis")
        stem = f"lr_sweep_{g['method']}_" + methods_figure_stem(
            g["env"], g["threads"], g["total_frames"], g["terminal_on_life_loss"], g["lr_anneal_frames"]
        ).removeprefix("methods_")
        title = (f"{g['method']} on {g['env']}: {g['threads']} thread{'s' * (g['threads'] != 1)}, "
                 f"{T.frames_label(g['total_frames'])}-frame budget" + T.horizon_label(g["total_frames"], g["lr_anneal_frames"])
                 + T.life_label(g["env"], g["terminal_on_life_loss"]))
        for x, xlabel, scale, suffix in [("frames", "frames (millions)", 1e-6, "score_vs_frames"),
                                         ("wall_time_s", "training time (hours)", 1 / 3600, "score_vs_time")]:
            fig, ax = plt.subplots(figsize=(6.5, 4.2))
            for run, curve in sorted(curves, key=lambda item: item[0]["lr"]):
                color = cmap((np.log10(run["lr"]) - logs.min()) / span)
                label = f"lr {run['lr']:.2g} (seed {run['seed']})"
                if len(curve):
                    ax.plot(curve[x] * scale, curve["score_ma"], color=color, lw=1.2, label=label)
                if x == "frames" and run["evals_own"]:
                    ax.plot([f * scale for f, _ in run["evals_own"]], [m for _, m in run["evals_own"]], "o", ms=5,
                            mfc="white", mec=color, mew=1.2, ls="none", zorder=3)
            if x == "frames":
                ax.axvline(group["common_frames"].iloc[0] * scale, color="gray", ls="--", lw=0.8,
                           label="reached by every run")
            if g["env"] in thresholds:
                ax.axhline(thresholds[g["env"]], color="gray", ls=":", lw=1, label=f"threshold {thresholds[g['env']]:g}")
            ax.set(xlabel=xlabel, ylabel=_score_label(k), title=title)
            ax.legend(fontsize=7)
            ax.grid(alpha=0.3)
            written.append(_save(fig, fig_dir / f"{stem}_{suffix}.png"))
    return written


def schedule_figure_stem(g: dict) -> str:
    """File-name stem of one schedule A/B figure (a group of T.SCHEDULE_GROUP):
    schedule_ab_<method>_<game>_threads<n>_<budget>_seed<s>_lr<lr>[_lost_life_terminal][_<runtime>],
    the runtime where it is not the process one."""
    stem = (f"schedule_ab_{g['method']}_{g['env']}_threads{int(g['threads'])}_{T.frames_label(g['total_frames'])}"
            f"_seed{int(g['seed'])}_lr{g['lr']:g}")
    return stem + ("_lost_life_terminal" if g["terminal_on_life_loss"] else "") + (
        "" if g["runtime"] == "process" else f"_{g['runtime']}")


def plot_schedules(table: pd.DataFrame, fig_dir: Path, k: int, thresholds: dict | None = None) -> list[Path]:
    """One figure per schedule A/B (T.schedule_ab): each run's training-score moving average vs
    frames (left) and vs training hours (right), one colour per schedule, and the evaluations of the
    table as white markers with +- 1 std bars; the game's threshold dotted."""
    thresholds = T.SCORE_THRESHOLDS if thresholds is None else thresholds
    written = []
    for key, group in table.groupby(T.SCHEDULE_GROUP, sort=True, dropna=False):
        g = dict(zip(T.SCHEDULE_GROUP, key))
        runs = group.to_dict("records")
        episodes = [T.load_episodes(r["run_dir"]) for r in runs]
        window = curve_window(episodes, k)
        colors = {s: f"C{i}" for i, s in enumerate(dict.fromkeys(group["setting"]))}
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
        for ax, (x, xlabel, scale) in zip(axes, [(0, "frames (millions)", 1e-6), (1, "training time (hours)", 1 / 3600)]):
            labelled = set()
            for run, curve in zip(runs, (T.moving_average(e, window) for e in episodes)):
                color, setting = colors[run["setting"]], run["setting"]
                ax.plot(curve[["frames", "wall_time_s"][x]] * scale, curve["score_ma"], color=color, lw=1.2,
                        label=None if setting in labelled else setting)
                at = np.array(run["evals_at"], dtype=float).reshape(-1, 4)  # frames, seconds, mean, std
                ax.errorbar(at[:, x] * scale, at[:, 2], yerr=at[:, 3], fmt="o", ms=5, mfc="white", mec=color,
                            ecolor=color, mew=1.2, capsize=3, zorder=3,
                            label=None if setting in labelled else f"{setting}: evaluations (mean ± std)")
                labelled.add(setting)
            if g["env"] in thresholds:
                ax.axhline(thresholds[g["env"]], color="gray", ls=":", lw=1, label=f"threshold {thresholds[g['env']]:g}")
            ax.set(xlabel=xlabel)
            ax.grid(alpha=0.3)
        axes[0].set_ylabel(_score_label(window))
        axes[0].legend(fontsize=7)
        subject = f"{g['method']} on {g['env']}, seed {g['seed']}, lr {g['lr']:g}"
        fig.suptitle(T.group_heading(subject, g, runtime=True).removeprefix("## "), fontsize=10)
        written.append(_save(fig, fig_dir / f"{schedule_figure_stem(g)}.png"))
    return written
def plot_continuous_curves(curves: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Paper Fig. S8: per continuous-control task a column of two panels, the evaluation score with
    the mean action μ against environment steps (top) and training hours (bottom), one colour per
    seed; the sampled actions' score dotted, the random policy's score dotted grey, the published
    reference dashed grey (labelled with its algorithm and budget). Nothing without curves."""
    if curves.empty:
        return []
    refs = T.continuous_references()
    tasks = list(dict.fromkeys(curves["task"]))
    fig, axes = plt.subplots(2, len(tasks), figsize=(4.2 * len(tasks), 6.4), squeeze=False)
    for col, task in enumerate(tasks):
        ref, rows = refs.loc[task], curves[curves["task"] == task]
        for ax, x, scale, xlabel in [(axes[0, col], "frames", 1e-6, "environment steps (millions)"),
                                     (axes[1, col], "hours", 1.0, "training hours")]:
            for i, (seed, run) in enumerate(rows.groupby("seed")):
                ax.plot(run[x] * scale, run["mean"], "o-", color=f"C{i}", ms=3, lw=1.2, label=f"seed {seed}: mean action μ")
                ax.plot(run[x] * scale, run["sampled_mean"], ":", color=f"C{i}", lw=1, label=f"seed {seed}: sampled actions")
            if pd.notna(ref["random"]):
                ax.axhline(ref["random"], color="gray", ls=":", lw=1, label="random policy")
            if pd.notna(ref["reference"]):
                ax.axhline(ref["reference"], color="gray", ls="--", lw=1,
                           label=f"{ref['reference_algorithm']}, {ref['reference_budget']} (published)")
            ax.set(xlabel=xlabel, ylabel="evaluation score", title=ref["gym_id"])
            ax.grid(alpha=0.3)
        axes[0, col].legend(fontsize=7)
    fig.suptitle("A3C, continuous control: evaluation score by steps and by training hours")
    return [_save(fig, fig_dir / "mujoco_curves.png")]


def plot_continuous_lr(table: pd.DataFrame, fig_dir: Path) -> list[Path]:
    """Paper Fig. S7: per learning-rate sweep on a continuous-control task (one panel each), each
    run's final evaluation (mean action μ) against its initial learning rate, log scale; the first
    evaluation of every run as a hollow marker, the task's target dotted. Nothing without a sweep."""
    if table.empty:
        return []
    groups = list(table.groupby(T.LR_SWEEP_GROUP, sort=True, dropna=False))
    fig, axes = plt.subplots(1, len(groups), figsize=(6.5 * len(groups), 4.4), squeeze=False)
    for ax, (key, group) in zip(axes[0], groups):
        g = dict(zip(T.LR_SWEEP_GROUP, key))
        final = group[group["final"]]
        first_at = T.steps_label(group["first_eval_frames"].median())
        ax.scatter(group["lr"], group["first_eval"], s=22, facecolors="none", edgecolors="C1",
                   label=f"first evaluation (~{first_at} steps)")
        early = (final["last_eval_frames"] < g["total_frames"]).any()  # runs that ended at stop_at_score
        ax.scatter(final["lr"], final["last_eval"], s=22, color="C0",
                   label=f"final evaluation ({T.steps_label(g['total_frames'])} steps"
                         + ("; at stop_at_score: the snapshot that scored)" if early else ")"))
        if pd.notna(group["target"].iloc[0]):
            ax.axhline(group["target"].iloc[0], color="gray", ls=":", lw=1, label=f"target {group['target'].iloc[0]:g}")
        ax.set(xscale="log", xlabel="initial learning rate", ylabel="evaluation score (mean action μ)",
               title=f"{g['method']} on {g['env']}: {len(final)} of {len(group)} runs completed")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return [_save(fig, fig_dir / "mujoco_lr_scatter.png")]


def _threshold(text: str) -> tuple[str, float]:
    """argparse type of --threshold: "pong=-15" -> ("pong", -15.0)."""
    game, sep, value = text.partition("=")
    try:
        if not sep or not game:
            raise ValueError
        return game.strip(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected GAME=SCORE (e.g. pong=-15), got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("results/runs"), help="runs root (searched recursively)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="writes OUT/tables and OUT/figures")
    parser.add_argument("--k", type=int, default=10, help="moving-average window, in training games")
    parser.add_argument("--sweep-k", type=int, default=T.LR_SWEEP_WINDOW,
                        help="moving-average window of the learning-rate sweep table and figures, in training games")
    parser.add_argument("--fraction", type=float, default=1.0,
                        help="reference score position between the untrained level (0) and the lowest best (1)")
    parser.add_argument("--bench", type=Path, default=Path("results/bench"),
                        help="benchmark root: every throughput.csv below it (tools/bench.py) feeds table2_atari")
    parser.add_argument("--bench-max-other-load", type=float, default=T.BENCH_MAX_OTHER_LOAD,
                        help="skip benchmark rows whose other load (CPU of processes other than the benchmark's "
                             "during the run) exceeded this × cores")
    parser.add_argument("--bench-max-load", type=float, default=T.BENCH_MAX_LOAD,
                        help="skip benchmark rows without an other load whose 1-min load before the run "
                             "exceeded this × cores")
    parser.add_argument("--threshold", action="append", default=[], type=_threshold, metavar="GAME=SCORE",
                        help="training-score threshold for methods_comparison (repeatable; adds to / overrides "
                             f"the defaults {', '.join(f'{g}={v:g}' for g, v in T.SCORE_THRESHOLDS.items())})")
    parser.add_argument("--eval-policy", default="sampled",
                        help="only evaluate.py entries with this policy count as the final evaluation in "
                             "methods_comparison (default: sampled, the runs' own evaluation policy: A3C samples "
                             "pi, the value-based methods play eps-greedy; 'any' for the latest of any policy)")
    parser.add_argument("--atari5-threads", type=int, default=T.ATARI5_SETTING["threads"],
                        help="actor-learners of the runs the five-game table (atari5) shows")
    parser.add_argument("--atari5-lr-horizon", type=int, default=T.ATARI5_SETTING["lr_anneal_frames"],
                        help="learning-rate horizon (frames) of the runs the five-game table shows")
    parser.add_argument("--continuous-threads", type=int, default=T.CONTINUOUS_THREADS,
                        help="actor-learners of the runs the continuous-control table (mujoco) shows")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    thresholds = {**T.SCORE_THRESHOLDS, **dict(args.threshold)}
    atari5 = {**T.ATARI5_SETTING, "threads": args.atari5_threads, "lr_anneal_frames": args.atari5_lr_horizon}

    runs = T.load_runs(args.runs)
    if runs.empty:
        print(f"no runs found under {args.runs}: writing the paper's tables only")
    bench = T.load_bench(args.bench)
    written, frames = write_tables(runs, args.out, args.k, args.fraction, bench=bench,
                                   bench_max_load=args.bench_max_load, thresholds=thresholds,
                                   bench_max_other_load=args.bench_max_other_load,
                                   eval_policy=None if args.eval_policy == "any" else args.eval_policy,
                                   sweep_k=args.sweep_k, atari5_setting=atari5,
                                   continuous_threads=args.continuous_threads)

    fig_dir = args.out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    figures = plot_curves(frames["done"], fig_dir, args.k) + plot_speedup(frames["speedup"], fig_dir) \
        + plot_lr(_without_continuous(frames["done"]), fig_dir) + plot_methods(runs, fig_dir, args.k, thresholds) \
        + plot_lr_sweep(frames["sweep"], fig_dir, args.sweep_k, thresholds) \
        + plot_data_efficiency(frames["per_run"], fig_dir, args.k) \
        + plot_atari5(frames["atari5"], fig_dir, args.k) \
        + plot_schedules(frames["schedules"], fig_dir, args.k, thresholds) \
        + plot_continuous_curves(frames["curves"], fig_dir) + plot_continuous_lr(frames["continuous_lr"], fig_dir)

    excluded = len(runs) - len(frames["done"])
    print(f"{len(runs)} runs read ({len(frames['done'])} completed, {excluded} excluded)")
    if frames["atari5"].empty:
        print(f"atari5 (the five-game table and its overview figure): not written, no completed A3C FF run of "
              f"{', '.join(T.FIVE_GAMES)} with {atari5['threads']} actor-learners and LR horizon "
              f"{T.frames_label(atari5['lr_anneal_frames'])}, lost life terminal")
    if frames["continuous"].empty:
        print(f"mujoco (the continuous-control table, its curves and figure): not written, no completed run on a "
              f"continuous-control task with {args.continuous_threads} actor-learners")
    if frames["continuous_lr"].empty:
        print(f"mujoco_lr (the continuous-control learning-rate table and scatter): not written, no group of runs on "
              f"a continuous-control task with {T.LR_MIN_RATES} or more learning rates")
    print(f"wrote {len(written)} table files to {args.out / 'tables'}")
    print(f"wrote {len(figures)} figures to {fig_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

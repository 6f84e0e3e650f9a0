"""The paper's tables (Mnih et al. 2016, Tables 1, 2 and S3) from run directories, Table 2 also
composed with idle-machine throughput benchmarks (``tools/bench.py`` CSVs), and the methods on
one game side by side (the table behind the paper's Fig. 3).

Pure functions: pandas in, pandas out; no Hydra, no torch, no plotting. ``scripts/make_tables.py``
wires them to files, and ``docs/tables.md`` explains every definition in prose.

A run directory is found by its ``summary.json`` (at any depth below the runs root); next to it,
``episodes.csv`` has one row per finished *training* game (``frames, wall_time_s, actor, score,
length``). Only runs whose status is ``completed`` enter any table; the others are listed by
:func:`excluded_runs` and never averaged in.

One module per job, in the order the data flows:

- :mod:`.reference`: the packaged facts (human and random references, the paper's scores and tables,
  pfrl's published A3C scores);
- :mod:`.runs`: run directories and their training games (summaries, episodes, moving averages);
- :mod:`.evaluations`: which of a run's evaluations stands for its score;
- :mod:`.speedup`: Table 2 from the runs (time to a reference score, 1 thread over n);
- :mod:`.composed`: Table 2 on Atari, data efficiency from the runs × throughput from idle benchmarks;
- :mod:`.methods`: the methods on one game (Fig. 3 for one game, with a table);
- :mod:`.atari_runs`: Atari runs one by one, how far their evaluations got and when;
- :mod:`.atari5`: A3C FF on the paper's five games beside the paper's and pfrl's scores;
- :mod:`.lr_sweep`: learning-rate sweeps, finished or not (Fig. 2);
- :mod:`.schedules`: schedule A/Bs, runs of one setting that differ in their learning-rate horizon or eps draw;
- :mod:`.continuous`: continuous-control tasks beside a random policy and a published reference,
  and their evaluation curves (section 5.3, Fig. S8);
- :mod:`.continuous_lr`: a learning-rate sweep on a continuous-control task (Fig. S7);
- :mod:`.scores`: human-normalized (Table 1) and raw (Table S3) scores;
- :mod:`.markdown`: labels, Markdown and the CSV + Markdown files.

Everything is re-exported here: ``from asyncrl import tables as T; T.load_runs(...)``.
"""

from .atari5 import ATARI5_COLUMNS, ATARI5_SETTING, FIVE_GAMES, atari5_markdown, atari5_runs, atari5_table
from .atari_runs import ATARI_RUN_COLUMNS, TARGET_SCORES, atari_runs, atari_runs_markdown
from .continuous import (CONTINUOUS_COLUMNS, CONTINUOUS_THREADS, CURVE_COLUMNS, continuous_curves,
                         continuous_markdown, continuous_runs, continuous_table, continuous_tasks, steps_label)
from .continuous_lr import (CONTINUOUS_LR_COLUMNS, LR_MIN_RATES, LR_TARGETS, continuous_lr_markdown, continuous_lr_runs,
                            continuous_lr_summary, continuous_lr_table)
from .composed import (
    BENCH_KEY, BENCH_MAX_LOAD, BENCH_MAX_OTHER_LOAD, BENCH_TIME_COLUMNS, NEAR_RANDOM_HNS, bench_host, bench_idle,
    bench_scaling,
    composed_markdown, composed_speedup, load_bench,
)
from .evaluations import FINAL_EVAL_EPISODES, argmax_evaluations, final_evaluation, own_evaluations
from .lr_sweep import LR_SWEEP_GROUP, LR_SWEEP_WINDOW, lr_sweep, lr_sweep_groups, lr_sweep_markdown, score_at
from .markdown import (frames_label, group_heading, horizon_label, hours_label, life_label, to_markdown, trained_label,
                       write_table)
from .methods import (
    METHODS_GROUP, SCORE_THRESHOLDS, _threshold_cells, methods_comparison, methods_groups,
    methods_markdown, time_to_threshold,
)
from .reference import (PAPER_LABELS, PAPER_TABLE1, PAPER_TABLE2, REFERENCES, continuous_references, paper_scores,
                        pfrl_scores, reference_scores)
from .runs import (
    EPISODE_COLUMNS, SUMMARY_COLUMNS, _read_episodes, completed_runs, excluded_runs, load_episodes,
    load_runs, moving_average, protocol_label, SHARED_LOAD, code_versions, free_cores, host_count, run_config,
    run_hosts,
    shared_hours,
)
from .schedules import (EPSILON_METHODS, EVAL_INTERVAL, SCHEDULE_GROUP, SCHEDULE_KEYS, epsilon_draw,
                        evaluation_interval, evaluations_at, schedule_ab, schedule_groups, schedule_markdown,
                        setting_label)
from .scores import (
    LIFE_NOT_TERMINAL, final_scores, hns, hns_per_game, human_normalized_table, paper_table1,
    raw_scores_table, scores_by_method, table1,
)
from .speedup import SPEEDUP_GROUP, speedup_by_game, speedup_markdown, speedup_table, times_to_reference

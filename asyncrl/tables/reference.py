"""The packaged facts the tables compare with: human and random reference scores per game
(``asyncrl/data``), the paper's Table S3 raw scores, and its Tables 1 and 2 as printed; per
continuous-control task, a random policy's score and a published reference."""

from __future__ import annotations

from importlib import resources

import pandas as pd

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


def pfrl_scores() -> pd.Series:
    """pfrl's published A3C scores (``pfrl_a3c``), indexed by ALE id: for each game the highest mean
    intermediate evaluation (from no-op starts, every 1M frames) of a run, averaged over 3 seeds;
    the games of the paper's Figs. 1 and 3 only. The source of every number is in the CSV."""
    return _read_data_csv("pfrl_a3c_scores.csv").set_index("ale_id")["pfrl_a3c"]


def continuous_references() -> pd.DataFrame:
    """Per continuous-control task (env name, the index): ``gym_id``, a uniformly random policy's
    score (``random``, ``random_std``, ``random_episodes``, ``random_seed``: tools/random_scores.py)
    and a published reference score (``reference``) with its ``reference_algorithm``,
    ``reference_budget`` and ``reference_source``. The paper gives no MuJoCo numbers (only
    figures), so the references are other algorithms' published results, labelled as such."""
    return _read_data_csv("mujoco_reference_scores.csv").set_index("task")

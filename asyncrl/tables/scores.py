"""Scores over games: human-normalized (paper Table 1, with the paper's own rows) and raw
(paper Table S3 layout, our methods beside the paper's columns)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .reference import PAPER_LABELS, PAPER_TABLE1, paper_scores, reference_scores
from .runs import completed_runs

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

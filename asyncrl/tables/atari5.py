"""The paper's five Atari games (its Figs. 1 and 3): A3C FF's final evaluation on each, by a draw
from pi and by its argmax, human-normalized, beside the paper's Table S3 1-day score and pfrl's
published A3C score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .evaluations import argmax_evaluations, final_evaluation
from .markdown import frames_label, horizon_label, hours_label, trained_label
from .reference import paper_scores, pfrl_scores, reference_scores
from .runs import code_versions, completed_runs, free_cores, host_count, shared_hours
from .scores import hns

# The games of the paper's Figs. 1 and 3 (and of its Table 2 mean), by ALE id
FIVE_GAMES = ("beam_rider", "breakout", "pong", "qbert", "space_invaders")

# The runs the table shows: A3C FF with this many actor-learners, the learning rate annealed to 0
# over this horizon, a lost life terminal for learning (the atari5 preset's settings). Runs of one
# schedule may differ in their budget (Breakout trains longer), so the budget is not a key.
ATARI5_SETTING = {"method": "a3c", "threads": 2, "lr_anneal_frames": 320_000_000, "terminal_on_life_loss": True}

_RUN_FIELDS = ["run", "threads", "total_frames", "lr_anneal_frames", "terminal_on_life_loss", "frames", "hours",
               "load_hours", "shared_hours", "hosts", "code_versions", "stop_at_score"]
_POLICY_FIELDS = ["source", "frames", "mean", "std", "episodes", "hns"]
ATARI5_COLUMNS = ["game", "name", *_RUN_FIELDS, *(f"sampled_{f}" for f in _POLICY_FIELDS),
                  *(f"argmax_{f}" for f in _POLICY_FIELDS), "random_noop", "human_noop", "paper_a3c_ff_1day",
                  "pfrl_a3c", "run_dir"]


def atari5_runs(runs: pd.DataFrame, setting: dict | None = None, games=FIVE_GAMES) -> pd.DataFrame:
    """Per game of ``games``, the completed run of ``setting`` (default :data:`ATARI5_SETTING`, every
    key must match) with the most frames trained (then the lowest seed); games without one are absent."""
    setting = ATARI5_SETTING if setting is None else setting
    done = completed_runs(runs)
    if done.empty:
        return done
    keep = done["env"].isin(games)
    for key, value in setting.items():
        keep &= done[key] == value
    chosen = done[keep].sort_values(["env", "frames", "seed", "run_dir"], ascending=[True, False, True, True],
                                    kind="mergesort")
    return chosen.drop_duplicates("env").reset_index(drop=True)


def _policy_cells(entry: dict, random: float, human: float) -> dict:
    """One policy's evaluation (``source``, ``frames``, ``mean``, ``std``, ``episodes``) and its no-op HNS."""
    mean = float(entry.get("mean", np.nan))
    return {"source": entry.get("source", np.nan), "frames": float(entry.get("frames", np.nan)), "mean": mean,
            "std": float(entry.get("std", np.nan)), "episodes": float(entry.get("episodes", np.nan)),
            "hns": hns(mean, random, human) if pd.notna(mean) else np.nan}


def _run_cells(run: dict) -> dict:
    """The run's setting, frames and training hours (with how many of them shared the machine)."""
    load_h, shared_h = shared_hours(run["run_dir"], free_cores(run))
    stopped = run.get("stopped_at_score")
    return {"run": Path(run["run_dir"]).name,
            **{c: run[c] for c in ["threads", "total_frames", "lr_anneal_frames", "terminal_on_life_loss", "frames"]},
            "hours": float(run["wall_time_s"]) / 3600, "load_hours": load_h, "shared_hours": shared_h,
            "hosts": host_count(run), "code_versions": code_versions(run),
            "stop_at_score": float(stopped["stop_at_score"]) if isinstance(stopped, dict) else np.nan}


def atari5_table(runs: pd.DataFrame, setting: dict | None = None, games=FIVE_GAMES) -> pd.DataFrame:
    """One row per game of ``games``, in that order, whether or not it has a run (:func:`atari5_runs`).

    ``sampled_*``: the final evaluation by a draw from pi, :func:`final_evaluation` with policy
    ``sampled`` (the latest scripts/evaluate.py entry of >= 30 games, else the run's own last one;
    ``sampled_source`` "evaluate.py" or "run"). ``argmax_*``: the scripts/evaluate.py entry by the
    argmax of pi at the most frames (:func:`argmax_evaluations`). ``*_hns``: :func:`hns` of its mean
    with the no-op-starts references (``random_noop``, ``human_noop``). ``paper_a3c_ff_1day``: the
    paper's Table S3 (human starts); ``pfrl_a3c``: :func:`pfrl_scores`. The run's cells are NaN for a
    game without a run; the reference cells never are."""
    chosen = atari5_runs(runs, setting, games).set_index("env") if len(runs) else pd.DataFrame()
    ref, paper, pfrl = reference_scores("noop"), paper_scores(), pfrl_scores()
    rows = []
    for game in games:
        random, human = float(ref.loc[game, "random"]), float(ref.loc[game, "human"])
        row = {"game": game, "name": ref.loc[game, "game"], "random_noop": random, "human_noop": human,
               "paper_a3c_ff_1day": float(paper.loc[game, "a3c_ff_1day"]),
               "pfrl_a3c": float(pfrl.get(game, np.nan)), "run_dir": np.nan}
        if game in chosen.index:
            run = {**chosen.loc[game].to_dict(), "env": game}
            sampled = final_evaluation(run["evals"], policy="sampled")
            sampled = {k.removeprefix("eval_"): v for k, v in sampled.items()} if sampled["eval_source"] != "none" else {}
            greedy = argmax_evaluations(run["evals"])
            row.update(_run_cells(run), run_dir=run["run_dir"])
            row.update({f"sampled_{k}": v for k, v in _policy_cells(sampled, random, human).items()})
            row.update({f"argmax_{k}": v for k, v in _policy_cells(greedy[-1] if greedy else {}, random, human).items()})
        rows.append(row)
    table = pd.DataFrame(rows).reindex(columns=ATARI5_COLUMNS)
    counts = ["threads", "total_frames", "lr_anneal_frames", "frames", "hosts", "code_versions", "sampled_episodes",
              "argmax_episodes"]
    table[counts] = table[counts].apply(lambda c: pd.to_numeric(c).round().astype("Int64"))  # NaN rows made them float
    return table


def _evaluation_cell(r: dict, policy: str) -> tuple[str, str]:
    """The "mean ± std (games[, from])" and HNS cells of one policy ("from": the sampled one's source;
    the argmax of pi is always evaluate.py's); "at <frames>" when its checkpoint is not the run's last."""
    mean = r[f"{policy}_mean"]
    if pd.isna(mean):
        return "—", "—"
    source = {"evaluate.py": ", evaluate.py", "run": ", the run"}[r[f"{policy}_source"]] if policy == "sampled" else ""
    text = f"{mean:.1f} ± {r[f'{policy}_std']:.1f} ({r[f'{policy}_episodes']:.0f}{source})"
    if pd.notna(r[f"{policy}_frames"]) and r[f"{policy}_frames"] != r["frames"]:
        text += f" at {r[f'{policy}_frames'] / 1e6:.2f}M"
    return text, f"{r[f'{policy}_hns']:.1f}"


def atari5_markdown(table: pd.DataFrame, setting: dict | None = None) -> str:
    """Markdown of :func:`atari5_table`: a heading naming the setting, one row per game; "—" in the
    run's cells of a game without a run."""
    setting = ATARI5_SETTING if setting is None else setting
    threads, horizon = setting["threads"], setting["lr_anneal_frames"]
    life = "terminal" if setting["terminal_on_life_loss"] else "not terminal"
    lines = [f"## A3C FF (method {setting['method']}): {threads} thread{'s' * (threads != 1)}, "
             f"LR horizon {frames_label(horizon)}, lost life {life}", "",
             "| game | schedule | trained | hours | draw from π: mean ± std (games, from) | HNS % "
             "| argmax of π (evaluate.py): mean ± std (games) | HNS % | random (no-op) | paper A3C FF, 1 day (human starts) "
             "| pfrl A3C (best intermediate) |", "|" + "---|" * 11]
    for r in table.to_dict("records"):
        refs = f"{r['random_noop']:g} | {r['paper_a3c_ff_1day']:g} | " + (
            "—" if pd.isna(r["pfrl_a3c"]) else f"{r['pfrl_a3c']:g}")
        if pd.isna(r["run_dir"]):
            lines.append(f"| {r['name']} | — | — | — | — | — | — | — | {refs} |")
            continue
        schedule = frames_label(r["total_frames"]) + horizon_label(r["total_frames"], r["lr_anneal_frames"])
        trained = trained_label(r["frames"], r["code_versions"]) + (
            f", ended at score ≥ {r['stop_at_score']:g}" if pd.notna(r["stop_at_score"]) else "")
        hours = hours_label(r["hours"], r["load_hours"], r["shared_hours"], r["hosts"])
        sampled, argmax = _evaluation_cell(r, "sampled"), _evaluation_cell(r, "argmax")
        lines.append(f"| {r['name']} | {schedule} | {trained} | {hours} | {sampled[0]} | {sampled[1]} "
                     f"| {argmax[0]} | {argmax[1]} | {refs} |")
    return "\n".join(lines)

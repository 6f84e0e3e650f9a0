"""A uniformly random policy's score on the continuous-control tasks: the `random` column of
asyncrl/data/mujoco_reference_scores.csv, which the continuous-control tables print beside each
task's score.

For every task of conf/env/ built on _mujoco or _dm_control (or those of --tasks), play --episodes
whole episodes (default 100) through asyncrl's own env (envs.make_env: the task's time limit, actions
clipped to the bounds), each action drawn uniformly from the task's Box by its action space, seeded
with --seed through make_env, and score the sum of raw rewards. Writes the mean, the standard
deviation (population), the episodes and the seed into the CSV's random columns; the other columns
(the published references) are kept, and a task new to the file gets a row with empty references.

    python tools/random_scores.py [--tasks inverted_pendulum,hopper] [--episodes 100] [--seed 0]
                                  [--csv asyncrl/data/mujoco_reference_scores.csv]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / "asyncrl" / "data" / "mujoco_reference_scores.csv"
COLUMNS = ["task", "gym_id", "random", "random_std", "random_episodes", "random_seed", "reference",
           "reference_algorithm", "reference_budget", "reference_source"]
BASES = ("_mujoco", "_dm_control")  # the env groups whose tasks have a Box action space


def continuous_tasks() -> list[str]:
    """The env names of conf/env/ whose yaml extends _mujoco or _dm_control, sorted."""
    from omegaconf import OmegaConf

    names = []
    for path in sorted((ROOT / "conf" / "env").glob("*.yaml")):
        defaults = OmegaConf.load(path).get("defaults") or []
        if any(str(d) in BASES for d in defaults):
            names.append(path.stem)
    return names


def env_config(task: str):
    """The task's env config as the CLI composes it."""
    import asyncrl.config  # noqa: F401  (schema and resolvers)
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[f"env={task}", "method=a3c_continuous"]).env


def random_returns(cfg, episodes: int, seed: int) -> list[float]:
    """Returns of `episodes` whole episodes with uniformly random actions (the action space's own
    sample, seeded by make_env), summing the raw rewards."""
    from asyncrl.envs import make_env

    env = make_env(cfg, seed=seed)
    returns = []
    try:
        for _ in range(episodes):
            env.reset()
            total, done = 0.0, False
            while not done:
                _, _, terminated, truncated, info = env.step(env.action_space.sample())
                total += info["raw_reward"]
                done = terminated or truncated
            returns.append(total)
    finally:
        env.close()
    return returns


def read_rows(path: Path) -> dict:
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        return {r["task"]: r for r in csv.DictReader(f)}


def write_rows(path: Path, rows: dict) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        w.writeheader()
        for task in sorted(rows):
            w.writerow({c: rows[task].get(c, "") for c in COLUMNS})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", default="", help="comma-separated env names (default: every continuous task)")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--csv", type=Path, default=CSV)
    args = p.parse_args(argv)
    known = continuous_tasks()
    tasks = [t for t in args.tasks.split(",") if t] or known
    unknown = [t for t in tasks if t not in known]
    if unknown or args.episodes < 1:
        why = f"unknown task(s) {', '.join(unknown)} (known: {', '.join(known)})" if unknown else "--episodes must be >= 1"
        print(f"[random_scores] {why}", file=sys.stderr)
        return 2
    rows = read_rows(args.csv)
    for task in tasks:
        cfg = env_config(task)
        returns = np.asarray(random_returns(cfg, args.episodes, args.seed))
        rows.setdefault(task, {"task": task})
        rows[task].update({"gym_id": cfg.gym_id, "random": f"{returns.mean():.1f}", "random_std": f"{returns.std():.1f}",
                           "random_episodes": str(len(returns)), "random_seed": str(args.seed)})
        print(f"[random_scores] {task} ({cfg.gym_id}): {returns.mean():.1f} ± {returns.std():.1f} "
              f"over {len(returns)} episodes", flush=True)
        write_rows(args.csv, rows)  # after every task: an interrupted run keeps what it measured
    return 0


if __name__ == "__main__":
    sys.exit(main())

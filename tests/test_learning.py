"""Every method learns CartPole-v1 with 2 actor-learners, through the real command, with nothing
but `method=<m> env=cartpole threads=2` (CartPole-sized schedules come from conf/tuning/).

The bar: an evaluation (mean over 10 whole games, greedy for the value-based methods) of >= 195
within the 200k-frame budget, i.e. CartPole-v1's "solved" level reached; a random policy scores
~22. A3C must moreover reach the maximum (500) in one evaluation, as the README says: 11 of 11 runs
(seeds 0-9 and 100) reached it, at 50k-125k frames. It need not stay there: lock-free A3C dips
mid-run (to 150-300 in those runs) and may slide for good (finals 254 and 128 in two of them), so
a bar on the last evaluations would fail working runs: the bar is the best evaluation.
Every method was measured reaching 195 at 25k-100k frames across seeds, so the budget has a wide margin; lock-free
actor-learners are not deterministic, and a run now and then misses anyway: seed 1 then gets its
turn, and a second miss fails the test. The final evaluation is not the bar: online Q-learning
without replay oscillates on CartPole (finals from 14 to 500 seen across seeds; see the README).

Since the bar is the best periodic evaluation, a run stops at it (`stop_at_score`: 500 for A3C,
195 for the others) instead of training out its budget: the verdict is the one the whole budget
would give, in a quarter to a half of the frames (the learning rate keeps its 200k-frame schedule).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["a3c", "a3c_lstm", "one_step_q", "one_step_sarsa", "n_step_q"]
BUDGET, SOLVED, MAXIMUM = 200_000, 195, 500


def _bar(method: str) -> int:
    """The evaluation score a run must reach: the maximum for A3C (the README's claim), CartPole-v1's
    solved level for the others."""
    return MAXIMUM if method == "a3c" else SOLVED


def _summary(tmp_path: Path, method: str, env: str, seed: int, bar: float, budget: int) -> dict:
    """One run of the real command with 2 actor-learners, stopped once an evaluation reaches `bar`;
    its summary.json."""
    res = subprocess.run(
        [sys.executable, "-m", "asyncrl", f"method={method}", f"env={env}", "threads=2", f"seed={seed}",
         "results_root=runs", "logger.progress=false", f"stop_at_score={bar}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    s = json.loads((tmp_path / f"runs/{method}/{env}/threads2-seed{seed}/summary.json").read_text())
    assert s["status"] == "completed" and s["total_frames"] == budget
    return s


def _run(tmp_path: Path, method: str, seed: int) -> list:
    """One CartPole run, stopped once an evaluation reaches the method's bar; its evaluations as
    (frames, mean), in order."""
    s = _summary(tmp_path, method, "cartpole", seed, _bar(method), BUDGET)
    evals = [(e["frames"], e["mean"]) for e in s["evals"]]
    # every 25k frames, plus the final one: the whole budget's 8 when no evaluation reached the bar
    reached = max(m for _, m in evals) >= _bar(method)
    assert reached or (s["frames"] == BUDGET and len(evals) >= 8), (s["frames"], evals)
    return evals


def _misses(method: str, evals: list) -> str:
    """Why a run misses the bar ("" when it meets it)."""
    means = [m for _, m in evals]
    if max(means) < SOLVED:
        return f"never reached {SOLVED}: {means}"
    if max(means) < _bar(method):
        # the README's claim: A3C reaches CartPole-v1's maximum; the value-based methods need not
        return f"never reached {_bar(method)}: {means}"
    return ""


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_learns_cartpole(tmp_path, method):
    """Seed 0 must meet the bar, or else seed 1 must. One run of a lock-free method misses now and
    then (a3c_lstm beside a training run: max 131 over 200k frames, where 6 of 6 other runs reached
    195 by 25k-100k frames), so one miss is not a failure; a method that misses with two seeds in a
    row is broken (a miss rate of 1 in 10 would do that 1 in 100)."""
    first = _misses(method, _run(tmp_path, method, 0))
    if first:
        second = _misses(method, _run(tmp_path, method, 1))
        assert not second, f"seed 0 {first}; seed 1 {second}"


# ---- continuous actions ---------------------------------------------------------------------------
# The continuous A3C on the toy 1-D task (conf/env/toy_continuous.yaml: 10-step episodes, 1 - (a - g)^2 a
# step for a target g shown each step): the mean action must earn >= 9.5 of the maximum 10 within
# 50k steps, i.e. |mu - g| ~ 0.2 on average; always playing 0 earns ~7.3, the initial network ~7.
# Measured with 2 actor-learners: 9.5 reached at 15k steps (2 of 2 runs).
CONTINUOUS_BAR, CONTINUOUS_BUDGET = 9.5, 50_000


def _run_continuous(tmp_path: Path, seed: int) -> list:
    s = _summary(tmp_path, "a3c_continuous", "toy_continuous", seed, CONTINUOUS_BAR, CONTINUOUS_BUDGET)
    return [e["mean"] for e in s["evals"]]


@pytest.mark.slow
def test_continuous_a3c_learns_the_toy_task(tmp_path):
    """Seed 0 must reach the bar, or else seed 1 (lock-free runs differ; see test_learns_cartpole)."""
    first = _run_continuous(tmp_path, 0)
    if max(first) < CONTINUOUS_BAR:
        second = _run_continuous(tmp_path, 1)
        assert max(second) >= CONTINUOUS_BAR, f"seed 0 {first}; seed 1 {second}"

"""Every method learns CartPole-v1 with 2 actor-learners, through the real command, with nothing
but `method=<m> env=cartpole threads=2` (CartPole-sized schedules come from conf/tuning/).

The bar: an evaluation (mean over 10 whole games, greedy for the value-based methods) of >= 195
within the 200k-frame budget, i.e. CartPole-v1's "solved" level reached; a random policy scores
~22. A3C must moreover stay at or near the maximum (500) over its last evaluations, as the README says.
Measured reaching it at 25k-100k frames across seeds, so the budget has a wide margin; lock-free
actor-learners are not deterministic. The final evaluation is not the bar: online Q-learning
without replay oscillates on CartPole (finals from 14 to 500 seen across seeds; see the README).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["a3c", "a3c_lstm", "one_step_q", "one_step_sarsa", "n_step_q"]


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_learns_cartpole(tmp_path, method):
    res = subprocess.run(
        [sys.executable, "-m", "asyncrl", f"method={method}", "env=cartpole", "threads=2", "seed=0",
         "results_root=runs", "logger.progress=false"],
        cwd=tmp_path, capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert res.returncode == 0, res.stderr[-3000:]
    s = json.loads((tmp_path / f"runs/{method}/cartpole/threads2-seed0/summary.json").read_text())
    assert s["frames"] == 200_000
    means = [e["mean"] for e in s["evals"]]
    assert len(means) >= 8  # every 25k frames, plus the final evaluation
    assert max(means) >= 195, means
    if method == "a3c":
        # the README's claim: A3C then stays at or near CartPole-v1's maximum over its last evaluations
        # (175k, 200k and the final one): at 500 in at least one and 450 or more on average. Not 500 in
        # every one: lock-free runs dip now and then (the committed runs dipped to 472 and 451 at
        # 125k-150k frames, and a CI run to 451.5 at 175k)
        last = [e["mean"] for e in s["evals"] if e["frames"] >= 175_000]
        assert len(last) >= 3 and max(last) == 500 and sum(last) / len(last) >= 450, means

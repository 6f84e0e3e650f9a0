"""A new method the way README's "Extend" section says: one module in asyncrl/methods/ and one
yaml in conf/method/, nothing else edited. A copy of the package and its conf/ gets a toy
REINFORCE learner with a hyper-parameter of its own, and the real command trains it on the toy env."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TOY_MODULE = '''
"""REINFORCE on n-step returns without a baseline, with its returns scaled by return_scale."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import MethodCfg
from ..returns import n_step_returns
from .base import Method


@dataclass
class ToyReinforceConfig(MethodCfg):
    return_scale: float = 1.0  # the returns are multiplied by this


class ToyReinforce(Method):
    name = "toy_reinforce"
    config = ToyReinforceConfig
    value_head = False
    policy_head = True
    stat_keys = ("return_scale",)

    def act(self, out, frames):
        p = torch.softmax(out, -1).double().numpy()
        return int(self.rng.choice(len(p), p=p / p.sum()))

    def act_eval(self, out):
        return int(out.argmax())

    def loss(self, net, target_net, rollout):
        logits, _, _ = net.unroll(rollout.obs[:-1], rollout.state0)
        scale = float(self.cfg.return_scale)
        returns = n_step_returns([r * scale for r in rollout.rewards], 0.0, True, float(self.cfg.gamma))
        taken = F.log_softmax(logits, -1).gather(1, rollout.actions[:, None]).squeeze(1)
        return -(taken * torch.tensor(returns, dtype=taken.dtype)).sum(), {"return_scale": scale}
'''

TOY_YAML = """\
# toy_reinforce: asyncrl/methods/toy_reinforce.py
defaults:
  - toy_reinforce_schema
name: toy_reinforce
lr: 1.0e-3
return_scale: 0.5
"""


def repo_copy_with_toy_method(tmp_path: Path) -> Path:
    """The repository's asyncrl/ and conf/, plus the toy method's two files, nothing else changed."""
    copy = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "asyncrl", copy / "asyncrl", ignore=ignore)
    shutil.copytree(ROOT / "conf", copy / "conf", ignore=ignore)
    (copy / "asyncrl" / "methods" / "toy_reinforce.py").write_text(TOY_MODULE)
    (copy / "conf" / "method" / "toy_reinforce.yaml").write_text(TOY_YAML)
    return copy


def run(copy: Path, runs: Path, *args):
    """The command, from the copy (PYTHONPATH), with a tiny budget; run directories under `runs`."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    cmd = [sys.executable, "-m", "asyncrl", "method=toy_reinforce", "env=toy", "threads=1", "runtime=thread", "total_frames=300",
           "eval.episodes=2", "logger.progress=false", f"results_root={runs}", *args]
    return subprocess.run(cmd, cwd=copy.parent, capture_output=True, text=True, timeout=240, env=env)


def test_a_method_added_as_one_module_and_one_yaml_trains_with_its_own_key(tmp_path):
    copy = repo_copy_with_toy_method(tmp_path)
    res = run(copy, tmp_path / "runs", "method.return_scale=0.25")
    assert res.returncode == 0, res.stderr[-2000:]
    run_dir = tmp_path / "runs" / "toy_reinforce" / "toy" / "threads1-seed0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["frames"] == 300
    assert summary["final_score"] is not None
    assert "return_scale: 0.25" in (run_dir / "config.yaml").read_text()
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {float(r["return_scale"]) for r in rows if r["return_scale"]} == {0.25}  # the learner read it
    # a typo of the new key is refused like any other: one line, exit 2, no run started
    typo = run(copy, tmp_path / "typo", "method.return_scal=1")
    lines = [ln for ln in typo.stderr.splitlines() if ln.strip()]
    assert typo.returncode == 2 and len(lines) == 1 and "method.return_scal" in lines[0], typo.stderr
    assert not (tmp_path / "typo").exists()

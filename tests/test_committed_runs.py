"""The committed run directories (results/): a run left unfinished must carry its checkpoint, or
a fresh clone (maybe on another machine) cannot resume it: re-running its command refuses, since
its results would be lost. `git add` skips a checkpoint that .gitignore excludes without a word;
this test is what notices on a fresh clone."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asyncrl import checkpoint

ROOT = Path(__file__).resolve().parents[1]

# Unfinished runs stopped for good, their checkpoints dropped on purpose (README, Results: the three
# Pong learning-rate draws whose networks died; they cannot learn again)
STOPPED_FOR_GOOD = {
    "results/runs_lr/a3c/pong/threads2-seed0-lr0.0059036",
    "results/runs_lr/a3c/pong/threads2-seed1-lr0.009912",
    "results/runs_lr/a3c/pong/threads2-seed2-lr0.0016134",
}


def committed_runs():
    for path in sorted((ROOT / "results").glob("**/summary.json")):
        yield path.parent.relative_to(ROOT).as_posix(), json.loads(path.read_text())


def test_every_unfinished_committed_run_carries_its_checkpoint():
    runs = dict(committed_runs())
    assert runs, "no committed run directories found"
    unfinished = {d for d, s in runs.items() if s.get("status") != "completed"}
    missing = sorted(d for d in unfinished - STOPPED_FOR_GOOD if not (ROOT / d / "checkpoint.pt").is_file())
    assert not missing, f"unfinished runs without checkpoint.pt (commit it: see .gitignore): {missing}"
    assert STOPPED_FOR_GOOD <= set(runs)  # a stale entry here would hide nothing, but says the list is wrong


def shipped_models():
    """Completed committed runs that keep their checkpoint: a shipped model (scripts/ship_model.py)."""
    return [d for d, s in committed_runs() if s.get("status") == "completed" and (ROOT / d / "checkpoint.pt").is_file()]


def test_the_shipped_models_are_committed():
    """The two shipped Pong models: the 50M-frame run's and the 80M-frame run's, shipped to play the
    argmax of pi (19.97 in 30 games; README, Results)."""
    shipped = shipped_models()
    assert {"results/runs/a3c/pong/threads2-seed0", "results/runs/a3c/pong/threads2-seed1"} <= set(shipped)
    ckpt = checkpoint.load(ROOT / "results/runs/a3c/pong/threads2-seed1/checkpoint.pt")
    assert ckpt["eval_sample"] is False and ckpt["stats"] is None and ckpt["frames"] == 80_000_000


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "results").glob("**/checkpoint.pt")))
def test_every_committed_checkpoint_is_plain_data_that_fits_its_run(path):
    """Each committed checkpoint loads weights-only (asyncrl.checkpoint), with its tensors the same
    as a full unpickling gives, and fits the network its run's config.yaml builds: a shipped model
    holds no optimizer statistics, a run in progress one shared statistic per parameter."""
    import torch
    from omegaconf import OmegaConf

    from asyncrl.runtime.model import build_model

    ck = checkpoint.load(ROOT / path)
    full = torch.load(ROOT / path, map_location="cpu", weights_only=False)  # a file of this repository
    assert ck["model"].keys() == full["model"].keys()
    assert all(torch.equal(ck["model"][k], full["model"][k]) for k in full["model"])
    cfg = OmegaConf.load((ROOT / path).parent / "config.yaml")
    _, _, net = build_model(cfg)
    stats = list(net.parameters()) if ck.get("stats") else []  # shaped as the statistics must be
    checkpoint.check_fits(ck, ROOT / path, net, stats=stats, optimizer=cfg.method.optimizer)


def preset_runs():
    """Committed runs an experiment preset made (+experiment=... in their command), except those
    stopped for good (never run again)."""
    from omegaconf import OmegaConf

    return [d for d, _ in committed_runs() if d not in STOPPED_FOR_GOOD
            and any(o.startswith("+experiment=") for o in OmegaConf.load(ROOT / d / ".hydra" / "overrides.yaml"))]


@pytest.mark.parametrize("run", preset_runs())
def test_the_command_of_a_committed_preset_run_is_the_same_run(compose_cfg, run):
    """Re-running the command that made a committed preset run (its .hydra/overrides.yaml) resumes
    or skips it: the config the command composes defines the same run as the saved config.yaml."""
    from omegaconf import OmegaConf

    from asyncrl.config import identity_differences

    overrides = [o for o in OmegaConf.load(ROOT / run / ".hydra" / "overrides.yaml") if not o.startswith("hydra")]
    current = OmegaConf.to_container(compose_cfg(*overrides), resolve=True)
    saved = OmegaConf.to_container(OmegaConf.load(ROOT / run / "config.yaml"))
    assert identity_differences(saved, current) == []


@pytest.mark.slow
@pytest.mark.parametrize("run", shipped_models())
def test_a_shipped_model_plays_its_game_with_no_training(tmp_path, run):
    """scripts/evaluate.py plays the committed model as a fresh clone has it, one whole game, on a copy
    of its directory (evaluate.py appends to summary.json), with the policy it was shipped with. A Pong
    model that had not learned loses -21 to -19; in their 30-game evaluations the 50M run's model
    (drawing from pi) scored 2 to 21 and the 80M run's (argmax of pi) 19 to 21: no game lost."""
    copy = tmp_path / "run"
    shutil.copytree(ROOT / run, copy)
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "evaluate.py"), str(copy), "episodes=1"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    last = json.loads((copy / "summary.json").read_text())["evals"][-1]
    assert last["source"] == "evaluate.py" and last["episodes"] == 1
    assert last["mean"] > 0, f"{run}: the shipped model lost its game ({last['mean']})"

"""The run-directory state machine (asyncrl.rundir), state by state: what a command does with the
directory it is given, and that every refusal leaves the directory as it was."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from asyncrl import checkpoint as ckpt_file
from asyncrl import rundir
from asyncrl.errors import ConfigError
from asyncrl.rundir import RunDirError

METRICS = "frames,score\n500,1.0\n1000,2.0\n1500,3.0\n"
EPISODES = "frames,return\n400,1.0\n900,2.0\n1400,3.0\n"


@pytest.fixture
def make_cfg(compose_cfg):
    def _make(*overrides):
        return compose_cfg("threads=1", "seed=0", "total_frames=4000", "checkpoint.interval_frames=1000", *overrides)

    return _make


def _write_run(run_dir: Path, cfg, summary: dict, checkpoint_frames=None, stats=True) -> None:
    """A run directory as a previous command left it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "metrics.csv").write_text(METRICS)
    (run_dir / "episodes.csv").write_text(EPISODES)
    if checkpoint_frames is not None:
        ckpt_file.save(run_dir / "checkpoint.pt", {"model": {"w": torch.zeros(2)}, "frames": checkpoint_frames,
                                                   "wall_time_s": 1.0, "config": OmegaConf.to_container(cfg, resolve=True),
                                                   "stats": [torch.ones(2)] if stats else None})


def _files(run_dir: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file()}


def test_an_empty_directory_starts_afresh_and_gets_its_config(tmp_path, make_cfg):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    with rundir.locked(run_dir):
        plan = rundir.plan(cfg, run_dir)
        assert (plan.skip, plan.previous, plan.checkpoint) == (False, None, None)
        rundir.start(cfg, run_dir, plan.checkpoint)
    assert OmegaConf.load(run_dir / "config.yaml") == OmegaConf.create(OmegaConf.to_yaml(cfg, resolve=True))
    assert sorted(_files(run_dir)) == ["config.yaml"]  # the lock file went with the lock


def test_resume_false_deletes_the_previous_results_even_of_a_completed_run(tmp_path, make_cfg):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    _write_run(run_dir, cfg, {"status": "completed", "frames": 4000}, checkpoint_frames=4000)
    cfg = make_cfg("resume=false")
    plan = rundir.plan(cfg, run_dir)
    assert (plan.skip, plan.checkpoint) == (False, None)
    rundir.start(cfg, run_dir, plan.checkpoint)
    assert sorted(_files(run_dir)) == ["config.yaml"]


def test_an_interrupted_run_resumes_from_its_checkpoint_with_later_rows_cut(tmp_path, make_cfg):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    _write_run(run_dir, cfg, {"status": "interrupted", "frames": 1500}, checkpoint_frames=1000)
    plan = rundir.plan(cfg, run_dir)
    assert not plan.skip and plan.checkpoint["frames"] == 1000
    assert torch.equal(plan.checkpoint["model"]["w"], torch.zeros(2))
    rundir.start(cfg, run_dir, plan.checkpoint)
    # rows logged after the checkpoint are replayed by the resumed run: kept, they would count twice
    assert (run_dir / "metrics.csv").read_text() == "frames,score\n500,1.0\n1000,2.0\n"
    assert (run_dir / "episodes.csv").read_text() == "frames,return\n400,1.0\n900,2.0\n"
    assert (run_dir / "checkpoint.pt").exists() and (run_dir / "summary.json").exists()


def test_a_completed_run_is_skipped_and_left_as_it_was(tmp_path, make_cfg, capsys):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    summary = {"status": "completed", "frames": 4000, "final_score": 9.5}
    _write_run(run_dir, cfg, summary, checkpoint_frames=4000)
    before = _files(run_dir)
    plan = rundir.plan(cfg, run_dir)
    assert plan.skip and plan.previous == summary
    assert _files(run_dir) == before
    assert capsys.readouterr().out == f"[asyncrl] {run_dir} is already completed; skipping (resume=false starts afresh)\n"


def test_another_runs_directory_is_refused_untouched(tmp_path, make_cfg):
    run_dir = tmp_path / "run"
    _write_run(run_dir, make_cfg("seed=1"), {"status": "interrupted", "frames": 1500}, checkpoint_frames=1000)
    before = _files(run_dir)
    with pytest.raises(RunDirError, match=re.escape(
            f"{run_dir} holds another run (seed: 1 -> 0): resume=false starts it afresh, "
            "or give this run its own directory")):
        rundir.plan(make_cfg(), run_dir)
    assert _files(run_dir) == before


def test_another_run_is_recognised_by_its_checkpoint_when_config_yaml_is_gone(tmp_path, make_cfg):
    run_dir = tmp_path / "run"
    _write_run(run_dir, make_cfg("seed=1"), {"status": "interrupted", "frames": 1500}, checkpoint_frames=1000)
    (run_dir / "config.yaml").unlink()
    with pytest.raises(RunDirError, match=r"holds another run \(seed: 1 -> 0\)"):
        rundir.plan(make_cfg(), run_dir)


@pytest.mark.parametrize("status,frames", [("interrupted", 500), ("failed", 1000), ("failed", 3000)])
def test_results_without_their_checkpoint_are_refused_not_deleted(tmp_path, make_cfg, status, frames):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    _write_run(run_dir, cfg, {"status": status, "frames": frames})
    before = _files(run_dir)
    with pytest.raises(RunDirError, match=re.escape(
            f"{run_dir} has results to {frames:,} frames but no checkpoint.pt to resume them from: "
            "resume=false deletes them and starts afresh, or give this run its own directory")):
        rundir.plan(cfg, run_dir)
    assert _files(run_dir) == before


def test_a_run_that_failed_before_its_first_checkpoint_starts_afresh(tmp_path, make_cfg):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    _write_run(run_dir, cfg, {"status": "failed", "frames": 999})
    plan = rundir.plan(cfg, run_dir)
    assert (plan.skip, plan.checkpoint) == (False, None)
    rundir.start(cfg, run_dir, plan.checkpoint)
    assert sorted(_files(run_dir)) == ["config.yaml"]


def _stopped_at_score(run_dir, cfg, checkpoint_frames=2000, stats=True):
    summary = {"status": "completed", "frames": 2000,
               "stopped_at_score": {"stop_at_score": 18, "mean": 18.5, "frames": 2000}}
    _write_run(run_dir, cfg, summary, checkpoint_frames=checkpoint_frames, stats=stats)


@pytest.mark.parametrize("wanted,trains_on", [(None, False), (18, False), (18.5, False), (19, True)])
def test_a_run_stopped_at_a_score_trains_on_only_for_a_higher_one(tmp_path, make_cfg, capsys, wanted, trains_on):
    run_dir = tmp_path / "run"
    _stopped_at_score(run_dir, make_cfg("stop_at_score=18"))
    cfg = make_cfg(f"stop_at_score={'null' if wanted is None else wanted}")
    plan = rundir.plan(cfg, run_dir)
    assert plan.skip is not trains_on
    if trains_on:
        assert plan.checkpoint["frames"] == 2000
        assert capsys.readouterr().out == (f"[asyncrl] {run_dir} reached 18.50 at 2,000 frames; "
                                           "training on to stop_at_score=19\n")


@pytest.mark.parametrize("checkpoint", ["none", "shipped"])
def test_a_run_stopped_at_a_score_without_a_checkpoint_to_train_from_cannot_train_on(tmp_path, make_cfg, checkpoint):
    """No checkpoint, or a shipped model's: weights without the shared RMSProp statistics."""
    run_dir = tmp_path / "run"
    _stopped_at_score(run_dir, make_cfg("stop_at_score=18"), checkpoint_frames=None if checkpoint == "none" else 2000,
                      stats=False)
    with pytest.raises(RunDirError, match=re.escape(
            f"{run_dir} ended at stop_at_score=18 and its checkpoint no longer holds what training needs "
            "(a shipped model): it cannot train further")):
        rundir.plan(make_cfg("stop_at_score=19"), run_dir)


def test_a_damaged_checkpoint_is_refused_untouched(tmp_path, make_cfg):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    _write_run(run_dir, cfg, {"status": "interrupted", "frames": 1500})
    (run_dir / "checkpoint.pt").write_bytes(b"")
    before = _files(run_dir)
    with pytest.raises(RunDirError, match=re.escape(
            f"{run_dir / 'checkpoint.pt'}: is empty (0 bytes); {rundir.RESTORE_OR_AFRESH}")):
        rundir.plan(cfg, run_dir)
    assert _files(run_dir) == before


def test_a_locked_directory_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    with rundir.locked(run_dir):
        with pytest.raises(RunDirError):
            with rundir.locked(run_dir):
                pass
    with rundir.locked(run_dir):  # released: the next command takes it
        pass


def test_a_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"^output directory '.*/file/run' is not writable \(Not a directory\)$"):
        with rundir.locked(tmp_path / "file" / "run"):
            pass


def test_hydra_files_are_written_only_when_hydra_did_not_write_them(tmp_path, make_cfg):
    cfg, run_dir = make_cfg(), tmp_path / "run"
    run_dir.mkdir()
    hydra_cfg = OmegaConf.create({"output_subdir": None, "overrides": {"task": ["seed=0"]}})
    rundir.start(cfg, run_dir, None, hydra_cfg)
    assert OmegaConf.load(run_dir / ".hydra" / "overrides.yaml") == OmegaConf.create(["seed=0"])
    assert OmegaConf.load(run_dir / ".hydra" / "hydra.yaml").hydra.overrides.task == ["seed=0"]
    assert (run_dir / ".hydra" / "config.yaml").exists()
    other = tmp_path / "other"
    other.mkdir()
    rundir.start(cfg, other, None, OmegaConf.create({"output_subdir": ".hydra", "overrides": {"task": []}}))
    assert not (other / ".hydra").exists()

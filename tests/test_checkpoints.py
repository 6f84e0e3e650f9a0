"""checkpoint.pt read as plain data only, and every unusable one refused in one line.

A checkpoint crafted to run a command when unpickled, and every kind of damaged or foreign file,
is refused by the two readers a user runs on a run directory (the resume of the `asyncrl` command,
and scripts/evaluate.py): one line naming the file, the problem and the way out, exit code 2, the
command never run, and every file of the run directory byte for byte as it was."""

import dataclasses
import enum
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from asyncrl import checkpoint

ROOT = Path(__file__).resolve().parents[1]
BASE = ["env=toy", "threads=1", "total_frames=3000", "eval.episodes=1", "logger.progress=false"]


def run_cli(*args, cwd):
    from tests.test_cli import asyncrl_cmd

    return subprocess.run(asyncrl_cmd() + list(args), cwd=cwd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def run_evaluate(run_dir, cwd):
    return subprocess.run([sys.executable, str(ROOT / "scripts/evaluate.py"), str(run_dir), "episodes=1"],
                          cwd=cwd, capture_output=True, text=True, timeout=240)


class RunsACommand:
    """Unpickling this runs `touch <marker>` (what a malicious checkpoint would do with any command)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


def crafted(path: Path, marker: Path, good: dict) -> None:
    """A checkpoint of the right layout with one value that runs a command when loaded."""
    torch.save({**good, "evals": [RunsACommand(marker)]}, path)


def _other_network(path: Path, good: dict) -> None:
    model = dict(good["model"])
    name = next(iter(model))
    model[name] = torch.zeros(7, *model[name].shape[1:])
    torch.save({**good, "model": model}, path)


def _damaged(path: Path, good_bytes: bytes) -> None:
    mid = len(good_bytes) // 2
    path.write_bytes(good_bytes[:mid] + bytes(64) + good_bytes[mid + 64:])


# (case, how to make the file from the good one, what the line says)
CASES = [
    ("truncated", lambda p, b, ck: p.write_bytes(b[: len(b) // 2]), "is cut short or damaged"),
    ("zero-bytes", lambda p, b, ck: p.write_bytes(b""), "is empty (0 bytes)"),
    ("not-a-torch-file", lambda p, b, ck: p.write_text("model: weights\n" * 20), "is not a checkpoint"),
    ("damaged-bytes", lambda p, b, ck: _damaged(p, b), "fails its checksum"),
    ("another-layout", lambda p, b, ck: torch.save({"weights": ck["model"], "step": 5}, p),
     "is not in the layout this asyncrl reads (no 'model'; no 'frames'; no 'wall_time_s')"),
    ("another-network", lambda p, b, ck: _other_network(p, ck), "does not fit this run's network"),
    ("numpy-scalar", lambda p, b, ck: torch.save({**ck, "frames": np.int64(5)}, p),
     "holds a reference to numpy"),
]


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A toy run with a checkpoint that its command would resume (its summary says interrupted)."""
    cwd = tmp_path_factory.mktemp("interrupted")
    res = run_cli(*BASE, "hydra.run.dir=run", cwd=cwd)
    assert res.returncode == 0, res.stderr
    summary = cwd / "run/summary.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "status": "interrupted"}))
    return cwd / "run"


def files(run: Path) -> dict:
    return {str(f.relative_to(run)): f.read_bytes() for f in run.rglob("*") if f.is_file()}


def refused(res, prog: str, needles) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1, res.stdout + res.stderr
    assert lines[0].startswith(f"{prog}: error:") and "checkpoint.pt: " in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("reader", ["resume", "evaluate.py"])
@pytest.mark.parametrize("case,make,needle", CASES, ids=[c[0] for c in CASES])
def test_an_unusable_checkpoint_is_one_line_and_the_run_is_untouched(tmp_path, interrupted_run, reader, case, make,
                                                                    needle):
    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)
    good = checkpoint.load(run / "checkpoint.pt")
    make(run / "checkpoint.pt", (run / "checkpoint.pt").read_bytes(), good)
    before = files(run)
    if reader == "resume":
        refused(run_cli(*BASE, "hydra.run.dir=run", cwd=tmp_path), "asyncrl", [needle, "resume=false", "restore"])
    else:
        refused(run_evaluate(run, tmp_path), "evaluate.py", [needle, "restore"])
    assert files(run) == before


def test_the_crafted_checkpoint_runs_its_command_when_unpickled(tmp_path, interrupted_run):
    """The check that the next tests' file is a real attack: a plain (not weights-only) load runs it."""
    marker = tmp_path / "ran"
    crafted(tmp_path / "checkpoint.pt", marker, checkpoint.load(interrupted_run / "checkpoint.pt"))
    torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("reader", ["resume", "evaluate.py"])
def test_a_checkpoint_that_runs_a_command_is_refused_unrun(tmp_path, interrupted_run, reader):
    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)
    marker = tmp_path / "ran"
    crafted(run / "checkpoint.pt", marker, checkpoint.load(run / "checkpoint.pt"))
    before = files(run)
    if reader == "resume":
        res = run_cli(*BASE, "hydra.run.dir=run", cwd=tmp_path)
    else:
        res = run_evaluate(run, tmp_path)
    refused(res, "asyncrl" if reader == "resume" else "evaluate.py",
            ["holds a reference to posix.system", "nothing in it was run"])
    assert not marker.exists(), "the checkpoint's command ran"
    assert files(run) == before


def test_a_crafted_checkpoint_in_a_copy_of_a_committed_run_runs_nothing(tmp_path):
    """The committed Pong run, its checkpoint replaced: neither its command nor evaluate.py runs it."""
    src = ROOT / "results/runs/a3c/pong/threads2-seed0"
    run = tmp_path / "pong"
    shutil.copytree(src, run)
    marker = tmp_path / "ran"
    crafted(run / "checkpoint.pt", marker, checkpoint.load(src / "checkpoint.pt"))
    before = files(run)
    command = [o for o in (src / ".hydra/overrides.yaml").read_text().replace("- ", "").split() if "results_root" not in o]
    refused(run_cli(*command, f"hydra.run.dir={run}", cwd=tmp_path), "asyncrl", ["posix.system"])
    refused(run_evaluate(run, tmp_path), "evaluate.py", ["posix.system"])
    assert not marker.exists() and files(run) == before


class Kind(enum.IntEnum):
    A = 3


@dataclasses.dataclass
class Point:
    x: float
    tags: tuple


def test_save_writes_plain_data_that_loads_weights_only(tmp_path):
    """What the run hands `save` may hold numpy scalars, an OmegaConf node, a dataclass, an IntEnum:
    each is stored as its plain value, so the file loads weights-only with the same values."""
    from omegaconf import OmegaConf

    payload = {"model": {"w": torch.arange(3.0)}, "frames": np.int64(40), "wall_time_s": np.float32(1.5),
               "config": OmegaConf.create({"lr": 0.1, "sizes": [1, 2]}), "evals": [{"mean": np.float64(2.5)}],
               "point": Point(1.0, (Kind.A, Path("/x"))), "stats": [torch.ones(2)], "target": None}
    checkpoint.save(tmp_path / "c.pt", payload)
    ck = torch.load(tmp_path / "c.pt", weights_only=True)
    assert ck["frames"] == 40 and type(ck["frames"]) is int and ck["wall_time_s"] == 1.5
    assert ck["config"] == {"lr": 0.1, "sizes": [1, 2]} and type(ck["config"]) is dict
    assert ck["evals"] == [{"mean": 2.5}] and ck["point"] == {"x": 1.0, "tags": (3, "/x")}
    assert type(ck["point"]["tags"][0]) is int and torch.equal(ck["model"]["w"], torch.arange(3.0))
    assert checkpoint.load(tmp_path / "c.pt")["frames"] == 40


def test_save_hands_torch_copies_of_the_tensors_the_actor_learners_keep_writing(tmp_path, monkeypatch):
    """A periodic checkpoint is made while the actor-learners write the shared parameters and
    statistics; torch's zip writer reads a tensor twice (checksum, then bytes), so handing it the
    live storage can write a file whose checksums fail. `save` hands torch copies, taken once."""
    live = {"model": {"w": torch.arange(4.0)}, "stats": [torch.ones(3)], "frames": 1, "wall_time_s": 0.0}
    handed = []
    real_save = torch.save

    def spy(obj, f):
        handed.append(obj)
        return real_save(obj, f)

    monkeypatch.setattr(torch, "save", spy)
    checkpoint.save(tmp_path / "c.pt", live)
    (saved,) = handed
    for mine, theirs in [(live["model"]["w"], saved["model"]["w"]), (live["stats"][0], saved["stats"][0])]:
        assert torch.equal(mine, theirs) and theirs.untyped_storage().data_ptr() != mine.untyped_storage().data_ptr()
    assert checkpoint.load(tmp_path / "c.pt")["frames"] == 1


def test_save_refuses_a_value_with_no_plain_form(tmp_path):
    with pytest.raises(TypeError, match=r"checkpoint\['extra'\] is a .*object"):
        checkpoint.save(tmp_path / "c.pt", {"model": {"w": torch.ones(1)}, "extra": object()})
    assert not list(tmp_path.iterdir())

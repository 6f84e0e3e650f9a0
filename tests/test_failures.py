"""How a run fails: a full disk, and a child process that dies, each said in one line, with every
process gone and the run's checkpoint and summary whole."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_cli import _alive, _children, asyncrl_cmd, run_cli

ROOT = Path(__file__).resolve().parents[1]
LONG = ["env=toy", "threads=2", "total_frames=100000000", "logger.progress=false", "hydra.run.dir=run"]


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def _spawned(pid: int) -> list:
    """The processes the command spawned (actor-learners, the evaluation), not its resource tracker."""
    out = []
    for c in _children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes():
                out.append(c)
        except OSError:
            pass
    return out


def _start(cmd, cwd, ready, what):
    """Start `cmd` (output to files in cwd); return it once `ready(proc)` holds."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(cwd / "out", "w") as out, open(cwd / "err", "w") as err:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if ready(proc):
            return proc
        time.sleep(0.3)
    _end(proc)
    pytest.fail(f"{what} never happened: {(cwd / 'err').read_text()[-2000:]}")


def _end(proc) -> None:
    kids = _children(proc.pid)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pid in _alive(kids):
        os.kill(pid, signal.SIGKILL)


def _finish(proc, cwd, timeout=60):
    """Wait for the command to exit by itself (a bounded wait); its exit code, stdout, stderr lines."""
    kids = _spawned(proc.pid)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end(proc)
        pytest.fail(f"the command did not stop: {(cwd / 'out').read_text()[-1500:]}")
    deadline = time.time() + 10
    while _alive(kids) and time.time() < deadline:
        time.sleep(0.2)
    assert not _alive(kids), "a child process outlived the run"
    err = [ln for ln in (cwd / "err").read_text().splitlines() if ln.strip()]
    return proc.returncode, (cwd / "out").read_text(), err


@pytest.mark.slow
def test_a_full_disk_stops_the_run_in_one_line_with_its_checkpoint_whole(tmp_path):
    """ENOSPC on every write from some moment on (tests/disk_full.py): one line naming the file and
    what to do, exit 1, no process left, the last checkpoint and summary readable, no temporary
    file left; with space again, the same command resumes from that checkpoint."""
    from asyncrl import checkpoint

    full = tmp_path / "disk-is-full"
    run = tmp_path / "run"
    args = LONG + ["checkpoint.interval_frames=2000", "eval.episodes=1", "eval.interval_frames=5000",
                   "logger.interval_s=0.5"]
    cmd = [sys.executable, str(ROOT / "tests/disk_full.py"), str(full)] + args
    proc = _start(cmd, tmp_path, lambda p: len(_spawned(p.pid)) >= 2 and (run / "checkpoint.pt").exists(),
                  "a first checkpoint")
    full.touch()
    code, out, err = _finish(proc, tmp_path)
    assert code == 1 and len(err) == 1, "\n".join(err)
    assert re.fullmatch(r"\[asyncrl\] run FAILED: cannot write \S+/run/\S+: No space left on device; the run "
                        r"stopped with its last checkpoint.pt and summary.json as they were: free some space "
                        r"and the same command resumes it", err[0]), err[0]
    saved = checkpoint.load(run / "checkpoint.pt")
    assert saved["frames"] >= 2000
    assert json.loads((run / "summary.json").read_text())["status"] == "running"
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]

    full.unlink()
    again = _start(cmd, tmp_path, lambda p: "(resumed at" in (tmp_path / "out").read_text(), "the resume")
    again.send_signal(signal.SIGINT)
    code, out, _ = _finish(again, tmp_path)
    assert code == 130 and f"(resumed at {saved['frames']:,})" in out


@pytest.mark.slow
@pytest.mark.parametrize("who", ["actor-learner", "evaluation"])
def test_a_killed_child_fails_the_run_in_one_line(tmp_path, who):
    """SIGKILL to an actor-learner or to the evaluation process (the OOM killer's way): the run
    stops with the one `run FAILED` line on stderr and its summary on stdout, and no process left."""
    base = _nice(os.getpid())
    args = LONG + ["eval.episodes=1000000", "eval.interval_frames=1000", "eval.nice=5"]

    def target(proc):
        kids = _spawned(proc.pid)
        evaluation = [k for k in kids if _nice(k) == min(19, base + 5)]
        actors = [k for k in kids if k not in evaluation]
        if len(actors) == 2 and evaluation:
            return (actors if who == "actor-learner" else evaluation)[0]
        return None

    proc = _start(asyncrl_cmd() + args, tmp_path, target, "the evaluation process's start")
    os.kill(target(proc), signal.SIGKILL)
    code, out, err = _finish(proc, tmp_path)
    line = r"actor-learner-[01] exited with SIGKILL" if who == "actor-learner" else \
        r"the evaluation process exited with SIGKILL"
    assert code == 1 and len(err) == 1 and re.fullmatch(r"\[asyncrl\] run FAILED: " + line, err[0]), "\n".join(err)
    assert "[asyncrl] failed: " in out
    assert json.loads((tmp_path / "run/summary.json").read_text())["status"] == "failed"


def test_a_childs_traceback_is_shown_once_in_full(tmp_path):
    """A bug in an actor-learner (an exception): its whole traceback, once, in the failure line."""
    res = run_cli("env=toy", "threads=2", "total_frames=3000", "eval.episodes=0", "logger.progress=false",
                  "method.name=tests.fakes:RaisingMethod", "hydra.run.dir=run", cwd=tmp_path)
    assert res.returncode == 1, res.stderr
    assert res.stderr.startswith("[asyncrl] run FAILED: actor-learner 0 raised:\nTraceback (most recent call last):")
    assert res.stderr.count("Traceback") == 1 and "Process actor-learner" not in res.stderr
    assert 'in loss\n    raise RuntimeError("fake failure in the loss")\nRuntimeError: fake failure in the loss' in res.stderr


def test_the_evaluation_process_ends_quietly_when_the_trainer_closes_its_pipe(tmp_path):
    """The trainer ending the run closes the evaluation process's pipe: the process exits 0 without
    a word (no `Process evaluation:` traceback under the run's failure line)."""
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import torch.multiprocessing as mp
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
import asyncrl.config
from asyncrl.runtime.evaluations import evaluation_process
from asyncrl.runtime.model import build_model

with initialize_config_dir(config_dir={str(ROOT / 'conf')!r}, version_base="1.3"):
    cfg = compose("config", overrides=["env=toy"])
ctx = mp.get_context("spawn")
conn, child = ctx.Pipe()
proc = ctx.Process(target=evaluation_process, name="evaluation", args=(OmegaConf.to_container(cfg, resolve=True), child))
proc.start()
child.close()
conn.send((build_model(cfg)[2].state_dict(), 1))
conn.recv()  # one evaluation played: the process waits for the next task
conn.close()
proc.join(60)
print("exitcode", proc.exitcode)
"""
    res = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert res.stdout.strip().endswith("exitcode 0"), res.stdout + res.stderr
    assert "Traceback" not in res.stderr and "Process evaluation" not in res.stderr, res.stderr

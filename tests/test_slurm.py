"""The SLURM launcher against a real SLURM: a 2-job sweep through hydra/launcher=asyncrl_slurm,
in which one job gets the time-limit signal (USR2) mid-run and the other an `scontrol requeue`
(SIGTERM, as on preemption); both are requeued, resume from their checkpoints and complete, and the
command waits for them and exits 0.

Runs when a SLURM answers on this machine (`tools/slurm_local.sh up` starts a single-node one;
docs/sweeps.md, "A local SLURM"); skips with the reason otherwise, in well under a second when no
SLURM is installed. The run directories are under pytest's tmp_path, which the node must see (true
for the local SLURM). ASYNCRL_SLURM_PARTITION picks a partition (default: SLURM's default one).
Every wait is bounded and the test cancels its jobs (by their unique name) however it ends.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("sinfo", "squeue", "sbatch", "scancel", "scontrol")
USABLE = {"idle", "mixed", "allocated", "completing"}  # node states in which a job can start soon


def _sh(*args, timeout=20) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def slurm_partition() -> str:
    """The partition to submit to, or a skip that says why there is none."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher is not installed")
    hint = "tools/slurm_local.sh up starts a local one"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} not found); {hint}")
    for probe in (["scontrol", "ping"], ["sinfo", "-h", "-o", "%P|%a|%T"]):  # ping: one try, no retries
        try:
            res = _sh(*probe, timeout=15)
        except subprocess.TimeoutExpired:
            pytest.skip(f"SLURM is not up ({probe[0]} did not answer within 15 s); {hint}")
        if res.returncode != 0:
            lines = [ln.strip() for ln in (res.stdout + res.stderr).splitlines() if ln.strip(" *")]
            why = next((ln for ln in lines if "DOWN" in ln or "fatal" in ln), lines[-1] if lines else "")
            pytest.skip(f"SLURM is not up ({why or probe[0] + ' failed'}); {hint}")
    parts = {}
    default = None
    for line in res.stdout.split():
        name, avail, state = line.split("|")
        if name.endswith("*"):
            name = name[:-1]
            default = name
        if avail == "up" and state in USABLE:  # a suffix (idle*, ...) means not responding or powering
            parts[name] = True
    wanted = os.environ.get("ASYNCRL_SLURM_PARTITION") or default
    if not wanted or wanted not in parts:
        pytest.skip(f"SLURM has no usable node in partition {wanted or '(no default partition)'} "
                    f"(sinfo: {' '.join(res.stdout.split())}); {hint}")
    return wanted


def _rows(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _frames(path: Path):
    try:
        return [int(r["frames"]) for r in _rows(path)]
    except (OSError, ValueError, KeyError):
        return []


def _summary(run_dir: Path) -> dict:
    import json

    return json.loads((run_dir / "summary.json").read_text())


def _job_state(job_id: str) -> tuple:
    """(state, reason) of a job in squeue, ("", "") once it left the queue."""
    res = _sh("squeue", "-h", "-j", job_id, "-o", "%T|%r")
    line = res.stdout.strip().splitlines()[:1]
    return tuple(line[0].split("|", 1)) if line and "|" in line[0] else ("", "")


def _wait(pred, timeout: float, what: str, proc=None, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"the sweep command ended (exit {proc.returncode}) while waiting for {what}:\n{out}\n{err}")
        time.sleep(step)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_slurm_sweep_with_requeued_jobs_that_resume_and_complete(tmp_path, slurm_partition):
    total, interval = 10000, 500
    root = tmp_path / "runs"
    name = f"asyncrl-pytest-{uuid.uuid4().hex[:8]}"  # every job of this test, to cancel them in any case
    cmd = [sys.executable, "-m", "asyncrl", "-m", "env=toy", "method=a3c", "threads=1", "seed=0,1",
           f"total_frames={total}", f"checkpoint.interval_frames={interval}", "eval.episodes=1",
           "logger.interval_s=0.3", "logger.progress=false", f"results_root={root}",
           "hydra/launcher=asyncrl_slurm", f"hydra.launcher.partition={slurm_partition}",
           "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1", "hydra.launcher.timeout_min=5",
           f"hydra.launcher.name={name}"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    runs = {s: root / "a3c" / "toy" / f"threads1-seed{s}" for s in (0, 1)}
    # seed 0: the signal SLURM sends signal_delay_s before the time limit (sbatch --signal=USR2@120),
    # on which submitit requeues the job; seed 1: `scontrol requeue` from outside (preemption), SIGTERM
    how = {0: ("scancel", "--signal=USR2"), 1: ("scontrol", "requeue")}
    jobs, queued = {}, ""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        from omegaconf import OmegaConf

        # 1. each job trains under SLURM past two checkpoints, well before the end of its budget,
        #    and then gets its signal (each as soon as it is there: the two run side by side)
        def mid_run(run):
            f = _frames(run / "metrics.csv")
            return (run / "checkpoint.pt").exists() and f and 2 * interval <= f[-1] <= total - 3000

        def signal_ready():
            nonlocal queued
            for s in sorted(set(runs) - set(jobs)):
                if mid_run(runs[s]):
                    job_id = str(OmegaConf.load(runs[s] / ".hydra" / "hydra.yaml").hydra.job.id)  # the launcher's
                    queued += _sh("squeue", "-j", job_id, "-o", "%.10i %.9P %.22j %.2t %.8M %.9l %.4C %R").stdout
                    fields = _sh("squeue", "-h", "-j", job_id, "-o", "%P|%C|%l|%j").stdout.strip()
                    assert fields == f"{slurm_partition}|1|5:00|{name}", queued  # the overrides reached sbatch
                    res = _sh(*how[s], job_id)
                    assert res.returncode == 0, (how[s], res.stderr)
                    jobs[s] = job_id
            return len(jobs) == len(runs)

        _wait(signal_ready, 150, "both jobs to train past their second checkpoint", proc)

        # 2. both jobs leave the node, requeued; each has its checkpoint at the T where it stopped
        from asyncrl import checkpoint

        T, before = {}, {}
        for s, job_id in jobs.items():
            _wait(lambda: _job_state(job_id)[0] == "PENDING", 90, f"job {job_id} to be requeued", step=0.2)
            T[s] = int(checkpoint.load(runs[s] / "checkpoint.pt")["frames"])
            assert interval <= T[s] < total
            assert _summary(runs[s])["status"] != "completed"
            before[s] = _rows(runs[s] / "metrics.csv"), _rows(runs[s] / "episodes.csv")
        for job_id in jobs.values():
            # SLURM holds a requeued batch job for about 2 minutes (reason BeginTime); let it go now
            _sh("scontrol", "update", f"JobId={job_id}", "StartTime=now")

        # 3. the command waits for the requeued jobs as well, and exits 0
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep command did not end within 240 s of the requeues; squeue:\n{_sh('squeue').stdout}")
        elapsed = time.monotonic() - t0
        # the command has its results as soon as the result files exist; the jobs end a moment later
        _wait(lambda: not _sh("squeue", "-h", f"--name={name}").stdout.strip(), 240, "the jobs to leave the queue")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        subprocess.run(["scancel", f"--name={name}"], capture_output=True, timeout=20)

    # neither requeue is a failure of the command: SLURM reruns the jobs, and the reruns' results count
    assert proc.returncode == 0, out + err
    assert "did not complete" not in err
    for s, run_dir in runs.items():
        summary = _summary(run_dir)
        assert summary["status"] == "completed" and summary["frames"] == total, (run_dir, summary["status"], summary["frames"])
        log = (root / ".submitit" / jobs[s] / f"{jobs[s]}_0_log.out").read_text()
        assert f"(resumed at {T[s]:,})" in log, log[-3000:]
        if s == 0:
            assert "Caught signal SIGUSR2" in log and "Requeued job" in log

        # T continues from the checkpoint; rows up to it survive untouched; nothing is logged twice
        before_metrics, before_episodes = before[s]
        metrics = _rows(run_dir / "metrics.csv")
        frames = [int(r["frames"]) for r in metrics]
        assert frames == sorted(set(frames)), "duplicate or out-of-order frames in metrics.csv"
        kept = [r for r in before_metrics if int(r["frames"]) <= T[s]]
        assert metrics[: len(kept)] == kept
        assert metrics[len(kept):] and all(f > T[s] for f in frames[len(kept):]) and frames[-1] == total
        episodes = _rows(run_dir / "episodes.csv")
        ep_frames = [int(r["frames"]) for r in episodes]
        assert len(ep_frames) == len(set(ep_frames)), "an episode was logged twice"
        kept_ep = [r for r in before_episodes if int(r["frames"]) <= T[s]]
        assert episodes[: len(kept_ep)] == kept_ep and max(ep_frames) <= total

        # SLURM's own record, where accounting is on: the job ran twice, requeued and then completed
        # (slurmdbd records a job's end a moment after the job has left the queue)
        def states():
            acct = _sh("sacct", "--duplicates", "-X", "-n", "-P", "-j", jobs[s], "-o", "JobID,State")
            return [line.split("|")[1] for line in acct.stdout.strip().splitlines()] if acct.returncode == 0 else []

        if states():
            _wait(lambda: states()[-1] == "COMPLETED", 30, f"sacct to record job {jobs[s]} as COMPLETED", step=1)
            assert states()[0] == "REQUEUED", states()

    tables = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_tables.py"), "--runs", str(root),
                             "--out", str(tmp_path / "report")], capture_output=True, text=True, timeout=180)
    assert tables.returncode == 0, tables.stderr
    assert "2 runs read (2 completed" in tables.stdout

    array = jobs[0].split("_")[0]
    print(f"\nsweep + 2 requeues in {elapsed:.0f} s; job {jobs[0]} (USR2) at T={T[0]:,}, "
          f"job {jobs[1]} (scontrol requeue) at T={T[1]:,}")
    print(queued, end="")
    print(_sh("sacct", "--duplicates", "-j", array, "-o", "JobID%-10,JobName%22,Partition,AllocCPUS,State,ExitCode,Elapsed").stdout)


def _largest_node(partition: str) -> tuple:
    """(CPUs, memory in MB) of the partition's largest node, from sinfo."""
    out = _sh("sinfo", "-h", "-N", "-p", partition, "-o", "%c|%m").stdout.split()
    return max(tuple(int("".join(c for c in f if c.isdigit())) for f in line.split("|")) for line in out)


def _refused_sweep(tmp_path, partition, *overrides, path=None) -> tuple:
    """A two-job toy sweep on SLURM that cannot start: (result, its jobs in squeue afterwards)."""
    name = f"asyncrl-pytest-{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, PYTHONPATH=str(ROOT), PATH=path or os.environ["PATH"])
    cmd = [sys.executable, "-m", "asyncrl", "-m", "env=toy", "threads=1", "seed=0,1", "total_frames=500",
           f"results_root={tmp_path / 'runs'}", "hydra/launcher=asyncrl_slurm", f"hydra.launcher.partition={partition}",
           f"hydra.launcher.name={name}", *overrides]
    try:
        res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    finally:
        left = _sh("squeue", "-h", "-n", name, "-o", "%i").stdout.split()
        _sh("scancel", "-n", name)
    return res, left


def test_a_request_no_node_has_is_refused_before_submitting(tmp_path, slurm_partition):
    """The launcher's default request (16 CPUs, 32 GB; more where the nodes are larger) on the
    partition: one line within the minute, exit 2, no job submitted."""
    cpus, mem_mb = _largest_node(slurm_partition)
    res, left = _refused_sweep(tmp_path, slurm_partition, f"hydra.launcher.cpus_per_task={max(16, cpus + 1)}")
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("asyncrl:") or "Traceback" in ln]
    assert res.returncode == 2 and len(lines) == 1, res.stdout + res.stderr
    assert f"has {cpus} CPUs" in lines[0] and "hydra.launcher.cpus_per_task" in lines[0], lines[0]
    assert not left


def test_a_job_slurm_keeps_pending_for_ever_stops_the_sweep(tmp_path, slurm_partition):
    """A request the partition can never run, past the check before submitting (an `sinfo` on PATH
    that claims a node of 4096 CPUs): SLURM keeps the jobs pending (PartitionConfig); the command
    cancels them and stops with one line within the minute."""
    cpus, _ = _largest_node(slurm_partition)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "sinfo").write_text(f"#!/bin/sh\necho 'big|{slurm_partition}|4096|99999999'\n")
    (fake / "sinfo").chmod(0o755)
    res, left = _refused_sweep(tmp_path, slurm_partition, f"hydra.launcher.cpus_per_task={cpus + 1}",
                               "hydra.launcher.mem_gb=1", path=f"{fake}:{os.environ['PATH']}")
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("asyncrl:") or "Traceback" in ln]
    assert res.returncode == 2 and len(lines) == 1, res.stdout + res.stderr
    assert "is pending for a reason that cannot clear (PartitionConfig)" in lines[0], lines[0]
    assert not left

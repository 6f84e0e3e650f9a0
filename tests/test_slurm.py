"""The SLURM launcher against a real SLURM: a 2-job sweep through hydra/launcher=asyncrl_slurm,
one of whose jobs gets the time-limit signal mid-run, is requeued, resumes from its checkpoint and
completes, and the command waits for it and exits 0. When the requeue's SIGTERM wins a known race
(docs/sweeps.md, "Time limit"), the command reports that job as failed: the test then still checks
the run directories and ends as an expected failure (xfail) that names the race.

Runs when a SLURM answers on this machine (`scripts/slurm_local.sh up` starts a single-node one;
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
    hint = "scripts/slurm_local.sh up starts a local one"
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


def test_slurm_sweep_with_a_timed_out_job_that_is_requeued_and_resumes(tmp_path, slurm_partition):
    total, interval = 6000, 500
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
    run0, run1 = (root / "a3c" / "toy" / f"threads1-seed{s}" for s in (0, 1))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        # 1. seed 0 trains under SLURM: past two checkpoints, well before the end of its budget
        def mid_run():
            f = _frames(run0 / "metrics.csv")
            return (run0 / "checkpoint.pt").exists() and f and 2 * interval <= f[-1] <= total - 2000

        _wait(mid_run, 150, "job seed=0 to train past its second checkpoint", proc)
        from omegaconf import OmegaConf

        job_id = str(OmegaConf.load(run0 / ".hydra" / "hydra.yaml").hydra.job.id)  # set by the launcher
        queued = _sh("squeue", "-j", job_id, "-o", "%.10i %.9P %.22j %.2t %.8M %.9l %.4C %R").stdout
        fields = _sh("squeue", "-h", "-j", job_id, "-o", "%P|%C|%l|%j").stdout.strip()
        assert fields == f"{slurm_partition}|1|5:00|{name}", queued  # the overrides reached sbatch

        # 2. the signal SLURM sends signal_delay_s before the time limit (sbatch --signal=USR2@120):
        #    submitit requeues the job and it leaves the node
        assert _sh("scancel", "--signal=USR2", job_id).returncode == 0
        _wait(lambda: _job_state(job_id)[0] == "PENDING", 90, f"job {job_id} to be requeued", step=0.2)
        import torch

        ck = torch.load(run0 / "checkpoint.pt", map_location="cpu", weights_only=False)
        T = int(ck["frames"])
        assert interval <= T < total
        assert _summary(run0)["status"] != "completed"
        before_metrics, before_episodes = _rows(run0 / "metrics.csv"), _rows(run0 / "episodes.csv")
        # SLURM holds a requeued batch job for about 2 minutes (reason BeginTime); let it go now
        _sh("scontrol", "update", f"JobId={job_id}", "StartTime=now")

        # 3. the command waits for the requeued job as well, and exits 0
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the sweep command did not end within 240 s of the requeue; squeue:\n{_sh('squeue').stdout}")
        elapsed = time.monotonic() - t0
        # the command has its results as soon as the result files exist; the jobs end a moment later
        # (and after the race below, the requeued job still has to run)
        _wait(lambda: not _sh("squeue", "-h", f"--name={name}").stdout.strip(), 240, "the jobs to leave the queue")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        subprocess.run(["scancel", f"--name={name}"], capture_output=True, timeout=20)

    # A known race (docs/sweeps.md, "Time limit"): `scontrol requeue`, which submitit's USR2 handler
    # runs, makes SLURM send the job SIGTERM at once; when the trainer's SIGTERM handler runs before
    # submitit's handler has exited the process, the run stops as `interrupted` and the job returns
    # a result, which the command reports as a failed job, while SLURM reruns it all the same.
    raced = proc.returncode == 1 and "interrupted" in err
    if not raced:
        assert proc.returncode == 0, out + err
        assert "did not complete" not in err
    for run_dir in (run0, run1):
        s = _summary(run_dir)
        assert s["status"] == "completed" and s["frames"] == total, (run_dir, s["status"], s["frames"])
    log = (root / ".submitit" / job_id / f"{job_id}_0_log.out").read_text()
    assert "Caught signal SIGUSR2" in log and f"(resumed at {T:,})" in log

    # T continues from the checkpoint; rows up to it survive untouched; nothing is logged twice
    metrics = _rows(run0 / "metrics.csv")
    frames = [int(r["frames"]) for r in metrics]
    assert frames == sorted(set(frames)), "duplicate or out-of-order frames in metrics.csv"
    kept = [r for r in before_metrics if int(r["frames"]) <= T]
    assert metrics[: len(kept)] == kept
    assert metrics[len(kept):] and all(f > T for f in frames[len(kept):]) and frames[-1] == total
    episodes = _rows(run0 / "episodes.csv")
    ep_frames = [int(r["frames"]) for r in episodes]
    assert len(ep_frames) == len(set(ep_frames)), "an episode was logged twice"
    kept_ep = [r for r in before_episodes if int(r["frames"]) <= T]
    assert episodes[: len(kept_ep)] == kept_ep and max(ep_frames) <= total

    # SLURM's own record, where accounting is on: the job ran twice, requeued and then completed
    # (slurmdbd records a job's end a moment after the job has left the queue)
    def states():
        acct = _sh("sacct", "--duplicates", "-X", "-n", "-P", "-j", job_id, "-o", "JobID,State")
        return [line.split("|")[1] for line in acct.stdout.strip().splitlines()] if acct.returncode == 0 else []

    if states():
        _wait(lambda: states()[-1] == "COMPLETED", 30, f"sacct to record job {job_id} as COMPLETED", step=1)
        assert states()[0] == "REQUEUED", states()

    tables = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_tables.py"), "--runs", str(root),
                             "--out", str(tmp_path / "report")], capture_output=True, text=True, timeout=180)
    assert tables.returncode == 0, tables.stderr
    assert "2 runs read (2 completed" in tables.stdout

    array = job_id.split("_")[0]
    print(f"\nsweep + requeue in {elapsed:.0f} s; job {job_id} requeued at checkpoint T={T:,}")
    print(queued, end="")
    print(_sh("sacct", "--duplicates", "-j", array, "-o", "JobID%-10,JobName%22,Partition,AllocCPUS,State,ExitCode,Elapsed").stdout)
    if raced:
        pytest.xfail("the run resumed and completed, but the command reported the requeued job as failed "
                     "(SLURM's SIGTERM reached the run before submitit's USR2 handler exited it; docs/sweeps.md)")

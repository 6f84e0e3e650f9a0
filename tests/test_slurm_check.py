"""A SLURM sweep that can never start is refused (asyncrl/slurm_check.py), against a fake SLURM:
`sinfo`, `sbatch`, `squeue`, `sacct` and `scancel` scripts on PATH that answer from files and
record how they were called. The real-SLURM sweep is tests/test_slurm.py."""

import os
import subprocess
from pathlib import Path

import pytest

from tests.test_cli import asyncrl_cmd

ROOT = Path(__file__).resolve().parents[1]
JOB = "4242"
FAKES = {
    "sinfo": 'echo "sinfo $*" >> "$FAKE/calls"; cat "$FAKE/nodes"',
    "sbatch": 'echo "sbatch $*" >> "$FAKE/calls"; echo "$1" > "$FAKE/script"; echo "Submitted batch job 4242"',
    # the sweep's two jobs, pending for the reason in $FAKE/reason, until scancel; and someone else's
    "squeue": 'echo "squeue $*" >> "$FAKE/calls"; [ -e "$FAKE/cancelled" ] || [ ! -e "$FAKE/script" ] || '
              'echo "4242_[0-1]|PENDING|$(cat "$FAKE/reason")|$PWD|$(cat "$FAKE/script")"; '
              'echo "77|PENDING|PartitionConfig|/elsewhere|/elsewhere/.submitit/job.sh"',
    "sacct": 'echo "JobID|State|NodeList"; [ -e "$FAKE/script" ] && echo "4242_[0-1]|PENDING|None assigned"; true',
    "scancel": 'echo "scancel $*" >> "$FAKE/calls"; touch "$FAKE/cancelled"',
}
SWEEP = ["-m", "hydra/launcher=asyncrl_slurm", "env=toy", "total_frames=500", "seed=0,1", "results_root=runs"]
NODE_SIZED = ["threads=2", "hydra.launcher.cpus_per_task=2", "hydra.launcher.mem_gb=4"]


@pytest.fixture
def fake_slurm(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="hydra-submitit-launcher is not installed")
    state, bin_dir = tmp_path / "fake", tmp_path / "bin"
    state.mkdir()
    bin_dir.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (state / "nodes").write_text("node1|local*|2|7800\nbig1|big|64|256000\n")
    (state / "reason").write_text("Priority")

    def sweep(*args):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FAKE": str(state), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        return subprocess.run(asyncrl_cmd() + list(args), cwd=tmp_path, capture_output=True, text=True,
                              timeout=60, env=env)

    return sweep, state


def calls(state: Path) -> str:
    return (state / "calls").read_text() if (state / "calls").exists() else ""


def one_error_line(res) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("asyncrl:") or "Traceback" in ln]
    assert res.returncode == 2 and len(lines) == 1, res.stdout + res.stderr
    return lines[0]


def test_a_request_larger_than_every_node_is_refused_before_submitting(fake_slurm, tmp_path):
    """The launcher's default request (16 CPUs, 32 GB) on a partition of 2-CPU nodes: one line
    naming the request, the largest node and the keys, exit 2, nothing submitted."""
    sweep, state = fake_slurm
    line = one_error_line(sweep(*SWEEP))
    assert line == ("asyncrl: error: SLURM can never start this sweep's jobs: each asks for 16 CPUs and 32 GB, and "
                    "the largest node of partition 'local' (node1) has 2 CPUs and 7.6 GB: set "
                    "hydra.launcher.cpus_per_task (and threads) to at most 2 and hydra.launcher.mem_gb to at most 7, "
                    "or choose another hydra.launcher.partition"), line
    assert "sbatch" not in calls(state) and not (tmp_path / "runs").exists()
    # the same request on a partition with a node that has it passes the check (and is submitted)
    (state / "reason").write_text("PartitionConfig")
    assert "SLURM can never start" not in sweep(*SWEEP, "hydra.launcher.partition=big").stderr
    assert "sbatch" in calls(state)


def test_a_job_pending_for_a_reason_that_cannot_clear_stops_the_sweep(fake_slurm):
    """Node-sized jobs that SLURM keeps pending for PartitionConfig: the sweep's jobs (not
    another's) are cancelled and the command stops with one line, exit 2."""
    sweep, state = fake_slurm
    (state / "reason").write_text("PartitionConfig")
    line = one_error_line(sweep(*SWEEP, *NODE_SIZED))
    assert line == (f"asyncrl: error: SLURM job {JOB}_[0-1] of this sweep is pending for a reason that cannot clear "
                    "(PartitionConfig); the sweep's jobs are cancelled: change hydra.launcher.cpus_per_task, "
                    "hydra.launcher.mem_gb or hydra.launcher.partition"), line
    assert "sbatch" in calls(state) and f"scancel {JOB}\n" in calls(state)


def test_only_reasons_that_cannot_clear_stop_a_sweep():
    from asyncrl.slurm_check import stuck_job

    ours = Path("/work/runs/.submitit")
    out = ("12_[0-3]|PENDING|Priority|/work|runs/.submitit/submission_file_1.sh\n"
           "13|PENDING|Resources|/x|/work/runs/.submitit/submission_file_2.sh\n"
           "14|PENDING|PartitionConfig|/work|other/.submitit/submission_file_3.sh\n"
           "15|RUNNING|None|/work|runs/.submitit/submission_file_4.sh\n")
    assert stuck_job(out, ours) is None  # waiting, another sweep's, running
    assert stuck_job(out + "16_1|PENDING|PartitionTimeLimit|/work|runs/.submitit/s.sh\n", ours) == \
        ("16_1", "PartitionTimeLimit")

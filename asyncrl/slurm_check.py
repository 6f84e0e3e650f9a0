"""A SLURM sweep that can never start is refused, not waited for forever.

SLURM accepts a job that asks for more than any node of its partition has and keeps it pending
(reason PartitionConfig) for ever, while the command that submitted it waits without a word. This
Hydra callback (conf/config.yaml, hydra.callbacks) acts only under the SLURM launcher
(hydra/launcher=asyncrl_slurm, or submitit_slurm):

- before anything is submitted, it compares each job's request (CPUs, memory) with the nodes of the
  partition (`sinfo`) and stops the command with one line naming the request, the largest node and
  the keys to change (exit 2);
- while the sweep waits, it looks at its jobs (`squeue`) and when one is pending for a reason that
  cannot clear by waiting (UNCLEARABLE), cancels the sweep's jobs (`scancel`) and stops the command
  the same way.
Where `sinfo` or `squeue` is missing or fails, nothing is checked.
"""

from __future__ import annotations

import _thread
import getpass
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Tuple

from hydra.experimental.callback import Callback

POLL_S = 5.0  # how often the pending jobs are looked at
K = "hydra.launcher."
# pending reasons that waiting never clears, and the launcher keys that change the request
UNCLEARABLE = {
    "PartitionConfig": f"{K}cpus_per_task, {K}mem_gb or {K}partition",
    "PartitionNodeLimit": f"{K}nodes or {K}partition",
    "PartitionTimeLimit": f"{K}timeout_min or {K}partition",
    "BadConstraints": f"{K}constraint, {K}cpus_per_task or {K}mem_gb",
    "InvalidAccount": f"{K}account",
    "InvalidQOS": f"{K}qos",
    "QOSMaxCpuPerJobLimit": f"{K}cpus_per_task",
    "AssocMaxCpuPerJobLimit": f"{K}cpus_per_task",
    "QOSMaxMemoryPerJob": f"{K}mem_gb",
    "QOSMaxNodePerJobLimit": f"{K}nodes",
    "AssocMaxNodesPerJobLimit": f"{K}nodes",
    "QOSMaxWallDurationPerJobLimit": f"{K}timeout_min",
    "AssocMaxWallDurationPerJobLimit": f"{K}timeout_min",
}
REFUSED: List[str] = []  # the line of a sweep the watch stopped (read by the command, cli._main)
_WATCHES: List["_Watch"] = []  # the running watch (not on the callback: submitit pickles the launcher's context)


@dataclass
class Node:
    name: str
    cpus: int
    mem_mb: int


def _sh(*args: str) -> Optional[str]:
    """A SLURM command's output; None where it is not installed, fails or does not answer."""
    try:
        res = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def _number(text: str) -> Optional[int]:
    digits = "".join(c for c in text if c.isdigit())
    return int(digits) if digits else None


def nodes(partition: Optional[str]) -> Tuple[Optional[str], List[Node]]:
    """(the partition, its nodes) from `sinfo`: `partition`, or SLURM's default one (marked `*`)."""
    out = _sh("sinfo", "-h", "-N", "-o", "%N|%P|%c|%m", *(["-p", partition] if partition else []))
    rows = [r for r in (line.strip().split("|") for line in (out or "").splitlines()) if len(r) == 4]
    if not partition:  # sbatch's default: the one sinfo marks with *
        partition = next((r[1][:-1] for r in rows if r[1].endswith("*")), None)
    found = [Node(name, _number(cpus), _number(mem)) for name, part, cpus, mem in rows
             if part.rstrip("*") == partition and _number(cpus) is not None and _number(mem) is not None]
    return partition, found


def misfit(launcher: Any) -> Optional[str]:
    """The refusal line when no node of the launcher's partition has what one job asks for."""
    cpus = int(launcher.get("cpus_per_task") or 1) * int(launcher.get("tasks_per_node") or 1)
    mem_gb = launcher.get("mem_gb")
    partition, found = nodes(launcher.get("partition"))
    if not found or any(n.cpus >= cpus and (mem_gb is None or n.mem_mb >= mem_gb * 1024) for n in found):
        return None
    big = max(found, key=lambda n: (n.cpus, n.mem_mb))
    keys = []
    if cpus > big.cpus:
        keys.append(f"{K}cpus_per_task (and threads) to at most {big.cpus}")
    if mem_gb is not None and mem_gb * 1024 > big.mem_mb:
        keys.append(f"{K}mem_gb to at most {big.mem_mb // 1024}")
    if not keys:  # each fits some node, no node both
        keys.append(f"{K}cpus_per_task and {K}mem_gb to what one node has")
    asks = f"{cpus} CPUs" + (f" and {mem_gb} GB" if mem_gb is not None else "")
    return (f"SLURM can never start this sweep's jobs: each asks for {asks}, and the largest node of partition "
            f"'{partition}' ({big.name}) has {big.cpus} CPUs and {big.mem_mb / 1024:.1f} GB: set "
            f"{' and '.join(keys)}, or choose another {K}partition")


def sweep_jobs(squeue_out: str, submitit_dir: Path) -> List[Tuple[str, str, str]]:
    """(job id, state, reason) of each job of this sweep (its batch script is in `submitit_dir`,
    where submitit writes it) in `squeue -o %i|%T|%r|%Z|%o` lines."""
    jobs = []
    for line in squeue_out.splitlines():
        fields = line.strip().split("|")
        if len(fields) == 5 and submitit_dir in (Path(fields[3]) / fields[4]).parents:  # %o: as sbatch got it
            jobs.append((fields[0], fields[1], fields[2]))
    return jobs


def stuck_job(squeue_out: str, submitit_dir: Path) -> Optional[Tuple[str, str]]:
    """(job id, reason) of the first job of this sweep pending for a reason in UNCLEARABLE."""
    return next(((job, reason) for job, state, reason in sweep_jobs(squeue_out, submitit_dir)
                 if state == "PENDING" and reason in UNCLEARABLE), None)


class _Watch(threading.Thread):
    """Looks at the sweep's jobs every POLL_S until stopped; on a stuck one, cancels the sweep's
    jobs and interrupts the command's main thread (cli._main then prints REFUSED's line)."""

    def __init__(self, submitit_dir: Path):
        super().__init__(name="slurm-watch", daemon=True)
        self.submitit_dir, self.stopped = submitit_dir, threading.Event()

    def run(self) -> None:
        user = getpass.getuser()
        while not self.stopped.wait(POLL_S):
            out = _sh("squeue", "-h", "-u", user, "-o", "%i|%T|%r|%Z|%o")
            stuck = stuck_job(out or "", self.submitit_dir)
            if stuck is None:
                continue
            job, reason = stuck
            _sh("scancel", *sorted({j.split("_")[0] for j, _, _ in sweep_jobs(out or "", self.submitit_dir)}))
            REFUSED.append(f"SLURM job {job} of this sweep is pending for a reason that cannot clear ({reason}); "
                           f"the sweep's jobs are cancelled: change {UNCLEARABLE[reason]}")
            _thread.interrupt_main()
            return


class SlurmCheck(Callback):
    """The checks above, around a multirun under the SLURM launcher."""

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        launcher = config.hydra.launcher
        if not str(launcher.get("_target_", "")).endswith("SlurmLauncher"):
            return
        line = misfit(launcher)
        if line:
            # not an Exception: Hydra turns a callback's Exception into a warning and goes on
            print(f"asyncrl: error: {line}", file=sys.stderr)
            raise SystemExit(2)
        _WATCHES.append(_Watch(Path(str(config.hydra.sweep.dir)).absolute() / ".submitit"))
        _WATCHES[-1].start()

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        while _WATCHES:
            _WATCHES.pop().stopped.set()

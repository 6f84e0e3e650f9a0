"""What the command knows of its sweep: the jobs that did not complete, the signal that stopped a
run, the signals passed on to a parallel launcher's workers, and the stop file that tells those
workers not to start another job. One `SweepState` per process (the command's, or a launcher
worker's, which knows itself by a pid other than the command's).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional, Tuple

from . import results

# A file whose existence tells a launcher's workers that the sweep was stopped: a job that a worker
# takes up after that does not start (the path is in the environment the workers inherit)
STOP_FILE_ENV = "ASYNCRL_SWEEP_STOPPED"

# The command line of a process that runs jobs for a parallel launcher: joblib's loky workers,
# and submitit_local's job processes (not its controller, submitit.local._local, which would end
# the job without its checkpoint)
WORKER_MARKS = ("popen_loky_posix", "submitit.core._submit")


class JobFailed(Exception):
    """A multirun job that did not complete, raised in a launcher's worker process (joblib,
    submitit) so that its JobReturn carries the failure back to the command, which exits 1."""


def job_workers(command: Optional[int] = None) -> list:
    """The processes below the command (pid ``command``; default: this process) that run its jobs
    for a parallel launcher (joblib, submitit_local; by their command lines, :data:`WORKER_MARKS`).
    Empty where processes cannot be listed, and under the basic launcher: its jobs run in the
    command's process, whose trainer handles the signals itself."""
    from .runtime import procs

    workers, todo = [], procs.children(os.getpid() if command is None else command)
    while todo:
        pid = todo.pop()
        if any(mark in procs.cmdline(pid) for mark in WORKER_MARKS):
            workers.append(pid)  # its own children are the job's: its trainer stops them
        else:
            todo += procs.children(pid)
    return workers


def exit_sweep_stopped(signum: int) -> NoReturn:
    print(f"[asyncrl] sweep stopped by {signal.Signals(signum).name}; the same command resumes it",
          file=sys.stderr)
    raise SystemExit(130)


class SweepState:
    """The sweep as this process sees it."""

    def __init__(self) -> None:
        self.failed_jobs: List[str] = []  # multirun jobs of this process that did not complete
        self.started = False  # Hydra has handed a config to a job
        self.main_pid: Optional[int] = None  # the console command's; a job elsewhere runs under a launcher
        self.stopped_by: Optional[Tuple[int, object]] = None  # (signal, the SIGUSR2 handler before the trainer's)
        self.forwarded: List[int] = []  # signals passed on to a launcher's job workers (joblib, submitit_local)

    def in_command(self) -> bool:
        return os.getpid() == self.main_pid

    @contextmanager
    def command(self) -> Iterator[None]:
        """The console command's process: SIGINT and SIGTERM go to the launcher's workers
        (:meth:`stop_job_workers`), and the stop file's path is in the workers' environment."""
        self.main_pid = os.getpid()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.stop_job_workers)
        stop_file = Path(tempfile.gettempdir()) / f"asyncrl-sweep-{os.getpid()}.stopped"
        os.environ[STOP_FILE_ENV] = str(stop_file)
        try:
            yield
        finally:
            stop_file.unlink(missing_ok=True)

    def run_stopped(self, signum: Optional[int], prev_handlers: dict) -> None:
        """A signal stopped the run this process trained (None: none did)."""
        if signum is not None:
            self.stopped_by = (signum, prev_handlers.get(getattr(signal, "SIGUSR2", None)))

    def leave_to_slurm(self) -> str:
        """A submitit job on SLURM whose run a signal stopped (checkpoint and summary written) ends
        without a result, so that SLURM's job state decides what the command sees: a requeued job's
        rerun writes the result, a job that ends for good reaches the command as submitit's
        UncompletedJobError. SIGUSR2 (the time limit is near): submitit's handler, kept by the
        trainer, requeues the job and exits. SIGTERM (scancel, `scontrol requeue`, preemption): exit
        at once. Returns (the reason, for the job's failure) only when submitit could not requeue."""
        if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or self.stopped_by is None:
            return ""
        (signum, usr2_handler), self.stopped_by = self.stopped_by, None
        if signum == signal.SIGTERM:
            raise SystemExit(128 + signum)  # not an Exception: submitit writes no result for it
        if signum == getattr(signal, "SIGUSR2", None) and callable(usr2_handler):
            try:
                usr2_handler(signum, None)  # submitit: checkpoint the job, `scontrol requeue`, sys.exit
            except Exception as exc:  # e.g. out of requeues (UncompletedJobError)
                return f" by SIGUSR2, not requeued: {' '.join(str(exc).split())}"
        return ""

    def stop_the_sweep_if_signalled(self) -> None:
        """A Ctrl-C or SIGTERM that stopped a job of a sweep in the command's own process (the basic
        launcher runs the jobs one after another there) stops the sweep: Hydra would otherwise start
        the next job, and every job would need its own Ctrl-C. The stopped run keeps its checkpoint,
        and the same command resumes the sweep (completed jobs are skipped). Exit code 130, as a
        single run. In a launcher's worker (joblib, submitit) the command, which passed the signal
        on, stops the sweep."""
        if self.stopped_by is not None and self.in_command():
            signum, self.stopped_by = self.stopped_by[0], None
            exit_sweep_stopped(signum)

    def stopped_by_the_command(self) -> bool:
        """In a parallel launcher's worker: the command was signalled and stopped its sweep (it makes
        the stop file before it passes the signal on to the workers, :meth:`stop_job_workers`)."""
        stop_file = os.environ.get(STOP_FILE_ENV)
        return bool(stop_file) and not self.in_command() and Path(stop_file).exists()

    def job_failed(self, error: str, run_dir: Path, overrides: list, summary: Optional[dict] = None,
                   touch: bool = True) -> dict:
        """Record a multirun job that did not complete and let the other jobs go on. Its summary.json
        says `failed` (unless the trainer wrote another status). In the command's own process (basic
        launcher) `failed_jobs` makes the command exit 1; in a launcher's worker (joblib, submitit)
        the failure is raised, so that the launcher hands it back to the command after the batch."""
        self.failed_jobs.append(error)
        if summary is None and not touch:
            summary = {"status": "failed", "error": error}
        elif summary is None:
            path = run_dir / "summary.json"
            summary = results.read_json(path) or {}
            if summary.get("status") != "completed":  # never spoil a finished run (e.g. a bad override)
                summary.update(status="failed", error=error, overrides=overrides)
                try:
                    results.write_json(path, summary)
                except OSError:
                    pass
        if not self.in_command():
            raise JobFailed(error.strip().splitlines()[-1] if error.strip() else "job failed")
        return summary if summary.get("status") in ("failed", "interrupted") else {**summary, "status": "failed"}

    def stop_job_workers(self, signum, frame) -> None:
        """SIGINT or SIGTERM to the command while a parallel launcher's workers train: pass it on to
        them as SIGINT, so that each running job stops as a run does on Ctrl-C (checkpoint and
        summary written, `interrupted`); the launcher then collects them and the command exits 130.
        A worker would otherwise train on as an orphan (SIGTERM ended the command) or be killed by
        the launcher's own clean-up without its checkpoint. With no such workers the signal does
        what it did before: Ctrl-C raises KeyboardInterrupt, SIGTERM ends the command."""
        workers = job_workers()
        if not workers:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if not self.forwarded:
            print(f"[asyncrl] {signal.Signals(signum).name}: stopping the sweep's running jobs (each writes "
                  "its checkpoint)", file=sys.stderr, flush=True)
        self.forwarded.append(signum)
        try:
            Path(os.environ[STOP_FILE_ENV]).touch()  # jobs not yet started stay so
        except (KeyError, OSError):
            pass
        for pid in workers:
            try:
                os.kill(pid, signal.SIGINT)
            except ProcessLookupError:
                pass

"""How actor-learners run: as processes on shared-memory parameters (default) or as Python threads.

Processes give real parallelism under the GIL (ALE's act() holds it); threads share the trainer's
memory and are handy for debugging, but scale poorly (~1.3x at 2 threads: results/bench/thread). Both present the same
interface to the trainer: start, poll for dead workers, stop, join.
"""

from __future__ import annotations

import ctypes
import os
import queue as queue_mod
import signal
import sys
import threading
import time
from typing import List, Optional

import torch
import torch.multiprocessing as tmp

from .actor_learner import flush_subnormals, run_actor_learner

BACKENDS = ("process", "thread")


def _set_parent_death_signal() -> None:
    """Linux: have the kernel SIGTERM this actor-learner if the trainer dies (even by SIGKILL)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def exit_description(code: Optional[int]) -> str:
    """How a child process ended, for the run's failure line: "exited with SIGKILL" (a signal:
    multiprocessing's negative exit code) or "exited with code 1"."""
    if code is None:
        return "exited"
    if code < 0:
        try:
            return f"exited with {signal.Signals(-code).name}"
        except ValueError:
            return f"exited with signal {-code}"
    return f"exited with code {code}"


def trainer_child_setup() -> None:
    """What every process the trainer spawns does first: one intra-op thread; subnormals flushed to
    zero; leave SIGINT and SIGUSR2 to the trainer; die with it."""
    torch.set_num_threads(1)
    flush_subnormals()  # this process's main thread
    # Ctrl-C reaches the whole process group: the trainer alone decides how to stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # SLURM signals every process of a job step before its time limit (submitit asks for USR2):
    # the trainer alone handles it, writing the checkpoint the requeued job resumes from
    if hasattr(signal, "SIGUSR2"):
        signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    _set_parent_death_signal()


def _process_main(rank: int, cfg_container: dict, shared, parent_pid: int) -> None:
    from omegaconf import OmegaConf

    trainer_child_setup()
    signal.signal(signal.SIGTERM, lambda *_: shared.stop.set())
    if os.getppid() != parent_pid:  # the trainer died before the death signal was armed
        return
    cfg = OmegaConf.create(cfg_container)
    try:
        run_actor_learner(rank, cfg, shared)
    except BaseException:
        # its traceback went to the trainer, which shows it once in the run's failure line:
        # multiprocessing would print it a second time
        sys.exit(1)
    finally:
        if os.getppid() != parent_pid:
            # The trainer is gone and nobody drains the message pipe. At exit, multiprocessing
            # joins the queue's feeder thread, which may be blocked writing to the full pipe (or
            # waiting for the write lock another actor-learner's blocked feeder holds): without
            # this the process would never exit. What is left unsent had no reader anyway.
            shared.queue.cancel_join_thread()


class ProcessBackend:
    name = "process"

    def __init__(self):
        # spawn: fork after torch/OpenMP start-up is known to hang, and loky/joblib workers
        # need it too (their actor-learners died silently at start-up under the default)
        self.ctx = tmp.get_context("spawn")
        self.workers: List = []
        self.stopped: set = set()  # workers this backend terminated: their exit code is not an error

    def make_queue(self):
        return self.ctx.Queue()

    def make_event(self):
        return self.ctx.Event()

    def start(self, n: int, cfg_container: dict, shared) -> None:
        # one intra-op thread per actor-learner, fixed before torch loads in the child
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = "1"
        for rank in range(n):
            p = self.ctx.Process(
                target=_process_main,
                args=(rank, cfg_container, shared, os.getpid()),
                name=f"actor-learner-{rank}",
                daemon=True,
            )
            p.start()
            self.workers.append(p)

    def dead(self) -> Optional[str]:
        """A description of the first worker that died abnormally, else None."""
        for p in self.workers:
            if p.exitcode not in (None, 0) and p.name not in self.stopped:
                return f"{p.name} {exit_description(p.exitcode)}"
        return None

    def alive(self) -> bool:
        return any(p.is_alive() for p in self.workers)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for p in self.workers:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in self.workers:
            if p.is_alive():
                self.stopped.add(p.name)
                p.terminate()
        for p in self.workers:
            p.join(2.0)
            if p.is_alive():
                p.kill()
                p.join(1.0)


class ThreadBackend:
    name = "thread"

    def __init__(self):
        self.workers: List[threading.Thread] = []
        self.errors: List[str] = []
        self.ctx = tmp.get_context("spawn")  # for FrameBudget's lock and counters

    def make_queue(self):
        return queue_mod.Queue()

    def make_event(self):
        return threading.Event()

    def start(self, n: int, cfg_container: dict, shared) -> None:
        from omegaconf import OmegaConf

        torch.set_num_threads(1)
        cfg = OmegaConf.create(cfg_container)

        def body(rank):
            try:
                run_actor_learner(rank, cfg, shared)
            except BaseException:  # already reported through the queue
                self.errors.append(f"actor-learner-{rank} raised")

        for rank in range(n):
            t = threading.Thread(target=body, args=(rank,), name=f"actor-learner-{rank}", daemon=True)
            t.start()
            self.workers.append(t)

    def dead(self) -> Optional[str]:
        return self.errors[0] if self.errors else None

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.workers)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self.workers:
            t.join(max(0.0, deadline - time.monotonic()))


def make_backend(name: str):
    if name == "process":
        return ProcessBackend()
    if name == "thread":
        return ThreadBackend()
    raise ValueError(f"unknown runtime '{name}' (valid: {', '.join(BACKENDS)})")

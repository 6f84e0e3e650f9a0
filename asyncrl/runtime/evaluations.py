"""The run's evaluations: snapshots of theta taken at T, played one after the other by a thread of
the trainer in a lower-priority process of their own, each recorded with its own seed. Those due
but not yet recorded when the run stops are kept for the checkpoint and played first on resume;
the first one to reach `stop_at_score` is remembered with its parameters."""

from __future__ import annotations

import copy
import os
import queue as queue_mod
import threading
from typing import Any, Callable, Dict, List, Optional

import torch
import torch.multiprocessing as tmp
from omegaconf import OmegaConf

from .. import results
from ..evaluation import EVAL_RANK, evaluate, summarize
from .backends import exit_description, trainer_child_setup
from .model import build_model

JOIN_TIMEOUT_S = 5.0
MAX_PENDING_EVALS = 4  # snapshots waiting for the evaluator; beyond that, evaluations are skipped

Snapshot = Dict[str, torch.Tensor]


def evaluation_process(cfg_container: dict, conn) -> None:
    """Body of the periodic evaluations' own process, started once per run: priority `eval.nice`
    (so the actor-learners keep the cores), one intra-op thread; then, for every (parameters, seed)
    that arrives through `conn`, `evaluate` and send the scores back, until None arrives. The final
    evaluation runs in the trainer instead: the cores are free by then."""
    trainer_child_setup()
    cfg = OmegaConf.create(cfg_container)
    try:
        os.nice(int(cfg.eval.nice))
    except OSError:
        pass
    spec, method_cls, net = build_model(cfg)
    try:
        while (task := conn.recv()) is not None:
            state, seed = task
            net.load_state_dict(state)
            method = method_cls(cfg.method, spec.n_actions, EVAL_RANK, seed)
            conn.send(evaluate(net, method, cfg.env, int(cfg.eval.episodes), seed=seed))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the trainer closed the pipe: the run is stopping, and says why itself


class EvaluationProcess:
    """The evaluations' process and its pipe. Started at the first `play`: a process start costs
    seconds of CPU, and a fresh process is scheduled ahead of the actor-learners for a while,
    whatever its nice value. A death without scores goes to `on_failure` (the run then fails)."""

    def __init__(self, cfg_container: dict, on_failure: Callable[[str], None]):
        self._cfg, self._on_failure = cfg_container, on_failure
        self._proc = self._conn = None

    def play(self, state: Snapshot, seed: int, cancelled: Callable[[], bool]) -> Optional[List[float]]:
        """The scores of `state` played from `seed`; None if `cancelled()` comes first (the process
        is then ended) or the process dies."""
        if self._proc is None:
            ctx = tmp.get_context("spawn")
            self._conn, child = ctx.Pipe()
            self._proc = ctx.Process(target=evaluation_process, name="evaluation", daemon=True,
                                     args=(self._cfg, child))
            self._proc.start()
            child.close()
        proc, conn = self._proc, self._conn
        try:
            conn.send((state, seed))
            while not cancelled():
                if conn.poll(0.2):
                    return conn.recv()
                if not proc.is_alive() and not conn.poll(0):
                    raise EOFError
        except (EOFError, OSError):
            proc.join(JOIN_TIMEOUT_S)
            if not cancelled():  # it died: the run stops as for a dead actor-learner
                self._on_failure(f"the evaluation process {exit_description(proc.exitcode)}")
        self.close(cancelled())
        return None

    def close(self, cancelled: bool) -> None:
        """End the process: at once if the run is cancelled (it may be busy), else after None."""
        proc, conn = self._proc, self._conn
        if proc is None:
            return
        self._proc = self._conn = None
        try:
            if proc.is_alive() and not cancelled:
                conn.send(None)
                proc.join(JOIN_TIMEOUT_S)
        except OSError:
            pass
        finally:
            conn.close()
            if proc.is_alive():
                proc.terminate()
            proc.join(JOIN_TIMEOUT_S)


class Evaluations:
    """The recorded evaluations of a run and the scheduler of its periodic ones.

    `submit` hands a snapshot to the evaluator thread (started at the first); `play(state, seed)`
    returns its scores (default: the EvaluationProcess; None: the run stopped first). Recording
    calls `on_record(entry)`. `checkpoint_state` is what a checkpoint keeps; `wait` lets the due
    ones finish, `cancel` drops them (a stop: they stay pending). `stopping()` cancels as well."""

    def __init__(self, cfg, method_cls, n_actions: int, restored: Dict[str, Any], *,
                 stopping: Callable[[], bool], on_record: Callable[[Dict[str, Any]], None],
                 on_failure: Callable[[str], None], message: Callable[[str], None],
                 play: Optional[Callable[[Snapshot, int], Optional[List[float]]]] = None):
        self.cfg, self._method_cls, self._n_actions = cfg, method_cls, n_actions
        self._stopping, self._on_record, self._message = stopping, on_record, message
        self._recorded: List[Dict[str, Any]] = list(restored.get("evals", []))
        # (frames, wall, snapshot, seed) of every evaluation due but not yet recorded
        self._unfinished: List[tuple] = [
            (int(t["frames"]), float(t["wall_time_s"]), t["model"], int(t["seed"]))
            for t in restored.get("pending_evals") or []]
        self._seeded = len(self._recorded) + len(self._unfinished)  # restored ones included
        self._lock = threading.Lock()  # recording and the checkpoint's view of the lists
        self._tasks: "queue_mod.Queue" = queue_mod.Queue()  # snapshots waiting their turn, in order
        self._thread: Optional[threading.Thread] = None
        self._cancel = threading.Event()
        self._said_behind = False  # "evaluations fall behind" said once
        self.checkpointed: Optional[tuple] = None  # (recorded, pending) in the last checkpoint_state
        self.reached: Optional[Dict[str, Any]] = None  # the first periodic evaluation to reach stop_at_score
        self.reached_model: Optional[Snapshot] = None  # the parameters it evaluated
        self.write_failed: Optional[results.WriteFailed] = None  # a run file the evaluator could not write
        self._process = EvaluationProcess(OmegaConf.to_container(cfg, resolve=True), on_failure)
        self.play = play or (lambda state, seed: self._process.play(state, seed, self.cancelled))

    # ---- what the trainer asks ---------------------------------------------------------------
    def resume(self) -> None:
        """Queue the evaluations a stop left unrecorded, before any new one, with their own seeds."""
        for task in list(self._unfinished):
            self._queue(task)

    def submit(self, frames: int, wall: float, state: Snapshot) -> bool:
        """Queue a copy of `state` (theta at `frames`) for evaluation; False when MAX_PENDING_EVALS
        already wait (it is skipped: a slow evaluation delays the later ones but skips none until then)."""
        if self._tasks.qsize() >= MAX_PENDING_EVALS:
            if not self._said_behind:
                self._said_behind = True
                self._message(
                    f"evaluations fall behind ({MAX_PENDING_EVALS} waiting): skipping the one at {frames:,} "
                    "frames and later ones while that lasts (raise eval.interval_frames or lower eval.nice)")
            return False
        task = (frames, wall, {k: v.detach().clone() for k, v in state.items()}, self._next_seed())
        with self._lock:
            self._unfinished.append(task)
        self._queue(task)
        return True

    def recorded(self) -> List[Dict[str, Any]]:
        with self._lock:
            return list(self._recorded)

    def pending(self) -> List[Dict[str, Any]]:
        with self._lock:
            return self._pending()

    def checkpoint_state(self) -> Dict[str, Any]:
        """The recorded evaluations and those due but not recorded (with snapshot and seed, so that a
        resumed run plays exactly them), read together under the lock recording takes: a checkpoint
        never holds one evaluation in both (a resumed run would play it again)."""
        with self._lock:
            evals, pending = list(self._recorded), self._pending()
        self.checkpointed = (len(evals), len(pending))
        return {"evals": evals, "pending_evals": pending}

    def changed_since_checkpoint(self) -> bool:
        with self._lock:
            return (len(self._recorded), len(self._unfinished)) != self.checkpointed

    def evaluate_here(self, frames: int, wall: float, model: torch.nn.Module) -> bool:
        """Evaluate `model` as it is now in this thread (the final evaluation), with the next seed;
        True when recorded (False: the run stopped first)."""
        seed = self._next_seed()
        method = self._method_cls(self.cfg.method, self._n_actions, EVAL_RANK, seed)
        scores = evaluate(copy.deepcopy(model), method, self.cfg.env, int(self.cfg.eval.episodes), seed=seed,
                          cancelled=self.cancelled)
        if scores is None:
            return False
        self._record(frames, wall, scores, None)
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set() or self._stopping()

    def wait(self) -> None:
        """Let the evaluator finish the evaluations already due (none once cancelled); end the process."""
        if self._thread is not None:
            self._tasks.put(None)
            self._thread.join()
        self._process.close(self.cancelled())

    # ---- the evaluator thread ----------------------------------------------------------------
    def _queue(self, task: tuple) -> None:
        self._tasks.put(task)
        if self._thread is None:
            self._thread = threading.Thread(target=self._evaluator, daemon=True, name="evaluator")
            self._thread.start()

    def _next_seed(self) -> int:
        """One seed per evaluation, for its env and for its policy's random draws alike (a policy
        seeded from cfg.seed alone would replay the same draws in every evaluation)."""
        self._seeded += 1
        return self.cfg.seed + 10_007 * self._seeded

    def _evaluator(self) -> None:
        """The queued evaluations in order, until None. Once one has reached stop_at_score, the
        snapshots taken after it are dropped, neither played nor kept: the run's model is the one
        that scored."""
        while (task := self._tasks.get()) is not None:
            frames, wall, snapshot, seed = task
            if self.cancelled():
                continue
            if self.reached is not None and frames > self.reached["frames"]:
                with self._lock:
                    self._drop_unfinished(snapshot)
                continue
            try:
                scores = self.play(snapshot, seed)
                if scores is not None:
                    self._record(frames, wall, scores, snapshot)
            except results.WriteFailed as exc:  # the trainer's watch loop stops the run with it
                self.write_failed = exc
                self._cancel.set()

    def _record(self, frames: int, wall: float, scores, snapshot: Optional[Snapshot]) -> None:
        """Record an evaluation (and take `snapshot`'s off the unfinished ones in the same step);
        a periodic one reaching stop_at_score first is remembered."""
        entry = {"frames": frames, "wall_time_s": round(wall, 3), **summarize(scores)}
        with self._lock:
            self._recorded.append(entry)
            if snapshot is not None:
                self._drop_unfinished(snapshot)
        self._on_record(entry)
        target = self.cfg.get("stop_at_score")
        if snapshot is not None and target is not None and self.reached is None and entry["mean"] >= target:
            self.reached_model, self.reached = snapshot, entry  # the watch loop ends training at its next tick
            self._message(f"stop_at_score={target:g} reached at {frames:,} frames: training ends")

    def _drop_unfinished(self, snapshot: Snapshot) -> None:
        """The evaluation of `snapshot` is recorded or dropped: no longer due (caller holds the lock)."""
        self._unfinished = [t for t in self._unfinished if t[2] is not snapshot]

    def _pending(self) -> List[Dict[str, Any]]:
        return [{"frames": f, "wall_time_s": w, "model": snap, "seed": seed} for f, w, snap, seed in self._unfinished]

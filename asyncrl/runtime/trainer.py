"""The trainer: builds the shared state, starts `threads` actor-learners on a backend, and watches
them — logging, progress, periodic evaluation, checkpoints, and stopping on budget, failure,
Ctrl-C or SIGTERM. It is the only place that owns processes, threads and the global counter.
"""

from __future__ import annotations

import copy
import math
import os
import queue as queue_mod
import signal
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Dict, List, Optional

import torch
import torch.multiprocessing as tmp
from omegaconf import OmegaConf

from .. import checkpoint as ckpt_file
from .. import results
from ..envs import env_spec
from ..evaluation import EVAL_RANK, evaluate, summarize
from ..methods import build_network, get_method
from .backends import exit_description, make_backend, trainer_child_setup
from .optim import linear_lr, lr_horizon, make_shared_statistics
from .shared import FrameBudget, Shared, share_network

JOIN_TIMEOUT_S = 5.0
MAX_PENDING_EVALS = 4  # snapshots waiting for the evaluator; beyond that, evaluations are skipped


class Interrupted(Exception):
    """Ctrl-C or SIGTERM reached the trainer."""


def build_model(cfg):
    spec = env_spec(cfg.env)
    method_cls = get_method(cfg.method.name)
    torch.manual_seed(cfg.seed)  # the initial theta (and theta-) follow the run's seed
    model = build_network(method_cls, cfg.method, cfg.env, spec.obs_shape, spec.n_actions)
    return spec, method_cls, model


def _evaluation_process(cfg_container: dict, conn) -> None:
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


class Trainer:
    def __init__(self, cfg, run_dir: Path, checkpoint: Optional[Dict[str, Any]] = None):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.spec, self.method_cls, model = build_model(cfg)
        self.skip = int(self.spec.frame_skip)
        self.total_steps = math.ceil(cfg.total_frames / self.skip)
        self.total_frames = self.total_steps * self.skip
        self.lr_horizon = lr_horizon(cfg.method, self.total_frames)  # the LR reaches 0 here
        self.model = share_network(model)
        self.target = share_network(copy.deepcopy(model)) if self.method_cls.uses_target_net else None
        shared_opt = cfg.method.optimizer == "shared_rmsprop"
        self.stats = make_shared_statistics(list(model.parameters())) if shared_opt else []
        self.start_frames, self.wall_offset = 0, 0.0
        self.evals: List[Dict[str, Any]] = []
        if checkpoint is not None:
            self._restore(checkpoint)
        self.recent_scores: deque = deque(maxlen=10)
        self.error: Optional[str] = None
        self._write_failed: Optional[results.WriteFailed] = None  # a run file the evaluator thread could not write
        self._eval_thread: Optional[threading.Thread] = None  # plays the periodic evaluations, in order
        self._eval_tasks: "queue_mod.Queue" = queue_mod.Queue()  # their snapshots, waiting their turn
        self._eval_proc = self._eval_conn = None  # the evaluations' process and its pipe, once started
        # (frames, wall, snapshot, seed) of every evaluation due but not yet recorded; a stop keeps
        # them in the checkpoint, and a resumed run plays them first (with their own seeds)
        self._eval_unfinished: List[tuple] = [
            (int(t["frames"]), float(t["wall_time_s"]), t["model"], int(t["seed"]))
            for t in (checkpoint or {}).get("pending_evals") or []]
        self._evals_started = len(self.evals) + len(self._eval_unfinished)  # seeded so far, restored ones included
        self._said_behind = False  # "evaluations fall behind" said once
        self._checkpointed_evals: Optional[tuple] = None  # (recorded, pending) in the last checkpoint payload
        self._lock = threading.Lock()  # evals list and summary writes, shared with the eval thread
        self._cancel_eval = threading.Event()  # set when the run stops early: drop the evaluation
        self.stop_signal: Optional[int] = None  # SIGTERM or SIGUSR2, if one stopped the run
        self.reached: Optional[Dict[str, Any]] = None  # the periodic evaluation that reached stop_at_score
        self._reached_model: Optional[Dict[str, torch.Tensor]] = None  # the parameters it evaluated
        self.prev_handlers: Dict[int, Any] = {}  # the handlers run() replaced (submitit's, under SLURM)

    # ---- checkpoints -------------------------------------------------------------------------
    def _restore(self, ck: Dict[str, Any]) -> None:
        # every tensor must fit before any is copied: e.g. a per-actor optimizer's checkpoint
        # resumed as shared_rmsprop would start the shared statistics at zero silently (the CLI
        # refuses a changed method.optimizer first); CheckpointError names the file and the misfit
        ckpt_file.check_fits(ck, self.run_dir / "checkpoint.pt", self.model, self.target, self.stats,
                             self.cfg.method.optimizer)
        self.model.load_state_dict(ck["model"])
        if self.target is not None and ck.get("target") is not None:
            self.target.load_state_dict(ck["target"])
        saved_stats = list(ck.get("stats") or [])
        for s, saved in zip(self.stats, saved_stats):
            s.copy_(saved)
        self.start_frames = int(ck["frames"])
        self.wall_offset = float(ck["wall_time_s"])
        if ck.get("total_frames", self.total_frames) != self.total_frames:
            print(f"[asyncrl] warning: resuming a run trained for total_frames={ck['total_frames']} with "
                  f"total_frames={self.total_frames}: the learning-rate schedule changes", file=sys.stderr)
        self.evals = list(ck.get("evals", []))

    def checkpoint_payload(self, frames: int, wall: float) -> Dict[str, Any]:
        """Everything a resumed run continues from. The schedules need nothing else: the learning
        rate is linear_lr(lr, T, lr_horizon) and each actor-learner's eps is a function of T and
        of its final eps, which is drawn again from (seed, actor index) at start. T (`frames`,
        restored into the frame budget) therefore continues every schedule where it stopped. Not
        kept: per-actor optimizer statistics (optimizer=rmsprop/momentum_sgd restart at zero),
        environments and episodes in progress, and the random streams (they restart from their
        seeds), so a resumed run is not bit-identical to an uninterrupted one."""
        return {
            "model": self.model.state_dict(),
            "target": self.target.state_dict() if self.target is not None else None,
            "stats": list(self.stats),
            "frames": frames,  # T in frames (= agent steps x frame_skip)
            "steps": frames // self.skip,  # T in agent steps
            "total_frames": self.total_frames,  # the budget
            "lr_anneal_frames": self.lr_horizon,  # the LR reaches 0 here
            "lr": self.lr(frames),  # the LR at T (informative)
            "seed": int(self.cfg.seed),
            "wall_time_s": wall,  # training wall time so far; a resumed run adds its own to it
            **self._evals_and_pending(),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def _evals_and_pending(self) -> Dict[str, Any]:
        """The recorded evaluations, and those due but not recorded (a stop cancelled them, or they
        wait their turn) with their snapshot and seed, so that a resumed run plays exactly them. Read
        together under the lock the evaluator records under, so a checkpoint never holds one evaluation
        in both (a resumed run would play it again). Remembers their sizes in `_checkpointed_evals`."""
        with self._lock:
            evals = list(self.evals)
            pending = [{"frames": f, "wall_time_s": w, "model": snap, "seed": seed}
                       for f, w, snap, seed in self._eval_unfinished]
        self._checkpointed_evals = (len(evals), len(pending))
        return {"evals": evals, "pending_evals": pending}

    def save_checkpoint(self, frames: int, wall: float) -> bool:
        """Write checkpoint.pt atomically, unless theta has gone non-finite: then the last good
        checkpoint stays (the actor-learner that sees a non-finite loss stops the run)."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            self.run_log.message(f"non-finite parameters at {frames:,} frames: checkpoint not written")
            return False
        ckpt_file.save(self.run_dir / "checkpoint.pt", self.checkpoint_payload(frames, wall))
        return True

    # ---- the run -----------------------------------------------------------------------------
    def run(self, log) -> Dict[str, Any]:
        """Train until the budget is done or the run stops; returns the summary. SIGINT, SIGTERM and
        SIGUSR2 stop it as `interrupted` (see _on_signal); their previous handlers are back on return."""
        self.stop_signal, self.prev_handlers = None, _install_handlers(self._on_signal)
        try:
            return self._run(log)
        except results.WriteFailed:
            # a run file could not be written (e.g. a full disk): the actor-learners are stopped
            # (_run's finally), the evaluations too, and nothing more is written; the files keep
            # what they held, the checkpoint and summary whole (atomic writes)
            self._cancel_eval.set()
            self._wait_eval()
            raise
        finally:
            _restore_handlers(self.prev_handlers)

    def _run(self, log) -> Dict[str, Any]:
        cfg = self.cfg
        torch.set_num_threads(1)  # the trainer's own work (evaluation) must not crowd the actors
        backend = make_backend(cfg.runtime)
        budget = FrameBudget(self.total_steps, backend.ctx, done=self.start_frames // self.skip)
        shared = Shared(
            model=self.model,
            target=self.target,
            stats=self.stats,
            budget=budget,
            stop=backend.make_event(),
            start=backend.make_event(),
            queue=backend.make_queue(),
            frame_skip=self.skip,
        )
        self.budget, self.shared = budget, shared
        self.run_log = log
        self.t0 = time.monotonic()  # provisional: the clock restarts when all are ready
        self.startup_s, self._ready = 0.0, 0
        self._next_eval = _next_multiple(self.start_frames, cfg.eval.interval_frames)
        self._next_ckpt = _next_multiple(self.start_frames, cfg.checkpoint.interval_frames)
        log.begin(self)
        for task in list(self._eval_unfinished):  # the evaluations the last stop interrupted, first
            self._queue_eval(task, restored=True)
        status = "completed"
        try:
            launched = time.monotonic()
            backend.start(cfg.threads, OmegaConf.to_container(cfg, resolve=True), shared)
            while True:
                self._drain(timeout=0.2)
                if self._write_failed is not None:
                    raise self._write_failed
                if self.stop_signal is not None:
                    status = "interrupted"
                    break
                if self.reached is not None:
                    break  # completed: an evaluation reached stop_at_score
                dead = backend.dead()
                if self.error or dead:
                    status = "failed"
                    self.error = self.error or dead
                    break
                if not shared.start.is_set():
                    if self._ready == cfg.threads:
                        # wall time counts training, from a common start; start-up is reported apart
                        self.t0 = time.monotonic()
                        self.startup_s = self.t0 - launched
                        log.started(self)
                        shared.start.set()
                    continue
                if not backend.alive():
                    self._drain(timeout=0.0)
                    if self.error:
                        status = "failed"
                    break
                self._tick()
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
        finally:
            shared.stop.set()
            if status != "completed" or (budget.done < self.total_steps and self.reached is None):
                self._cancel_eval.set()  # stopping early: don't wait for a periodic evaluation
            shared.start.set()  # release any actor-learner still waiting for the start
            backend.join(JOIN_TIMEOUT_S)
        self._drain(timeout=0.0)
        dead = backend.dead()
        if status == "completed" and (self.error or dead):
            status, self.error = "failed", self.error or dead
        if self.reached is not None and budget.done >= self.total_steps:
            self.reached = None  # the budget ended training, not the score
        if status == "completed" and budget.done < self.total_steps and self.reached is None:
            status = "interrupted"  # actor-learners stopped (e.g. SIGTERM) before the budget
        wall = self.wall()
        frames = budget.done * self.skip
        log.row(self, force=True)
        # The run's model, and the T and time it is recorded at. After stop_at_score it is the
        # snapshot that reached the score, not the parameters that trained on while it was being
        # evaluated (up to a few million frames with a slow evaluation): the checkpoint, the final
        # evaluation and a shipped model are then the model that scored. The summary keeps every
        # frame trained.
        model_frames, model_wall = frames, wall
        if status == "completed" and self.reached is not None:
            self.model.load_state_dict(self._reached_model)
            model_frames, model_wall = int(self.reached["frames"]), float(self.reached["wall_time_s"])
            log.message(f"the run's model: the snapshot that reached stop_at_score at {model_frames:,} frames "
                        f"(trained to {frames:,})")
        if status != "failed":
            # a failed run keeps its last good checkpoint (its parameters may be non-finite)
            self.save_checkpoint(model_frames, model_wall)
        try:
            self._wait_eval()
            if self._write_failed is not None:
                raise self._write_failed
            if self.error and status != "failed":  # the evaluation process died meanwhile
                status = "failed"
            if status != "failed" and (len(self.evals), len(self._eval_unfinished)) != self._checkpointed_evals:
                self.save_checkpoint(model_frames, model_wall)  # evaluations recorded meanwhile: the checkpoint says so
            if status == "completed" and cfg.eval.final and cfg.eval.episodes > 0:
                log.message("final evaluation ...")
                self._evaluate(model_frames, model_wall)
                if self.stop_signal is not None:  # the signal cancelled the evaluation, or came after it
                    status = "interrupted"
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
        return log.finish(self, status, frames, wall)

    def _on_signal(self, signum, frame) -> None:
        """SIGINT (Ctrl-C), SIGTERM or SIGUSR2 (SLURM's time-limit signal): only remember it; the watch
        loop stops the run at its next tick and writes the checkpoint and summary. Raising here could
        unwind whatever the main thread was in: a message half read from the actor-learners' queue
        (the next read then blocks on a broken frame: a Ctrl-C that never finished, seen under load),
        or another handler this one interrupted (submitit's, whose `scontrol requeue` makes SLURM send
        SIGTERM at once; the job would then return a failure although SLURM reruns it). A second
        Ctrl-C raises KeyboardInterrupt, as without this handler."""
        if self.stop_signal is None:
            self.stop_signal = signum
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt

    def _eval_cancelled(self) -> bool:
        return self._cancel_eval.is_set() or self.stop_signal is not None

    def wall(self) -> float:
        return self.wall_offset + time.monotonic() - self.t0

    def frames(self) -> int:
        return self.budget.done * self.skip

    def lr(self, frames: Optional[int] = None) -> float:
        """The learning rate at T = `frames` (default: now)."""
        return linear_lr(self.cfg.method.lr, self.frames() if frames is None else frames, self.lr_horizon)

    def _drain(self, timeout: float) -> None:
        q = self.shared.queue
        try:
            msg = q.get(timeout=timeout) if timeout > 0 else q.get_nowait()
        except queue_mod.Empty:
            return
        while True:
            self._handle(msg)
            try:
                msg = q.get_nowait()
            except queue_mod.Empty:
                return

    def _handle(self, msg) -> None:
        kind = msg[0]
        if kind == "ready":
            self._ready += 1
        elif kind == "episode":
            _, rank, frames, score, length = msg
            self.recent_scores.append(score)
            self.run_log.episode(self, rank, frames, score, length)
        elif kind == "stats":
            self.run_log.stats(msg[3])
        elif kind == "error":
            _, rank, tb = msg
            self.error = f"actor-learner {rank} raised:\n{tb}"

    def _tick(self) -> None:
        frames = self.frames()
        if self.budget.done < self.total_steps:
            # The row at the budget's end is the forced one after the actor-learners have exited:
            # their last statistics reach the queue after the budget is used up, and a row written
            # at that T before they come would leave them in no row (one row per T).
            self.run_log.row(self)
        if self._next_ckpt is not None and frames >= self._next_ckpt:
            self._next_ckpt = _next_multiple(frames, self.cfg.checkpoint.interval_frames)
            self.save_checkpoint(frames, self.wall())
        if self._next_eval is not None and frames >= self._next_eval and self.cfg.eval.episodes > 0:
            if self.budget.done >= self.total_steps and self.cfg.eval.final:
                # the final evaluation plays these parameters at this T once the actor-learners exit:
                # a periodic one here would be the same evaluation twice
                self._next_eval = None
                return
            # a snapshot now, played when the evaluator gets to it: a slow (low-priority) evaluation
            # delays the later ones but skips none (while at most MAX_PENDING_EVALS wait), and each
            # keeps the frames of its snapshot
            self._next_eval = _next_multiple(frames, self.cfg.eval.interval_frames)
            if self._eval_tasks.qsize() >= MAX_PENDING_EVALS:
                if not self._said_behind:
                    self._said_behind = True
                    self.run_log.message(
                        f"evaluations fall behind ({MAX_PENDING_EVALS} waiting): skipping the one at {frames:,} "
                        "frames and later ones while that lasts (raise eval.interval_frames or lower eval.nice)")
                return
            snapshot = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._queue_eval((frames, self.wall(), snapshot, self._eval_seed()))

    def _queue_eval(self, task: tuple, restored: bool = False) -> None:
        """Hand (frames, wall, snapshot, seed) to the evaluator thread (started at the first one);
        it stays in _eval_unfinished until its scores are recorded."""
        if not restored:
            with self._lock:
                self._eval_unfinished.append(task)
        self._eval_tasks.put(task)
        if self._eval_thread is None:
            self._eval_thread = threading.Thread(target=self._evaluator, daemon=True, name="evaluator")
            self._eval_thread.start()

    def _eval_seed(self) -> int:
        """One seed per evaluation, for its env and for its policy's random draws alike (a policy
        seeded from cfg.seed alone would replay the same draws in every evaluation)."""
        self._evals_started += 1
        return self.cfg.seed + 10_007 * self._evals_started

    def _evaluator(self) -> None:
        """The periodic evaluations, one after the other, until the None that `_wait_eval` sends.
        Once one has reached stop_at_score, the snapshots taken after it are dropped, neither played
        nor kept: the run's model is the one that scored (see _run)."""
        while (task := self._eval_tasks.get()) is not None:
            past_score = self.reached is not None and task[0] > self.reached["frames"]
            if self._eval_cancelled():
                continue
            if past_score:
                with self._lock:
                    self._drop_unfinished(task[2])
            else:
                try:
                    self._evaluate(*task)  # recording its scores takes it off _eval_unfinished
                except results.WriteFailed as exc:  # the watch loop stops the run with it
                    self._write_failed = exc
                    self._cancel_eval.set()

    def _drop_unfinished(self, snapshot: Dict[str, torch.Tensor]) -> None:
        """The evaluation of `snapshot` is recorded or dropped: no longer due. The caller holds
        self._lock (recording it and dropping it are one step: see _evals_and_pending)."""
        self._eval_unfinished = [t for t in self._eval_unfinished if t[2] is not snapshot]

    def _wait_eval(self) -> None:
        """Let the evaluator finish the evaluations already due (none once the run is cancelled)."""
        if self._eval_thread is not None:
            self._eval_tasks.put(None)
            self._eval_thread.join()
        self._close_eval_process()

    def _evaluate(self, frames: int, wall: float, snapshot: Optional[Dict[str, torch.Tensor]] = None,
                  seed: Optional[int] = None) -> bool:
        """Evaluate the parameters of `snapshot` (taken at `frames`) in their own lower-priority
        process (see _evaluation_process), or, without one, the shared model as it is now, here.
        True when the scores were recorded (False: the run stopped first)."""
        cfg = self.cfg
        seed = self._eval_seed() if seed is None else seed
        if snapshot is not None:
            scores = self._evaluate_in_process(snapshot, seed)
        else:
            net = copy.deepcopy(self.model)
            method = self.method_cls(cfg.method, self.spec.n_actions, EVAL_RANK, seed)
            scores = evaluate(net, method, cfg.env, int(cfg.eval.episodes), seed=seed, cancelled=self._eval_cancelled)
        if scores is None:
            return False
        entry = {"frames": frames, "wall_time_s": round(wall, 3), **summarize(scores)}
        with self._lock:  # recorded and no longer due, in one step (see _evals_and_pending)
            self.evals.append(entry)
            if snapshot is not None:
                self._drop_unfinished(snapshot)
        self.run_log.evaluation(self, entry)
        target = cfg.get("stop_at_score")
        if snapshot is not None and target is not None and self.reached is None and entry["mean"] >= target:
            self._reached_model = snapshot
            self.reached = entry  # the watch loop ends training at its next tick
            self.run_log.message(f"stop_at_score={target:g} reached at {frames:,} frames: training ends")
        return True

    def _evaluate_in_process(self, state: Dict[str, torch.Tensor], seed: int) -> Optional[List[float]]:
        """`evaluate` in the run's evaluation process (started at the first call: a process start
        costs seconds of CPU, and a fresh process is scheduled ahead of the actor-learners for a
        while, whatever its nice value); None if the run stops first (the process is then ended)
        or the process dies without scores (the run then fails, saying how it died)."""
        proc, conn = self._eval_proc, self._eval_conn
        if proc is None:
            ctx = tmp.get_context("spawn")
            conn, child = ctx.Pipe()
            proc = ctx.Process(target=_evaluation_process, name="evaluation", daemon=True,
                               args=(OmegaConf.to_container(self.cfg, resolve=True), child))
            proc.start()
            child.close()
            self._eval_proc, self._eval_conn = proc, conn
        try:
            conn.send((state, seed))
            while not self._eval_cancelled():
                if conn.poll(0.2):
                    return conn.recv()
                if not proc.is_alive() and not conn.poll(0):
                    raise EOFError
        except (EOFError, OSError):
            proc.join(JOIN_TIMEOUT_S)
            if not self._eval_cancelled():  # it died: the run stops as for a dead actor-learner
                self.error = self.error or f"the evaluation process {exit_description(proc.exitcode)}"
        self._close_eval_process()
        return None

    def _close_eval_process(self) -> None:
        """End the evaluation process: at once if it is busy (a cancelled run), else after None."""
        proc, conn = self._eval_proc, self._eval_conn
        if proc is None:
            return
        self._eval_proc = self._eval_conn = None
        try:
            if proc.is_alive() and not self._eval_cancelled():
                conn.send(None)
                proc.join(JOIN_TIMEOUT_S)
        except OSError:
            pass
        finally:
            conn.close()
            if proc.is_alive():
                proc.terminate()
            proc.join(JOIN_TIMEOUT_S)


def _next_multiple(frames: int, interval: int) -> Optional[int]:
    """The first multiple of `interval` after `frames` (None: the interval is off)."""
    if interval <= 0:
        return None
    return (frames // interval + 1) * interval


def _install_handlers(handler) -> Dict[int, Any]:
    """`handler` for SIGINT, SIGTERM and SIGUSR2 (main thread only); returns the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    sigs = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGUSR2] if hasattr(signal, "SIGUSR2") else [])
    return {s: signal.signal(s, handler) for s in sigs}


def _restore_handlers(old: Dict[int, Any]) -> None:
    for s, h in old.items():
        if h is not None:
            signal.signal(s, h)

"""The trainer: builds the shared state, starts `threads` actor-learners on a backend, and watches
them — logging, progress, periodic evaluation (runtime.evaluations), checkpoints (runtime.resume),
and stopping on budget, stop_at_score, failure, Ctrl-C or SIGTERM. It is the only place that owns
the actor-learners' processes and the global counter.
"""

from __future__ import annotations

import copy
import math
import queue as queue_mod
import signal
import time
from collections import deque
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from omegaconf import OmegaConf

from .. import checkpoint as ckpt_file
from .. import results
from ..logger import Outcome, Progress
from . import resume
from .backends import make_backend
from .evaluations import JOIN_TIMEOUT_S, Evaluations
from .model import build_model
from .optim import linear_lr, lr_horizon, make_shared_statistics
from .shared import FrameBudget, Shared, share_network
from .signals import install_handlers, restore_handlers

# The watch's turn: checkpoints and evaluations fall due when T crosses a multiple of their interval
# and are taken at the first turn after, so this bounds how far past it they are taken (~60 frames
# at 3,000 frames/s) whatever the actor-learners' message traffic (games go in batches).
WATCH_S = 0.02

class Interrupted(Exception):
    """Ctrl-C or SIGTERM reached the trainer."""


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
        if checkpoint is not None:
            self.start_frames, self.wall_offset = resume.restore(
                checkpoint, self.run_dir / "checkpoint.pt", self.model, self.target, self.stats,
                cfg.method.optimizer, self.total_frames)
        self.recent_scores: deque = deque(maxlen=10)
        self.error: Optional[str] = None
        self.stop_signal: Optional[int] = None  # SIGTERM or SIGUSR2, if one stopped the run
        self.prev_handlers: Dict[int, Any] = {}  # the handlers run() replaced (submitit's, under SLURM)
        self.evaluations = Evaluations(
            cfg, self.method_cls, self.spec.n_actions, checkpoint or {},
            stopping=lambda: self.stop_signal is not None, on_record=self._recorded,
            on_failure=self._failed, message=lambda text: self.run_log.message(text))
        self._model_reached: Optional[Dict[str, Any]] = None  # the stop_at_score entry the model is from

    @property
    def evals(self):
        """The evaluations recorded so far (restored ones included)."""
        return self.evaluations.recorded()

    # ---- checkpoints -------------------------------------------------------------------------
    def checkpoint_payload(self, frames: int, wall: float) -> Dict[str, Any]:
        """Everything a resumed run continues from (see resume.payload)."""
        return resume.payload(
            self.model, self.target, self.stats, cfg=self.cfg, frames=frames, frame_skip=self.skip,
            total_frames=self.total_frames, lr_horizon=self.lr_horizon, lr=self.lr(frames), wall=wall,
            evaluations=self.evaluations.checkpoint_state())

    def save_checkpoint(self, frames: int, wall: float) -> bool:
        """Write checkpoint.pt atomically, unless theta has gone non-finite: then the last good
        checkpoint stays (the actor-learner that sees a non-finite loss stops the run)."""
        if not resume.finite(self.model):
            self.run_log.message(f"non-finite parameters at {frames:,} frames: checkpoint not written")
            return False
        ckpt_file.save(self.run_dir / "checkpoint.pt", self.checkpoint_payload(frames, wall))
        return True

    # ---- the run -----------------------------------------------------------------------------
    def run(self, log) -> Dict[str, Any]:
        """Train until the budget is done or the run stops; returns the summary. SIGINT, SIGTERM and
        SIGUSR2 stop it as `interrupted` (see _on_signal); their previous handlers are back on return."""
        self.stop_signal, self.prev_handlers = None, install_handlers(self._on_signal)
        try:
            return self._run(log)
        except results.WriteFailed:
            # a run file could not be written (e.g. a full disk): the actor-learners are stopped
            # (_watch's finally), the evaluations too, and nothing more is written; the files keep
            # what they held, the checkpoint and summary whole (atomic writes)
            self.evaluations.cancel()
            self.evaluations.wait()
            raise
        finally:
            restore_handlers(self.prev_handlers)

    def _run(self, log) -> Dict[str, Any]:
        torch.set_num_threads(1)  # the trainer's own work (evaluation) must not crowd the actors
        self.run_log = log
        backend = make_backend(self.cfg.runtime)
        self._share(backend)
        log.begin(self.start_frames, self.wall_offset, self.total_frames, self._outcome())
        self.evaluations.resume()  # the evaluations the last stop interrupted, first
        status = self._settle(self._watch(backend), backend)
        frames, wall = self.frames(), self.wall()
        log.row(self._progress(frames), force=True)
        model_frames, model_wall = self._keep_model(status, frames, wall)
        status = self._last_evaluations(status, model_frames, model_wall)
        return log.finish(status, frames, wall, self._outcome())

    def _share(self, backend) -> None:
        """The state the actor-learners share on `backend`, and the clocks and schedules of the watch."""
        self.budget = FrameBudget(self.total_steps, backend.ctx, done=self.start_frames // self.skip)
        self.shared = Shared(model=self.model, target=self.target, stats=self.stats, budget=self.budget,
                             stop=backend.make_event(), start=backend.make_event(), queue=backend.make_queue(),
                             frame_skip=self.skip)
        self.t0 = time.monotonic()  # provisional: the clock restarts when all are ready
        self.startup_s, self._ready = 0.0, 0
        self._next_eval = _next_multiple(self.start_frames, self.cfg.eval.interval_frames)
        self._next_ckpt = _next_multiple(self.start_frames, self.cfg.checkpoint.interval_frames)

    def _watch(self, backend) -> str:
        """Start the actor-learners and watch them until the run ends; stop and join them. Returns
        the status the watch ended with."""
        status = "completed"
        try:
            launched = time.monotonic()
            backend.start(self.cfg.threads, OmegaConf.to_container(self.cfg, resolve=True), self.shared)
            ended = None
            while ended is None:
                ended = self._watch_once(backend, launched)
            status = ended
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
        finally:
            self.shared.stop.set()
            if status != "completed" or (self.budget.done < self.total_steps and self.evaluations.reached is None):
                self.evaluations.cancel()  # stopping early: don't wait for a periodic evaluation
            self.shared.start.set()  # release any actor-learner still waiting for the start
            backend.join(JOIN_TIMEOUT_S)
        return status

    def _watch_once(self, backend, launched: float) -> Optional[str]:
        """One turn of the watch: messages, then the reasons to stop (the status to end with), the
        common start, or the periodic work. None: watch on."""
        self._drain(timeout=WATCH_S)
        if self.evaluations.write_failed is not None:
            raise self.evaluations.write_failed
        if self.stop_signal is not None:
            return "interrupted"
        if self.evaluations.reached is not None:
            return "completed"  # an evaluation reached stop_at_score
        dead = backend.dead()
        if self.error or dead:
            self.error = self.error or dead
            return "failed"
        if not self.shared.start.is_set():
            if self._ready == self.cfg.threads:
                # wall time counts training, from a common start; start-up is reported apart
                self.t0 = time.monotonic()
                self.startup_s = self.t0 - launched
                self.run_log.started(self.frames(), self.startup_s)
                self.shared.start.set()
            return None
        if not backend.alive():
            self._drain(timeout=0.0)
            return "failed" if self.error else "completed"
        self._tick()
        return None

    def _settle(self, status: str, backend) -> str:
        """The run's status once the actor-learners have exited: their last messages and exit codes,
        and whether the budget or the score ended training."""
        self._drain(timeout=0.0)
        dead = backend.dead()
        if status == "completed" and (self.error or dead):
            status, self.error = "failed", self.error or dead
        if status == "completed" and self.budget.done < self.total_steps and self.evaluations.reached is None:
            status = "interrupted"  # actor-learners stopped (e.g. SIGTERM) before the budget
        return status

    def _keep_model(self, status: str, frames: int, wall: float) -> Tuple[int, float]:
        """The run's model, checkpointed unless the run failed, and the T and time it is recorded at.
        After stop_at_score it is the snapshot that reached the score, not the parameters that
        trained on while it was being evaluated (up to a few million frames with a slow evaluation):
        the checkpoint, the final evaluation and a shipped model are then the model that scored.
        The summary keeps every frame trained."""
        if status == "completed" and self.evaluations.reached is not None:
            frames, wall = self._use_reached_model()
        if status != "failed":
            # a failed run keeps its last good checkpoint (its parameters may be non-finite)
            self.save_checkpoint(frames, wall)
        return frames, wall

    def _use_reached_model(self) -> Tuple[int, float]:
        """Make the snapshot that reached stop_at_score the run's model; its T and time."""
        reached = self.evaluations.reached
        self.model.load_state_dict(self.evaluations.reached_model)
        self._model_reached = reached
        frames, wall = int(reached["frames"]), float(reached["wall_time_s"])
        self.run_log.message(f"the run's model: the snapshot that reached stop_at_score at {frames:,} frames "
                             f"(trained to {self.frames():,})")
        return frames, wall

    def _last_evaluations(self, status: str, frames: int, wall: float) -> str:
        """Let the periodic evaluations due finish, checkpoint what they recorded, then play the final
        evaluation of the run's model (at `frames`, `wall`); returns the run's final status."""
        try:
            self.evaluations.wait()
            if self.evaluations.write_failed is not None:
                raise self.evaluations.write_failed
            if self.error and status != "failed":  # the evaluation process died meanwhile
                status = "failed"
            if status == "completed" and self.evaluations.reached not in (None, self._model_reached):
                # a periodic evaluation finished after the budget ran out and reached the score: the
                # run's model is still the snapshot that scored, whichever came first
                frames, wall = self._keep_model(status, frames, wall)
            if status != "failed" and self.evaluations.changed_since_checkpoint():
                self.save_checkpoint(frames, wall)  # evaluations recorded meanwhile: the checkpoint says so
            if status == "completed" and self.cfg.eval.final and self.cfg.eval.episodes > 0:
                self.run_log.message("final evaluation ...")
                self.evaluations.evaluate_here(frames, wall, self.model)
                if self.stop_signal is not None:  # the signal cancelled the evaluation, or came after it
                    status = "interrupted"
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
        return status

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

    # ---- what the logger is told ---------------------------------------------------------------
    def _progress(self, frames: Optional[int] = None) -> Progress:
        frames = self.frames() if frames is None else frames
        recent = list(self.recent_scores)
        return Progress(frames, self.wall(), self.lr(frames), sum(recent) / len(recent) if recent else None)

    def _outcome(self) -> Outcome:
        return Outcome(self.evaluations.recorded(), self.error, self.evaluations.reached)

    def _recorded(self, entry: Dict[str, Any]) -> None:
        """An evaluation was recorded: the log says so and the summary lists it."""
        self.run_log.evaluation(entry, self._progress(), self._outcome())

    def _failed(self, text: str) -> None:
        """A part of the run other than an actor-learner failed: the run stops as for a dead one."""
        self.error = self.error or text

    def wall(self, clock: Optional[float] = None) -> float:
        """Training time at `clock` (a time.monotonic() value; default: now)."""
        return self.wall_offset + (time.monotonic() if clock is None else clock) - self.t0

    def frames(self) -> int:
        return self.budget.done * self.skip

    def lr(self, frames: Optional[int] = None) -> float:
        """The learning rate at T = `frames` (default: now)."""
        return linear_lr(self.cfg.method.lr, self.frames() if frames is None else frames, self.lr_horizon)

    # ---- the watch's work ----------------------------------------------------------------------
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
        elif kind == "games":  # every game an actor-learner finished since its last message
            _, rank, games = msg
            for ended_at, frames, score, length in games:  # ended_at: time.monotonic(), system-wide
                self.recent_scores.append(score)
                self.run_log.episode(self.wall(ended_at), rank, frames, score, length)
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
            self.run_log.row(self._progress(frames))
        if self._next_ckpt is not None and frames >= self._next_ckpt:
            self._next_ckpt = _next_multiple(frames, self.cfg.checkpoint.interval_frames)
            self.save_checkpoint(frames, self.wall())
        if self._next_eval is not None and frames >= self._next_eval and self.cfg.eval.episodes > 0:
            if self.budget.done >= self.total_steps and self.cfg.eval.final:
                # the final evaluation plays these parameters at this T once the actor-learners exit:
                # a periodic one here would be the same evaluation twice
                self._next_eval = None
                return
            # a snapshot now, played when the evaluator gets to it, at the frames of its snapshot
            self._next_eval = _next_multiple(frames, self.cfg.eval.interval_frames)
            self.evaluations.submit(frames, self.wall(), self.model.state_dict())


def _next_multiple(frames: int, interval: int) -> Optional[int]:
    """The first multiple of `interval` after `frames` (None: the interval is off)."""
    if interval <= 0:
        return None
    return (frames // interval + 1) * interval

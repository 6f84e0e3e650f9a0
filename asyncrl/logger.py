"""The trainer's logger: what a run writes while it trains (CSV rows, summary.json, progress,
and the optional wandb mirror), through the file formats of `asyncrl.results`."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from . import fingerprint
from .results import (EPISODE_COLUMNS, METRIC_COLUMNS, CsvLog, code_history, cpu, host_history, read_json, versions,
                      write_json)
from .runtime.optim import lr_horizon
from .wandb_mirror import WandbLogger


@dataclass(frozen=True)
class Progress:
    """Where training is: T in frames, the training wall time, the learning rate at T and the mean
    of the recent episodes' scores (None before any)."""

    frames: int
    wall: float
    lr: float
    recent_score: Optional[float] = None


@dataclass(frozen=True)
class Outcome:
    """What summary.json reports beside the counts: the recorded evaluations, the error that failed
    the run, and the periodic evaluation that reached stop_at_score and ended training."""

    evals: List[Dict[str, Any]] = field(default_factory=list)
    error: Optional[str] = None
    reached: Optional[Dict[str, Any]] = None


# A metrics row whose active_min is below this says the network's units died (networks.min_active_share:
# live nets keep >= 0.1, dead ones ~1e-6)
DEAD_ACTIVE_SHARE = 1e-3


class RunLog:
    """Everything a run writes while it trains: CSV rows, summary.json, progress, wandb."""

    def __init__(self, cfg, run_dir: Path, stat_keys, cores: int):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self._code_now = fingerprint.fingerprint()  # the code this process trains with
        self.stat_keys = list(stat_keys)
        self.episodes = CsvLog(self.run_dir / "episodes.csv", EPISODE_COLUMNS)
        self.metrics = CsvLog(self.run_dir / "metrics.csv", METRIC_COLUMNS + self.stat_keys)
        from omegaconf import OmegaConf

        self.wandb = WandbLogger(
            cfg.logger.wandb, cfg.logger.wandb_project, self.run_dir,
            OmegaConf.to_container(cfg, resolve=True), self.run_dir.name,
        )
        self.base = {
            "method": cfg.method.name,
            "env": cfg.env.game,
            "threads": int(cfg.threads),
            "seed": int(cfg.seed),
            "runtime": cfg.runtime,
            "total_frames": int(cfg.total_frames),
            "lr_anneal_frames": lr_horizon(cfg.method, int(cfg.total_frames)),  # the LR reaches 0 here
            # when the actor-learners draw their final eps again: only the value-based methods' configs have one
            **({"epsilon_resample": eps} if (eps := OmegaConf.select(cfg, "method.epsilon.resample")) else {}),
            "cores": cores,
            "cpu": cpu(),
            "lr": float(cfg.method.lr),
            "network": cfg.method.network or cfg.env.network,
            "optimizer": cfg.method.optimizer,
            "frame_skip": int(cfg.env.frame_skip),
            "eval_protocol": f"noop_starts_{int(cfg.env.noop_max)}",
            "terminal_on_life_loss": bool(getattr(cfg.env, "terminal_on_life_loss", False)),  # learning only
            "fire_reset": bool(getattr(cfg.env, "fire_reset", False)),
            "versions": versions(self._code_now["git_commit"]),
        }
        self._stat_sums: Dict[str, float] = {}
        self._stat_n = 0
        self._ep_scores: List[float] = []
        self._last_row_t = None
        self._other_load = None  # runtime.load.OtherLoad from begin(); restarted with the training clock
        self._last_row_frames = 0
        self._last_row: Optional[Dict[str, Any]] = None  # the last row this process wrote, and the
        self._last_sums: Dict[str, float] = {}  # reports it was made of (kept for _join_last_row)
        self._last_n = 0
        self._last_scores: List[float] = []
        self._last_plain_t = 0.0
        self._rate = None  # RecentRate once training has started
        self.dead_at: Optional[int] = None  # frames at the first metrics row below DEAD_ACTIVE_SHARE (ever)
        self._said_dead = False  # the warning, once per process
        self.bar = None
        self.start_frames, self.wall_offset, self.total_frames = 0, 0.0, int(cfg.total_frames)  # from begin()
        self.startup_s = 0.0  # spawning and building the actor-learners, from started()
        self._summary_lock = threading.Lock()  # the evaluator thread writes the summary too
        self.hosts: List[Dict[str, Any]] = []  # results.host_history, from begin()
        self.code: List[Dict[str, Any]] = []  # results.code_history, from begin()

    # --- called by the trainer -----------------------------------------------------------------
    def begin(self, start_frames: int, wall_offset: float, total_frames: int, outcome: Outcome) -> None:
        """The run starts (or resumes) at T = `start_frames` after `wall_offset` s of training, for a
        budget of `total_frames`."""
        import sys
        import time

        from .runtime.load import OtherLoad

        self.start_frames, self.wall_offset, self.total_frames = start_frames, wall_offset, total_frames
        self._last_row_t = time.monotonic()
        self._last_row_frames = start_frames
        self._other_load = OtherLoad()
        previous = read_json(self.run_dir / "summary.json") if start_frames > 0 else None
        if previous:  # resumed: a network found dead before the checkpoint stays found there
            dead = previous.get("dead_network_at_frames")
            if dead is not None and int(dead) <= start_frames:
                self.dead_at = int(dead)
        self.hosts = host_history(previous, start_frames, wall_offset, self.base["cpu"])
        self.code = code_history(previous, start_frames, wall_offset, self._code_now)
        if len(self.code) > 1 and self.code[-1]["from_frames"] == start_frames:
            self.message(code_change_line(self.code[-2], self.code[-1]))
        self._write_summary("running", start_frames, wall_offset, outcome)
        if self.cfg.logger.progress and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_frames, initial=start_frames, unit="frame", unit_scale=True,
                dynamic_ncols=True, desc=f"{self.cfg.method.name} {self.cfg.env.game}",
            )
        self.message(
            f"training {self.cfg.method.name} on {self.cfg.env.game}: {self.cfg.threads} actor-learner(s) "
            f"({self.cfg.runtime}), {total_frames:,} frames -> {self.run_dir}"
            + (f" (resumed at {start_frames:,})" if start_frames else "")
        )

    def started(self, frames: int, startup_s: float) -> None:
        """Every actor-learner is ready and the training clock starts now, at T = `frames`, after
        `startup_s` s of start-up."""
        import time

        from .runtime.load import OtherLoad

        self.startup_s = startup_s
        self._last_row_t = time.monotonic()
        self._rate = RecentRate(self._last_row_t, frames)
        self._other_load = OtherLoad()

    def episode(self, wall: float, rank: int, frames: int, score: float, length: int) -> None:
        self.episodes.write(
            {"frames": frames, "wall_time_s": round(wall, 3), "actor": rank, "score": score, "length": length}
        )
        self._ep_scores.append(score)

    def stats(self, d: Dict[str, float]) -> None:
        for k, v in d.items():
            self._stat_sums[k] = self._stat_sums.get(k, 0.0) + v
        self._stat_n += 1

    def row(self, at: Progress, force: bool = False) -> None:
        import time

        now = time.monotonic()
        frames = at.frames
        if self.bar is not None:
            self.bar.update(frames - self.bar.n)
            recent = at.recent_score
            fps = self._fps_now(at, now)
            self.bar.set_postfix_str(
                f"{fps:,.0f} frames/s" + (f", score {recent:.1f}" if recent is not None else ""), refresh=False
            )
        elif now - self._last_plain_t >= max(30.0, self.cfg.logger.interval_s) or force:
            self._last_plain_t = now
            recent = at.recent_score
            self.message(
                f"{frames:,}/{self.total_frames:,} frames ({100 * frames / self.total_frames:.1f}%), "
                f"{self._fps_now(at, now):,.0f} frames/s"
                + (f", recent score {recent:.2f}" if recent is not None else "")
            )
        dt = now - self._last_row_t
        if not force and dt < self.cfg.logger.interval_s:
            return
        if frames == self._last_row_frames:
            # no progress (start-up, shutdown): one row per T, also across a resume. Reports that came
            # after this process wrote T's row (actor-learners stopped by a signal report as they exit,
            # having taken no frame since) join that row in the run's last, forced write.
            if force and self._last_row is not None and (self._stat_n or self._ep_scores):
                self._join_last_row()
            return
        row = {
            "frames": frames,
            "wall_time_s": round(at.wall, 3),
            "frames_per_s": (frames - self._last_row_frames) / dt if dt > 0 else 0.0,
            "lr": at.lr,  # at this row's T
            # over this row's interval, as frames_per_s
            "other_load": self._other_load.since_last() if self._other_load is not None else None,
            **self._report_columns(),
        }
        self.metrics.write(row)
        self._written(row)
        self._last_row_t, self._last_row_frames = now, frames

    def _report_columns(self) -> Dict[str, Any]:
        """A row's columns from the actor-learners' reports since the last row: episodes, score_mean
        and the mean of each statistic."""
        cols: Dict[str, Any] = {
            "episodes": len(self._ep_scores),
            "score_mean": _mean(self._ep_scores) if self._ep_scores else "",
        }
        for k in ["loss", "grad_norm", "active_min"] + self.stat_keys:
            cols[k] = self._stat_sums[k] / self._stat_n if self._stat_n and k in self._stat_sums else ""
        return cols

    def _join_last_row(self) -> None:
        """Rewrite the last metrics row with the reports it was made of and those that came since, as
        if all had come before it; its T, time, rate, lr and other_load stay."""
        for k, v in self._last_sums.items():
            self._stat_sums[k] = self._stat_sums.get(k, 0.0) + v
        self._stat_n += self._last_n
        self._ep_scores = self._last_scores + self._ep_scores
        row = {**self._last_row, **self._report_columns()}
        self.metrics.replace_last(row)
        self._written(row)

    def _written(self, row: Dict[str, Any]) -> None:
        """After a row is written: the dead-network warning, the wandb mirror; the reports since the
        last row become this row's."""
        frames = row["frames"]
        active = row["active_min"]
        if active != "" and active < DEAD_ACTIVE_SHARE and not self._said_dead:
            self._said_dead = True
            before = f" (found first at {self.dead_at:,})" if self.dead_at is not None else ""
            self.dead_at = frames if self.dead_at is None else self.dead_at
            self.message(
                f"warning: at {frames:,} frames{before} only {active:.1e} of the outputs of the network's least "
                f"active layer are > 0: its units have died, its output no longer depends on its input and it "
                f"cannot learn again (too high a learning rate does this; method.lr={self.cfg.method.lr:g})"
            )
        self.wandb.log(row)
        self._last_row = row
        self._last_sums, self._last_n, self._last_scores = self._stat_sums, self._stat_n, self._ep_scores
        self._stat_sums, self._stat_n, self._ep_scores = {}, 0, []

    def _fps_now(self, at: Progress, now: float) -> float:
        """The progress line's speed: over the last RecentRate.WINDOW_S of training (so a slow minute
        long ago, e.g. other work sharing the cores, does not drag it down), since the start until then."""
        rate = self._rate.update(now, at.frames) if self._rate is not None else None
        if rate is not None:
            return rate
        w = at.wall - self.wall_offset
        return (at.frames - self.start_frames) / w if w > 0 else 0.0

    def evaluation(self, entry: Dict[str, Any], at: Progress, outcome: Outcome) -> None:
        sampled = ("" if "sampled_mean" not in entry else
                   f" with the mean action; sampled actions: {entry['sampled_mean']:.2f} ± {entry['sampled_std']:.2f}")
        self.message(
            f"evaluation at {entry['frames']:,} frames: {entry['mean']:.2f} ± {entry['std']:.2f} "
            f"over {entry['episodes']} games{sampled}"
        )
        self.wandb.log({"frames": entry["frames"], "eval_mean": entry["mean"], "eval_std": entry["std"]})
        self._write_summary("running", at.frames, at.wall, outcome)

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(f"[asyncrl] {text}")
        else:
            print(f"[asyncrl] {text}", flush=True)

    def finish(self, status: str, frames: int, wall: float, outcome: Outcome) -> Dict[str, Any]:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.episodes.close()
        self.metrics.close()
        summary = self._write_summary(status, frames, wall, outcome)
        self.wandb.finish()
        return summary

    def _write_summary(self, status: str, frames: int, wall: float, outcome: Outcome) -> Dict[str, Any]:
        evals = list(outcome.evals)
        run_frames = frames - self.start_frames
        run_wall = wall - self.wall_offset
        summary = {
            **self.base,
            "status": status,
            "frames": int(frames),
            "wall_time_s": round(wall, 3),
            "frames_per_s": round(run_frames / run_wall, 2) if run_wall > 0 else 0.0,
            "startup_s": round(self.startup_s, 3),  # spawning and building the actor-learners, not in wall_time_s
            "final_score": evals[-1]["mean"] if evals and status == "completed" else None,
            "evals": evals,
            "hosts": self.hosts,
            "code": self.code,
        }
        if outcome.error:
            summary["error"] = outcome.error
        if self.dead_at is not None:
            summary["dead_network_at_frames"] = self.dead_at
        if outcome.reached is not None:  # training ended at this periodic evaluation
            summary["stopped_at_score"] = {"stop_at_score": float(self.cfg.stop_at_score),
                                           **{k: outcome.reached[k] for k in ("frames", "wall_time_s", "mean")}}
        with self._summary_lock:
            write_json(self.run_dir / "summary.json", summary)
        return summary


def code_change_line(before: Dict[str, Any], now: Dict[str, Any]) -> str:
    """The line a run resumed on other code prints: the code it trained on up to the checkpoint,
    the code it continues on, and the files that differ when git can tell (asyncrl.fingerprint)."""
    def name(c):
        commit = f", git {c['git_commit'][:12]}" if c.get("git_commit") else ""
        return f"asyncrl {c['source']}, conf {c['conf']}{commit}"

    at = f"{now['from_frames']:,}"
    if before.get("source") is None:
        return (f"note: this run continues at {at} frames on code {name(now)}; the code it trained on "
                f"before is not recorded")
    changed = fingerprint.changed_files(before.get("git_commit"))
    files = "" if changed is None else f"; changed since {before['git_commit'][:12]}: {', '.join(changed) or 'no file'}"
    return f"warning: this run continues at {at} frames on other code: {name(now)} (was {name(before)}){files}"


def _mean(xs) -> Optional[float]:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else None


class RecentRate:
    """frames/s over the last complete window of at least WINDOW_S seconds (None until one has passed)."""

    WINDOW_S = 30.0

    def __init__(self, t: float, frames: int):
        self._mark = (t, frames)
        self._rate: Optional[float] = None

    def update(self, t: float, frames: int) -> Optional[float]:
        t0, f0 = self._mark
        if t - t0 >= self.WINDOW_S:
            self._rate, self._mark = (frames - f0) / (t - t0), (t, frames)
        return self._rate

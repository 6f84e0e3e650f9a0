"""A run directory's state machine: what a command does with the directory it is given.

The directory is checked writable and locked for the life of the run. Its previous `summary.json`
and `checkpoint.pt` decide what happens (with `resume=true`):
- no previous summary: start afresh;
- another run's directory (config.RUN_IDENTITY differs): refused;
- a completed run: skipped, unless it ended at a `stop_at_score` below the one asked for, when it
  trains on from its checkpoint (refused if the checkpoint cannot train further);
- results but no checkpoint to resume them from: refused (starting afresh would delete them);
- otherwise resumed from the checkpoint, or started afresh when it never had one.
A refusal leaves the directory as it was. `start` then makes the files agree with the plan:
the CSVs are cut back to the checkpoint's frames (or every result file goes), and the run's
config.yaml and .hydra files are written.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import checkpoint as ckpt_file
from . import config as _config
from . import results
from .errors import ConfigError

RESTORE_OR_AFRESH = "resume=false starts the run afresh (deleting its results), or restore the file from a copy"
RESULT_FILES = ("metrics.csv", "episodes.csv", "summary.json", "checkpoint.pt")
CSV_FILES = ("metrics.csv", "episodes.csv")


class RunDirError(ConfigError):
    """The run directory belongs to another run (in use, or a different config): never write to it."""


@dataclass
class Plan:
    """What a command does with its run directory: skip it (`previous` is the completed run's
    summary), resume from `checkpoint`, or start afresh (no checkpoint)."""

    skip: bool
    previous: Optional[dict]
    checkpoint: Optional[dict]


def check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"output directory '{run_dir}' is not writable ({exc.strerror or exc})") from None


@contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """The run directory, made if need be, checked writable and locked while the block runs."""
    check_writable(run_dir)
    try:
        lock = results.RunDirLock(run_dir).acquire()
    except results.RunDirInUse as exc:
        raise RunDirError(str(exc)) from None
    try:
        yield
    finally:
        lock.release()


def plan(cfg: DictConfig, run_dir: Path) -> Plan:
    """Decide from the directory's previous summary and checkpoint; refusals raise RunDirError."""
    previous = results.read_json(run_dir / "summary.json")
    if not cfg.resume or previous is None:
        return Plan(skip=False, previous=previous, checkpoint=None)
    checkpoint = load_checkpoint(run_dir / "checkpoint.pt")
    check_same_run(cfg, run_dir, checkpoint)
    if previous.get("status") == "completed" and not continues_past_score(cfg, run_dir, previous, checkpoint):
        print(f"[asyncrl] {run_dir} is already completed; skipping (resume=false starts afresh)")
        return Plan(skip=True, previous=previous, checkpoint=checkpoint)
    if checkpoint is None:
        check_nothing_lost(cfg, run_dir, previous)
    return Plan(skip=False, previous=previous, checkpoint=checkpoint)


def load_checkpoint(path: Path):
    """The run's checkpoint (None: none), read as plain data only (asyncrl.checkpoint); one that
    cannot be used is refused (exit 2) with the run directory left as it is."""
    try:
        return ckpt_file.load(path)
    except ckpt_file.CheckpointError as exc:
        raise RunDirError(f"{exc}; {RESTORE_OR_AFRESH}") from None


def check_same_run(cfg: DictConfig, run_dir: Path, checkpoint) -> None:
    """A run directory is resumed or skipped only for the same run (config.RUN_IDENTITY)."""
    saved = None
    try:
        saved = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"))
    except (OSError, OmegaConfBaseException):
        saved = (checkpoint or {}).get("config")
    if not saved:
        return
    diffs = _config.identity_differences(saved, OmegaConf.to_container(cfg, resolve=True))
    if diffs:
        raise RunDirError(
            f"{run_dir} holds another run ({'; '.join(diffs)}): resume=false starts it afresh, "
            f"or give this run its own directory"
        )


def check_nothing_lost(cfg: DictConfig, run_dir: Path, previous: dict) -> None:
    """Starting afresh deletes a run's results. Without a checkpoint that is only allowed for a run
    that never had one (stopped before its first, e.g. a failure at the start): a run that was
    interrupted, or trained past a checkpoint interval, had one, so it was deleted or lost."""
    frames = int(previous.get("frames") or 0)
    interval = int(cfg.checkpoint.interval_frames)
    had_one = previous.get("status") == "interrupted" or (interval > 0 and frames >= interval)
    if frames > 0 and had_one:
        raise RunDirError(
            f"{run_dir} has results to {frames:,} frames but no checkpoint.pt to resume them from: "
            f"resume=false deletes them and starts afresh, or give this run its own directory"
        )


def continues_past_score(cfg: DictConfig, run_dir: Path, previous: dict, checkpoint) -> bool:
    """A completed run that ended at `stop_at_score` trains on when the command asks for a higher
    score than the one it reached; the same (or no) stop_at_score leaves it completed."""
    reached, wanted = previous.get("stopped_at_score"), cfg.get("stop_at_score")
    if not reached or wanted is None or float(wanted) <= float(reached["mean"]):
        return False
    if checkpoint is None or (cfg.method.optimizer == "shared_rmsprop" and not checkpoint.get("stats")):
        raise RunDirError(
            f"{run_dir} ended at stop_at_score={reached['stop_at_score']:g} and its checkpoint no longer holds "
            f"what training needs (a shipped model): it cannot train further"
        )
    print(f"[asyncrl] {run_dir} reached {reached['mean']:.2f} at {reached['frames']:,} frames; "
          f"training on to stop_at_score={float(wanted):g}")
    return True


def start(cfg: DictConfig, run_dir: Path, checkpoint, hydra_cfg=None) -> None:
    """Make the directory agree with the plan: a fresh run deletes the previous results, a resumed
    one cuts its CSVs back to the checkpoint's frames; then the run's config files are written."""
    if checkpoint is None:
        for name in RESULT_FILES:
            (run_dir / name).unlink(missing_ok=True)
    else:
        for name in CSV_FILES:
            results.CsvLog.truncate_after(run_dir / name, int(checkpoint["frames"]))
    results.atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    if hydra_cfg is not None:
        save_hydra_files(cfg, run_dir, hydra_cfg)


def save_hydra_files(cfg: DictConfig, run_dir: Path, hydra_cfg, subdir: str = ".hydra") -> None:
    """What Hydra's `output_subdir` would hold (the composed config, Hydra's own, the overrides),
    written only for a run this command trains: Hydra writes it before the job starts, so a
    refused or skipped command would overwrite the record of the command that made the run."""
    if hydra_cfg.output_subdir is not None:  # the user asked Hydra for it: already written
        return
    out = run_dir / subdir
    out.mkdir(exist_ok=True)
    for name, node in (("config.yaml", cfg), ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})),
                       ("overrides.yaml", OmegaConf.create(list(hydra_cfg.overrides.task)))):
        results.atomic_write_text(out / name, OmegaConf.to_yaml(node))

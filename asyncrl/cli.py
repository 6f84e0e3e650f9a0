"""`asyncrl`: the Hydra entry point. Validate the config, prepare the run directory (resume or
skip), train, write the summary, and turn every kind of bad input into one line and exit code 2.

    asyncrl method=a3c env=breakout threads=16
    asyncrl -m method=a3c,n_step_q threads=1,2,4,8,16 seed=0,1,2
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import NoReturn

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from . import checkpoint as ckpt_file
from . import config as _config  # registers the schema and the ${cores:} resolver
from . import logger, results
from .fingerprint import conf_dir


def _conf_dir() -> str:
    """conf/ at the repository top (editable install, source tree) or asyncrl/conf (plain install)."""
    d = conf_dir()
    if d is None:
        raise RuntimeError("asyncrl: cannot find the conf/ directory")
    return str(d)


class ConfigError(ValueError):
    """Bad user input, reported as one line with exit code 2 before any work starts."""


class RunDirError(ConfigError):
    """The run directory belongs to another run (in use, or a different config): never write to it."""


FAILED_JOBS = []  # multirun jobs of this process that did not complete
_STARTED = []  # non-empty once Hydra has handed a config to a job
_MAIN_PID = []  # pid of the console command; a job in another process runs under a launcher
_STOPPED_BY = []  # (signal, the SIGUSR2 handler before the trainer's) when a signal stopped the run
_FORWARDED = []  # signals the command passed on to its launcher's job workers (joblib, submitit_local)
# A file whose existence tells a launcher's workers that the sweep was stopped: a job that a worker
# takes up after that does not start (the path is in the environment the workers inherit)
STOP_FILE_ENV = "ASYNCRL_SWEEP_STOPPED"


class JobFailed(Exception):
    """A multirun job that did not complete, raised in a launcher's worker process (joblib,
    submitit) so that its JobReturn carries the failure back to the command, which exits 1."""


def validate(cfg: DictConfig) -> None:
    from .envs import ATARI_BACKENDS
    from .envs import KINDS as ENV_KINDS
    from .envs import atari_games
    from .networks import TORSOS
    from .methods import get_method
    from .methods.value_based import EPS_RESAMPLE
    from .runtime.backends import BACKENDS
    from .runtime.optim import KINDS

    m, e = cfg.method, cfg.env
    try:
        method_cls = get_method(m.name)
    except (KeyError, ImportError, AttributeError) as exc:
        raise ConfigError(str(exc).strip("'\"")) from None
    if e.kind not in ENV_KINDS:
        raise ConfigError(f"unknown env kind '{e.kind}' (valid: {', '.join(ENV_KINDS)})")
    _check_action_space(m.name, method_cls, e.game, e.kind)
    if e.kind == "atari" and e.game not in atari_games():
        raise ConfigError(f"unknown Atari game '{e.game}' (valid: {', '.join(atari_games())})")
    if e.kind == "atari" and e.backend not in ATARI_BACKENDS:
        raise ConfigError(f"unknown env.backend '{e.backend}' (valid: {', '.join(ATARI_BACKENDS)})")
    if cfg.threads < 1:
        raise ConfigError(f"threads must be >= 1 (got {cfg.threads})")
    if cfg.total_frames <= 0:
        raise ConfigError(f"total_frames must be > 0 (got {cfg.total_frames})")
    if m.lr <= 0:
        raise ConfigError(f"method.lr must be > 0 (got {m.lr})")
    if m.get("lr_anneal_frames") is not None and m.lr_anneal_frames <= 0:
        raise ConfigError(f"method.lr_anneal_frames must be > 0, or null for total_frames (got {m.lr_anneal_frames})")
    if m.epsilon.get("resample", "per_run") not in EPS_RESAMPLE:
        raise ConfigError(f"unknown method.epsilon.resample '{m.epsilon.resample}' (valid: {', '.join(EPS_RESAMPLE)})")
    if m.t_max < 1:
        raise ConfigError(f"method.t_max must be >= 1 (got {m.t_max})")
    if not 0 < m.gamma <= 1:
        raise ConfigError(f"method.gamma must be in (0, 1] (got {m.gamma})")
    if cfg.runtime not in BACKENDS:
        raise ConfigError(f"unknown runtime '{cfg.runtime}' (valid: {', '.join(BACKENDS)})")
    if m.optimizer not in KINDS:
        raise ConfigError(f"unknown method.optimizer '{m.optimizer}' (valid: {', '.join(KINDS)})")
    net = m.network or e.network
    if net not in TORSOS:
        raise ConfigError(f"unknown network '{net}' (valid: {', '.join(TORSOS)})")
    if e.kind != "atari" and net != "mlp":
        raise ConfigError(f"network '{net}' needs pixel observations; env '{e.game}' has vectors (use mlp)")
    if m.lstm and (method_cls.needs_next_action or method_cls.uses_target_net):
        # the paper's LSTM agent is A3C; a value-based target would need theta-'s own carried state
        raise ConfigError(f"method '{m.name}' does not support an LSTM core (method.lstm=true is for a3c only)")
    if len(m.epsilon.finals) != len(m.epsilon.probs) or abs(sum(m.epsilon.probs) - 1) > 1e-6:
        raise ConfigError("method.epsilon.finals and .probs must have equal length and probs sum to 1")
    if cfg.get("stop_at_score") is not None and (cfg.eval.episodes <= 0 or cfg.eval.interval_frames <= 0):
        raise ConfigError("stop_at_score needs periodic evaluations (eval.episodes > 0 and eval.interval_frames > 0)")
    if cfg.get("pin_cores") and not hasattr(os, "sched_setaffinity"):
        raise ConfigError("pin_cores needs os.sched_setaffinity (Linux); this platform has none")


def _check_action_space(name: str, method_cls, game: str, kind: str) -> None:
    """A method takes one kind of action space; a continuous env also needs its physics packages."""
    from .envs_continuous import CONTINUOUS_KINDS, INSTALL_HINT, missing_package

    continuous = kind in CONTINUOUS_KINDS
    if continuous and not getattr(method_cls, "continuous_actions", False):
        raise ConfigError(f"method '{name}' takes discrete actions; env '{game}' has continuous ones "
                          "(use method=a3c_continuous)")
    if getattr(method_cls, "continuous_actions", False) and not continuous:
        raise ConfigError(f"method '{name}' takes continuous actions; env '{game}' has discrete ones")
    missing = missing_package(kind)
    if missing:
        raise ConfigError(f"env '{game}' needs the '{missing}' package: {INSTALL_HINT}")


def _check_same_run(cfg: DictConfig, run_dir: Path, checkpoint) -> None:
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


def _check_nothing_lost(cfg: DictConfig, run_dir: Path, previous: dict) -> None:
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


def _continues_past_score(cfg: DictConfig, run_dir: Path, previous: dict, checkpoint) -> bool:
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


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"output directory '{run_dir}' is not writable ({exc.strerror or exc})") from None


def run(cfg: DictConfig) -> dict:
    """Train one run in Hydra's output directory; returns its summary."""
    validate(cfg)
    if multiprocessing.get_start_method(allow_none=True) not in (None, "spawn", "fork", "forkserver"):
        # a joblib (loky) job: spawned actor-learners would inherit the start method 'loky', which
        # plain multiprocessing cannot find, and die silently at start-up
        multiprocessing.set_start_method("spawn", force=True)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    _check_writable(run_dir)
    try:
        lock = results.RunDirLock(run_dir).acquire()
    except results.RunDirInUse as exc:
        raise RunDirError(str(exc)) from None
    try:
        return _run_locked(cfg, run_dir)
    finally:
        lock.release()


def _run_locked(cfg: DictConfig, run_dir: Path) -> dict:
    from .runtime.trainer import Trainer

    previous = results.read_json(run_dir / "summary.json")
    checkpoint = None
    if cfg.resume and previous is not None:
        checkpoint = _load_checkpoint(run_dir / "checkpoint.pt")
        _check_same_run(cfg, run_dir, checkpoint)
        if previous.get("status") == "completed" and not _continues_past_score(cfg, run_dir, previous, checkpoint):
            print(f"[asyncrl] {run_dir} is already completed; skipping (resume=false starts afresh)")
            return previous
        if checkpoint is None:
            _check_nothing_lost(cfg, run_dir, previous)
    try:  # before any file changes: a checkpoint of another network is refused with the directory as it was
        trainer = Trainer(cfg, run_dir, checkpoint)
    except ckpt_file.CheckpointError as exc:
        raise RunDirError(f"{exc}; {RESTORE_OR_AFRESH}") from None
    if checkpoint is None:
        for name in ("metrics.csv", "episodes.csv", "summary.json", "checkpoint.pt"):
            (run_dir / name).unlink(missing_ok=True)
    else:
        for name in ("metrics.csv", "episodes.csv"):
            results.CsvLog.truncate_after(run_dir / name, int(checkpoint["frames"]))
    results.atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    _save_hydra_files(cfg, run_dir)

    log = logger.RunLog(cfg, run_dir, trainer.method_cls.stat_keys, _config.available_cores())
    summary = trainer.run(log)
    if trainer.stop_signal is not None:
        _STOPPED_BY[:] = [(trainer.stop_signal, trainer.prev_handlers.get(getattr(signal, "SIGUSR2", None)))]
    _report(summary, run_dir, trainer.error)
    return summary


RESTORE_OR_AFRESH = "resume=false starts the run afresh (deleting its results), or restore the file from a copy"


def _load_checkpoint(path: Path):
    """The run's checkpoint (None: none), read as plain data only (asyncrl.checkpoint); one that
    cannot be used is refused (exit 2) with the run directory left as it is."""
    try:
        return ckpt_file.load(path)
    except ckpt_file.CheckpointError as exc:
        raise RunDirError(f"{exc}; {RESTORE_OR_AFRESH}") from None


def _save_hydra_files(cfg: DictConfig, run_dir: Path, subdir: str = ".hydra") -> None:
    """What Hydra's `output_subdir` would hold (the composed config, Hydra's own, the overrides),
    written only for a run this command trains: Hydra writes it before the job starts, so a
    refused or skipped command would overwrite the record of the command that made the run."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.output_subdir is not None:  # the user asked Hydra for it: already written
        return
    out = run_dir / subdir
    out.mkdir(exist_ok=True)
    for name, node in (("config.yaml", cfg), ("hydra.yaml", OmegaConf.create({"hydra": hydra_cfg})),
                       ("overrides.yaml", OmegaConf.create(list(hydra_cfg.overrides.task)))):
        results.atomic_write_text(out / name, OmegaConf.to_yaml(node))


def _report(summary: dict, run_dir: Path, error) -> None:
    status = summary["status"]
    if status == "failed":
        print(f"[asyncrl] run FAILED: {error}", file=sys.stderr)
    score = summary.get("final_score")
    print(
        f"[asyncrl] {status}: {summary['frames']:,} frames in {summary['wall_time_s']:.1f} s "
        f"({summary['frames_per_s']:,.0f} frames/s)"
        + (f", final score {score:.2f}" if score is not None else "")
        + f"\n[asyncrl] results: {run_dir}"
    )


@hydra.main(version_base="1.3", config_path=_conf_dir(), config_name="config")
def hydra_main(cfg: DictConfig):
    _STARTED.append(True)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun and _stopped_by_the_command():
        # a parallel launcher's worker takes up a job after the sweep was stopped: it does not start
        # (the directory Hydra just made for it goes again if empty; the same command runs the job)
        try:
            Path(HydraConfig.get().runtime.output_dir).rmdir()
        except OSError:
            pass
        return {"status": "interrupted", "error": "not started: the sweep was stopped"}
    try:
        summary = run(cfg)
    except ConfigError as exc:
        print(f"asyncrl: error: {exc}", file=sys.stderr)
        if not multirun:
            # SystemExit passes through Hydra's job runner, which would add its own report
            sys.exit(2)
        # a bad value is recorded in its job's directory; another run's directory is left alone
        return _job_failed(str(exc), touch=not isinstance(exc, RunDirError))
    except results.WriteFailed as exc:  # e.g. a full disk: stopped, every process ended, nothing more written
        line = (f"{exc}; the run stopped with its last checkpoint.pt and summary.json as they were: "
                "free some space and the same command resumes it")
        print(f"[asyncrl] run FAILED: {line}", file=sys.stderr)
        if not multirun:
            sys.exit(1)
        return _job_failed(line, touch=False)
    except Exception:
        if not multirun:
            raise
        traceback.print_exc()
        return _job_failed(traceback.format_exc())
    if summary["status"] != "completed":
        if not multirun:
            sys.exit(130 if summary["status"] == "interrupted" else 1)
        why = _leave_to_slurm() if summary["status"] == "interrupted" else ""
        _stop_the_sweep_if_signalled()
        if summary["status"] == "interrupted" and _stopped_by_the_command():
            # the command stopped its sweep, and says so and exits 130 itself: raising here only
            # adds Hydra's "Error executing job" line for a job that stopped as asked
            return summary
        return _job_failed(f"{HydraConfig.get().runtime.output_dir}: {summary['status']}{why}", summary)
    return summary


def _leave_to_slurm() -> str:
    """A submitit job on SLURM whose run a signal stopped (checkpoint and summary written) ends
    without a result, so that SLURM's job state decides what the command sees: a requeued job's
    rerun writes the result, a job that ends for good reaches the command as submitit's
    UncompletedJobError. SIGUSR2 (the time limit is near): submitit's handler, kept by the trainer,
    requeues the job and exits. SIGTERM (scancel, `scontrol requeue`, preemption): exit at once.
    Returns (the reason, for the job's failure) only when submitit could not requeue."""
    if os.environ.get("SUBMITIT_EXECUTOR") != "slurm" or not _STOPPED_BY:
        return ""
    signum, usr2_handler = _STOPPED_BY.pop()
    if signum == signal.SIGTERM:
        raise SystemExit(128 + signum)  # not an Exception: submitit writes no result for it
    if signum == getattr(signal, "SIGUSR2", None) and callable(usr2_handler):
        try:
            usr2_handler(signum, None)  # submitit: checkpoint the job, `scontrol requeue`, sys.exit
        except Exception as exc:  # e.g. out of requeues (UncompletedJobError)
            return f" by SIGUSR2, not requeued: {' '.join(str(exc).split())}"
    return ""


def _stop_the_sweep_if_signalled() -> None:
    """A Ctrl-C or SIGTERM that stopped a job of a sweep in the command's own process (the basic
    launcher runs the jobs one after another there) stops the sweep: Hydra would otherwise start
    the next job, and every job would need its own Ctrl-C. The stopped run keeps its checkpoint,
    and the same command resumes the sweep (completed jobs are skipped). Exit code 130, as a
    single run. In a launcher's worker (joblib, submitit) the command, which passed the signal on,
    stops the sweep."""
    if _STOPPED_BY and os.getpid() in _MAIN_PID:
        _exit_sweep_stopped(_STOPPED_BY.pop()[0])


def _exit_sweep_stopped(signum: int) -> NoReturn:
    print(f"[asyncrl] sweep stopped by {signal.Signals(signum).name}; the same command resumes it",
          file=sys.stderr)
    raise SystemExit(130)


def _stopped_by_the_command() -> bool:
    """In a parallel launcher's worker: the command was signalled and stopped its sweep (it makes
    the stop file before it passes the signal on to the workers, :func:`_stop_job_workers`)."""
    stop_file = os.environ.get(STOP_FILE_ENV)
    return bool(stop_file) and os.getpid() not in _MAIN_PID and Path(stop_file).exists()


def _job_failed(error: str, summary: dict | None = None, touch: bool = True) -> dict:
    """Record a multirun job that did not complete and let the other jobs go on. Its summary.json
    says `failed` (unless the trainer wrote another status). In the command's own process (basic
    launcher) FAILED_JOBS makes the command exit 1; in a launcher's worker (joblib, submitit) the
    failure is raised, so that the launcher hands it back to the command after the batch has run."""
    FAILED_JOBS.append(error)
    if summary is None and not touch:
        summary = {"status": "failed", "error": error}
    elif summary is None:
        path = Path(HydraConfig.get().runtime.output_dir) / "summary.json"
        summary = results.read_json(path) or {}
        if summary.get("status") != "completed":  # never spoil a finished run (e.g. a bad override)
            summary.update(status="failed", error=error, overrides=list(HydraConfig.get().overrides.task))
            try:
                results.write_json(path, summary)
            except OSError:
                pass
    if os.getpid() not in _MAIN_PID:
        raise JobFailed(error.strip().splitlines()[-1] if error.strip() else "job failed")
    return summary if summary.get("status") in ("failed", "interrupted") else {**summary, "status": "failed"}


# The command line of a process that runs jobs for a parallel launcher: joblib's loky workers,
# and submitit_local's job processes (not its controller, submitit.local._local, which would end
# the job without its checkpoint)
_WORKER_MARKS = ("popen_loky_posix", "submitit.core._submit")


def _job_workers(command: int | None = None) -> list:
    """The processes below the command (pid ``command``; default: this process) that run its jobs
    for a parallel launcher (joblib, submitit_local; by their command lines, :data:`_WORKER_MARKS`).
    Empty where processes cannot be listed, and under the basic launcher: its jobs run in the
    command's process, whose trainer handles the signals itself."""
    from .runtime import procs

    workers, todo = [], procs.children(os.getpid() if command is None else command)
    while todo:
        pid = todo.pop()
        if any(mark in procs.cmdline(pid) for mark in _WORKER_MARKS):
            workers.append(pid)  # its own children are the job's: its trainer stops them
        else:
            todo += procs.children(pid)
    return workers


def _stop_job_workers(signum, frame) -> None:
    """SIGINT or SIGTERM to the command while a parallel launcher's workers train: pass it on to
    them as SIGINT, so that each running job stops as a run does on Ctrl-C (checkpoint and summary
    written, `interrupted`); the launcher then collects them and the command exits 130 (main). A
    worker would otherwise train on as an orphan (SIGTERM ended the command) or be killed by the
    launcher's own clean-up without its checkpoint. With no such workers the signal does what it
    did before: Ctrl-C raises KeyboardInterrupt, SIGTERM ends the command."""
    workers = _job_workers()
    if not workers:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    if not _FORWARDED:
        print(f"[asyncrl] {signal.Signals(signum).name}: stopping the sweep's running jobs (each writes its "
              "checkpoint)", file=sys.stderr, flush=True)
    _FORWARDED.append(signum)
    try:
        Path(os.environ[STOP_FILE_ENV]).touch()  # jobs not yet started stay so
    except (KeyError, OSError):
        pass
    for pid in workers:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass


def _one_line(exc: BaseException) -> str:
    from hydra.errors import MissingConfigException

    if isinstance(exc, MissingConfigException) and getattr(exc, "options", None):
        first = str(exc).splitlines()[0]
        options = [o for o in exc.options if o not in ("schema",) and not o.startswith("_")]
        return f"{first} (valid: {', '.join(options)})"
    return " ".join(str(exc).split())


def main() -> None:
    """Console script: Hydra with its errors mapped to one line and exit code 2."""
    # let errors reach us instead of Hydra's multi-line report and exit code 1
    os.environ["HYDRA_FULL_ERROR"] = "1"
    _MAIN_PID.append(os.getpid())
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_job_workers)
    stop_file = Path(tempfile.gettempdir()) / f"asyncrl-sweep-{os.getpid()}.stopped"
    os.environ[STOP_FILE_ENV] = str(stop_file)
    try:
        _main()
    finally:
        stop_file.unlink(missing_ok=True)


def _exit_if_sweep_refused() -> None:
    """A SLURM sweep whose jobs can never start, stopped while it waited (asyncrl.slurm_check)."""
    check = sys.modules.get("asyncrl.slurm_check")
    if check is not None and check.REFUSED:
        print(f"asyncrl: error: {check.REFUSED[0]}", file=sys.stderr)
        sys.exit(2)


def _main() -> None:
    from hydra.errors import HydraException

    try:
        hydra_main()
    except JobFailed as exc:  # raised by a launcher (joblib, submitit) once every job has run
        if _FORWARDED:
            _exit_sweep_stopped(_FORWARDED[0])
        print(f"asyncrl: {len(FAILED_JOBS) or 'at least one'} job(s) did not complete (first: {exc})", file=sys.stderr)
        sys.exit(1)
    except (ConfigError, HydraException, OmegaConfBaseException) as exc:
        print(f"asyncrl: error: {_one_line(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        _exit_if_sweep_refused()
        # a Ctrl-C outside a run's training, which handles its own (e.g. between a sweep's jobs, while
        # the next one sets up): runs write atomically, so the same command resumes
        print("asyncrl: stopped by Ctrl-C; the same command resumes", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        if type(exc).__name__ == "UncompletedJobError":  # submitit: a SLURM job ended without a result
            _exit_if_sweep_refused()
            first = " ".join(str(exc).split("Error stream")[0].split()) or type(exc).__name__
            print(f"asyncrl: at least one job did not complete (first: {first})", file=sys.stderr)
            sys.exit(1)
        # Hydra could not create the output directory, or a file in it (its log file: Hydra's
        # logging set-up raises a ValueError from the OSError)
        cause = exc
        while cause is not None and not (isinstance(cause, OSError) and cause.filename):
            cause = cause.__cause__
        if cause is not None and not _STARTED:
            print(f"asyncrl: error: cannot write '{cause.filename}': {cause.strerror}", file=sys.stderr)
            sys.exit(2)
        raise
    if _FORWARDED:  # a parallel launcher's jobs stopped by the signal the command passed on
        _exit_sweep_stopped(_FORWARDED[0])
    if FAILED_JOBS:
        print(f"asyncrl: {len(FAILED_JOBS)} job(s) did not complete", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

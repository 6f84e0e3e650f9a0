"""`asyncrl`: the Hydra entry point. Validate the config, prepare the run directory (asyncrl.rundir:
resume or skip), train, write the summary, and turn every kind of bad input into one line and
exit code 2. What the command knows of its sweep (failed jobs, signals) is asyncrl.sweep.

    asyncrl method=a3c env=breakout threads=16
    asyncrl -m method=a3c,n_step_q threads=1,2,4,8,16 seed=0,1,2
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from . import checkpoint as ckpt_file
from . import config as _config  # registers the schema and the ${cores:} resolver
from . import logger, results, rundir
from .errors import ConfigError
from .fingerprint import conf_dir
from .rundir import RunDirError
from .sweep import JobFailed, SweepState, exit_sweep_stopped


def _conf_dir() -> str:
    """conf/ at the repository top (editable install, source tree) or asyncrl/conf (plain install)."""
    d = conf_dir()
    if d is None:
        raise RuntimeError("asyncrl: cannot find the conf/ directory")
    return str(d)


_sweep = SweepState()  # this process's view of its sweep (asyncrl.sweep)


def validate(cfg: DictConfig) -> None:
    """Refuse a config that cannot run (ConfigError, one line): the method checks its own options
    (Method.validate), this the env, the run and the runtime."""
    from .envs import ATARI_BACKENDS
    from .envs import KINDS as ENV_KINDS
    from .envs import atari_games
    from .networks import TORSOS
    from .methods import get_method
    from .runtime.backends import BACKENDS
    from .runtime.optim import KINDS

    m, e = cfg.method, cfg.env
    try:
        method_cls = get_method(m.name)
    except (KeyError, ImportError, AttributeError) as exc:
        raise ConfigError(str(exc).strip("'\"")) from None
    if e.kind not in ENV_KINDS:
        raise ConfigError(f"unknown env kind '{e.kind}' (valid: {', '.join(ENV_KINDS)})")
    try:
        method_cls.validate(m, e)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    _check_env_packages(e)
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
    if cfg.get("stop_at_score") is not None and (cfg.eval.episodes <= 0 or cfg.eval.interval_frames <= 0):
        raise ConfigError("stop_at_score needs periodic evaluations (eval.episodes > 0 and eval.interval_frames > 0)")
    if cfg.get("pin_cores") and not hasattr(os, "sched_setaffinity"):
        raise ConfigError("pin_cores needs os.sched_setaffinity (Linux); this platform has none")


def _check_env_packages(env_cfg) -> None:
    """A continuous env needs its physics packages."""
    from .envs_continuous import INSTALL_HINT, missing_package

    missing = missing_package(env_cfg.kind)
    if missing:
        raise ConfigError(f"env '{env_cfg.game}' needs the '{missing}' package: {INSTALL_HINT}")


def run(cfg: DictConfig) -> dict:
    """Train one run in Hydra's output directory; returns its summary."""
    validate(cfg)
    if multiprocessing.get_start_method(allow_none=True) not in (None, "spawn", "fork", "forkserver"):
        # a joblib (loky) job: spawned actor-learners would inherit the start method 'loky', which
        # plain multiprocessing cannot find, and die silently at start-up
        multiprocessing.set_start_method("spawn", force=True)
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    with rundir.locked(run_dir):
        return _run_locked(cfg, run_dir)


def _run_locked(cfg: DictConfig, run_dir: Path) -> dict:
    from .runtime.trainer import Trainer

    plan = rundir.plan(cfg, run_dir)
    if plan.skip:
        return plan.previous
    try:  # before any file changes: a checkpoint of another network is refused with the directory as it was
        trainer = Trainer(cfg, run_dir, plan.checkpoint)
    except ckpt_file.CheckpointError as exc:
        raise RunDirError(f"{exc}; {rundir.RESTORE_OR_AFRESH}") from None
    rundir.start(cfg, run_dir, plan.checkpoint, HydraConfig.get())
    log = logger.RunLog(cfg, run_dir, trainer.method_cls.stat_keys, _config.available_cores())
    summary = trainer.run(log)
    _sweep.run_stopped(trainer.stop_signal, trainer.prev_handlers)
    _report(summary, run_dir, trainer.error)
    return summary


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
    _sweep.started = True
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    if multirun and _sweep.stopped_by_the_command():
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
        why = _sweep.leave_to_slurm() if summary["status"] == "interrupted" else ""
        _sweep.stop_the_sweep_if_signalled()
        if summary["status"] == "interrupted" and _sweep.stopped_by_the_command():
            # the command stopped its sweep, and says so and exits 130 itself: raising here only
            # adds Hydra's "Error executing job" line for a job that stopped as asked
            return summary
        return _job_failed(f"{HydraConfig.get().runtime.output_dir}: {summary['status']}{why}", summary)
    return summary


def _job_failed(error: str, summary: dict | None = None, touch: bool = True) -> dict:
    hydra_cfg = HydraConfig.get()
    return _sweep.job_failed(error, Path(hydra_cfg.runtime.output_dir), list(hydra_cfg.overrides.task),
                             summary, touch)


def _one_line(exc: BaseException) -> str:
    from hydra.errors import MissingConfigException

    if isinstance(exc, MissingConfigException) and getattr(exc, "options", None):
        first = str(exc).splitlines()[0]
        # the schemas (config.schema_name) and shared bases (_*.yaml) are no choices of their own
        options = [o for o in exc.options if o != "schema" and not o.endswith("_schema") and not o.startswith("_")]
        return f"{first} (valid: {', '.join(options)})"
    return " ".join(str(exc).split())


def _raised_by_hydra_arguments(exc: BaseException) -> bool:
    """The exception came from Hydra's handling of its command-line flags, before any config."""
    frames = traceback.extract_tb(exc.__traceback__)
    return bool(frames) and frames[-1].name == "_run_hydra" and "hydra" in Path(frames[-1].filename).parts


def main() -> None:
    """Console script: Hydra with its errors mapped to one line and exit code 2."""
    # let errors reach us instead of Hydra's multi-line report and exit code 1
    os.environ["HYDRA_FULL_ERROR"] = "1"
    with _sweep.command():
        _main()


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
        if _sweep.forwarded:
            exit_sweep_stopped(_sweep.forwarded[0])
        print(f"asyncrl: {len(_sweep.failed_jobs) or 'at least one'} job(s) did not complete (first: {exc})", file=sys.stderr)
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
        if cause is not None and not _sweep.started:
            print(f"asyncrl: error: cannot write '{cause.filename}': {cause.strerror}", file=sys.stderr)
            sys.exit(2)
        if isinstance(exc, ValueError) and not _sweep.started and _raised_by_hydra_arguments(exc):
            # Hydra refuses its own command-line flags with a ValueError (e.g. -m with --cfg)
            print(f"asyncrl: error: {_one_line(exc)}", file=sys.stderr)
            sys.exit(2)
        raise
    if _sweep.forwarded:  # a parallel launcher's jobs stopped by the signal the command passed on
        exit_sweep_stopped(_sweep.forwarded[0])
    if _sweep.failed_jobs:
        print(f"asyncrl: {len(_sweep.failed_jobs)} job(s) did not complete", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Sweeps that survive: presets compose, launchers run, runs resume after SIGKILL, failures stay
contained. Most tests drive the real command (`python -m asyncrl`) on the toy env."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TINY = ["env=toy", "method=a3c", "logger.progress=false", "eval.episodes=1"]


# ---- helpers ----------------------------------------------------------------------------------
def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env  # tests.fakes importable in the command and its actor-learners


def start(args, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncrl", *map(str, args)], cwd=cwd, env=_env(), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,  # own process group
    )


def cli(args, cwd, timeout=150) -> subprocess.CompletedProcess:
    p = start(args, cwd)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def rows(path: Path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def frames_of(path: Path):
    return [int(r["frames"]) for r in rows(path)]


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "summary.json").read_text())


def load_ck(run_dir: Path) -> dict:
    from asyncrl import checkpoint

    return checkpoint.load(run_dir / "checkpoint.pt")


def _sweep_grid(hydra_params, command_line=()) -> list:
    """The jobs `asyncrl -m <command_line>` runs for hydra.sweeper.params, expanded by the basic
    sweeper's own code (the command line wins over the preset's params)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [f"{k}={v}" for k, v in hydra_params.items()] + list(command_line)
    overrides = OverridesParser.create().parse_overrides(args)
    return [job for batch in BasicSweeper.split_arguments(overrides, None) for job in batch]


# ---- every file under conf/ composes ------------------------------------------------------------
def _stems(group: str):
    return sorted(p.stem for p in (CONF / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize("env", _stems("env"))
def test_every_env_composes(compose_cfg, env):
    from asyncrl.cli import validate
    from asyncrl.envs import CONTINUOUS_KINDS

    cfg = compose_cfg(f"env={env}")
    if cfg.env.kind in CONTINUOUS_KINDS:  # the default method (a3c) refuses continuous actions
        cfg = compose_cfg(f"env={env}", "method=a3c_continuous")
    validate(cfg)
    assert cfg.env.game == env and cfg.total_frames > 0


@pytest.mark.parametrize("method", _stems("method"))
def test_every_method_composes(compose_cfg, method):
    from asyncrl.cli import validate
    from asyncrl.methods import get_method

    continuous = get_method(method).continuous_actions
    for env in ("toy_continuous", "inverted_pendulum") if continuous else ("toy", "breakout"):
        cfg = compose_cfg(f"method={method}", f"env={env}")
        validate(cfg)
        assert cfg.method.name == method


def test_every_tuning_file_composes(compose_cfg):
    methods, envs = _stems("method"), _stems("env")
    for stem in _stems("tuning") if (CONF / "tuning").is_dir() else []:
        pairs = [(m, stem[len(m) + 1:]) for m in methods if stem.startswith(m + "_") and stem[len(m) + 1:] in envs]
        assert pairs, f"conf/tuning/{stem}.yaml names no <method>_<env> pair"
        m, e = pairs[0]
        assert compose_cfg(f"method={m}", f"env={e}").method.name == m


def _compose_hydra(*overrides):
    import asyncrl.config  # noqa: F401
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("config", overrides=list(overrides), return_hydra_config=True)


@pytest.mark.parametrize("launcher", sorted({"joblib", "submitit_local", "submitit_slurm", *_stems("hydra/launcher")}))
def test_every_launcher_composes(launcher):
    cfg = _compose_hydra(f"hydra/launcher={launcher}")
    assert cfg.hydra.launcher._target_.startswith("hydra_plugins.")


EXPECTED_JOBS = {"speedup": 4 * 5 * 7, "atari57": 57, "lr_robustness": 50, "smoke": 4, "pong_methods": 5,
                 "pong_speedup": 2 * 3}


@pytest.mark.parametrize("experiment", _stems("experiment"))
def test_every_experiment_composes_and_expands(experiment):
    from asyncrl.cli import validate

    first = (CONF / "experiment" / f"{experiment}.yaml").read_text().splitlines()[0]
    assert first.strip() == "# @package _global_"
    cfg = _compose_hydra(f"+experiment={experiment}")
    jobs = _sweep_grid(cfg.hydra.sweeper.params)
    assert len(jobs) == EXPECTED_JOBS.get(experiment, len(jobs)) > 0
    for job in (jobs[0], jobs[-1]):  # the corners of the grid compose and validate
        job_cfg = _compose_hydra(f"+experiment={experiment}", *job)
        validate(job_cfg)


def test_speedup_grid_is_the_papers_table2():
    cfg = _compose_hydra("+experiment=speedup")
    jobs = {tuple(sorted(j)) for j in _sweep_grid(cfg.hydra.sweeper.params)}
    methods = {kv.split("=")[1] for j in jobs for kv in j if kv.startswith("method=")}
    threads = {int(kv.split("=")[1]) for j in jobs for kv in j if kv.startswith("threads=")}
    games = {kv.split("=")[1] for j in jobs for kv in j if kv.startswith("env=")}
    assert methods == {"one_step_q", "one_step_sarsa", "n_step_q", "a3c"}
    assert threads == {1, 2, 4, 8, 16}
    assert games == {"beam_rider", "breakout", "enduro", "pong", "qbert", "seaquest", "space_invaders"}
    assert cfg.hydra.launcher._target_.endswith("BasicLauncher")  # sequential: jobs never share cores
    # seeds come from the command line, which wins over the preset
    assert len(_sweep_grid(cfg.hydra.sweeper.params, ["seed=0,1,2"])) == 140 * 3


def test_pong_presets_are_the_methods_and_speedup_grids_and_share_the_two_thread_runs():
    """pong_methods: the five methods, 2 actor-learners, 20M frames, 30-game evaluations;
    pong_speedup: a3c and one_step_q x 1, 2, 4 actor-learners whose threads=2 jobs are the very
    runs of pong_methods (same directory, same run identity), so they are trained once."""
    from omegaconf import OmegaConf, open_dict

    from asyncrl.config import identity_differences

    def plain(cfg):  # the job's own config, as the CLI resolves it (without Hydra's node)
        cfg = cfg.copy()
        with open_dict(cfg):
            del cfg["hydra"]
        return OmegaConf.to_container(cfg, resolve=True)

    methods = _compose_hydra("+experiment=pong_methods")
    grid = {tuple(j) for j in _sweep_grid(methods.hydra.sweeper.params)}
    assert grid == {(f"method={m}",) for m in ("a3c", "a3c_lstm", "n_step_q", "one_step_q", "one_step_sarsa")}
    assert (methods.env.game, methods.threads, methods.seed, methods.total_frames) == ("pong", 2, 0, 20_000_000)
    assert methods.eval.episodes == 30 and methods.results_root.startswith("results/runs/")
    speed = _compose_hydra("+experiment=pong_speedup")
    jobs = {tuple(sorted(j)) for j in _sweep_grid(speed.hydra.sweeper.params)}
    assert jobs == {(f"method={m}", f"threads={n}") for m in ("a3c", "one_step_q") for n in (1, 2, 4)}
    for m in ("a3c", "one_step_q"):
        a = _compose_hydra("+experiment=pong_methods", f"method={m}")
        b = _compose_hydra("+experiment=pong_speedup", f"method={m}", "threads=2")
        cfg_a, cfg_b = plain(a), plain(b)
        assert identity_differences(cfg_a, cfg_b) == [] and cfg_a["results_root"] == cfg_b["results_root"]
        assert a.hydra.sweep.subdir == b.hydra.sweep.subdir  # the same run directory, unresolved
    assert _compose_hydra("+experiment=pong_speedup", "threads=4").threads == 4


def test_atari57_covers_every_reference_game_on_the_nature_net():
    from asyncrl.envs import atari_games  # noqa: F401  (the ALE ids the CLI accepts)

    with open(ROOT / "asyncrl" / "data" / "atari_reference_scores.csv", newline="") as f:
        games = {r["ale_id"] for r in csv.DictReader(f)}
    cfg = _compose_hydra("+experiment=atari57")
    swept = {kv.split("=")[1] for j in _sweep_grid(cfg.hydra.sweeper.params) for kv in j if kv.startswith("env=")}
    assert len(games) == 57 and swept == games
    job = _compose_hydra("+experiment=atari57", "env=pong", "method=a3c_lstm")
    assert (job.method.network or job.env.network) == "nature" and job.method.lstm
    assert job.results_root != _compose_hydra().results_root


def test_lr_robustness_draws_a_reproducible_loguniform_lr_per_seed():
    lrs = []
    for seed in range(50):
        cfg = _compose_hydra("+experiment=lr_robustness", f"seed={seed}")
        lr = cfg.method.lr
        assert 1e-4 <= lr <= 1e-2
        assert f"-lr{lr}" in cfg.hydra.sweep.subdir and f"-lr{lr}" in cfg.hydra.run.dir
        assert cfg.results_root == "runs_lr"
        lrs.append(lr)
    assert len(set(lrs)) == 50
    assert lrs[7] == _compose_hydra("+experiment=lr_robustness", "seed=7").method.lr  # a pure function of the seed
    logs = [math.log10(x) for x in lrs]
    assert -3.6 < sum(logs) / 50 < -2.4  # centred on log10 = -3 (uniform in log space)
    assert min(logs) < -3.5 and max(logs) > -2.5


# ---- resume --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_resume_after_sigkill_continues_T_without_duplicate_rows(tmp_path):
    interval, total = 3000, 30000
    args = [*TINY, "threads=2", f"total_frames={total}", f"checkpoint.interval_frames={interval}",
            "logger.interval_s=0.3", f"results_root={tmp_path / 'runs'}"]
    run_dir = tmp_path / "runs" / "a3c" / "toy" / "threads2-seed0"
    p = start(args, tmp_path)
    deadline = time.monotonic() + 90
    killed_at = None
    while time.monotonic() < deadline and p.poll() is None:
        if (run_dir / "checkpoint.pt").exists() and (run_dir / "metrics.csv").exists():
            seen = frames_of(run_dir / "metrics.csv")
            if seen and seen[-1] >= 2 * interval + interval // 3:  # past 2 checkpoints, mid-interval
                os.killpg(p.pid, signal.SIGKILL)
                killed_at = seen[-1]
                break
        time.sleep(0.05)
    out, err = p.communicate()
    if killed_at is None:  # a kill window that never comes is a failure (a stall, a crash), never a skip
        pytest.fail(f"the run ended or stalled before it could be killed mid-way (exit {p.returncode}): {err[-2000:]}")
    assert p.returncode == -signal.SIGKILL
    assert summary(run_dir)["status"] == "running"

    ck = load_ck(run_dir)
    # a restore holds exactly what the killed run saved: theta and the shared RMSProp statistics
    # (a3c has no theta-), tensor for tensor, and T
    import torch
    from omegaconf import OmegaConf

    from asyncrl.runtime.trainer import Trainer

    restored = Trainer(OmegaConf.load(run_dir / "config.yaml"), run_dir, ck)
    saved_model = ck["model"]
    assert restored.target is None and ck["target"] is None
    assert list(restored.model.state_dict()) == list(saved_model)
    assert all(torch.equal(v, saved_model[k]) for k, v in restored.model.state_dict().items())
    assert len(restored.stats) == len(ck["stats"]) == len(saved_model)
    assert all(torch.equal(a, b) for a, b in zip(restored.stats, ck["stats"]))
    assert all(s.abs().sum() > 0 for s in restored.stats)  # trained statistics, not zeros
    assert restored.start_frames == int(ck["frames"])
    T, ck_wall = int(ck["frames"]), float(ck["wall_time_s"])
    assert ck["steps"] == T and ck["total_frames"] == total  # toy: frame_skip 1
    assert interval <= T < total
    assert killed_at - T <= interval + 1500  # SIGKILL lost at most one checkpoint interval (+ one tick)
    before_metrics, before_episodes = rows(run_dir / "metrics.csv"), rows(run_dir / "episodes.csv")

    t0 = time.monotonic()
    res = cli(args, tmp_path)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr
    assert f"(resumed at {T:,})" in res.stdout

    s = summary(run_dir)
    assert s["status"] == "completed" and s["frames"] == total
    assert ck_wall < s["wall_time_s"] <= ck_wall + elapsed  # wall time adds up across the resume

    metrics = rows(run_dir / "metrics.csv")
    frames = [int(r["frames"]) for r in metrics]
    assert frames == sorted(set(frames)), "duplicate or out-of-order frames in metrics.csv"
    kept = [r for r in before_metrics if int(r["frames"]) <= T]
    assert metrics[: len(kept)] == kept  # the rows up to the checkpoint survive untouched
    resumed = metrics[len(kept):]
    assert resumed and all(int(r["frames"]) > T for r in resumed)
    assert all(float(r["wall_time_s"]) >= ck_wall for r in resumed)
    assert frames[-1] == total
    lr0 = float(ck["config"]["method"]["lr"])
    for r in resumed:  # the LR schedule continues from T, not from 0 (which would be off by T >= 3000)
        assert float(r["lr"]) == pytest.approx(lr0 * (1 - int(r["frames"]) / total), rel=1e-4, abs=1e-9)

    episodes = rows(run_dir / "episodes.csv")
    ep_frames = [int(r["frames"]) for r in episodes]
    assert len(ep_frames) == len(set(ep_frames)), "an episode was logged twice"
    kept_ep = [r for r in before_episodes if int(r["frames"]) <= T]
    assert episodes[: len(kept_ep)] == kept_ep
    assert all(int(r["frames"]) > T for r in episodes[len(kept_ep):])
    assert max(ep_frames) <= total

    # the example in docs/sweeps.md comes from here
    print(f"\nkilled at >= {killed_at} frames; checkpoint T={T} wall={ck_wall:.2f}s; resumed run {elapsed:.1f}s; "
          f"summary wall={s['wall_time_s']}s")
    print("".join(line for line in res.stdout.splitlines(True) if "[asyncrl]" in line))
    print((run_dir / "metrics.csv").read_text())


@pytest.mark.slow
def test_completed_runs_are_skipped_and_resume_false_starts_over(tmp_path):
    args = [*TINY, "threads=1", "total_frames=1500", f"results_root={tmp_path / 'runs'}"]
    run_dir = tmp_path / "runs" / "a3c" / "toy" / "threads1-seed0"
    first = cli(args, tmp_path)
    assert first.returncode == 0, first.stderr
    s1 = summary(run_dir)
    assert s1["status"] == "completed" and s1["frames"] == 1500
    ck_mtime = (run_dir / "checkpoint.pt").stat().st_mtime_ns

    again = cli(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already completed; skipping" in again.stdout
    assert summary(run_dir) == s1 and (run_dir / "checkpoint.pt").stat().st_mtime_ns == ck_mtime

    # an unfinished run with a checkpoint: resume=false ignores it and trains from T=0
    s1["status"] = "interrupted"
    (run_dir / "summary.json").write_text(json.dumps(s1))
    fresh = cli([*args, "resume=false"], tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert "resumed at" not in fresh.stdout and "skipping" not in fresh.stdout
    s2 = summary(run_dir)
    assert s2["status"] == "completed" and s2["frames"] == 1500
    ep = frames_of(run_dir / "episodes.csv")
    assert len(ep) == len(set(ep)) and max(ep) <= 1500  # one run's episodes, not two
    assert sum(int(r["length"]) for r in rows(run_dir / "episodes.csv")) <= 1500
    assert load_ck(run_dir)["frames"] == 1500


# ---- fault tolerance -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_sweep_and_the_command_exits_1(tmp_path):
    res = cli(["-m", *TINY, "threads=1", "total_frames=1500", "eval.episodes=0",
               "method.name=a3c,a3c,tests.fakes:FailingA3C", "hydra.sweep.subdir=job${hydra.job.num}",
               f"results_root={tmp_path / 'runs'}"], tmp_path)
    assert res.returncode == 1, res.stderr
    assert "1 job(s) did not complete" in res.stderr
    sums = [summary(tmp_path / "runs" / f"job{i}") for i in range(3)]
    assert [s["status"] for s in sums] == ["completed", "completed", "failed"]
    assert [s["frames"] for s in sums[:2]] == [1500, 1500]
    assert "injected failure" in sums[2]["error"]
    assert not (tmp_path / "runs" / "job2" / "checkpoint.pt").exists()  # no checkpoint at 300 < interval


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_whole_sweep_and_the_same_command_resumes_it(tmp_path, sig):
    """Ctrl-C (or SIGTERM) during a sweep's first job: that run is interrupted with its checkpoint,
    the command exits 130 without starting the next job, and the same command then resumes the
    first job (and would go on to the next)."""
    args = ["-m", *TINY, "method=a3c,n_step_q", "threads=1", "runtime=thread", "total_frames=100000000",
            "eval.episodes=0", "logger.interval_s=0.5", f"results_root={tmp_path / 'runs'}"]
    first_run, second_run = (tmp_path / "runs" / m / "toy" / "threads1-seed0" for m in ("a3c", "n_step_q"))

    def trained_past(frames):
        try:
            return frames_of(first_run / "metrics.csv")[-1] > frames
        except (OSError, IndexError, KeyError, ValueError):
            return False

    def stopped_after_some_training(name, past=0):
        p = start(args, tmp_path)
        deadline = time.time() + 90
        while time.time() < deadline and not trained_past(past):
            time.sleep(0.2)
        p.send_signal(sig)
        try:
            out, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            pytest.fail(f"{name}: the sweep did not stop: {p.communicate()[1][-2000:]}")
        return p.returncode, out, err

    code, out, err = stopped_after_some_training("first")
    assert code == 130, err[-2000:]
    assert "sweep stopped by" in err and not second_run.exists(), out[-2000:]
    s = summary(first_run)
    assert s["status"] == "interrupted" and load_ck(first_run)["frames"] == s["frames"] > 0
    code, out, err = stopped_after_some_training("again", past=s["frames"])
    assert code == 130 and f"(resumed at {s['frames']:,})" in out, out[-2000:] + err[-2000:]
    assert not second_run.exists()


def test_a_job_with_a_bad_value_is_recorded_failed(tmp_path):
    res = cli(["-m", *TINY, "threads=1", "total_frames=500", "method.lr=-1",
               f"results_root={tmp_path / 'runs'}"], tmp_path)
    assert res.returncode == 1
    assert "method.lr must be > 0" in res.stderr and "1 job(s) did not complete" in res.stderr
    s = summary(tmp_path / "runs" / "a3c" / "toy" / "threads1-seed0")
    assert s["status"] == "failed" and "method.lr must be > 0" in s["error"]


@pytest.mark.slow
def test_a_nonfinite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    import torch

    from tests.fakes import NaNMethod

    res = cli(["env=toy", "method.name=tests.fakes:NaNMethod", "threads=1", "total_frames=1000000",
               "eval.episodes=0", "checkpoint.interval_frames=200", "logger.progress=false",
               f"results_root={tmp_path / 'runs'}"], tmp_path)
    assert res.returncode == 1
    assert "non-finite loss (nan)" in res.stderr and "FloatingPointError" in res.stderr
    run_dir = tmp_path / "runs" / "tests.fakes:NaNMethod" / "toy" / "threads1-seed0"
    s = summary(run_dir)
    assert s["status"] == "failed" and "non-finite loss" in s["error"]
    assert s["frames"] < 1_000_000
    ck = load_ck(run_dir)
    assert 200 <= ck["frames"] <= NaNMethod.NAN_AT_FRAMES + 5
    assert all(torch.isfinite(v).all() for v in ck["model"].values())


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    """A write that fails part-way (here: the disk fills after some bytes) leaves the previous
    checkpoint whole and no partial file behind."""
    import torch

    from asyncrl import checkpoint, results

    path = tmp_path / "checkpoint.pt"
    checkpoint.save(path, {"frames": 100, "wall_time_s": 1.0, "model": {"w": torch.ones(3)}})

    def disk_fills(f, data):
        f.write(data[: len(data) // 2])
        f.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "_write_file", disk_fills)
    with pytest.raises(results.WriteFailed, match="No space left on device"):
        checkpoint.save(path, {"frames": 200, "wall_time_s": 2.0, "model": {"w": torch.zeros(3)}})
    monkeypatch.undo()
    ck = checkpoint.load(path)
    assert ck["frames"] == 100 and torch.equal(ck["model"]["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]  # no partial file left


# ---- launchers -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs_in_parallel(tmp_path):
    res = cli(["-m", *TINY, "threads=1", "total_frames=1500", "seed=0,1", "hydra/launcher=joblib",
               "hydra.launcher.n_jobs=2", f"results_root={tmp_path / 'runs'}"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "Joblib.Parallel(n_jobs=2" in res.stdout + res.stderr
    for seed in (0, 1):
        s = summary(tmp_path / "runs" / "a3c" / "toy" / f"threads1-seed{seed}")
        assert s["status"] == "completed" and s["frames"] == 1500  # the spawned actor-learners ran


@pytest.mark.slow
def test_joblib_launcher_reports_a_failed_job_with_exit_1(tmp_path):
    res = cli(["-m", *TINY, "threads=1", "total_frames=1500", "eval.episodes=0", "method.name=a3c,tests.fakes:FailingA3C",
               "hydra.sweep.subdir=job${hydra.job.num}", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
               f"results_root={tmp_path / 'runs'}"], tmp_path)
    assert res.returncode == 1, res.stderr
    assert "did not complete" in res.stderr
    assert summary(tmp_path / "runs" / "job0")["status"] == "completed"
    assert summary(tmp_path / "runs" / "job1")["status"] == "failed"


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_job(tmp_path):
    args = ["-m", *TINY, "threads=1", "total_frames=1500", "hydra/launcher=submitit_local",
            "hydra.launcher.timeout_min=2", f"results_root={tmp_path / 'runs'}"]
    res = cli(args, tmp_path, timeout=240)  # a hang is a failure (TimeoutExpired), never a skip
    assert res.returncode == 0, res.stderr
    s = summary(tmp_path / "runs" / "a3c" / "toy" / "threads1-seed0")
    assert s["status"] == "completed" and s["frames"] == 1500
    assert list((tmp_path / "runs" / ".submitit").glob("*/*_result.pkl"))


@pytest.mark.slow
@pytest.mark.parametrize("launcher,sig", [("joblib", signal.SIGTERM), ("joblib", signal.SIGINT),
                                          ("submitit_local", signal.SIGINT)])
def test_a_signal_to_the_command_stops_a_parallel_launchers_jobs_with_their_checkpoints(tmp_path, launcher, sig):
    """SIGINT or SIGTERM to the command alone (kill <pid>, not a terminal's Ctrl-C to the whole
    group): its jobs run in the launcher's worker processes, which the signal does not reach.
    The command passes it on, each running job stops as a run does on Ctrl-C (checkpoint and
    summary), the command exits 130 and leaves no process behind. Before, a joblib sweep's workers
    ignored it and trained on (SIGTERM: as orphans), and submitit_local's job was killed without
    its checkpoint. A job the launcher has not started yet (joblib: seed 2 waits for a free worker)
    never starts: the command would otherwise need a signal per batch."""
    seeds = (0, 1, 2) if launcher == "joblib" else (0,)
    args = ["-m", *TINY, "threads=1", "total_frames=100000000", "eval.episodes=0", "logger.interval_s=0.5",
            f"seed={','.join(map(str, seeds))}", f"hydra/launcher={launcher}", f"results_root={tmp_path / 'runs'}"]
    args += ["hydra.launcher.n_jobs=2"] if launcher == "joblib" else [f"hydra.sweep.dir={tmp_path / 'runs'}"]
    runs = [tmp_path / "runs" / "a3c" / "toy" / f"threads1-seed{seed}" for seed in seeds[:2]]
    waiting = tmp_path / "runs" / "a3c" / "toy" / "threads1-seed2"
    p = start(args, tmp_path)
    deadline = time.time() + 120
    while time.time() < deadline and not all(_trained(run) for run in runs):
        time.sleep(0.2)
    p.send_signal(sig)  # the command's process only
    try:
        out, err = p.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail(f"the sweep did not stop: {p.communicate()[1][-2000:]}")
    deadline = time.time() + 20  # the launcher's helpers (loky's resource tracker, ...) exit just after it
    while True:
        left = subprocess.run(["pgrep", "-a", "-g", str(p.pid)], capture_output=True, text=True).stdout.splitlines()
        if not left or time.time() > deadline:
            break
        time.sleep(0.2)
    if left:
        os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 130, err[-3000:]
    assert f"sweep stopped by {signal.Signals(sig).name}" in err, err[-3000:]
    assert "Error executing job" not in err, err[-3000:]  # Hydra's line for a failed job: none failed
    assert not left, f"processes left behind: {left}"
    for run in runs:
        s = summary(run)
        assert s["status"] == "interrupted" and load_ck(run)["frames"] == s["frames"] > 0, (run, s)
    assert not (waiting / "summary.json").exists() and not (waiting / "checkpoint.pt").exists()


def _trained(run_dir: Path) -> bool:
    try:
        return frames_of(run_dir / "metrics.csv")[-1] > 0
    except (OSError, IndexError, KeyError, ValueError):
        return False


def test_default_threads_follow_the_cpu_affinity():
    """threads defaults to the cores this process may use (e.g. a SLURM allocation), at most 16."""
    import subprocess
    import sys

    code = "import asyncrl.config as c; print(c._cores(16))"
    out = subprocess.run(["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("taskset not available")
    assert out.stdout.strip() == "1"

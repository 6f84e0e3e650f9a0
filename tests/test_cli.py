"""The real console command: bad input, a tiny run, Ctrl-C, the Atari smoke run, plain installs."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def asyncrl_cmd():
    exe = shutil.which("asyncrl")
    return [exe] if exe else [sys.executable, "-m", "asyncrl"]


def run_cli(*args, cwd, timeout=240):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        asyncrl_cmd() + list(args), cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env
    )


BAD = [
    (["method=nope"], "valid: a3c"),
    (["env=nope"], "valid:"),
    (["env=nope"], "breakout"),
    (["threads=0"], "threads must be >= 1"),
    (["total_frames=0"], "total_frames must be > 0"),
    (["total_frames=-5"], "total_frames must be > 0"),
    (["method.lr=0"], "method.lr must be > 0"),
    (["threads=x"], "threads"),
    (["method.lrr=1"], "lrr"),
    # a key another method's config declares is a typo for this one (a3c has no epsilon)
    (["method.epsilon.resample=x"], "Could not override 'method.epsilon.resample'"),
    (["method.eval_epsilon=0.1"], "Could not override 'method.eval_epsilon'"),
    (["method=one_step_q", "method.entropy_beta=0"], "Could not override 'method.entropy_beta'"),
    # a class of one's own runs on the config of the method it is composed with, which must have its keys
    (["method.name=tests.fakes:TargetMethod"], "method 'tests.fakes:TargetMethod' reads method.target_interval_frames"),
    (["runtime=gpu"], "valid: process, thread"),
    (["env=pong", "env.backend=envpool"], "unknown env.backend 'envpool' (valid: gymnasium, lean, vector)"),
    # no LSTM for the value-based methods (their targets would need theta-'s own carried state)
    (["method=n_step_q", "method.lstm=true"], "does not support an LSTM core"),
    (["method=one_step_q", "method.lstm=true"], "does not support an LSTM core"),
    (["method=one_step_sarsa", "method.lstm=true"], "does not support an LSTM core"),
    (["method.t_max=0"], "method.t_max must be >= 1"),
    (["method.gamma=0"], "method.gamma must be in (0, 1]"),
    (["method.gamma=1.01"], "method.gamma must be in (0, 1]"),
    (["method.optimizer=adam"], "unknown method.optimizer 'adam' (valid: shared_rmsprop, rmsprop, momentum_sgd)"),
    (["method.network=resnet"], "unknown network 'resnet' (valid: small, nature, mlp)"),
    (["method.network=small"], "network 'small' needs pixel observations"),  # env=toy has vectors
    (["method=n_step_q", "method.epsilon.finals=[0.1,0.5]"], "method.epsilon.finals and .probs"),
    (["method=n_step_q", "method.epsilon.probs=[0.5,0.3,0.3]"], "method.epsilon.finals and .probs"),
    # one kind of action space per method: the discrete methods refuse Box actions, and the other way round
    (["env=inverted_pendulum", "method=a3c"], "method 'a3c' takes discrete actions; env 'inverted_pendulum' has continuous ones"),
    (["env=hopper", "method=a3c_lstm"], "method 'a3c_lstm' takes discrete actions; env 'hopper' has continuous ones"),
    (["env=dmc_cheetah_run", "method=one_step_q"], "method 'one_step_q' takes discrete actions"),
    (["env=toy_continuous", "method=one_step_sarsa"], "method 'one_step_sarsa' takes discrete actions"),
    (["env=half_cheetah", "method=n_step_q"], "method 'n_step_q' takes discrete actions"),
    (["method=a3c_continuous"], "method 'a3c_continuous' takes continuous actions; env 'toy' has discrete ones"),
    (["env=pong", "method=a3c_continuous"], "method 'a3c_continuous' takes continuous actions; env 'pong' has discrete ones"),
    # Hydra's own flags, refused by Hydra before any config is composed
    (["-m", "--cfg", "job"], "Only one of --run, --multirun, --cfg"),
]


@pytest.mark.parametrize("args,needle", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    res = run_cli(*args, "env=toy" if not args[0].startswith("env=") else "seed=0", f"results_root={tmp_path}/runs", cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("asyncrl: error:") and needle in lines[0]
    assert "Traceback" not in res.stderr + res.stdout
    assert not list(tmp_path.glob("runs/**/summary.json"))  # no work started


# /proc/self exists but takes no new files, even for root: an existing, unwritable directory
@pytest.mark.parametrize("where,needle", [
    # Hydra's own mkdir fails first (a path under a regular file)
    (["hydra.run.dir={tmp}/file/run"], "cannot write"),
    # Hydra mkdirs happily, then its log file (cli.log) in the run directory fails
    (["hydra.run.dir=/proc/self", "hydra/job_logging=default"], "cannot write '/proc/self/cli.log'"),
    # Hydra writes nothing there: our own check is what stops the run
    (["hydra.run.dir=/proc/self", "hydra.output_subdir=null", "hydra/job_logging=disabled"],
     "output directory '/proc/self' is not writable"),
    # the default: Hydra logs to the console only, and our check stops the run
    (["hydra.run.dir=/proc/self"], "output directory '/proc/self' is not writable"),
], ids=["under-a-file", "hydra-log-file", "our-check", "default-logging"])
def test_unwritable_output_dir(tmp_path, where, needle):
    (tmp_path / "file").write_text("not a directory")
    res = run_cli("env=toy", *(w.format(tmp=tmp_path) for w in where), cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("asyncrl: error:") and needle in lines[0], res.stderr


def test_tiny_run_writes_a_valid_run_directory(tmp_path):
    res = run_cli("env=toy", "threads=2", "total_frames=3000", "eval.episodes=3", "results_root=runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "runs/a3c/toy/threads2-seed0"
    assert str(Path("runs/a3c/toy/threads2-seed0")) in res.stdout
    s = json.loads((run / "summary.json").read_text())
    for key in ("method", "env", "threads", "seed", "runtime", "total_frames", "frames", "wall_time_s",
                "frames_per_s", "cores", "cpu", "status", "final_score", "evals", "versions"):
        assert key in s, key
    assert s["status"] == "completed" and s["frames"] == 3000 and s["threads"] == 2
    assert s["evals"][-1]["episodes"] == 3 and s["final_score"] == s["evals"][-1]["mean"]
    for key in ("asyncrl", "torch", "gymnasium", "ale-py", "git_commit"):
        assert key in s["versions"]
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"frames", "wall_time_s", "frames_per_s", "score_mean", "policy_loss", "value_loss", "entropy"} <= set(header)
    assert (run / "episodes.csv").exists() and (run / "checkpoint.pt").exists() and (run / "config.yaml").exists()
    hydra_dir = {f.name: f.read_text() for f in (run / ".hydra").iterdir()}
    assert set(hydra_dir) == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    assert "eval.episodes=3" in hydra_dir["overrides.yaml"] and "output_dir:" in hydra_dir["hydra.yaml"]
    # running the same command again skips the completed run (eval settings do not define a run),
    # and leaves the record of the command that made it
    again = run_cli("env=toy", "threads=2", "total_frames=3000", "eval.episodes=5", "results_root=runs", cwd=tmp_path)
    assert again.returncode == 0 and "already completed" in again.stdout
    assert {f.name: f.read_text() for f in (run / ".hydra").iterdir()} == hydra_dir


def test_a_continuous_env_without_its_packages_is_refused_in_one_line(compose_cfg, monkeypatch):
    import importlib.util

    from asyncrl.cli import ConfigError, validate

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "shimmy" else real(name, *a))
    validate(compose_cfg("env=hopper", "method=a3c_continuous"))  # gymnasium's MuJoCo tasks need no shimmy
    with pytest.raises(ConfigError, match=r"^env 'dmc_walker_walk' needs the 'shimmy' package: pip install -e \"\.\[mujoco\]\"$"):
        validate(compose_cfg("env=dmc_walker_walk", "method=a3c_continuous"))


def test_continuous_control_smoke_run(tmp_path):
    """The continuous A3C through the real command on InvertedPendulum-v5, a few thousand steps."""
    res = run_cli("method=a3c_continuous", "env=inverted_pendulum", "threads=2", "total_frames=3000",
                  "eval.episodes=2", "results_root=runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    run = tmp_path / "runs/a3c_continuous/inverted_pendulum/threads2-seed0"
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "completed" and s["frames"] == 3000
    last = s["evals"][-1]
    assert last["policy"] == "mean" and last["episodes"] == 2 and s["final_score"] == last["mean"]
    assert {"sampled_mean", "sampled_std", "sampled_min", "sampled_max"} <= set(last)
    assert "with the mean action; sampled actions:" in res.stdout
    header = (run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"policy_loss", "value_loss", "entropy", "sigma2"} <= set(header)


REFUSAL_BASE = ["env=toy", "threads=1", "total_frames=3000", "eval.episodes=1", "hydra.run.dir=run"]


@pytest.fixture(scope="module")
def completed_toy_run(tmp_path_factory):
    """One completed run of REFUSAL_BASE, copied by each test that tries another run in its directory."""
    cwd = tmp_path_factory.mktemp("refusals")
    done = run_cli(*REFUSAL_BASE, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "run"


@pytest.mark.parametrize("change,needle", [
    ("total_frames=4000", "total_frames: 3000 -> 4000"),
    ("method.lr=0.001", "method.lr: 0.0007 -> 0.001"),
    ("method.optimizer=rmsprop", "method.optimizer: 'shared_rmsprop' -> 'rmsprop'"),
    ("env.noop_max=3", "env.noop_max"),
])
def test_another_run_in_the_same_directory_is_refused(tmp_path, completed_toy_run, change, needle):
    """Skip or resume only the same run: any run-defining key that differs is one line and exit 2,
    and the directory is left exactly as it was."""
    run = tmp_path / "run"
    shutil.copytree(completed_toy_run, run)
    before = {str(f.relative_to(run)): f.read_bytes() for f in run.rglob("*") if f.is_file()}
    assert ".hydra/overrides.yaml" in before
    res = run_cli(*REFUSAL_BASE, change, cwd=tmp_path)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("asyncrl: error:") and needle in lines[0], res.stderr
    assert "resume=false" in lines[0]
    assert {str(f.relative_to(run)): f.read_bytes() for f in run.rglob("*") if f.is_file()} == before


def test_resume_false_starts_a_changed_run_afresh_in_the_same_directory(tmp_path, completed_toy_run):
    """The way out the refusal names: resume=false trains the changed run from the start there."""
    run = tmp_path / "run"
    shutil.copytree(completed_toy_run, run)
    fresh = run_cli(*REFUSAL_BASE, "total_frames=4000", "resume=false", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert "already completed" not in fresh.stdout
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "completed" and s["frames"] == 4000, s


def test_an_interrupted_run_resumes_only_as_itself(tmp_path):
    """An unfinished run (checkpoint) with another optimizer is refused, not resumed with its shared
    statistics at zero."""
    base = ["env=toy", "threads=1", "eval.episodes=1", "hydra.run.dir=run", "method.optimizer=rmsprop"]
    assert run_cli(*base, "total_frames=3000", cwd=tmp_path).returncode == 0
    s = json.loads((tmp_path / "run/summary.json").read_text())
    s["status"] = "interrupted"  # as if stopped before the end: the checkpoint is there to resume from
    (tmp_path / "run/summary.json").write_text(json.dumps(s))
    res = run_cli("env=toy", "threads=1", "eval.episodes=1", "hydra.run.dir=run", "total_frames=3000", cwd=tmp_path)
    assert res.returncode == 2 and "method.optimizer: 'rmsprop' -> 'shared_rmsprop'" in res.stderr, res.stderr


def test_cores_and_default_threads_follow_the_cpu_affinity(tmp_path):
    """Under a one-core allocation (taskset, SLURM) the default threads and the recorded cores are 1."""
    res = subprocess.run(
        asyncrl_cmd() + ["env=toy", "total_frames=500", "eval.episodes=1", "results_root=runs"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240, env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "runs/a3c/toy/threads1-seed0/summary.json").read_text())
    assert s["cores"] == 1 and s["threads"] == 1


def _children(pid):
    """The child processes of `pid` (the runtime's own process helper)."""
    from asyncrl.runtime import procs

    return procs.children(pid)


def _alive(pids):
    """The processes among `pids` that still exist and are not zombies."""
    from asyncrl.runtime import procs

    return procs.alive(pids)


def _start_training(args, cwd, run, log_name):
    """Start the console command (stdout and stderr to files); return it and its children once its
    actor-learners are up and have finished a game."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(cwd / f"{log_name}.out", "w") as out, open(cwd / f"{log_name}.err", "w") as err:
        proc = subprocess.Popen(asyncrl_cmd() + args, cwd=cwd, stdout=out, stderr=err, text=True, env=env)
    deadline = time.time() + 120
    children = []
    while time.time() < deadline and proc.poll() is None:
        children = [c for c in _children(proc.pid) if c != proc.pid]
        episodes = run / "episodes.csv"
        if (run / "summary.json").exists() and len(children) >= 2 and episodes.exists() and episodes.stat().st_size > 40:
            return proc, children
        time.sleep(0.5)
    proc.kill()
    proc.wait()
    pytest.fail(f"actor-learners did not start: {(cwd / f'{log_name}.err').read_text()[-2000:]}")


def _stop(proc, sig, children):
    t0 = time.time()
    proc.send_signal(sig)
    proc.wait(timeout=30)
    assert time.time() - t0 < 15
    time.sleep(0.5)
    assert not _alive(children)


def test_a_ctrl_c_outside_training_is_one_line_and_exit_130(monkeypatch, capsys):
    """A Ctrl-C that lands while no run trains (between a sweep's jobs: the next run's set-up, where
    a stopped sweep once printed a KeyboardInterrupt traceback) ends the command with one line."""
    from asyncrl import cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "hydra_main", interrupted)
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err
    assert e.value.code == 130 and err == "asyncrl: stopped by Ctrl-C; the same command resumes\n", err


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_cleanly(tmp_path, sig):
    """Ctrl-C or SIGTERM: every process gone within seconds, the run `interrupted` with its checkpoint,
    exit code 130 (the README's), and the same command then resumes the run where it stopped."""
    args = ["env=cartpole", "threads=2", "total_frames=100000000", "results_root=runs", "logger.interval_s=1"]
    run = tmp_path / "runs/a3c/cartpole/threads2-seed0"
    proc, children = _start_training(args, tmp_path, run, "first")
    _stop(proc, sig, children)
    assert proc.returncode == 130, (tmp_path / "first.err").read_text()[-2000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "interrupted" and 0 < s["frames"] < 100000000
    stopped_at = s["frames"]
    from asyncrl import checkpoint

    assert checkpoint.load(run / "checkpoint.pt")["frames"] == stopped_at

    # the same command again resumes from the checkpoint (and is stopped the same way)
    proc, children = _start_training(args, tmp_path, run, "again")
    deadline = time.time() + 60
    while time.time() < deadline:  # until it has trained past the point where the first run stopped
        rows = (run / "metrics.csv").read_text().splitlines()[1:]
        if rows and int(rows[-1].split(",")[0]) > stopped_at:
            break
        time.sleep(0.5)
    _stop(proc, sig, children)
    assert proc.returncode == 130
    assert f"(resumed at {stopped_at:,})" in (tmp_path / "again.out").read_text()
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "interrupted" and s["frames"] > stopped_at


@pytest.mark.slow
def _blocked_on_a_pipe_write(pids) -> bool:
    """Whether a thread of one of `pids` sleeps in the kernel writing to a full pipe (Linux: its
    wchan is pipe_write, or anon_pipe_write on newer kernels)."""
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                if "pipe_write" in (task / "wchan").read_text():
                    return True
            except OSError:
                pass
    return False


@pytest.mark.parametrize("pipe", ["draining", "full"])
def test_actor_learners_stop_when_the_trainer_is_killed_alone(tmp_path, pipe):
    """SIGKILL to the trainer alone (no signal reaches its actor-learners, none of its clean-up runs):
    the kernel's parent-death signal stops every actor-learner within seconds. "full": the trainer
    is first stopped (SIGSTOP) until the actor-learners' messages fill the queue's pipe, so a
    feeder thread is blocked writing to it (or waits for the write lock the other's blocked feeder
    holds), and an actor-learner's exit must not wait for it."""
    if pipe == "full" and not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/wchan").exists():
        pytest.skip("needs Linux /proc/<pid>/task/<tid>/wchan")
    args = ["env=toy", "threads=2", "total_frames=100000000", "results_root=runs", "eval.episodes=0"]
    proc, children = _start_training(args, tmp_path, tmp_path / "runs/a3c/toy/threads2-seed0", "run")
    try:
        if pipe == "full":
            os.kill(proc.pid, signal.SIGSTOP)
            deadline = time.time() + 120
            while not _blocked_on_a_pipe_write(children) and time.time() < deadline:
                time.sleep(0.5)
            assert _blocked_on_a_pipe_write(children), "the messages never filled the pipe"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 15
        while _alive(children) and time.time() < deadline:
            time.sleep(0.2)
        assert not _alive(children), "actor-learners outlived their trainer"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in _alive(children):  # this test's own orphans, if the behaviour is broken
            os.kill(pid, signal.SIGKILL)


@pytest.mark.atari
@pytest.mark.parametrize("method", ["a3c", "a3c_lstm", "one_step_q", "one_step_sarsa", "n_step_q"])
def test_atari_smoke_pong(tmp_path, method):
    res = run_cli(f"method={method}", "env=pong", "threads=2", "total_frames=4000", "eval.episodes=1",
                  "results_root=runs", cwd=tmp_path, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    s = json.loads((tmp_path / f"runs/{method}/pong/threads2-seed0/summary.json").read_text())
    assert s["status"] == "completed" and s["frames"] == 4000 and s["network"] == "small"
    assert s["evals"] and -21 <= s["final_score"] <= 21  # a whole game of Pong, raw score


@pytest.mark.atari
def test_atari_smoke_pong_threads_on_the_vector_backend(tmp_path):
    """The thread runtime on ale-py's C++ vector env (the backend that lets threads scale)."""
    res = run_cli("env=pong", "env.backend=vector", "runtime=thread", "threads=2", "total_frames=4000",
                  "eval.episodes=1", "results_root=runs", cwd=tmp_path, timeout=400)
    assert res.returncode == 0, res.stderr[-3000:]
    s = json.loads((tmp_path / "runs/a3c/pong/threads2-seed0/summary.json").read_text())
    assert s["status"] == "completed" and s["frames"] == 4000 and s["runtime"] == "thread"
    assert s["evals"] and -21 <= s["final_score"] <= 21


@pytest.mark.slow
def test_plain_install_finds_conf(tmp_path):
    """A non-editable install carries conf/ as asyncrl/conf and runs from any directory."""
    wheel_dir = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )
    wheel = next(wheel_dir.glob("asyncrl-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for f in ("asyncrl/conf/config.yaml", "asyncrl/conf/env/pong.yaml", "asyncrl/conf/method/a3c_lstm.yaml",
              "asyncrl/data/atari_reference_scores.csv"):
        assert f in names, f
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    res = subprocess.run(
        [sys.executable, "-c", "import asyncrl.cli as c; assert 'site' in c.__file__; c.main()",
         "env=toy", "total_frames=500", "threads=1", "eval.episodes=1", "results_root=runs"],
        cwd=elsewhere, capture_output=True, text=True, timeout=240,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert (elsewhere / "runs/a3c/toy/threads1-seed0/summary.json").exists()


def test_a_run_directory_in_use_is_refused(tmp_path):
    """Two commands for the same run (e.g. the same command started twice) must not write one
    directory at once: the second stops with one line and exit 2, touching nothing."""
    from asyncrl import results

    run = tmp_path / "run"
    run.mkdir()
    lock = results.RunDirLock(run).acquire()
    try:
        res = run_cli("env=toy", "threads=1", "total_frames=500", "hydra.run.dir=run", cwd=tmp_path)
    finally:
        lock.release()
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "in use by another asyncrl run" in lines[0], res.stderr
    assert not {"summary.json", "config.yaml", "metrics.csv", "checkpoint.pt"} & {p.name for p in run.iterdir()}


@pytest.mark.parametrize("status,frames,interval,refused", [
    ("interrupted", 1200, 5_000_000, True),  # an interrupted run always wrote a checkpoint
    ("running", 2000, 1000, True),  # killed after its first checkpoint
    ("failed", 2000, 1000, True),
    ("running", 300, 5_000_000, False),  # killed before its first: nothing to resume, starts afresh
    ("failed", 300, 1000, False),
])
def test_results_whose_checkpoint_is_missing_are_not_wiped(tmp_path, status, frames, interval, refused):
    """Re-running a command whose run directory lost its checkpoint.pt would start afresh and delete
    the run's results: refused (one line, exit 2, files untouched) when the run had a checkpoint;
    resume=false still starts afresh."""
    run = tmp_path / "run"
    run.mkdir()
    old = {
        "summary.json": json.dumps({"status": status, "frames": frames}),
        "metrics.csv": "frames,wall_time_s\n1000,1.0\n",
        "episodes.csv": "frames,return\n900,5.0\n",
    }
    for name, text in old.items():
        (run / name).write_text(text)
    args = ["env=toy", "threads=1", "total_frames=500", "eval.episodes=0", "logger.progress=false",
            f"checkpoint.interval_frames={interval}", "hydra.run.dir=run"]
    res = run_cli(*args, cwd=tmp_path)
    if refused:
        assert res.returncode == 2, res.stderr
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and f"results to {frames:,} frames but no checkpoint.pt" in lines[0], res.stderr
        assert "resume=false" in lines[0]
        assert {name: (run / name).read_text() for name in old} == old
        res = run_cli(*args, "resume=false", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    s = json.loads((run / "summary.json").read_text())
    assert s["status"] == "completed" and s["frames"] == 500


def test_a_sweep_job_refused_by_a_run_in_use_leaves_that_run_alone(tmp_path):
    """In a sweep, a job whose directory is in use by another run is a failed job of the sweep,
    but the running run's summary.json is not marked failed."""
    from asyncrl import results

    run = tmp_path / "runs" / "a3c" / "toy" / "threads1-seed0"
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({"status": "running", "frames": 100}))
    lock = results.RunDirLock(run).acquire()
    try:
        res = run_cli("-m", "env=toy", "threads=1", "total_frames=500", "results_root=runs", cwd=tmp_path)
    finally:
        lock.release()
    assert res.returncode == 1 and "in use by another asyncrl run" in res.stderr, res.stderr
    assert json.loads((run / "summary.json").read_text()) == {"status": "running", "frames": 100}


def test_a_run_that_reached_stop_at_score_is_completed_and_trains_on_only_when_asked(tmp_path):
    """The run ends completed at the first evaluation reaching stop_at_score; the same command skips
    it; a higher score continues it from its checkpoint to the budget; a shipped model cannot."""
    base = ["env=toy", "threads=1", "total_frames=30000", "eval.episodes=1", "eval.interval_frames=1000",
            "logger.progress=false"]
    res = run_cli(*base, "stop_at_score=-1000", "hydra.run.dir=run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    s = json.loads((tmp_path / "run/summary.json").read_text())
    assert s["status"] == "completed" and s["stopped_at_score"]["frames"] < s["frames"] < 30000, s
    shutil.copytree(tmp_path / "run", tmp_path / "shipped")
    again = run_cli(*base, "stop_at_score=-1000", "hydra.run.dir=run", cwd=tmp_path)
    assert again.returncode == 0 and "already completed" in again.stdout
    on = run_cli(*base, "stop_at_score=inf", "hydra.run.dir=run", cwd=tmp_path)
    assert on.returncode == 0 and "training on" in on.stdout, on.stderr[-2000:]
    s2 = json.loads((tmp_path / "run/summary.json").read_text())
    assert s2["status"] == "completed" and s2["frames"] == 30000 and "stopped_at_score" not in s2
    assert [e["frames"] for e in s2["evals"][:len(s["evals"]) - 1]] == [e["frames"] for e in s["evals"][:-1]]
    ship = subprocess.run([sys.executable, str(ROOT / "scripts/ship_model.py"), "shipped"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert ship.returncode == 0, ship.stderr
    res = run_cli(*base, "stop_at_score=inf", "hydra.run.dir=shipped", cwd=tmp_path)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 2 and len(lines) == 1 and "cannot train further" in lines[0], res.stderr
    res = run_cli(*base, "stop_at_score=1", "eval.episodes=0", "hydra.run.dir=other", cwd=tmp_path)
    assert res.returncode == 2 and "stop_at_score needs periodic evaluations" in res.stderr, res.stderr

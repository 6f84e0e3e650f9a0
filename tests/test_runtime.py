"""The one runtime, driven by fake learners on the toy env, on both backends."""

import csv
import os
import threading

import pytest
import torch

from asyncrl import results
from asyncrl.runtime.actor_learner import target_refresh_due
from asyncrl.runtime.shared import FrameBudget
from asyncrl.runtime.trainer import Trainer

BACKENDS = ["process", "thread"]


def train(compose_cfg, tmp_path, *overrides):
    cfg = compose_cfg(
        "env=toy", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.5", *overrides
    )
    tr = Trainer(cfg, tmp_path)
    summary = tr.run(results.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    return tr, summary


@pytest.mark.parametrize("runtime", BACKENDS)
def test_budget_is_exact(compose_cfg, tmp_path, runtime):
    tr, s = train(
        compose_cfg, tmp_path, f"runtime={runtime}", "threads=2", "total_frames=997",
        "method.name=tests.fakes:CountingMethod", "method.t_max=5",
    )
    assert s["status"] == "completed", s.get("error")
    assert s["frames"] == 997  # not one step more or less, though two learners race for it
    rows = list(csv.DictReader(open(tmp_path / "episodes.csv")))
    assert rows and all(int(r["frames"]) <= 997 for r in rows)
    assert sum(int(r["length"]) for r in rows) <= 997
    assert {r["actor"] for r in rows} == {"0", "1"}
    assert results.read_json(tmp_path / "summary.json")["status"] == "completed"
    assert (tmp_path / "checkpoint.pt").exists()


@pytest.mark.parametrize("runtime", BACKENDS)
def test_a_raising_actor_learner_fails_the_run(compose_cfg, tmp_path, runtime):
    tr, s = train(
        compose_cfg, tmp_path, f"runtime={runtime}", "threads=2", "total_frames=1000000",
        "method.name=tests.fakes:RaisingMethod",
    )
    assert s["status"] == "failed"
    assert "fake failure in the loss" in s["error"] and "Traceback" in s["error"]
    assert s["frames"] < 1_000_000
    assert not [t for t in threading.enumerate() if t.name.startswith("actor-learner")]
    import multiprocessing

    assert not multiprocessing.active_children()


def test_frame_budget_under_contention():
    import multiprocessing as mp

    budget = FrameBudget(10_001, mp.get_context("spawn"))

    def worker():
        while True:
            g = budget.reserve(7)
            if g == 0:
                return
            budget.commit(g - 1 if g > 1 else g, g)  # give part of each grant back

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.done == 10_001


def test_target_refresh_when_T_crosses_a_multiple():
    assert not target_refresh_due(0, 39_996, 40_000)
    assert target_refresh_due(39_996, 40_016, 40_000)
    assert target_refresh_due(39_980, 40_000, 40_000)
    assert not target_refresh_due(40_000, 40_020, 40_000)
    assert target_refresh_due(79_990, 120_010, 40_000)


@pytest.mark.parametrize("interval,changes", [(10**9, False), (50, True)])
def test_target_network_changes_only_at_refresh(compose_cfg, tmp_path, interval, changes):
    cfg = compose_cfg(
        "env=toy", "eval.episodes=0", "logger.progress=false", "runtime=thread", "threads=1",
        "total_frames=400", "method.name=tests.fakes:TargetMethod", f"method.target_interval_frames={interval}",
    )
    tr = Trainer(cfg, tmp_path)
    initial = tr.target.head.bias.clone()
    s = tr.run(results.RunLog(cfg, tmp_path, (), 2))
    assert s["status"] == "completed"
    assert not torch.equal(tr.model.head.bias, initial)  # theta moved at every update
    assert torch.equal(tr.target.head.bias, initial) != changes
    if changes:  # T = 400 is a multiple of 50: the last update refreshed theta- from theta
        assert torch.equal(tr.target.head.bias, tr.model.head.bias)


METHOD_NAMES = ["a3c", "a3c_lstm", "one_step_q", "one_step_sarsa", "n_step_q"]


@pytest.mark.parametrize("runtime", BACKENDS)
@pytest.mark.parametrize("method", METHOD_NAMES)
def test_every_method_runs_on_both_backends(compose_cfg, tmp_path, method, runtime):
    tr, s = train(
        compose_cfg, tmp_path, f"method={method}", f"runtime={runtime}", "threads=2", "total_frames=600",
        "eval.episodes=2",
    )
    assert s["status"] == "completed", s.get("error")
    assert s["frames"] == 600 and s["evals"][-1]["episodes"] == 2
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0].split(",")
    assert set(tr.method_cls.stat_keys) <= set(header)


@pytest.mark.parametrize("optimizer", ["rmsprop", "momentum_sgd"])
def test_optimizer_variants_run(compose_cfg, tmp_path, optimizer):
    tr, s = train(compose_cfg, tmp_path, "method=n_step_q", "runtime=thread", "threads=2",
                  "total_frames=400", f"method.optimizer={optimizer}")
    assert s["status"] == "completed" and tr.stats == []  # no shared statistics for these


def test_lstm_state_is_carried_and_reset(compose_cfg):
    """A3C LSTM: a rollout's stored state0 is the state the acting left, and it is zero at episode start."""
    from asyncrl.methods import Rollout, build_network, get_method

    cfg = compose_cfg("method=a3c_lstm", "env=toy")
    net = build_network(get_method("a3c_lstm"), cfg.method, cfg.env, (8,), 2)
    obs = torch.eye(8)[:4]
    state = net.initial_state()
    assert all(float(x.abs().sum()) == 0 for x in state)
    with torch.no_grad():
        for t in range(3):
            _, _, state = net(obs[t : t + 1], state)
        out_step, v_step, _ = net(obs[3:4], state)
    # replaying s_0..s_3 from the initial state reproduces the stepwise outputs exactly
    out, v, _ = net.unroll(obs, net.initial_state())
    assert torch.allclose(out[3], out_step[0], atol=1e-6) and torch.allclose(v[3], v_step[0], atol=1e-6)
    method = get_method("a3c_lstm")(cfg.method, 2, 0, 0)
    r = Rollout(obs, torch.tensor([0, 1, 0]), [0.0, 0.0, 1.0], False, False, state0=(state[0].detach(), state[1].detach()))
    loss, _ = method.loss(net, None, r)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)


def test_restore_refuses_a_checkpoint_without_the_shared_statistics(compose_cfg, tmp_path):
    """A per-actor optimizer's checkpoint (no shared statistics) never resumes as shared_rmsprop
    with its statistics silently at zero."""
    rms = compose_cfg("env=toy", "method.optimizer=rmsprop", "total_frames=1000")
    ck = Trainer(rms, tmp_path).checkpoint_payload(0, 0.0)
    assert ck["stats"] == []
    shared = compose_cfg("env=toy", "total_frames=1000")
    with pytest.raises(ValueError, match="shared optimizer statistics"):
        Trainer(shared, tmp_path, ck)


def test_identity_differences_names_only_run_defining_keys():
    from asyncrl.config import identity_differences

    saved = {"method": {"lr": 7e-4, "eval_epsilon": 0.05, "epsilon": {"finals": [0.1]}}, "env": {"game": "pong"},
             "threads": 2, "seed": 0, "total_frames": 400000, "runtime": "process",
             "eval": {"episodes": 10}, "logger": {"interval_s": 10.0}, "results_root": "results/runs"}
    same = {**saved, "method": {**saved["method"], "eval_epsilon": 0.0}, "eval": {"episodes": 30},
            "logger": {"interval_s": 1.0}, "results_root": "runs", "resume": True}
    assert identity_differences(saved, same) == []
    other = {**saved, "total_frames": 2_000_000, "env": {"game": "pong", "backend": "lean"},
             "method": {**saved["method"], "epsilon": {"finals": [0.5]}}}
    # env.backend is absent from the saved config (an older run): not a difference
    assert identity_differences(saved, other) == [
        "method.epsilon.finals: [0.1] -> [0.5]", "total_frames: 400000 -> 2000000"]
    assert identity_differences(saved, {**saved, "threads": 4, "seed": 1}) == ["threads: 2 -> 4", "seed: 0 -> 1"]


@pytest.mark.slow
def test_an_oversubscribed_run_with_slow_exits_completes(compose_cfg, tmp_path):
    """More actor-learners than cores, each slower to exit than the trainer's join timeout: a run
    whose budget is spent is `completed` with its final evaluation; slowness is not a failure."""
    from asyncrl.runtime import trainer as trainer_mod
    from tests.fakes import SlowExitMethod

    assert SlowExitMethod.SLOW_EXIT_S > trainer_mod.JOIN_TIMEOUT_S
    threads = 2 * (os.cpu_count() or 1) + 1
    tr, s = train(compose_cfg, tmp_path, "runtime=process", f"threads={threads}", "total_frames=2003",
                  "method.name=tests.fakes:SlowExitMethod", "eval.episodes=2")
    assert s["status"] == "completed", s.get("error")
    assert s["frames"] == 2003 and s["final_score"] is not None and "error" not in s
    import multiprocessing

    assert not multiprocessing.active_children()


def test_a_run_directory_is_used_by_one_run_at_a_time(tmp_path):
    """A second command naming the same run directory is refused while the first runs (their
    rows and summaries would interleave); the lock goes with the process, even a killed one."""
    import subprocess
    import sys

    lock = results.RunDirLock(tmp_path).acquire()
    with pytest.raises(results.RunDirInUse, match=f"pid {os.getpid()}"):
        results.RunDirLock(tmp_path).acquire()
    lock.release()
    results.RunDirLock(tmp_path).acquire().release()
    # a holder killed by SIGKILL leaves no stale lock
    code = (f"from asyncrl import results; results.RunDirLock({str(tmp_path)!r}).acquire(); "
            "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == -9
    results.RunDirLock(tmp_path).acquire().release()

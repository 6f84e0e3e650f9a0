"""The one runtime, driven by fake learners on the toy env, on both backends."""

import csv
import os
import threading
import time

import pytest
import torch

from asyncrl import checkpoint, logger, results
from asyncrl.runtime.actor_learner import target_refresh_due
from asyncrl.runtime.shared import FrameBudget
from asyncrl.runtime.trainer import Trainer

BACKENDS = ["process", "thread"]


def train(compose_cfg, tmp_path, *overrides, env="toy"):
    cfg = compose_cfg(
        f"env={env}", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.5", *overrides
    )
    tr = Trainer(cfg, tmp_path)
    tr.initial = {k: v.clone() for k, v in tr.model.state_dict().items()}  # theta before training
    summary = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    return tr, summary


def assert_children_trained_the_shared_model(tr, names=None):
    """What the actor-learners did reached the trainer's own tensors (shared memory on the process
    backend): theta moved and the shared RMSProp statistics are non-zero, for every parameter named
    (default: all)."""
    params = dict(tr.model.named_parameters())
    stats = dict(zip(params, tr.stats))
    assert stats, "shared_rmsprop keeps one statistics tensor per parameter"
    for name in names or params:
        assert not torch.equal(params[name].detach(), tr.initial[name]), f"theta[{name}] never moved"
        assert stats[name].abs().sum() > 0, f"the shared statistics of {name} are all zero"


def run_recorded(compose_cfg, tmp_path, *overrides, env="toy"):
    """One actor-learner on the thread backend with a recording fake (tests/fakes.py): what the real
    loop handed to each `loss`, in order."""
    from tests import fakes

    fakes.RECORDS.clear()
    tr, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=1", *overrides, env=env)
    assert s["status"] == "completed", s.get("error")
    return tr, list(fakes.RECORDS)


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
    assert_children_trained_the_shared_model(tr, ["head.bias"])  # the fake's only non-zero gradient


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


@pytest.mark.parametrize("env,interval", [
    ("toy", 50), ("toy", 10**9), pytest.param("pong", 100, marks=pytest.mark.atari),  # pong: frame skip 4
])
def test_target_network_is_refreshed_exactly_when_T_crosses_a_multiple(compose_cfg, tmp_path, env, interval):
    """theta- starts as theta and is set to theta right after the update that makes T (in frames,
    = agent steps x frame skip) cross a multiple of I_target, and at no other time."""
    total = 400
    tr, recs = run_recorded(compose_cfg, tmp_path, "method=one_step_q", "method.name=tests.fakes:TargetRecorder",
                            f"method.target_interval_frames={interval}", f"total_frames={total}", env=env)
    assert tr.skip == (4 if env == "pong" else 1)
    expected, T, refreshes = tr.initial["head.bias"], 0, 0
    for k, r in enumerate(recs):
        assert torch.equal(r["target_bias"], expected), f"theta- seen by rollout {k} (T={T})"
        after = T + r["n"] * tr.skip
        if T // interval < after // interval:  # refreshed from theta after this update = theta' of the next
            expected = recs[k + 1]["bias"] if k + 1 < len(recs) else tr.model.head.bias.detach()
            refreshes += 1
        T = after
    assert T == total and refreshes == total // interval
    assert torch.equal(tr.target.head.bias, expected)
    assert not torch.equal(tr.model.head.bias, tr.initial["head.bias"])  # theta moved at every update


def test_target_network_refresh_reaches_the_trainer_on_the_process_backend(compose_cfg, tmp_path):
    """Actor-learner processes refresh the one shared theta-: with T ending on a multiple of I_target,
    the trainer's theta- is its theta after the run."""
    tr, s = train(compose_cfg, tmp_path, "runtime=process", "threads=2", "total_frames=400",
                  "method=one_step_q", "method.name=tests.fakes:TargetMethod", "method.target_interval_frames=400")
    assert s["status"] == "completed", s.get("error")
    assert not torch.equal(tr.target.head.bias, tr.initial["head.bias"])
    for name, p in tr.target.named_parameters():
        assert torch.equal(p, dict(tr.model.named_parameters())[name]), name


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
    assert_children_trained_the_shared_model(tr)


@pytest.mark.parametrize("optimizer", ["rmsprop", "momentum_sgd"])
def test_optimizer_variants_run(compose_cfg, tmp_path, optimizer):
    tr, s = train(compose_cfg, tmp_path, "method=n_step_q", "runtime=thread", "threads=2",
                  "total_frames=400", f"method.optimizer={optimizer}")
    assert s["status"] == "completed" and tr.stats == []  # no shared statistics for these


def test_lstm_state_is_carried_and_reset(compose_cfg, tmp_path):
    """A3C LSTM through the real loop: every rollout replays from the state the acting ended the
    previous rollout with (bit for bit), from zeros after every episode end, and without a graph."""
    _, recs = run_recorded(
        compose_cfg, tmp_path, "method.name=tests.fakes:RecurrentRecorder", "method.lstm=true",
        "method.lstm_size=8", "method.t_max=3", "env.length=3", "env.max_steps=7", "total_frames=400",
    )
    carried = reset = 0
    for prev, cur in zip([None] + recs[:-1], recs):
        assert cur["state0"] is not None and not cur["state0_has_graph"]
        h0, c0 = cur["state0"]
        if prev is None or prev["terminated"] or prev["truncated"]:
            assert not h0.any() and not c0.any(), "an episode must start from the zero state"
            reset += prev is not None
        else:
            assert h0.any() and c0.any()
            assert torch.equal(h0, prev["end_state"][0]) and torch.equal(c0, prev["end_state"][1])
            carried += 1
    ends = {(r["terminated"], r["truncated"]) for r in recs}
    assert carried >= 20 and reset >= 20 and {(True, False), (False, True)} <= ends, (carried, reset, ends)


def test_lstm_unroll_replays_the_acting_steps(compose_cfg):
    """The loss replays a rollout with Network.unroll from the stored state; it must give what the
    batch-1 acting steps gave, and a finite gradient."""
    from asyncrl.methods import Rollout, build_network, get_method

    cfg = compose_cfg("method=a3c_lstm", "env=toy")
    net = build_network(get_method("a3c_lstm"), cfg.method, cfg.env, (8,), 2)
    obs = torch.eye(8)[:4]
    state = net.initial_state()
    with torch.no_grad():
        for t in range(3):
            _, _, state = net(obs[t : t + 1], state)
        out_step, v_step, _ = net(obs[3:4], state)
    out, v, _ = net.unroll(obs, net.initial_state())
    assert torch.allclose(out[3], out_step[0], atol=1e-6) and torch.allclose(v[3], v_step[0], atol=1e-6)
    method = get_method("a3c_lstm")(cfg.method, 2, 0, 0)
    r = Rollout(obs, torch.tensor([0, 1, 0]), [0.0, 0.0, 1.0], False, False, state0=(state[0].detach(), state[1].detach()))
    loss, _ = method.loss(net, None, r)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    assert all(torch.isfinite(g).all() for g in grads)


def test_a_time_limit_reaches_the_learner_as_truncated_not_terminated(compose_cfg, tmp_path):
    """The loop cuts rollouts at t_max and at episode ends, and keeps the env's two ends apart: the
    time limit arrives as truncated (bootstrap), the goal as terminated (no bootstrap)."""
    _, left = run_recorded(compose_cfg, tmp_path, "method.name=tests.fakes:AlwaysLeft", "env.max_steps=7",
                           "method.t_max=5", "total_frames=70")
    # 7 steps into the wall per episode: a t_max cut, then the time limit
    assert [(r["n"], r["terminated"], r["truncated"]) for r in left] == [(5, False, False), (2, False, True)] * 10
    _, right = run_recorded(compose_cfg, tmp_path, "method.name=tests.fakes:AlwaysRight", "env.length=4",
                            "method.t_max=5", "total_frames=30")
    assert [(r["n"], r["terminated"], r["truncated"], r["rewards"]) for r in right] == [
        (3, True, False, [0.0, 0.0, 1.0])] * 10


@pytest.mark.parametrize("clip,horizon", [(0.0, None), (1.0, None), (0.0, 1200)])
def test_the_loop_applies_the_annealed_learning_rate_and_the_gradient_clip(compose_cfg, tmp_path, clip, horizon):
    """theta moves by exactly lr(T) * clip(d theta) per rollout, with lr(T) = lr * (1 - T / H) at the
    T the rollout started from, H = method.lr_anneal_frames (or total_frames when it is unset), and
    the rollout's gradient clipped to max_grad_norm."""
    from tests.fakes import ScaledGradient

    lr, budget = 0.01, 300
    total = budget if horizon is None else horizon  # the frames at which lr reaches 0
    _, recs = run_recorded(
        compose_cfg, tmp_path, "method.name=tests.fakes:ScaledGradient", "method.optimizer=momentum_sgd",
        "method.rmsprop_alpha=0", f"method.lr={lr}", f"method.max_grad_norm={clip}", f"total_frames={budget}",
        f"method.lr_anneal_frames={'null' if horizon is None else horizon}",
    )
    norm = ScaledGradient.SCALE * 2 ** 0.5  # -SCALE on each of the toy's two action biases
    scale = clip / norm if 0 < clip < norm else 1.0
    T = 0  # the global frame count each rollout started from (one actor-learner, frame skip 1)
    for prev, cur in zip(recs, recs[1:]):
        expected = lr * (1 - T / total) * ScaledGradient.SCALE * scale
        step = cur["bias"] - prev["bias"]
        assert torch.allclose(step, torch.full_like(step, expected), rtol=1e-4, atol=1e-8), (T, step, expected)
        T += prev["n"]
    assert len(recs) > 20 and T > budget * 0.8


def test_the_loop_applies_epsilon_at_the_global_frame_count(compose_cfg, tmp_path):
    """Value-based exploration follows T: eps falls from 1 to its final value (here 0) over
    epsilon.anneal_frames global frames, after which every action is theta's greedy one."""
    _, recs = run_recorded(
        compose_cfg, tmp_path, "method=n_step_q", "method.name=tests.fakes:RecordingNStepQ",
        "method.epsilon.finals=[0.0]", "method.epsilon.probs=[1.0]", "method.epsilon.anneal_frames=600",
        "total_frames=1200",
    )

    starts = [0]  # the global frame count each rollout started from (one actor-learner, frame skip 1)
    for r in recs:
        starts.append(starts[-1] + len(r["actions"]))

    def off_greedy(lo, hi):
        pairs = [(a, g) for T, r in zip(starts, recs) if lo <= T < hi for a, g in zip(r["actions"], r["greedy"])]
        assert len(pairs) >= 80
        return sum(a != g for a, g in pairs) / len(pairs)

    assert off_greedy(0, 100) > 0.3  # eps near 1: random actions, half of them off the greedy one
    assert 0.0 < off_greedy(300, 500) < off_greedy(0, 100)
    assert off_greedy(600, 1200) == 0.0  # eps has reached 0


def test_the_loop_draws_epsilon_again_at_every_new_game(compose_cfg, tmp_path):
    """epsilon.resample=per_episode: an actor-learner's final eps holds within a game and is drawn
    again when the next game starts (per_run: one value for the whole run)."""
    draws = {}
    for resample in ("per_episode", "per_run"):
        (tmp_path / resample).mkdir()
        _, recs = run_recorded(
            compose_cfg, tmp_path / resample, "method=n_step_q", "method.name=tests.fakes:RecordingNStepQ",
            "method.epsilon.finals=[0.1,0.01,0.5]", "method.epsilon.probs=[0.4,0.3,0.3]",
            f"method.epsilon.resample={resample}", "env.max_steps=7", "total_frames=1400",
        )
        games, game = [], []
        for r in recs:
            game.append(r["final_epsilon"])
            if r["ended"]:
                games.append(game)
                game = []
        assert len(games) >= 100 and all(len(set(g)) == 1 for g in games)  # one eps per game
        draws[resample] = [g[0] for g in games]
    assert len(set(draws["per_run"])) == 1
    assert set(draws["per_episode"]) == {0.1, 0.01, 0.5}


@pytest.mark.parametrize("overrides,recorded", [
    (("method=one_step_q",), "per_episode"),
    (("method=one_step_q", "method.epsilon.resample=per_run"), "per_run"),
    (("method=n_step_q", "method.name=tests.fakes:RecordingNStepQ"), "per_episode"),  # a user's value-based class
    (("method=a3c",), None),  # A3C does not explore by eps (its config has no epsilon)
])
def test_the_summary_records_when_a_value_based_run_draws_epsilon(compose_cfg, tmp_path, overrides, recorded):
    """summary.json epsilon_resample: the value-based methods' method.epsilon.resample; absent from
    the summary of a method that does not explore by eps, whatever its config holds."""
    _, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=1", "total_frames=60", *overrides)
    assert s["status"] == "completed", s.get("error")
    assert results.read_json(tmp_path / "summary.json").get("epsilon_resample", None) == recorded
    assert ("epsilon_resample" in s) == (recorded is not None)


def test_sarsa_executes_the_next_action_it_bootstrapped_from(compose_cfg, tmp_path):
    """SARSA's a' is drawn in s_T, handed to the loss, and executed first in the next rollout, without
    a new draw; at a time limit it is handed to the loss but never executed (the game restarts)."""
    _, log = run_recorded(
        compose_cfg, tmp_path, "method=one_step_sarsa", "method.name=tests.fakes:RecordingSarsa",
        "method.t_max=3", "env.length=4", "env.max_steps=7", "total_frames=600",
    )
    carried, drawn, seen = None, [], {"cut": 0, "terminated": 0, "truncated": 0}
    for event in log:
        if event[0] == "act":
            drawn.append(event[2])
            continue
        _, _, actions, next_action, terminated, truncated = event
        chosen = ([carried] if carried is not None else []) + drawn  # in the order they were chosen
        if terminated:
            assert next_action is None and actions == chosen
        else:
            assert actions == chosen[:-1] and next_action == chosen[-1]
        kind = "terminated" if terminated else "truncated" if truncated else "cut"
        seen[kind] += 1
        carried = next_action if kind == "cut" else None
        drawn = []
    assert min(seen.values()) >= 10, seen


def test_a_restored_trainer_holds_the_saved_theta_target_and_statistics(compose_cfg, tmp_path):
    """Resume starts from exactly what was saved: theta, theta- and the shared RMSProp statistics,
    tensor for tensor, and T. A restore that loaded nothing (or the wrong thing) would start from
    the seed's initial network, which the run has moved away from."""
    (tmp_path / "run").mkdir()
    tr, s = train(compose_cfg, tmp_path / "run", "method=n_step_q", "runtime=thread", "threads=1",
                  "total_frames=430", "method.target_interval_frames=200")
    assert s["status"] == "completed", s.get("error")
    ck = checkpoint.load(tmp_path / "run" / "checkpoint.pt")
    restored = Trainer(tr.cfg, tmp_path / "run", ck)
    fresh = Trainer(tr.cfg, tmp_path / "run")

    def tensors(t):
        return {"theta": list(t.model.state_dict().values()), "target": list(t.target.state_dict().values()),
                "stats": list(t.stats)}

    trained, got, initial = tensors(tr), tensors(restored), tensors(fresh)
    for key in trained:
        assert len(got[key]) == len(trained[key]) > 0
        assert all(torch.equal(a, b) for a, b in zip(got[key], trained[key])), f"{key} differs after restore"
        assert not all(torch.equal(a, b) for a, b in zip(initial[key], trained[key])), f"{key} never changed"
    # theta- was refreshed at 400 frames and theta moved on: the two are not interchangeable
    assert not all(torch.equal(a, b) for a, b in zip(trained["theta"], trained["target"]))
    assert restored.start_frames == 430 and restored.evals == tr.evals


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


def test_a_saved_key_the_method_does_not_declare_is_no_difference():
    """A saved config may hold keys of another method's config (the value-based epsilon in an A3C
    run): they define nothing for the method the command runs; its own keys still count."""
    from asyncrl.config import identity_differences

    saved = {"method": {"name": "a3c", "lr": 7e-4, "entropy_beta": 0.01, "target_interval_frames": 40000,
                        "epsilon": {"finals": [0.1], "resample": "per_episode"}, "eval_epsilon": 0.05},
             "env": {"game": "pong"}, "threads": 2}
    current = {"method": {"name": "a3c", "lr": 7e-4, "entropy_beta": 0.01}, "env": {"game": "pong"}, "threads": 2}
    assert identity_differences(saved, current) == []
    other = {**current, "method": {**current["method"], "entropy_beta": 0.02}}
    assert identity_differences(saved, other) == ["method.entropy_beta: 0.01 -> 0.02"]


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


def test_the_learning_rate_horizon_is_compared_by_what_it_means():
    """An unset horizon (or a run saved before the key existed) anneals at its budget: the same run
    as one that names its budget as the horizon, another run than one with a longer horizon."""
    from asyncrl.config import identity_differences

    old = {"method": {"lr": 7e-4}, "env": {"game": "pong"}, "total_frames": 20_000_000}
    unset = {**old, "method": {"lr": 7e-4, "lr_anneal_frames": None}}
    named = {**old, "method": {"lr": 7e-4, "lr_anneal_frames": 20_000_000}}
    longer = {**old, "method": {"lr": 7e-4, "lr_anneal_frames": 320_000_000}}
    assert identity_differences(old, unset) == [] and identity_differences(old, named) == []
    assert identity_differences(unset, named) == [] and identity_differences(named, unset) == []
    assert identity_differences(old, longer) == ["method.lr_anneal_frames: 20000000 -> 320000000"]
    assert identity_differences(longer, unset) == ["method.lr_anneal_frames: 320000000 -> 20000000"]


def test_a_run_older_than_a_protocol_key_keeps_its_protocol():
    """A run saved before env.fire_reset existed played without it: resuming it with the key on
    is a different run, not a silent protocol change."""
    from asyncrl.config import identity_differences

    saved = {"env": {"game": "breakout"}, "threads": 2}
    assert identity_differences(saved, {"env": {"game": "breakout", "fire_reset": False}, "threads": 2}) == []
    assert identity_differences(saved, {"env": {"game": "breakout", "fire_reset": True}, "threads": 2}) == [
        "env.fire_reset: False -> True"]


def test_periodic_evaluations_run_in_their_own_lower_priority_process(compose_cfg, tmp_path, monkeypatch):
    """Periodic evaluations play in one process of their own at nice `eval.nice` (the actor-learners
    keep the cores); the final one plays in the trainer, at the trainer's priority."""
    log = tmp_path / "evals.log"
    monkeypatch.setenv("ASYNCRL_TEST_EVAL_LOG", str(log))
    base = os.nice(0)
    tr, s = train(compose_cfg, tmp_path, "runtime=process", "threads=1", "total_frames=6000",
                  "method.name=tests.fakes:EvalWhereabouts", "eval.episodes=2", "eval.interval_frames=2000",
                  "eval.nice=7")
    assert s["status"] == "completed", s.get("error")
    where = [tuple(map(int, line.split())) for line in log.read_text().split("\n") if line]
    periodic, final = where[:-1], where[-1]
    assert periodic, "no periodic evaluation ran"
    assert all(pid != os.getpid() and nice == min(19, base + 7) for pid, nice in periodic)
    assert len({pid for pid, _ in periodic}) == 1  # one evaluation process for the whole run
    assert final == (os.getpid(), base)
    assert len(s["evals"]) == len(where)
    import multiprocessing

    assert not multiprocessing.active_children()


def test_a_stopped_run_ends_its_evaluation_process(compose_cfg, tmp_path, monkeypatch):
    """Stopping the run while a periodic evaluation plays ends that process and records nothing."""
    from asyncrl.runtime import trainer as trainer_mod

    monkeypatch.setenv("ASYNCRL_TEST_EVAL_LOG", str(tmp_path / "evals.log"))
    cfg = compose_cfg("env=toy", "logger.progress=false", "runtime=thread", "threads=1", "total_frames=4000",
                      "method.name=tests.fakes:EvalWhereabouts", "eval.episodes=1000000")
    tr = Trainer(cfg, tmp_path)
    tr.run_log = logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count())
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("scores", tr.evaluations.play(tr.model.state_dict(), 1)))
    t.start()
    import time

    deadline = time.monotonic() + 60
    while not (tmp_path / "evals.log").exists() and time.monotonic() < deadline:
        time.sleep(0.1)  # the process is up and playing its million games
    tr.evaluations.cancel()
    t.join(trainer_mod.JOIN_TIMEOUT_S + 10)
    assert not t.is_alive() and got["scores"] is None
    import multiprocessing

    assert not multiprocessing.active_children()


def test_a_slow_evaluation_delays_the_next_ones_but_skips_none(compose_cfg, tmp_path, monkeypatch):
    """Every evaluation interval crossed gets its snapshot evaluated, even when the evaluator is
    still busy with an earlier one (here: none finishes before training does)."""
    cfg = compose_cfg("env=toy", "logger.progress=false", "logger.interval_s=0.5", "runtime=thread", "threads=1",
                      "total_frames=12000", "method.name=tests.fakes:CountingMethod", "eval.episodes=1",
                      "eval.interval_frames=2000", "eval.final=false")
    tr = Trainer(cfg, tmp_path)
    played = []

    def slow_evaluation(snapshot, seed):
        while tr.budget.done < tr.total_steps and not tr.evaluations.cancelled():
            threading.Event().wait(0.05)  # busy until training is over
        played.append(seed)
        return [float(len(played))]

    monkeypatch.setattr(tr.evaluations, "play", slow_evaluation)
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    intervals = [e["frames"] // 2000 for e in s["evals"]]
    assert len(intervals) >= 3 and intervals == sorted(set(intervals)), intervals
    assert [e["mean"] for e in s["evals"]] == [float(i + 1) for i in range(len(intervals))]  # in order
    assert len(set(played)) == len(played)  # one seed per evaluation


def test_a_checkpoint_never_holds_an_evaluation_both_recorded_and_pending(compose_cfg, tmp_path, monkeypatch):
    """The evaluator records an evaluation while the watch loop may be writing a checkpoint: at any
    moment after its scores are recorded, a checkpoint must list it as recorded and not as pending
    (a resumed run would play it a second time). Here a checkpoint is taken at the first moment the
    run shows the evaluation (its log line), from the evaluator thread itself."""
    cfg = compose_cfg("env=toy", "logger.progress=false", "runtime=thread", "threads=1", "total_frames=4000",
                      "method.name=tests.fakes:CountingMethod", "eval.episodes=1", "eval.interval_frames=2000")
    tr = Trainer(cfg, tmp_path)
    seen = []

    class Log:
        def evaluation(self, entry, progress, outcome):
            payload = tr.checkpoint_payload(entry["frames"], 1.0)
            seen.append(([e["frames"] for e in payload["evals"]], [p["frames"] for p in payload["pending_evals"]]))

        def message(self, text):
            pass

    tr.run_log = Log()
    import multiprocessing

    tr.budget, tr.t0 = FrameBudget(tr.total_steps, multiprocessing.get_context("spawn")), time.monotonic()  # T and clock
    both_due = threading.Event()
    monkeypatch.setattr(tr.evaluations, "play", lambda snapshot, seed: both_due.wait(60) and [1.0])
    for frames in (2000, 4000):
        tr.evaluations.submit(frames, 1.0, tr.model.state_dict())
    both_due.set()  # the first evaluation finishes once the second one waits its turn
    tr.evaluations.wait()
    assert seen == [([2000], [4000]), ([2000, 4000], [])], seen
    assert tr.evaluations.checkpointed == (2, 0)


def test_an_evaluation_a_stop_interrupts_is_kept_in_the_checkpoint_and_played_on_resume(compose_cfg, tmp_path,
                                                                                        monkeypatch):
    """Stopping a run (SIGTERM, as a scheduler's time limit sends) while a periodic evaluation is due or playing
    must not lose it: its snapshot and seed go into the checkpoint, and the resumed run plays it
    first, recorded at the frames it was due."""
    import signal as signal_mod

    cfg = compose_cfg("env=toy", "logger.progress=false", "logger.interval_s=0.5", "runtime=thread", "threads=1",
                      "total_frames=400000", "method.name=tests.fakes:CountingMethod", "eval.episodes=1",
                      "eval.interval_frames=2000", "eval.final=false")
    tr = Trainer(cfg, tmp_path)
    due = threading.Event()

    def never_finishes(snapshot, seed):  # plays until the run stops, then records nothing
        due.set()
        while not tr.evaluations.cancelled():
            threading.Event().wait(0.02)
        return None

    monkeypatch.setattr(tr.evaluations, "play", never_finishes)
    stopper = threading.Thread(target=lambda: due.wait(60) and setattr(tr, "stop_signal", signal_mod.SIGTERM))
    stopper.start()
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    stopper.join()
    assert s["status"] == "interrupted" and s["evals"] == []
    ck = checkpoint.load(tmp_path / "checkpoint.pt")
    pending = ck["pending_evals"]
    assert len(pending) >= 1 and pending[0]["frames"] >= 2000 and pending[0]["frames"] % 2000 < 2000
    first_seed = pending[0]["seed"]
    assert first_seed == cfg.seed + 10_007  # the first evaluation's seed
    assert set(pending[0]["model"]) == set(tr.model.state_dict())

    resumed = Trainer(cfg, tmp_path, checkpoint=ck)
    played = []

    def records(snapshot, seed):  # records at once; stops the resumed run once the restored ones are played
        played.append(seed)
        if len(played) == len(pending):
            resumed.stop_signal = signal_mod.SIGTERM
        return [1.0]

    monkeypatch.setattr(resumed.evaluations, "play", records)
    s2 = resumed.run(logger.RunLog(cfg, tmp_path, resumed.method_cls.stat_keys, os.cpu_count()))
    assert s2["status"] == "interrupted", s2.get("error")
    assert played == [p["seed"] for p in pending]  # the interrupted ones, first, with their seeds
    assert [e["frames"] for e in s2["evals"]] == [p["frames"] for p in pending]
    still = checkpoint.load(tmp_path / "checkpoint.pt")["pending_evals"]
    assert not {p["frames"] for p in pending} & {p["frames"] for p in still}  # played: not kept again
    assert all(p["seed"] > first_seed + 10_007 * (len(pending) - 1) for p in still)  # new ones: new seeds


def _run_with_stop_at_score(compose_cfg, tmp_path, monkeypatch, total, evaluation):
    """A toy run of `total` frames with stop_at_score=5 and an evaluation every 2000 frames, each
    played by `evaluation(trainer)`, which returns its score. Returns the summary, the checkpoint
    and the snapshots the periodic evaluations were given, in order."""
    cfg = compose_cfg("env=toy", "logger.progress=false", "logger.interval_s=0.5", "runtime=thread", "threads=1",
                      f"total_frames={total}", "method.name=tests.fakes:CountingMethod", "eval.episodes=1",
                      "eval.interval_frames=2000", "stop_at_score=5")
    tr = Trainer(cfg, tmp_path)
    evaluated = []

    def play(snapshot, seed):
        evaluated.append({k: v.clone() for k, v in snapshot.items()})
        return [evaluation(tr, len(evaluated))]

    monkeypatch.setattr(tr.evaluations, "play", play)
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    return s, checkpoint.load(tmp_path / "checkpoint.pt"), evaluated


@pytest.mark.parametrize("score,stops", [(5.0, True), (4.9, False)])
def test_training_ends_at_the_first_evaluation_that_reaches_stop_at_score(compose_cfg, tmp_path, monkeypatch,
                                                                           score, stops):
    """stop_at_score ends training (completed, final evaluation played) at the first periodic
    evaluation whose mean reaches it; below it, the run trains its whole budget. The run's model
    (checkpoint, final evaluation) is then the snapshot that reached the score, not the parameters
    that trained on while it was evaluated (theta moves every update here)."""
    total = 400_000 if stops else 8_000

    def evaluation(trainer, n):  # slow enough that training runs on past the snapshot
        time.sleep(1.5 if n == 1 else 0.3)  # the first: long enough for later snapshots
        return score

    s, ck, evaluated = _run_with_stop_at_score(compose_cfg, tmp_path, monkeypatch, total, evaluation)
    assert s["status"] == "completed", s.get("error")
    periodic, final = s["evals"][:-1], s["evals"][-1]
    assert periodic and all(e["mean"] == score for e in periodic)
    if stops:
        reached = s["stopped_at_score"]
        assert reached["frames"] == periodic[0]["frames"] == 2000 + periodic[0]["frames"] % 2000
        assert reached["mean"] == 5.0 and reached["stop_at_score"] == 5.0
        assert reached["frames"] < s["frames"] < 40_000  # trained on while it was evaluated; far from the budget
        assert ck["frames"] == final["frames"] == reached["frames"] and ck["wall_time_s"] == reached["wall_time_s"]
        assert ck["stats"]  # all a further run needs
        assert all(torch.equal(ck["model"][k], v) for k, v in evaluated[0].items())  # the model that scored
        # snapshots taken while it was evaluated are neither played nor kept: not the run's model
        assert len(evaluated) == 1 and periodic == [periodic[0]] and not ck["pending_evals"]
    else:
        assert s["frames"] == total and "stopped_at_score" not in s
        assert ck["frames"] == final["frames"] == s["frames"]  # the final evaluation, played in the trainer


def test_a_score_reached_after_the_budget_ran_out_still_makes_the_scoring_snapshot_the_model(
        compose_cfg, tmp_path, monkeypatch):
    """The periodic evaluation that reaches stop_at_score may finish only after the actor-learners
    have trained the whole budget (a slow evaluator). The run's model, checkpoint and final
    evaluation are still the snapshot that scored, as when the score comes first: which of the two
    ended training must not change what the run reports."""
    total = 8_000

    def evaluation(trainer, n):  # reports only once the budget has run out
        deadline = time.monotonic() + 60
        while trainer.budget.done < trainer.total_steps and time.monotonic() < deadline:
            time.sleep(0.01)
        return 5.0

    s, ck, evaluated = _run_with_stop_at_score(compose_cfg, tmp_path, monkeypatch, total, evaluation)
    assert s["status"] == "completed" and s["frames"] == total, s.get("error")
    periodic, final = s["evals"][:-1], s["evals"][-1]
    reached = s["stopped_at_score"]
    assert reached["frames"] == periodic[0]["frames"] < total and len(periodic) == 1
    assert ck["frames"] == final["frames"] == reached["frames"] and ck["wall_time_s"] == reached["wall_time_s"]
    assert all(torch.equal(ck["model"][k], v) for k, v in evaluated[0].items())  # the model that scored
    assert len(evaluated) == 1  # the snapshots after the one that scored are not played


def test_the_progress_speed_is_over_the_last_window_not_since_the_start():
    """The progress line's frames/s: a slow stretch long ago (other work on the cores) no longer
    shows once a whole window has passed at the new speed."""
    from asyncrl.logger import RecentRate

    w = RecentRate.WINDOW_S
    r = RecentRate(100.0, 1000)
    assert r.update(100.0 + w / 2, 5000) is None  # no whole window yet: the caller falls back
    assert r.update(100.0 + w, 1000 + 10 * w) == pytest.approx(10.0)  # slow first window
    assert r.update(100.0 + 1.5 * w, 10 ** 6) == pytest.approx(10.0)  # held until the next closes
    assert r.update(100.0 + 2.5 * w, 1000 + 10 * w + 400 * 1.5 * w) == pytest.approx(400.0)  # that window only


@pytest.mark.parametrize("dead", [False, True])
def test_a_network_whose_units_died_is_reported(compose_cfg, tmp_path, capsys, dead):
    """active_min (metrics.csv): the share of ReLU outputs > 0 in the least active layer. A net whose
    units died (too high a learning rate kills them: three committed Pong runs of results/runs_lr
    ended so) is told once, and its summary records where."""
    cfg = compose_cfg("env=toy", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.2",
                      "runtime=thread", "threads=1", "total_frames=3000")
    tr = Trainer(cfg, tmp_path)
    if dead:  # every first-layer unit below zero for any input: ReLU passes no gradient back
        first = next(m for m in tr.model.torso.modules() if isinstance(m, torch.nn.Linear))
        with torch.no_grad():
            first.weight.zero_()
            first.bias.fill_(-1.0)
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    values = [float(r["active_min"]) for r in csv.DictReader(open(tmp_path / "metrics.csv")) if r["active_min"]]
    assert values, "no metrics row carried the statistic"
    out = capsys.readouterr().out
    if dead:
        assert all(v == 0.0 for v in values)
        assert out.count("its units have died") == 1
        assert 0 < s["dead_network_at_frames"] <= 3000
    else:
        assert all(0.05 < v <= 1.0 for v in values)
        assert "have died" not in out and "dead_network_at_frames" not in s


def late_exit_reports(monkeypatch) -> None:
    """Thread-backend actor-learners whose exit report reaches the trainer 0.8 s late, after the
    budget is used up (their periodic reports are turned off): for that long the trainer ticks
    at the budget's end while they are still alive."""
    import queue as queue_mod

    from asyncrl.runtime import actor_learner, backends

    class LateStats(queue_mod.Queue):
        def put(self, item, *args, **kwargs):
            if item[0] == "stats":
                time.sleep(0.8)  # several logger intervals: the trainer writes rows meanwhile
            super().put(item, *args, **kwargs)

    monkeypatch.setattr(actor_learner, "STATS_EVERY_S", 1e9)  # the exit report only
    monkeypatch.setattr(backends.ThreadBackend, "make_queue", lambda self: LateStats())


def test_the_actor_learners_last_statistics_reach_the_last_row(compose_cfg, tmp_path, monkeypatch):
    """An actor-learner reports its statistics every STATS_EVERY_S and once more as it exits, after
    the budget is used up. That last report must land in a metrics row even when it comes late: the
    row at the budget's end is written after the actor-learners have exited, not before (a run
    shorter than STATS_EVERY_S has no other report; CI once saw such a run with none in any row)."""
    late_exit_reports(monkeypatch)
    cfg = compose_cfg("env=toy", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.1",
                      "runtime=thread", "threads=1", "total_frames=2000")
    tr = Trainer(cfg, tmp_path)
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert int(rows[-1]["frames"]) == 2000
    assert rows[-1]["loss"] and rows[-1]["active_min"], rows[-1]
    assert len({r["frames"] for r in rows}) == len(rows)  # still one row per T


def _at(t: int) -> logger.Progress:
    """Where a run is at T = `t` frames: a wall clock of t / 1000 s, a learning rate of 1e-3."""
    return logger.Progress(frames=t, wall=t / 1000, lr=1e-3)


def test_reports_after_the_last_row_at_the_same_T_join_that_row(compose_cfg, tmp_path):
    """Actor-learners stopped by a signal report as they exit. When they took no frame after the
    last row, the run's last (forced) write is at that row's T: their reports join that row (a
    second row at one T would break one row per T; dropping them lost the statistics of the run's
    last seconds). An in-loop row at an unchanged T still writes nothing."""
    cfg = compose_cfg("env=toy", "logger.progress=false", "logger.interval_s=0")
    log = logger.RunLog(cfg, tmp_path, ["policy_loss"], 1)
    log.started(0, 0.0)
    log.stats({"loss": 1.0, "grad_norm": 2.0, "policy_loss": 3.0})
    log.episode(_at(500).wall, 0, 400, -21.0, 100)
    log.row(_at(500))
    log.stats({"loss": 3.0, "grad_norm": 4.0, "policy_loss": 5.0})  # an exit report, no frame since
    log.episode(_at(500).wall, 1, 500, -19.0, 120)
    log.row(_at(500))  # in the loop: T has not moved, no row
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [(r["frames"], r["loss"], r["episodes"]) for r in rows] == [("500", "1", "1")]
    log.row(_at(500), force=True)  # the run's last write
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 1, rows
    r = rows[0]
    assert (r["frames"], r["wall_time_s"], r["lr"]) == ("500", "0.5", "0.001")  # the row's own T and clock
    assert (float(r["loss"]), float(r["grad_norm"]), float(r["policy_loss"])) == (2.0, 3.0, 4.0)  # both reports
    assert (int(r["episodes"]), float(r["score_mean"])) == (2, -20.0)
    log.row(_at(500), force=True)  # nothing new: the row stays as it is
    assert list(csv.DictReader(open(tmp_path / "metrics.csv"))) == rows
    log.stats({"loss": 7.0, "grad_norm": 1.0, "policy_loss": 1.0})
    log.row(_at(600), force=True)  # a new T: a new row, of the reports since the joined one only
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [(r["frames"], r["loss"], r["episodes"]) for r in rows] == [("500", "2", "2"), ("600", "7", "0")]
    log.metrics.close()
    log.episodes.close()


@pytest.mark.parametrize("final", [True, False])
def test_the_budgets_end_is_evaluated_once(compose_cfg, tmp_path, monkeypatch, final):
    """The periodic evaluation due at the budget's end (here 2000, a multiple of the interval) and
    the final evaluation would play the same parameters at the same T: with eval.final the final
    one alone plays there; without it, the periodic one does. The actor-learners linger at the
    budget's end (late exit report), so the trainer surely ticks there."""
    late_exit_reports(monkeypatch)
    cfg = compose_cfg("env=toy", "eval.episodes=2", "eval.interval_frames=1000", f"eval.final={str(final).lower()}",
                      "logger.progress=false", "logger.interval_s=0.1", "runtime=thread", "threads=1",
                      "total_frames=2000")
    tr = Trainer(cfg, tmp_path)
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    frames = [e["frames"] for e in s["evals"]]
    assert len(frames) == 2 and 1000 <= frames[0] < 2000 and frames[1] == 2000, frames  # the first at its tick


def test_the_hosts_a_run_trained_on_are_its_summarys_history():
    """results.host_history: a new run starts one entry; a resume on the same machine keeps it, on
    another adds one at the checkpoint's T and time; entries past the checkpoint (frames the run
    trains again) go; a summary from before the field becomes its own processor from T = 0."""
    from asyncrl.results import host_history

    def entry(cpu, frames, wall):
        return {"cpu": cpu, "from_frames": frames, "from_wall_s": wall}

    assert host_history(None, 0, 0.0, "A") == [entry("A", 0, 0.0)]
    first = {"hosts": [entry("A", 0, 0.0)], "cpu": "A"}
    assert host_history(first, 700, 60.0, "A") == [entry("A", 0, 0.0)]
    two = host_history(first, 700, 60.0, "B")
    assert two == [entry("A", 0, 0.0), entry("B", 700, 60.0)]
    assert host_history({"hosts": two}, 900, 80.0, "B") == two
    assert host_history({"hosts": two}, 900, 80.0, "A") == [*two, entry("A", 900, 80.0)]
    # B's frames are past this checkpoint (the run died before B's first checkpoint): trained again on C
    assert host_history({"hosts": two}, 700, 60.0, "C") == [entry("A", 0, 0.0), entry("C", 700, 60.0)]
    assert host_history({"hosts": two}, 500, 40.0, "A") == [entry("A", 0, 0.0)]
    assert host_history({"cpu": "A", "frames": 700}, 700, 60.0, "B") == two  # a summary from before hosts
    assert host_history(first, 0, 0.0, "B") == [entry("B", 0, 0.0)]  # resume=false: a new run


def test_a_run_resumed_on_another_machine_adds_it_to_its_hosts(compose_cfg, tmp_path, monkeypatch):
    """A resumed run's summary.json carries the hosts of the one it resumes, and the machine it
    runs on now from the checkpoint's T."""
    from asyncrl import logger as logger_mod

    cfg = compose_cfg("env=toy", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.2",
                      "runtime=thread", "threads=1", "total_frames=4000")
    tr = Trainer(cfg, tmp_path)
    ck = tr.checkpoint_payload(2000, 1.5)
    results.write_json(tmp_path / "summary.json", {"status": "interrupted", "frames": 2000, "cpu": "old machine"})
    monkeypatch.setattr(logger_mod, "cpu", lambda: "new machine")
    resumed = Trainer(cfg, tmp_path, checkpoint=ck)
    s = resumed.run(logger.RunLog(cfg, tmp_path, resumed.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    assert s["cpu"] == "new machine"
    assert s["hosts"] == [{"cpu": "old machine", "from_frames": 0, "from_wall_s": 0.0},
                          {"cpu": "new machine", "from_frames": 2000, "from_wall_s": 1.5}]


def test_a_resumed_dead_network_keeps_where_it_was_first_found(compose_cfg, tmp_path, capsys):
    """Resuming a run whose network died: the warning comes again (this process has not said it),
    and dead_network_at_frames stays the first detection, from before the checkpoint."""
    cfg = compose_cfg("env=toy", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.2",
                      "runtime=thread", "threads=1", "total_frames=6000")
    tr = Trainer(cfg, tmp_path)
    first = next(m for m in tr.model.torso.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight.zero_()
        first.bias.fill_(-1.0)
    ck = tr.checkpoint_payload(2000, 1.0)
    results.write_json(tmp_path / "summary.json", {"status": "interrupted", "frames": 2000, "dead_network_at_frames": 1234})
    resumed = Trainer(cfg, tmp_path, checkpoint=ck)
    s = resumed.run(logger.RunLog(cfg, tmp_path, resumed.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    assert s["dead_network_at_frames"] == 1234
    out = capsys.readouterr().out
    assert out.count("its units have died") == 1 and "found first at 1,234" in out


def test_min_active_share_is_the_least_active_relu_layers_share():
    from asyncrl.networks import Network, min_active_share

    outs = [torch.tensor([[0.0, 1, 2, 0]] * 3), torch.tensor([[0.0, 0.5], [0, 0], [0, 0]])]
    assert min_active_share(outs) == pytest.approx(1 / 6)  # layer 2: 1 of 6 > 0; layer 1: 6 of 12
    net = Network((3,), 2, "mlp", mlp_hidden=(4, 4))
    assert net.active_min() is None  # before any unroll
    with torch.no_grad():
        net.torso[1].weight.zero_()
        net.torso[1].bias.copy_(torch.tensor([1.0, -1, -1, -1]))  # one unit of four on, whatever the input
    net.unroll(torch.randn(5, 3))
    assert net.active_min() <= 0.25


def test_a_metrics_log_resumed_by_a_version_with_more_columns_is_widened(tmp_path):
    """A run started before a column was added resumes: its old rows keep their values under their
    names (new columns empty), new rows fill every column; an unrelated header is still refused."""
    path = tmp_path / "metrics.csv"
    path.write_text("frames,wall_time_s,loss\n100,1.5,0.25\n200,3,0.5\n")
    log = results.CsvLog(path, ["frames", "wall_time_s", "loss", "active_min", "entropy"])
    log.write({"frames": 300, "wall_time_s": 4.5, "loss": 0.75, "active_min": 0.125, "entropy": 1.0})
    log.close()
    assert path.read_text() == (
        "frames,wall_time_s,loss,active_min,entropy\n100,1.5,0.25,,\n200,3,0.5,,\n300,4.5,0.75,0.125,1\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]  # no temporary file left
    with pytest.raises(ValueError, match="has columns"):
        results.CsvLog(path, ["frames", "score"])


def test_pin_to_core_pins_the_calling_thread_and_what_it_starts_only():
    from asyncrl.runtime.actor_learner import pin_to_core

    allowed = sorted(os.sched_getaffinity(0))
    seen = {}

    def body(rank):
        core = pin_to_core(rank)
        child = threading.Thread(target=lambda: seen.__setitem__(("child", rank), os.sched_getaffinity(0)))
        child.start()
        child.join()
        seen[rank] = (core, os.sched_getaffinity(0))

    for rank in range(len(allowed) + 1):  # the last one wraps around to the first core
        t = threading.Thread(target=body, args=(rank,))
        t.start()
        t.join()
        core = allowed[rank % len(allowed)]
        assert seen[rank] == (core, {core}) and seen[("child", rank)] == {core}
    assert sorted(os.sched_getaffinity(0)) == allowed  # the main thread is left as it was


@pytest.mark.parametrize("pin", [True, False])
def test_pin_cores_pins_each_actor_learner_before_it_makes_its_env(compose_cfg, tmp_path, monkeypatch, pin):
    from asyncrl.runtime import actor_learner

    allowed = sorted(os.sched_getaffinity(0))
    masks, real = {}, actor_learner.make_env
    monkeypatch.setattr(actor_learner, "make_env", lambda cfg, seed: masks.setdefault(
        threading.current_thread().name, os.sched_getaffinity(0)) and real(cfg, seed=seed))
    tr, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=2", "total_frames=400", f"pin_cores={pin}")
    assert s["status"] == "completed", s.get("error")
    expected = {f"actor-learner-{r}": {allowed[r % len(allowed)]} if pin else set(allowed) for r in range(2)}
    assert masks == expected
    assert sorted(os.sched_getaffinity(0)) == allowed


def test_pin_cores_is_refused_before_any_work_where_threads_cannot_be_pinned(compose_cfg, monkeypatch):
    from asyncrl import cli

    cfg = compose_cfg("env=toy", "pin_cores=true")
    cli.validate(cfg)
    monkeypatch.delattr(cli.os, "sched_setaffinity")
    with pytest.raises(cli.ConfigError, match="pin_cores needs os.sched_setaffinity"):
        cli.validate(cfg)


def _flushes_subnormals() -> bool:
    """Whether this thread's float arithmetic flushes subnormals to zero (FTZ/DAZ)."""
    return (torch.tensor([1e-39], dtype=torch.float32) * 1.0).item() == 0.0


def test_every_actor_learner_flushes_subnormals_in_its_own_thread(compose_cfg, tmp_path, monkeypatch):
    from asyncrl.runtime import actor_learner

    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormals")
    torch.set_flush_denormal(False)
    assert not _flushes_subnormals()
    flags, real = {}, actor_learner.make_env
    monkeypatch.setattr(actor_learner, "make_env", lambda cfg, seed: flags.setdefault(
        threading.current_thread().name, _flushes_subnormals()) is not None and real(cfg, seed=seed))
    tr, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=2", "total_frames=400")
    assert s["status"] == "completed", s.get("error")
    assert flags == {"actor-learner-0": True, "actor-learner-1": True}
    assert not _flushes_subnormals()  # a per-thread setting: the trainer's thread is left as it was


def test_a_process_the_trainer_spawns_flushes_subnormals():
    import multiprocessing as mp

    from asyncrl.runtime.backends import trainer_child_setup

    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormals")
    torch.set_flush_denormal(False)
    with mp.get_context("spawn").Pool(1, initializer=trainer_child_setup) as pool:
        assert pool.apply(_flushes_subnormals) is True


def test_cpu_names_the_processor_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC 7B13\ncache size\t: 512 KB\n\n"
                    "processor\t: 1\nmodel name\t: AMD EPYC 7B13\ncache size\t: 512 KB\n")
    assert results.cpu(info) == "AMD EPYC 7B13, 512 KB cache"
    info.write_text("processor\t: 0\nmodel name\t: Apple M2\n")
    assert results.cpu(info) == "Apple M2"
    import platform
    assert results.cpu(tmp_path / "missing") == (platform.processor() or None)


def test_other_load_is_the_machines_busy_time_minus_the_runs(tmp_path):
    from asyncrl.runtime import load

    stat = tmp_path / "stat"
    tick = load._TICK
    stat.write_text(f"cpu  {3 * tick} {1 * tick} {2 * tick} {50 * tick} {4 * tick} 0 {1 * tick} {9 * tick} 0 0\n"
                    "cpu0 1 2 3 4 5 6 7\n")
    assert load.machine_busy_s(stat) == pytest.approx(3 + 1 + 2 + 0 + 1)  # not idle, iowait or steal
    assert load.machine_busy_s(tmp_path / "missing") is None
    # 10 s: the machine busy for 25 CPU-s, the run for 18: others used 0.7 of a core
    assert load.other_load(100.0, 125.0, 40.0, 58.0, 10.0) == pytest.approx(0.7)
    assert load.other_load(100.0, 110.0, 40.0, 52.0, 10.0) == 0.0  # counters tick apart: clipped
    assert load.other_load(None, 110.0, 40.0, 52.0, 10.0) is None and load.other_load(1, 2, 3, 4, 0) is None

    samples = iter([(0.0, 100.0, 10.0), (10.0, 130.0, 20.0), (30.0, 170.0, 60.0)])
    clock_busy_own = [None]

    def nxt(i):
        def f():
            if i == 0:
                clock_busy_own[0] = next(samples)
            return clock_busy_own[0][i]
        return f
    meter = load.OtherLoad(clock=nxt(0), busy=nxt(1), own=nxt(2))
    assert meter.since_last() == pytest.approx((30 - 10) / 10)  # 2 cores' worth beside the run
    assert meter.since_last() == pytest.approx(0.0)  # the run had the machine


def test_metrics_rows_record_the_other_load(compose_cfg, tmp_path):
    """A real run writes other_load in every metrics row (a number on Linux, where /proc exists)."""
    train(compose_cfg, tmp_path, "threads=1", "total_frames=6000", "logger.interval_s=0.2")
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all("other_load" in r for r in rows)
    if os.path.exists("/proc/stat"):
        assert all(float(r["other_load"]) >= 0.0 for r in rows), rows


class _MallInfo2(__import__("ctypes").Structure):
    _fields_ = [(name, __import__("ctypes").c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def _mmapped_bytes_after_malloc(keep: bool, size: int = 4 << 20) -> int:
    """In a fresh process: glibc's mmapped bytes after allocating `size` bytes (and keeping them)."""
    import ctypes

    from asyncrl.runtime.actor_learner import keep_freed_memory

    if keep:
        assert keep_freed_memory()
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype, libc.mallinfo2.restype = ctypes.c_void_p, _MallInfo2
    before = libc.mallinfo2().hblkhd
    assert libc.malloc(size)
    return libc.mallinfo2().hblkhd - before


def test_an_actor_learner_keeps_freed_memory_on_its_heap(compose_cfg, tmp_path, monkeypatch):
    """An update's MB-sized buffers come from the heap and stay there for the next one, instead of
    being mmapped afresh (page faults on every reuse): every actor-learner sets glibc's thresholds."""
    import ctypes
    import multiprocessing as mp

    from asyncrl.runtime import actor_learner

    try:
        ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        pytest.skip("not glibc >= 2.33")
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        assert pool.apply(_mmapped_bytes_after_malloc, (False,)) >= 4 << 20  # glibc's default: mmapped
    with mp.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        assert pool.apply(_mmapped_bytes_after_malloc, (True,)) == 0
    calls, real = [], actor_learner.keep_freed_memory
    monkeypatch.setattr(actor_learner, "keep_freed_memory", lambda: calls.append(1) or real())
    _, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=2", "total_frames=400")
    assert s["status"] == "completed", s.get("error")
    assert len(calls) == 2


@pytest.mark.parametrize("every_s", [None, 1e9])
def test_finished_games_reach_the_trainer_in_batches_stamped_at_their_end(compose_cfg, tmp_path, monkeypatch,
                                                                           every_s):
    """Every finished game reaches episodes.csv, but an actor-learner sends them at most once per
    GAMES_EVERY_S (the toy env's games last a few steps: many share a message), and each row has
    the time its game ended, not the time its message arrived. With an interval longer than the run
    the games after the first go with the actor-learner's exit report."""
    import queue as queue_mod

    from asyncrl.runtime import actor_learner, backends

    if every_s is not None:
        monkeypatch.setattr(actor_learner, "GAMES_EVERY_S", every_s)

    sent = []

    class Recording(queue_mod.Queue):
        def put(self, item, *args, **kwargs):
            if item[0] == "games":
                sent.append(item[2])
            super().put(item, *args, **kwargs)

    monkeypatch.setattr(backends.ThreadBackend, "make_queue", lambda self: Recording())
    tr, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=1", "total_frames=20000")
    assert s["status"] == "completed", s.get("error")
    rows = list(csv.DictReader(open(tmp_path / "episodes.csv")))
    games = [g for message in sent for g in message]
    assert len(rows) == len(games) > 3 * len(sent)
    assert [int(r["frames"]) for r in rows] == [g[1] for g in games]
    assert 0 <= 20000 - sum(int(r["length"]) for r in rows) < 30  # all but the unfinished game (max_steps 30)
    walls = [float(r["wall_time_s"]) for r in rows]
    assert walls == sorted(walls) and 0 <= walls[0] and walls[-1] <= s["wall_time_s"]
    assert len(set(walls)) > len(walls) / 2  # a message's games keep their own times

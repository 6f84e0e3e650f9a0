"""Games with lives: a lost life as a learning terminal while the game goes on, and FIRE after a
reset or a lost life so that no policy stalls a game at its serve (real ALE, Breakout)."""

import csv

import numpy as np
import pytest
from omegaconf import OmegaConf

from asyncrl.config import EnvCfg
from asyncrl.envs import make_env

pytestmark = pytest.mark.atari

BACKENDS = ["gymnasium", "lean"]


def breakout(**overrides):
    return EnvCfg(kind="atari", game="breakout", fire_reset=True, **overrides)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_lost_life_is_flagged_and_the_game_goes_on(backend):
    """NOOP forever on Breakout (FIRE is pressed by the env): 5 lives, so 4 steps flagged
    `life_lost`, none of them terminated, no reset in between, then the real game over."""
    env = make_env(breakout(backend=backend), seed=3)
    obs, info = env.reset()
    lives = [info["lives"]]
    flagged, steps, score = 0, 0, 0.0
    terminated = truncated = False
    while not (terminated or truncated):
        obs, r, terminated, truncated, info = env.step(0)
        steps += 1
        score += info["raw_reward"]
        if info["life_lost"]:
            flagged += 1
            assert not terminated and info["lives"] == lives[-1] - 1
        lives.append(info["lives"])
    env.close()
    assert terminated and not truncated
    assert lives[0] == 5 and flagged == 4 and not info["life_lost"]  # the game over is not a "life lost"
    assert lives == sorted(lives, reverse=True)  # never reset to 5 in between
    assert steps < 108_000 // 4


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_policy_that_never_fires_cannot_stall_breakout(backend):
    """Greedy NOOP never presses FIRE: with fire_reset (Breakout's default) the game ends long
    before the 30-minute cap; without it the ball is never launched and only the cap ends it."""
    from hydra import compose, initialize_config_dir

    from tests.conftest import ROOT

    import asyncrl.config  # noqa: F401

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["env=breakout", f"env.backend={backend}"])
    assert cfg.env.fire_reset  # conf/env/breakout.yaml
    env = make_env(cfg.env, seed=0)
    env.reset()
    for step in range(108_000 // 4):
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            break
    assert terminated and not truncated and info["episode_frame_number"] < 10_000
    stalled = make_env(OmegaConf.merge(cfg.env, {"fire_reset": False, "max_episode_frames": 20_000}), seed=0)
    stalled.reset()
    for step in range(20_000 // 4 + 1):
        _, _, terminated, truncated, info = stalled.step(0)
        if terminated or truncated:
            break
    assert truncated and not terminated  # only the time limit ended it: the serve never came


def test_fire_reset_needs_a_fire_action():
    with pytest.raises(ValueError, match="no FIRE"):
        make_env(EnvCfg(kind="atari", game="freeway", fire_reset=True), seed=0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_backends_agree_with_fire_reset_and_lives(backend):
    """The FIRE wrapper and the life-lost flag sit above both backends: same trace for a seed."""
    def trace(b):
        env = make_env(breakout(backend=b), seed=5)
        rng = np.random.default_rng(0)
        obs, _ = env.reset()
        out = [obs]
        for a in rng.integers(4, size=600):
            obs, r, term, trunc, info = env.step(int(a))
            out += [obs, r, term, trunc, info["life_lost"], info["lives"]]
            if term or trunc:
                obs, _ = env.reset()
                out.append(obs)
        env.close()
        return out

    a, b = trace("gymnasium"), trace(backend)
    assert len(a) == len(b)
    assert all(np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(a, b))


@pytest.mark.parametrize("terminal", [True, False])
def test_the_runtime_ends_learning_at_a_lost_life_not_the_game(compose_cfg, tmp_path, monkeypatch, terminal):
    """The real actor-learner loop on Breakout (thread runtime, one actor-learner, a recording fake
    method, every env step recorded): with terminal_on_life_loss, a rollout that loses a life ends
    on that step with terminated=True (so n-step targets drop the bootstrap there), the next
    rollout continues the same game from the same observation (no reset), and episodes.csv still
    records whole games. Without it, a lost life changes nothing."""
    import os

    from asyncrl import logger
    from asyncrl.runtime import actor_learner
    from asyncrl.runtime.trainer import Trainer
    from tests.fakes import RecordingMethod

    steps = []  # (life_lost, game over, truncated) of every env step, in order
    real_make_env = actor_learner.make_env

    def recording_make_env(cfg, seed, **kw):
        env = real_make_env(cfg, seed, **kw)
        step = env.step

        def recorded(a):
            out = step(a)
            steps.append((out[4]["life_lost"], out[2], out[3]))
            return out

        env.step = recorded
        return env

    monkeypatch.setattr(actor_learner, "make_env", recording_make_env)
    cfg = compose_cfg(
        "env=breakout", f"env.terminal_on_life_loss={str(terminal).lower()}",
        "method.name=tests.fakes:RecordingMethod", "runtime=thread", "threads=1", "total_frames=12000",
        "eval.episodes=0", "logger.progress=false",
    )
    RecordingMethod.rollouts.clear()
    tr = Trainer(cfg, tmp_path)
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    assert s["terminal_on_life_loss"] is terminal
    rollouts = RecordingMethod.rollouts
    assert sum(r["steps"] for r in rollouts) == len(steps) == 3000
    games = list(csv.DictReader(open(tmp_path / "episodes.csv")))
    assert games and all(float(g["length"]) > 0 for g in games)
    start, cut_at_life = 0, 0
    for i, r in enumerate(rollouts):
        mine = steps[start:start + r["steps"]]
        start += r["steps"]
        life_lost_last, game_over, truncated = mine[-1]
        if terminal:
            assert not any(lost for lost, _, _ in mine[:-1])  # the rollout stops at a lost life
        assert r["terminated"] == (game_over or (terminal and life_lost_last))
        if life_lost_last and not game_over:
            cut_at_life += 1
            if i + 1 < len(rollouts):  # the game goes on: no reset between the two rollouts
                assert np.array_equal(rollouts[i + 1]["first_obs"], r["last_obs"])
    if terminal:
        assert cut_at_life >= 4, "the budget should hold several lost lives"
    # whole games: each recorded game spans all its lives (a game over is the only episode end)
    assert len(games) == sum(1 for _, over, trunc in steps if over or trunc)


def test_an_lstm_starts_from_zero_after_a_lost_life(compose_cfg, tmp_path):
    """With terminal_on_life_loss, the recurrent state resets at a lost life as at an episode start
    (the game goes on), and is carried everywhere else."""
    import csv as csv_mod

    import torch

    from tests.test_runtime import run_recorded

    _, recs = run_recorded(
        compose_cfg, tmp_path, "method.name=tests.fakes:RecurrentRecorder", "method.lstm=true",
        "method.lstm_size=8", "env.terminal_on_life_loss=true", "total_frames=8000", env="breakout",
    )
    games = len(list(csv_mod.DictReader(open(tmp_path / "episodes.csv"))))
    learning_ends = sum(r["terminated"] or r["truncated"] for r in recs)
    assert learning_ends >= games + 3, (learning_ends, games)  # lost lives ended learning episodes too
    for prev, cur in zip(recs, recs[1:]):
        h0, c0 = cur["state0"]
        if prev["terminated"] or prev["truncated"]:
            assert not h0.any() and not c0.any()
        else:
            assert torch.equal(h0, prev["end_state"][0]) and torch.equal(c0, prev["end_state"][1])

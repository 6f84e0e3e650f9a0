"""Env contract: observations, seeding, raw vs learning rewards, terminated vs truncated."""

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from asyncrl.config import EnvCfg
from asyncrl.envs import EnvSpec, atari_games, env_spec, make_env

BACKENDS = ["gymnasium", "lean"]
TOY = EnvCfg(
    kind="toy", game="toy", frame_skip=1, noop_max=0, clip_rewards=False, length=5, max_steps=12
)
CARTPOLE = EnvCfg(kind="cartpole", game="cartpole", frame_skip=1, noop_max=0, clip_rewards=False)


def atari(game="breakout", **overrides):
    return EnvCfg(kind="atari", game=game, **overrides)


def play(env, actions):
    """Reset, then step through `actions`, resetting whenever an episode ends; record everything."""
    obs, info = env.reset()
    trace = [("reset", obs, info.get("lives"))]
    for a in actions:
        obs, reward, terminated, truncated, info = env.step(int(a))
        trace.append((obs, reward, terminated, truncated, info["raw_reward"], info.get("lives")))
        if terminated or truncated:
            obs, info = env.reset()
            trace.append(("reset", obs, info.get("lives")))
    env.close()
    return trace


def same_trace(a, b):
    return len(a) == len(b) and all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for step_a, step_b in zip(a, b)
        for x, y in zip(step_a, step_b, strict=True)
    )


def bcd_score_breakout(ale):
    """Breakout's on-screen score, read from RAM (BCD digits at 77 and 76)."""
    ram = ale.getRAM()
    lo, hi = int(ram[77]), int(ram[76])
    return (lo & 0xF) + 10 * (lo >> 4) + 100 * (hi & 0xF)


# ---------------------------------------------------------------------------------- toy


def test_toy_walking_right_terminates_not_truncates():
    env = make_env(TOY, seed=0)
    obs, _ = env.reset()
    np.testing.assert_array_equal(obs, [1, 0, 0, 0, 0])
    steps = [env.step(1) for _ in range(TOY.length - 1)]
    assert [s[1] for s in steps] == [0.0, 0.0, 0.0, 1.0]
    assert [s[2] for s in steps] == [False, False, False, True]
    assert not any(s[3] for s in steps)
    np.testing.assert_array_equal(steps[-1][0], [0, 0, 0, 0, 1])


def test_toy_always_left_truncates_at_max_steps_not_terminates():
    env = make_env(TOY, seed=0)
    env.reset()
    steps = [env.step(0) for _ in range(TOY.max_steps)]
    for obs, reward, terminated, _, info in steps:
        np.testing.assert_array_equal(obs, [1, 0, 0, 0, 0])  # the wall at 0 holds
        assert reward == 0.0 and info["raw_reward"] == 0.0 and not terminated
    assert [s[3] for s in steps] == [False] * (TOY.max_steps - 1) + [True]


# ------------------------------------------------------------------------------ cartpole


def test_cartpole_balanced_truncates_at_500_and_falling_terminates():
    env = make_env(CARTPOLE, seed=0)
    obs, _ = env.reset()
    for t in range(1, 501):
        obs, _, terminated, truncated, _ = env.step(int(obs[2] + 0.5 * obs[3] + 0.1 * obs[1] > 0))
        if terminated or truncated:
            break
    assert (t, terminated, truncated) == (500, False, True)

    env.reset()
    for t in range(1, 501):
        _, _, terminated, truncated, _ = env.step(1)  # always push right: the pole falls
        if terminated or truncated:
            break
    assert t < 100 and terminated and not truncated


def test_cartpole_seeding():
    first = make_env(CARTPOLE, seed=3).reset()[0]
    np.testing.assert_array_equal(first, make_env(CARTPOLE, seed=3).reset()[0])
    np.testing.assert_array_equal(first, make_env(CARTPOLE, seed=0).reset(seed=3)[0])
    assert not np.array_equal(first, make_env(CARTPOLE, seed=4).reset()[0])


# ------------------------------------------------------------------- shapes and specs


SPEC_CASES = [
    (TOY, EnvSpec((5,), "float32", 2, 1)),
    (CARTPOLE, EnvSpec((4,), "float32", 2, 1)),
    *(
        pytest.param(atari(backend=b), EnvSpec((4, 84, 84), "uint8", 4, 4), marks=pytest.mark.atari)
        for b in [*BACKENDS, "vector"]
    ),
    pytest.param(
        atari(backend="lean", frame_stack=3, screen_size=64, frame_skip=3, full_action_space=True),
        EnvSpec((3, 64, 64), "uint8", 18, 3),
        marks=pytest.mark.atari,
    ),
]


@pytest.mark.parametrize("cfg,spec", SPEC_CASES)
def test_observations_match_spec(cfg, spec):
    cfg = OmegaConf.structured(cfg)  # the runtime passes DictConfigs
    assert env_spec(cfg) == spec
    env = make_env(cfg, seed=0)
    assert env.action_space.n == spec.n_actions
    obs, _ = env.reset()
    first_step = env.step(1)[0]
    kept = first_step.copy()
    second_step = env.step(1)[0]
    for o in (obs, first_step, second_step):
        assert o.shape == spec.obs_shape and o.dtype == np.dtype(spec.obs_dtype)
        assert env.observation_space.contains(o)
    # The runtime keeps observations in a rollout: later steps must not write into them.
    np.testing.assert_array_equal(first_step, kept)
    if spec.obs_dtype == "uint8":
        assert all(np.array_equal(frame, obs[0]) for frame in obs)  # reset fills the stack
        assert obs.max() > 0
        np.testing.assert_array_equal(second_step[:-1], first_step[1:])  # newest frame last


@pytest.mark.atari
def test_atari_games_lists_the_57():
    games = atari_games()
    assert len(games) == len(set(games)) == 57
    assert {"breakout", "space_invaders", "montezuma_revenge", "video_pinball"} <= set(games)


# ------------------------------------------------------------------------------ Atari


@pytest.mark.atari
@pytest.mark.parametrize("backend", BACKENDS)
def test_atari_same_seed_same_game(backend):
    # Sticky actions and no-op starts both draw on the seed.
    cfg = atari(backend=backend, noop_max=30, repeat_action_probability=0.25)
    actions = np.random.default_rng(0).integers(4, size=150)
    reference = play(make_env(cfg, seed=1), actions)
    assert same_trace(reference, play(make_env(cfg, seed=1), actions))
    assert not same_trace(reference, play(make_env(cfg, seed=2), actions))


LEAN_CASES = {
    # game, steps, overrides: each trace holds a real game over (random play), and lean is the
    # default backend for all 57 games, so several games, action sets and observation shapes
    "breakout-plain": ("breakout", 400, dict(noop_max=0)),
    # seeded no-ops, sticky actions, and game overs mixed with truncated episodes (the limit falls
    # mid-skip), with their resets
    "breakout-noops-sticky-truncation": ("breakout", 1200, dict(noop_max=30, repeat_action_probability=0.25,
                                                                max_episode_frames=902)),
    "breakout-full-action-space": ("breakout", 500, dict(full_action_space=True)),
    "asterix": ("asterix", 400, dict()),
    "qbert-stack2-size64": ("qbert", 500, dict(frame_stack=2, screen_size=64)),
    "space_invaders-stack3-size96-skip3": ("space_invaders", 900, dict(frame_stack=3, screen_size=96, frame_skip=3)),
    "seaquest": ("seaquest", 800, dict()),
}


@pytest.mark.atari
@pytest.mark.parametrize("case", list(LEAN_CASES))
def test_lean_backend_matches_gymnasium(case):
    game, steps, overrides = LEAN_CASES[case]
    n_actions = make_env(atari(game, backend="gymnasium", **overrides), seed=5).action_space.n
    actions = np.random.default_rng(0).integers(n_actions, size=steps)
    reference = play(make_env(atari(game, backend="gymnasium", **overrides), seed=5), actions)
    lean = play(make_env(atari(game, backend="lean", **overrides), seed=5), actions)
    assert same_trace(reference, lean)
    steps_taken = [step for step in reference if not isinstance(step[0], str)]
    assert any(terminated for _, _, terminated, _, _, _ in steps_taken), "no game over in the trace"
    if "max_episode_frames" in overrides:
        assert sum(truncated for _, _, _, truncated, _, _ in steps_taken) >= 2
    if overrides.get("full_action_space"):
        assert n_actions == 18 and max(actions) >= 4  # actions outside the minimal set were played
    stack = overrides.get("frame_stack", 4)
    size = overrides.get("screen_size", 84)
    assert reference[0][1].shape == (stack, size, size)


VECTOR_CASES = {
    "breakout": ("breakout", 700, dict()),
    "breakout-full-action-space": ("breakout", 500, dict(full_action_space=True)),
    "space_invaders-stack3-size96-skip3": ("space_invaders", 900, dict(frame_stack=3, screen_size=96, frame_skip=3)),
    "pong": ("pong", 1000, dict()),
}


@pytest.mark.atari
@pytest.mark.parametrize("case", list(VECTOR_CASES))
def test_vector_backend_matches_lean_without_noops(case):
    """ale-py's C++ vector env under our preprocessing: with no-op starts off, every step equals
    the lean backend's (observation, rewards, flags, lives), resets included, except the
    observation of the step that ends a game (pooled there, the last screen alone on lean)."""
    game, steps, overrides = VECTOR_CASES[case]
    cfg = dict(noop_max=0, **overrides)
    n_actions = make_env(atari(game, backend="lean", **cfg), seed=5).action_space.n
    assert make_env(atari(game, backend="vector", **cfg), seed=5).action_space.n == n_actions
    actions = np.random.default_rng(1).integers(n_actions, size=steps)
    lean = play(make_env(atari(game, backend="lean", **cfg), seed=5), actions)
    vector = play(make_env(atari(game, backend="vector", **cfg), seed=5), actions)
    assert len(lean) == len(vector)
    ends = 0
    for a, b in zip(lean, vector):
        if isinstance(a[0], str):  # a reset: the first frame fills the stack
            assert b[0] == "reset" and np.array_equal(a[1], b[1]) and a[2] == b[2]
            continue
        assert a[1:] == b[1:]  # reward, terminated, truncated, raw reward, lives
        if a[2]:
            ends += 1
            np.testing.assert_array_equal(a[0][:-1], b[0][:-1])
        else:
            np.testing.assert_array_equal(a[0], b[0])
    assert ends >= 1 or game == "pong", "no game over in the trace"
    assert sum(r != 0 for _, r, *_ in (s for s in lean if not isinstance(s[0], str))) > 0


@pytest.mark.atari
def test_vector_backend_noop_starts_are_seeded_and_up_to_noop_max():
    cfg = atari("pong", backend="vector", noop_max=5)
    counts = []
    env = make_env(cfg, seed=3)
    for _ in range(40):
        counts.append(env.reset()[1]["episode_frame_number"])
    assert set(counts) <= set(range(5)) and len(set(counts)) >= 3
    again = make_env(cfg, seed=3)
    assert [again.reset()[1]["episode_frame_number"] for _ in range(40)] == counts
    other = make_env(cfg, seed=4)
    assert [other.reset()[1]["episode_frame_number"] for _ in range(40)] != counts
    make_env(cfg, seed=2**32 - 1).reset()  # actor-learner seeds are 32-bit; the C++ side takes 31


@pytest.mark.atari
def test_vector_backend_time_limit_truncates():
    """The time limit (max_episode_frames) ends a game as truncated, not terminated; without
    no-op starts it counts every frame of the game."""
    env = make_env(atari("pong", backend="vector", noop_max=0, max_episode_frames=40), seed=0)
    env.reset()
    flags = []
    for _ in range(10):
        _, _, terminated, truncated, info = env.step(0)
        flags.append((terminated, truncated))
    assert flags == [(False, False)] * 9 + [(False, True)] and info["episode_frame_number"] == 40


@pytest.mark.atari
def test_vector_backend_renders_through_lean():
    """Videos need the emulator's screen, which the vector env keeps in C++: render=True builds
    the lean backend, the same protocol."""
    from asyncrl.envs import render_frame

    env = make_env(atari("pong", backend="vector"), seed=0, render=True)
    env.reset()
    assert render_frame(env).shape == (210, 160, 3)


@pytest.mark.atari
@pytest.mark.parametrize("backend", BACKENDS)
def test_atari_time_limit_truncates_with_the_final_screen(backend):
    env = make_env(atari(backend=backend, noop_max=0, max_episode_frames=10), seed=0)
    env.reset()
    flags = []
    for _ in range(3):  # frames 1-4, 5-8, then 9-10: the limit ends the third step mid-skip
        obs, _, terminated, truncated, info = env.step(1)
        flags.append((terminated, truncated))
    assert flags == [(False, False), (False, False), (False, True)]
    assert info["episode_frame_number"] == 10
    # gymnasium's AtariPreprocessing alone would repeat the previous frame here; a truncated
    # episode is bootstrapped from this observation, so it must show where the game stopped.
    screen = env.unwrapped.ale.getScreenGrayscale()
    final = cv2.resize(screen, (84, 84), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(obs[-1], final)


@pytest.mark.atari
def test_atari_learning_reward_is_clipped_and_raw_reward_is_not():
    # Space Invaders pays 5-30 points per invader: raw rewards above 1 come quickly.
    clipped = make_env(atari("space_invaders"), seed=0)
    unclipped = make_env(atari("space_invaders", clip_rewards=False), seed=0)
    clipped.reset()
    unclipped.reset()
    raws = []
    for a in np.random.default_rng(0).integers(clipped.action_space.n, size=300):
        _, reward, terminated, _, info = clipped.step(int(a))
        _, raw_reward, *_, raw_info = unclipped.step(int(a))
        assert info["raw_reward"] == raw_info["raw_reward"] == raw_reward
        assert reward == np.clip(raw_reward, -1.0, 1.0)
        raws.append(raw_reward)
        if terminated:
            break
    assert max(raws) > 1  # the clipping was actually exercised


@pytest.mark.atari
@pytest.mark.parametrize("backend", BACKENDS)
def test_breakout_whole_game_score_is_the_sum_of_raw_rewards_across_lives(backend):
    env = make_env(atari(backend=backend), seed=3)
    rng = np.random.default_rng(3)  # a random game that scores after losing its first life
    _, info = env.reset()
    lives, score, score_after_first_loss, lives_lost_mid_game = info["lives"], 0.0, 0.0, 0
    while True:
        _, _, terminated, truncated, info = env.step(int(rng.integers(4)))
        assert not truncated
        score += info["raw_reward"]
        if lives_lost_mid_game:
            score_after_first_loss += info["raw_reward"]
        if info["lives"] < lives and not terminated:
            lives_lost_mid_game += 1
        lives = info["lives"]
        if terminated:
            break
    assert lives == 0 and lives_lost_mid_game == 4  # only the last lost life ends the game
    assert score_after_first_loss > 0
    assert score == bcd_score_breakout(env.unwrapped.ale)  # what the game's scoreboard shows

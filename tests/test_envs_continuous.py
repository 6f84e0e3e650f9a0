"""The continuous-control envs: float32 observations (a Control Suite dict flattened), float32 Box
actions clipped to the bounds on the way to the task, time limits as truncation; and, through the
real actor-learner loop, that the learner keeps the action it sampled while the task gets it clipped."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from asyncrl.envs import env_spec, make_env
from asyncrl.envs_continuous import ClippedFloat32, TargetLine


class _Recorder(gym.Env):
    """Records the actions it receives; a Box(-2, 3) task of action dtype `dtype`."""

    def __init__(self, dtype):
        self.action_space = spaces.Box(np.array([-2.0, -2.0]), np.array([3.0, 3.0]), dtype=dtype)
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), dtype=np.float64)
        self.received = []

    def reset(self, *, seed=None, options=None):
        return np.zeros(2), {}

    def step(self, action):
        self.received.append(action)
        return np.ones(2), 0.0, False, False, {}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_actions_are_clipped_to_the_bounds_in_the_task_dtype(dtype):
    inner = _Recorder(dtype)
    env = ClippedFloat32(inner)
    assert env.action_space.dtype == np.float32 and env.action_space.low.tolist() == [-2.0, -2.0]
    obs, _ = env.reset()
    assert obs.dtype == np.float32
    obs, *_ = env.step(np.array([7.5, -0.25], dtype=np.float32))
    obs, *_ = env.step(np.array([-9.0, 2.5], dtype=np.float32))
    assert obs.dtype == np.float32
    assert [a.tolist() for a in inner.received] == [[3.0, -0.25], [-2.0, 2.5]]
    assert all(a.dtype == dtype for a in inner.received)


def test_the_toy_task_pays_for_the_clipped_action():
    env = ClippedFloat32(TargetLine())
    g, _ = env.reset(seed=3)
    _, r, terminated, truncated, _ = env.step(np.array([5.0], dtype=np.float32))
    assert r == pytest.approx(1 - (1.0 - g[0]) ** 2) and not terminated and not truncated


@pytest.fixture
def env_cfg(compose_cfg):
    return lambda game: compose_cfg(f"env={game}", "method=a3c_continuous").env


def test_inverted_pendulum_is_float32_and_truncates_at_its_step_limit(env_cfg):
    cfg = env_cfg("inverted_pendulum")
    spec = env_spec(cfg)
    assert spec.obs_shape == (4,) and spec.obs_dtype == "float32" and spec.n_actions == 1
    cfg.max_steps = 5
    env = make_env(cfg, seed=0)
    assert env.action_space == spaces.Box(-3.0, 3.0, (1,), dtype=np.float32)
    env.reset()
    flags = [env.step(np.zeros(1, dtype=np.float32))[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]  # a time limit: truncated, not terminated
    env.close()


def test_a_control_suite_dict_is_flattened_in_key_order(env_cfg):
    cfg = env_cfg("dmc_walker_walk")
    env = make_env(cfg, seed=0)
    inner = env.unwrapped
    obs, _ = env.reset()
    assert obs.shape == (24,) and obs.dtype == np.float32  # height (a scalar), 14 orientations, 9 velocities
    assert env.action_space == spaces.Box(-1.0, 1.0, (6,), dtype=np.float32)
    raw = inner._env.physics  # the dm_control physics the observation is read from
    assert obs[0] == pytest.approx(float(raw.named.data.xpos["torso", "z"]), rel=1e-6)
    obs, r, terminated, truncated, info = env.step(np.full(6, 4.0, dtype=np.float32))
    assert obs.shape == (24,) and "raw_reward" in info
    assert inner._env.physics.data.ctrl.tolist() == pytest.approx([1.0] * 6)  # clipped to the bound
    env.close()


def test_the_learner_keeps_the_sampled_action_while_the_task_gets_it_clipped(compose_cfg, tmp_path):
    """Through the real loop (thread backend, one actor-learner): every action `act` drew is stored in
    the rollouts as drawn, unclipped, with sigma >= 2 on a [-1, 1] task; the rewards the task paid are
    those of the clipped actions."""
    from tests import fakes
    from tests.test_runtime import train

    fakes.RECORDS.clear()
    fakes.ACTIONS_TAKEN.clear()
    _, s = train(compose_cfg, tmp_path, "runtime=thread", "threads=1", "method=a3c_continuous",
                 "method.name=tests.fakes:GaussianRecorder", "method.min_variance=4", "total_frames=200",
                 env="toy_continuous")
    assert s["status"] == "completed", s.get("error")
    stored = np.concatenate([r["actions"].numpy() for r in fakes.RECORDS])
    drawn = np.stack(fakes.ACTIONS_TAKEN)
    assert stored.shape == (200, 1) and np.array_equal(stored, drawn)
    assert (np.abs(stored) > 1).mean() > 0.3
    for r in fakes.RECORDS:
        targets = r["obs"][:-1, 0].numpy().astype(np.float64)
        paid = 1 - (np.clip(r["actions"][:, 0].numpy().astype(np.float64), -1, 1) - targets) ** 2
        assert r["rewards"] == pytest.approx(paid.tolist(), abs=1e-6)  # the targets were shown as float32


def test_the_discrete_path_never_imports_the_physics_packages():
    """MuJoCo, dm_control and shimmy are imported only when a continuous-control env is made: the
    Atari and toy paths (config, validation, trainer, an env, evaluation) run without them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from asyncrl import cli, evaluation\n"
        "from asyncrl.runtime import trainer, actor_learner\n"
        "from asyncrl.envs import make_env\n"
        "from asyncrl.config import EnvCfg\n"
        "from omegaconf import OmegaConf\n"
        "make_env(OmegaConf.structured(EnvCfg(kind='toy', game='toy')), seed=0).reset()\n"
        "print(sorted(m for m in ('mujoco', 'dm_control', 'shimmy') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"


def test_bench_env_draws_random_actions_from_a_box_too(compose_cfg):
    """envs.bench_env plays uniformly random actions of the env's own action space: a Box task runs
    as a Discrete one does (steps per second, > 0)."""
    from asyncrl.envs import bench_env

    assert bench_env(compose_cfg("env=toy_continuous", "method=a3c_continuous").env, steps=50) > 0
    assert bench_env(compose_cfg("env=toy").env, steps=50) > 0

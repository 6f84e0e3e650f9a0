"""pfrl's A3C on an Atari game for a fixed number of agent steps, timed: the peer of tools/bench.py.

Run it with the peer virtualenv's python (pfrl 0.4.0, gym 0.24.1, ale-py, opencv, torch; how to
build it: tools/bench_peer.py), never with the project's:

    /tmp/pfrlvenv/bin/python tools/peers/pfrl_a3c.py --processes 2 --steps 15000 [--game breakout]

What runs is pfrl's own code, unchanged: `pfrl.agents.A3C` trained by
`pfrl.experiments.train_agent_async` (one forked process per actor-learner, model and RMSProp
statistics in shared memory), `pfrl.optimizers.SharedRMSpropEpsInsideSqrt` (lr 7e-4, eps 1e-1 inside
the square root, alpha 0.99), t_max 5, gamma 0.99, entropy beta 1e-2, gradient norm clipped at 40,
the learning rate annealed linearly to 0 by `pfrl.experiments.LinearInterpolationHook`, and pfrl's
DeepMind Atari wrappers (`pfrl.wrappers.atari_wrappers`: up to 30 no-ops, 4 frames per step with
the max of the last 2, 84x84 grey, 4 frames stacked, rewards clipped for learning, 108,000-frame
episode cap). The network is the paper's small one, as ours: conv 16 8x8/4, conv 32 4x4/2, fc 256,
then a softmax policy head (`pfrl.policies.SoftmaxCategoricalHead`) and a value head. No evaluation.

What this file adds around pfrl:
- the emulator under the wrappers: pfrl 0.4.0's wrappers speak the old gym API (reset() -> obs,
  step() -> (obs, reward, done, info)) and ale-py no longer registers gym environments, so
  `AleEnv` drives `ale_py.ALEInterface` directly as gym's `<Game>NoFrameskip-v4` did (RGB screen,
  one frame per step, no sticky actions, the game's minimal action set);
- one torch/OpenMP thread per process (OMP_NUM_THREADS=1 and torch.set_num_threads(1)), as pfrl's
  own CI runs its async tests and as our actor-learners run;
- a clock: a step hook stores the time at global step 1 and at every multiple of --mark-every into
  shared memory. The steady rate is taken between the first mark at least --warmup-s after step 1
  and the last mark, so process start-up and the first seconds are left out, as tools/bench.py
  leaves out our actor-learners' start-up.

Prints progress to stderr and, last, one line `PFRL_A3C_RESULT {json}` on stdout (also written to
--json when given); tools/bench_peer.py reads it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

RESULT_TAG = "PFRL_A3C_RESULT"


def steady_rate(marks, every: int, warmup_s: float):
    """Agent steps/s between the first mark taken >= warmup_s after step 1 and the last mark.

    marks[0] is the time of global step 1, marks[i] (i >= 1) that of global step i * every; a
    mark never reached is 0. Returns (rate, first_step, last_step, seconds) or None when fewer
    than two marks lie past the warm-up.
    """
    if not marks or marks[0] <= 0:
        return None
    t_first = marks[0]
    points = [(i * every, t) for i, t in enumerate(marks) if i >= 1 and t > 0 and t - t_first >= warmup_s]
    if len(points) < 2 or points[-1][1] <= points[0][1]:
        return None
    (s0, t0), (s1, t1) = points[0], points[-1]
    return (s1 - s0) / (t1 - t0), s0, s1, t1 - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--game", default="breakout", help="ALE ROM id (ale_py.roms)")
    p.add_argument("--processes", type=int, default=1, help="actor-learners (pfrl processes)")
    p.add_argument("--steps", type=int, default=15_000, help="global agent steps (frames / 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup-s", type=float, default=2.0, help="seconds after step 1 left out of the steady rate")
    p.add_argument("--mark-every", type=int, default=50, help="global steps between clock marks")
    p.add_argument("--fire-reset", action="store_true",
                   help="pfrl's FireResetEnv (FIRE after a reset), as our conf/env/<game>.yaml fire_reset")
    p.add_argument("--episode-life", action="store_true",
                   help="pfrl's EpisodicLifeEnv (a lost life ends the learning episode), as pfrl's Atari "
                        "examples do; off matches our default env.terminal_on_life_loss=false")
    p.add_argument("--json", default=None, help="also write the result here")
    args = p.parse_args(argv)

    os.environ["OMP_NUM_THREADS"] = "1"  # before torch is imported
    import importlib.metadata as md

    import gym
    import numpy as np
    import torch
    import torch.multiprocessing as mp
    from ale_py import ALEInterface, LoggerMode, roms
    from torch import nn

    import pfrl
    from pfrl.agents import A3C
    from pfrl.experiments import LinearInterpolationHook, train_agent_async
    from pfrl.optimizers import SharedRMSpropEpsInsideSqrt
    from pfrl.policies import SoftmaxCategoricalHead
    from pfrl.wrappers import ContinuingTimeLimit, atari_wrappers

    torch.set_num_threads(1)
    ALEInterface.setLoggerMode(LoggerMode.Error)

    class AleEnv(gym.Env):
        """An ALE game with the old gym API, as `<Game>NoFrameskip-v4`: RGB screens, one frame a step."""

        metadata = {"render_modes": []}

        def __init__(self, game: str, seed: int):
            self.ale = ALEInterface()
            self.ale.setInt("random_seed", int(seed))
            self.ale.setFloat("repeat_action_probability", 0.0)
            self.ale.loadROM(roms.get_rom_path(game))
            self._actions = list(self.ale.getMinimalActionSet())
            height, width = self.ale.getScreenDims()
            self.action_space = gym.spaces.Discrete(len(self._actions))
            self.observation_space = gym.spaces.Box(0, 255, (height, width, 3), np.uint8)
            self._np_random, _ = gym.utils.seeding.np_random(int(seed))  # NoopResetEnv draws from it

        def get_action_meanings(self):
            return [a.name for a in self._actions]

        def reset(self, **kwargs):
            self.ale.reset_game()
            return self.ale.getScreenRGB()

        def step(self, action):
            reward = self.ale.act(self._actions[int(action)])
            return self.ale.getScreenRGB(), reward, self.ale.game_over(), {"lives": self.ale.lives()}

    def make_env(process_idx, test):
        env = AleEnv(args.game, seed=args.seed * 1000 + process_idx)
        # pfrl.wrappers.atari_wrappers.make_atari's chain, on AleEnv instead of gym.make(...)
        env = ContinuingTimeLimit(env, max_episode_steps=30 * 60 * 60)
        env = atari_wrappers.NoopResetEnv(env, noop_max=30)
        env = atari_wrappers.MaxAndSkipEnv(env, skip=4)
        return atari_wrappers.wrap_deepmind(
            env, episode_life=args.episode_life, clip_rewards=True, frame_stack=True, scale=False,
            fire_reset=args.fire_reset, channel_order="chw",
        )

    probe = make_env(0, False)
    n_actions = probe.action_space.n
    probe.close()

    pfrl.utils.set_random_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(4, 16, 8, stride=4), nn.ReLU(),
        nn.Conv2d(16, 32, 4, stride=2), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * 9 * 9, 256), nn.ReLU(),
        pfrl.nn.Branched(nn.Sequential(nn.Linear(256, n_actions), SoftmaxCategoricalHead()), nn.Linear(256, 1)),
    )
    lr = 7e-4
    opt = SharedRMSpropEpsInsideSqrt(model.parameters(), lr=lr, eps=1e-1, alpha=0.99)

    def phi(x):
        return np.asarray(x, dtype=np.float32) / 255  # uint8 frames to [0, 1] as the network's input

    agent = A3C(model, opt, t_max=5, gamma=0.99, beta=1e-2, phi=phi, max_grad_norm=40.0)

    def lr_setter(env, agent, value):
        for group in agent.optimizer.param_groups:
            group["lr"] = value

    every = max(1, int(args.mark_every))
    marks = mp.RawArray("d", args.steps // every + 1)  # shared with the forked actor-learners

    class Clock:
        """Global step hook: the time of global step 1 and of every multiple of `every`."""

        def __call__(self, env, agent, step):
            if step % every == 0:
                if step // every < len(marks):
                    marks[step // every] = time.monotonic()
            elif step == 1:
                marks[0] = time.monotonic()

    print(f"[pfrl_a3c] {args.game}, {args.processes} process(es), {args.steps:,} agent steps",
          file=sys.stderr, flush=True)
    launched = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pfrl-a3c-") as outdir:
        train_agent_async(
            agent=agent, outdir=outdir, processes=args.processes, make_env=make_env, steps=args.steps,
            eval_interval=None, save_best_so_far_agent=False,
            random_seeds=[args.seed * 1000 + i for i in range(args.processes)],
            global_step_hooks=[LinearInterpolationHook(args.steps, lr, 0, lr_setter), Clock()],
        )
    finished = time.monotonic()

    marks = list(marks)
    steady = steady_rate(marks, every, args.warmup_s)
    last = max((i for i, t in enumerate(marks) if i >= 1 and t > 0), default=0)
    train_s = (marks[last] - marks[0]) if last and marks[0] > 0 else None

    def version(name):
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return None

    result = {
        "tool": "pfrl", "pfrl": version("pfrl"), "algorithm": "a3c", "game": args.game,
        "processes": args.processes, "steps": args.steps, "seed": args.seed, "frame_skip": 4,
        "fire_reset": args.fire_reset, "episode_life": args.episode_life,
        "warmup_s": args.warmup_s, "mark_every": every,
        "steady_steps_per_s": steady[0] if steady else None,
        "steady_window_steps": [steady[1], steady[2]] if steady else None,
        "steady_window_s": steady[3] if steady else None,
        # from global step 1 to the last mark: like summary.json's rate, start-up excluded
        "summary_steps_per_s": (last * every - 1) / train_s if train_s else None,
        "startup_s": marks[0] - launched if marks[0] > 0 else None,
        "wall_s": finished - launched,
        "versions": {k: version(k) for k in ("pfrl", "torch", "gym", "ale-py", "numpy", "opencv-python-headless")},
        "cores": len(os.sched_getaffinity(0)),
    }
    line = f"{RESULT_TAG} {json.dumps(result)}"
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    print(line, flush=True)
    return 0 if steady or train_s else 1


if __name__ == "__main__":
    sys.exit(main())

"""The one actor-learner loop every method runs (the common part of Algorithms 1, S2 and S3).

    repeat until the frame budget is spent:
        sync theta' <- theta (in place)
        act for up to t_max steps (or to the episode's end) under no_grad, storing the rollout
        loss = method.loss(theta', theta-, rollout); d theta = grad(loss, theta')
        clip d theta to max_grad_norm; optimizer.step(d theta, lr(T)) on the shared theta (lr falls
        linearly to 0 at the LR horizon, method.lr_anneal_frames)
        T += steps; refresh theta- <- theta when T crosses a multiple of I_target
Acting without a graph and then replaying the rollout as one batch is faster than keeping a
per-step graph (+52% agent steps/s measured on one core) and gives the same gradient, since theta' is fixed in a rollout;
and the replay reuses the torso activations recorded while acting instead of running the torso forward
again (Network.record_rollout).
"""

from __future__ import annotations

import os
import time
import traceback

import numpy as np
import torch

from ..envs import action_size, make_env
from ..methods import Rollout, build_network, get_method
from .optim import AsyncOptimizer, grad_norm, grad_scale, linear_lr, lr_horizon

STATS_EVERY_S = 2.0
# Finished games go to the trainer at most this often, each message with every game that ended since
# the last (stamped with the clock at its end). A message per game cost 20-30% of an actor-learner's
# time on tasks whose episodes last a few steps (multiprocessing's Queue.put wakes its feeder thread,
# which must take the GIL); a game that ends after a quiet interval still goes at once.
GAMES_EVERY_S = 0.5


def actor_seed(seed: int, rank: int) -> int:
    """Distinct, reproducible seeds per (run seed, actor-learner)."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def target_refresh_due(before_frames: int, after_frames: int, interval_frames: int) -> bool:
    """Algorithm 1's "T mod I_target == 0", read for a T that advances by a whole rollout at a
    time: refresh when this update made T cross a multiple of I_target."""
    return before_frames // interval_frames < after_frames // interval_frames


def pin_to_core(rank: int) -> int:
    """Pin the calling thread to one of the cores it may use, chosen by ``rank``, and return it.

    Linux affinity is per thread: in a process this pins its main thread, under runtime=thread
    one Python thread, and threads started afterwards (a vector env's C++ worker) inherit it."""
    cores = sorted(os.sched_getaffinity(0))
    core = cores[rank % len(cores)]
    os.sched_setaffinity(0, {core})
    return core


def flush_subnormals() -> None:
    """Flush subnormal floats to zero in this thread's float arithmetic (FTZ/DAZ; a per-thread CPU
    setting, so each actor-learner thread or process sets it itself).

    Over a long run, RMSProp statistics of parameters whose gradient stays 0 decay by alpha per
    update into the subnormal range (below 1.2e-38): 46% of them in the Pong run's checkpoint at 50M
    frames, where each update took 7-11x as long (a microcode assist on every subnormal operand).
    The maths is the same but for values below 1.2e-38: a statistic enters the update only as
    sqrt(g + eps), and g + eps rounds to eps alike (eps = 0.1); a subnormal gradient's step
    (lr x 1e-38 / sqrt(eps)) is under half an ulp of any parameter above ~4e-34 in magnitude."""
    torch.set_flush_denormal(True)


# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def keep_freed_memory(mmap_below: int = 32 << 20, trim_above: int = 256 << 20) -> bool:
    """Serve allocations below `mmap_below` bytes from the heap and keep freed heap memory for reuse
    unless `trim_above` bytes are free at its top (glibc; elsewhere nothing changes, False).

    Every update frees its graph (activations, gradients: MB-sized buffers) and the next rollout
    allocates the same sizes again. With glibc's defaults such buffers are mmapped and unmapped, or
    trimmed off the heap, each time, and each reuse starts with page faults on zeroed pages: on
    Breakout with 2 actor-learners that cost ~30% of agent steps/s (docs/performance.md). Process-wide."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, mmap_below)) and bool(mallopt(M_TRIM_THRESHOLD, trim_above))


def run_actor_learner(rank: int, cfg, shared) -> None:
    """Body of one actor-learner; any exception is reported to the trainer, then re-raised."""
    try:
        flush_subnormals()
        keep_freed_memory()
        if cfg.get("pin_cores", False):
            pin_to_core(rank)
        env = make_env(cfg.env, seed=actor_seed(cfg.seed, rank))
        try:
            _loop(rank, cfg, shared, env)
        finally:
            env.close()
    except BaseException:
        shared.queue.put(("error", rank, traceback.format_exc()))
        shared.stop.set()
        raise


def _loop(rank: int, cfg, shared, env) -> None:
    """Collect a rollout, learn from it; until the frame budget is spent or the trainer stops."""
    learner = ActorLearner(rank, cfg, shared, env)
    # wait for the others: spawn + torch import take seconds, and T must not run ahead of them
    shared.queue.put(("ready", rank))
    while not shared.start.wait(0.2):
        if shared.stop.is_set():
            return
    while not shared.stop.is_set():
        granted = shared.budget.reserve(learner.t_max)
        if granted == 0:
            break
        rollout, frames_now = learner.collect_rollout(granted)
        frames_after = learner.learn(rollout, frames_now, granted)
        learner.end_update(frames_after)
    learner.final_report()


class ActorLearner:
    """One actor-learner between rollouts: its env's game, theta', the method, the optimizer, the
    rollout buffers and the statistics it has not reported yet."""

    def __init__(self, rank: int, cfg, shared, env):
        mcfg = cfg.method
        self.rank, self.shared, self.env = rank, shared, env
        seed = actor_seed(cfg.seed, rank)
        torch.manual_seed(seed)
        n_actions = action_size(env.action_space)
        self.method = get_method(mcfg.name)(mcfg, n_actions, rank, cfg.seed)
        self.local = build_network(type(self.method), mcfg, cfg.env, env.observation_space.shape, n_actions)
        self.method.bind(self.local, shared.model)
        self.shared_params = list(shared.model.parameters())
        self.local_params = list(self.local.parameters())
        self.optimizer = AsyncOptimizer(
            mcfg.optimizer, self.shared_params, mcfg.rmsprop_alpha, mcfg.rmsprop_eps, shared.stats
        )
        self.skip = shared.frame_skip
        self.horizon = lr_horizon(mcfg, shared.budget.total_steps * self.skip)
        self.target_every = max(1, int(mcfg.target_interval_frames)) if shared.target is not None else 0
        self.t_max = t_max = int(mcfg.t_max)
        # an OmegaConf read costs 10-20 us: every key the loop uses is read here, once
        self.max_grad_norm, self.lr0 = float(mcfg.max_grad_norm), float(mcfg.lr)
        # a lost life ends the *learning* episode (no bootstrap past it, recurrent state reset)
        # while the game, its score and the env go on (DQN-2015 protocol; env.terminal_on_life_loss)
        self.life_terminal = bool(getattr(cfg.env, "terminal_on_life_loss", False))
        self.obs, _ = env.reset(seed=seed)
        # Rollout buffers, allocated once. The hot loop writes through numpy views (a numpy item
        # store costs ~0.1 us, a torch one several us) and feeds the net pre-made batch-1 views.
        self.obs_buf = torch.empty((t_max + 1, *self.obs.shape), dtype=torch.from_numpy(self.obs).dtype)
        self.obs_np = self.obs_buf.numpy()
        self.obs_in = [self.obs_buf[i : i + 1] for i in range(t_max + 1)]
        self.act_buf = self.method.action_buffer(t_max)  # (t_max,) int64, or (t_max, action_dim) float32
        self.act_np = self.act_buf.numpy()
        self.rewards = [0.0] * t_max
        self.state = self.local.initial_state()
        self.score, self.length = 0.0, 0
        self.game_over = self.life_lost = False  # how the last rollout ended
        self.stat_sums, self.n_updates, self.last_report = {}, 0, time.monotonic()
        self.games, self.games_sent = [], float("-inf")  # (clock at its end, T, score, length)

    def collect_rollout(self, granted: int):
        """Sync theta' <- theta and act for up to `granted` steps (to the episode's end at most)
        under no_grad; returns the rollout and the frame count T it acted at."""
        local, method, env_step = self.local, self.method, self.env.step
        obs_np, obs_in, act_np, rewards = self.obs_np, self.obs_in, self.act_np, self.rewards
        act, life_terminal = method.act, self.life_terminal
        with torch.no_grad():
            torch._foreach_copy_(self.local_params, self.shared_params)
        local.record_rollout()  # the acting forwards' activations serve the loss's replay (networks.py)
        frames_now = self.shared.budget.done * self.skip
        obs, state, score = self.obs, self.state, self.score
        state0 = None if state is None else (state[0].detach(), state[1].detach())
        terminated = truncated = lost_life = False
        pending = method.carried_action()  # an action the method chose in the last rollout's s_T
        t = 0
        with torch.no_grad():
            while t < granted:
                obs_np[t] = obs
                if pending is not None:
                    a, pending = pending, None
                else:
                    out, _, state = local(obs_in[t], state)
                    a = act(out[0], frames_now)
                act_np[t] = a
                obs, r, terminated, truncated, info = env_step(a)
                rewards[t] = float(r)
                score += float(info["raw_reward"])
                t += 1
                if life_terminal and info["life_lost"]:
                    lost_life = True
                if terminated or truncated or lost_life:
                    break
            obs_np[t] = obs
            ended = terminated or lost_life
            next_action = method.end_rollout(local, obs_in[t], state, frames_now, ended)
        self.obs, self.state, self.score, self.length = obs, state, score, self.length + t
        self.game_over, self.life_lost = terminated or truncated, lost_life
        rollout = Rollout(obs=self.obs_buf[: t + 1], actions=self.act_buf[:t], rewards=rewards[:t],
                          terminated=bool(ended), truncated=bool(truncated), next_action=next_action,
                          state0=state0)
        return rollout, frames_now

    def learn(self, rollout: Rollout, frames_now: int, granted: int) -> int:
        """loss = method.loss(theta', theta-, rollout); apply its clipped gradient to the shared
        theta; count T; refresh theta- when due. Returns T after the update, in frames."""
        shared, skip, t = self.shared, self.skip, len(rollout)
        loss, stats = self.method.loss(self.local, shared.target, rollout)
        loss_value = loss.item()
        if not np.isfinite(loss_value):
            raise FloatingPointError(
                f"non-finite loss ({loss_value}) in actor-learner {self.rank} at frame {frames_now}"
            )
        # conv weight gradients come back channels-last (networks.py); make every gradient
        # contiguous so norms and updates see the same layout, and the same sums, as the params
        grads = [g.contiguous() for g in torch.autograd.grad(loss, self.local_params)]
        stats["grad_norm"] = norm = grad_norm(grads)
        stats["loss"] = loss_value / t
        # clipped to max_grad_norm inside the optimizer's pass (optim.py)
        self.optimizer.step(grads, linear_lr(self.lr0, frames_now, self.horizon),
                            grad_scale(norm, self.max_grad_norm))
        before, after = shared.budget.commit(t, granted)
        if shared.target is not None and target_refresh_due(before * skip, after * skip, self.target_every):
            with torch.no_grad():
                torch._foreach_copy_(list(shared.target.parameters()), self.shared_params)
        for k, v in stats.items():
            self.stat_sums[k] = self.stat_sums.get(k, 0.0) + v
        self.n_updates += 1
        return after * skip

    def end_update(self, frames: int) -> None:
        """Start a new game after a game's end, a new learning episode after a lost life; report
        the statistics every STATS_EVERY_S."""
        if self.game_over:
            self.games.append((time.monotonic(), frames, self.score, self.length))
            self.obs, _ = self.env.reset()
            self.state = self.local.initial_state()
            self.method.new_episode()
            self.score, self.length = 0.0, 0
        elif self.life_lost:  # the learning episode ends here; the game goes on from where it is
            self.state = self.local.initial_state()
        now = time.monotonic()
        if self.games and now - self.games_sent >= GAMES_EVERY_S:
            self._send_games(now)
        if now - self.last_report > STATS_EVERY_S:
            self._report_stats(frames)
            self.stat_sums, self.n_updates, self.last_report = {}, 0, now

    def final_report(self) -> None:
        if self.games:
            self._send_games(time.monotonic())
        if self.n_updates:
            self._report_stats(self.shared.budget.done * self.skip)

    def _send_games(self, now: float) -> None:
        self.shared.queue.put(("games", self.rank, self.games))
        self.games, self.games_sent = [], now

    def _report_stats(self, frames: int) -> None:
        report = {k: v / self.n_updates for k, v in self.stat_sums.items()}
        active = self.local.active_min()  # of the last rollout only: a sample per report (networks.py)
        if active is not None:
            report["active_min"] = active
        self.shared.queue.put(("stats", self.rank, frames, report))

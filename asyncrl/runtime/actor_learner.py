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


def run_actor_learner(rank: int, cfg, shared) -> None:
    """Body of one actor-learner; any exception is reported to the trainer, then re-raised."""
    try:
        flush_subnormals()
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
    mcfg = cfg.method
    seed = actor_seed(cfg.seed, rank)
    torch.manual_seed(seed)
    n_actions = action_size(env.action_space)
    method = get_method(mcfg.name)(mcfg, n_actions, rank, cfg.seed)
    local = build_network(type(method), mcfg, cfg.env, env.observation_space.shape, n_actions)
    method.bind(local, shared.model)
    shared_params = list(shared.model.parameters())
    local_params = list(local.parameters())
    optimizer = AsyncOptimizer(
        mcfg.optimizer, shared_params, mcfg.rmsprop_alpha, mcfg.rmsprop_eps, shared.stats
    )

    skip = shared.frame_skip
    horizon = lr_horizon(mcfg, shared.budget.total_steps * skip)
    target_every = max(1, int(mcfg.target_interval_frames))
    t_max = int(mcfg.t_max)
    max_grad_norm, lr0 = float(mcfg.max_grad_norm), float(mcfg.lr)  # an OmegaConf read costs 10-20 us
    obs, _ = env.reset(seed=seed)
    # Rollout buffers, allocated once. The hot loop writes through numpy views (a numpy item
    # store costs ~0.1 us, a torch one several us) and feeds the net pre-made batch-1 views.
    obs_buf = torch.empty((t_max + 1, *obs.shape), dtype=torch.from_numpy(obs).dtype)
    obs_np = obs_buf.numpy()
    obs_in = [obs_buf[i : i + 1] for i in range(t_max + 1)]
    act_buf = method.action_buffer(t_max)  # (t_max,) int64, or (t_max, action_dim) float32
    act_np = act_buf.numpy()
    rewards = [0.0] * t_max
    act, env_step, stop_is_set = method.act, env.step, shared.stop.is_set
    state = local.initial_state()
    pending_action = None  # SARSA: the a' chosen in s_T, executed first in the next rollout
    score, length = 0.0, 0
    stat_sums, n_updates, last_report = {}, 0, time.monotonic()
    fail_at = int(cfg.fail_at_frames)
    # a lost life ends the *learning* episode (no bootstrap past it, recurrent state reset) while
    # the game, its score and the env go on (DQN-2015 protocol; env.terminal_on_life_loss)
    life_terminal = bool(getattr(cfg.env, "terminal_on_life_loss", False))

    # wait for the others: spawn + torch import take seconds, and T must not run ahead of them
    shared.queue.put(("ready", rank))
    while not shared.start.wait(0.2):
        if stop_is_set():
            return

    def report_stats(frames: int) -> None:
        report = {k: v / n_updates for k, v in stat_sums.items()}
        active = local.active_min()  # of the last rollout only: a sample per report (networks.py)
        if active is not None:
            report["active_min"] = active
        shared.queue.put(("stats", rank, frames, report))

    while not stop_is_set():
        granted = shared.budget.reserve(t_max)
        if granted == 0:
            break
        with torch.no_grad():
            torch._foreach_copy_(local_params, shared_params)
        local.record_rollout()  # the acting forwards' activations serve the loss's replay (networks.py)
        frames_now = shared.budget.done * skip
        state0 = None if state is None else (state[0].detach(), state[1].detach())
        terminated = truncated = lost_life = False
        t = 0
        with torch.no_grad():
            while t < granted:
                obs_np[t] = obs
                if pending_action is not None:
                    a, pending_action = pending_action, None
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
            length += t
            obs_np[t] = obs
            if method.needs_next_action and not (terminated or lost_life):
                out, _, _ = local(obs_in[t], state)
                pending_action = act(out[0], frames_now)
        rollout = Rollout(
            obs=obs_buf[: t + 1],
            actions=act_buf[:t],
            rewards=rewards[:t],
            terminated=bool(terminated or lost_life),
            truncated=bool(truncated),
            next_action=pending_action,
            state0=state0,
        )
        loss, stats = method.loss(local, shared.target, rollout)
        loss_value = loss.item()
        if not np.isfinite(loss_value):
            raise FloatingPointError(
                f"non-finite loss ({loss_value}) in actor-learner {rank} at frame {frames_now}"
            )
        # conv weight gradients come back channels-last (networks.py); make every gradient
        # contiguous so norms and updates see the same layout, and the same sums, as the params
        grads = [g.contiguous() for g in torch.autograd.grad(loss, local_params)]
        stats["grad_norm"] = norm = grad_norm(grads)
        stats["loss"] = loss_value / t
        # clipped to max_grad_norm inside the optimizer's pass (optim.py)
        optimizer.step(grads, linear_lr(lr0, frames_now, horizon), grad_scale(norm, max_grad_norm))
        before, after = shared.budget.commit(t, granted)
        if shared.target is not None and target_refresh_due(before * skip, after * skip, target_every):
            with torch.no_grad():
                torch._foreach_copy_(list(shared.target.parameters()), shared_params)

        for k, v in stats.items():
            stat_sums[k] = stat_sums.get(k, 0.0) + v
        n_updates += 1
        if terminated or truncated:
            shared.queue.put(("episode", rank, after * skip, score, length))
            obs, _ = env.reset()
            state = local.initial_state()
            pending_action = None  # at a truncation the drawn a' is never executed
            method.new_episode()
            score, length = 0.0, 0
        elif lost_life:  # the learning episode ends here; the game goes on from where it is
            state = local.initial_state()
        now = time.monotonic()
        if now - last_report > STATS_EVERY_S:
            report_stats(after * skip)
            stat_sums, n_updates, last_report = {}, 0, now
        if 0 <= fail_at <= after * skip and rank == 0:
            raise RuntimeError(f"injected failure at frame {after * skip} (fail_at_frames={fail_at})")
    if n_updates:
        report_stats(shared.budget.done * skip)

"""Fake learners for runtime tests, loaded by the runtime as method.name=tests.fakes:<Class>."""

import torch

from asyncrl.methods.base import Method


class CountingMethod(Method):
    """Random actions; a loss with a constant gradient (theta moves every update); checks rollouts."""

    name = "counting"
    value_head = False

    def act(self, out, frames):
        return int(self.rng.integers(self.n_actions))

    def act_eval(self, out):
        return 0

    def loss(self, net, target_net, rollout):
        n = len(rollout)
        if not 1 <= n <= self.cfg.t_max:
            raise AssertionError(f"rollout of {n} steps with t_max={self.cfg.t_max}")
        if rollout.obs.shape[0] != n + 1:
            raise AssertionError("a rollout holds T+1 observations")
        # every parameter takes part (zero gradient) so the runtime sees a full gradient list
        return -net.head.bias.sum() + 0.0 * sum(p.sum() for p in net.parameters()), {}


class RaisingMethod(CountingMethod):
    """Actor-learner 0 raises on its 4th update."""

    def loss(self, net, target_net, rollout):
        self.calls = getattr(self, "calls", 0) + 1
        if self.rank == 0 and self.calls == 4:
            raise RuntimeError("fake failure in the loss")
        return super().loss(net, target_net, rollout)


class TargetMethod(CountingMethod):
    """Like CountingMethod, with a shared target network."""

    uses_target_net = True


class NaNMethod(CountingMethod):
    """Like CountingMethod until global T reaches NAN_AT_FRAMES; then every loss is NaN."""

    NAN_AT_FRAMES = 1500

    def act(self, out, frames):
        self.frames_seen = frames
        return super().act(out, frames)

    def loss(self, net, target_net, rollout):
        loss, stats = super().loss(net, target_net, rollout)
        if getattr(self, "frames_seen", 0) >= self.NAN_AT_FRAMES:
            loss = loss * float("nan")
        return loss, stats


class SlowExitMethod(CountingMethod):
    """Like CountingMethod; each actor-learner process takes SLOW_EXIT_S to exit after its last
    update (a finalizer that runs at process exit, after the runtime's loop has returned), longer
    than the trainer's join timeout."""

    SLOW_EXIT_S = 7.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        import multiprocessing.util
        import time

        if self.rank < 1000:  # actor-learners only, not the evaluation's method instance
            multiprocessing.util.Finalize(self, time.sleep, args=(self.SLOW_EXIT_S,), exitpriority=0)

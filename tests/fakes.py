"""Fake learners for runtime tests, loaded by the runtime as method.name=tests.fakes:<Class>."""

import torch

from asyncrl.methods.a3c import A3C
from asyncrl.methods.a3c_continuous import A3CContinuous
from asyncrl.methods.base import Method
from asyncrl.methods.n_step_q import NStepQ
from asyncrl.methods.one_step_sarsa import OneStepSarsa


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


class FailingA3C(A3C):
    """The real A3C learner, but actor-learner 0 raises in the first update whose rollout starts at
    T >= FAIL_AT_FRAMES (a run that fails part-way, after it has written rows)."""

    FAIL_AT_FRAMES = 300

    def act(self, out, frames):
        self.frames = frames
        return super().act(out, frames)

    def loss(self, net, target_net, rollout):
        if self.rank == 0 and self.frames >= self.FAIL_AT_FRAMES:
            raise RuntimeError(f"injected failure at frame {self.frames}")
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



class RecordingMethod(CountingMethod):
    """Like CountingMethod (thread runtime, one actor-learner): records every rollout in order."""

    rollouts: list = []

    def loss(self, net, target_net, rollout):
        RecordingMethod.rollouts.append({
            "steps": len(rollout),
            "terminated": rollout.terminated,
            "truncated": rollout.truncated,
            "first_obs": rollout.obs[0].clone().numpy(),
            "last_obs": rollout.obs[-1].clone().numpy(),
        })
        return super().loss(net, target_net, rollout)


# ---- recorders: fakes that write down what the real loop hands them --------------------------------
# They run on the thread backend, in the test's own process, so a test reads RECORDS directly.
RECORDS: list = []


def _zero_grad_loss(net, loss):
    """`loss` plus every parameter at weight 0, so the runtime sees a full gradient list."""
    return loss + 0.0 * sum(p.sum() for p in net.parameters())


class RolloutRecorder(CountingMethod):
    """Random actions; records every rollout as the loop built it, with the frame count it acted at
    and theta' (the local copy the loss sees, i.e. the shared theta synced before acting)."""

    def act(self, out, frames):
        self.frames = frames
        return super().act(out, frames)

    def record(self, net, target_net, rollout, **extra):
        RECORDS.append(dict(
            rank=self.rank, frames=self.frames, n=len(rollout), actions=rollout.actions.tolist(),
            rewards=list(rollout.rewards), terminated=rollout.terminated, truncated=rollout.truncated,
            next_action=rollout.next_action, bias=net.head.bias.detach().clone(),
            target_bias=None if target_net is None else target_net.head.bias.detach().clone(), **extra,
        ))

    def loss(self, net, target_net, rollout):
        self.record(net, target_net, rollout)
        return super().loss(net, target_net, rollout)


class AlwaysLeft(RolloutRecorder):
    """Walks into the toy corridor's wall: every episode ends at the time limit."""

    def act(self, out, frames):
        self.frames = frames
        return 0


class AlwaysRight(RolloutRecorder):
    """Walks straight down the toy corridor: every episode ends in its terminal cell."""

    def act(self, out, frames):
        self.frames = frames
        return 1


class TargetRecorder(RolloutRecorder):
    """RolloutRecorder with a shared target network: records theta- as each loss sees it."""

    uses_target_net = True


class ScaledGradient(RolloutRecorder):
    """loss = -SCALE * sum(head.bias): a gradient of -SCALE on each bias entry and 0 elsewhere, so
    with momentum_sgd at alpha=0 every update is theta -= lr(T) * clip(gradient), readable from the
    recorded biases."""

    SCALE = 3.0

    def loss(self, net, target_net, rollout):
        self.record(net, target_net, rollout)
        return _zero_grad_loss(net, -self.SCALE * net.head.bias.sum()), {}


class RecurrentRecorder(RolloutRecorder):
    """For method.lstm=true: records each rollout's state0 and the state the acting reached at its
    end, recomputed exactly as the loop acts (one batch-1 step at a time from state0 with theta')."""

    def loss(self, net, target_net, rollout):
        with torch.no_grad():
            state = rollout.state0
            for t in range(len(rollout)):
                _, _, state = net(rollout.obs[t : t + 1], state)
        s0 = rollout.state0
        self.record(net, target_net, rollout, end_state=state,
                    state0=None if s0 is None else tuple(x.detach().clone() for x in s0),
                    state0_has_graph=s0 is not None and any(x.requires_grad or x.grad_fn is not None for x in s0))
        return super(RolloutRecorder, self).loss(net, target_net, rollout)


class RecordingNStepQ(NStepQ):
    """The real n-step Q learner; records each rollout's actions next to the greedy actions of theta'
    (the network that acted) and the frame count T it acted at."""

    def act(self, out, frames):
        self.frames = frames
        return super().act(out, frames)

    def loss(self, net, target_net, rollout):
        with torch.no_grad():
            greedy = net(rollout.obs[:-1])[0].argmax(1).tolist()
        RECORDS.append(dict(rank=self.rank, frames=self.frames, actions=rollout.actions.tolist(), greedy=greedy,
                            final_epsilon=self.final_epsilon, ended=rollout.terminated or rollout.truncated))
        return super().loss(net, target_net, rollout)


class RecordingSarsa(OneStepSarsa):
    """The real one-step SARSA learner; logs, in order, every action `act` chose and every rollout."""

    def act(self, out, frames):
        a = super().act(out, frames)
        RECORDS.append(("act", self.rank, a))
        return a

    def loss(self, net, target_net, rollout):
        RECORDS.append(("rollout", self.rank, rollout.actions.tolist(), rollout.next_action,
                        rollout.terminated, rollout.truncated))
        return super().loss(net, target_net, rollout)


class EvalWhereabouts(CountingMethod):
    """Like CountingMethod; its evaluation instance appends "pid nice" to the file named by the
    environment variable ASYNCRL_TEST_EVAL_LOG the first time it acts (where evaluations run)."""

    def act_eval(self, out):
        import os

        if not getattr(self, "_logged", False):
            self._logged = True
            with open(os.environ["ASYNCRL_TEST_EVAL_LOG"], "a") as f:
                f.write(f"{os.getpid()} {os.nice(0)}\n")
        return 0


class GaussianRecorder(A3CContinuous):
    """The real continuous A3C; records every action `act` returned (ACTIONS_TAKEN) and every rollout."""

    def act(self, out, frames):
        a = super().act(out, frames)
        ACTIONS_TAKEN.append(a.copy())
        return a

    def loss(self, net, target_net, rollout):
        RECORDS.append(dict(actions=rollout.actions.clone(), obs=rollout.obs.clone(), rewards=list(rollout.rewards),
                            terminated=rollout.terminated, truncated=rollout.truncated))
        return super().loss(net, target_net, rollout)


ACTIONS_TAKEN: list = []

"""Asynchronous one-step Q-learning (Mnih et al. 2016, Algorithm 1).

Pseudo-code -> code:
  "take a with eps-greedy on Q(s, a; theta)"           -> ValueBased.act
  "y = r (terminal s') | r + gamma max_a' Q(s', a'; theta-)" -> OneStepQ.loss via one_step_targets
  "d theta += d (y - Q(s, a; theta))^2 / d theta"        -> td_loss, summed over the rollout
  "every I_AsyncUpdate steps or at terminal s: update"   -> the runtime's rollout of t_max steps
Accumulating the gradients of the <= I_AsyncUpdate one-step losses at fixed theta' equals
summing the losses of the rollout, which is what `loss` returns.
"""

from __future__ import annotations

from ..returns import one_step_targets
from .value_based import ValueBased


class OneStepQ(ValueBased):
    name = "one_step_q"

    def loss(self, net, target_net, rollout):
        next_q = self._target_q(target_net, rollout.obs[1:]).max(1).values.tolist()
        targets = one_step_targets(rollout.rewards, next_q, rollout.terminated, self.cfg.gamma)
        return self._finish(targets, self._q_taken(net, rollout))

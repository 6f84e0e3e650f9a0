"""Asynchronous n-step Q-learning (Mnih et al. 2016, Algorithm S2), forward view.

Pseudo-code -> code:
  "act eps-greedy until terminal or t - t_start == t_max" -> the runtime's rollout
  "R = 0 (terminal) | max_a Q(s_t, a; theta-)"            -> bootstrap below
  "R <- r_i + gamma R; d theta += d (R - Q(s_i, a_i; theta'))^2" -> n_step_returns + td_loss
Each state gets the longest n-step return the rollout has (up to t_max steps).
"""

from __future__ import annotations

from ..returns import n_step_returns
from .value_based import ValueBased


class NStepQ(ValueBased):
    name = "n_step_q"

    def loss(self, net, target_net, rollout):
        bootstrap = 0.0
        if not rollout.terminated:
            bootstrap = float(self._target_q(target_net, rollout.obs[-1:]).max())
        targets = n_step_returns(rollout.rewards, bootstrap, rollout.terminated, self.cfg.gamma)
        return self._finish(targets, self._q_taken(net, rollout))

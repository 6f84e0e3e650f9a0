"""Asynchronous one-step SARSA (Mnih et al. 2016, §4): Algorithm 1 with the target
y = r + gamma Q(s', a'; theta-), where a' is the action actually taken in s'.

Pseudo-code -> code:
  a' for the rollout's inner steps  -> rollout.actions[i + 1]
  a' for the last step              -> rollout.next_action: the runtime asks `act` in s_T
                                       (needs_next_action) and then executes exactly that action
  no bootstrap at a terminal s'     -> one_step_targets(terminated=...)
At a truncation (time limit) the game restarts, so the a' drawn in s_T bootstraps the target but
is never executed.
"""

from __future__ import annotations

import torch

from ..returns import one_step_targets
from .value_based import ValueBased


class OneStepSarsa(ValueBased):
    name = "one_step_sarsa"
    needs_next_action = True

    def loss(self, net, target_net, rollout):
        n = len(rollout)
        if rollout.terminated:
            # the terminal step's value is dropped by one_step_targets; any action index will do
            next_actions = torch.cat([rollout.actions[1:], rollout.actions[-1:]])
        else:
            next_actions = torch.cat([rollout.actions[1:], torch.tensor([rollout.next_action])])
        q_next = self._target_q(target_net, rollout.obs[1 : n + 1])
        next_q = q_next.gather(1, next_actions[:, None]).squeeze(1).tolist()
        targets = one_step_targets(rollout.rewards, next_q, rollout.terminated, self.cfg.gamma)
        return self._finish(targets, self._q_taken(net, rollout))

"""Asynchronous one-step SARSA (Mnih et al. 2016, §4): Algorithm 1 with the target
y = r + gamma Q(s', a'; theta-), where a' is the action actually taken in s'.

Pseudo-code -> code:
  a' for the rollout's inner steps  -> rollout.actions[i + 1]
  a' for the last step              -> rollout.next_action: `end_rollout` draws it in s_T with
                                       `act`, and `carried_action` has the loop execute exactly
                                       that action first in the next rollout
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
    _pending = None  # the a' drawn in the last rollout's s_T, not executed yet

    def carried_action(self):
        a, self._pending = self._pending, None
        return a

    def end_rollout(self, net, obs_last, state, frames, terminal):
        if terminal:
            return None
        out, _, _ = net(obs_last, state)
        self._pending = self.act(out[0], frames)
        return self._pending

    def new_episode(self) -> None:
        self._pending = None  # at a truncation the drawn a' is never executed
        super().new_episode()

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

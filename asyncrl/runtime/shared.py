"""Everything the actor-learners share: the model, the target network, the optimizer's
statistics, the global frame counter T, the stop flag and the message queue to the trainer.

Parameters and statistics live in shared memory and are read and written without locks
(Hogwild, as in the paper); only the frame counter takes a lock, once per rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

import torch

from ..networks import Network


class FrameBudget:
    """The global counter T, in agent steps, with reservations so the run stops exactly at budget.

    Before a rollout an actor-learner reserves up to t_max steps (fewer near the end); after it,
    it commits the steps it used and gives back the rest. T (`done`) counts only committed steps,
    so every counted step was really taken and T never passes `total_steps`.
    """

    def __init__(self, total_steps: int, mp_ctx, done: int = 0):
        self.total_steps = int(total_steps)
        self._lock = mp_ctx.Lock()
        self._reserved = mp_ctx.RawValue("q", done)
        self._done = mp_ctx.RawValue("q", done)

    def reserve(self, n: int) -> int:
        with self._lock:
            granted = max(0, min(n, self.total_steps - self._reserved.value))
            self._reserved.value += granted
            return granted

    def commit(self, used: int, granted: int) -> Tuple[int, int]:
        """Record `used` steps of a reservation of `granted`; return T before and after."""
        with self._lock:
            before = self._done.value
            self._done.value = before + used
            self._reserved.value -= granted - used
            return before, before + used

    @property
    def done(self) -> int:
        return self._done.value


@dataclass
class Shared:
    model: Network
    target: Optional[Network]  # theta- for the value-based methods
    stats: List[torch.Tensor]  # shared RMSProp's g (empty for the per-actor optimizers)
    budget: FrameBudget
    stop: Any  # Event: set by the trainer (Ctrl-C, failure) or when the budget is spent
    start: Any  # Event: set by the trainer once every actor-learner is ready (a fair start)
    queue: Any  # actor-learner -> trainer messages
    frame_skip: int


def share_network(net: Network) -> Network:
    net.share_memory()
    return net

"""What the three value-based methods share: a Q head, per-actor-learner eps-greedy exploration
(paper p.4 and §8), greedy evaluation with a small eps, and the squared TD error.

Exploration: each actor-learner draws its final eps from `epsilon.finals` with `epsilon.probs`
({0.1, 0.01, 0.5} w.p. {0.4, 0.3, 0.3}), seeded from (seed, actor index); eps falls linearly from
1 to it over the first `epsilon.anneal_frames` global frames. The paper's eps is "periodically
sampled from some distribution" (p.4) without saying how often: `epsilon.resample=per_episode`
draws it again at every new game, `per_run` once at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List

import numpy as np
import torch

from ..config import MethodCfg
from .base import Method


EPS_RESAMPLE = ("per_episode", "per_run")  # epsilon.resample: when the final eps is drawn again


@dataclass
class EpsilonCfg:
    """Exploration: each actor-learner's final eps, drawn from `finals` with `probs`."""

    finals: List[float] = field(default_factory=lambda: [0.1, 0.01, 0.5])  # final eps values
    probs: List[float] = field(default_factory=lambda: [0.4, 0.3, 0.3])  # their probabilities
    anneal_frames: int = 4_000_000  # eps goes linearly from 1 to its final value over these frames
    # when an actor-learner draws its final eps again: per_episode (at every new game: the paper's
    # "periodically sampled", p.4) | per_run (once, at start)
    resample: str = "per_episode"


@dataclass
class ValueBasedConfig(MethodCfg):
    """The hyper-parameters of the three value-based methods (conf/method/one_step_q.yaml,
    one_step_sarsa.yaml, n_step_q.yaml), beside the shared MethodCfg."""

    target_interval_frames: int = 40_000  # I_target: the runtime refreshes theta- when T crosses a multiple
    epsilon: EpsilonCfg = field(default_factory=EpsilonCfg)  # eps-greedy exploration
    eval_epsilon: float = 0.05  # eps of the eps-greedy evaluation


def draw_final_epsilon(rng: np.random.Generator, finals, probs) -> float:
    return float(rng.choice(np.asarray(finals, dtype=float), p=np.asarray(probs, dtype=float)))


def epsilon_at(frames: int, final: float, anneal_frames: int) -> float:
    """Linear anneal 1 -> final over anneal_frames, then constant."""
    if anneal_frames <= 0:
        return final
    frac = min(1.0, frames / anneal_frames)
    return 1.0 + (final - 1.0) * frac


def td_loss(targets: torch.Tensor, q_taken: torch.Tensor) -> torch.Tensor:
    """sum_i (y_i - Q(s_i, a_i; theta'))^2: the gradient the paper accumulates into d(theta)."""
    return (targets - q_taken).pow(2).sum()


class ValueBased(Method):
    config = ValueBasedConfig
    value_head = False
    uses_target_net = True
    stat_keys = ("q_loss", "q_mean")

    @classmethod
    def validate(cls, method_cfg, env_cfg) -> None:
        """The base checks, then the exploration options: a known `epsilon.resample`, and a
        distribution of final eps (`epsilon.finals` with `epsilon.probs`)."""
        super().validate(method_cfg, env_cfg)
        eps = method_cfg.epsilon
        if eps.resample not in EPS_RESAMPLE:
            raise ValueError(f"unknown method.epsilon.resample '{eps.resample}' (valid: {', '.join(EPS_RESAMPLE)})")
        if len(eps.finals) != len(eps.probs) or abs(sum(eps.probs) - 1) > 1e-6:
            raise ValueError("method.epsilon.finals and .probs must have equal length and probs sum to 1")

    def __init__(self, cfg, n_actions, rank, seed):
        super().__init__(cfg, n_actions, rank, seed)
        self._finals, self._probs = list(cfg.epsilon.finals), list(cfg.epsilon.probs)
        # a config saved before `resample` existed drew eps once (config.LEGACY)
        self._per_episode = cfg.epsilon.get("resample", "per_run") == "per_episode"
        self.final_epsilon = draw_final_epsilon(self.rng, self._finals, self._probs)
        # read once: `act` runs every step and an OmegaConf read costs 10-20 us
        self._anneal_frames = cfg.epsilon.anneal_frames

    def new_episode(self) -> None:
        if self._per_episode:
            self.final_epsilon = draw_final_epsilon(self.rng, self._finals, self._probs)

    def epsilon(self, frames: int) -> float:
        return epsilon_at(frames, self.final_epsilon, self._anneal_frames)

    def _eps_greedy(self, q: torch.Tensor, eps: float) -> int:
        if self.rng.random() < eps:
            return int(self.rng.integers(self.n_actions))
        return int(q.argmax())

    def act(self, out, frames):
        return self._eps_greedy(out, self.epsilon(frames))

    def act_eval(self, out):
        return self._eps_greedy(out, self.cfg.eval_epsilon)

    def _q_taken(self, net, rollout):
        q, _, _ = net.unroll(rollout.obs[:-1], rollout.state0)
        return q.gather(1, rollout.actions[:, None]).squeeze(1)

    @staticmethod
    @torch.no_grad()
    def _target_q(target_net, obs):
        """Q(s; theta-) for a batch of states. Feedforward only: the value-based methods have no LSTM."""
        q, _, _ = target_net(obs)
        return q

    def _finish(self, targets, q_taken):
        y = torch.tensor(targets, dtype=q_taken.dtype)
        loss = td_loss(y, q_taken)
        return loss, {"q_loss": loss.item() / len(targets), "q_mean": q_taken.mean().item()}

"""A3C: asynchronous advantage actor-critic (Mnih et al. 2016, Algorithm S3), FF and LSTM.

Pseudo-code -> code:
  "perform a_t according to pi(a_t|s_t; theta')"   -> A3C.act (sample the softmax policy)
  "R = 0 for terminal s_t, V(s_t; theta'_v) else"  -> bootstrap_value (a no-grad forward of s_T)
  "R <- r_i + gamma R"                             -> returns.n_step_returns
  "d theta += grad log pi(a_i|s_i)(R - V(s_i))"    -> policy_loss
  "d theta_v += d (R - V(s_i))^2 / d theta_v"      -> value_loss (weighted by value_loss_coef)
  entropy regularisation beta * grad H(pi(s_i))    -> entropy (paper p.4; not in the box)
The LSTM variant (method=a3c_lstm) is this same file with `lstm: true`: the runtime carries the
hidden state across rollouts and `Network.unroll` replays the rollout from the stored state.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import torch
import torch.nn.functional as F

from ..config import MethodCfg
from ..returns import n_step_returns
from .base import Method


@dataclass
class A3CConfig(MethodCfg):
    """A3C's hyper-parameters (conf/method/a3c.yaml, a3c_lstm.yaml), beside the shared MethodCfg."""

    entropy_beta: float = 0.01  # beta: weight of the entropy regularisation H(pi(s_i))
    value_loss_coef: float = 0.5  # weight of the critic loss (R - V)^2
    eval_sample: bool = True  # evaluate by sampling pi (False: its argmax, or mu of a Gaussian)


def policy_loss(log_probs: torch.Tensor, actions: torch.Tensor, advantages: torch.Tensor):
    """-sum_i log pi(a_i|s_i) * A_i with A detached: descending it ascends the policy gradient."""
    return -(log_probs.gather(1, actions[:, None]).squeeze(1) * advantages.detach()).sum()


def value_loss(returns: torch.Tensor, values: torch.Tensor):
    """sum_i (R_i - V(s_i))^2, the paper's critic loss."""
    return (returns - values).pow(2).sum()


def entropy(log_probs: torch.Tensor):
    """sum_i H(pi(.|s_i)) = -sum_i sum_a pi log pi."""
    return -(log_probs.exp() * log_probs).sum()


def bootstrap_value(net, rollout, state) -> float:
    """R's start: 0 after a terminal s_T, else V(s_T; theta'_v), only a target (no gradient);
    `state` is the recurrent state after the rollout's replay."""
    if rollout.terminated:
        return 0.0
    with torch.no_grad():
        return net(rollout.obs[-1:], state)[1].item()


def actor_critic_loss(pg, vl, ent, value_coef: float, beta: float, n: int):
    """The total pg + value_coef * vl - beta * H, and its terms per step (the metrics)."""
    total = pg + value_coef * vl - beta * ent
    return total, {"policy_loss": pg.item() / n, "value_loss": vl.item() / n, "entropy": ent.item() / n}


class A3C(Method):
    name = "a3c"
    aliases = ("a3c_lstm",)  # the same maths with an LSTM core (conf/method/a3c_lstm.yaml: lstm: true)
    config = A3CConfig
    value_head = True
    policy_head = True
    stat_keys = ("policy_loss", "value_loss", "entropy")

    def __init__(self, cfg, n_actions, rank, seed):
        super().__init__(cfg, n_actions, rank, seed)
        # read once: an OmegaConf attribute read costs 10-20 us
        self._gamma = float(cfg.gamma)
        self._value_coef = float(cfg.value_loss_coef)
        self._beta = float(cfg.entropy_beta)

    def act(self, out, frames):
        """Sample pi(.|s): exactly numpy's `rng.choice(n, p=p / p.sum())` (same uniform draw from
        the same stream, same float64 CDF and side='right' search), without its per-call checks."""
        probs = torch.softmax(out, -1).numpy()
        cdf = list(accumulate((probs / probs.sum()).tolist()))  # float64 running sum, as numpy's
        total = cdf[-1]
        if not total > 0:  # NaN (or all zero) probabilities, which rng.choice would reject
            raise ValueError(f"invalid action probabilities {probs.tolist()}")
        u = self.rng.random()
        for i, c in enumerate(cdf):
            if c / total > u:
                return i
        return len(cdf) - 1  # unreachable: cdf[-1] / total == 1 > u

    def act_eval(self, out):
        if self.cfg.eval_sample:
            return self.act(out, 0)
        return int(out.argmax())

    def loss(self, net, target_net, rollout):
        logits, values, state = net.unroll(rollout.obs[:-1], rollout.state0)
        bootstrap = bootstrap_value(net, rollout, state)
        returns = n_step_returns(rollout.rewards, bootstrap, rollout.terminated, self._gamma)
        returns = torch.tensor(returns, dtype=values.dtype)
        log_probs = F.log_softmax(logits, -1)
        adv = returns - values
        pg = policy_loss(log_probs, rollout.actions, adv)
        vl = value_loss(returns, values)
        ent = entropy(log_probs)
        return actor_critic_loss(pg, vl, ent, self._value_coef, self._beta, len(rollout))

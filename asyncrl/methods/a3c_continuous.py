"""A3C for continuous actions (Mnih et al. 2016, section 5.3 and supplementary section 9: MuJoCo).

Algorithm S3 with a Gaussian policy, as the paper runs it on the physics tasks:
  "perform a_t according to pi(a_t|s_t; theta')"   -> act: a ~ N(mu, sigma^2 I), unclipped; the env
                                                      clips it to the action bounds (envs_continuous)
  "R = 0 for terminal s_t, V(s_t; theta'_v) else"  -> a3c.bootstrap_value: 0 at a termination;
                                                      V(s_T) after a time-limit truncation (see below)
  "R <- r_i + gamma R"                             -> returns.n_step_returns
  "d theta += grad log pi(a_i|s_i)(R - V(s_i))"    -> policy_loss, with gaussian_log_prob of the
                                                      sampled (unclipped) action a_i
  "d theta_v += d (R - V(s_i))^2 / d theta_v"      -> value_loss (weighted by value_loss_coef)
  entropy cost -1/2 (log(2 pi sigma^2) + 1), weight entropy_beta = 1e-4   -> gaussian_entropy
The networks (networks_continuous.GaussianPolicyValueNet): policy and value share no parameter,
each state -> 200 ReLU -> 128 LSTM cells; mu linear, sigma^2 a scalar through SoftPlus.

"No bootstrapping, one update per episode": t_max is the episode's step limit (conf/method/
a3c_continuous.yaml: t_max = env.max_steps), so a rollout is a whole episode. An episode that
ends by termination gets R = 0 at its end. One that the time limit cuts is not over in the MDP's
sense (the state is not terminal), so R starts from V(s_T), as for every truncation in asyncrl;
the same holds for the rare rollout the frame budget cuts at the end of a run.

Where the paper is silent (each a key of conf/method/a3c_continuous.yaml, which says why):
min_variance (sigma^2 floor), obs_norm/obs_clip (running observation normalisation, off),
reward_scale (0.1), max_grad_norm (off).

Evaluation plays the mean action mu (method.eval_sample=false) and, labelled "sampled", as many
episodes with actions drawn from the policy (`sampled_eval_score`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..networks_continuous import GaussianPolicyValueNet
from ..returns import n_step_returns
from .a3c import A3CConfig, actor_critic_loss, bootstrap_value, value_loss
from .base import Method

LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class A3CContinuousConfig(A3CConfig):
    """A3C's keys plus those of the Gaussian policy; conf/method/a3c_continuous.yaml says why each
    is set as it is (eval_sample: false there, evaluations play mu)."""

    min_variance: float = 1e-4  # sigma^2 = SoftPlus(.) + min_variance
    obs_norm: bool = False  # normalise observations by running mean and variance (shared, checkpointed)
    obs_clip: float = 5.0  # normalised observations are clipped to +-obs_clip
    reward_scale: float = 1.0  # learning rewards are multiplied by this (scores stay raw)


def gaussian_log_prob(actions: torch.Tensor, mu: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
    """log N(a; mu, sigma^2 I) per step: -1/2 sum_i [(a_i - mu_i)^2 / sigma^2 + log(2 pi sigma^2)].
    actions, mu: (T, d); variance: (T,) the scalar sigma^2 of each step."""
    d = mu.shape[1]
    sq = (actions - mu).pow(2).sum(1)
    return -0.5 * (sq / variance + d * (LOG_2PI + variance.log()))


def gaussian_entropy(variance: torch.Tensor, d: int) -> torch.Tensor:
    """Entropy of N(mu, sigma^2 I_d) per step: d * 1/2 (log(2 pi sigma^2) + 1) (the paper's
    entropy cost is its negative, per action dimension)."""
    return 0.5 * d * (LOG_2PI + variance.log() + 1.0)


def policy_loss(log_probs: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """-sum_i log pi(a_i|s_i) * A_i with A detached: descending it ascends the policy gradient."""
    return -(log_probs * advantages.detach()).sum()


class A3CContinuous(Method):
    name = "a3c_continuous"
    config = A3CContinuousConfig
    continuous_actions = True
    value_head = True
    policy_head = True  # mu and sigma^2: evaluation plays mu, or draws (eval_sample)
    stat_keys = ("policy_loss", "value_loss", "entropy", "sigma2")

    def __init__(self, cfg, n_actions, rank, seed):
        super().__init__(cfg, n_actions, rank, seed)
        self._gamma = float(cfg.gamma)
        self._value_coef = float(cfg.value_loss_coef)
        self._beta = float(cfg.entropy_beta)
        self._reward_scale = float(cfg.reward_scale)
        self._sample = bool(cfg.eval_sample)
        self.sampled_eval_score = not self._sample  # evaluations playing mu also report sampled actions

    @classmethod
    def build_network(cls, method_cfg, env_cfg, obs_shape, n_actions):
        return GaussianPolicyValueNet(
            obs_shape, n_actions,
            hidden=tuple(method_cfg.mlp_hidden),
            lstm_size=int(method_cfg.lstm_size) if method_cfg.lstm else 0,
            min_variance=float(method_cfg.min_variance),
            obs_norm=bool(method_cfg.obs_norm),
            obs_clip=float(method_cfg.obs_clip),
        )

    def bind(self, local, shared_model) -> None:
        local.use_statistics_of(shared_model)

    def action_buffer(self, t_max: int) -> torch.Tensor:
        return torch.empty((t_max, self.n_actions), dtype=torch.float32)

    def act(self, out, frames):
        """a = mu + sigma * eps, eps ~ N(0, I) from this actor-learner's stream; not clipped."""
        mu = out[:-1].numpy()
        sigma = math.sqrt(float(out[-1]))
        return (mu + sigma * self.rng.standard_normal(mu.shape[0])).astype(np.float32)

    def act_eval(self, out):
        if self._sample:
            return self.act(out, 0)
        return out[:-1].numpy().copy()

    def loss(self, net, target_net, rollout):
        out, values, state = net.unroll(rollout.obs[:-1], rollout.state0)
        mu, variance = out[:, :-1], out[:, -1]
        bootstrap = bootstrap_value(net, rollout, state)  # 0 at a termination, V(s_T) after a truncation
        net.add_observations(rollout.obs[:-1])  # after the replay, which used the acting statistics
        rewards = [r * self._reward_scale for r in rollout.rewards]
        returns = torch.tensor(n_step_returns(rewards, bootstrap, rollout.terminated, self._gamma),
                               dtype=values.dtype)
        log_probs = gaussian_log_prob(rollout.actions, mu, variance)
        pg = policy_loss(log_probs, returns - values)
        vl = value_loss(returns, values)
        ent = gaussian_entropy(variance, mu.shape[1]).sum()
        total, stats = actor_critic_loss(pg, vl, ent, self._value_coef, self._beta, len(rollout))
        stats["sigma2"] = variance.detach().mean().item()
        return total, stats

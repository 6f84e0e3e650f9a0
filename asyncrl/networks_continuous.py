"""The paper's continuous-control network (section 5.3 and supplementary section 9): a policy
network and a value network that share no parameter, each a state input -> one hidden layer of
ReLU units (200) -> an LSTM core (128 cells). The policy ends in a linear mean vector mu and a
scalar variance sigma^2 = SoftPlus(.) + min_variance of a spherical Gaussian; the value network
in one linear output.

It speaks the interface the actor-learner loop and the evaluation use (`forward`, `unroll`,
`initial_state`, `record_rollout`, `active_min`): the head output of one state is the vector
[mu_1 .. mu_d, sigma^2], and the recurrent state is one (h, c) pair whose columns are the policy
core's cells followed by the value core's, so that the loop carries and detaches it as any other.

Observation normalisation (`obs_norm`): running mean and variance of every observation component
(count, mean, sum of squared deviations), kept as buffers, so that they live in the shared model's
shared memory, travel with checkpoints and evaluation snapshots, and normalise evaluation exactly
as training. An actor-learner's copy uses the shared statistics themselves (`use_statistics_of`)
and adds each rollout's observations to them (`add_observations`), without a lock, like the
parameters.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .networks import State, build_torso, lstm_sequence, min_active_share

NORM_EPS = 1e-8  # added to the running variance before its square root


class ObservationStatistics(nn.Module):
    """Running count, mean and sum of squared deviations (M2) of observations, in float64."""

    def __init__(self, size: int):
        super().__init__()
        self.register_buffer("count", torch.zeros(1, dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(size, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(size, dtype=torch.float64))

    def normalise(self, x: torch.Tensor, clip: float) -> torch.Tensor:
        """(x - mean) / sqrt(var + eps), clipped to +-clip; x itself while nothing has been seen."""
        n = float(self.count)
        if n < 2:
            return x
        std = (self.m2 / n + NORM_EPS).sqrt()
        return ((x - self.mean) / std).clamp(-clip, clip).to(x.dtype)

    @torch.no_grad()
    def add(self, x: torch.Tensor) -> None:
        """Merge a batch of observations (B, size) into the statistics (Chan et al.'s pairwise
        update: exact for any batch size, in place on possibly shared tensors)."""
        x = x.to(torch.float64)
        n_b = x.shape[0]
        if n_b == 0:
            return
        n_a = float(self.count)
        mean_b = x.mean(0)
        m2_b = (x - mean_b).pow(2).sum(0)
        n = n_a + n_b
        delta = mean_b - self.mean
        self.m2.add_(m2_b + delta.pow(2) * (n_a * n_b / n))
        self.mean.add_(delta * (n_b / n))
        self.count.fill_(n)


class _Tower(nn.Module):
    """One of the two networks' torso and core: Linear -> ReLU (per hidden layer) -> [LSTM]."""

    def __init__(self, obs_shape: Sequence[int], hidden: Sequence[int], lstm_size: int):
        super().__init__()
        self.torso, width = build_torso("mlp", obs_shape, hidden)
        self.core = nn.LSTMCell(width, lstm_size) if lstm_size else None
        self.width = lstm_size or width

    def run(self, x: torch.Tensor, state: State, relu_outs: Optional[list] = None):
        """Time-major inputs (T, ...) from `state`: (T features, final state)."""
        h = x
        for m in self.torso:
            h = m(h)
            if relu_outs is not None and isinstance(m, nn.ReLU):
                relu_outs.append(h)
        if self.core is None:
            return h, None
        if h.shape[0] == 1:
            state = self.core(h, state)
            return state[0], state
        return lstm_sequence(self.core, h, state)


class GaussianPolicyValueNet(nn.Module):
    """Separate policy and value networks for a d-dimensional action (see the module docstring)."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        action_dim: int,
        hidden: Sequence[int] = (200,),
        lstm_size: int = 128,
        min_variance: float = 1e-4,
        obs_norm: bool = False,
        obs_clip: float = 5.0,
    ):
        super().__init__()
        self.action_dim = int(action_dim)
        self.min_variance = float(min_variance)
        self.obs_norm, self.obs_clip = bool(obs_norm), float(obs_clip)
        self.policy = _Tower(obs_shape, hidden, lstm_size)
        self.mu = nn.Linear(self.policy.width, self.action_dim)
        self.variance = nn.Linear(self.policy.width, 1)
        self.value_net = _Tower(obs_shape, hidden, lstm_size)
        self.value = nn.Linear(self.value_net.width, 1)
        self.obs_stats = ObservationStatistics(int(torch.tensor(obs_shape).prod()))
        self._lstm = int(lstm_size)
        self._last_relu_outs: Optional[list] = None

    @property
    def recurrent(self) -> bool:
        return self._lstm > 0

    def initial_state(self) -> State:
        if not self._lstm:
            return None
        z = torch.zeros(1, 2 * self._lstm)
        return (z, z.clone())

    def record_rollout(self) -> None:
        """Nothing to record: a replay runs the two small torsos again (the loop calls this)."""

    def active_min(self) -> Optional[float]:
        return min_active_share(self._last_relu_outs) if self._last_relu_outs else None

    def use_statistics_of(self, other: "GaussianPolicyValueNet") -> None:
        """Normalise with `other`'s observation statistics (the shared model's), not a copy."""
        self.obs_stats = other.obs_stats

    def add_observations(self, obs: torch.Tensor) -> None:
        if self.obs_norm:
            self.obs_stats.add(obs.reshape(obs.shape[0], -1))

    def _split(self, state: State):
        if state is None:
            return None, None
        h, c = state
        n = self._lstm
        return (h[:, :n], c[:, :n]), (h[:, n:], c[:, n:])

    def _run(self, obs: torch.Tensor, state: State, relu_outs: Optional[list] = None):
        x = obs.to(self.mu.weight.dtype)  # float32 observations for a float32 net
        if self.obs_norm:
            x = self.obs_stats.normalise(x, self.obs_clip)
        pi_state, v_state = self._split(state)
        h_pi, pi_state = self.policy.run(x, pi_state, relu_outs)
        h_v, v_state = self.value_net.run(x, v_state, relu_outs)
        mu = self.mu(h_pi)
        variance = F.softplus(self.variance(h_pi)) + self.min_variance
        out = torch.cat([mu, variance], dim=1)
        v = self.value(h_v).squeeze(-1)
        if pi_state is None:
            return out, v, None
        return out, v, (torch.cat([pi_state[0], v_state[0]], 1), torch.cat([pi_state[1], v_state[1]], 1))

    def forward(self, obs: torch.Tensor, state: State = None):
        """One step (a batch of 1): ([mu, sigma^2] (1, d+1), V (1,), state)."""
        return self._run(obs, state)

    def unroll(self, obs: torch.Tensor, state: State = None):
        """A rollout of T time-major observations from `state`: (outputs, values, final state)."""
        relu_outs: list = []
        result = self._run(obs, state, relu_outs)
        self._last_relu_outs = relu_outs
        return result

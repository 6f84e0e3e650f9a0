"""Networks: a torso (the paper's small net, the Nature DQN net, or an MLP), an optional LSTM
core (A3C LSTM: 256 cells after the last hidden layer), and linear heads.

`Network.unroll` runs a whole rollout (T+1 observations, time-major, batch 1) in one call: the
torso sees the rollout as a batch, and only the LSTM core steps through time.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

State = Optional[Tuple[torch.Tensor, torch.Tensor]]
TORSOS = ("small", "nature", "mlp")


def _conv_torso(channels: int, size: int, layers, fc: int) -> Tuple[nn.Module, int]:
    mods, c = [], channels
    for out_c, k, s in layers:
        mods += [nn.Conv2d(c, out_c, k, s), nn.ReLU()]
        c = out_c
    conv = nn.Sequential(*mods)
    with torch.no_grad():
        flat = conv(torch.zeros(1, channels, size, size)).numel()
    return nn.Sequential(conv, nn.Flatten(), nn.Linear(flat, fc), nn.ReLU()), fc


def build_torso(kind: str, obs_shape: Sequence[int], mlp_hidden: Sequence[int] = (64, 64)):
    """Return (torso, output width). Conv torsos expect (C, H, W) uint8 frames."""
    if kind == "small":  # Mnih et al. 2013: used for the paper's Atari subset and Table 2
        return _conv_torso(obs_shape[0], obs_shape[-1], [(16, 8, 4), (32, 4, 2)], 256)
    if kind == "nature":  # Mnih et al. 2015: used for the 57-game Tables 1 and S3
        return _conv_torso(obs_shape[0], obs_shape[-1], [(32, 8, 4), (64, 4, 2), (64, 3, 1)], 512)
    if kind == "mlp":
        mods, width = [], int(torch.tensor(obs_shape).prod())
        mods.append(nn.Flatten())
        for h in mlp_hidden:
            mods += [nn.Linear(width, h), nn.ReLU()]
            width = h
        return nn.Sequential(*mods), width
    raise ValueError(f"unknown network '{kind}' (valid: {', '.join(TORSOS)})")


class Network(nn.Module):
    """Torso -> [LSTM] -> head with `n_outputs` (policy logits or Q values) [+ value head]."""

    def __init__(
        self,
        obs_shape: Sequence[int],
        n_outputs: int,
        torso: str = "small",
        value_head: bool = True,
        lstm_size: int = 0,
        mlp_hidden: Sequence[int] = (64, 64),
    ):
        super().__init__()
        self.pixels = torso in ("small", "nature")
        self.torso, width = build_torso(torso, obs_shape, mlp_hidden)
        self.core = nn.LSTMCell(width, lstm_size) if lstm_size else None
        width = lstm_size or width
        self.head = nn.Linear(width, n_outputs)
        self.value = nn.Linear(width, 1) if value_head else None
        # The torso's leaf layers in order, run by _run_torso without nn.Module.__call__.
        self._torso_layers = tuple(m for m in self.torso.modules() if not isinstance(m, nn.Sequential))

    @property
    def recurrent(self) -> bool:
        return self.core is not None

    def initial_state(self) -> State:
        if self.core is None:
            return None
        z = torch.zeros(1, self.core.hidden_size)
        return (z, z.clone())

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        if self.pixels and obs.dim() == 4 and obs.shape[0] > 1 and torch.is_grad_enabled():
            # A replay that will be differentiated: channels-last (NHWC) frames make oneDNN's
            # convolution backward ~1.7x faster than NCHW, with the same values (the reorder is
            # done on the uint8 frames). Acting (batch 1, no grad) stays NCHW: there the reorder
            # costs more than it saves.
            obs = obs.contiguous(memory_format=torch.channels_last)
        x = obs.float()
        if self.pixels:
            x = x / 255.0  # frames arrive as uint8 so rollouts stay small
        return self._run_torso(x)

    def _run_torso(self, x: torch.Tensor) -> torch.Tensor:
        """self.torso(x), calling the same functional ops directly: at batch 1 the per-module
        __call__ machinery (hooks, forward dispatch) costs as much as a small layer."""
        for m in self._torso_layers:
            kind = type(m)
            if kind is nn.Conv2d and m.padding_mode == "zeros":
                x = F.conv2d(x, m.weight, m.bias, m.stride, m.padding, m.dilation, m.groups)
            elif kind is nn.Linear:
                x = F.linear(x, m.weight, m.bias)
            elif kind is nn.ReLU and not m.inplace:
                x = torch.relu(x)
            elif kind is nn.Flatten:
                x = x.flatten(m.start_dim, m.end_dim)
            else:
                x = m(x)
        return x

    def _heads(self, h: torch.Tensor):
        v = self.value(h).squeeze(-1) if self.value is not None else None
        return self.head(h), v

    def forward(self, obs: torch.Tensor, state: State = None):
        """One step for a batch of 1 (or a batch of independent observations if feedforward)."""
        h = self._features(obs)
        if self.core is not None:
            state = self.core(h, state)
            h = state[0]
        out, v = self._heads(h)
        return out, v, state

    def unroll(self, obs: torch.Tensor, state: State = None):
        """A rollout of T+1 time-major observations from `state`: (outputs, values, final state)."""
        h = self._features(obs)
        if self.core is not None:
            # The LSTMCell recurrence over the rollout as one fused ATen LSTM layer (same weights,
            # same gate maths; the input projection runs as one batched matmul): fwd+bwd over 6
            # steps ~1.7x faster than stepping self.core, agreeing to float rounding (~1e-7).
            core = self.core
            if state is None:
                z = h.new_zeros(1, core.hidden_size)
                state = (z, z)
            weights = [core.weight_ih, core.weight_hh, core.bias_ih, core.bias_hh]
            hs, hn, cn = torch.lstm(h[:, None], (state[0][None], state[1][None]), weights, True, 1, 0.0, True, False, False)
            h, state = hs[:, 0], (hn[0], cn[0])
        out, v = self._heads(h)
        return out, v, state

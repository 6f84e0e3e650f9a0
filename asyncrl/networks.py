"""Networks: a torso (the paper's small net, the Nature DQN net, or an MLP), an optional LSTM
core (A3C LSTM: 256 cells after the last hidden layer), and linear heads.

`Network.unroll` runs a whole rollout (T+1 observations, time-major, batch 1) in one call: the
torso sees the rollout as a batch, and only the LSTM core steps through time.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
from torch import nn

State = Optional[Tuple[torch.Tensor, torch.Tensor]]


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
    raise ValueError(f"unknown network '{kind}' (valid: small, nature, mlp)")


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

    @property
    def recurrent(self) -> bool:
        return self.core is not None

    def initial_state(self) -> State:
        if self.core is None:
            return None
        z = torch.zeros(1, self.core.hidden_size)
        return (z, z.clone())

    def _features(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs.float()
        if self.pixels:
            x = x / 255.0  # frames arrive as uint8 so rollouts stay small
        return self.torso(x)

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
            hs = []
            for t in range(h.shape[0]):
                state = self.core(h[t : t + 1], state)
                hs.append(state[0])
            h = torch.cat(hs)
        out, v = self._heads(h)
        return out, v, state

"""Networks: a torso (the paper's small net, the Nature DQN net, or an MLP), an optional LSTM
core (A3C LSTM: 256 cells after the last hidden layer), and linear heads.

`Network.unroll` runs a whole rollout (T observations, time-major, batch 1) in one call: the
torso sees the rollout as a batch, and only the LSTM core steps through time.

Recorded acting (`Network.record_rollout`): while an actor-learner acts, theta' is fixed, so
the torso activations its batch-1 forwards compute are the ones a replay of the rollout would
compute again. With recording on, `forward` keeps them, and `unroll` of those same observations
uses them instead of a second forward pass: `_RecordedTorso` returns the recorded features and
its backward is the torso's own backward (the same ATen kernels autograd calls) on the recorded
activations. Gradients agree with the replay to float rounding (tests/test_networks.py).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

State = Optional[Tuple[torch.Tensor, torch.Tensor]]
TORSOS = ("small", "nature", "mlp")
_conv_backward = torch.ops.aten.convolution_backward
_relu_backward = torch.ops.aten.threshold_backward


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
        self._torso_params = tuple(p for m in self._torso_layers for p in (getattr(m, "weight", None),
                                                                           getattr(m, "bias", None)) if p is not None)
        # Recorded acting: None when off, else one (obs data pointer, layer activations) per forward.
        self._recorded: Optional[list] = None
        # the ReLU outputs of the last unroll's torso, for active_min (metrics.csv)
        self._last_relu_outs: Optional[list] = None
        self._relu_at = tuple(i for i, m in enumerate(self._torso_layers) if type(m) is nn.ReLU)

    @property
    def recurrent(self) -> bool:
        return self.core is not None

    def initial_state(self) -> State:
        if self.core is None:
            return None
        z = torch.zeros(1, self.core.hidden_size)
        return (z, z.clone())

    def _features(self, obs: torch.Tensor, acts: Optional[list] = None) -> torch.Tensor:
        if self.pixels and obs.dim() == 4 and obs.shape[0] > 1 and torch.is_grad_enabled():
            # A replay that will be differentiated: channels-last (NHWC) frames make oneDNN's
            # convolution backward ~1.7x faster than NCHW, with the same values (the reorder is
            # done on the uint8 frames). Acting (batch 1, no grad) stays NCHW: there the reorder
            # costs more than it saves.
            obs = obs.contiguous(memory_format=torch.channels_last)
        x = obs.float()
        if self.pixels:
            x = x / 255.0  # frames arrive as uint8 so rollouts stay small
        return self._run_torso(x, acts)

    def record_rollout(self) -> None:
        """Start recording the torso activations of the no-grad batch-1 forwards that follow
        (an actor-learner acting), for the next `unroll` of those observations; drops any earlier
        record. Call it after every parameter sync: a record is only valid for the parameters it was
        made with, and `unroll` consumes it."""
        self._recorded = []

    def _run_torso(self, x: torch.Tensor, acts: Optional[list] = None) -> torch.Tensor:
        """self.torso(x), calling the same functional ops directly: at batch 1 the per-module
        __call__ machinery (hooks, forward dispatch) costs as much as a small layer."""
        for m in self._torso_layers:
            if acts is not None:
                acts.append(x)
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
        if acts is not None:
            acts.append(x)
        return x

    def _heads(self, h: torch.Tensor):
        v = self.value(h).squeeze(-1) if self.value is not None else None
        return self.head(h), v

    def forward(self, obs: torch.Tensor, state: State = None):
        """One step for a batch of 1 (or a batch of independent observations if feedforward)."""
        record = self._recorded is not None and obs.shape[0] == 1 and not torch.is_grad_enabled()
        acts: Optional[list] = [] if record else None
        h = self._features(obs, acts)
        if record:
            self._recorded.append((obs.data_ptr(), acts))
        if self.core is not None:
            state = self.core(h, state)
            h = state[0]
        out, v = self._heads(h)
        return out, v, state

    def _replayed_features(self, obs: torch.Tensor) -> Optional[torch.Tensor]:
        """The torso features of `obs` from the record, with the torso's gradient attached; None
        (and the record dropped) unless the record holds exactly these observations, in order."""
        recorded, self._recorded = self._recorded, None
        n = obs.shape[0]
        if recorded is None or len(recorded) < n or not torch.is_grad_enabled():
            return None
        step = obs[0].numel() * obs.element_size()
        base = obs.data_ptr()
        if not obs.is_contiguous() or any(ptr != base + i * step for i, (ptr, _) in enumerate(recorded[:n])):
            return None
        acts = [torch.cat([a[j] for _, a in recorded[:n]]) for j in range(len(recorded[0][1]))]
        self._last_relu_outs = [acts[i + 1] for i in self._relu_at]
        return _RecordedTorso.apply(self._torso_layers, acts, *self._torso_params)

    def active_min(self) -> Optional[float]:
        """`min_active_share` of the last unroll's torso (None before one, or without ReLU layers).
        Computed on demand: ~0.1 ms for the small net's rollout, too much for every update."""
        return min_active_share(self._last_relu_outs) if self._last_relu_outs else None

    def unroll(self, obs: torch.Tensor, state: State = None):
        """A rollout of T time-major observations from `state`: (outputs, values, final state)."""
        h = self._replayed_features(obs)
        if h is None:
            acts: list = []
            h = self._features(obs, acts)
            self._last_relu_outs = [acts[i + 1] for i in self._relu_at]
        if self.core is not None:
            h, state = lstm_sequence(self.core, h, state)
        out, v = self._heads(h)
        return out, v, state


def lstm_sequence(core: nn.LSTMCell, h: torch.Tensor, state: State):
    """`core` stepped over the T time-major inputs `h` from `state` (zeros if None): (T outputs,
    final state). The LSTMCell recurrence runs as one fused ATen LSTM layer (same weights, same
    gate maths; the input projection runs as one batched matmul): fwd+bwd over 6 steps ~1.7x
    faster than stepping the cell, agreeing to float rounding (~1e-7)."""
    if state is None:
        z = h.new_zeros(1, core.hidden_size)
        state = (z, z)
    weights = [core.weight_ih, core.weight_hh, core.bias_ih, core.bias_hh]
    hs, hn, cn = torch.lstm(h[:, None], (state[0][None], state[1][None]), weights, True, 1, 0.0, True, False, False)
    return hs[:, 0], (hn[0], cn[0])


def min_active_share(relu_outputs) -> float:
    """The share of outputs > 0 in the least active of a network's ReLU layers. A live net keeps
    ~0.1-0.5 (Pong: ~0.49 at initialisation, >= 0.13 in every layer of a net that plays +16); a net
    whose units died, e.g. under too high a learning rate, falls to ~1e-6: its output no longer
    depends on its input, no gradient reaches the layers below, and it cannot learn again."""
    return min(int(torch.count_nonzero(x)) / x.numel() for x in relu_outputs)


class _RecordedTorso(torch.autograd.Function):
    """The torso's output from recorded activations; backward = the torso's backward on them.

    ``acts[i]`` is the (batched) input of layer ``i`` and ``acts[-1]`` the features. The backward
    walks the layers in reverse with the kernels autograd would call for them: mm for a linear
    layer's weight and input, a sum for its bias, ``convolution_backward`` for a convolution,
    ``threshold_backward`` for a ReLU (on its output, as autograd does). The first layer's input
    gradient (the frames) is never computed.
    """

    @staticmethod
    def forward(ctx, layers, acts, *params):
        # saved tensors, not ctx attributes: acts[-1] is the output, whose grad_fn holds ctx, so
        # ctx.acts would make a reference cycle that only Python's cyclic gc frees. Cycles that
        # lived through a young-generation collection waited for a full one, holding a rollout's
        # activations each: an actor-learner's heap grew ~120 MB per million frames (one-step Q, Pong)
        ctx.layers = layers
        ctx.save_for_backward(*acts)
        return acts[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        layers, acts = ctx.layers, ctx.saved_tensors
        # no input gradient is needed below the first layer with parameters
        first = next(i for i, m in enumerate(layers) if isinstance(m, (nn.Linear, nn.Conv2d)))
        param_grads = []
        for i in range(len(layers) - 1, -1, -1):
            m, x = layers[i], acts[i]
            kind = type(m)
            if i < first:
                break
            if kind is nn.ReLU:
                grad = _relu_backward(grad, acts[i + 1], 0)
            elif kind is nn.Flatten:
                grad = grad.reshape(x.shape)
            elif kind is nn.Linear:
                gb = grad.sum(0) if m.bias is not None else None
                gw = grad.t().mm(x)
                param_grads += [g for g in (gb, gw) if g is not None]
                grad = grad.mm(m.weight) if i > first else None
            elif kind is nn.Conv2d:
                # channels-last operands: oneDNN's weight gradient is ~25% faster on them (as in _features)
                cl = torch.channels_last
                gx, gw, gb = _conv_backward(
                    grad.contiguous(memory_format=cl), x.contiguous(memory_format=cl), m.weight, [m.out_channels] if m.bias is not None else None, list(m.stride),
                    list(m.padding), list(m.dilation), False, [0, 0], m.groups, [i > first, True, m.bias is not None])
                param_grads += [g for g in (gb, gw.contiguous()) if g is not None]  # gw came back channels-last
                grad = gx
            else:  # a layer this backward does not know: unreachable for the torsos built here
                raise TypeError(f"no recorded backward for {kind.__name__}")
        return (None, None, *reversed(param_grads))

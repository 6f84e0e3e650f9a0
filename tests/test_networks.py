"""Recorded acting (Network.record_rollout): the loss's replay of a rollout reuses the torso
activations of the acting forwards, and its gradients are the autograd replay's."""

import gc

import pytest
import torch

from asyncrl import networks
from asyncrl.networks import Network

T = 5
CASES = [  # (torso, obs shape, lstm size)
    ("small", (4, 84, 84), 0),
    ("small", (4, 84, 84), 32),
    ("nature", (4, 84, 84), 0),
    ("mlp", (4,), 0),
    ("mlp", (4,), 16),
]


def _obs(shape, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    if len(shape) == 3:
        return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    return torch.randn((n, *shape), generator=g)


def _loss(net, obs, state):
    out, v, _ = net.unroll(obs, state)
    # a loss that weights every output and value differently, so every row's gradient counts
    w = torch.arange(1, out.numel() + 1, dtype=out.dtype).reshape(out.shape) / out.numel()
    return (out * w).sum() + (v * torch.linspace(-1, 1, len(v))).pow(2).sum()


def _act(net, buf, state):
    """An actor-learner's acting: batch-1 no-grad forwards on views of one rollout buffer."""
    with torch.no_grad():
        for t in range(T):
            _, _, state = net(buf[t : t + 1], state)


@pytest.mark.parametrize("torso,shape,lstm", CASES)
def test_recorded_replay_gives_the_replay_gradient(torso, shape, lstm, monkeypatch):
    torch.manual_seed(0)
    net = Network(shape, 6, torso=torso, lstm_size=lstm)
    params = list(net.parameters())
    buf = _obs(shape, T + 1)
    state0 = None if not lstm else (torch.randn(1, lstm) * 0.1, torch.randn(1, lstm) * 0.1)

    expected = torch.autograd.grad(_loss(net, buf[:T], state0), params)  # plain autograd replay

    used = []
    apply = networks._RecordedTorso.apply
    monkeypatch.setattr(networks._RecordedTorso, "apply", lambda *a: used.append(1) or apply(*a))
    net.record_rollout()
    _act(net, buf, state0)
    got = torch.autograd.grad(_loss(net, buf[:T], state0), params)
    assert used == [1], "the recorded activations were not used"
    for (name, _), e, g in zip(net.named_parameters(), expected, got):
        assert g.shape == e.shape and g.is_contiguous(), name
        scale = float(e.abs().max()) + 1e-12
        assert float((g - e).abs().max()) <= 1e-5 * scale, name  # batch-1 vs batched rounding only


def test_a_record_is_used_once_and_only_for_its_own_observations(monkeypatch):
    torch.manual_seed(0)
    net = Network((4, 84, 84), 3)
    buf = _obs((4, 84, 84), T + 1)
    used = []
    apply = networks._RecordedTorso.apply
    monkeypatch.setattr(networks._RecordedTorso, "apply", lambda *a: used.append(1) or apply(*a))

    net.record_rollout()
    _act(net, buf, None)
    net.unroll(buf[:T].clone())  # same values, another buffer: not the recorded observations
    assert used == [] and net._recorded is None  # fell back to the plain forward; record dropped

    net.record_rollout()
    _act(net, buf, None)
    net.unroll(buf[1:T])  # shifted by one step
    assert used == []

    net.record_rollout()
    _act(net, buf, None)
    with torch.no_grad():
        net.unroll(buf[:T])  # nothing to differentiate: no record needed
    assert used == []

    net.record_rollout()
    _act(net, buf, None)
    net.unroll(buf[: T - 2])  # a prefix of the record is fine (the methods unroll s_0 .. s_{T-1})
    net.unroll(buf[: T - 2])  # ... once
    assert used == [1]


def test_without_a_record_nothing_is_kept():
    net = Network((4,), 2, torso="mlp")
    with torch.no_grad():
        net(_obs((4,), 1))
    assert net._recorded is None


def test_a_replayed_rollout_frees_its_activations_without_the_cyclic_gc():
    """Each update's recorded activations go when the update's graph goes, by reference counting.
    They once sat in a reference cycle (the output's grad_fn -> ctx -> the activations -> the
    output), which only Python's cyclic gc frees; an actor-learner's heap grew by ~120 MB per
    million frames (one-step Q on Pong) with the cycles that waited for a full collection."""
    torch.manual_seed(0)
    net = Network((4, 84, 84), 6)
    params = list(net.parameters())
    buf = _obs((4, 84, 84), T + 1)

    def frames_inputs_alive() -> int:  # the torso's first input: (T, 4, 84, 84) floats, held only by the graph
        return sum(1 for o in gc.get_objects() if type(o) is torch.Tensor and o.shape == (T, 4, 84, 84)
                   and o.is_floating_point())

    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            net.record_rollout()
            _act(net, buf, None)
            torch.autograd.grad(_loss(net, buf[:T], None), params)
        alive = frames_inputs_alive()
    finally:
        gc.enable()
    assert alive == 0, f"{alive} updates' activations still alive after their graphs went"

"""Each method's loss on a hand-built 3-step rollout with a fixed-weight linear net, against
gradients derived by hand (NumPy), plus the behaviours the paper's pseudo-code pins down."""

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from asyncrl.methods import Rollout, get_method
from asyncrl.methods.value_based import draw_final_epsilon, epsilon_at
from asyncrl.networks import Network

GAMMA = 0.9
X = np.array([[1.0, 0.5], [-0.5, 1.0], [0.3, -0.2], [0.8, 0.1]])  # s_0 .. s_3
ACTIONS = [0, 1, 1]
REWARDS = [1.0, 0.0, -1.0]


def cfg(method, **kw):
    """The method's own config class with its defaults, gamma and `kw`."""
    base = OmegaConf.structured(get_method(method).config(name=method))
    return OmegaConf.merge(base, {"gamma": GAMMA, **kw})


def linear_net(value_head, W, b, wv=None, bv=None):
    net = Network((2,), 2, torso="mlp", value_head=value_head, mlp_hidden=())
    with torch.no_grad():
        net.head.weight.copy_(torch.tensor(W, dtype=torch.float32))
        net.head.bias.copy_(torch.tensor(b, dtype=torch.float32))
        if value_head:
            net.value.weight.copy_(torch.tensor(np.asarray(wv)[None], dtype=torch.float32))
            net.value.bias.fill_(bv)
    return net


def rollout(terminated=False, next_action=None):
    return Rollout(
        obs=torch.tensor(X, dtype=torch.float32),
        actions=torch.tensor(ACTIONS),
        rewards=list(REWARDS),
        terminated=terminated,
        truncated=False,
        next_action=next_action,
    )


W = np.array([[0.2, -0.1], [0.4, 0.3]])
B = np.array([0.05, -0.05])
WV, BV = np.array([0.5, -0.25]), 0.1


@pytest.mark.parametrize("terminated", [False, True])
def test_a3c_loss_and_gradient_by_hand(terminated):
    beta, c_v = 0.01, 0.5
    method = get_method("a3c")(cfg("a3c", entropy_beta=beta, value_loss_coef=c_v), 2, 0, 0)
    net = linear_net(True, W, B, WV, BV)
    loss, stats = method.loss(net, None, rollout(terminated))
    grads = dict(zip([n for n, _ in net.named_parameters()], torch.autograd.grad(loss, list(net.parameters()))))

    z = X @ W.T + B
    pi = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    logpi = np.log(pi)
    V = X @ WV + BV
    R, ret = [], 0.0 if terminated else V[3]
    for i in reversed(range(3)):
        ret = REWARDS[i] + GAMMA * ret
        R.insert(0, ret)
    R = np.array(R)
    A = R - V[:3]
    H = -(pi[:3] * logpi[:3]).sum(1)
    expected = -(logpi[np.arange(3), ACTIONS] * A).sum() + c_v * (A**2).sum() - beta * H.sum()
    assert loss.item() == pytest.approx(expected, rel=1e-5)

    onehot = np.eye(2)[ACTIONS]
    dz = -(onehot - pi[:3]) * A[:, None] + beta * pi[:3] * (logpi[:3] + H[:, None])
    dv = c_v * 2 * (V[:3] - R)  # V(s_3) is a bootstrap target: no gradient through it
    np.testing.assert_allclose(grads["head.weight"].numpy(), dz.T @ X[:3], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["head.bias"].numpy(), dz.sum(0), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["value.weight"].numpy()[0], dv @ X[:3], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads["value.bias"].numpy()[0], dv.sum(), rtol=1e-4, atol=1e-6)
    assert stats["entropy"] == pytest.approx(H.mean(), rel=1e-5)


def test_a3c_positive_advantage_raises_log_prob():
    method = get_method("a3c")(cfg("a3c", entropy_beta=0.0, value_loss_coef=0.0), 2, 0, 0)
    net = linear_net(True, W, B, np.zeros(2), 0.0)  # V = 0: every advantage is the return
    r = Rollout(torch.tensor(X[:2], dtype=torch.float32), torch.tensor([1]), [1.0], True, False)
    before = torch.log_softmax(net(r.obs[:1])[0], -1)[0, 1].item()
    loss, _ = method.loss(net, None, r)
    grads = torch.autograd.grad(loss, list(net.parameters()))
    with torch.no_grad():
        for p, g in zip(net.parameters(), grads):
            p -= 0.1 * g
    assert torch.log_softmax(net(r.obs[:1])[0], -1)[0, 1].item() > before


WT = np.array([[1.0, 0.0], [0.0, 2.0]])  # target net theta-, different from theta
BT = np.array([0.0, 0.5])


def q_values(Wm, bm):
    return X @ Wm.T + bm


def check_q(method_name, expected_targets, terminated=False, next_action=None):
    method = get_method(method_name)(cfg(method_name), 2, 0, 0)
    net, target = linear_net(False, W, B), linear_net(False, WT, BT)
    loss, _ = method.loss(net, target, rollout(terminated, next_action))
    grads = torch.autograd.grad(loss, list(net.parameters()))
    Q = q_values(W, B)[np.arange(3), ACTIONS]
    y = np.array(expected_targets)
    assert loss.item() == pytest.approx(((y - Q) ** 2).sum(), rel=1e-5)
    dW = np.zeros((2, 2))
    for i, a in enumerate(ACTIONS):  # d (y - Q)^2 / dW[a] = -2 (y - Q) x
        dW[a] += -2 * (y[i] - Q[i]) * X[i]
    np.testing.assert_allclose(grads[0].numpy(), dW, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("terminated", [False, True])
def test_one_step_q_targets(terminated):
    qt = q_values(WT, BT)
    y = [REWARDS[i] + GAMMA * qt[i + 1].max() for i in range(3)]
    if terminated:
        y[2] = REWARDS[2]
    check_q("one_step_q", y, terminated)


@pytest.mark.parametrize("next_action", [0, 1])
def test_one_step_sarsa_uses_the_next_action_taken(next_action):
    qt = q_values(WT, BT)
    nxt = ACTIONS[1:] + [next_action]  # a' = the action actually taken in s'
    y = [REWARDS[i] + GAMMA * qt[i + 1, nxt[i]] for i in range(3)]
    check_q("one_step_sarsa", y, next_action=next_action)


def test_one_step_sarsa_terminal():
    qt = q_values(WT, BT)
    y = [REWARDS[0] + GAMMA * qt[1, ACTIONS[1]], REWARDS[1] + GAMMA * qt[2, ACTIONS[2]], REWARDS[2]]
    check_q("one_step_sarsa", y, terminated=True)


@pytest.mark.parametrize("terminated", [False, True])
def test_n_step_q_bootstraps_from_the_target_net(terminated):
    ret = 0.0 if terminated else q_values(WT, BT)[3].max()
    y = []
    for i in reversed(range(3)):
        ret = REWARDS[i] + GAMMA * ret
        y.insert(0, ret)
    check_q("n_step_q", y, terminated)


def test_epsilon_draws_follow_the_stated_distribution():
    finals, probs = [0.1, 0.01, 0.5], [0.4, 0.3, 0.3]
    draws = [draw_final_epsilon(np.random.default_rng([0, rank]), finals, probs) for rank in range(6000)]
    freq = [draws.count(f) / len(draws) for f in finals]
    assert freq == pytest.approx(probs, abs=0.025)
    # reproducible from (seed, actor index), different across indices
    a = [get_method("n_step_q")(cfg("n_step_q"), 4, r, 7).final_epsilon for r in range(20)]
    b = [get_method("n_step_q")(cfg("n_step_q"), 4, r, 7).final_epsilon for r in range(20)]
    assert a == b and len(set(a)) > 1


@pytest.mark.parametrize("resample", ["per_episode", "per_run"])
def test_epsilon_is_drawn_again_at_every_new_game_or_once(resample):
    """per_episode: each new game draws the final eps again, with the stated probabilities, and the
    schedule then reaches whichever value was drawn; per_run: the first draw holds for the run."""
    finals, probs = [0.1, 0.01, 0.5], [0.4, 0.3, 0.3]
    method = get_method("n_step_q")(cfg("n_step_q", epsilon={"finals": finals, "probs": probs, "resample": resample}), 4, 1, 3)
    first, draws = method.final_epsilon, []
    for _ in range(6000):
        method.new_episode()
        draws.append(method.final_epsilon)
        assert method.epsilon(10**9) == pytest.approx(method.final_epsilon, abs=1e-12)  # the schedule reaches it
    if resample == "per_run":
        assert set(draws) == {first}
        return
    freq = [draws.count(f) / len(draws) for f in finals]
    assert freq == pytest.approx(probs, abs=0.025)
    changes = sum(a != b for a, b in zip(draws, draws[1:]))
    assert changes / len(draws) == pytest.approx(1 - sum(p * p for p in probs), abs=0.03)  # independent draws


def test_epsilon_schedule():
    assert epsilon_at(0, 0.1, 100) == 1.0
    assert epsilon_at(50, 0.1, 100) == pytest.approx(0.55)
    assert epsilon_at(100, 0.1, 100) == pytest.approx(0.1)
    assert epsilon_at(10_000, 0.1, 100) == pytest.approx(0.1)

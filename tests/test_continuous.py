"""Continuous-control A3C: the Gaussian maths against slow references written like the equations,
the separate policy and value networks, the loss on a hand-built rollout, action clipping against
the sampled action's log-probability, observation statistics, and the continuous envs."""

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from asyncrl.methods import Rollout, get_method
from asyncrl.methods.a3c_continuous import A3CContinuousConfig, gaussian_entropy, gaussian_log_prob
from asyncrl.networks_continuous import GaussianPolicyValueNet, ObservationStatistics

GAMMA = 0.9


def ref_log_prob(a, mu, var):
    """log N(a; mu, var I) = sum_i log( exp(-(a_i - mu_i)^2 / (2 var)) / sqrt(2 pi var) )."""
    return sum(math.log(math.exp(-((ai - mi) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var))
               for ai, mi in zip(a, mu))


def ref_log_prob_grads(a, mu, var):
    """d/d mu_i = (a_i - mu_i) / var; d/d var = sum_i [(a_i - mu_i)^2 / (2 var^2) - 1 / (2 var)]."""
    d_mu = [(ai - mi) / var for ai, mi in zip(a, mu)]
    d_var = sum((ai - mi) ** 2 / (2 * var ** 2) - 1 / (2 * var) for ai, mi in zip(a, mu))
    return d_mu, d_var


def ref_entropy(var, d):
    """-integral p log p of N(mu, var I_d): d times 1/2 (log(2 pi var) + 1) (the paper's entropy cost
    -1/2 (log(2 pi sigma^2) + 1) per action dimension, negated); d/d var = d / (2 var)."""
    return d * 0.5 * (math.log(2 * math.pi * var) + 1), d / (2 * var)


def test_log_prob_and_its_gradients_match_the_equations():
    rng = np.random.default_rng(0)
    T, d = 5, 3
    a = rng.normal(size=(T, d)) * 2
    mu = torch.tensor(rng.normal(size=(T, d)), requires_grad=True)
    var = torch.tensor(rng.uniform(0.05, 3.0, size=T), requires_grad=True)
    lp = gaussian_log_prob(torch.tensor(a), mu, var)
    d_mu, d_var = torch.autograd.grad(lp.sum(), [mu, var])
    for t in range(T):
        assert lp[t].item() == pytest.approx(ref_log_prob(a[t], mu[t].tolist(), var[t].item()), rel=1e-12)
        g_mu, g_var = ref_log_prob_grads(a[t], mu[t].tolist(), var[t].item())
        assert d_mu[t].tolist() == pytest.approx(g_mu, rel=1e-12)
        assert d_var[t].item() == pytest.approx(g_var, rel=1e-12)


def test_the_log_prob_is_a_density():
    """Numerically integrated over a fine 1-D grid, exp(log pi) sums to 1."""
    x = torch.linspace(-20, 20, 200_001, dtype=torch.float64)
    p = gaussian_log_prob(x[:, None], torch.full((x.numel(), 1), 0.7, dtype=torch.float64),
                          torch.full((x.numel(),), 2.5, dtype=torch.float64)).exp()
    assert float(p.sum() * (x[1] - x[0])) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("d", [1, 6])
def test_entropy_and_its_gradient_match_the_equations(d):
    var = torch.tensor([1e-4, 0.3, 1.0, 7.5], dtype=torch.float64, requires_grad=True)
    h = gaussian_entropy(var, d)
    (g,) = torch.autograd.grad(h.sum(), [var])
    for t, v in enumerate(var.tolist()):
        ref_h, ref_g = ref_entropy(v, d)
        assert h[t].item() == pytest.approx(ref_h, rel=1e-12)
        assert g[t].item() == pytest.approx(ref_g, rel=1e-12)


# ---- the networks ------------------------------------------------------------------------------
def small_net(**kw):
    torch.manual_seed(0)
    return GaussianPolicyValueNet((3,), 2, hidden=(8,), lstm_size=4, **kw).double()


def test_policy_and_value_share_no_parameter():
    net = GaussianPolicyValueNet((17,), 6)  # the paper's sizes: 200 ReLU, 128 LSTM cells, twice
    policy = {n: p for n, p in net.named_parameters() if n.split(".")[0] in ("policy", "mu", "variance")}
    value = {n: p for n, p in net.named_parameters() if n.split(".")[0] in ("value_net", "value")}
    assert set(policy) | set(value) == {n for n, _ in net.named_parameters()}
    storages = lambda ps: {p.untyped_storage().data_ptr() for p in ps.values()}  # noqa: E731
    assert not storages(policy) & storages(value)
    assert net.policy.torso[1].out_features == 200 and net.policy.core.hidden_size == 128
    assert net.value_net.torso[1].out_features == 200 and net.value_net.core.hidden_size == 128
    obs = torch.randn(7, 17)
    out, v, _ = net.unroll(obs)
    grads_v = torch.autograd.grad(v.pow(2).sum(), list(policy.values()), allow_unused=True)
    assert all(g is None or not g.any() for g in grads_v), "the value loss reaches the policy network"
    grads_pi = torch.autograd.grad(out.pow(2).sum(), list(value.values()), allow_unused=True)
    assert all(g is None or not g.any() for g in grads_pi), "the policy reaches the value network"


def test_the_heads_are_a_linear_mean_and_a_softplus_variance():
    net = small_net(min_variance=1e-3)
    obs = torch.randn(4, 3, dtype=torch.float64)
    out, v, _ = net.unroll(obs)
    h = net.policy.run(obs, None)[0]
    assert torch.allclose(out[:, :2], h @ net.mu.weight.T + net.mu.bias)
    z = (h @ net.variance.weight.T + net.variance.bias)[:, 0]
    assert torch.allclose(out[:, 2], torch.log1p(torch.exp(z)) + 1e-3)
    assert v.shape == (4,)


def test_stepping_equals_the_unrolled_rollout():
    """forward step by step (acting) and unroll (the loss's replay) agree, with the packed state."""
    net = small_net()
    obs = torch.randn(6, 3, dtype=torch.float64)
    state = tuple(s.double() for s in net.initial_state())
    outs, vs = [], []
    for t in range(6):
        o, v, state = net(obs[t:t + 1], state)
        outs.append(o)
        vs.append(v)
    out, v, final = net.unroll(obs, tuple(s.double() for s in net.initial_state()))
    assert torch.allclose(torch.cat(outs), out) and torch.allclose(torch.cat(vs), v)
    assert torch.allclose(final[0], state[0]) and torch.allclose(final[1], state[1])


# ---- the loss ----------------------------------------------------------------------------------
def method_cfg(**kw):
    return OmegaConf.merge(OmegaConf.structured(A3CContinuousConfig(name="a3c_continuous")), {"gamma": GAMMA, **kw})


X = [[0.5, -1.0, 0.2], [0.1, 0.3, -0.4], [-0.7, 0.9, 0.0], [0.2, 0.2, 0.2]]
ACTIONS = [[2.5, -0.3], [0.1, 0.4], [-1.7, 1.2]]  # outside the task's bounds on purpose: never clipped here
REWARDS = [1.0, 0.5, -2.0]


@pytest.mark.parametrize("terminated", [True, False])
def test_loss_value_and_gradients_against_the_equations(terminated):
    beta, c_v, scale = 1e-2, 0.5, 2.0
    method = get_method("a3c_continuous")(method_cfg(entropy_beta=beta, value_loss_coef=c_v, reward_scale=scale), 2, 0, 0)
    net = small_net()
    rollout = Rollout(obs=torch.tensor(X, dtype=torch.float64), actions=torch.tensor(ACTIONS, dtype=torch.float64),
                      rewards=list(REWARDS), terminated=terminated, truncated=not terminated)
    loss, stats = method.loss(net, None, rollout)
    with torch.no_grad():
        out, v, _ = net.unroll(rollout.obs)  # V(s_3) too: the bootstrap after a truncation
    # R_i <- scale r_i + gamma R_{i+1}, from R_3 = 0 (terminal) or V(s_3) (truncated)
    R = [0.0, 0.0, 0.0]
    ret = 0.0 if terminated else v[3].item()
    for i in (2, 1, 0):
        ret = scale * REWARDS[i] + GAMMA * ret
        R[i] = ret
    expected = 0.0
    for i in range(3):
        mu, var = out[i, :2].tolist(), out[i, 2].item()
        adv = R[i] - v[i].item()
        expected += -ref_log_prob(ACTIONS[i], mu, var) * adv + c_v * adv ** 2 - beta * ref_entropy(var, 2)[0]
    assert loss.item() == pytest.approx(expected, rel=1e-10)
    assert stats["sigma2"] == pytest.approx(out[:3, 2].mean().item())
    # d loss / d mu_i = -(a_i - mu_i) / var_i * A_i: through the mean head's bias, summed over steps
    grads = dict(zip([n for n, _ in net.named_parameters()], torch.autograd.grad(loss, list(net.parameters()))))
    d_bias = [0.0, 0.0]
    for i in range(3):
        g_mu, _ = ref_log_prob_grads(ACTIONS[i], out[i, :2].tolist(), out[i, 2].item())
        d_bias = [b - g * (R[i] - v[i].item()) for b, g in zip(d_bias, g_mu)]
    assert grads["mu.bias"].tolist() == pytest.approx(d_bias, rel=1e-10)
    # the value gradient: d/d b_v of c_v sum (R_i - V_i)^2 (the truncation's bootstrap has no gradient)
    assert grads["value.bias"].item() == pytest.approx(sum(-2 * c_v * (R[i] - v[i].item()) for i in range(3)), rel=1e-10)


def test_a_positive_advantage_raises_the_log_prob_of_the_sampled_action():
    method = get_method("a3c_continuous")(method_cfg(entropy_beta=0.0, value_loss_coef=0.0), 2, 0, 0)
    net = small_net()
    rollout = Rollout(obs=torch.tensor(X[:2], dtype=torch.float64), actions=torch.tensor(ACTIONS[:1], dtype=torch.float64),
                      rewards=[100.0], terminated=True, truncated=False)
    before = gaussian_log_prob(rollout.actions, *_heads(net, rollout)).item()
    loss, _ = method.loss(net, None, rollout)
    grads = torch.autograd.grad(loss, list(net.parameters()), allow_unused=True)
    with torch.no_grad():
        for p, g in zip(net.parameters(), grads):
            if g is not None:
                p -= 1e-4 * g
    assert gaussian_log_prob(rollout.actions, *_heads(net, rollout)).item() > before


def _heads(net, rollout):
    with torch.no_grad():
        out, _, _ = net.unroll(rollout.obs[:-1])
    return out[:, :-1], out[:, -1]


def test_act_samples_unclipped_and_act_eval_plays_the_mean():
    method = get_method("a3c_continuous")(method_cfg(eval_sample=False), 2, 0, 7)
    out = torch.tensor([3.0, -0.5, 4.0])  # mu = (3, -0.5), sigma^2 = 4
    draws = np.stack([method.act(out, 0) for _ in range(4000)])
    assert draws.dtype == np.float32 and (np.abs(draws) > 1).any()  # far outside [-1, 1]: not clipped
    assert draws.mean(0) == pytest.approx([3.0, -0.5], abs=0.1) and draws.std(0) == pytest.approx([2.0, 2.0], abs=0.1)
    assert method.act_eval(out).tolist() == [3.0, -0.5]
    assert method.sampled_eval_score
    assert not get_method("a3c_continuous")(method_cfg(eval_sample=True), 2, 0, 7).sampled_eval_score


# ---- observation statistics ---------------------------------------------------------------------
def test_observation_statistics_merge_batches_exactly():
    rng = np.random.default_rng(1)
    data = rng.normal(3.0, 2.0, size=(1000, 4)) * [1, 10, 0.1, 1]
    stats = ObservationStatistics(4)
    for batch in np.array_split(data, [1, 7, 300, 301, 650]):
        stats.add(torch.tensor(batch))
    assert stats.count.item() == 1000
    assert stats.mean.tolist() == pytest.approx(data.mean(0).tolist(), rel=1e-12)
    assert (stats.m2 / stats.count).tolist() == pytest.approx(data.var(0).tolist(), rel=1e-10)
    x = torch.tensor(data[:3], dtype=torch.float32)
    expected = np.clip((data[:3] - data.mean(0)) / np.sqrt(data.var(0) + 1e-8), -5, 5)
    assert stats.normalise(x, 5.0).numpy() == pytest.approx(expected, rel=1e-5, abs=1e-5)


def test_an_actor_learner_normalises_with_the_shared_statistics_and_adds_to_them():
    shared, local = small_net(obs_norm=True), small_net(obs_norm=True)
    get_method("a3c_continuous")(method_cfg(obs_norm=True), 2, 0, 0).bind(local, shared)
    local.add_observations(torch.tensor(X, dtype=torch.float64))
    assert shared.obs_stats.count.item() == 4 and shared.obs_stats.mean.tolist() == pytest.approx(np.mean(X, 0).tolist())
    assert "obs_stats.mean" in shared.state_dict()  # checkpoints and evaluation snapshots carry them
    off = small_net(obs_norm=False)
    off.add_observations(torch.tensor(X, dtype=torch.float64))
    assert off.obs_stats.count.item() == 0

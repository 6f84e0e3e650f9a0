"""The paper's optimizers (Eq. S2-S3) against their formulas, and the sharing of g."""

import numpy as np
import pytest
import torch

from asyncrl.runtime.optim import (
    AsyncOptimizer, clip_grad_norm, grad_norm, grad_scale, linear_lr, make_shared_statistics,
)


def _params():
    torch.manual_seed(0)
    return [torch.randn(3, 2), torch.randn(4)]


def test_shared_rmsprop_step_matches_formula():
    params = _params()
    stats = make_shared_statistics(params)
    g0 = [torch.rand_like(p) for p in params]
    for s, g in zip(stats, g0):
        s.copy_(g)
    theta0 = [p.clone().numpy() for p in params]
    grads = [torch.randn_like(p) for p in params]
    alpha, eps, lr = 0.99, 0.1, 7e-4
    AsyncOptimizer("shared_rmsprop", params, alpha, eps, stats).step(grads, lr)
    for p, s, t0, g_old, d in zip(params, stats, theta0, g0, grads):
        g_new = alpha * g_old.numpy() + (1 - alpha) * d.numpy() ** 2
        np.testing.assert_allclose(s.numpy(), g_new, rtol=1e-6)
        # eps inside the square root
        np.testing.assert_allclose(p.numpy(), t0 - lr * d.numpy() / np.sqrt(g_new + eps), rtol=1e-6, atol=1e-7)


def test_statistics_exist_in_shared_memory_before_any_actor():
    stats = make_shared_statistics(_params())
    assert all(s.is_shared() and float(s.abs().sum()) == 0.0 for s in stats)


def test_two_actor_learners_see_one_statistic():
    params = _params()
    stats = make_shared_statistics(params)
    a = AsyncOptimizer("shared_rmsprop", params, 0.5, 0.1, stats)
    b = AsyncOptimizer("shared_rmsprop", params, 0.5, 0.1, stats)
    d1 = [torch.ones_like(p) for p in params]
    d2 = [2 * torch.ones_like(p) for p in params]
    a.step(d1, 0.1)
    b.step(d2, 0.1)
    # g = .5 * (.5 * 0 + .5 * 1) + .5 * 4 = 2.25: b's update saw a's statistic
    for s in stats:
        assert torch.allclose(s, torch.full_like(s, 2.25))


def test_per_actor_rmsprop_keeps_private_statistics():
    params = _params()
    a = AsyncOptimizer("rmsprop", params, 0.5, 0.1)
    b = AsyncOptimizer("rmsprop", params, 0.5, 0.1)
    a.step([torch.ones_like(p) for p in params], 0.1)
    assert all(float(s.sum()) == 0.0 for s in b.state)
    assert all(torch.allclose(s, torch.full_like(s, 0.5)) for s in a.state)


def test_momentum_sgd_formula():
    params = _params()
    theta0 = [p.clone() for p in params]
    opt = AsyncOptimizer("momentum_sgd", params, 0.9, 0.1)
    d = [torch.ones_like(p) for p in params]
    opt.step(d, 0.5)  # m = 0.1, theta -= 0.05
    opt.step(d, 0.5)  # m = 0.9 * 0.1 + 0.1 = 0.19, theta -= 0.095
    for p, t0 in zip(params, theta0):
        assert torch.allclose(p, t0 - 0.05 - 0.095, atol=1e-6)


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="valid"):
        AsyncOptimizer("adam", _params(), 0.9, 0.1)


def test_clip_grad_norm():
    g = [torch.tensor([3.0, 0.0]), torch.tensor([4.0])]
    assert clip_grad_norm(g, 10.0) == pytest.approx(5.0)
    assert torch.allclose(g[0], torch.tensor([3.0, 0.0]))
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    total = float(torch.sqrt(sum((x**2).sum() for x in g)))
    assert total == pytest.approx(1.0, rel=1e-4)


def test_linear_lr_anneals_to_zero():
    assert linear_lr(1e-3, 0, 100) == 1e-3
    assert linear_lr(1e-3, 25, 100) == pytest.approx(7.5e-4)
    assert linear_lr(1e-3, 100, 100) == 0.0
    assert linear_lr(1e-3, 120, 100) == 0.0


@pytest.mark.parametrize("kind", ["shared_rmsprop", "rmsprop"])
def test_rmsprop_over_several_steps_matches_the_equations_in_float64(kind):
    """Four steps on a layer of the small net's fc size, with a growing statistic, against Eq.
    (S2)-(S3) computed in float64 NumPy: the float32 step stays within float32 rounding."""
    torch.manual_seed(1)
    theta = [torch.randn(256, 2592) * 0.01, torch.randn(256) * 0.01]
    ref_theta = [t.numpy().astype(np.float64) for t in theta]
    ref_g = [np.zeros_like(t) for t in ref_theta]
    stats = make_shared_statistics(theta)
    opt = AsyncOptimizer(kind, theta, 0.99, 0.1, stats if kind == "shared_rmsprop" else None)
    for step in range(4):
        d = [torch.randn_like(t) * 10 ** -step for t in theta]
        opt.step(d, 7e-4)
        for i, dd in enumerate(d):
            dd = dd.numpy().astype(np.float64)
            ref_g[i] = 0.99 * ref_g[i] + 0.01 * dd**2
            ref_theta[i] = ref_theta[i] - 7e-4 * dd / np.sqrt(ref_g[i] + 0.1)
    for t, r, g, rg in zip(theta, ref_theta, opt.state, ref_g):
        np.testing.assert_allclose(g.numpy(), rg, rtol=1e-5, atol=0)
        np.testing.assert_allclose(t.numpy(), r, rtol=0, atol=2e-8)  # ~4 ulp of the largest |theta|


@pytest.mark.parametrize("kind", ["shared_rmsprop", "rmsprop", "momentum_sgd"])
def test_the_clipping_scale_applied_in_the_step_equals_clipping_first(kind):
    params_a, params_b = _params(), _params()
    a = AsyncOptimizer(kind, params_a, 0.9, 0.1, make_shared_statistics(params_a))
    b = AsyncOptimizer(kind, params_b, 0.9, 0.1, make_shared_statistics(params_b))
    d = [torch.randn_like(p) * 5 for p in params_a]
    d_copy = [x.clone() for x in d]
    norm = grad_norm(d)
    a.step(d, 0.01, grad_scale(norm, 1.0))
    assert all(torch.equal(x, y) for x, y in zip(d, d_copy))  # the gradients are left as they were
    clip_grad_norm(d_copy, 1.0)
    b.step(d_copy, 0.01)
    for pa, pb in zip(params_a, params_b):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-7)
    assert grad_scale(0.5, 1.0) == 1.0 and grad_scale(5.0, 0.0) == 1.0
    assert grad_scale(4.0, 1.0) == pytest.approx(0.25)


def test_flushing_subnormals_leaves_the_rmsprop_update_bitwise_the_same():
    """What a long run's statistics look like (a share decayed below 1.2e-38, some gradients that
    small or exactly 0): with subnormals flushed to zero (actor_learner.flush_subnormals), the
    parameters after 50 steps are bitwise those of plain IEEE arithmetic, and the statistics differ
    by less than the smallest normal float."""
    gen = torch.Generator().manual_seed(0)
    tiny = torch.finfo(torch.float32).tiny
    params0 = [torch.randn(4096, generator=gen) * 0.05, torch.randn(64, generator=gen)]
    stats0 = [torch.rand(p.shape, generator=gen) * 1e-6 for p in params0]
    for s in stats0:
        s[: len(s) // 2] = tiny * torch.rand(len(s) // 2, generator=gen)  # half of them subnormal
    grads = []
    for p in params0:
        g = torch.randn(p.shape, generator=gen) * 1e-3
        g[: len(g) // 2] = 0.0  # units whose gradient stays 0: their statistics keep decaying
        g[len(g) // 2: len(g) // 2 + 16] = tiny * 0.5  # a few subnormal gradients
        grads.append(g)
    assert any(((s != 0) & (s.abs() < tiny)).any() for s in stats0)

    def run(flush):
        torch.set_flush_denormal(flush)
        try:
            params, stats = [p.clone() for p in params0], [s.clone() for s in stats0]
            opt = AsyncOptimizer("shared_rmsprop", params, 0.99, 0.1, stats)
            for _ in range(50):
                opt.step(grads, 7e-4)
            return params, stats
        finally:
            torch.set_flush_denormal(False)

    if not torch.set_flush_denormal(True):
        pytest.skip("this CPU cannot flush subnormals")
    torch.set_flush_denormal(False)
    plain, flushed = run(False), run(True)
    assert all(torch.equal(a, b) for a, b in zip(plain[0], flushed[0]))
    assert max((a - b).abs().max().item() for a, b in zip(plain[1], flushed[1])) < tiny
    assert any(((s != 0) & (s.abs() < tiny)).any() for s in plain[1])  # the plain run kept subnormals
    assert not any(((s != 0) & (s.abs() < tiny)).any() for s in flushed[1])  # the flushed one has none

"""Targets against slow references written like the paper's equations."""

import random

import pytest

from asyncrl.returns import n_step_returns, one_step_targets


def paper_n_step(rewards, v_T, terminal, gamma):
    """R_t = sum_{k=0}^{T-t-1} gamma^k r_{t+k} + gamma^{T-t} V(s_T), V(s_T) = 0 if s_T is terminal
    (the advantage's return in Mnih et al. 2016, §4), evaluated term by term for every t."""
    T = len(rewards)
    boot = 0.0 if terminal else v_T
    return [
        sum(gamma**k * rewards[t + k] for k in range(T - t)) + gamma ** (T - t) * boot
        for t in range(T)
    ]


def test_hand_values():
    # gamma = 0.5: R_2 = 1 + .5*8 = 5, R_1 = 0 + .5*5 = 2.5, R_0 = 2 + .5*2.5 = 3.25
    assert n_step_returns([2.0, 0.0, 1.0], 8.0, False, 0.5) == [3.25, 2.5, 5.0]
    # terminal: the bootstrap is dropped
    assert n_step_returns([2.0, 0.0, 1.0], 8.0, True, 0.5) == [2.25, 0.5, 1.0]


@pytest.mark.parametrize("T", [1, 2, 5])
@pytest.mark.parametrize("terminal", [False, True])
def test_n_step_matches_paper(T, terminal):
    rng = random.Random(T * 10 + terminal)
    for _ in range(50):
        rewards = [rng.choice([-1.0, 0.0, 1.0, rng.uniform(-3, 3)]) for _ in range(T)]
        v = rng.uniform(-10, 10)
        got = n_step_returns(rewards, v, terminal, 0.99)
        assert got == pytest.approx(paper_n_step(rewards, v, terminal, 0.99), abs=1e-9)


def test_truncated_bootstraps_like_a_t_max_cut():
    # a time-limit truncation is not terminal: its return bootstraps from V(s_T)
    assert n_step_returns([1.0], 10.0, False, 0.9) == [pytest.approx(10.0)]
    assert n_step_returns([1.0], 10.0, True, 0.9) == [1.0]


def test_one_step_targets():
    # y_i = r_i + gamma * v_{i+1}; only the last transition may be terminal
    assert one_step_targets([1.0, 0.0], [4.0, 6.0], False, 0.5) == [3.0, 3.0]
    assert one_step_targets([1.0, 0.0], [4.0, 6.0], True, 0.5) == [3.0, 0.0]
    with pytest.raises(ValueError):
        one_step_targets([1.0], [1.0, 2.0], False, 0.5)

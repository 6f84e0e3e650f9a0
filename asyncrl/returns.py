"""Targets of the paper's four methods, as pure functions of a rollout's numbers.

Every function takes plain Python floats (a rollout is at most t_max = 5 steps long, so a Python
loop is both the clearest and the fastest form) and returns a list of targets, one per step.
`terminated` means s_T is a terminal state: nothing is bootstrapped past it. A truncated
rollout (time limit, or the t_max cut) bootstraps from s_T like any non-terminal one.
"""

from __future__ import annotations

from typing import List, Sequence


def n_step_returns(
    rewards: Sequence[float], bootstrap: float, terminated: bool, gamma: float
) -> List[float]:
    """Forward-view n-step returns (Algorithms S2/S3): R <- r_i + gamma * R, from i = T-1 down to 0.

    R starts at 0 when s_T is terminal, else at `bootstrap` (V(s_T) for A3C,
    max_a Q(s_T, a; theta-) for n-step Q). Each state gets the longest return available in the
    rollout, so the first state gets a T-step return and the last a 1-step one.
    """
    ret = 0.0 if terminated else float(bootstrap)
    out = [0.0] * len(rewards)
    for i in range(len(rewards) - 1, -1, -1):
        ret = rewards[i] + gamma * ret
        out[i] = ret
    return out


def one_step_targets(
    rewards: Sequence[float], next_values: Sequence[float], terminated: bool, gamma: float
) -> List[float]:
    """One-step targets y_i = r_i + gamma * next_values[i] (Algorithm 1 and its SARSA variant).

    next_values[i] is the target network's value of s_{i+1}: max_a' Q(s_{i+1}, a'; theta-) for
    Q-learning, Q(s_{i+1}, a_{i+1}; theta-) for SARSA. Only the rollout's last transition can
    reach a terminal state (rollouts end at episode ends), so only it may drop its bootstrap.
    """
    if len(rewards) != len(next_values):
        raise ValueError("need one next value per reward")
    last = len(rewards) - 1
    return [
        r + (0.0 if (terminated and i == last) else gamma * v)
        for i, (r, v) in enumerate(zip(rewards, next_values))
    ]

"""Registry: every learner module, by the name `method.name` uses (one file each)."""

from .a3c import A3C
from .a3c_continuous import A3CContinuous
from .base import Method, Rollout, build_network
from .n_step_q import NStepQ
from .one_step_q import OneStepQ
from .one_step_sarsa import OneStepSarsa

METHODS = {
    "a3c": A3C,
    "a3c_lstm": A3C,  # the same maths with an LSTM core (conf/method/a3c_lstm.yaml: lstm: true)
    "a3c_continuous": A3CContinuous,  # Gaussian policy, separate policy and value nets (MuJoCo)
    "one_step_q": OneStepQ,
    "one_step_sarsa": OneStepSarsa,
    "n_step_q": NStepQ,
}


def get_method(name: str):
    """A registered method, or a user's own as "package.module:Class" (a Method subclass)."""
    if ":" in name:
        import importlib

        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)
    try:
        return METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method '{name}' (valid: {', '.join(sorted(METHODS))})") from None


__all__ = ["METHODS", "Method", "Rollout", "build_network", "get_method"]

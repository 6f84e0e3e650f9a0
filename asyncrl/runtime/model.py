"""The run's network, built from its config: the env's observation and action spaces, the method's
network, initial parameters drawn from the run's seed."""

from __future__ import annotations

import torch

from ..envs import env_spec
from ..methods import build_network, get_method


def build_model(cfg):
    """(env spec, method class, network) for `cfg`."""
    spec = env_spec(cfg.env)
    method_cls = get_method(cfg.method.name)
    torch.manual_seed(cfg.seed)  # the initial theta (and theta-) follow the run's seed
    model = build_network(method_cls, cfg.method, cfg.env, spec.obs_shape, spec.n_actions)
    return spec, method_cls, model

"""Each method refuses the options it cannot run with (Method.validate), one line each; the
command turns the ValueError into its one-line error and exit code 2 (tests/test_cli.py)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from asyncrl.methods import METHODS, get_method

CONF = Path(__file__).resolve().parents[1] / "conf"

BAD = [
    ("n_step_q", ["method.lstm=true"], "method 'n_step_q' does not support an LSTM core (method.lstm=true is for a3c only)"),
    ("one_step_sarsa", ["method.lstm=true"], "method 'one_step_sarsa' does not support an LSTM core (method.lstm=true is for a3c only)"),
    ("one_step_q", ["method.epsilon.resample=sometimes"],
     "unknown method.epsilon.resample 'sometimes' (valid: per_episode, per_run)"),
    ("n_step_q", ["method.epsilon.finals=[0.1,0.5]"],
     "method.epsilon.finals and .probs must have equal length and probs sum to 1"),
    ("one_step_sarsa", ["method.epsilon.probs=[0.5,0.3,0.3]"],
     "method.epsilon.finals and .probs must have equal length and probs sum to 1"),
    ("a3c", ["env=toy_continuous"],
     "method 'a3c' takes discrete actions; env 'toy_continuous' has continuous ones (use method=a3c_continuous)"),
    ("a3c_continuous", ["env=toy"], "method 'a3c_continuous' takes continuous actions; env 'toy' has discrete ones"),
    # a class given as method.name=pkg.module:Class on a config without the keys its config class declares
    ("a3c", ["method.name=tests.fakes:RecordingNStepQ"],
     "method 'tests.fakes:RecordingNStepQ' reads method.target_interval_frames, method.epsilon, method.eval_epsilon, "
     "which this config does not have: compose it on a method whose config has them "
     "(method=<that method> method.name=tests.fakes:RecordingNStepQ)"),
    # or without the I_target the runtime reads for a method with a target network
    ("a3c", ["method.name=tests.fakes:TargetMethod"],
     "method 'tests.fakes:TargetMethod' reads method.target_interval_frames, which this config does not have: "
     "compose it on a method whose config has it (method=<that method> method.name=tests.fakes:TargetMethod)"),
]


@pytest.mark.parametrize("method,overrides,message", BAD)
def test_a_method_refuses_what_it_cannot_run_with_in_one_line(compose_cfg, method, overrides, message):
    cfg = compose_cfg(f"method={method}", *overrides)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        get_method(cfg.method.name).validate(cfg.method, cfg.env)


@pytest.mark.parametrize("method,env", [("a3c", "toy"), ("a3c_lstm", "toy"), ("one_step_q", "toy"),
                                        ("one_step_sarsa", "toy"), ("n_step_q", "toy"),
                                        ("a3c_continuous", "toy_continuous")])
def test_each_methods_defaults_are_accepted(compose_cfg, method, env):
    cfg = compose_cfg(f"method={method}", f"env={env}")
    get_method(cfg.method.name).validate(cfg.method, cfg.env)



def test_every_method_yaml_is_a_registered_method_composed_as_its_config_class(compose_cfg):
    """The registry holds exactly the methods conf/method/ has a yaml for, and each yaml composes to
    its method's own config class: every key that class declares, and no other method's."""
    assert set(METHODS) == {p.stem for p in (CONF / "method").glob("[!_]*.yaml")}
    for name, cls in METHODS.items():
        cfg = compose_cfg(f"method={name}")
        assert OmegaConf.get_type(cfg.method) is cls.config, name
        assert list(cfg.method) == [f.name for f in fields(cls.config)], name

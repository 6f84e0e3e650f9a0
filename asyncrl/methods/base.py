"""The learner plug-in interface: what a method contributes to the one actor-learner runtime.

A method holds its targets, its loss and its action choice; the runtime owns the loop,
environments, parameter sync, the frame counter, the optimizer and the target network.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ..config import MethodCfg
from ..networks import Network, State


@dataclass
class Rollout:
    """One segment of experience from one actor-learner, s_0 .. s_T with T <= t_max.

    obs[T] is the state after the last action: the bootstrap state, or the final observation
    when the episode ended. Rollouts end at episode ends, so only the last step can be terminal.
    """

    obs: torch.Tensor  # (T+1, *obs_shape)
    actions: torch.Tensor  # (T,) int64; (T, action_dim) float32 for continuous actions (Method.action_buffer)
    rewards: List[float]  # (T,) learning rewards (clipped on Atari)
    terminated: bool  # s_T is terminal: no bootstrap
    truncated: bool  # the episode was cut at s_T by a time limit: bootstrap, then reset
    next_action: Optional[int] = None  # the action chosen in s_T (SARSA's a'), if the method asks
    state0: State = None  # recurrent state before obs[0], detached

    def __len__(self) -> int:
        return len(self.rewards)


class Method:
    """Base learner. Subclasses set the class flags and implement `act` and `loss`. A subclass that
    sets its own `name` in a module of asyncrl.methods is registered under it (asyncrl.methods)."""

    name = "base"
    aliases: Tuple[str, ...] = ()  # more names this class runs under, e.g. a3c_lstm (its yaml sets lstm)
    # the method's hyper-parameters: MethodCfg or a subclass of it, the schema its yaml names
    # (config.schema_name); `cfg` is a composed config of it
    config = MethodCfg
    value_head = True  # the network has a state-value output (actor-critic)
    policy_head = False  # the head gives pi (logits, or a Gaussian's mu and sigma^2): evaluation draws from pi or plays its mode (eval_sample)
    continuous_actions = False  # the action space the method takes: Box (True) or Discrete (False)
    sampled_eval_score = False  # evaluations also play as many episodes with sampled actions, scored apart
    # the runtime keeps a shared theta- refreshed every method.target_interval_frames frames (a key
    # the method's config declares, as ValueBasedConfig does)
    uses_target_net = False
    needs_next_action = False  # the method chooses a' in s_T and executes it next (end_rollout, carried_action)
    stat_keys: Tuple[str, ...] = ()  # the per-rollout statistics `loss` returns (metrics.csv columns)

    def __init__(self, cfg, n_actions: int, rank: int, seed: int):
        self.cfg = cfg
        self.n_actions = n_actions
        self.rank = rank
        # reproducible per actor-learner: (seed, rank) fixes every random draw of this learner
        self.rng = np.random.default_rng([seed, rank])

    @classmethod
    def validate(cls, method_cfg, env_cfg) -> None:
        """Refuse options this method cannot run with: a ValueError whose message is one line for
        the user. Default: the config has the keys of the method's config class (a class given as
        method.name=pkg.module:Class runs on the config of the method=<yaml> it is composed with), the
        env's action space is the kind the method takes (continuous_actions), and an LSTM core only
        where the runtime carries no second network state (no theta-, no a')."""
        from ..envs_continuous import CONTINUOUS_KINDS

        name, game = method_cfg.name, env_cfg.game
        needed = [f.name for f in fields(cls.config)] + ["target_interval_frames"] * cls.uses_target_net
        missing = [key for key in dict.fromkeys(needed) if key not in method_cfg]
        if missing:
            keys = ", ".join(f"method.{key}" for key in missing)
            raise ValueError(f"method '{name}' reads {keys}, which this config does not have: compose it on a "
                             f"method whose config has {'them' if len(missing) > 1 else 'it'} "
                             f"(method=<that method> method.name={name})")
        continuous = env_cfg.kind in CONTINUOUS_KINDS
        if continuous and not cls.continuous_actions:
            raise ValueError(f"method '{name}' takes discrete actions; env '{game}' has continuous ones "
                             "(use method=a3c_continuous)")
        if cls.continuous_actions and not continuous:
            raise ValueError(f"method '{name}' takes continuous actions; env '{game}' has discrete ones")
        if method_cfg.lstm and (cls.needs_next_action or cls.uses_target_net):
            # the paper's LSTM agent is A3C; a value-based target would need theta-'s own carried state
            raise ValueError(f"method '{name}' does not support an LSTM core (method.lstm=true is for a3c only)")

    @classmethod
    def build_network(cls, method_cfg, env_cfg, obs_shape, n_actions):
        """The network this method learns with (n_actions: the action dimension for a Box)."""
        return Network(
            obs_shape,
            n_actions,
            torso=method_cfg.network or env_cfg.network,
            value_head=cls.value_head,
            lstm_size=method_cfg.lstm_size if method_cfg.lstm else 0,
            mlp_hidden=tuple(method_cfg.mlp_hidden),
        )

    def bind(self, local, shared_model) -> None:
        """Called once per actor-learner, before its first rollout, with its local network and the
        shared model (e.g. to use shared statistics that are not parameters). Default: nothing."""

    def action_buffer(self, t_max: int) -> torch.Tensor:
        """The buffer a rollout's actions are written into, one row per step."""
        return torch.empty(t_max, dtype=torch.long)

    def act(self, out: torch.Tensor, frames: int) -> int:
        """Training action from the network's head output for one state, at global frame T."""
        raise NotImplementedError

    def new_episode(self) -> None:
        """Called when the actor-learner's environment starts a new game (after a reset)."""

    def carried_action(self):
        """Called at the start of every rollout: an action to execute first, without a forward of
        s_0 (one this method chose at the end of the last rollout), or None to act from the
        network as at every other step. Default: None."""
        return None

    def end_rollout(self, net: Network, obs_last: torch.Tensor, state: State, frames: int, terminal: bool):
        """Called after acting, under no_grad, with the rollout's last state s_T (a batch-1 view),
        the recurrent state after the last forward, T and whether s_T is terminal. Returns what
        the loss sees as `Rollout.next_action`. Default: None."""
        return None

    def act_eval(self, out: torch.Tensor) -> int:
        """Evaluation action."""
        raise NotImplementedError

    def loss(
        self, net: Network, target_net: Optional[Network], rollout: Rollout
    ) -> Tuple[torch.Tensor, Dict[str, float]]:
        """Scalar loss whose gradient w.r.t. net's parameters is the paper's accumulated d(theta)."""
        raise NotImplementedError


def build_network(method_cls, method_cfg, env_cfg, obs_shape, n_actions) -> Network:
    return method_cls.build_network(method_cfg, env_cfg, obs_shape, n_actions)

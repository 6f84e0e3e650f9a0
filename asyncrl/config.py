"""Config schema: dataclasses registered in Hydra's ConfigStore; the values live in conf/*.yaml.

The schema makes a typo fail at start (``method.lrr=1`` -> "Key 'lrr' not in 'A3CConfig'") and
types checked (``threads=x`` -> not an int). Frames are the unit of every budget and interval
(frames = agent steps x frame skip); the runtime converts to agent steps once.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


@dataclass
class EnvCfg:
    kind: str = MISSING  # "atari" | "cartpole" | "toy" | continuous: "mujoco" | "dm_control" | "toy_continuous"
    game: str = MISSING  # ALE rom id (e.g. breakout), gymnasium id, or toy name
    gym_id: str = ""  # mujoco / dm_control: the gymnasium id (e.g. InvertedPendulum-v5)
    frame_skip: int = 4  # emulator frames per agent step (1 for vector envs)
    noop_max: int = 30  # up to this many no-op actions after reset (training and evaluation)
    screen_size: int = 84  # observations are screen_size x screen_size grayscale
    frame_stack: int = 4  # most recent observations stacked as channels
    clip_rewards: bool = True  # learning reward clipped to [-1, 1]; reported scores stay raw
    repeat_action_probability: float = 0.0  # sticky actions; 0 is the 2016 protocol
    max_episode_frames: int = 108_000  # 30 minutes of emulator time; hitting it truncates
    full_action_space: bool = False  # 18 actions instead of the game's minimal set
    terminal_on_life_loss: bool = False  # a lost life ends the learning episode (no bootstrap, LSTM
    #                                      reset) while the game goes on; scores stay whole games
    fire_reset: bool = False  # press FIRE after a reset and a lost life (set per game in conf/env/
    #                           for the games that wait for it: tools/fire_games.py)
    backend: str = "gymnasium"  # Atari path: "gymnasium" wrappers, "lean" (ALE directly) or "vector" (ale-py's C++ vector env: releases the GIL, for runtime=thread)
    length: int = 8  # toy env: corridor length
    max_steps: int = 30  # toy and continuous-control envs: steps before truncation
    default_total_frames: int = 320_000_000  # budget when total_frames is not given
    # the learning-rate horizon runs on this env get unless they set method.lr_anneal_frames
    # (None: each run's own total_frames)
    lr_anneal_frames: Optional[int] = None
    network: str = "small"  # torso for this env: small | nature | mlp


@dataclass
class MethodCfg:
    """The keys every method has: the ones the runtime reads (network, optimizer, schedule, rollout).
    A method declares its own hyper-parameters in a subclass, in its own module (e.g. A3CConfig in
    asyncrl/methods/a3c.py), registered as the Hydra schema its conf/method/*.yaml names."""

    name: str = MISSING  # registry key: a3c | a3c_lstm | one_step_q | one_step_sarsa | n_step_q | ...
    network: Optional[str] = None  # torso override: small | nature | mlp (None: the env's choice)
    lstm: bool = False  # 256 LSTM cells after the last hidden layer (A3C LSTM)
    lstm_size: int = 256
    mlp_hidden: List[int] = field(default_factory=lambda: [64, 64])  # mlp torso widths
    lr: float = 7e-4  # initial learning rate, annealed linearly to 0 at lr_anneal_frames
    # the learning-rate horizon in frames: the rate reaches 0 here, whatever the run's budget, so
    # a run shorter than it is the beginning of a longer one (None: total_frames). conf/config.yaml
    # takes the env's default (env.lr_anneal_frames: the paper's 320M frames on Atari)
    lr_anneal_frames: Optional[int] = None
    gamma: float = 0.99  # discount
    t_max: int = 5  # rollout length (n-step methods) / I_AsyncUpdate (one-step methods)
    optimizer: str = "shared_rmsprop"  # shared_rmsprop | rmsprop (per actor-learner) | momentum_sgd
    rmsprop_alpha: float = 0.99  # RMSProp decay; also the momentum of momentum_sgd
    rmsprop_eps: float = 0.1  # inside the square root: theta -= lr * g / sqrt(G + eps)
    max_grad_norm: float = 40.0  # clip the rollout's gradient to this global norm (<= 0: off)


@dataclass
class EvalCfg:
    interval_frames: int = 4_000_000  # evaluate every this many global frames (<= 0: only at the end)
    episodes: int = 10  # whole games per evaluation, each after up to noop_max no-ops
    final: bool = True  # always run a final evaluation after training (it replaces a periodic one due at the budget's end)
    # periodic evaluations run in their own process at this nice value (0: the actor-learners'
    # priority; 19: the lowest), so they take little from training; the final one runs at full speed
    nice: int = 10


@dataclass
class LoggerCfg:
    interval_s: float = 10.0  # seconds between metrics.csv rows
    progress: bool = True  # progress bar on a terminal (plain lines otherwise)
    wandb: bool = False  # also log to Weights & Biases (offline without network or key)
    wandb_project: str = "asyncrl"


@dataclass
class CheckpointCfg:
    interval_frames: int = 5_000_000  # write a checkpoint every this many frames (<= 0: end only)


@dataclass
class Config:
    method: Any = MISSING  # a MethodCfg subclass: the config class of the method its yaml names
    env: EnvCfg = MISSING
    threads: int = 2  # number of actor-learners (the paper's "threads")
    seed: int = 0
    total_frames: int = MISSING  # training budget in frames (frames = agent steps x frame skip)
    runtime: str = "process"  # process (one process per actor-learner, shared memory) | thread
    # pin actor-learner i to core i mod (the cores this process may use), with its vector env's C++
    # thread (which inherits the mask); the trainer and evaluator stay unpinned. Speed only
    pin_cores: bool = False
    resume: bool = True  # continue an unfinished run found in the run directory
    # end training (status completed; the final evaluation still plays) at the first periodic
    # evaluation whose mean reaches this score, e.g. a game "solved" (None: train to total_frames).
    # The run's model (checkpoint, final evaluation) is the snapshot that scored. The learning rate
    # keeps its schedule to total_frames. A run that stopped here continues when
    # its command asks for a higher score (inf: the whole budget)
    stop_at_score: Optional[float] = None
    eval: EvalCfg = field(default_factory=EvalCfg)
    logger: LoggerCfg = field(default_factory=LoggerCfg)
    checkpoint: CheckpointCfg = field(default_factory=CheckpointCfg)
    results_root: str = "runs"  # where run directories go (relative to the launch dir); results/runs holds the committed ones


def available_cores() -> int:
    """Cores this process may use: its CPU affinity (a SLURM or taskset allocation), not the node's."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cores(cap: Any = 16) -> int:
    """The default `threads`: the available cores, at most `cap`."""
    return max(1, min(int(cap), available_cores()))


# What defines a run: a run directory is resumed or skipped as completed only when its saved config
# agrees with the command on all of these. Whole subtrees (method, env) count, minus the keys that
# only change how a run is evaluated or reported.
RUN_IDENTITY = ("method", "env", "threads", "seed", "total_frames", "runtime")
NOT_IDENTITY = ("method.eval_epsilon", "method.eval_sample")
# Keys added after runs were written without them, with the value those runs had: such a run is
# compared as if it had recorded that value (an old run never silently changes its protocol).
LEGACY = {"env.terminal_on_life_loss": False, "env.fire_reset": False,
          "method.lr_anneal_frames": None, "method.epsilon.resample": "per_run"}
# Keys whose value None means "the value of another key": compared by what they mean
SAME_AS = {"method.lr_anneal_frames": "total_frames"}


def identity_differences(saved: dict, current: dict) -> List[str]:
    """Dotted keys that define a run and differ between two resolved configs (plain dicts), as
    "key: saved -> current". A key missing from `saved` (a run written before the key existed)
    is not a difference, nor one missing from `current`: a saved config may hold keys the method
    does not declare (e.g. the value-based `method.epsilon` in an A3C run)."""

    def flat(d, prefix=""):
        out = {}
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                out.update(flat(v, key + "."))
            else:
                out[key] = v
        return out

    pick = lambda d: {k: v for k, v in d.items() if k in RUN_IDENTITY}  # noqa: E731
    old, new = flat(pick(saved)), flat(pick(current))
    if "env" in saved:
        old = {**{k: v for k, v in LEGACY.items() if k not in old}, **old}
    for d in (old, new):
        for key, other in SAME_AS.items():
            if key in d and d[key] is None:
                d[key] = d.get(other)
    diffs = []
    for key, value in new.items():
        if key in NOT_IDENTITY or key not in old:
            continue
        before = old[key]
        same = before == value or (
            isinstance(before, (int, float)) and isinstance(value, (int, float)) and float(before) == float(value)
        )
        if not same:
            diffs.append(f"{key}: {before!r} -> {value!r}")
    return diffs


def _loguniform(low: Any, high: Any, seed: Any) -> float:
    """A draw from LogUniform(low, high) fixed by `seed` (Fig 2's per-run learning rate), rounded
    to 5 significant digits so it reads well in a run directory name: ${loguniform:1e-4,1e-2,${seed}}."""
    import math

    import numpy as np

    lo, hi = math.log(float(low)), math.log(float(high))
    u = np.random.default_rng([int(seed), 0x10C0]).random()  # own stream, apart from the run's seeds
    return float(f"{math.exp(lo + u * (hi - lo)):.5g}")


def schema_name(config_cls: type) -> str:
    """The name a method's config class is stored under in Hydra's `method` group, which its yaml's
    defaults list names: `<module>_schema` for the module that defines it (a3c_schema for A3CConfig
    in asyncrl/methods/a3c.py), `schema` for MethodCfg itself."""
    if config_cls is MethodCfg:
        return "schema"
    return f"{config_cls.__module__.rpartition('.')[2]}_schema"


def store_method_config(config_cls: type) -> None:
    """Register a method's config class as the schema `schema_name(config_cls)` of group `method`."""
    ConfigStore.instance().store(group="method", name=schema_name(config_cls), node=config_cls)


def register() -> None:
    """Register the schema and resolvers once; safe to call repeatedly. The methods' own config
    classes are registered by asyncrl.methods, which finds them (imported here, after this module's
    classes exist, since the method modules subclass MethodCfg)."""
    if not OmegaConf.has_resolver("cores"):
        OmegaConf.register_new_resolver("cores", _cores)
    if not OmegaConf.has_resolver("loguniform"):
        OmegaConf.register_new_resolver("loguniform", _loguniform)
    cs = ConfigStore.instance()
    cs.store(name="schema", node=Config)
    store_method_config(MethodCfg)
    cs.store(group="env", name="schema", node=EnvCfg)
    importlib.import_module(".methods", __package__)


register()

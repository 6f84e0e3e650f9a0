"""What a run's checkpoint holds and how a run continues from it (the file itself: asyncrl.checkpoint)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from omegaconf import OmegaConf

from .. import checkpoint as ckpt_file


def restore(ck: Dict[str, Any], path: Path, model, target, stats: List[torch.Tensor], optimizer: str,
            total_frames: int) -> Tuple[int, float]:
    """Load theta, theta- and the shared statistics of `ck` (read from `path`) into the run's
    tensors; returns T in frames and the training wall time the run continues from."""
    # every tensor must fit before any is copied: e.g. a per-actor optimizer's checkpoint
    # resumed as shared_rmsprop would start the shared statistics at zero silently (the CLI
    # refuses a changed method.optimizer first); CheckpointError names the file and the misfit
    ckpt_file.check_fits(ck, path, model, target, stats, optimizer)
    model.load_state_dict(ck["model"])
    if target is not None and ck.get("target") is not None:
        target.load_state_dict(ck["target"])
    for s, saved in zip(stats, list(ck.get("stats") or [])):
        s.copy_(saved)
    if ck.get("total_frames", total_frames) != total_frames:
        print(f"[asyncrl] warning: resuming a run trained for total_frames={ck['total_frames']} with "
              f"total_frames={total_frames}: the learning-rate schedule changes", file=sys.stderr)
    return int(ck["frames"]), float(ck["wall_time_s"])


def payload(model, target, stats: List[torch.Tensor], *, cfg, frames: int, frame_skip: int, total_frames: int,
            lr_horizon: int, lr: float, wall: float, evaluations: Dict[str, Any],
            ) -> Dict[str, Any]:
    """Everything a resumed run continues from. The schedules need nothing else: the learning
    rate is linear_lr(lr, T, lr_horizon) and each actor-learner's eps is a function of T and
    of its final eps, which is drawn again from (seed, actor index) at start. T (`frames`,
    restored into the frame budget) therefore continues every schedule where it stopped. Not
    kept: per-actor optimizer statistics (optimizer=rmsprop/momentum_sgd restart at zero),
    environments and episodes in progress, and the random streams (they restart from their
    seeds), so a resumed run is not bit-identical to an uninterrupted one. `evaluations`:
    Evaluations.checkpoint_state (the recorded evaluations and the pending ones)."""
    return {
        "model": model.state_dict(),
        "target": target.state_dict() if target is not None else None,
        "stats": list(stats),
        "frames": frames,  # T in frames (= agent steps x frame_skip)
        "steps": frames // frame_skip,  # T in agent steps
        "total_frames": total_frames,  # the budget
        "lr_anneal_frames": lr_horizon,  # the LR reaches 0 here
        "lr": lr,  # the LR at T (informative)
        "seed": int(cfg.seed),
        "wall_time_s": wall,  # training wall time so far; a resumed run adds its own to it
        **evaluations,
        "config": OmegaConf.to_container(cfg, resolve=True),
    }


def finite(model: Optional[torch.nn.Module]) -> bool:
    """Whether every parameter of `model` is finite (a checkpoint of non-finite ones is not written)."""
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())

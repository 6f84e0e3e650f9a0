"""The optional Weights & Biases mirror of a run's metrics."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict


class WandbLogger:
    """Optional Weights & Biases mirror of metrics.csv; offline when there is no key or network."""

    def __init__(self, enabled: bool, project: str, run_dir: Path, config: Dict[str, Any], name: str):
        self.run = None
        if not enabled:
            return
        try:
            import wandb
        except ImportError:
            print("asyncrl: logger.wandb=true but wandb is not installed (pip install 'asyncrl[wandb]'); logging locally only")
            return
        mode = "online" if os.environ.get("WANDB_API_KEY") else "offline"
        self.run = wandb.init(project=project, dir=str(run_dir), config=config, name=name, mode=os.environ.get("WANDB_MODE", mode), reinit=True)

    def log(self, row: Dict[str, Any]) -> None:
        if self.run is not None:
            self.run.log({k: v for k, v in row.items() if v is not None and v != ""}, step=int(row.get("frames", 0)))

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()

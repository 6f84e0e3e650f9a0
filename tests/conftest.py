import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests/fakes.py is importable as tests.fakes, in spawned children too


@pytest.fixture
def compose_cfg():
    """Compose the real config (conf/) with overrides, as the CLI would, without running Hydra's job."""
    import asyncrl.config  # noqa: F401  (schema and resolvers)
    from hydra import compose, initialize_config_dir

    def _compose(*overrides):
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            return compose("config", overrides=list(overrides))

    return _compose


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

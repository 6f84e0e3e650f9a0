"""checkpoint.pt: what a run resumes from and what scripts/evaluate.py plays.

A checkpoint holds plain data only: tensors, numbers, strings, booleans, None, lists, tuples and
dicts. `save` converts anything else it is handed (an OmegaConf node, a numpy scalar or array, a
dataclass, a path) to that, and writes the file atomically. `load` reads it with PyTorch's
weights-only unpickler, which builds those types and nothing else: a file that would import or
call anything (a pickle crafted to run a command when loaded) is refused before any of it runs.
Every way a file can be unusable (empty, cut short, damaged, not a checkpoint, another layout,
tensors of another network) is a CheckpointError whose message names the file and the problem.
"""

from __future__ import annotations

import dataclasses
import io
import re
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

from . import results

ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes a zip archive


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; str() is `<path>: <problem>`."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = Path(path), problem


# ---- saving --------------------------------------------------------------------------------------
def plain(x: Any, where: str = "checkpoint") -> Any:
    """`x` as plain data (see the module's docstring); TypeError for a value with no plain form."""
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        # a copy: the actor-learners keep writing the shared tensors while a periodic checkpoint is
        # made, and torch's zip writer reads a tensor twice (its checksum, then its bytes), so the
        # live storage can be written with a checksum of other bytes, a file no loader accepts
        return x.detach().clone()
    if x is None or type(x) in (bool, int, float, str):
        return x
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy())
    for base in (bool, int, float, str):  # subclasses (an IntEnum) would pickle their class
        if isinstance(x, base):
            return base(x)
    if isinstance(x, Path):
        return str(x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return plain(dataclasses.asdict(x), where)
    from omegaconf import OmegaConf

    if OmegaConf.is_config(x):
        return plain(OmegaConf.to_container(x, resolve=True), where)
    if isinstance(x, dict):
        out = {plain(k, where): plain(v, f"{where}[{k!r}]") for k, v in x.items()}
        if isinstance(x, OrderedDict):  # a state_dict: keep its type and its per-module versions
            out = OrderedDict(out)
            if hasattr(x, "_metadata"):
                out._metadata = plain(x._metadata, where)
        return out
    if isinstance(x, (list, tuple)):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(x)]
        return items if isinstance(x, list) else tuple(items)
    raise TypeError(f"{where} is a {type(x).__module__}.{type(x).__qualname__}, which has no plain-data form")


def save(path: Path, payload: Dict[str, Any]) -> None:
    """Write `payload` (as plain data) to `path` atomically: readers, and a resume, see the old or
    the new file, never a part. The bytes are made in memory first, so a full disk is an OSError of
    the file's write (results.WriteFailed), not an error inside torch's writer."""
    import torch

    buf = io.BytesIO()
    torch.save(plain(payload), buf)
    results.atomic_write_bytes(Path(path), buf.getvalue())


# ---- loading -------------------------------------------------------------------------------------
def load(path: Path) -> Optional[Dict[str, Any]]:
    """The checkpoint at `path` (None if there is none); CheckpointError if it cannot be used."""
    path = Path(path)
    if not path.exists():
        return None
    _check_archive(path)
    ck = _unpickle(path)
    problems = layout_problems(ck)
    if problems:
        raise CheckpointError(path, f"is not in the layout this asyncrl reads ({'; '.join(problems)})")
    return ck


def _check_archive(path: Path) -> None:
    """Refuse a file that is not a whole PyTorch archive, before torch reads any of it."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
        size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(path, f"cannot be read ({exc.strerror or exc})") from None
    if size == 0:
        raise CheckpointError(path, "is empty (0 bytes)")
    if head != ZIP_MAGIC:
        raise CheckpointError(path, "is not a checkpoint (a checkpoint.pt is a PyTorch zip archive; this file is not one)")
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()  # every entry's CRC: a damaged byte anywhere shows here
    except (zipfile.BadZipFile, OSError, EOFError):
        raise CheckpointError(path, f"is cut short or damaged ({size:,} bytes, no complete zip archive: "
                                    "a write or copy that stopped part-way)") from None
    if bad is not None:
        raise CheckpointError(path, f"is damaged (its entry {bad} fails its checksum)")


def _unpickle(path: Path) -> Any:
    import pickle

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on an unusual pickle protocol
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        what = f"a reference to {found.group(1)}" if found else "pickle instructions beyond plain data"
        raise CheckpointError(path, f"holds {what}, which a checkpoint may not hold (only tensors, numbers, strings, "
                                    "lists and dicts): refused, and nothing in it was run") from None
    except Exception as exc:  # torch's reader on a well-formed archive of something else
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(path, f"cannot be read as a checkpoint ({type(exc).__name__}: {first[:200]})") from None


def _is_state(x: Any) -> bool:
    import torch

    return isinstance(x, dict) and bool(x) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                                   for k, v in x.items())


def layout_problems(ck: Any) -> List[str]:
    """What makes `ck` something other than a checkpoint this version reads (empty: nothing)."""
    import torch

    if not isinstance(ck, dict):
        return [f"it holds a {type(ck).__name__}, not a dict"]
    problems = [f"no '{k}'" for k in ("model", "frames", "wall_time_s") if k not in ck]
    checks = [
        ("model", _is_state),
        ("frames", lambda v: type(v) is int and v >= 0),
        ("wall_time_s", lambda v: type(v) in (int, float)),
        ("target", lambda v: v is None or _is_state(v)),
        ("stats", lambda v: v is None or (isinstance(v, list) and all(isinstance(t, torch.Tensor) for t in v))),
        ("evals", lambda v: isinstance(v, list) and all(isinstance(e, dict) for e in v)),
        ("pending_evals", lambda v: isinstance(v, list) and all(
            isinstance(e, dict) and _is_state(e.get("model")) and {"frames", "wall_time_s", "seed"} <= set(e)
            for e in v)),
        ("config", lambda v: v is None or isinstance(v, dict)),
    ]
    problems += [f"'{k}' is not what it should be" for k, ok in checks if k in ck and not ok(ck[k])]
    return problems


# ---- fitting a network ---------------------------------------------------------------------------
def _shape_problems(name: str, saved: Dict[str, Any], wanted: Dict[str, Any]) -> List[str]:
    problems = [f"{name} lacks {k}" for k in wanted if k not in saved]
    problems += [f"{name} has {k}, which this run's network does not" for k in saved if k not in wanted]
    problems += [f"{name}.{k} is {list(saved[k].shape)} in the file, {list(v.shape)} in this run's network"
                 for k, v in wanted.items() if k in saved and tuple(saved[k].shape) != tuple(v.shape)]
    return problems


def check_fits(ck: Dict[str, Any], path: Path, model, target=None, stats: Iterable = (),
               optimizer: Optional[str] = None) -> None:
    """CheckpointError unless every tensor of `ck` fits this run: theta (and every pending
    evaluation's snapshot of it) `model`'s state, theta- `target`'s, and the shared optimizer
    statistics one per parameter of `stats` (their number is the optimizer's: `optimizer` names it)."""
    wanted = model.state_dict()
    problems = _shape_problems("model", ck["model"], wanted)
    if target is not None and ck.get("target") is not None:
        problems += _shape_problems("target", ck["target"], target.state_dict())
    for e in ck.get("pending_evals") or []:
        problems += _shape_problems("a pending evaluation's model", e["model"], wanted)
    stats, saved = list(stats), list(ck.get("stats") or [])
    if len(saved) != len(stats):
        needs = f" (method.optimizer={optimizer})" if optimizer else ""
        problems.append(f"it holds {len(saved)} shared optimizer statistics, this run needs {len(stats)}{needs}")
    else:
        problems += [f"shared optimizer statistic {i} is {list(a.shape)} in the file, {list(b.shape)} here"
                     for i, (a, b) in enumerate(zip(saved, stats)) if tuple(a.shape) != tuple(b.shape)]
    if problems:
        raise CheckpointError(path, f"does not fit this run's network: {'; '.join(_first(problems))}")


def _first(problems: List[str], n: int = 3) -> Tuple[str, ...]:
    return tuple(problems[:n]) + ((f"and {len(problems) - n} more",) if len(problems) > n else ())

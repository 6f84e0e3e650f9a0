"""The run directory's files, and the only code that writes them (atomically; `asyncrl.logger` fills
them while a run trains).

    <run dir>/config.yaml     resolved config
    <run dir>/summary.json    status, budget, speed, evaluations, versions (rewritten atomically)
    <run dir>/metrics.csv     one row per logging interval: frames, wall time, frames/s, losses
    <run dir>/episodes.csv    one row per finished training game: frames, wall time, actor, raw score
    <run dir>/checkpoint.pt   model, target net, optimizer statistics, T (asyncrl.checkpoint)
Plain CSV/JSON so scripts/make_tables.py reads runs without Hydra or torch. A write that fails (a
full disk) raises WriteFailed and leaves the file as it was, but for a CSV row cut short, which
`CsvLog.truncate_after` drops when the run resumes.
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

EPISODE_COLUMNS = ["frames", "wall_time_s", "actor", "score", "length"]
# active_min: the share of ReLU outputs > 0 in the network's least active layer (networks.min_active_share);
# ~1e-6 means its units died and it can no longer learn (logger.py warns).
# other_load: cores' worth of CPU used by processes other than the run's during the row's interval
# (runtime/load.py); ~0 on an idle machine, empty where it cannot be measured (not Linux)
METRIC_COLUMNS = ["frames", "wall_time_s", "frames_per_s", "episodes", "score_mean", "lr", "loss", "grad_norm",
                  "active_min", "other_load"]


def _tmp_path(path: Path) -> Path:
    """A temporary name of this process and thread only: two writers of one file (the evaluation
    thread and the trainer, or a second process) never share, truncate or rename each other's."""
    return path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")


class WriteFailed(OSError):
    """A run file could not be written (e.g. ENOSPC: the disk is full); names the file and why."""

    def __init__(self, path: Path, exc: OSError):
        super().__init__(exc.errno, exc.strerror or str(exc), str(path))

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def _write_file(f, data) -> None:
    """Every byte of a run file goes through here: `data` to the open file `f`, flushed to the OS."""
    f.write(data)
    f.flush()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a temporary file, fsync, rename. Readers see the old or the new
    file, never a part; a failed write removes its temporary file and raises WriteFailed."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with open(tmp, "wb") as f:
            _write_file(f, data)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteFailed(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


class RunDirInUse(RuntimeError):
    """Another process is training in this run directory."""


class RunDirLock:
    """An exclusive lock on a run directory for the life of a run (flock on `<run dir>/.lock`).

    Two commands that name the same run directory (the same method, env, threads and seed) would
    interleave their CSV rows and overwrite each other's summary and checkpoint: the second one is
    refused instead. The kernel drops the lock when the process dies, even by SIGKILL, so a killed
    run never leaves a stale lock behind."""

    def __init__(self, run_dir: Path):
        self.path = Path(run_dir) / ".lock"
        self._f = None

    def acquire(self) -> "RunDirLock":
        import fcntl

        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise RunDirInUse(f"{self.path.parent} is in use by another asyncrl run (pid {holder})") from None
        f.seek(0)
        f.truncate()
        f.write(f"{os.getpid()}\n")
        f.flush()
        self._f = f
        return self

    def release(self) -> None:
        if self._f is not None:
            self.path.unlink(missing_ok=True)
            self._f.close()  # closing drops the flock
            self._f = None


def write_json(path: Path, data: Dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _jsonable(x):
    if hasattr(x, "item"):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x)}")


class CsvLog:
    """Append-only CSV with a fixed header; `truncate_after` drops rows past a resumed T."""

    def __init__(self, path: Path, columns: List[str]):
        self.path, self.columns = Path(path), list(columns)
        if not self.path.exists() or self.path.stat().st_size == 0:
            _rewrite_csv(self.path, [self.columns])
        else:
            with open(self.path, newline="") as f:
                header = next(csv.reader(f), None)
            if header != self.columns:
                if not header or not set(header) < set(self.columns):
                    raise ValueError(f"{self.path} has columns {header}, expected {self.columns}")
                self._widen(header)  # a run resumed by a version that logs more columns
        self._f = open(self.path, "a", newline="")

    def _widen(self, header: List[str]) -> None:
        """Rewrite the file (atomically) with this log's columns; the old rows keep their values
        under their names and leave the new columns empty."""
        with open(self.path, newline="") as f:
            rows = list(csv.DictReader(f))
        _rewrite_csv(self.path, [self.columns] + [[r.get(c) or "" for c in self.columns] for r in rows])

    def write(self, row: Dict[str, Any]) -> None:
        buf = io.StringIO()
        csv.DictWriter(buf, self.columns, extrasaction="ignore").writerow({k: _fmt(v) for k, v in row.items()})
        try:
            _write_file(self._f, buf.getvalue())
        except OSError as exc:
            raise WriteFailed(self.path, exc) from None

    def replace_last(self, row: Dict[str, Any]) -> None:
        """Rewrite the last row (atomically, the whole file): a T's row that late reports join."""
        self._f.close()
        with open(self.path, newline="") as f:
            rows = list(csv.reader(f))
        if len(rows) < 2:
            raise ValueError(f"{self.path} has no row to replace")
        rows[-1] = [_fmt(row.get(c, "")) for c in self.columns]
        _rewrite_csv(self.path, rows)
        self._f = open(self.path, "a", newline="")

    def close(self) -> None:
        self._f.close()

    @staticmethod
    def truncate_after(path: Path, frames: int) -> None:
        """Keep the header and the rows with frames <= `frames` (rows logged after a checkpoint
        are replayed by the resumed run, so keeping them would count them twice), and drop a row
        with fewer fields than the header (a write cut short, e.g. by a full disk)."""
        path = Path(path)
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows:
            return
        header, body = rows[0], rows[1:]
        i = header.index("frames")
        kept = [r for r in body if len(r) == len(header) and float(r[i]) <= frames]
        _rewrite_csv(path, [header] + kept)


def _rewrite_csv(path: Path, rows: List[List[Any]]) -> None:
    """Replace a CSV file with these rows (header first), atomically (atomic_write_text)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


def versions(git_commit: Optional[str] = None) -> Dict[str, Optional[str]]:
    """The Python and package versions a run uses, and the git commit of its code (`git_commit`,
    from its fingerprint: asyncrl.fingerprint)."""
    from importlib.metadata import PackageNotFoundError, version

    out: Dict[str, Optional[str]] = {"python": platform.python_version()}
    for pkg in ("asyncrl", "torch", "gymnasium", "ale-py", "hydra-core", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["git_commit"] = git_commit
    return out


def cpu(cpuinfo: str | Path = "/proc/cpuinfo") -> Optional[str]:
    """The host's processor as "model name, cache size" from /proc/cpuinfo (e.g. "AMD EPYC, 512 KB
    cache"), else platform.processor(), else None: wall-clock figures (training hours, frames/s,
    benchmarks) hold for the host they were taken on, so summaries and benchmarks name it."""
    fields: Dict[str, str] = {}
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("model name", "cache size") and value.strip():
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    if "model name" in fields:
        return fields["model name"] + (f", {fields['cache size']} cache" if "cache size" in fields else "")
    return platform.processor() or None


def _segments(entries: List[Dict[str, Any]], start_frames: int, start_wall: float, current: Dict[str, Any],
              same) -> List[Dict[str, Any]]:
    """A run's history of one thing it trained under (a machine, a code version): `entries` as the
    resumed run left them, without those of frames past its checkpoint (`start_frames`, which the
    run trains again), and a new entry for `current` from the checkpoint's T and training time
    unless `same(last entry, current)`."""
    kept = [e for e in entries if int(e["from_frames"]) < start_frames] if start_frames > 0 else []
    if not kept or not same(kept[-1], current):
        kept.append({**current, "from_frames": int(start_frames), "from_wall_s": round(float(start_wall), 3)})
    return kept


def host_history(previous: Optional[Dict[str, Any]], start_frames: int, start_wall: float,
                 host: Optional[str]) -> List[Dict[str, Any]]:
    """summary.json's ``hosts``: the machines a run trained on, in order, each as the processor
    (`cpu`) and the T and training time at which it took over (``from_frames``, ``from_wall_s``).
    A run resumed on another machine gets a new entry; wall-clock figures of a run with several
    mix their speeds. `previous` is the summary the resumed run left (None: a new run); the entries
    of frames it trained past its checkpoint (`start_frames`), which the run trains again, go. A
    summary from before this field gives one entry: its own processor from T = 0."""
    hosts = []
    if previous:
        hosts = previous.get("hosts") or [{"cpu": previous.get("cpu"), "from_frames": 0, "from_wall_s": 0.0}]
    return _segments(hosts, start_frames, start_wall, {"cpu": host}, lambda a, b: a["cpu"] == b["cpu"])


CODE_KEYS = ("git_commit", "source", "conf")  # a code version (asyncrl.fingerprint.fingerprint)


def same_code(a: Dict[str, Any], b: Dict[str, Any]) -> bool:
    """Two code versions are the same code when their package and conf hashes are (the commit may
    differ by commits that changed no code, e.g. of results); an unrecorded one is no known code."""
    return a.get("source") is not None and (a.get("source"), a.get("conf")) == (b.get("source"), b.get("conf"))


def code_history(previous: Optional[Dict[str, Any]], start_frames: int, start_wall: float,
                 code: Dict[str, Optional[str]]) -> List[Dict[str, Any]]:
    """summary.json's ``code``: the code versions a run trained under, in order, each as its
    fingerprint (CODE_KEYS) and the T and training time at which it took over (as host_history).
    A summary from before this field gives one entry of unrecorded code (source and conf None, its
    recorded git_commit) from T = 0."""
    entries = []
    if previous:
        entries = previous.get("code") or [{"git_commit": (previous.get("versions") or {}).get("git_commit"),
                                            "source": None, "conf": None, "from_frames": 0, "from_wall_s": 0.0}]
    return _segments(entries, start_frames, start_wall, {k: code.get(k) for k in CODE_KEYS}, same_code)


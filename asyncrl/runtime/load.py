"""How busy the machine is with work that is not this run's: the ``other_load`` of metrics.csv.

Wall-clock figures (frames/s, training hours, time to a score) hold only for the load a run met.
A run that shared its cores with tests, a CI run or another training run says so itself: each
metrics row records the cores' worth of CPU that processes other than the run's used during that
row's interval, from the machine's busy time (``/proc/stat``) minus the run's own CPU time (the
trainer process and all its descendants: actor-learners, the evaluation process). An idle machine
reads ~0; a second 2-actor-learner run beside it, ~2. Linux only: elsewhere it is None, and the
column stays empty.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_busy_s(stat: str | Path = "/proc/stat") -> Optional[float]:
    """CPU seconds the whole machine has been busy, summed over its cores (``/proc/stat``: user,
    nice, system, irq, softirq; not idle, iowait or steal); None where it cannot be read."""
    try:
        with open(stat) as f:
            fields = f.readline().split()
        user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[1:8])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq) / _TICK


def proc_stats(proc: Path) -> Dict[int, Tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used: utime + stime) of every process ``proc`` lists."""
    out = {}
    for d in proc.iterdir():
        if not d.name.isdigit():
            continue
        try:
            text = (d / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        # "pid (comm) state ppid ... utime stime ...": comm may hold spaces and parentheses
        fields = text[text.rfind(")") + 2:].split()
        try:
            out[int(d.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK)
        except (IndexError, ValueError):
            continue
    return out


def children(stats: Dict[int, Tuple[int, float]]) -> Dict[int, list]:
    """parent pid -> its child pids, from :func:`proc_stats`: to walk a process tree."""
    kids: Dict[int, list] = {}
    for pid, (parent, _) in stats.items():
        kids.setdefault(parent, []).append(pid)
    return kids


def tree_cpu_s(pid: Optional[int] = None, proc: str | Path = "/proc") -> Optional[float]:
    """CPU seconds used by process ``pid`` (default: this one) and every live descendant, plus, for
    this process, the children it has already waited for. None where ``proc`` cannot be read."""
    pid = os.getpid() if pid is None else pid
    try:
        stats = proc_stats(Path(proc))
    except OSError:
        return None
    if pid not in stats:
        return None
    kids = children(stats)
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        total += stats[p][1]
        todo += kids.get(p, [])
    if pid == os.getpid():
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += waited.ru_utime + waited.ru_stime
    return total


def other_load(busy0, busy1, own0, own1, elapsed) -> Optional[float]:
    """Cores' worth of CPU used by processes other than ours over ``elapsed`` seconds: the machine's
    busy CPU seconds minus our own, clipped at 0 (the two counters tick apart). None when either
    counter could not be read or no time passed."""
    if None in (busy0, busy1, own0, own1) or elapsed <= 0:
        return None
    return max(0.0, (busy1 - busy0) - (own1 - own0)) / elapsed


class OtherLoad:
    """``other_load`` between successive calls of :meth:`since_last`, for the run of this process
    (the trainer) and its descendants."""

    def __init__(self, clock=time.monotonic, busy=machine_busy_s, own=tree_cpu_s):
        self._clock, self._busy, self._own = clock, busy, own
        self._last = self._sample()

    def _sample(self):
        return self._clock(), self._busy(), self._own()

    def since_last(self) -> Optional[float]:
        (t0, busy0, own0), now = self._last, self._sample()
        self._last = now
        return other_load(busy0, now[1], own0, now[2], now[0] - t0)

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
import time
from pathlib import Path
from typing import Optional

from .procs import tree_cpu_s

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

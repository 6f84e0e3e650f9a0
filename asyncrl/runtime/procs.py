"""The processes below a process: who they are, their CPU time, memory and command lines.

One place that walks process trees, on psutil. A process that exits while it is read counts as
gone: each function then answers as for a process that never was (an empty list, 0, "" or None),
never raises.
"""

from __future__ import annotations

import os
import resource
import sys
from typing import Iterable, List, Optional

import psutil

_GONE = (psutil.Error, OSError)  # NoSuchProcess, ZombieProcess, AccessDenied; a vanished /proc file


def children(pid: int) -> List[int]:
    """The direct children of ``pid``; [] when it is gone."""
    try:
        return [c.pid for c in psutil.Process(pid).children()]
    except _GONE:
        return []


def descendants(pid: int) -> List[int]:
    """Every process below ``pid``: children, their children, ...; [] when it is gone."""
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except _GONE:
        return []


def cpu_s(pid: int) -> Optional[float]:
    """CPU seconds used by process ``pid`` itself (user + system); None when it is gone."""
    try:
        t = psutil.Process(pid).cpu_times()
    except _GONE:
        return None
    return t.user + t.system


def tree_cpu_s(pid: Optional[int] = None) -> Optional[float]:
    """CPU seconds used by process ``pid`` (default: this one) and every live descendant, plus, for
    this process, the children it has already waited for. None when ``pid`` is gone."""
    pid = os.getpid() if pid is None else pid
    total = cpu_s(pid)
    if total is None:
        return None
    total += sum(filter(None, (cpu_s(c) for c in descendants(pid))))
    if pid == os.getpid():
        waited = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += waited.ru_utime + waited.ru_stime
    return total


def cmdline(pid: int) -> str:
    """The command line of ``pid``, its arguments joined by spaces; "" when it cannot be read."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except _GONE:
        return ""


def peak_rss_kb(pid: int) -> int:
    """The resident-set high-water mark of ``pid`` in KiB: Linux's VmHWM, which psutil does not
    report; elsewhere the current RSS (a maximum over polls stands in for the peak). 0 when gone."""
    if not sys.platform.startswith("linux"):
        try:
            return psutil.Process(pid).memory_info().rss // 1024
        except _GONE:
            return 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def private_kb(pid: int) -> int:
    """Memory only ``pid`` maps (its USS: private clean + private dirty pages) in KiB: what one more
    such process adds. 0 when gone or unreadable."""
    try:
        return psutil.Process(pid).memory_full_info().uss // 1024
    except _GONE:
        return 0


def alive(pids: Iterable[int]) -> List[int]:
    """The processes among ``pids`` that still run (zombies, which only await their parent, do not)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except _GONE:
            continue
    return out


def group(pgid: int) -> List[int]:
    """The running processes (not zombies) of process group ``pgid``."""
    out = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                out.append(p.pid)
        except _GONE:
            continue
    return out

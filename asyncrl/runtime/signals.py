"""The trainer's stop signals: SIGINT, SIGTERM and SIGUSR2 (SLURM's time-limit signal)."""

from __future__ import annotations

import signal
import threading
from typing import Any, Dict


def install_handlers(handler) -> Dict[int, Any]:
    """`handler` for SIGINT, SIGTERM and SIGUSR2 (main thread only); returns the handlers it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    sigs = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGUSR2] if hasattr(signal, "SIGUSR2") else [])
    return {s: signal.signal(s, handler) for s in sigs}


def restore_handlers(old: Dict[int, Any]) -> None:
    for s, h in old.items():
        if h is not None:
            signal.signal(s, h)

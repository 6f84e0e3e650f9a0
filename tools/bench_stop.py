"""How fast Ctrl-C / SIGTERM stops a run: every process of the run gone, measured from the signal.

Starts `asyncrl env=<game> threads=<n>` in its own process group, waits until training is under way
and a periodic evaluation has started (the slowest thing to stop), sends the signal (SIGINT to the
group, as a terminal's Ctrl-C does, or SIGTERM to the command alone, as a scheduler does), and polls
until no process of the group is left. Prints a table and writes results/bench/stop_latency.md.

    python tools/bench_stop.py [--game pong] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asyncrl.runtime import procs


def one(game: str, threads: int, how: str, work: Path) -> tuple[float, int, str]:
    run = Path(tempfile.mkdtemp(dir=work)) / "run"  # a new directory each time: no old metrics.csv
    cmd = [sys.executable, "-m", "asyncrl", f"env={game}", f"threads={threads}", "total_frames=100000000",
           "eval.interval_frames=40000", "logger.interval_s=1", f"hydra.run.dir={run}"]
    p = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, cwd=work)
    metrics = run / "metrics.csv"
    deadline = time.time() + 600
    while time.time() < deadline:  # training under way, past the first evaluation's start
        lines = metrics.read_text().splitlines() if metrics.exists() else []
        if len(lines) > 1 and int(lines[-1].split(",")[0]) > 48_000:
            break
        time.sleep(0.2)
    else:
        p.kill()
        raise SystemExit("the run did not get going within 10 minutes")
    t0 = time.monotonic()
    if how == "SIGINT to the group":
        os.killpg(p.pid, signal.SIGINT)
    else:
        os.kill(p.pid, signal.SIGTERM)
    while procs.group(p.pid):
        time.sleep(0.01)
    elapsed = time.monotonic() - t0
    p.wait()
    lines = p.stdout.read().strip().splitlines()
    return elapsed, p.returncode, next((ln for ln in reversed(lines) if "interrupted" in ln), "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--game", default="pong")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("results/bench/stop_latency.md"))
    args = parser.parse_args()
    load = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for how in ("SIGINT to the group", "SIGTERM to the command"):
            times = []
            for _ in range(args.repeats):
                elapsed, rc, last = one(args.game, args.threads, how, Path(tmp))
                times.append(elapsed)
                print(f"{how}: {elapsed:.2f} s, exit {rc} ({last})", flush=True)
            rows.append((how, statistics.median(times), min(times), max(times), rc))
    text = [f"# Stop latency: {args.game}, {args.threads} actor-learners, an evaluation running",
            "",
            f"Seconds from the signal until no process of the run is left (median of {args.repeats}); "
            f"1-minute load average before: {load:.1f} (above the core count means the machine was shared).",
            "Regenerate: `python tools/bench_stop.py`.",
            "",
            "| signal | median s | min s | max s | exit code |",
            "|---|---:|---:|---:|---:|"]
    text += [f"| {h} | {m:.2f} | {lo:.2f} | {hi:.2f} | {rc} |" for h, m, lo, hi, rc in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(text) + "\n")
    print("\n".join(text))


if __name__ == "__main__":
    main()

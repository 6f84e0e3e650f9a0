"""Throughput benchmark: agent steps/s, scaling and memory per actor-learner, through the real CLI.

    python scripts/bench.py [--methods a3c,a3c_lstm,n_step_q,one_step_q,one_step_sarsa]
                            [--threads 1,2] [--runtime process[,thread]] [--env breakout]
                            [--frames 60000] [--repeats 3] [--out results/bench]
                            [--set env.backend=lean ...]

Every run is `python -m asyncrl ...` with evaluation and periodic checkpoints off, into a
temporary results root. Repeats are interleaved (repeat 1 of every configuration, then repeat 2,
...) so that a change in the machine's load hits all configurations alike; the table reports the
median over repeats. Writes OUT/throughput.csv (one row per configuration) and OUT/throughput.md,
and prints the table.

Columns (docs/performance.md):
  steady frames/s   frames between the first and the last metrics.csv row over the wall time
                    between them: excludes actor-learner start-up (spawn + torch import + env
                    build, ~2-3 s) and shutdown. Agent steps/s = frames/s / frame skip.
  summary frames/s  summary.json's frames_per_s: total frames / wall time from the trainer's start,
                    so it includes start-up (short runs read low).
  overhead s        wall time not explained by the steady rate: wall - frames / steady frames/s.
  scaling           steady frames/s at n actor-learners / at 1 (same method, runtime).
  peak RSS / AL     max VmHWM of an actor-learner process (process runtime); it counts shared
                    library pages (torch alone maps ~150-200 MB of them), shared by all processes.
  private / AL      max Private_Clean + Private_Dirty (smaps_rollup) of an actor-learner process,
                    sampled: the memory each extra actor-learner really adds.
  trainer RSS       VmHWM of the trainer process. With runtime=thread the actor-learners live in
                    it, so the per-actor-learner columns are empty and this is the whole run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["a3c", "a3c_lstm", "n_step_q", "one_step_q", "one_step_sarsa"]
POLL_S = 0.25


# ---- memory sampling through /proc -----------------------------------------------------------
def _children_map() -> dict:
    kids: dict = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _descendants(pid: int) -> list:
    kids, out, todo = _children_map(), [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _status_kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _private_kb(pid: int) -> int:
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


def _is_actor(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().decode(errors="replace")
    except OSError:
        return False
    return "spawn_main" in cmd and "resource_tracker" not in cmd


class MemorySampler:
    """Peak memory of a CLI process and of its actor-learner children, polled while it runs."""

    def __init__(self, pid: int):
        self.pid = pid
        self.actor_hwm: dict = {}
        self.actor_private: dict = {}
        self.trainer_hwm = 0

    def sample(self) -> None:
        self.trainer_hwm = max(self.trainer_hwm, _status_kb(self.pid, "VmHWM"))
        for c in _descendants(self.pid):
            if _is_actor(c):
                self.actor_hwm[c] = max(self.actor_hwm.get(c, 0), _status_kb(c, "VmHWM"))
                self.actor_private[c] = max(self.actor_private.get(c, 0), _private_kb(c))


# ---- one run -----------------------------------------------------------------------------------
def _load1() -> float:
    return os.getloadavg()[0]


def _steady_fps(metrics_csv: Path):
    try:
        with open(metrics_csv, newline="") as f:
            rows = [(int(r["frames"]), float(r["wall_time_s"])) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return None
    if len(rows) < 2 or rows[-1][1] <= rows[0][1]:
        return None
    return (rows[-1][0] - rows[0][0]) / (rows[-1][1] - rows[0][1])


def run_once(method, threads, runtime, args, root: Path) -> dict:
    cmd = [
        sys.executable, "-m", "asyncrl",
        f"method={method}", f"env={args.env}", f"threads={threads}", f"runtime={runtime}",
        f"total_frames={args.frames}", f"seed={args.seed}",
        "eval.episodes=0", "eval.final=false", "checkpoint.interval_frames=0",
        "logger.progress=false", f"logger.interval_s={args.interval_s}", "resume=false",
        f"results_root={root}", *args.set,
    ]
    load_before = _load1()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    mem = MemorySampler(proc.pid)
    while proc.poll() is None:
        mem.sample()
        time.sleep(POLL_S)
    out = proc.stdout.read()
    elapsed = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"run failed ({proc.returncode}): {' '.join(cmd)}\n{out[-3000:]}")
    summaries = list(root.rglob("summary.json"))
    if len(summaries) != 1:
        raise RuntimeError(f"expected one summary.json under {root}, found {len(summaries)}")
    s = json.loads(summaries[0].read_text())
    if s["status"] != "completed":
        raise RuntimeError(f"run not completed ({s['status']}): {' '.join(cmd)}\n{out[-3000:]}")
    steady = _steady_fps(summaries[0].parent / "metrics.csv") or s["frames_per_s"]
    skip = int(s.get("frame_skip", 1))
    actors_hwm = list(mem.actor_hwm.values())
    actors_priv = list(mem.actor_private.values())
    return {
        "frames": s["frames"],
        "wall_s": s["wall_time_s"],
        "process_s": elapsed,  # whole CLI process: interpreter + Hydra + trainer + teardown
        "frames_per_s": steady,
        "summary_frames_per_s": s["frames_per_s"],
        "steps_per_s": steady / skip,
        "overhead_s": s["wall_time_s"] - s["frames"] / steady,
        "peak_rss_mb": max(actors_hwm) / 1024 if actors_hwm else None,
        "private_mb": max(actors_priv) / 1024 if actors_priv else None,
        "trainer_rss_mb": mem.trainer_hwm / 1024,
        "load1": load_before,
        "cores": s.get("cores"),
        "versions": s.get("versions", {}),
        "frame_skip": skip,
    }


# ---- table ---------------------------------------------------------------------------------------
def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, nd=0):
    if v is None:
        return ""
    return f"{v:,.{nd}f}"


def summarize(results: dict, args) -> list:
    rows = []
    for (runtime, method, threads), runs in results.items():
        med = {k: _median([r[k] for r in runs]) for k in (
            "frames_per_s", "summary_frames_per_s", "steps_per_s", "overhead_s", "peak_rss_mb",
            "private_mb", "trainer_rss_mb", "load1")}
        rows.append({
            "method": method, "runtime": runtime, "threads": threads, "cores": runs[0]["cores"],
            "env": args.env, "frames": args.frames, "repeats": len(runs),
            "agent_steps_per_s": med["steps_per_s"],
            "frames_per_s": med["frames_per_s"],
            "summary_frames_per_s": med["summary_frames_per_s"],
            "steps_per_s_per_actor": med["steps_per_s"] / threads,
            "scaling_vs_1": None,
            "overhead_s": med["overhead_s"],
            "peak_rss_mb_per_actor": med["peak_rss_mb"],
            "private_mb_per_actor": med["private_mb"],
            "trainer_rss_mb": med["trainer_rss_mb"],
            "load1_median": med["load1"],
            "steps_per_s_all": " ".join(f"{r['steps_per_s']:.0f}" for r in runs),
            "overrides": " ".join(args.set),
            **{f"v_{k}": v for k, v in runs[0]["versions"].items() if k != "git_commit"},
        })
    base = {(r["runtime"], r["method"]): r["frames_per_s"] for r in rows if r["threads"] == 1}
    for r in rows:
        b = base.get((r["runtime"], r["method"]))
        r["scaling_vs_1"] = r["frames_per_s"] / b if b else None
    rows.sort(key=lambda r: (r["runtime"], METHODS.index(r["method"]) if r["method"] in METHODS else 99, r["threads"]))
    return rows


def merge_rows(path: Path, new_rows: list) -> list:
    """Earlier rows of `path` for configurations not in new_rows, plus new_rows; scaling redone."""
    def num(v):
        try:
            return float(v) if "." in v or "e" in v else int(v)
        except (TypeError, ValueError):
            return v if v != "" else None
    key = lambda r: (r["runtime"], r["method"], int(r["threads"]))
    fresh = {key(r) for r in new_rows}
    with open(path, newline="") as f:
        old = [{k: num(v) for k, v in r.items()} for r in csv.DictReader(f)]
    rows = [r for r in old if key(r) not in fresh] + new_rows
    base = {(r["runtime"], r["method"]): r["frames_per_s"] for r in rows if int(r["threads"]) == 1}
    for r in rows:
        b = base.get((r["runtime"], r["method"]))
        r["scaling_vs_1"] = r["frames_per_s"] / b if b else None
    rows.sort(key=lambda r: (r["runtime"], METHODS.index(r["method"]) if r["method"] in METHODS else 99, int(r["threads"])))
    return rows


def markdown(rows: list, args, started: str) -> str:
    v = {k[2:]: val for k, val in rows[0].items() if k.startswith("v_")} if rows else {}
    head = [
        f"# Throughput: {args.env}, {args.frames:,} frames per run, median of {args.repeats}",
        "",
        f"Machine: {rows[0]['cores'] if rows else '?'} cores; "
        + ("" if args.update else f"started {started}; ")
        + "1-min load average before each run (median per row) in the last column. "
        + ("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + "." if v else ""),
        f"Overrides: `{' '.join(args.set) or '(none)'}`. "
        + ("Re-measure these rows: " if args.update else "Regenerate: ")
        + "`python scripts/bench.py "
        f"--methods {','.join(args.methods)} --threads {','.join(map(str, args.threads))} "
        f"--runtime {','.join(args.runtime)} --env {args.env} --frames {args.frames} --repeats {args.repeats}"
        + "".join(f" --set {s}" for s in args.set) + (" --update" if args.update else "") + "`.",
        "",
        *([f"Rows re-measured with --update at {started}: "
           + ", ".join(f"{m} ({rt}, threads {','.join(map(str, args.threads))})" for rt in args.runtime for m in args.methods)
           + "; the other rows come from the earlier run.", ""] if args.update else []),
        "Steps/s are agent steps (frames / frame skip) at steady state (start-up excluded; see "
        "docs/performance.md). Memory per actor-learner applies to the process runtime only.",
        "",
        "| method | runtime | threads | agent steps/s | frames/s | steps/s per AL | scaling vs 1 | "
        "summary frames/s (incl. start-up) | overhead s | peak RSS / AL (MB) | private / AL (MB) | "
        "trainer RSS (MB) | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        head.append(
            f"| {r['method']} | {r['runtime']} | {r['threads']} | {_fmt(r['agent_steps_per_s'])} | "
            f"{_fmt(r['frames_per_s'])} | {_fmt(r['steps_per_s_per_actor'])} | "
            f"{_fmt(r['scaling_vs_1'], 2)}x | {_fmt(r['summary_frames_per_s'])} | {_fmt(r['overhead_s'], 1)} | "
            f"{_fmt(r['peak_rss_mb_per_actor'])} | {_fmt(r['private_mb_per_actor'])} | "
            f"{_fmt(r['trainer_rss_mb'])} | {_fmt(r['load1_median'], 1)} |"
        )
    return "\n".join(head) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(METHODS), type=lambda s: s.split(","))
    p.add_argument("--threads", default="1,2", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--runtime", default="process", type=lambda s: s.split(","))
    p.add_argument("--env", default="breakout")
    p.add_argument("--frames", type=int, default=60_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval-s", dest="interval_s", type=float, default=2.0,
                   help="metrics.csv row interval (the steady rate is measured between rows)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra CLI override for every run, e.g. --set env.backend=lean (repeatable)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench"))
    p.add_argument("--update", action="store_true",
                   help="keep OUT/throughput.csv's other rows; replace only the configurations run now")
    args = p.parse_args(argv)

    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    configs = [(rt, m, n) for rt in args.runtime for m in args.methods for n in args.threads]
    results: dict = {c: [] for c in configs}
    with tempfile.TemporaryDirectory(prefix="asyncrl-bench-") as tmp:
        for rep in range(args.repeats):
            for i, (rt, m, n) in enumerate(configs):
                root = Path(tmp) / f"r{rep}-{i}"
                r = run_once(m, n, rt, args, root)
                results[(rt, m, n)].append(r)
                print(
                    f"[bench] repeat {rep + 1}/{args.repeats} {m} {rt} threads={n}: "
                    f"{r['steps_per_s']:,.0f} steps/s ({r['frames_per_s']:,.0f} frames/s steady, "
                    f"{r['summary_frames_per_s']:,.0f} in summary), overhead {r['overhead_s']:.1f} s, "
                    f"load {r['load1']:.1f}",
                    flush=True,
                )
    rows = summarize(results, args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.update and (out / "throughput.csv").exists():
        rows = merge_rows(out / "throughput.csv", rows)
    fields = list(rows[0].keys())
    with open(out / "throughput.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})
    md = markdown(rows, args, started)
    (out / "throughput.md").write_text(md)
    print(md)
    print(f"[bench] wrote {out / 'throughput.csv'} and {out / 'throughput.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

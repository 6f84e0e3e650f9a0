"""Throughput benchmark: agent steps/s, scaling and memory per actor-learner, through the real CLI.

    python tools/bench.py [--methods a3c,a3c_lstm,n_step_q,one_step_q,one_step_sarsa]
                          [--threads 1,2] [--runtime process[,thread]] [--env breakout]
                          [--frames 60000] [--repeats 3] [--out results/bench]
                          [--set env.backend=lean ...] [--update]
                          [--peer-python /tmp/pfrlvenv/bin/python] [--with-eval]
    python tools/bench.py --preset targets [--targets tools/targets.yaml]
                          --peer-python /tmp/pfrlvenv/bin/python --out results/bench/targets
    python tools/bench.py --preset continuous [--repeats 3] --out results/bench/half_cheetah

Every run is `python -m asyncrl ...` with evaluation and periodic checkpoints off, into a
temporary results root. Repeats are interleaved (repeat 1 of every configuration, then repeat 2,
...) so that a change in the machine's load hits all configurations alike; the table reports the
median over repeats. Writes OUT/throughput.csv (one row per configuration) and OUT/throughput.md,
with --preset targets also OUT/targets.csv and OUT/targets.md (below), and prints the tables. A
run that fails is reported and left out (its configuration reads "not measured" in the targets);
the script then exits 1.

Extra configurations, interleaved with ours like any other:
  --peer-python PY  the peer: pfrl's A3C (tools/peers/pfrl_a3c.py, run by PY, a virtualenv with
                    pfrl 0.4.0: tools/bench_peer.py says how to build it; a PY that does not
                    exist is built there) for each --threads count, same game and number of
                    frames, rows `pfrl-<version> a3c`. Its rate is steady too: between its step
                    clock's first mark >= --interval-s after its first step and its last mark.
  --with-eval       rows `a3c+eval`: A3C FF with an evaluation always running (eval.interval_frames=4
                    eval.episodes=10: an evaluation is due at every trainer tick, so the evaluator
                    never idles while training runs), for each --threads count.
  --preset targets  exactly the configurations the targets need, whatever --methods, --threads
                    and --runtime say: a3c process 1 and 2, pfrl 1 and 2 (with --peer-python),
                    a3c_lstm process 1, a3c thread 1 and 2 (the default Atari backend, and rows
                    `a3c vector` on env.backend=vector: ale-py's C++ vector env), a3c+eval process 2.
  --preset continuous  continuous control: a3c_continuous (its real update: one per whole episode)
                    on HalfCheetah-v5 (--env half_cheetah unless given), process runtime, 1 and 2
                    actor-learners, 120,000 environment steps per run unless --frames says otherwise
                    (frame skip 1: frames are steps). Its global step counter moves by a whole
                    episode (1,000 steps) per update, so a run needs many episodes for a steady rate.
                    throughput.md then states steps/s per actor-learner and the 2 / 1 scaling
                    against its goal (CONTINUOUS_SCALING_GOAL, 1.9x). Needs the mujoco extra.

Targets (OUT/targets.md, written only with --preset targets), computed from the rows of
throughput.csv, "not measured" when a row they need is missing; each figure is met when it reaches
its threshold, a key of tools/targets.yaml (another file: --targets YAML):
  A3C FF, 1 actor-learner, agent steps/s             >= a3c_steps_per_s
  ours / pfrl A3C, same run, 1 and 2 actor-learners  >= ours_over_peer, both   (process runtime)
  2 actor-learners / 1, process runtime              >= process_scaling
  A3C LSTM vs A3C FF, 1 actor-learner                |a3c_lstm / a3c - 1| <= lstm_vs_ff
  thread runtime, 2 / 1                              >= thread_scaling (best 2-thread rate of the
                                                     backends / best 1-thread rate)
  training frames/s while an evaluation runs / without, 2 actor-learners   >= eval_ratio
                                                     (a3c+eval / a3c)

Columns (docs/performance.md):
  steady frames/s   frames between the first metrics.csv row and the last one written during
                    training (not the final row, written after the actor-learners have stopped and
                    been joined) over the wall time between them: excludes actor-learner start-up
                    and shutdown. Agent steps/s = frames/s / frame skip.
  summary frames/s  summary.json's frames_per_s: frames / training wall time. Since actor-learners
                    wait at a start barrier it excludes their start-up. The peer's: from its first
                    step.
  overhead s        wall time not explained by the steady rate: wall - frames / steady frames/s.
  scaling           steady frames/s at n actor-learners / at 1 (same method, runtime).
  peak RSS / AL     max VmHWM of an actor-learner process (process runtime); it counts shared
                    library pages (torch alone maps ~150-200 MB of them), shared by all processes.
  private / AL      max USS (Private_Clean + Private_Dirty, psutil's memory_full_info) of an
                    actor-learner process, sampled: the memory each extra actor-learner really adds.
  trainer RSS       VmHWM of the trainer process. With runtime=thread the actor-learners live in
                    it, so the per-actor-learner columns are empty and this is the whole run.
For the peer's rows: its forked worker processes are the actor-learners and the driver process the
trainer; wall and overhead count from the driver's start (fork, env build) to its end.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from asyncrl.runtime import procs


def _import_beside(name: str):
    """tools/<name>.py as module `name` (tools/ is no package; sys.path stays as it is)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


bench_peer = _import_beside("bench_peer")

ROOT = Path(__file__).resolve().parents[1]
METHODS = ["a3c", "a3c_lstm", "n_step_q", "one_step_q", "one_step_sarsa"]
POLL_S = 0.25  # how often a run is checked for its exit
# How often its memory is read: a process's private memory (USS) comes from walking its page tables
# (/proc/PID/smaps), ~5 ms of CPU per actor-learner. Read every POLL_S, that took ~5% of a core,
# which a run with an actor-learner per core pays for (2 actor-learners 2.8% slower than without
# the sampler, HalfCheetah); peak RSS is a high-water mark, so a slower read loses nothing.
MEMORY_EVERY_S = 2.0
EVAL_LABEL = "a3c+eval"  # the method column of A3C FF with an evaluation always running
VECTOR_LABEL = "a3c vector"  # A3C FF on ale-py's C++ vector env (env.backend=vector), for the thread runtime
VECTOR_OVERRIDES = (("env.backend", "vector"),)
PINNED_LABEL = "a3c vector pinned"  # the same with each thread and its env's C++ thread on one core
PINNED_OVERRIDES = (*VECTOR_OVERRIDES, ("pin_cores", "true"))
EVAL_OVERRIDES = (("eval.interval_frames", "4"), ("eval.episodes", "10"))  # 10: the CLI default
PRESETS = ("targets", "continuous")
# --preset continuous: A3C with its Gaussian policy on HalfCheetah, 1 and 2 actor-learners
CONTINUOUS_METHOD, CONTINUOUS_ENV, CONTINUOUS_FRAMES = "a3c_continuous", "half_cheetah", 120_000
CONTINUOUS_SCALING_GOAL = 1.9  # 2 actor-learners / 1, process runtime, on 2 idle cores
DEFAULT_ENV, DEFAULT_FRAMES = "breakout", 60_000


@dataclass(frozen=True)
class Config:
    """One configuration: a row of the table. `method` is the row's label; `cli_method` what the CLI
    runs (ours), `overrides` the CLI overrides it adds; kind 'peer' runs pfrl's driver instead."""

    runtime: str
    method: str
    threads: int
    kind: str = "ours"
    cli_method: str = ""
    overrides: tuple = ()

    @property
    def key(self):
        return (self.runtime, self.method, self.threads)


def ours(runtime: str, method: str, threads: int) -> Config:
    return Config(runtime, method, threads, "ours", method)


def with_eval(runtime: str, threads: int) -> Config:
    return Config(runtime, EVAL_LABEL, threads, "ours", "a3c", EVAL_OVERRIDES)


def on_vector(runtime: str, threads: int, pinned: bool = False) -> Config:
    if pinned:
        return Config(runtime, PINNED_LABEL, threads, "ours", "a3c", PINNED_OVERRIDES)
    return Config(runtime, VECTOR_LABEL, threads, "ours", "a3c", VECTOR_OVERRIDES)


def peer(label: str, threads: int) -> Config:
    return Config("process", label, threads, "peer")


def build_configs(args, peer_label=None) -> list:
    """The configurations of one repeat, in the order they run. The peer's run right after ours with
    the same number of actor-learners, so that the two see the same load."""
    if args.preset == "continuous":
        return [ours("process", CONTINUOUS_METHOD, n) for n in (1, 2)]
    if args.preset == "targets":
        cfgs = [ours("process", "a3c", 1), peer(peer_label, 1) if peer_label else None,
                ours("process", "a3c", 2), peer(peer_label, 2) if peer_label else None,
                ours("process", "a3c_lstm", 1), ours("thread", "a3c", 1), ours("thread", "a3c", 2),
                on_vector("thread", 1), on_vector("thread", 2), on_vector("thread", 1, pinned=True),
                on_vector("thread", 2, pinned=True), with_eval("process", 2)]
        return [c for c in cfgs if c is not None]
    cfgs, peered = [], set()
    for rt in args.runtime:
        for m in args.methods:
            for n in args.threads:
                cfgs.append(ours(rt, m, n))
                if peer_label and rt == "process" and m == "a3c":
                    cfgs.append(peer(peer_label, n))
                    peered.add(n)
                if args.with_eval and m == "a3c" and rt == args.runtime[0]:
                    cfgs.append(with_eval(rt, n))
    if peer_label:
        cfgs += [peer(peer_label, n) for n in args.threads if n not in peered]
    if args.with_eval and "a3c" not in args.methods:
        cfgs += [with_eval(args.runtime[0], n) for n in args.threads]
    return cfgs


# ---- memory sampling ----------------------------------------------------------------------------
def _is_actor(pid: int) -> bool:
    """Our actor-learners: spawned interpreters (multiprocessing's spawn_main)."""
    cmd = procs.cmdline(pid)
    return "spawn_main" in cmd and "resource_tracker" not in cmd


def _is_peer_actor(pid: int) -> bool:
    """pfrl's actor-learners: processes forked from the driver, so with the driver's command line."""
    cmd = procs.cmdline(pid)
    return bench_peer.DRIVER.name in cmd and "resource_tracker" not in cmd


class MemorySampler:
    """Peak memory of a CLI process and of its actor-learner children, polled while it runs."""

    def __init__(self, pid: int, is_actor=_is_actor, every_s: float = MEMORY_EVERY_S, clock=time.monotonic):
        self.pid = pid
        self.is_actor = is_actor
        self.actor_hwm: dict = {}
        self.actor_private: dict = {}
        self.trainer_hwm = 0
        self.every_s, self.clock, self.due = every_s, clock, None

    def sample(self) -> None:
        """Read the memory figures if `every_s` has passed since the last read (the first call reads)."""
        now = self.clock()
        if self.due is not None and now < self.due:
            return
        self.due = now + self.every_s
        self.trainer_hwm = max(self.trainer_hwm, procs.peak_rss_kb(self.pid))
        for c in procs.descendants(self.pid):
            if self.is_actor(c):
                self.actor_hwm[c] = max(self.actor_hwm.get(c, 0), procs.peak_rss_kb(c))
                self.actor_private[c] = max(self.actor_private.get(c, 0), procs.private_kb(c))


# ---- one run -----------------------------------------------------------------------------------
def _load1() -> float:
    return os.getloadavg()[0]


def _machine_busy_s():
    """The machine's busy CPU seconds (asyncrl.runtime.load.machine_busy_s: the runs' metrics rows
    measure their other_load with the same counter)."""
    from asyncrl.runtime.load import machine_busy_s

    return machine_busy_s()


def _own_cpu_s() -> float:
    """CPU seconds used by this process and by every descendant it (and they) waited for."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def other_load(busy0, busy1, own0, own1, elapsed):
    """Cores' worth of CPU work done by processes other than the benchmark's during a run
    (asyncrl.runtime.load.other_load), with the benchmark's own CPU time (its run's processes
    included, all waited for) as ``own``. Unlike the 1-min load average it does not count the
    benchmark's previous run, nor this run's own processes. None when the machine's counter could
    not be read."""
    from asyncrl.runtime.load import other_load as load

    return load(busy0, busy1, own0, own1, elapsed)


def _metrics_rows(metrics_csv: Path) -> list:
    try:
        with open(metrics_csv, newline="") as f:
            return [(int(r["frames"]), float(r["wall_time_s"])) for r in csv.DictReader(f)]
    except (OSError, KeyError, ValueError):
        return []


def steady_window(rows: list):
    """The measured window of a run's metrics.csv rows [(frames, wall_time_s), ...]: from the first
    row (one interval after the common start: start-up excluded) to the last row written while
    training was still going, i.e. the last with fewer frames than the final row, which the
    trainer writes after the actor-learners have stopped and been joined (shutdown excluded; it
    is the last row itself when no earlier row is left). None when there are not two rows."""
    if len(rows) < 2:
        return None
    end = max((i for i, r in enumerate(rows) if r[0] < rows[-1][0]), default=0)
    if end < 1:
        end = len(rows) - 1
    (f0, t0), (f1, t1) = rows[0], rows[end]
    return (f0, t0, f1, t1) if t1 > t0 else None


def _steady_fps(metrics_csv: Path):
    w = steady_window(_metrics_rows(metrics_csv))
    return (w[2] - w[0]) / (w[3] - w[1]) if w else None


def eval_coverage(metrics_csv: Path, evals: list) -> dict:
    """What summary.json tells of the evaluations of an a3c+eval run, beside its measured window.

    With eval.interval_frames=4 an evaluation is due at every trainer tick, so the evaluator never
    idles while training runs; what a run can show is that the first one was due before the
    measured window began and how many were played. summary.json records an evaluation's frames and
    time when it was due (its snapshot), not when it ended, so nothing finer is claimed.
    Returns evals_done (evaluations completed, including those played after training),
    first_eval_s (when the first was due), window_start_s and window_end_s (steady_window)."""
    times = sorted(float(e["wall_time_s"]) for e in evals if isinstance(e, dict) and "wall_time_s" in e)
    w = steady_window(_metrics_rows(metrics_csv))
    return {"evals_done": len(times), "first_eval_s": times[0] if times else None,
            "window_start_s": w[1] if w else None, "window_end_s": w[3] if w else None}


def _run_polled(cmd, log_path: Path, is_actor):
    """Run `cmd` from the repository root, output to `log_path`, sampling memory until it exits.
    Returns (returncode, output, seconds, memory sampler, (1-min load before, other_load during))."""
    load_before = _load1()
    busy0, own0 = _machine_busy_s(), _own_cpu_s()
    t0 = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, text=True)
        mem = MemorySampler(proc.pid, is_actor)
        while proc.poll() is None:
            mem.sample()
            time.sleep(POLL_S)
    elapsed = time.monotonic() - t0
    others = other_load(busy0, _machine_busy_s(), own0, _own_cpu_s(), elapsed)
    return proc.returncode, log_path.read_text(errors="replace"), elapsed, mem, (load_before, others)


def _memory(mem: MemorySampler) -> dict:
    hwm, priv = list(mem.actor_hwm.values()), list(mem.actor_private.values())
    return {
        "peak_rss_mb": max(hwm) / 1024 if hwm else None,
        "private_mb": max(priv) / 1024 if priv else None,
        "trainer_rss_mb": mem.trainer_hwm / 1024,
    }


def run_once(cfg: Config, args, root: Path) -> dict:
    """One run of our CLI for configuration `cfg` into the results root `root`."""
    over = {
        "method": cfg.cli_method or cfg.method, "env": args.env, "threads": cfg.threads, "runtime": cfg.runtime,
        "total_frames": args.frames, "seed": args.seed,
        "eval.episodes": 0, "eval.final": "false", "checkpoint.interval_frames": 0,
        "logger.progress": "false", "logger.interval_s": args.interval_s, "resume": "false",
        "results_root": root,
    }
    over.update(dict(cfg.overrides))
    cmd = [sys.executable, "-m", "asyncrl", *(f"{k}={v}" for k, v in over.items()), *args.set]
    rc, out, elapsed, mem, (load_before, others) = _run_polled(cmd, Path(f"{root}.log"), _is_actor)
    if rc != 0:
        raise RuntimeError(f"run failed ({rc}): {' '.join(map(str, cmd))}\n{out[-3000:]}")
    summaries = list(root.rglob("summary.json"))
    if len(summaries) != 1:
        raise RuntimeError(f"expected one summary.json under {root}, found {len(summaries)}")
    s = json.loads(summaries[0].read_text())
    if s["status"] != "completed":
        raise RuntimeError(f"run not completed ({s['status']}): {' '.join(map(str, cmd))}\n{out[-3000:]}")
    metrics = summaries[0].parent / "metrics.csv"
    steady = _steady_fps(metrics) or s["frames_per_s"]
    skip = int(s.get("frame_skip", 1))
    evals = eval_coverage(metrics, s.get("evals", [])) if dict(cfg.overrides).get("eval.episodes") else {}
    return {
        "frames": s["frames"],
        "wall_s": s["wall_time_s"],
        "process_s": elapsed,  # whole CLI process: interpreter + Hydra + trainer + teardown
        "frames_per_s": steady,
        "summary_frames_per_s": s["frames_per_s"],
        "steps_per_s": steady / skip,
        "overhead_s": s["wall_time_s"] - s["frames"] / steady,
        **_memory(mem),
        "load1": load_before,
        "other_load": others,
        "cores": s.get("cores"),
        "versions": s.get("versions", {}),
        "frame_skip": skip,
        **evals,
    }


def run_peer(cfg: Config, args, root: Path) -> dict:
    """One run of pfrl's A3C driver (tools/peers/pfrl_a3c.py) with the peer virtualenv's python."""
    cmd = bench_peer.peer_command(args.peer_python, args.env, cfg.threads, args.frames, args.seed, args.interval_s)
    rc, out, elapsed, mem, (load_before, others) = _run_polled(cmd, Path(f"{root}.log"), _is_peer_actor)
    try:
        r = bench_peer.parse_peer_output(out)
    except ValueError as e:
        raise RuntimeError(f"peer run failed ({rc}, {e}): {' '.join(cmd)}\n{out[-3000:]}") from None
    if rc != 0:
        raise RuntimeError(f"peer run failed ({rc}): {' '.join(cmd)}\n{out[-3000:]}")
    steps_per_s = bench_peer.peer_rate(r)
    skip = int(r.get("frame_skip", bench_peer.FRAME_SKIP))
    frames = int(r["steps"]) * skip
    summary = r.get("summary_steps_per_s") or steps_per_s
    return {
        "frames": frames,
        "wall_s": r["wall_s"],
        "process_s": elapsed,
        "frames_per_s": steps_per_s * skip,
        "summary_frames_per_s": summary * skip,
        "steps_per_s": steps_per_s,
        "overhead_s": r["wall_s"] - frames / (steps_per_s * skip),
        **_memory(mem),
        "load1": load_before,
        "other_load": others,
        "cores": r.get("cores"),
        "versions": {},
        "peer_versions": bench_peer.versions_text(r),
        "frame_skip": skip,
    }


# ---- table ---------------------------------------------------------------------------------------
def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, nd=0):
    if v is None or v == "":
        return ""
    return f"{v:,.{nd}f}"


def _num(v):
    """A number from a row value (float, int, or a CSV string); None for blanks and text."""
    if v is None or isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _order(r) -> tuple:
    """Rows by runtime, then method (the peer and a3c+eval right after a3c), then threads."""
    m = r["method"]
    if m in METHODS:
        g = float(METHODS.index(m))
    elif bench_peer.is_peer_method(m):
        g = METHODS.index("a3c") + 0.3
    elif m == EVAL_LABEL:
        g = METHODS.index("a3c") + 0.6
    elif m == VECTOR_LABEL:
        g = METHODS.index("a3c") + 0.7
    elif m == PINNED_LABEL:
        g = METHODS.index("a3c") + 0.8
    else:
        g = 99.0
    return (r["runtime"], g, m, int(r["threads"]))


def _rescale(rows: list) -> list:
    base = {(r["runtime"], r["method"]): _num(r["frames_per_s"]) for r in rows if int(r["threads"]) == 1}
    for r in rows:
        b, v = base.get((r["runtime"], r["method"])), _num(r["frames_per_s"])
        r["scaling_vs_1"] = v / b if b and v is not None else None
    rows.sort(key=_order)
    return rows


def summarize(results: dict, args, started: str = "") -> list:
    """One row per configuration: medians over its repeats. `results` maps Config -> runs."""
    from asyncrl.results import cpu

    rows, host = [], cpu()  # every row is measured here, peer rows too
    for cfg, runs in results.items():
        if not runs:
            continue
        med = {k: _median([r.get(k) for r in runs]) for k in (
            "frames_per_s", "summary_frames_per_s", "steps_per_s", "overhead_s", "peak_rss_mb",
            "private_mb", "trainer_rss_mb", "load1", "other_load", "evals_done", "first_eval_s", "window_start_s",
            "window_end_s")}
        overrides = [*(f"{k}={v}" for k, v in cfg.overrides), *args.set] if cfg.kind == "ours" else []
        rows.append({
            "method": cfg.method, "runtime": cfg.runtime, "threads": cfg.threads, "cores": runs[0]["cores"],
            "cpu": host,
            "env": args.env, "frames": args.frames, "repeats": len(runs),
            "agent_steps_per_s": med["steps_per_s"],
            "frames_per_s": med["frames_per_s"],
            "summary_frames_per_s": med["summary_frames_per_s"],
            "steps_per_s_per_actor": med["steps_per_s"] / cfg.threads,
            "scaling_vs_1": None,
            "overhead_s": med["overhead_s"],
            "peak_rss_mb_per_actor": med["peak_rss_mb"],
            "private_mb_per_actor": med["private_mb"],
            "trainer_rss_mb": med["trainer_rss_mb"],
            "load1_median": med["load1"],
            "other_load_median": med["other_load"],
            "steps_per_s_all": " ".join(f"{r['steps_per_s']:.0f}" for r in runs),
            "overrides": " ".join(overrides),
            "started_utc": started,
            "kind": cfg.kind,
            "evals_done": med["evals_done"],
            "first_eval_s": med["first_eval_s"],
            "window_start_s": med["window_start_s"],
            "window_end_s": med["window_end_s"],
            "peer_versions": runs[0].get("peer_versions", ""),
            **{f"v_{k}": v for k, v in runs[0]["versions"].items() if k != "git_commit"},
        })
    return _rescale(rows)


def read_rows(path: Path) -> list:
    def num(v):
        try:
            return float(v) if "." in v or "e" in v else int(v)
        except (TypeError, ValueError):
            return v if v != "" else None
    with open(path, newline="") as f:
        return [{k: num(v) for k, v in r.items()} for r in csv.DictReader(f)]


def merge_rows(path: Path, new_rows: list) -> list:
    """Earlier rows of `path` for configurations not in new_rows, plus new_rows; scaling redone."""
    key = lambda r: (r["runtime"], r["method"], int(r["threads"]))  # noqa: E731
    fresh = {key(r) for r in new_rows}
    rows = [r for r in read_rows(path) if key(r) not in fresh] + new_rows
    return _rescale(rows)


def write_csv(path: Path, rows: list) -> None:
    fields: list = []
    for r in rows:  # the union of the rows' columns (peer and our rows carry different version columns)
        fields += [k for k in r if k not in fields]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()})


def command(args) -> str:
    """The command line that measures these rows again."""
    parts = ["python tools/bench.py"]
    if args.preset:
        parts.append(f"--preset {args.preset}")
    else:
        parts += [f"--methods {','.join(args.methods)}", f"--threads {','.join(map(str, args.threads))}",
                  f"--runtime {','.join(args.runtime)}"]
        if args.with_eval:
            parts.append("--with-eval")
    if args.preset and Path(args.targets).resolve() != TARGETS_FILE:
        parts.append(f"--targets {args.targets}")
    if args.peer_python:
        parts.append(f"--peer-python {args.peer_python}")
    parts += [f"--env {args.env}", f"--frames {args.frames}", f"--repeats {args.repeats}"]
    parts += [f"--set {s}" for s in args.set]
    out = Path(args.out).resolve()
    default = (ROOT / "results" / "bench").resolve()
    if out != default:
        parts.append(f"--out {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if args.update:
        parts.append("--update")
    return " ".join(parts)


def _eval_text(r) -> str:
    n, first = _num(r.get("evals_done")), _num(r.get("first_eval_s"))
    w0, w1 = _num(r.get("window_start_s")), _num(r.get("window_end_s"))
    if n is None:
        return "evaluations not recorded"
    return (f"{n:.0f} evaluations completed per run"
            + (f", the first due at {first:.1f} s" if first is not None else "")
            + (f"; measured window {w0:.1f}-{w1:.1f} s" if w0 is not None and w1 is not None else "")
            + " (medians over repeats)")


def machine(rows: list) -> str:
    """The Machine line's host: "<cpu>, <n> cores", each host once (rows merged by --update may come
    from another); "cpu not recorded" for rows whose cpu column is empty or absent."""
    hosts = []
    for r in rows:
        h = f"{r.get('cpu') or 'cpu not recorded'}, {r.get('cores') or '?'} cores"
        hosts += [h] if h not in hosts else []
    return "; ".join(hosts) or "?"


def continuous_scaling(rows: list, env: str, goal: float = CONTINUOUS_SCALING_GOAL) -> tuple:
    """The continuous-control figure of throughput.md: a3c_continuous's agent steps/s with 2
    actor-learners over 1 (process runtime) against ``goal``. Returns (the ratio or None when a row
    is missing, the sentence)."""
    idx = _Rows(rows)
    one, two = idx.rate("process", CONTINUOUS_METHOD, 1), idx.rate("process", CONTINUOUS_METHOD, 2)
    ratio = _ratio(two, one)
    per_al = f"{_rs(one)} with 1, {_rs(None if two is None else two / 2)} with 2"
    verdict = NOT_MEASURED if ratio is None else ("met" if ratio >= goal else "not met")
    return ratio, (f"`{CONTINUOUS_METHOD}` ({env}; one update per whole episode): agent steps/s per actor-learner "
                   f"{per_al}; 2 ÷ 1 = {_x(ratio)} (goal ≥ {goal:g}x: {verdict}).")


def markdown(rows: list, args, started: str, failures=()) -> str:
    v = next(({k[2:]: val for k, val in r.items() if k.startswith("v_") and val not in (None, "")}
              for r in rows if r.get("kind", "ours") == "ours"), {})
    peer_rows = [r for r in rows if bench_peer.is_peer_method(r["method"])]
    labels = sorted({r["method"] for r in rows})
    head = [
        f"# Throughput: {args.env}, {args.frames:,} frames per run, median of {args.repeats}",
        "",
        f"Machine: {machine(rows)}; "
        + ("" if args.update else f"started {started}; ")
        + "load: the 1-min load average before each run; other load: cores' worth of CPU used by "
        "processes other than the benchmark's during the run (/proc/stat busy time minus the benchmark's "
        "own; idle machine: ~0); medians per row. "
        + ("Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + "." if v else ""),
        f"Overrides: `{' '.join(args.set) or '(none)'}`. "
        + ("Re-measure these rows: " if args.update else "Regenerate: ")
        + f"`{command(args)}`.",
        "",
        *([f"Rows re-measured with --update at {started}: "
           + ", ".join(sorted({f"{r['method']} ({r['runtime']}, threads {r['threads']})" for r in rows
                               if r.get('started_utc') == started}))
           + "; the other rows come from earlier runs (their `started_utc` in the CSV).", ""] if args.update else []),
        "Steps/s are agent steps (frames / frame skip) at steady state (start-up excluded; see "
        "docs/performance.md). Memory per actor-learner applies to the process runtime only.",
        *([f"`{EVAL_LABEL}`: a3c with an evaluation always running "
           f"(`{' '.join(f'{k}={val}' for k, val in EVAL_OVERRIDES)}`: an evaluation is due at every trainer "
           "tick, so the evaluator never idles while training runs; its memory columns include the "
           "evaluation's process, if it has one); " + "; ".join(
               f"threads {r['threads']}: {_eval_text(r)}" for r in rows if r["method"] == EVAL_LABEL) + "."]
          if EVAL_LABEL in labels else []),
        *([f"`{peer_rows[0]['method']}`: pfrl's A3C (`tools/peers/pfrl_a3c.py`, its own virtualenv: "
           f"{peer_rows[0].get('peer_versions') or '?'}), same game and frames, one forked process per "
           "actor-learner; steady rate from its step clock after a warm-up of --interval-s; its memory "
           "columns are its forked workers (actor-learners) and driver (trainer)."] if peer_rows else []),
        *([f"Failed runs (left out): {'; '.join(failures)}."] if failures else []),
        *([continuous_scaling(rows, args.env)[1]] if CONTINUOUS_METHOD in labels else []),
        "",
        "| method | runtime | threads | agent steps/s | frames/s | steps/s per AL | scaling vs 1 | "
        "summary frames/s (incl. start-up) | overhead s | peak RSS / AL (MB) | private / AL (MB) | "
        "trainer RSS (MB) | load | other load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        scaling = _num(r.get("scaling_vs_1"))
        head.append(
            f"| {r['method']} | {r['runtime']} | {r['threads']} | {_fmt(_num(r['agent_steps_per_s']))} | "
            f"{_fmt(_num(r['frames_per_s']))} | {_fmt(_num(r['steps_per_s_per_actor']))} | "
            f"{_fmt(scaling, 2) + 'x' if scaling is not None else ''} | {_fmt(_num(r['summary_frames_per_s']))} | "
            f"{_fmt(_num(r['overhead_s']), 1)} | "
            f"{_fmt(_num(r['peak_rss_mb_per_actor']))} | {_fmt(_num(r['private_mb_per_actor']))} | "
            f"{_fmt(_num(r['trainer_rss_mb']))} | {_fmt(_num(r['load1_median']), 1)} | "
            f"{_fmt(_num(r.get('other_load_median')), 2)} |"
        )
    return "\n".join(head) + "\n"


# ---- targets ------------------------------------------------------------------------------------
NOT_MEASURED = "not measured"
TARGETS_FILE = Path(__file__).resolve().with_name("targets.yaml")
# The keys of a targets file, each with the text of its target column (of the threshold v)
TARGET_KEYS = {
    "a3c_steps_per_s": lambda v: f">= {v:,g}",
    "ours_over_peer": lambda v: f">= {v:g}x both",
    "process_scaling": lambda v: f">= {v:g}x",
    "lstm_vs_ff": lambda v: f"within {v * 100:g}%",
    "thread_scaling": lambda v: f">= {v:g}x",
    "eval_ratio": lambda v: f">= {v:g}",
}


def load_targets(path=TARGETS_FILE) -> dict:
    """The thresholds of a targets file (tools/targets.yaml: a number > 0 for each of TARGET_KEYS,
    nothing else). ValueError with the reason for a file that cannot be used."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"targets file {path}: cannot be read ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ValueError(f"targets file {path}: not a mapping of {', '.join(TARGET_KEYS)}")
    unknown, missing = sorted(set(data) - set(TARGET_KEYS)), [k for k in TARGET_KEYS if k not in data]
    if unknown or missing:
        raise ValueError(f"targets file {path}: " + "; ".join(
            ([f"unknown key(s) {', '.join(map(str, unknown))}"] if unknown else [])
            + ([f"missing {', '.join(missing)}"] if missing else [])) + f" (keys: {', '.join(TARGET_KEYS)})")
    bad = [k for k, v in data.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0]
    if bad:
        raise ValueError(f"targets file {path}: {', '.join(bad)} must be a number > 0")
    return {k: float(data[k]) for k in TARGET_KEYS}


def _met(ok) -> str:
    return NOT_MEASURED if ok is None else ("yes" if ok else "no")


def _x(v) -> str:
    return "—" if v is None else f"{v:.2f}x"


def _rs(v) -> str:
    return "—" if v is None else f"{v:,.0f}"


class _Rows:
    """Throughput rows by (runtime, method, threads), with the agent steps/s of each."""

    def __init__(self, rows: list):
        self.idx = {}
        for r in rows:
            try:
                self.idx[(str(r["runtime"]), str(r["method"]), int(float(r["threads"])))] = r
            except (KeyError, TypeError, ValueError):
                continue

    def rate(self, runtime, method, n):
        r = self.idx.get((runtime, method, n))
        v = _num(r.get("agent_steps_per_s")) if r else None
        return v if v is not None and v > 0 else None

    def peer(self):
        """The peer's method label: the pfrl version bench_peer builds, else any other there is."""
        peers = sorted({m for (_, m, _) in self.idx if bench_peer.is_peer_method(m)})
        wanted = bench_peer.peer_label(bench_peer.PEER_VERSION)
        return wanted if wanted in peers else (peers[0] if peers else None)


def _ratio(a, b):
    return a / b if a is not None and b is not None else None


def _peer_figure(rows: _Rows, goal: float) -> tuple:
    """ours ÷ the peer at 1 and 2 actor-learners: (value, measured, ok, detail, the peer's name)."""
    peer_m = rows.peer()
    peer_name = peer_m[: -len(" a3c")].replace("-", " ", 1) if peer_m else f"pfrl {bench_peer.PEER_VERSION}"
    a1, a2 = rows.rate("process", "a3c", 1), rows.rate("process", "a3c", 2)
    p1 = rows.rate("process", peer_m, 1) if peer_m else None
    p2 = rows.rate("process", peer_m, 2) if peer_m else None
    r1, r2 = _ratio(a1, p1), _ratio(a2, p2)
    parts = [v for v in (r1, r2) if v is not None]
    ok = None if not parts else (False if any(v < goal for v in parts) else (True if len(parts) == 2 else None))
    same = {rows.idx[k].get("started_utc") for k in [("process", "a3c", 1), ("process", "a3c", 2),
                                                      ("process", peer_m, 1), ("process", peer_m, 2)] if k in rows.idx}
    detail = (f"agent steps/s, ours vs {peer_m or 'pfrl (no --peer-python)'}: "
              f"1 AL {_rs(a1)} vs {_rs(p1)}, 2 AL {_rs(a2)} vs {_rs(p2)}"
              + (" (rows from different runs: " + ", ".join(sorted(str(s) for s in same)) + ")" if len(same) > 1 else ""))
    return min(parts) if parts else None, f"{_x(r1)} (1), {_x(r2)} (2)", ok, detail, peer_name


def _thread_figure(rows: _Rows, goal: float) -> tuple:
    """The best 2-thread rate over the best 1-thread rate, of the default Atari backend and the C++
    vector env, unpinned and pinned (a configuration that scales only by being slower alone does
    not count): (value, measured, ok, detail)."""
    t1, t2 = rows.rate("thread", "a3c", 1), rows.rate("thread", "a3c", 2)
    others = {"vector": VECTOR_LABEL, "vector pinned": PINNED_LABEL}
    rates = {"default": (t1, t2), **{k: (rows.rate("thread", m, 1), rows.rate("thread", m, 2)) for k, m in others.items()}}
    best = [max(((r[i], k) for k, r in rates.items() if r[i]), default=(None, None)) for i in (0, 1)]
    t = _ratio(best[1][0], best[0][0])
    only_default = all(r == (None, None) for k, r in rates.items() if k != "default")
    measured = _x(t) if only_default or t is None else f"{_x(t)} ({best[1][1]} 2 ÷ {best[0][1]} 1)"
    detail = (f"a3c, thread runtime, agent steps/s {_rs(t2)} ÷ {_rs(t1)} (default backend)"
              + "".join(f"; on env.backend=vector{', pin_cores=true' if k == 'vector pinned' else ''} "
                        f"{_rs(r[1])} ÷ {_rs(r[0])}" for k, r in rates.items() if k != "default" and r != (None, None)))
    return t, measured, None if t is None else t >= goal, detail


def targets(rows: list, env: str = "breakout", goals: dict | None = None) -> list:
    """The six throughput figures from throughput rows (dicts with method, runtime, threads,
    agent_steps_per_s; numbers or CSV strings), against ``goals`` (load_targets; default: the
    thresholds of tools/targets.yaml). Each: figure, measured (text), value (number or None),
    target, met (yes / no / not measured), detail. A figure whose rows are missing is
    "not measured"; a figure with two parts is "no" as soon as one measured part misses."""
    g = load_targets() if goals is None else goals
    idx, out = _Rows(rows), []

    def add(key, figure, value, measured, ok, detail):
        out.append({"figure": figure, "measured": measured if value is not None else NOT_MEASURED,
                    "value": value, "target": TARGET_KEYS[key](g[key]), "met": _met(ok), "detail": detail})

    a1, a2 = idx.rate("process", "a3c", 1), idx.rate("process", "a3c", 2)
    add("a3c_steps_per_s", f"A3C FF, 1 actor-learner, agent steps/s ({env})", a1, _rs(a1),
        None if a1 is None else a1 >= g["a3c_steps_per_s"], "a3c, process runtime, threads 1")
    value, measured, ok, detail, peer_name = _peer_figure(idx, g["ours_over_peer"])
    add("ours_over_peer", f"ours ÷ {peer_name} A3C, same run, 1 and 2 actor-learners", value, measured, ok, detail)
    s = _ratio(a2, a1)
    add("process_scaling", "2 actor-learners ÷ 1 (process runtime)", s, _x(s),
        None if s is None else s >= g["process_scaling"], f"a3c agent steps/s {_rs(a2)} ÷ {_rs(a1)}")
    l1 = idx.rate("process", "a3c_lstm", 1)
    d = None if l1 is None or a1 is None else l1 / a1 - 1
    add("lstm_vs_ff", "A3C LSTM vs A3C FF (agent steps/s)", d, "—" if d is None else f"{d:+.1%}",
        None if d is None else abs(d) <= g["lstm_vs_ff"],
        f"a3c_lstm {_rs(l1)} vs a3c {_rs(a1)}, 1 actor-learner, process runtime")
    add("thread_scaling", "thread runtime, 2 ÷ 1", *_thread_figure(idx, g["thread_scaling"]))
    e2 = idx.rate("process", EVAL_LABEL, 2)
    e = _ratio(e2, a2)
    er = idx.idx.get(("process", EVAL_LABEL, 2)) or {}
    add("eval_ratio", "training frames/s while an evaluation runs ÷ without", e, "—" if e is None else f"{e:.2f}",
        None if e is None else e >= g["eval_ratio"],
        f"a3c, process runtime, threads 2: {_rs(_num(er.get('frames_per_s')))} vs "
        f"{_rs(_num((idx.idx.get(('process', 'a3c', 2)) or {}).get('frames_per_s')))} frames/s"
        + (f"; {_eval_text(er)}" if er else ""))
    return out


def targets_markdown(tg: list, args, started: str) -> str:
    lines = [
        f"# Targets: {args.env}, {args.frames:,} frames per run, median of {args.repeats}",
        "",
        f"Computed from `throughput.csv` beside this file (started {started}); a figure whose rows are "
        f"missing is \"{NOT_MEASURED}\". Regenerate: `{command(args)}`.",
        "",
        "| figure | measured | target | met | from |",
        "|---|---:|---|---|---|",
    ]
    for t in tg:
        lines.append(f"| {t['figure']} | {t['measured']} | {t['target']} | {t['met']} | {t['detail']} |")
    return "\n".join(lines) + "\n"


def write_targets(out: Path, tg: list, args, started: str) -> str:
    with open(out / "targets.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["figure", "measured", "value", "target", "met", "detail"])
        w.writeheader()
        for t in tg:
            w.writerow({**t, "value": "" if t["value"] is None else round(t["value"], 4)})
    md = targets_markdown(tg, args, started)
    (out / "targets.md").write_text(md)
    return md


def write_outputs(out: Path, rows: list, args, started: str, failures: list = ()) -> list[str]:
    """OUT/throughput.{csv,md} (merged with the file's other rows under --update), and OUT/targets.{csv,md}
    only for --preset targets: the figures need its configurations, which a run of others does not
    measure. Prints the tables; returns the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    if args.update and (out / "throughput.csv").exists():
        rows = merge_rows(out / "throughput.csv", rows)
    written = []
    if rows:
        write_csv(out / "throughput.csv", rows)
        md = markdown(rows, args, started, failures)
        (out / "throughput.md").write_text(md)
        print(md)
        written += [out / "throughput.csv", out / "throughput.md"]
    if args.preset == "targets":
        print(write_targets(out, targets(rows, args.env, load_targets(args.targets)), args, started))
        written += [out / "targets.csv", out / "targets.md"]
    return [str(p) for p in written]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(METHODS), type=lambda s: s.split(","))
    p.add_argument("--threads", default="1,2", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--runtime", default="process", type=lambda s: s.split(","))
    p.add_argument("--env", default=None, help=f"default: {DEFAULT_ENV}; {CONTINUOUS_ENV} with --preset continuous")
    p.add_argument("--frames", type=int, default=None,
                   help=f"per run; default: {DEFAULT_FRAMES:,}; {CONTINUOUS_FRAMES:,} with --preset continuous")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval-s", dest="interval_s", type=float, default=2.0,
                   help="metrics.csv row interval (the steady rate is measured between rows); also the "
                        "peer's warm-up left out of its steady rate")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra CLI override for every run of ours, e.g. --set env.backend=lean (repeatable)")
    p.add_argument("--out", default=str(ROOT / "results" / "bench"))
    p.add_argument("--update", action="store_true",
                   help="keep OUT/throughput.csv's other rows; replace only the configurations run now")
    p.add_argument("--peer-python", default=None, metavar="PY",
                   help="also run pfrl's A3C with this python (a pfrl virtualenv; built if missing: "
                        "tools/bench_peer.py), rows 'pfrl-<version> a3c'")
    p.add_argument("--with-eval", action="store_true",
                   help=f"also run '{EVAL_LABEL}': a3c with an evaluation always running")
    p.add_argument("--preset", choices=PRESETS, default=None,
                   help="targets: the configurations the throughput targets need (ignores --methods/--threads/"
                        "--runtime), and OUT/targets.{csv,md}")
    p.add_argument("--targets", default=str(TARGETS_FILE), metavar="YAML",
                   help="the thresholds of --preset targets (default: tools/targets.yaml)")
    args = p.parse_args(argv)
    continuous = args.preset == "continuous"
    args.env = args.env or (CONTINUOUS_ENV if continuous else DEFAULT_ENV)
    args.frames = args.frames or (CONTINUOUS_FRAMES if continuous else DEFAULT_FRAMES)
    if continuous:
        from asyncrl.envs_continuous import INSTALL_HINT, missing_package

        if missing_package("mujoco"):
            print(f"[bench] --preset continuous needs the mujoco package: {INSTALL_HINT}", file=sys.stderr)
            return 2
    if args.preset == "targets":
        try:
            load_targets(args.targets)
        except ValueError as e:
            print(f"[bench] {e}", file=sys.stderr)
            return 2

    peer_label = None
    if args.peer_python:
        args.peer_python = bench_peer.ensure_peer_python(args.peer_python)
        peer_label = bench_peer.peer_label(bench_peer.peer_version(args.peer_python))
    elif args.preset == "targets":
        print("[bench] no --peer-python: the pfrl rows and the ours ÷ pfrl target are not measured", flush=True)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    configs = build_configs(args, peer_label)
    results: dict = {c: [] for c in configs}
    failures = []
    with tempfile.TemporaryDirectory(prefix="asyncrl-bench-") as tmp:
        for rep in range(args.repeats):
            for i, cfg in enumerate(configs):
                root = Path(tmp) / f"r{rep}-{i}"
                name = f"{cfg.method} {cfg.runtime} threads={cfg.threads}"
                try:
                    r = (run_peer if cfg.kind == "peer" else run_once)(cfg, args, root)
                except RuntimeError as e:
                    failures.append(f"repeat {rep + 1} {name}")
                    print(f"[bench] repeat {rep + 1}/{args.repeats} {name}: FAILED\n{e}", file=sys.stderr, flush=True)
                    continue
                results[cfg].append(r)
                print(
                    f"[bench] repeat {rep + 1}/{args.repeats} {name}: "
                    f"{r['steps_per_s']:,.0f} steps/s ({r['frames_per_s']:,.0f} frames/s steady, "
                    f"{r['summary_frames_per_s']:,.0f} in summary), overhead {r['overhead_s']:.1f} s, "
                    f"load {r['load1']:.1f}, other load "
                    + ("?" if r.get("other_load") is None else f"{r['other_load']:.2f}"),
                    flush=True,
                )
    written = write_outputs(Path(args.out), summarize(results, args, started), args, started, failures)
    print(f"[bench] wrote {', '.join(written) or 'nothing'}")
    if failures:
        print(f"[bench] {len(failures)} run(s) failed: {'; '.join(failures)}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

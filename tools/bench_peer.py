"""The peer of tools/bench.py: pfrl 0.4.0's A3C, timed in its own virtualenv, in the same run as ours.

tools/bench.py --peer-python PY runs tools/peers/pfrl_a3c.py with PY (a virtualenv holding
pfrl, never the project's environment) for each actor-learner count, interleaved with our own
configurations, and adds the rows `pfrl-<version> a3c` to throughput.csv / throughput.md. This
module holds what that needs: the driver's command line, the parsing of its result line, and the
building of the peer virtualenv.

Build the peer virtualenv (what `python tools/bench_peer.py --make-venv /tmp/pfrlvenv` runs; a
missing --peer-python of tools/bench.py is built the same way):

    python3 -m venv /tmp/pfrlvenv
    /tmp/pfrlvenv/bin/pip install torch==2.13.0        # first: the CPU build found on local disk
    /tmp/pfrlvenv/bin/pip install pfrl==0.4.0 gym==0.24.1 ale-py==0.12.1 \\
        opencv-python-headless==5.0.0.93 packaging

Why these versions: pfrl 0.4.0 requires only `gym>=0.9.7`, so pip picks gym 0.26.2, whose
`ObservationWrapper` and `RewardWrapper` speak the new 5-tuple step API while pfrl's Atari
wrappers (WarpFrame, ClipRewardEnv, ...) speak the old 4-tuple one: training fails at the first
step. gym 0.24.1 is the last release whose wrappers use the old API throughout and whose
`np_random` has the `integers` method pfrl's NoopResetEnv calls for gym >= 0.24 (gym warns about
`gym.make`, which the driver does not use). pfrl 0.4.0 imports `packaging` without declaring
it. ale-py 0.12 no longer registers gym environments, so the driver drives `ale_py.ALEInterface`
under pfrl's wrappers itself (see tools/peers/pfrl_a3c.py). torch, ale-py, opencv and numpy
are the versions of the project's own environment, so the two sides differ in their RL code
only.

Check the peer alone: `python tools/bench_peer.py --peer-python /tmp/pfrlvenv/bin/python
--threads 1 --frames 8000` (one run per count, prints the parsed result).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tools" / "peers" / "pfrl_a3c.py"
RESULT_TAG = "PFRL_A3C_RESULT"  # the driver's result line (tools/peers/pfrl_a3c.py)
PEER_VERSION = "0.4.0"  # the pfrl release the peer virtualenv holds
PEER_PACKAGES = [f"pfrl=={PEER_VERSION}", "gym==0.24.1", "ale-py==0.12.1", "opencv-python-headless==5.0.0.93", "packaging"]
PEER_TORCH = "torch==2.13.0"
FRAME_SKIP = 4


def peer_label(version: str) -> str:
    """The method column of the peer's rows, e.g. 'pfrl-0.4.0 a3c'."""
    return f"pfrl-{version} a3c"


def is_peer_method(method) -> bool:
    return isinstance(method, str) and method.startswith("pfrl-") and method.endswith(" a3c")


def venv_commands(venv: Path, base_python: str = "python3") -> list:
    return [
        [base_python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", PEER_TORCH],
        [str(venv / "bin" / "pip"), "install", *PEER_PACKAGES],
    ]


def make_venv(venv: Path, base_python: str = "python3") -> Path:
    """Build the peer virtualenv at `venv` (the commands of the module docstring); its python."""
    for cmd in venv_commands(Path(venv), base_python):
        print("[bench_peer] + " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    return Path(venv) / "bin" / "python"


def ensure_peer_python(python: str) -> str:
    """`python` if it exists; else build the virtualenv it names (.../bin/python) and return it."""
    path = Path(python)
    if path.exists():
        return str(path)
    if path.parent.name != "bin":
        raise SystemExit(f"--peer-python {python}: no such file, and not a virtualenv's bin/python to build")
    print(f"[bench_peer] {python} does not exist: building the peer virtualenv {path.parent.parent}", flush=True)
    make_venv(path.parent.parent)
    return str(path)


def peer_version(python: str) -> str:
    """The pfrl version installed for `python` (raises SystemExit with the reason when it has none)."""
    code = "import importlib.metadata as m; print(m.version('pfrl'))"
    res = subprocess.run([python, "-c", code], capture_output=True, text=True)
    if res.returncode != 0 or not res.stdout.strip():
        raise SystemExit(f"--peer-python {python}: no pfrl there ({res.stderr.strip()[-300:]}); build it with "
                         f"`python tools/bench_peer.py --make-venv <dir>`")
    return res.stdout.strip()


def env_settings(env: str) -> dict:
    """ALE game id and fire_reset of our conf/env/<env>.yaml, so that pfrl plays the same game the
    same way (FIRE after a reset where our env presses it)."""
    from omegaconf import OmegaConf

    path = ROOT / "conf" / "env" / f"{env}.yaml"
    if not path.exists():
        raise SystemExit(f"peer: no conf/env/{env}.yaml")
    cfg = OmegaConf.load(path)
    return {"game": str(cfg.get("game", env)), "fire_reset": bool(cfg.get("fire_reset", False))}


def peer_command(python: str, env: str, processes: int, frames: int, seed: int = 0, warmup_s: float = 2.0) -> list:
    """The driver's command line for `frames` frames (frames / 4 agent steps, as our total_frames)."""
    s = env_settings(env)
    cmd = [python, str(DRIVER), "--game", s["game"], "--processes", str(processes),
           "--steps", str(frames // FRAME_SKIP), "--seed", str(seed), "--warmup-s", str(warmup_s)]
    if s["fire_reset"]:
        cmd.append("--fire-reset")
    return cmd


def parse_peer_output(text: str) -> dict:
    """The driver's result: the JSON of its last `PFRL_A3C_RESULT {...}` line. ValueError when
    there is none, it is not a JSON object, or it has no rate (peer_rate)."""
    found = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(RESULT_TAG + " "):
            found = line[len(RESULT_TAG) + 1:]
    if found is None:
        raise ValueError(f"no '{RESULT_TAG}' line in the peer's output")
    try:
        result = json.loads(found)
    except json.JSONDecodeError as e:
        raise ValueError(f"the peer's result line is not JSON: {e}") from None
    if not isinstance(result, dict):
        raise ValueError("the peer's result line is not a JSON object")
    if peer_rate(result) is None:
        raise ValueError(f"the peer reported no rate (steady_steps_per_s={result.get('steady_steps_per_s')!r}, "
                         f"summary_steps_per_s={result.get('summary_steps_per_s')!r})")
    return result


def peer_rate(result: dict):
    """Agent steps/s of a peer result: the steady rate, else (a run too short to have one past the
    warm-up) the rate from global step 1 to the end, as bench.py falls back to summary.json's."""
    for key in ("steady_steps_per_s", "summary_steps_per_s"):
        v = result.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0:
            return float(v)
    return None


def versions_text(result: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in (result.get("versions") or {}).items() if v)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--make-venv", metavar="DIR", help="build the peer virtualenv in DIR and exit")
    p.add_argument("--base-python", default="python3", help="the interpreter the virtualenv is made from")
    p.add_argument("--peer-python", help="run the driver with this python (check the peer alone)")
    p.add_argument("--env", default="breakout")
    p.add_argument("--threads", default="1", type=lambda s: [int(x) for x in s.split(",")])
    p.add_argument("--frames", type=int, default=8000)
    args = p.parse_args(argv)
    if args.make_venv:
        python = make_venv(Path(args.make_venv), args.base_python)
        print(f"[bench_peer] pfrl {peer_version(str(python))} ready: --peer-python {python}")
        return 0
    if not args.peer_python:
        p.error("give --make-venv DIR or --peer-python PY")
    python = ensure_peer_python(args.peer_python)
    for n in args.threads:
        cmd = peer_command(python, args.env, n, args.frames)
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        try:
            r = parse_peer_output(res.stdout)
        except ValueError as e:
            print(f"[bench_peer] {n} process(es) failed ({e}):\n{res.stderr[-3000:]}", file=sys.stderr)
            return 1
        steady = r.get("steady_steps_per_s")
        print(f"[bench_peer] {peer_label(r['pfrl'])}, {n} process(es): {peer_rate(r):,.0f} agent steps/s "
              f"({'steady, after the warm-up' if steady else 'from step 1: too short for a steady rate'}), "
              f"start-up {r.get('startup_s') or 0:.2f} s; {versions_text(r)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

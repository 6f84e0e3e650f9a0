"""Keep a finished run's final model in its checkpoint and drop what only a resume needs.

    python scripts/ship_model.py <run dir> [sample=false]

A run's checkpoint holds the shared parameters θ and what a resume needs besides: the shared
RMSProp statistics g (as large as θ), the target network θ⁻ of the value-based methods, and the
evaluations waiting to be played. A finished run resumes no more, so its shipped model needs only θ
and the frame count and training time its evaluations are recorded at: this rewrites
<run dir>/checkpoint.pt with those (atomically; about half the size for A3C FF), and
scripts/evaluate.py plays it as before. A run that is not completed (its summary's status) is
refused: its checkpoint is still the one its command resumes from.

An A3C model can be shipped with the policy it is to be played by: sample=false records in the
checkpoint that it plays the argmax of pi, sample=true that it draws from pi. scripts/evaluate.py then
plays that policy unless told otherwise (its own sample= option), and every evaluation entry names
the policy it played. With no sample= the run's configured evaluation policy stays the default.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import asyncrl  # noqa: F401
except ImportError:  # running from a source checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

USAGE = "usage: python scripts/ship_model.py <run dir> [sample=true|false]"


def main(argv=None) -> int:
    from asyncrl import checkpoint, results
    from asyncrl.script_options import method_class, parse_run_options

    run_dir, opts = parse_run_options("ship_model.py", USAGE, sys.argv[1:] if argv is None else argv,
                                      defaults={"sample": None}, kinds={"sample": bool})
    sample = opts["sample"]
    ckpt_path, summary = run_dir / "checkpoint.pt", results.read_json(run_dir / "summary.json")
    if summary is None or not ckpt_path.exists():
        raise SystemExit(f"ship_model.py: error: {run_dir} has no summary.json and checkpoint.pt (is it a run directory?)")
    if summary.get("status") != "completed":
        raise SystemExit(f"ship_model.py: error: {run_dir} is {summary.get('status')!r}, not completed: "
                         "its checkpoint is what its command resumes from")
    if sample is not None and not method_class("ship_model.py", run_dir, summary.get("method")).policy_head:
        raise SystemExit(f"ship_model.py: error: sample= is for A3C runs (this run is {summary.get('method')})")
    before = ckpt_path.stat().st_size
    try:  # plain data only: a file that would run code, or is damaged, is refused unread
        ckpt = checkpoint.load(ckpt_path)
    except checkpoint.CheckpointError as exc:
        print(f"ship_model.py: error: {exc}; restore the file from a copy of the run", file=sys.stderr)
        return 2
    # only what a resume needs goes; the keys stay, so every reader sees one shape
    shipped = {**ckpt, "target": None, "stats": None, "pending_evals": []}
    if sample is not None:
        shipped["eval_sample"] = sample
    checkpoint.save(ckpt_path, shipped)
    print(f"{ckpt_path}: {before / 1e6:.1f} MB -> {ckpt_path.stat().st_size / 1e6:.1f} MB (parameters, frames "
          f"{int(ckpt['frames']):,}; optimizer statistics, target network and pending evaluations dropped)"
          + ("" if shipped.get("eval_sample") is None else
             f"; plays {'a draw from' if shipped['eval_sample'] else 'the argmax of'} pi"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

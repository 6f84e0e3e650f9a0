"""Re-evaluate a run's checkpoint: whole games from no-op starts, raw scores.

    python scripts/evaluate.py <run dir> [episodes=30] [video=true] [seed=12345] [sample=false]

Prints mean/std/min/max, appends the evaluation to the run's summary.json ("evals", marked
"source": "evaluate.py"), and with video=true writes <run dir>/video.mp4 of the first game.
A3C picks its actions as the run was configured to evaluate (method.eval_sample: by default a
draw from pi), or as its model was shipped with (scripts/ship_model.py sample=...); sample=false
takes the argmax of pi instead, sample=true draws. The entry records which ("policy": "sampled" or
"argmax").
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import asyncrl  # noqa: F401
except ImportError:  # running from a source checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

USAGE = "usage: python scripts/evaluate.py <run dir> [episodes=N] [video=true|false] [seed=S] [sample=true|false]"


def parse(argv):
    from asyncrl.script_options import parse_run_options

    run_dir, opts = parse_run_options(
        "evaluate.py", USAGE, argv, defaults={"episodes": 30, "video": False, "seed": 12345, "sample": None},
        kinds={"episodes": int, "video": bool, "seed": int, "sample": bool})
    if opts["episodes"] < 1:
        raise SystemExit("evaluate.py: error: episodes must be >= 1")
    return run_dir, opts


class Mp4Writer:
    """Frames -> MP4 with OpenCV (already a dependency; no ffmpeg or moviepy needed)."""

    def __init__(self, path: Path, fps: float):
        self.path, self.fps, self.writer = path, fps, None

    def __call__(self, frame):
        import cv2

        if self.writer is None:
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
        self.writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    def close(self):
        if self.writer is not None:
            self.writer.release()


def refuse(exc) -> int:
    """A checkpoint that cannot be played: one line, exit 2, nothing written."""
    print(f"evaluate.py: error: {exc}; restore the file from a copy of the run", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    import torch
    from omegaconf import OmegaConf

    from asyncrl import checkpoint, results
    from asyncrl.evaluation import EVAL_RANK, evaluate, summarize
    from asyncrl.runtime.model import build_model
    from asyncrl.script_options import method_class

    run_dir, opts = parse(sys.argv[1:] if argv is None else argv)
    config, ckpt_path = run_dir / "config.yaml", run_dir / "checkpoint.pt"
    for f in (config, ckpt_path):
        if not f.exists():
            raise SystemExit(f"evaluate.py: error: {f} not found (is {run_dir} a run directory?)")
    torch.set_num_threads(1)
    cfg = OmegaConf.load(config)
    has_pi = method_class("evaluate.py", run_dir, cfg.method.get("name")).policy_head
    if opts["sample"] is not None and not has_pi:
        raise SystemExit(f"evaluate.py: error: sample= is for A3C runs (this run is {cfg.method.name})")
    try:  # plain data only: a file that would run code, or is damaged, is refused unread
        ckpt = checkpoint.load(ckpt_path)
    except checkpoint.CheckpointError as exc:
        return refuse(exc)
    shipped_sample = ckpt.get("eval_sample")  # the policy a shipped model plays (scripts/ship_model.py)
    if opts["sample"] is not None or shipped_sample is not None:
        cfg.method.eval_sample = opts["sample"] if opts["sample"] is not None else shipped_sample
    spec, method_cls, net = build_model(cfg)
    try:
        checkpoint.check_fits({"model": ckpt["model"]}, ckpt_path, net)
    except checkpoint.CheckpointError as exc:
        return refuse(exc)
    net.load_state_dict(ckpt["model"])
    method = method_cls(cfg.method, spec.n_actions, EVAL_RANK, opts["seed"])
    video = Mp4Writer(run_dir / "video.mp4", fps=60 / spec.frame_skip if cfg.env.kind == "atari" else 30) if opts["video"] else None
    try:
        scores = evaluate(net, method, cfg.env, opts["episodes"], opts["seed"], on_frame=video)
    finally:
        if video is not None:
            video.close()
    stats = summarize(scores)
    entry = {"frames": int(ckpt["frames"]), "wall_time_s": float(ckpt["wall_time_s"]), **stats,
             "source": "evaluate.py", "seed": opts["seed"]}
    if has_pi:
        mode = "mean" if getattr(method_cls, "continuous_actions", False) else "argmax"  # a Gaussian's mode is mu
        entry["policy"] = "sampled" if cfg.method.get("eval_sample", True) else mode
    summary = results.read_json(run_dir / "summary.json")
    if summary is not None:
        summary.setdefault("evals", []).append(entry)
        results.write_json(run_dir / "summary.json", summary)
    print(
        f"{cfg.method.name} on {cfg.env.game} at {entry['frames']:,} frames, {stats['episodes']} games "
        f"(no-op starts{', ' + entry['policy'] + ' actions' if 'policy' in entry else ''}): mean {stats['mean']:.2f}  std {stats['std']:.2f}  min {stats['min']:.2f}  max {stats['max']:.2f}"
    )
    if video is not None:
        print(f"video: {run_dir / 'video.mp4'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

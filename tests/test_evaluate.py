"""scripts/evaluate.py on a real (tiny) run: statistics, summary append, video, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def sh(*args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=ENV)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("eval")
    res = sh("-m", "asyncrl", "env=toy", "threads=1", "total_frames=3000", "eval.episodes=2", "results_root=runs", cwd=cwd)
    assert res.returncode == 0, res.stderr
    return cwd / "runs/a3c/toy/threads1-seed0"


def test_evaluate_appends_to_summary(toy_run):
    res = sh(str(ROOT / "scripts/evaluate.py"), str(toy_run), "episodes=4", cwd=toy_run)
    assert res.returncode == 0, res.stderr
    assert "mean" in res.stdout and "4 games" in res.stdout
    s = json.loads((toy_run / "summary.json").read_text())
    last = s["evals"][-1]
    assert last["source"] == "evaluate.py" and last["episodes"] == 4 and last["frames"] == 3000
    assert 0.0 <= last["min"] <= last["mean"] <= last["max"] <= 1.0  # the corridor pays 0 or 1


@pytest.mark.parametrize("args", [[], ["episodes=0"], ["bogus=1"], ["video=maybe"]])
def test_evaluate_bad_input(toy_run, args):
    run = [str(toy_run)] if args else []  # no arguments at all: the usage line
    res = sh(str(ROOT / "scripts/evaluate.py"), *run, *args, cwd=toy_run)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "usage" in res.stderr or "error" in res.stderr


@pytest.mark.atari
def test_evaluate_records_an_atari_video(tmp_path):
    res = sh("-m", "asyncrl", "env=pong", "threads=1", "total_frames=2000", "eval.episodes=0",
             "results_root=runs", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    run = tmp_path / "runs/a3c/pong/threads1-seed0"
    res = sh(str(ROOT / "scripts/evaluate.py"), str(run), "episodes=1", "video=true", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    video = run / "video.mp4"
    assert video.exists() and video.stat().st_size > 10_000
    import cv2

    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) > 100 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 160

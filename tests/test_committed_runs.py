"""The committed run directories (results/): a run left unfinished at a session's end must carry
its checkpoint, or the next session (maybe on a new machine) cannot resume it: re-running its
command refuses, since its results would be lost. `git add` skips a checkpoint that .gitignore
excludes without a word; this test is what notices on a fresh clone."""

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Unfinished runs stopped for good, their checkpoints dropped on purpose (README, Results: the three
# Pong learning-rate draws whose networks died; they cannot learn again)
STOPPED_FOR_GOOD = {
    "results/runs_lr/a3c/pong/threads2-seed0-lr0.0059036",
    "results/runs_lr/a3c/pong/threads2-seed1-lr0.009912",
    "results/runs_lr/a3c/pong/threads2-seed2-lr0.0016134",
}


def committed_runs():
    for path in sorted((ROOT / "results").glob("**/summary.json")):
        yield path.parent.relative_to(ROOT).as_posix(), json.loads(path.read_text())


def test_every_unfinished_committed_run_carries_its_checkpoint():
    runs = dict(committed_runs())
    assert runs, "no committed run directories found"
    unfinished = {d for d, s in runs.items() if s.get("status") != "completed"}
    missing = sorted(d for d in unfinished - STOPPED_FOR_GOOD if not (ROOT / d / "checkpoint.pt").is_file())
    assert not missing, f"unfinished runs without checkpoint.pt (commit it: see .gitignore): {missing}"
    assert STOPPED_FOR_GOOD <= set(runs)  # a stale entry here would hide nothing, but says the list is wrong

"""The code a run trains with (asyncrl.fingerprint) and the code versions of its segments
(results.code_history, summary.json ``code``)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asyncrl import fingerprint, logger, results
from asyncrl.runtime.trainer import Trainer

ROOT = Path(__file__).resolve().parents[1]
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def plain_install(site: Path) -> Path:
    """A copy of the package laid out as `pip install .` lays it (conf/ inside it), without git."""
    pkg = site / "asyncrl"
    shutil.copytree(ROOT / "asyncrl", pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "conf", pkg / "conf")
    return pkg


def checkout(top: Path) -> str:
    """A git repository at `top` holding the package and conf/ as the source tree does; its HEAD."""
    shutil.copytree(ROOT / "asyncrl", top / "asyncrl", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "conf", top / "conf")
    commit(top, "code")
    return git(top, "rev-parse", "HEAD")


def git(top: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(top), *args], check=True, capture_output=True, text=True).stdout.strip()


def commit(top: Path, message: str) -> None:
    if not (top / ".git").exists():
        git(top, "init", "-q")
    git(top, "add", "-A")
    git(top, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message)


def fingerprint_of_copy(site: Path, cwd: Path) -> dict:
    """The fingerprint a run started in `cwd` records when asyncrl is imported from `site`; no git
    repository above `cwd` or `site` is looked at."""
    env = {**os.environ, "PYTHONPATH": str(site), "GIT_CEILING_DIRECTORIES": str(cwd.parent)}
    # imported from `site` (python -c puts its starting directory, here site's parent, first on the path)
    code = (f"import json, os, asyncrl.fingerprint as f; os.chdir({str(cwd)!r}); "
            "print(json.dumps([f.__file__, f.fingerprint()]))")
    res = subprocess.run([sys.executable, "-c", code], cwd=site.parent, env=env, capture_output=True, text=True,
                         check=True)
    where, found = json.loads(res.stdout)
    assert Path(where).resolve().is_relative_to(site.resolve())  # the copy, not this checkout, was imported
    return found


def test_a_plain_install_outside_any_repository_has_a_fingerprint(tmp_path):
    """No git to ask: the commit is unknown but the package and conf hashes exist, and are the source
    tree's (the same files make the same code however they are installed)."""
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    plain_install(site)
    found = fingerprint_of_copy(site, elsewhere)
    tree = fingerprint.code_files(ROOT / "asyncrl", ROOT / "conf")
    assert found["git_commit"] is None
    assert found["source"] == fingerprint.digest(tree, "asyncrl") and len(found["source"]) == fingerprint.HASH_CHARS
    assert found["conf"] == fingerprint.digest(tree, "conf") and found["conf"] != found["source"]


@needs_git
def test_a_plain_install_gets_the_commit_of_the_checkout_it_runs_in_when_the_files_match(tmp_path):
    """A run of a plain install started in a checkout of the same files records that checkout's
    commit; -dirty when both hold the same uncommitted change; none when the checkout's files differ
    from the install's (it is not that code)."""
    site, top = tmp_path / "site", tmp_path / "repo"
    pkg = plain_install(site)
    head = checkout(top)
    assert fingerprint_of_copy(site, top)["git_commit"] == head
    (top / "README.md").write_text("not code\n")  # a file outside asyncrl/ and conf/ is not the code
    assert fingerprint_of_copy(site, top)["git_commit"] == head
    for where in (top / "asyncrl", pkg):
        with open(where / "returns.py", "a") as f:
            f.write("# changed\n")
    assert fingerprint_of_copy(site, top)["git_commit"] == head + "-dirty"
    (top / "conf" / "config.yaml").write_text((top / "conf" / "config.yaml").read_text() + "# other\n")
    assert fingerprint_of_copy(site, top)["git_commit"] is None


@needs_git
def test_the_files_that_changed_since_a_commit_are_the_code_files_git_shows(tmp_path):
    top = tmp_path / "repo"
    first = checkout(top)
    (top / "asyncrl" / "returns.py").write_text("# new returns\n")
    (top / "asyncrl" / "new_module.py").write_text("x = 1\n")
    (top / "docs.md").write_text("not code\n")
    commit(top, "more")
    (top / "conf" / "env" / "breakout.yaml").write_text("game: breakout\n")  # uncommitted: this code too
    since = lambda commit: fingerprint.changed_files(commit, (top,), top / "asyncrl")  # noqa: E731
    assert since(first) == ["asyncrl/new_module.py", "asyncrl/returns.py", "conf/env/breakout.yaml"]
    assert since("0" * 40) is None and since(None) is None  # a commit this checkout does not know; none


def code(source, frames, wall, commit="c1", conf="f1"):
    return {"git_commit": commit, "source": source, "conf": conf, "from_frames": frames, "from_wall_s": wall}


def test_the_code_versions_a_run_trained_under_are_its_summarys_history():
    """results.code_history: a new run starts one entry; a resume on the same code keeps it (even at
    another commit, e.g. one that only added results), on other code adds one at the checkpoint's T
    and time; entries past the checkpoint go; a summary from before the field is unrecorded code."""
    from asyncrl.results import code_history

    a, b = code("A", 0, 0.0), {"git_commit": "c2", "source": "B", "conf": "f1"}
    fp = lambda e: {k: e[k] for k in results.CODE_KEYS}  # noqa: E731
    assert code_history(None, 0, 0.0, fp(a)) == [a]
    assert code_history({"code": [a]}, 700, 60.0, {**fp(a), "git_commit": "c9"}) == [a]
    two = code_history({"code": [a]}, 700, 60.0, b)
    assert two == [a, code("B", 700, 60.0, "c2")]
    assert code_history({"code": [a]}, 700, 60.0, {**fp(a), "conf": "f2"}) == [a, code("A", 700, 60.0, conf="f2")]
    assert code_history({"code": two}, 900, 80.0, b) == two
    assert code_history({"code": two}, 700, 60.0, fp(a)) == [a]  # B's frames are trained again, on A
    old = {"versions": {"git_commit": None}, "frames": 700}
    assert code_history(old, 700, 60.0, fp(a)) == [code(None, 0, 0.0, None, None), code("A", 700, 60.0)]
    assert code_history({"code": two}, 0, 0.0, fp(a)) == [a]  # resume=false: a new run


def resume_on(compose_cfg, tmp_path, monkeypatch, before, now, changed=None):
    """Resume a toy run at 2,000 frames whose summary says it trained on `before`, with this process's
    code fingerprint `now`; its summary."""
    cfg = compose_cfg("env=toy", "eval.episodes=0", "logger.progress=false", "logger.interval_s=0.2",
                      "runtime=thread", "threads=1", "total_frames=4000")
    ck = Trainer(cfg, tmp_path).checkpoint_payload(2000, 1.5)
    results.write_json(tmp_path / "summary.json", {"status": "interrupted", "frames": 2000, "code": before})
    monkeypatch.setattr(fingerprint, "fingerprint", lambda: now)
    monkeypatch.setattr(fingerprint, "changed_files", lambda since: changed)
    resumed = Trainer(cfg, tmp_path, checkpoint=ck)
    s = resumed.run(logger.RunLog(cfg, tmp_path, resumed.method_cls.stat_keys, os.cpu_count()))
    assert s["status"] == "completed", s.get("error")
    return s


def test_a_run_resumed_on_other_code_adds_a_segment_and_says_so_once(compose_cfg, tmp_path, monkeypatch, capsys):
    a = code("A", 0, 0.0, commit="a" * 40)
    now = {"git_commit": "b" * 40 + "-dirty", "source": "B", "conf": "f1"}
    s = resume_on(compose_cfg, tmp_path, monkeypatch, [a], now, changed=["asyncrl/networks.py", "conf/env/_atari.yaml"])
    assert s["code"] == [a, {**now, "from_frames": 2000, "from_wall_s": 1.5}]
    assert s["versions"]["git_commit"] == now["git_commit"]
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "other code" in ln]
    assert lines == ["[asyncrl] warning: this run continues at 2,000 frames on other code: asyncrl B, conf f1, "
                     "git bbbbbbbbbbbb (was asyncrl A, conf f1, git aaaaaaaaaaaa); changed since aaaaaaaaaaaa: "
                     "asyncrl/networks.py, conf/env/_atari.yaml"]


def test_a_run_resumed_on_the_same_code_keeps_one_segment_and_says_nothing(compose_cfg, tmp_path, monkeypatch, capsys):
    a = code("A", 0, 0.0)
    s = resume_on(compose_cfg, tmp_path, monkeypatch, [a], {"git_commit": "c5", "source": "A", "conf": "f1"})
    assert s["code"] == [a]
    out = capsys.readouterr().out
    assert "other code" not in out and "not recorded" not in out


def test_a_run_from_before_the_field_resumes_with_its_earlier_code_unrecorded(compose_cfg, tmp_path, monkeypatch,
                                                                               capsys):
    now = {"git_commit": None, "source": "B", "conf": "f1"}
    s = resume_on(compose_cfg, tmp_path, monkeypatch, None, now)
    assert s["code"] == [code(None, 0, 0.0, None, None), {**now, "from_frames": 2000, "from_wall_s": 1.5}]
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "not recorded" in ln]
    assert lines == ["[asyncrl] note: this run continues at 2,000 frames on code asyncrl B, conf f1; the code it "
                     "trained on before is not recorded"]


def test_the_tables_mark_a_run_trained_on_more_than_one_code_version(tmp_path):
    """tables.code_versions: the distinct recorded versions of summary.json code; unknown (None, not
    marked) for a run from before the field or whose only recorded version follows unrecorded code.
    atari_runs and methods_comparison say ", 2 code versions" beside the frames trained."""
    from asyncrl import tables as T
    from tests.test_tables import make_run

    unrecorded = code(None, 0, 0.0, None, None)
    histories = {"a3c": [code("A", 0, 0.0), code("B", 500, 10.0)], "n_step_q": [code("A", 0, 0.0)],
                 "one_step_q": [unrecorded, code("A", 500, 10.0)], "one_step_sarsa": None,
                 "a3c_lstm": [unrecorded, code("A", 500, 10.0), code("A", 700, 12.0, conf="f2")]}
    for method, history in histories.items():
        run = make_run(tmp_path, method, "pong", 2, 0, [(1, -21)], wall_time_s=3600.0, final_score=-20.0)
        if history is not None:
            summary = json.loads((run / "summary.json").read_text())
            (run / "summary.json").write_text(json.dumps({**summary, "code": history}))
    runs = T.load_runs(tmp_path)
    counts = {r["method"]: T.code_versions(r) for r in runs.to_dict("records")}
    assert counts == {"a3c": 2, "n_step_q": 1, "one_step_q": None, "one_step_sarsa": None, "a3c_lstm": 2}
    assert T.trained_label(1e6, 2) == "1.00M, 2 code versions" and T.trained_label(1e6, 1) == "1.00M"
    table = T.atari_runs(runs)
    assert {m: None if v != v else int(v) for m, v in zip(table["method"], table["code_versions"])} == counts
    md = T.atari_runs_markdown(table)
    assert md.count("code versions") == 2 and "| threads2-seed0 | 0.0007 | 1M | 1.00M, 2 code versions |" in md
    md = T.methods_markdown(T.methods_comparison(runs))
    assert "| a3c | 0 | 1.00M, 2 code versions | 1.00 |" in md and "| n_step_q | 0 | 1.00M | 1.00 |" in md
    assert md.count("code versions") == 2

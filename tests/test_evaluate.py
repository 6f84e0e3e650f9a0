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


def with_policy(run, dest, bias):
    """A copy of a run whose checkpoint holds a known policy: zero head weights and the given head
    bias, so pi (or Q) is the same in every state."""
    import shutil

    import torch

    from asyncrl import checkpoint

    shutil.copytree(run, dest)
    ck = checkpoint.load(dest / "checkpoint.pt")
    ck["model"]["head.weight"].zero_()
    ck["model"]["head.bias"].copy_(torch.tensor(bias))
    checkpoint.save(dest / "checkpoint.pt", ck)
    return dest


@pytest.mark.parametrize("bias,score", [([-20.0, 20.0], 1.0), ([20.0, -20.0], 0.0)], ids=["always-right", "always-left"])
def test_evaluate_plays_the_checkpoint_and_appends_to_summary(toy_run, tmp_path, bias, score):
    """The checkpoint's policy is what plays: always right reaches the corridor's end (1 per game),
    always left walks into the wall until the time limit (0 per game)."""
    run = with_policy(toy_run, tmp_path / "run", bias)
    res = sh(str(ROOT / "scripts/evaluate.py"), str(run), "episodes=4", cwd=run)
    assert res.returncode == 0, res.stderr
    assert "mean" in res.stdout and "4 games" in res.stdout
    s = json.loads((run / "summary.json").read_text())
    last = s["evals"][-1]
    assert last["source"] == "evaluate.py" and last["episodes"] == 4 and last["frames"] == 3000
    assert last["min"] == last["mean"] == last["max"] == score


@pytest.mark.parametrize("sample", ["false", "true"])
def test_evaluate_sample_option_picks_argmax_or_draws(toy_run, tmp_path, sample):
    """pi nearly uniform with left slightly ahead: sample=false (argmax) always goes left and scores
    0; sample=true draws from pi and reaches the corridor's end in about a third of the games (0.35
    measured; none in 30 games has probability ~1e-6). The entry says which."""
    run = with_policy(toy_run, tmp_path / "run", [0.1, 0.0])
    res = sh(str(ROOT / "scripts/evaluate.py"), str(run), "episodes=30", f"sample={sample}", cwd=run)
    assert res.returncode == 0, res.stderr
    last = json.loads((run / "summary.json").read_text())["evals"][-1]
    assert last["policy"] == ("sampled" if sample == "true" else "argmax")
    assert last["mean"] >= 0.1 if sample == "true" else last["mean"] == 0.0, last


# ---- the evaluation protocol of a training run (the trainer's periodic and final evaluations) ----


def pinned_run(compose_cfg, tmp_path, bias, *overrides):
    """A real run (thread backend) whose network is pinned before training: zero head weights, the
    given head bias, and a learning rate far too small to move them. Its final evaluation plays
    that fixed policy (or Q) through the trainer's own evaluation path."""
    import torch

    from asyncrl import logger
    from asyncrl.runtime.trainer import Trainer

    cfg = compose_cfg("env=toy", "env.length=4", "runtime=thread", "threads=1", "total_frames=20",
                      "method.lr=1e-30", "eval.episodes=20", "logger.progress=false", *overrides)
    tr = Trainer(cfg, tmp_path)
    with torch.no_grad():
        tr.model.head.weight.zero_()
        tr.model.head.bias.copy_(torch.tensor(bias))
    s = tr.run(logger.RunLog(cfg, tmp_path, tr.method_cls.stat_keys, 1))
    assert s["status"] == "completed", s.get("error")
    assert tr.model.head.weight.abs().max() < 1e-20  # still the pinned policy
    return tr, s


@pytest.mark.parametrize("eval_epsilon", [0.0, 1.0])
def test_value_based_evaluation_is_eps_greedy_with_eval_epsilon(compose_cfg, tmp_path, eval_epsilon):
    """Q prefers left everywhere: greedy evaluation (eval_epsilon=0) never leaves the wall and scores
    0; with eval_epsilon=1 every action is random and most games reach the 4-cell corridor's end."""
    _, s = pinned_run(compose_cfg, tmp_path, [1.0, -1.0], "method=n_step_q", f"method.eval_epsilon={eval_epsilon}")
    mean = s["evals"][-1]["mean"]
    assert mean == 0.0 if eval_epsilon == 0 else mean >= 0.5, mean


@pytest.mark.parametrize("sample", [False, True])
def test_a3c_evaluation_samples_pi_or_takes_its_argmax(compose_cfg, tmp_path, sample):
    """pi is nearly uniform with left slightly ahead: the argmax (eval_sample=false) always goes left
    and scores 0; sampling pi (eval_sample=true) reaches the corridor's end in most games."""
    _, s = pinned_run(compose_cfg, tmp_path, [0.1, 0.0], "method=a3c", f"method.eval_sample={sample}")
    mean = s["evals"][-1]["mean"]
    assert mean >= 0.5 if sample else mean == 0.0, mean


def test_every_evaluation_has_its_own_seed(compose_cfg, tmp_path, monkeypatch):
    """Each evaluation of a run plays from its own seed: its env (no-op starts, initial states) and
    its policy's random draws (A3C sampling, eps-greedy) differ from every other evaluation's."""
    import copy

    from asyncrl.runtime import evaluations as evaluations_mod

    seen = []
    real_evaluate = evaluations_mod.evaluate

    def spy(net, method, env_cfg, episodes, seed, **kwargs):
        seen.append((seed, copy.deepcopy(method.rng).random()))  # the env's seed, the policy's first draw
        return real_evaluate(net, method, env_cfg, episodes, seed, **kwargs)

    monkeypatch.setattr(evaluations_mod, "evaluate", spy)
    tr, s = pinned_run(compose_cfg, tmp_path, [0.1, 0.0], "method=a3c", "eval.episodes=2")
    tr.evaluations.evaluate_here(20, 1.0, tr.model)  # two more evaluations, each with the next seed
    tr.evaluations.evaluate_here(20, 2.0, tr.model)
    assert len(seen) == len(tr.evals) == 3
    seeds, draws = zip(*seen)
    assert len(set(seeds)) == 3, seeds
    assert len(set(draws)) == 3, f"the evaluations' policies draw the same random numbers: {draws}"


@pytest.mark.parametrize("args", [[], ["episodes=0"], ["bogus=1"], ["video=maybe"], ["sample=maybe"]])
def test_evaluate_bad_input(toy_run, args):
    run = [str(toy_run)] if args else []  # no arguments at all: the usage line
    res = sh(str(ROOT / "scripts/evaluate.py"), *run, *args, cwd=toy_run)
    assert res.returncode != 0 and "Traceback" not in res.stderr
    assert "usage" in res.stderr or "error" in res.stderr


def test_run_options_parse_every_kind_and_refuse_the_rest():
    from asyncrl.script_options import parse_run_options

    defaults, kinds = {"n": 3, "flag": None}, {"n": int, "flag": bool}
    parse = lambda *argv: parse_run_options("p.py", "usage: p.py <run dir>", list(argv), defaults, kinds)  # noqa: E731
    assert parse("run") == (Path("run"), {"n": 3, "flag": None})
    assert parse("run", "n=7", "flag=YES")[1] == {"n": 7, "flag": True}
    assert parse("run", "flag=0")[1]["flag"] is False
    assert defaults == {"n": 3, "flag": None}  # the caller's defaults are not written to
    for argv, message in [((), "usage: p.py"), (("n=1",), "usage: p.py"),
                          (("run", "m=1"), "p.py: error: unknown option 'm=1'"),
                          (("run", "n"), "p.py: error: unknown option 'n'"),
                          (("run", "n=x"), "p.py: error: n must be an integer (got 'x')"),
                          (("run", "flag=maybe"), "p.py: error: flag must be true or false (got 'maybe')")]:
        with pytest.raises(SystemExit) as e:
            parse(*argv)
        assert str(e.value).startswith(message), (argv, e.value)


def test_sample_is_refused_for_a_method_without_a_policy_head(toy_run, tmp_path):
    """A run of a value-based method (its summary and config say so): both scripts refuse sample=
    before touching the checkpoint."""
    import shutil

    from omegaconf import OmegaConf

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    s = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**s, "method": "one_step_q"}))
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.method.name = "one_step_q"
    OmegaConf.save(cfg, run / "config.yaml")
    before = (run / "checkpoint.pt").read_bytes()
    for script in ("ship_model.py", "evaluate.py"):
        res = sh(str(ROOT / "scripts" / script), str(run), "sample=false", cwd=run)
        assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
        assert "sample= is for A3C runs (this run is one_step_q)" in res.stderr, res.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("method", ["nowhere_pkg.mod:Thing", "asyncrl.methods:NoSuchMethod", "dqn"])
def test_a_run_whose_method_cannot_be_loaded_is_one_line(toy_run, tmp_path, method):
    """A user's own method that is not importable here, or one this version lacks: both scripts say
    so in one line, before touching the checkpoint (ship_model.py only looks when sample= is given)."""
    import shutil

    from omegaconf import OmegaConf

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    s = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**s, "method": method}))
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.method.name = method
    OmegaConf.save(cfg, run / "config.yaml")
    before = (run / "checkpoint.pt").read_bytes()
    for script, args in (("ship_model.py", ["sample=false"]), ("evaluate.py", [])):
        res = sh(str(ROOT / "scripts" / script), str(run), *args, cwd=run)
        assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr
        assert f"{script}: error: {run}: its method '{method}' cannot be loaded here" in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


def test_only_the_methods_with_a_policy_head_take_sample():
    from asyncrl.methods import METHODS

    assert {name for name, cls in METHODS.items() if cls.policy_head} == {"a3c", "a3c_lstm", "a3c_continuous"}


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


def test_ship_model_keeps_the_parameters_and_evaluate_plays_them(toy_run, tmp_path):
    """A finished run's checkpoint loses the optimizer statistics (what only a resume needs) and
    keeps θ: the same parameters, and evaluate.py plays the shipped file as it played the full one."""
    import torch

    from asyncrl import checkpoint

    run = with_policy(toy_run, tmp_path / "run", [-20.0, 20.0])
    full = checkpoint.load(run / "checkpoint.pt")
    assert full["stats"], "the toy run's A3C keeps shared RMSProp statistics to drop"
    stats_bytes = sum(v.numel() * v.element_size() for v in full["stats"])
    before = (run / "checkpoint.pt").stat().st_size
    res = sh(str(ROOT / "scripts/ship_model.py"), str(run), cwd=run)
    assert res.returncode == 0, res.stderr
    shipped = checkpoint.load(run / "checkpoint.pt")
    assert shipped["stats"] is None and shipped["target"] is None and shipped["pending_evals"] == []
    assert shipped["frames"] == full["frames"] == 3000 and shipped["evals"] == full["evals"]
    assert shipped["model"].keys() == full["model"].keys()
    assert all(torch.equal(shipped["model"][k], full["model"][k]) for k in full["model"])
    assert (run / "checkpoint.pt").stat().st_size <= before - 0.9 * stats_bytes
    res = sh(str(ROOT / "scripts/evaluate.py"), str(run), "episodes=2", cwd=run)
    assert res.returncode == 0, res.stderr
    assert json.loads((run / "summary.json").read_text())["evals"][-1]["mean"] == 1.0


def test_ship_model_records_the_policy_evaluate_plays(toy_run, tmp_path):
    """sample=false ships the argmax of pi: with pi nearly uniform and left slightly ahead, evaluate.py
    then goes left in every game (0) with no option given, says so, and its own sample=true still
    draws (the corridor's end in about a third of 30 games; none has probability ~1e-6)."""
    run = with_policy(toy_run, tmp_path / "run", [0.1, 0.0])
    res = sh(str(ROOT / "scripts/ship_model.py"), str(run), "sample=false", cwd=run)
    assert res.returncode == 0, res.stderr
    assert "argmax" in res.stdout
    res = sh(str(ROOT / "scripts/evaluate.py"), str(run), "episodes=30", cwd=run)
    assert res.returncode == 0, res.stderr
    assert "argmax actions" in res.stdout
    last = json.loads((run / "summary.json").read_text())["evals"][-1]
    assert last["policy"] == "argmax" and last["mean"] == 0.0, last
    res = sh(str(ROOT / "scripts/evaluate.py"), str(run), "episodes=30", "sample=true", cwd=run)
    last = json.loads((run / "summary.json").read_text())["evals"][-1]
    assert last["policy"] == "sampled" and last["mean"] >= 0.1, last


@pytest.mark.parametrize("arg,message", [("sample=maybe", "sample must be true or false"),
                                         ("episodes=3", "unknown option")])
def test_ship_model_rejects_a_bad_option_before_touching_the_checkpoint(toy_run, tmp_path, arg, message):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    before = (run / "checkpoint.pt").read_bytes()
    res = sh(str(ROOT / "scripts/ship_model.py"), str(run), arg, cwd=run)
    assert res.returncode != 0 and "Traceback" not in res.stderr and message in res.stderr
    assert (run / "checkpoint.pt").read_bytes() == before


def test_ship_model_refuses_a_run_that_still_resumes(toy_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(toy_run, run)
    s = json.loads((run / "summary.json").read_text())
    (run / "summary.json").write_text(json.dumps({**s, "status": "interrupted"}))
    before = (run / "checkpoint.pt").read_bytes()
    res = sh(str(ROOT / "scripts/ship_model.py"), str(run), cwd=run)
    assert res.returncode != 0 and "Traceback" not in res.stderr and "not completed" in res.stderr
    assert (run / "checkpoint.pt").read_bytes() == before
    res = sh(str(ROOT / "scripts/ship_model.py"), cwd=run)
    assert res.returncode != 0 and "usage" in res.stderr

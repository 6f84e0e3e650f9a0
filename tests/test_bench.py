"""tools/bench.py, tools/bench_peer.py and tools/peers/pfrl_a3c.py: their pure parts, no training.

The throughput targets from hand-made throughput rows (met, not met, missing rows) and their
thresholds file, the rows written to and read back from throughput.csv, the peer driver's result
line and its steady-rate clock, and the configurations a preset runs.
"""

import importlib.util
import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "tools"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load("bench", TOOLS / "bench.py")
bench_peer = sys.modules["bench_peer"]  # imported by bench.py from tools/
driver = _load("pfrl_a3c_driver", TOOLS / "peers" / "pfrl_a3c.py")

PEER = "pfrl-0.4.0 a3c"


def row(method, runtime, threads, steps, **extra):
    return {"method": method, "runtime": runtime, "threads": threads, "agent_steps_per_s": steps,
            "frames_per_s": steps * 4, "started_utc": "2026-11-26 12:00 UTC", **extra}


def good_rows():
    """Every target met: 1,100 steps/s, 2.2x and 2.1x pfrl, 1.95x, LSTM -20%, thread 1.8x, eval 0.95."""
    return [
        row("a3c", "process", 1, 1100.0), row("a3c", "process", 2, 2145.0),
        row(PEER, "process", 1, 500.0), row(PEER, "process", 2, 1021.0),
        row("a3c_lstm", "process", 1, 880.0),
        row("a3c", "thread", 1, 1000.0), row("a3c", "thread", 2, 1800.0),
        row("a3c+eval", "process", 2, 2037.75, evals_done=5, first_eval_s=0.3, window_start_s=2.0,
            window_end_s=30.5),
    ]


def by_figure(tg):
    out = {}
    for t in tg:
        key = next(k for k in ("1 actor-learner, agent", "pfrl", "(process runtime)", "LSTM", "thread", "evaluation")
                   if k in t["figure"])
        out[key] = t
    return out


def test_targets_all_met():
    tg = bench.targets(good_rows(), "breakout")
    assert [t["target"] for t in tg] == [">= 1,000", ">= 2x both", ">= 1.9x", "within 25%", ">= 1.7x", ">= 0.9"]
    assert all(t["met"] == "yes" for t in tg), tg
    f = by_figure(tg)
    assert f["1 actor-learner, agent"]["value"] == 1100 and f["1 actor-learner, agent"]["measured"] == "1,100"
    assert "(Breakout)" in f["1 actor-learner, agent"]["figure"] or "(breakout)" in f["1 actor-learner, agent"]["figure"]
    assert f["pfrl"]["figure"].startswith("ours ÷ pfrl 0.4.0 A3C")
    assert f["pfrl"]["measured"] == "2.20x (1), 2.10x (2)" and f["pfrl"]["value"] == pytest.approx(2145 / 1021)
    assert f["(process runtime)"]["value"] == pytest.approx(1.95)
    assert f["LSTM"]["value"] == pytest.approx(-0.2) and f["LSTM"]["measured"] == "-20.0%"
    assert f["thread"]["value"] == pytest.approx(1.8)
    assert f["evaluation"]["value"] == pytest.approx(0.95)
    assert f["evaluation"]["detail"].endswith(
        "5 evaluations completed per run, the first due at 0.3 s; measured window 2.0-30.5 s (medians over repeats)")


@pytest.mark.parametrize("method,runtime,threads,steps,figure", [
    ("a3c", "process", 1, 999.0, "1 actor-learner, agent"),      # just under 1,000 (and moves the ratios)
    (PEER, "process", 2, 1073.0, "pfrl"),                          # 2145 / 1073 = 1.999x at 2 AL
    ("a3c", "process", 2, 2089.0, "(process runtime)"),            # 1.899x
    ("a3c_lstm", "process", 1, 820.0, "LSTM"),                     # -25.5%
    ("a3c", "thread", 2, 1690.0, "thread"),                        # 1.69x
    ("a3c+eval", "process", 2, 1930.0, "evaluation"),              # 0.8998
])
def test_targets_not_met(method, runtime, threads, steps, figure):
    rows = [r for r in good_rows() if (r["method"], r["runtime"], r["threads"]) != (method, runtime, threads)]
    rows.append(row(method, runtime, threads, steps))
    f = by_figure(bench.targets(rows, "breakout"))
    assert f[figure]["met"] == "no", f[figure]
    others = {k: t["met"] for k, t in f.items() if k != figure}
    if figure == "1 actor-learner, agent":  # a3c at 1 AL enters the other ratios too: they may change, not vanish
        assert "not measured" not in others.values()
    else:
        assert set(others.values()) == {"yes"}, others


def test_thread_scaling_takes_the_best_backend_for_each_thread_count():
    """With rows on the C++ vector env: best 2-thread rate ÷ best 1-thread rate, so a backend that
    is slower alone cannot pass on its own ratio."""
    base = [r for r in good_rows() if r["runtime"] != "thread"]
    rows = base + [row("a3c", "thread", 1, 1000.0), row("a3c", "thread", 2, 1300.0),
                   row(bench.VECTOR_LABEL, "thread", 1, 950.0), row(bench.VECTOR_LABEL, "thread", 2, 1750.0)]
    f = by_figure(bench.targets(rows))["thread"]
    assert f["value"] == pytest.approx(1.75) and f["met"] == "yes"
    assert f["measured"] == "1.75x (vector 2 ÷ default 1)" and "vector 1,750 ÷ 950" in f["detail"]
    slow_alone = base + [row("a3c", "thread", 1, 1000.0), row("a3c", "thread", 2, 1300.0),
                         row(bench.VECTOR_LABEL, "thread", 1, 600.0), row(bench.VECTOR_LABEL, "thread", 2, 1100.0)]
    f = by_figure(bench.targets(slow_alone))["thread"]  # vector alone 1.83x, but 1,300 / 1,000 = 1.3x
    assert f["value"] == pytest.approx(1.3) and f["met"] == "no"
    pinned = rows + [row(bench.PINNED_LABEL, "thread", 1, 1100.0), row(bench.PINNED_LABEL, "thread", 2, 1700.0)]
    f = by_figure(bench.targets(pinned))["thread"]  # vector 2 (1,750) over pinned vector 1 (1,100)
    assert f["value"] == pytest.approx(1750 / 1100) and f["met"] == "no"
    assert f["measured"] == "1.59x (vector 2 ÷ vector pinned 1)", f["measured"]
    assert "vector, pin_cores=true 1,700 ÷ 1,100" in f["detail"] and "vector 1,750 ÷ 950" in f["detail"]


def test_lstm_faster_than_ff_by_more_than_25_percent_is_not_within():
    rows = good_rows() + [row("a3c_lstm", "process", 1, 1400.0)]  # later row wins: +27%
    assert by_figure(bench.targets(rows))["LSTM"]["met"] == "no"


def test_targets_not_measured_without_rows():
    tg = bench.targets([], "breakout")
    assert len(tg) == 6
    assert all(t["met"] == "not measured" and t["measured"] == "not measured" and t["value"] is None for t in tg)


def test_targets_missing_rows_are_not_measured_and_partial_pairs():
    keep = {("a3c", "process", 1), ("a3c", "process", 2), (PEER, "process", 1)}
    rows = [r for r in good_rows() if (r["method"], r["runtime"], r["threads"]) in keep]
    f = by_figure(bench.targets(rows))
    assert f["1 actor-learner, agent"]["met"] == "yes" and f["(process runtime)"]["met"] == "yes"
    # only the 1-AL pair of ours / pfrl: measured in part, not decided
    assert f["pfrl"]["met"] == "not measured" and f["pfrl"]["measured"] == "2.20x (1), — (2)"
    for k in ("LSTM", "thread", "evaluation"):
        assert f[k]["met"] == "not measured", k
    # one measured part below 2x decides "no" even with the other part missing
    rows = [r for r in rows if r["method"] != PEER] + [row(PEER, "process", 1, 600.0)]
    assert by_figure(bench.targets(rows))["pfrl"]["met"] == "no"
    # no peer at all: not measured, and the detail says why
    f = by_figure(bench.targets([r for r in rows if r["method"] != PEER]))
    assert f["pfrl"]["met"] == "not measured" and "no --peer-python" in f["pfrl"]["detail"]


def test_targets_flag_rows_from_different_runs():
    rows = good_rows()
    rows[2]["started_utc"] = "2026-11-20 09:00 UTC"  # the pfrl 1-AL row came from an earlier run
    f = by_figure(bench.targets(rows))
    assert "rows from different runs" in f["pfrl"]["detail"]
    assert "different runs" not in by_figure(bench.targets(good_rows()))["pfrl"]["detail"]


def test_the_thresholds_come_from_the_targets_file(tmp_path):
    """tools/targets.yaml holds the thresholds the figures are met against; another file moves
    them (the target column and the met column follow), the measured values stay."""
    goals = bench.load_targets()
    assert goals == {"a3c_steps_per_s": 1000.0, "ours_over_peer": 2.0, "process_scaling": 1.9,
                     "lstm_vs_ff": 0.25, "thread_scaling": 1.7, "eval_ratio": 0.9}
    strict = tmp_path / "strict.yaml"
    strict.write_text("a3c_steps_per_s: 1200\nours_over_peer: 2.5\nprocess_scaling: 2\nlstm_vs_ff: 0.1\n"
                      "thread_scaling: 1.85\neval_ratio: 0.99\n")
    tg = bench.targets(good_rows(), "breakout", bench.load_targets(strict))
    assert [t["target"] for t in tg] == [">= 1,200", ">= 2.5x both", ">= 2x", "within 10%", ">= 1.85x", ">= 0.99"]
    assert [t["met"] for t in tg] == ["no"] * 6
    assert [t["value"] for t in tg] == [t["value"] for t in bench.targets(good_rows(), "breakout")]


@pytest.mark.parametrize("text,why", [
    ("a3c_steps_per_s: [1]\nours_over_peer: 2\nprocess_scaling: 1.9\nlstm_vs_ff: 0.25\nthread_scaling: 1.7\n"
     "eval_ratio: true\n", "a3c_steps_per_s, eval_ratio must be a number > 0"),
    ("- 1\n", "not a mapping"),
    ("a3c_steps_per_s: 1000\n", "missing ours_over_peer, process_scaling"),
    ("a3c_steps_per_s: 1000\nours_over_peer: 2\nprocess_scaling: 1.9\nlstm_vs_ff: 0.25\nthread_scaling: 1.7\n"
     "eval_ratio: 0.9\nscaling: 3\n", "unknown key\\(s\\) scaling"),
    ("a3c_steps_per_s: 1000\nours_over_peer: two\nprocess_scaling: 1.9\nlstm_vs_ff: 0.25\nthread_scaling: 1.7\n"
     "eval_ratio: 0\n", "ours_over_peer, eval_ratio must be a number > 0"),
    ("a3c_steps_per_s: [\n", "cannot be read"),
])
def test_a_bad_targets_file_is_one_line_and_exit_2(tmp_path, capsys, text, why):
    bad = tmp_path / "t.yaml"
    bad.write_text(text)
    with pytest.raises(ValueError, match=why):
        bench.load_targets(bad)
    assert bench.main(["--preset", "targets", "--targets", str(bad), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"[bench] targets file {bad}: "), err
    assert not (tmp_path / "out").exists()  # refused before any run
    with pytest.raises(ValueError, match="cannot be read"):
        bench.load_targets(tmp_path / "missing.yaml")


def test_the_regenerate_command_names_a_targets_file_other_than_the_default(tmp_path):
    args = _args(tmp_path, preset="targets")
    assert "--targets" not in bench.command(args)
    assert "--preset targets --targets /x/t.yaml " in bench.command(_args(tmp_path, preset="targets", targets="/x/t.yaml"))


def _args(tmp_path, **kw):
    base = dict(methods=["a3c"], threads=[1, 2], runtime=["process"], env="breakout", frames=8000, repeats=1,
                seed=0, interval_s=2.0, set=[], out=str(tmp_path), update=False, peer_python=None,
                with_eval=False, preset=None, targets=str(bench.TARGETS_FILE))
    base.update(kw)
    return SimpleNamespace(**base)


def _run(steps, cores=2, versions=None, **extra):
    return {"frames_per_s": steps * 4, "summary_frames_per_s": steps * 4, "steps_per_s": steps, "overhead_s": 0.1,
            "peak_rss_mb": 300.0, "private_mb": 190.0, "trainer_rss_mb": 280.0, "load1": 0.5, "cores": cores,
            "versions": versions if versions is not None else {"torch": "2.13.0+cpu", "git_commit": None}, **extra}


def test_summarize_write_read_and_targets_from_csv(tmp_path):
    """Peer rows carry no v_* columns and our rows no peer_versions: the CSV holds the union, and the
    targets computed from the CSV read back equal those from the rows in memory."""
    args = _args(tmp_path, preset="targets", peer_python="/x/bin/python")
    cfgs = bench.build_configs(args, PEER)
    steps = {("process", "a3c", 1): [1100, 1000, 1200], ("process", PEER, 1): [500], ("process", "a3c", 2): [2145],
             ("process", PEER, 2): [1021], ("process", "a3c_lstm", 1): [880], ("thread", "a3c", 1): [1000],
             ("thread", "a3c", 2): [1800], ("thread", "a3c vector", 1): [990], ("thread", "a3c vector", 2): [1790],
             ("thread", "a3c vector pinned", 1): [995], ("thread", "a3c vector pinned", 2): [1795],
             ("process", "a3c+eval", 2): [2037.75]}
    results = {}
    for c in cfgs:
        if c.kind == "peer":
            results[c] = [_run(s, versions={}, peer_versions="pfrl 0.4.0, gym 0.24.1") for s in steps[c.key]]
        elif c.method == "a3c+eval":
            results[c] = [_run(s, evals_done=5, first_eval_s=0.3, window_start_s=2.0, window_end_s=30.5)
                          for s in steps[c.key]]
        else:
            results[c] = [_run(s) for s in steps[c.key]]
    rows = bench.summarize(results, args, "2026-11-26 12:00 UTC")
    a1 = next(r for r in rows if (r["method"], r["runtime"], r["threads"]) == ("a3c", "process", 1))
    assert a1["agent_steps_per_s"] == 1100 and a1["repeats"] == 3 and a1["steps_per_s_all"] == "1100 1000 1200"
    p2 = next(r for r in rows if r["method"] == PEER and r["threads"] == 2)
    assert p2["scaling_vs_1"] == pytest.approx(1021 / 500) and p2["overrides"] == "" and "v_torch" not in p2
    ev = next(r for r in rows if r["method"] == "a3c+eval")
    assert ev["overrides"] == "eval.interval_frames=4 eval.episodes=10" and ev["scaling_vs_1"] is None
    # the peer and a3c+eval sit right after a3c in the process block
    assert [r["method"] for r in rows if r["runtime"] == "process"] == ["a3c", "a3c", PEER, PEER, "a3c+eval", "a3c_lstm"]

    bench.write_csv(tmp_path / "throughput.csv", rows)
    back = bench.read_rows(tmp_path / "throughput.csv")
    assert {"v_torch", "peer_versions", "evals_done", "started_utc"} <= set(back[0])
    assert [(t["met"], t["measured"]) for t in bench.targets(back)] == \
        [(t["met"], t["measured"]) for t in bench.targets(rows)]
    assert all(t["met"] == "yes" for t in bench.targets(back))

    from asyncrl.results import cpu
    assert {r["cpu"] for r in back} == {cpu()} and {r["cpu"] for r in rows} == {cpu()}  # this host, every row
    md = bench.markdown(rows, args, "2026-11-26 12:00 UTC")
    assert f"Machine: {cpu()}, 2 cores; started" in md
    assert "| pfrl-0.4.0 a3c | process | 2 | 1,021 |" in md and "pfrl 0.4.0, gym 0.24.1" in md
    assert "--preset targets --peer-python /x/bin/python" in md
    assert "threads 2: 5 evaluations completed per run, the first due at 0.3 s; measured window 2.0-30.5 s" in md
    tmd = bench.write_targets(tmp_path, bench.targets(back, "breakout"), args, "2026-11-26 12:00 UTC")
    assert (tmp_path / "targets.csv").exists() and tmd.count("| yes |") == 6


def test_only_the_targets_preset_writes_the_targets_table(tmp_path):
    """A Pong run (or any run of other configurations) writes its throughput table only: the
    targets need the preset's configurations, which it does not measure."""
    results = {bench.ours("process", "a3c", 1): [_run(400)], bench.ours("process", "a3c", 2): [_run(790)]}
    pong = _args(tmp_path / "pong", env="pong")
    written = bench.write_outputs(tmp_path / "pong", bench.summarize(results, pong, "t"), pong, "t")
    assert sorted(Path(w).name for w in written) == ["throughput.csv", "throughput.md"]
    assert sorted(f.name for f in (tmp_path / "pong").iterdir()) == ["throughput.csv", "throughput.md"]
    preset = _args(tmp_path / "targets", preset="targets")
    written = bench.write_outputs(tmp_path / "targets", bench.summarize(results, preset, "t"), preset, "t")
    assert sorted(Path(w).name for w in written) == ["targets.csv", "targets.md", "throughput.csv", "throughput.md"]
    assert "| 2 actor-learners ÷ 1 (process runtime) | 1.98x | >= 1.9x | yes |" in \
        (tmp_path / "targets" / "targets.md").read_text()


def test_update_keeps_other_rows_and_rescales(tmp_path):
    args = _args(tmp_path)
    old = bench.summarize({bench.ours("process", "a3c", 1): [_run(500)], bench.ours("process", "a3c", 2): [_run(900)]},
                          args, "2026-11-25 10:00 UTC")
    bench.write_csv(tmp_path / "throughput.csv", old)
    new = bench.summarize({bench.ours("process", "a3c", 1): [_run(450)]}, args, "2026-11-26 12:00 UTC")
    rows = bench.merge_rows(tmp_path / "throughput.csv", new)
    two = next(r for r in rows if r["threads"] == 2)
    assert two["scaling_vs_1"] == pytest.approx(2.0) and two["started_utc"] == "2026-11-25 10:00 UTC"

    # a CSV without the started_utc, kind, eval and peer columns merges too, its rows first in
    # the table: the file written holds every column of every row
    sparse = [{k: v for k, v in r.items() if k not in ("started_utc", "kind", "evals_done", "first_eval_s",
                                                       "window_start_s", "window_end_s", "peer_versions")} for r in old]
    bench.write_csv(tmp_path / "throughput.csv", sparse)
    peer_new = bench.summarize({bench.peer(PEER, 1): [_run(300, versions={})]}, args, "2026-11-26 12:00 UTC")
    rows = bench.merge_rows(tmp_path / "throughput.csv", peer_new)
    assert rows[0]["method"] == "a3c" and "started_utc" not in rows[0]
    bench.write_csv(tmp_path / "throughput.csv", rows)
    back = bench.read_rows(tmp_path / "throughput.csv")
    assert [r["method"] for r in back] == ["a3c", "a3c", PEER]
    assert back[2]["started_utc"] == "2026-11-26 12:00 UTC" and back[0]["started_utc"] is None


def test_build_configs():
    a = SimpleNamespace(preset="targets", methods=["a3c"], threads=[1], runtime=["process"], with_eval=False)
    keys = [c.key for c in bench.build_configs(a, PEER)]
    assert keys == [("process", "a3c", 1), ("process", PEER, 1), ("process", "a3c", 2), ("process", PEER, 2),
                    ("process", "a3c_lstm", 1), ("thread", "a3c", 1), ("thread", "a3c", 2),
                    ("thread", "a3c vector", 1), ("thread", "a3c vector", 2), ("thread", "a3c vector pinned", 1),
                    ("thread", "a3c vector pinned", 2), ("process", "a3c+eval", 2)]
    assert [c.key for c in bench.build_configs(a, None)] == [k for k in keys if k[1] != PEER]
    vec = [c for c in bench.build_configs(a, None) if c.method == bench.VECTOR_LABEL]
    assert [(c.cli_method, dict(c.overrides)) for c in vec] == [("a3c", {"env.backend": "vector"})] * 2
    pinned = [c for c in bench.build_configs(a, None) if c.method == bench.PINNED_LABEL]
    assert [(c.cli_method, dict(c.overrides)) for c in pinned] == [("a3c", {"env.backend": "vector", "pin_cores": "true"})] * 2
    evalcfg = bench.build_configs(a, None)[-1]
    assert evalcfg.cli_method == "a3c" and dict(evalcfg.overrides) == {"eval.interval_frames": "4", "eval.episodes": "10"}
    b = SimpleNamespace(preset=None, methods=["a3c", "n_step_q"], threads=[1, 2], runtime=["process", "thread"],
                        with_eval=True)
    keys = [c.key for c in bench.build_configs(b, PEER)]
    assert keys[:6] == [("process", "a3c", 1), ("process", PEER, 1), ("process", "a3c+eval", 1),
                        ("process", "a3c", 2), ("process", PEER, 2), ("process", "a3c+eval", 2)]
    assert ("thread", "a3c+eval", 1) not in keys and len(keys) == 6 + 2 + 4


def test_the_continuous_preset_runs_a3c_continuous_with_1_and_2_actor_learners():
    a = SimpleNamespace(preset="continuous", methods=["a3c"], threads=[4], runtime=["thread"], with_eval=True)
    cfgs = bench.build_configs(a, PEER)
    assert [c.key for c in cfgs] == [("process", "a3c_continuous", 1), ("process", "a3c_continuous", 2)]
    assert all(c.cli_method == "a3c_continuous" and c.overrides == () for c in cfgs)


@pytest.mark.parametrize("two,ratio,verdict", [(950.0, "1.90x", "met"), (940.0, "1.88x", "not met")])
def test_the_continuous_scaling_is_2_over_1_against_its_goal(tmp_path, two, ratio, verdict):
    """a3c_continuous, process runtime: agent steps/s per actor-learner and 2 / 1 against 1.9x."""
    rows = [row("a3c_continuous", "process", 1, 500.0), row("a3c_continuous", "process", 2, two),
            row("a3c_continuous", "thread", 1, 900.0)]  # another runtime's row is not the baseline
    value, text = bench.continuous_scaling(rows, "half_cheetah")
    assert value == pytest.approx(two / 500.0)
    assert text == (f"`a3c_continuous` (half_cheetah; one update per whole episode): agent steps/s per actor-learner "
                    f"500 with 1, {two / 2:,.0f} with 2; 2 ÷ 1 = {ratio} (goal ≥ 1.9x: {verdict}).")
    args = _args(tmp_path, preset="continuous", env="half_cheetah", frames=120_000)
    measured = bench.summarize({bench.ours("process", "a3c_continuous", 1): [_run(500.0)],
                                bench.ours("process", "a3c_continuous", 2): [_run(two)]}, args, "2026-12-10 12:00 UTC")
    assert text in bench.markdown(measured, args, "2026-12-10 12:00 UTC")
    assert bench.continuous_scaling(rows[:1], "half_cheetah")[0] is None
    assert "(goal ≥ 1.9x: not measured)" in bench.continuous_scaling(rows[:1], "half_cheetah")[1]
    atari = bench.summarize({bench.ours("process", "a3c", 1): [_run(1000.0)]}, _args(tmp_path), "2026-12-10 12:00 UTC")
    assert "a3c_continuous" not in bench.markdown(atari, _args(tmp_path), "2026-12-10 12:00 UTC")


def test_steady_window_leaves_out_start_up_and_shutdown(tmp_path):
    # rows every 2 s from the common start; the final row (all 24,000 frames) is written after the
    # actor-learners were joined, 3 s after the last periodic row
    rows = [(1400, 2.0), (5400, 4.0), (9400, 6.0), (13400, 8.0), (17400, 10.0), (21400, 12.0), (24000, 15.0)]
    assert bench.steady_window(rows) == (1400, 2.0, 21400, 12.0)
    m = tmp_path / "metrics.csv"
    m.write_text("frames,wall_time_s,lr\n" + "".join(f"{f},{t},0\n" for f, t in rows))
    assert bench._steady_fps(m) == pytest.approx(2000.0)
    # a periodic row that already saw every frame: the window ends before it, not at it
    assert bench.steady_window([(1000, 2.0), (3000, 4.0), (4000, 5.0), (4000, 6.0)]) == (1000, 2.0, 3000, 4.0)
    # only the first row and the final one: the final one it is
    assert bench.steady_window([(1000, 2.0), (4000, 5.0)]) == (1000, 2.0, 4000, 5.0)
    assert bench.steady_window([(1000, 2.0)]) is None and bench._steady_fps(tmp_path / "none.csv") is None
    assert bench.steady_window([(1000, 2.0), (4000, 2.0)]) is None  # no time between the rows: no rate


def test_eval_coverage(tmp_path):
    m = tmp_path / "metrics.csv"
    m.write_text("frames,wall_time_s,lr\n8000,2.0,0\n16000,4.0,0\n24000,12.0,0\n28000,14.0,0\n")
    evals = [{"frames": 4000, "wall_time_s": 1.5}, {"frames": 80, "wall_time_s": 0.3}, {"frames": 9000, "wall_time_s": 2.5}]
    assert bench.eval_coverage(m, evals) == {"evals_done": 3, "first_eval_s": 0.3, "window_start_s": 2.0,
                                             "window_end_s": 12.0}
    assert bench.eval_coverage(m, []) == {"evals_done": 0, "first_eval_s": None, "window_start_s": 2.0,
                                          "window_end_s": 12.0}
    missing = bench.eval_coverage(tmp_path / "missing.csv", evals)
    assert missing["evals_done"] == 3 and missing["window_start_s"] is None


# ---------------------------------------------------------------------------------------- the peer

def _result(**kw):
    r = {"tool": "pfrl", "pfrl": "0.4.0", "processes": 2, "steps": 2000, "frame_skip": 4,
         "steady_steps_per_s": 412.5, "summary_steps_per_s": 400.0, "startup_s": 0.2, "wall_s": 6.0,
         "versions": {"pfrl": "0.4.0", "gym": "0.24.1", "numpy": None}, "cores": 2}
    r.update(kw)
    return r


def test_parse_peer_output_reads_the_last_result_line():
    noise = ("Warning: Gym version v0.24.1 has a number of critical issues\n[pfrl_a3c] breakout, 2 process(es)\n"
             "UserWarning: This overload of addcmul_ is deprecated\n")
    text = noise + f"PFRL_A3C_RESULT {json.dumps(_result(steady_steps_per_s=1.0))}\n" + noise \
        + f"  PFRL_A3C_RESULT {json.dumps(_result())}  \n"
    r = bench_peer.parse_peer_output(text)
    assert r["steady_steps_per_s"] == 412.5 and bench_peer.peer_rate(r) == 412.5
    assert bench_peer.versions_text(r) == "pfrl 0.4.0, gym 0.24.1"
    assert bench_peer.peer_label(r["pfrl"]) == PEER and bench_peer.is_peer_method(PEER)
    assert not bench_peer.is_peer_method("a3c") and not bench_peer.is_peer_method("a3c+eval")


def test_parse_peer_output_falls_back_to_the_whole_run_rate():
    r = bench_peer.parse_peer_output(f"PFRL_A3C_RESULT {json.dumps(_result(steady_steps_per_s=None))}")
    assert bench_peer.peer_rate(r) == 400.0


@pytest.mark.parametrize("text,why", [
    ("[pfrl_a3c] breakout\nTraceback (most recent call last):\n", "no 'PFRL_A3C_RESULT' line"),
    ("PFRL_A3C_RESULT {not json", "not JSON"),
    ("PFRL_A3C_RESULT [1, 2]", "not a JSON object"),
    (f"PFRL_A3C_RESULT {json.dumps(_result(steady_steps_per_s=None, summary_steps_per_s=None))}", "no rate"),
    (f"PFRL_A3C_RESULT {json.dumps(_result(steady_steps_per_s=0, summary_steps_per_s=-1))}", "no rate"),
    ("PFRL_A3C_RESULTS {}", "no 'PFRL_A3C_RESULT' line"),
])
def test_parse_peer_output_rejects(text, why):
    with pytest.raises(ValueError, match=why):
        bench_peer.parse_peer_output(text)


def test_driver_result_tag_matches_the_parser():
    assert driver.RESULT_TAG == bench_peer.RESULT_TAG


def test_steady_rate_leaves_out_the_warm_up():
    every = 100
    # step 1 at t=10; 100 steps/s for the first 2 s (start-up), then 500 steps/s
    marks = [10.0] + [10.0 + i for i in (1.0, 2.0)] + [12.0 + k * 0.2 for k in range(1, 11)] + [0.0, 0.0]
    rate, s0, s1, secs = driver.steady_rate(marks, every, warmup_s=2.0)
    assert (s0, s1) == (200, 1200) and secs == pytest.approx(2.0) and rate == pytest.approx(500)
    rate0 = driver.steady_rate(marks, every, warmup_s=0.0)[0]  # from the first mark: the slow start counts
    assert rate0 == pytest.approx((1200 - 100) / 3.0)
    assert driver.steady_rate(marks, every, warmup_s=5.0) is None  # nothing after the warm-up
    assert driver.steady_rate([0.0, 11.0, 12.0], every, 0.0) is None  # step 1 never marked
    assert driver.steady_rate([], every, 0.0) is None


def test_peer_command_follows_our_env_config():
    cmd = bench_peer.peer_command("/v/bin/python", "breakout", 2, 60_000, seed=3, warmup_s=2.0)
    assert cmd[:2] == ["/v/bin/python", str(bench_peer.DRIVER)]
    flags = dict(zip(cmd[2::2], cmd[3::2]))
    assert flags["--game"] == "breakout" and flags["--processes"] == "2" and flags["--steps"] == "15000"
    assert flags["--seed"] == "3" and "--fire-reset" in cmd  # conf/env/breakout.yaml: fire_reset true
    assert "--fire-reset" not in bench_peer.peer_command("/v/bin/python", "pong", 1, 8000)
    assert bench_peer.venv_commands(Path("/tmp/pv"))[1][-1] == "torch==2.13.0"
    assert "pfrl==0.4.0" in bench_peer.venv_commands(Path("/tmp/pv"))[2]


def test_other_load_is_the_machines_busy_time_minus_the_benchmarks_own():
    # 20 s of wall time: the machine was busy 41 CPU-s, the benchmark's processes used 39 -> 0.1 core
    assert bench.other_load(100.0, 141.0, 5.0, 44.0, 20.0) == pytest.approx(0.1)
    # jiffy rounding can make the difference slightly negative: an idle machine reads 0, not < 0
    assert bench.other_load(100.0, 139.99, 5.0, 45.0, 20.0) == 0.0
    assert bench.other_load(None, 141.0, 5.0, 44.0, 20.0) is None
    assert bench.other_load(100.0, 141.0, 5.0, 44.0, 0.0) is None


def test_a_run_counts_its_own_processes_cpu_as_its_own(tmp_path, monkeypatch):
    """The benchmark's own CPU includes a run's processes once they are waited for (a child that
    burns 1 CPU-s adds >= 1 s), and _run_polled reports (machine busy - own) / wall time: with the
    machine's counter faked to the benchmark's own CPU plus 0.5 s, the run reads 0.5 s of other work."""
    burn = [sys.executable, "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"]
    own0 = bench._own_cpu_s()
    rc, _, elapsed, _, _ = bench._run_polled(burn, tmp_path / "burn.log", lambda pid: False)
    assert rc == 0 and bench._own_cpu_s() - own0 >= 1.0
    extra = iter([0.0, 0.5])
    monkeypatch.setattr(bench, "_machine_busy_s", lambda: bench._own_cpu_s() + next(extra))
    rc, _, elapsed, _, (_, others) = bench._run_polled(burn, tmp_path / "burn.log", lambda pid: False)
    assert rc == 0 and others == pytest.approx(0.5 / elapsed, rel=1e-3)  # the counters are read µs apart


def test_the_machine_line_names_each_host_once():
    """Rows merged with --update may come from another host, or have no cpu column."""
    rows = [{"cpu": "AMD EPYC, 512 KB cache", "cores": 2}, {"cpu": "AMD EPYC, 512 KB cache", "cores": 2},
            {"cpu": None, "cores": 2}, {"cpu": "Intel Xeon, 32 MB cache", "cores": 2}]
    assert bench.machine(rows) == ("AMD EPYC, 512 KB cache, 2 cores; cpu not recorded, 2 cores; "
                                   "Intel Xeon, 32 MB cache, 2 cores")
    assert bench.machine(rows[:1]) == "AMD EPYC, 512 KB cache, 2 cores"


def test_the_memory_sampler_reads_memory_every_period_not_at_every_exit_poll(monkeypatch):
    """Reading an actor-learner's private memory walks its page tables (~5 ms of CPU); read at every
    exit poll (0.25 s) it took ~5% of a core from the runs being measured. Over 10 s of polls it
    reads at 0, 2, 4, 6 and 8 s, and keeps each figure's maximum."""
    reads = []
    monkeypatch.setattr(bench.procs, "descendants", lambda pid: [11, 12])
    monkeypatch.setattr(bench.procs, "peak_rss_kb", lambda pid: 100 + pid)
    monkeypatch.setattr(bench.procs, "private_kb", lambda pid: reads.append(pid) or 10 * len(reads))
    now = [0.0]
    mem = bench.MemorySampler(1, is_actor=lambda pid: True, every_s=2.0, clock=lambda: now[0])
    for i in range(40):
        now[0] = i * bench.POLL_S
        mem.sample()
    assert reads == [11, 12] * 5
    assert mem.actor_private == {11: 90, 12: 100} and mem.actor_hwm == {11: 111, 12: 112}
    assert mem.trainer_hwm == 101

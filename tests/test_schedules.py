"""asyncrl.tables.schedules (the schedule A/B table) and its figure, on hand-built run directories
with known answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from asyncrl import tables as T
from tests.test_tables import K, REPO, make_run, run_script

M = 1_000_000
OLD = {"total_frames": 20 * M}  # the learning rate reaches 0 at the budget (no lr_anneal_frames recorded)
NEW = {"total_frames": 20 * M, "extra": {"lr_anneal_frames": 320 * M}}


def _ev(frames, mean, std=1.0, **extra) -> dict:
    """An evaluation of 30 games, taken at 1 s of training per million frames."""
    return {"frames": frames, "wall_time_s": frames / M, "mean": mean, "std": std, "min": mean - 2, "max": mean + 2,
            "episodes": 30, **extra}


def _config(run_dir: Path, text: str) -> Path:
    (run_dir / "config.yaml").write_text(text)
    return run_dir


def build_schedule_runs(root: Path) -> None:
    """Pong, 20M-frame budget, 2 actor-learners, seed 0, lr 7e-4 unless said (episodes at 1M frames/s):

    a3c: LR horizon 20M (no horizon recorded: the budget) and 320M, a group; its old run's own
    evaluations land at 4, 8, 12 and 20M frames, the last periodic one (-17.0) and the final one
    (-16.5) both at 20M, then evaluate.py played 30 games (-10.0). Not in the group: a 320M run with
    lr 1e-3, one with 4 actor-learners, one of seed 1, and a running one with horizon 80M.
    one_step_q: eps drawn per run (recorded nowhere: the only draw before the key existed), per
    episode by its config.yaml only, and per episode with horizon 320M by its summary: a group of three.
    n_step_q: a single run, no group."""
    old = make_run(root, "a3c", "pong", 2, 0, [(1, -21), (2, -20), (3, -16), (4, -14)], fps=M, **OLD, evals=[
        _ev(4_000_032, -20.0), _ev(7_999_900, -19.0), _ev(12_000_100, -18.0), _ev(20 * M, -17.0, 2.0),
        _ev(20 * M, -16.5, 1.5), _ev(20 * M, -10.0, 3.0, source="evaluate.py", policy="sampled")])
    _config(old, "eval:\n  interval_frames: 4000000\n")
    make_run(root, "a3c", "pong", 2, 0, [(1, -21), (2, -15), (3, -15)], fps=M, tag="-lr320m", total_frames=20 * M,
             evals=[_ev(4 * M, -19.5, 0.5), _ev(20 * M, -12.0, 3.0)], extra={"lr_anneal_frames": 320 * M})
    make_run(root, "a3c", "pong", 2, 0, [(1, -21)], lr=1e-3, tag="-lr1e-3", **NEW)
    make_run(root, "a3c", "pong", 4, 0, [(1, -21)], **NEW)
    make_run(root, "a3c", "pong", 2, 1, [(1, -21)], **NEW)
    make_run(root, "a3c", "pong", 2, 0, [(1, -21)], status="running", tag="-lr80m", total_frames=20 * M,
             extra={"lr_anneal_frames": 80 * M})
    make_run(root, "one_step_q", "pong", 2, 0, [(1, -21)], **OLD)
    _config(make_run(root, "one_step_q", "pong", 2, 0, [(1, -21)], tag="-eps", **OLD),
            "method:\n  epsilon:\n    resample: per_episode\n")
    make_run(root, "one_step_q", "pong", 2, 0, [(1, -21)], tag="-lr320m", total_frames=20 * M,
             extra={"lr_anneal_frames": 320 * M, "epsilon_resample": "per_episode"})
    make_run(root, "n_step_q", "pong", 2, 0, [(1, -21)], **OLD)


def _name(run_dir) -> str:
    return Path(run_dir).name


def test_schedule_groups_pair_completed_runs_of_one_setting_only(tmp_path):
    """Runs that differ in lr, thread count or seed are not paired; a running run is not included."""
    build_schedule_runs(tmp_path)
    groups = T.schedule_groups(T.load_runs(tmp_path))
    assert [(r["method"], _name(r["run_dir"]), r["setting"]) for r in groups.to_dict("records")] == [
        ("a3c", "threads2-seed0", "LR horizon 20M (= budget)"),
        ("a3c", "threads2-seed0-lr320m", "LR horizon 320M"),
        ("one_step_q", "threads2-seed0", "LR horizon 20M (= budget), ε per run"),
        ("one_step_q", "threads2-seed0-eps", "LR horizon 20M (= budget), ε per episode"),
        ("one_step_q", "threads2-seed0-lr320m", "LR horizon 320M, ε per episode"),
    ]


def test_the_eps_draw_and_the_setting_label_of_value_based_and_a3c_runs(tmp_path):
    """A value-based run's eps draw: its summary's, else its config.yaml's, else once per run; an A3C
    run has none, whatever its config holds; the label names the horizon (and "= budget") and the draw."""
    a3c = _config(make_run(tmp_path, "a3c", "pong", 2, 0), "method:\n  epsilon:\n    resample: per_episode\n")
    plain = make_run(tmp_path, "one_step_q", "pong", 2, 0)
    configured = _config(make_run(tmp_path, "one_step_q", "pong", 2, 1),
                         "method:\n  epsilon:\n    resample: per_episode\n")
    recorded = _config(make_run(tmp_path, "one_step_q", "pong", 2, 2, extra={"epsilon_resample": "per_run"}),
                       "method:\n  epsilon:\n    resample: per_episode\n")
    runs = T.load_runs(tmp_path).set_index("run_dir")
    draws = {d: T.epsilon_draw({**runs.loc[str(d)].to_dict(), "run_dir": str(d)}) for d in (a3c, plain, configured, recorded)}
    assert draws == {a3c: None, plain: "per_run", configured: "per_episode", recorded: "per_run"}

    assert T.setting_label(20 * M, 20 * M, None) == "LR horizon 20M (= budget)"
    assert T.setting_label(20 * M, 320 * M, None) == "LR horizon 320M"
    assert T.setting_label(20 * M, 20 * M, "per_run") == "LR horizon 20M (= budget), ε per run"
    assert T.setting_label(20 * M, 320 * M, "per_episode") == "LR horizon 320M, ε per episode"


def test_the_methods_that_explore_by_epsilon_are_the_value_based_ones():
    from asyncrl.methods import METHODS
    from asyncrl.methods.value_based import ValueBased

    assert set(T.EPSILON_METHODS) == {name for name, cls in METHODS.items() if issubclass(cls, ValueBased)}


def test_evaluations_by_rounded_frames_the_later_of_two_standing(tmp_path):
    """Own evaluations only, keyed by frames rounded to the nearest multiple of the interval; the
    final one at the budget replaces the last periodic one there; interval from config.yaml."""
    evals = [_ev(4_000_032, -20.0), _ev(7_999_900, -19.0), _ev(20 * M, -17.0), _ev(20 * M, -16.5),
             _ev(20 * M, -10.0, source="evaluate.py", policy="sampled")]
    at = T.evaluations_at(evals, 4 * M)
    assert {f: e["mean"] for f, e in at.items()} == {4 * M: -20.0, 8 * M: -19.0, 20 * M: -16.5}
    assert list(at) == [4 * M, 8 * M, 20 * M]
    assert {f: e["mean"] for f, e in T.evaluations_at(evals, 5 * M).items()} == {5 * M: -20.0, 10 * M: -19.0, 20 * M: -16.5}
    assert list(T.evaluations_at(evals[:2], 0)) == [4_000_032, 7_999_900]  # no interval: as they are

    run = _config(make_run(tmp_path, "a3c", "pong", 2, 0), "eval:\n  interval_frames: 5000000\n")
    assert T.evaluation_interval(run) == 5 * M
    assert T.evaluation_interval(make_run(tmp_path, "a3c", "pong", 2, 1)) == T.EVAL_INTERVAL == 4 * M


def test_schedule_ab_rows_columns_and_thresholds(tmp_path):
    """The eval_<frames> columns in order of frames (12M before 20M), the final evaluation (the
    evaluate.py entry), the frames and hours to the game's threshold (k = 2), --threshold overriding."""
    build_schedule_runs(tmp_path)
    table = T.schedule_ab(T.load_runs(tmp_path), k=K)
    at = [c for c in table.columns if c.startswith("eval_") and c.removeprefix("eval_")[0].isdigit()]
    assert at == ["eval_4M", "eval_8M", "eval_12M", "eval_20M"]
    a3c = table[table["method"] == "a3c"].set_index("run_dir").rename(index=_name)
    old, new = a3c.loc["threads2-seed0"], a3c.loc["threads2-seed0-lr320m"]
    assert old[at].tolist() == [-20.0, -19.0, -18.0, -16.5]
    assert new[at].isna().tolist() == [False, True, True, False] and (new["eval_4M"], new["eval_20M"]) == (-19.5, -12.0)
    assert (old["eval_source"], old["eval_mean"], new["eval_source"], new["eval_mean"]) == ("evaluate.py", -10.0, "run", -12.0)
    assert old["evals_at"] == [(4_000_032, 4.000032, -20.0, 1.0), (7_999_900, 7.9999, -19.0, 1.0),
                               (12_000_100, 12.0001, -18.0, 1.0), (20 * M, 20.0, -16.5, 1.5)]
    # MA of the last 2 games reaches -15 at the 4th game (old: 4M frames, 4 s) and the 3rd (new)
    assert (old["threshold"], old["frames_to_threshold"], old["hours_to_threshold"]) == (-15.0, 4 * M, 4 / 3600)
    assert (new["frames_to_threshold"], bool(new["threshold_reached"])) == (3 * M, True)

    lower = T.schedule_ab(T.load_runs(tmp_path), k=K, thresholds={"pong": -18.0})
    assert lower.loc[lower["method"] == "a3c", "frames_to_threshold"].tolist() == [3 * M, 2 * M]
    none = T.schedule_ab(T.load_runs(tmp_path), k=K, thresholds={"cartpole": 100.0})
    assert none["threshold"].isna().all() and none["threshold_reached"].isna().all()
    assert "| no threshold set | — |" in T.schedule_markdown(none)


def test_schedule_markdown_one_section_per_group_with_its_own_columns(tmp_path):
    build_schedule_runs(tmp_path)
    md = T.schedule_markdown(T.schedule_ab(T.load_runs(tmp_path), k=K))
    sections = md.split("\n\n## ")
    assert [s.splitlines()[0] for s in sections] == [
        "## a3c on pong, seed 0, lr 0.0007: 2 threads (process), 20M-frame budget, lost life not terminal",
        "one_step_q on pong, seed 0, lr 0.0007: 2 threads (process), 20M-frame budget, lost life not terminal",
    ]
    lines = sections[0].splitlines()
    assert lines[2] == ("| setting | trained | hours | eval 4M | eval 8M | eval 12M | eval 20M | final evaluation "
                        "| frames to MA ≥ -15 | hours to it |")
    assert lines[4] == ("| LR horizon 20M (= budget) | 20.00M | 0.28 | -20.0 | -19.0 | -18.0 | -16.5 "
                        "| -10.0 ± 3.0 (30, evaluate.py) | 4.00M | 0.00 |")
    assert lines[5] == "| LR horizon 320M | 20.00M | 0.28 | -19.5 | — | — | -12.0 | -12.0 ± 3.0 (30, run's last own) | 3.00M | 0.00 |"
    assert "eval" not in sections[1].splitlines()[2].removeprefix("| setting | trained | hours | ").split("final")[0]
    assert T.schedule_markdown(T.schedule_ab(T.load_runs(tmp_path / "none"))).startswith("(no group")


def _make_tables_module():
    spec = importlib.util.spec_from_file_location("make_tables_mod", REPO / "scripts" / "make_tables.py")
    mt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mt)
    return mt


def test_the_schedule_figure_draws_each_setting_with_its_evaluations(tmp_path, monkeypatch):
    """One figure per group: per setting its moving average vs frames (millions) and vs hours, and
    its evaluations of the table as markers with +- std bars, labelled by setting."""
    mt = _make_tables_module()
    build_schedule_runs(tmp_path / "runs")
    drawn = []

    def keep(fig, path):
        drawn.append((path.name, [({ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines},
                                   {c.get_label(): c for c in ax.containers}) for ax in fig.axes]))
        return path

    monkeypatch.setattr(mt, "_save", keep)
    table = T.schedule_ab(T.load_runs(tmp_path / "runs"), k=K)
    assert [p.name for p in mt.plot_schedules(table, tmp_path, K)] == [
        "schedule_ab_a3c_pong_threads2_20M_seed0_lr0.0007.png", "schedule_ab_one_step_q_pong_threads2_20M_seed0_lr0.0007.png"]
    (frames_ax, hours_ax) = drawn[0][1]
    assert frames_ax[0]["LR horizon 20M (= budget)"] == ([2.0, 3.0, 4.0], [-20.5, -18.0, -15.0])
    assert hours_ax[0]["LR horizon 320M"] == (pytest.approx([2 / 3600, 3 / 3600]), [-18.0, -15.0])
    bars = frames_ax[1]["LR horizon 20M (= budget): evaluations (mean ± std)"]
    marker, _, (segments,) = bars.lines
    assert list(marker.get_xdata()) == pytest.approx([4.000032, 7.9999, 12.0001, 20.0])
    assert list(marker.get_ydata()) == [-20.0, -19.0, -18.0, -16.5]
    assert [tuple(s[:, 1]) for s in segments.get_segments()][-1] == (-18.0, -15.0)  # -16.5 ± 1.5
    assert list(hours_ax[1]["LR horizon 320M: evaluations (mean ± std)"].lines[0].get_xdata()) == \
        pytest.approx([4 / 3600, 20 / 3600])
    assert frames_ax[0]["threshold -15"][1] == [-15.0, -15.0]
    assert mt.plot_schedules(T.schedule_ab(T.load_runs(tmp_path / "none")), tmp_path, K) == []


def _make_tables(runs: Path, out: Path) -> None:
    result = run_script("--runs", str(runs), "--out", str(out), "--k", str(K), cwd=out.parent)
    assert result.returncode == 0, result.stderr


def test_make_tables_writes_the_schedule_table_only_with_a_group(tmp_path):
    out = tmp_path / "out"
    build_schedule_runs(tmp_path / "runs")
    _make_tables(tmp_path / "runs", out)
    table = pd.read_csv(out / "tables" / "schedule_ab.csv")
    assert len(table) == 5 and "evals_at" not in table.columns
    assert table["setting"].tolist()[:2] == ["LR horizon 20M (= budget)", "LR horizon 320M"]
    assert "## a3c on pong, seed 0" in (out / "tables" / "schedule_ab.md").read_text()
    figures = {p.name for p in (out / "figures").glob("schedule_ab_*.png")}
    assert figures == {"schedule_ab_a3c_pong_threads2_20M_seed0_lr0.0007.png",
                       "schedule_ab_one_step_q_pong_threads2_20M_seed0_lr0.0007.png"}

    alone = tmp_path / "alone"
    make_run(alone, "a3c", "pong", 2, 0, [(1, -21)], **OLD)
    other = tmp_path / "other"
    _make_tables(alone, other)
    assert not list((other / "tables").glob("schedule_ab*")) and not list((other / "figures").glob("schedule_ab*"))

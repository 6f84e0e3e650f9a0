"""The continuous-control tables and figures (asyncrl.tables.continuous and .continuous_lr, and
their part of scripts/make_tables.py) on hand-built run directories with known answers; the
packaged random-policy and reference scores; tools/random_scores.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

from asyncrl import tables as T
from tests.test_tables import REPO, make_run, run_script


def cev(frames, mean, hours, sampled, std=1.0, episodes=10) -> dict:
    """One of a continuous-control run's own evaluations (mean action, and the sampled actions')."""
    return {"frames": frames, "wall_time_s": hours * 3600, "mean": mean, "std": std, "min": mean - 1,
            "max": mean + 1, "episodes": episodes, "policy": "mean", "sampled_mean": sampled, "sampled_std": 2 * std}


def build_continuous_runs(root: Path) -> None:
    """Hopper, 2 actor-learners, 2M steps: evaluations 200 at 0.1M (0.1 h), 900 at 0.2M (0.2 h, the
    best), final 500 ± 5 at 2M (1 h; sampled 450); its metrics record 0.5 of its 1 h shared.
    InvertedPendulum, 1M budget, ended at stop_at_score: 1000 at 150k (0.05 h), that evaluation
    repeated as its final one, trained to 300k (0.1 h). Left out of the table: a Hopper run with 1
    actor-learner, a 100k-step Hopper run (a sweep's budget), a failed Hopper run and an Atari run."""
    kw = dict(fps=1000.0, cpu="Test CPU, 1 KB cache")
    hopper = make_run(root, "a3c_continuous", "hopper", 2, 0, [(1, 10.0), (2, 20.0)], total_frames=2_000_000,
                      wall_time_s=3600.0, lr=1e-4, evals=[cev(100_000, 200.0, 0.1, 180.0), cev(200_000, 900.0, 0.2, 700.0),
                                                            cev(2_000_000, 500.0, 1.0, 450.0, std=5.0)], **kw)
    pd.DataFrame({"frames": [1, 2], "wall_time_s": [1800, 3600], "other_load": [0.1, 1.0]}).to_csv(
        hopper / "metrics.csv", index=False)
    pendulum = cev(150_000, 1000.0, 0.05, 300.0, std=0.0)
    make_run(root, "a3c_continuous", "inverted_pendulum", 2, 0, [(1, 5.0)], total_frames=1_000_000,
             wall_time_s=360.0, evals=[cev(50_000, 90.0, 0.01, 80.0), pendulum, pendulum],
             extra={"frames": 300_000, "stopped_at_score": {"stop_at_score": 1000.0, "frames": 150_000}}, **kw)
    make_run(root, "a3c_continuous", "hopper", 1, 0, [(1, 1.0)], total_frames=2_000_000,
             evals=[cev(2_000_000, 5000.0, 1.0, 1.0)], **kw)
    make_run(root, "a3c_continuous", "hopper", 2, 1, [(1, 1.0)], total_frames=100_000,
             evals=[cev(100_000, 4000.0, 0.1, 1.0)], tag="-lr1e-3", **kw)
    make_run(root, "a3c_continuous", "hopper", 2, 2, [(1, 1.0)], total_frames=2_000_000, status="failed", **kw)
    make_run(root, "a3c", "pong", 2, 0, [(1, -21.0)], final_score=-20.0)


def test_the_task_table_shows_each_tasks_runs_at_its_largest_budget(tmp_path):
    build_continuous_runs(tmp_path)
    table = T.continuous_table(T.load_runs(tmp_path))
    assert table[["task", "seed", "total_frames"]].values.tolist() == [["hopper", 0, 2_000_000],
                                                                       ["inverted_pendulum", 0, 1_000_000]]
    hopper, pendulum = (r for _, r in table.iterrows())
    assert (hopper.eval_frames, hopper.eval_mean, hopper.eval_std, hopper.eval_episodes) == (2_000_000, 500.0, 5.0, 10)
    assert (hopper.sampled_mean, hopper.sampled_std) == (450.0, 10.0)
    assert (hopper.best_eval, hopper.best_eval_frames, hopper.best_eval_hours) == (900.0, 200_000, pytest.approx(0.2))
    assert (hopper.hours, hopper.load_hours, hopper.shared_hours) == (1.0, 1.0, 0.5)
    assert (hopper.cpu, hopper.evaluations, hopper.stopped_at_score) == ("Test CPU, 1 KB cache", 3, False)
    refs = T.continuous_references()
    assert (hopper.gym_id, hopper.reference, hopper.random) == ("Hopper-v5", refs.loc["hopper", "reference"],
                                                                refs.loc["hopper", "random"])
    assert (pendulum.frames, pendulum.eval_frames, pendulum.eval_mean, pendulum.stopped_at_score) == \
        (300_000, 150_000, 1000.0, True)

    md = T.continuous_markdown(table)
    assert ("| Hopper-v5 | 0 | 2,000,000 (2,000,000) | 1.00 (0.50 shared) | Test CPU, 1 KB cache "
            "| 500.0 ± 5.0 (10) at 2,000,000 | 450.0 ± 10.0 | 900.0 at 200,000, 0.20 h |") in md
    assert f"| {refs.loc['hopper', 'reference']:.1f} ({refs.loc['hopper', 'reference_algorithm']}, 1M steps) |" in md
    assert "| 1000.0 ± 0.0 (10) at 150,000 (stop_at_score reached) |" in md
    assert T.continuous_markdown(T.continuous_table(T.load_runs(tmp_path / "none"))).startswith("(no completed")


def test_the_curves_are_each_runs_evaluations_by_steps_and_hours(tmp_path):
    build_continuous_runs(tmp_path)
    curves = T.continuous_curves(T.load_runs(tmp_path))
    hopper = curves[curves["task"] == "hopper"]
    assert hopper[["frames", "hours", "mean", "sampled_mean", "final"]].values.tolist() == [
        [100_000, pytest.approx(0.1), 200.0, 180.0, False], [200_000, pytest.approx(0.2), 900.0, 700.0, False],
        [2_000_000, 1.0, 500.0, 450.0, True]]
    # the final evaluation repeats the 150k one: one point, the final one
    pendulum = curves[curves["task"] == "inverted_pendulum"]
    assert pendulum[["frames", "mean", "final"]].values.tolist() == [[50_000, 90.0, False], [150_000, 1000.0, True]]


def build_lr_runs(root: Path) -> None:
    """InvertedPendulum, 2 actor-learners, 100k steps of a 1M-step learning-rate horizon, one rate per seed; final evaluations:
    1e-5: 50, 1e-4: 950, 3e-4: 1000 (best), 1e-3: 600, 3e-3: 920; 1e-2 still running (its 50k
    evaluation only). Target 900: reached at 1e-4, 3e-4 and 3e-3, 3 of the 4 completed runs of
    1e-4..3e-3. A Pong sweep of three rates stays out (not a continuous-control task)."""
    finals = {1e-5: 50.0, 1e-4: 950.0, 3e-4: 1000.0, 1e-3: 600.0, 3e-3: 920.0}
    for seed, (lr, final) in enumerate(finals.items()):
        make_run(root, "a3c_continuous", "inverted_pendulum", 2, seed, [(1, 5.0)], lr=lr, total_frames=100_000,
                 final_score=final, evals=[cev(50_045, final / 2, 0.01, 40.0), cev(100_000, final, 0.02, final / 3)], tag=f"-lr{lr:g}",
                 extra={"lr_anneal_frames": 1_000_000})
    make_run(root, "a3c_continuous", "inverted_pendulum", 2, 9, [(1, 5.0)], lr=1e-2, total_frames=100_000,
             status="running", evals=[cev(50_010, 30.0, 0.01, 20.0)], tag="-lr0.01", extra={"lr_anneal_frames": 1_000_000})
    for seed, lr in enumerate([1e-4, 1e-3, 1e-2]):
        make_run(root, "a3c", "pong", 2, seed, [(1, -21.0)], lr=lr, final_score=-20.0, tag=f"-lr{lr:g}")


def test_the_learning_rate_sweep_counts_the_completed_runs_reaching_the_target(tmp_path):
    build_lr_runs(tmp_path)
    table = T.continuous_lr_table(T.load_runs(tmp_path))
    assert table["lr"].tolist() == [1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2] and set(table["env"]) == {"inverted_pendulum"}
    by_lr = table.set_index("lr")
    assert by_lr["first_eval"].tolist() == [25.0, 475.0, 500.0, 300.0, 460.0, 30.0]
    assert by_lr["last_eval"].tolist() == [50.0, 950.0, 1000.0, 600.0, 920.0, 30.0]
    assert by_lr["final"].tolist() == [True] * 5 + [False]
    assert by_lr["reached"].tolist() == [False, True, True, False, True, False]
    assert by_lr.loc[3e-4, "last_sampled"] == pytest.approx(1000.0 / 3)

    summary = T.continuous_lr_summary(table).iloc[0]
    assert (summary.runs, summary.completed, summary.reached, summary.target) == (6, 5, 3, 900.0)
    assert (summary.lr_low, summary.lr_high, summary.inside, summary.inside_reached) == (1e-4, 3e-3, 4, 3)
    assert (summary.lr_best, summary.best_final) == (3e-4, 1000.0)

    md = T.continuous_lr_markdown(table, T.continuous_lr_summary(table))
    assert "## a3c_continuous on inverted_pendulum: 2 actor-learners, 100,000 steps per run, LR horizon 1M\n" in md
    assert ("5 of 6 runs completed. 3 of the 5 completed reach a final evaluation ≥ 900, at rates from 0.0001 to "
            "0.003; 3 of the 4 completed runs with a rate in that range reach it. The best final evaluation, "
            "1000.0, has lr 0.0003.") in md
    assert "| 0.01 | 9 | running | 100,000 | 30.0 at 50,010 | 30.0 at 50,010 (not final) | 20.0 | — |" in md
    assert "| 0.001 | 3 | completed | 100,000 | 300.0 at 50,045 | 600.0 at 100,000 | 200.0 | no |" in md
    # with no target for the task, nothing counts as reached
    assert not T.continuous_lr_table(T.load_runs(tmp_path), targets={})["reached"].any()


def _make_tables_module():
    spec = importlib.util.spec_from_file_location("make_tables_continuous", REPO / "scripts" / "make_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _keep_figures(mt, monkeypatch) -> list:
    """Replace make_tables' _save: record each figure's panels (title, x label, lines' and scatters' data)."""
    drawn = []

    def keep(fig, path):
        drawn.append((path.name, [(ax.get_title(), ax.get_xlabel(),
                                   {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines},
                                   {c.get_label(): c.get_offsets().tolist() for c in ax.collections})
                                  for ax in fig.axes]))
        return path

    monkeypatch.setattr(mt, "_save", keep)
    return drawn


def test_the_curves_figure_has_a_column_per_task_by_steps_and_by_hours(tmp_path, monkeypatch):
    mt = _make_tables_module()
    drawn = _keep_figures(mt, monkeypatch)
    build_continuous_runs(tmp_path)
    assert mt.plot_continuous_curves(T.continuous_curves(T.load_runs(tmp_path)), tmp_path) == [tmp_path / "mujoco_curves.png"]
    name, panels = drawn[0]
    # panels row by row: steps (Hopper, InvertedPendulum), then hours
    assert [(p[0], p[1]) for p in panels] == [("Hopper-v5", "environment steps (millions)"),
                                              ("InvertedPendulum-v5", "environment steps (millions)"),
                                              ("Hopper-v5", "training hours"), ("InvertedPendulum-v5", "training hours")]
    by_steps, by_hours = panels[0][2], panels[2][2]
    assert by_steps["seed 0: mean action μ"][0] == pytest.approx([0.1, 0.2, 2.0])
    assert by_steps["seed 0: mean action μ"][1] == [200.0, 900.0, 500.0]
    assert by_hours["seed 0: mean action μ"][0] == pytest.approx([0.1, 0.2, 1.0])
    assert by_hours["seed 0: sampled actions"][1] == [180.0, 700.0, 450.0]
    ref = T.continuous_references().loc["hopper"]
    assert by_steps[f"A2C, 1M steps (published)"][1] == [ref["reference"]] * 2
    assert by_steps["random policy"][1] == [ref["random"]] * 2
    assert mt.plot_continuous_curves(T.continuous_curves(T.load_runs(tmp_path / "none")), tmp_path) == []


def test_the_scatter_draws_final_evaluations_against_the_learning_rate(tmp_path, monkeypatch):
    mt = _make_tables_module()
    drawn = _keep_figures(mt, monkeypatch)
    build_lr_runs(tmp_path)
    assert mt.plot_continuous_lr(T.continuous_lr_table(T.load_runs(tmp_path)), tmp_path) == [tmp_path / "mujoco_lr_scatter.png"]
    (title, xlabel, lines, scatters), = drawn[0][1]
    assert title == "a3c_continuous on inverted_pendulum: 5 of 6 runs completed" and xlabel == "initial learning rate"
    assert scatters["final evaluation (100,000 steps)"] == [[1e-5, 50.0], [1e-4, 950.0], [3e-4, 1000.0],
                                                            [1e-3, 600.0], [3e-3, 920.0]]
    assert [p[1] for p in scatters["first evaluation (~50,045 steps)"]] == [25.0, 475.0, 500.0, 300.0, 460.0, 30.0]
    assert lines["target 900"][1] == [900.0, 900.0]


def test_the_scatter_says_when_a_final_evaluation_is_a_stop_at_score_snapshot(tmp_path, monkeypatch):
    """A run that ended at stop_at_score has its final evaluation at the snapshot that scored, before
    the budget: the legend must not call every final evaluation the budget's."""
    mt = _make_tables_module()
    drawn = _keep_figures(mt, monkeypatch)
    build_lr_runs(tmp_path)
    make_run(tmp_path, "a3c_continuous", "inverted_pendulum", 2, 7, [(1, 5.0)], lr=2e-4, total_frames=100_000,
             final_score=1000.0, evals=[cev(50_045, 1000.0, 0.01, 300.0), cev(50_045, 1000.0, 0.01, 310.0)],
             tag="-lr0.0002", extra={"lr_anneal_frames": 1_000_000,
                                     "stopped_at_score": {"stop_at_score": 1000.0, "frames": 50_045, "mean": 1000.0}})
    mt.plot_continuous_lr(T.continuous_lr_table(T.load_runs(tmp_path)), tmp_path)
    (_, _, _, scatters), = drawn[0][1]
    label = "final evaluation (100,000 steps; at stop_at_score: the snapshot that scored)"
    assert [2e-4, 1000.0] in scatters[label] and len(scatters[label]) == 6


def test_make_tables_writes_the_continuous_outputs_only_with_runs(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "out"
    build_continuous_runs(runs)
    build_lr_runs(runs / "mujoco_lr")
    result = run_script("--runs", str(runs), "--out", str(out), "--k", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for name in ["mujoco", "mujoco_curves", "mujoco_lr"]:
        assert (out / "tables" / f"{name}.csv").is_file() and (out / "tables" / f"{name}.md").is_file()
    figures = {p.name for p in (out / "figures").glob("*.png")}
    assert {"mujoco_curves.png", "mujoco_lr_scatter.png"} <= figures
    # the continuous sweep is not an Atari Fig. 2 sweep: neither in lr_sweep nor in the <method>_<game>_lr scatter
    assert "inverted_pendulum" not in (out / "tables" / "lr_sweep.md").read_text()
    assert "a3c_pong_lr.png" in figures and "a3c_continuous_inverted_pendulum_lr.png" not in figures
    assert pd.read_csv(out / "tables" / "mujoco.csv")["task"].tolist() == ["hopper", "inverted_pendulum"]
    assert "mujoco" not in result.stdout

    bare = tmp_path / "bare"
    make_run(bare, "a3c", "pong", 2, 0, [(1, -21.0)], final_score=-20.0)
    result = run_script("--runs", str(bare), "--out", str(tmp_path / "out2"), "--k", "1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert not list((tmp_path / "out2" / "tables").glob("mujoco*"))
    assert not list((tmp_path / "out2" / "figures").glob("mujoco*"))
    assert "mujoco (the continuous-control table, its curves and figure): not written" in result.stdout
    assert "mujoco_lr (the continuous-control learning-rate table and scatter): not written" in result.stdout


# ---------------------------------------------------------------------------------------- the packaged scores

def test_every_continuous_task_has_a_random_score_and_a_labelled_reference():
    random_scores = _random_scores_module()
    refs = T.continuous_references()
    assert sorted(refs.index) == random_scores.continuous_tasks()
    assert (refs["random_episodes"] >= 100).all() and refs["random"].notna().all()
    for task, ref in refs.iterrows():
        assert ref["gym_id"] == random_scores.env_config(task).gym_id
        assert pd.notna(ref["reference"]), task
        assert all(isinstance(ref[c], str) and ref[c] for c in
                   ["reference_algorithm", "reference_budget", "reference_source"]), task


def _random_scores_module():
    spec = importlib.util.spec_from_file_location("random_scores", REPO / "tools" / "random_scores.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_random_scores_sum_each_episodes_raw_rewards_from_a_fixed_seed():
    """InvertedPendulum-v5 pays +1 a step while the pole is up (0 on the step it falls): a random
    policy's returns, episode by episode from one seed, against the same episodes summed step by step."""
    random_scores = _random_scores_module()
    from asyncrl.envs import make_env

    cfg = random_scores.env_config("inverted_pendulum")
    returns = random_scores.random_returns(cfg, 3, seed=5)
    assert returns == random_scores.random_returns(cfg, 3, seed=5)
    env, by_hand = make_env(cfg, seed=5), []
    for _ in range(3):
        env.reset()
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total, done = total + reward, terminated or truncated
        by_hand.append(total)
    assert returns == by_hand and all(r >= 1 for r in returns)


@pytest.mark.parametrize("args,why", [(["--tasks", "pong"], "unknown task(s) pong"), (["--episodes", "0"], "--episodes")])
def test_random_scores_refuses_bad_input_in_one_line(tmp_path, capsys, args, why):
    random_scores = _random_scores_module()
    assert random_scores.main([*args, "--csv", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err and not (tmp_path / "s.csv").exists()

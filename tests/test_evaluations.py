"""The evaluation scheduler (runtime.evaluations.Evaluations) through its interface, with a fake
`play` that scores a snapshot by its one tensor: what is due, recorded, kept for the checkpoint,
cancelled, resumed, and where stop_at_score ends."""

import threading

import pytest
import torch

from asyncrl.methods import get_method
from asyncrl.runtime.evaluations import MAX_PENDING_EVALS, Evaluations


def theta(value: float):
    return {"w": torch.tensor([value])}


class Fake:
    """A fake evaluation: plays a snapshot once `go` is set (None if the scheduler is cancelled
    first) and scores it w, w + 1; remembers (w, seed) of every snapshot it played."""

    def __init__(self):
        self.go, self.played, self.recorded, self.messages = threading.Event(), [], [], []
        self.ev = None

    def play(self, state, seed):
        while not self.go.wait(0.01):
            if self.ev.cancelled():
                return None
        self.played.append((float(state["w"]), seed))
        return [float(state["w"]), float(state["w"]) + 1]


def scheduler(compose_cfg, fake, restored=None, stopping=lambda: False, *overrides):
    cfg = compose_cfg("env=toy", "seed=3", *overrides)
    fake.ev = Evaluations(cfg, get_method(cfg.method.name), 2, restored or {}, stopping=stopping,
                          on_record=fake.recorded.append, on_failure=pytest.fail, message=fake.messages.append,
                          play=fake.play)
    return fake.ev


def test_every_due_evaluation_stays_pending_until_recorded_in_order(compose_cfg):
    fake = Fake()
    ev = scheduler(compose_cfg, fake)
    for frames, w in ((1000, 1.0), (2000, 2.0), (3000, 3.0)):
        assert ev.submit(frames, frames / 100, theta(w))
    pending = ev.pending()
    assert [(p["frames"], p["wall_time_s"], float(p["model"]["w"]), p["seed"]) for p in pending] == [
        (1000, 10.0, 1.0, 3 + 10_007), (2000, 20.0, 2.0, 3 + 2 * 10_007), (3000, 30.0, 3.0, 3 + 3 * 10_007)]
    state = ev.checkpoint_state()
    assert state["evals"] == [] and [p["frames"] for p in state["pending_evals"]] == [1000, 2000, 3000]
    assert ev.checkpointed == (0, 3) and not ev.changed_since_checkpoint()
    fake.go.set()
    ev.wait()
    assert ev.pending() == [] and ev.changed_since_checkpoint()
    assert [(e["frames"], e["wall_time_s"], e["mean"], e["episodes"]) for e in ev.recorded()] == [
        (1000, 10.0, 1.5, 2), (2000, 20.0, 2.5, 2), (3000, 30.0, 3.5, 2)]
    assert fake.recorded == ev.recorded()  # on_record saw each entry
    assert [seed for _, seed in fake.played] == [p["seed"] for p in pending]


def test_a_snapshot_is_copied_when_submitted(compose_cfg):
    fake = Fake()
    ev = scheduler(compose_cfg, fake)
    live = theta(1.0)
    ev.submit(1000, 1.0, live)
    live["w"].fill_(9.0)  # training moves theta on meanwhile
    fake.go.set()
    ev.wait()
    assert fake.played[0][0] == 1.0


def test_a_cancelled_run_keeps_its_unplayed_evaluations_pending(compose_cfg):
    fake = Fake()
    stop = threading.Event()
    ev = scheduler(compose_cfg, fake, None, stop.is_set)
    ev.submit(1000, 1.0, theta(1.0))
    ev.submit(2000, 2.0, theta(2.0))
    stop.set()  # a signal: the scheduler counts as cancelled
    ev.wait()
    assert ev.recorded() == [] and fake.played == []
    assert [p["frames"] for p in ev.pending()] == [1000, 2000]


def test_a_resumed_scheduler_plays_the_pending_ones_first_with_their_seeds(compose_cfg):
    first = Fake()
    ev = scheduler(compose_cfg, first)
    ev.submit(1000, 1.0, theta(1.0))
    ev.cancel()
    ev.wait()
    state = ev.checkpoint_state()

    again = Fake()
    resumed = scheduler(compose_cfg, again, state)
    resumed.resume()
    resumed.submit(2000, 2.0, theta(2.0))
    again.go.set()
    resumed.wait()
    assert again.played == [(1.0, 3 + 10_007), (2.0, 3 + 2 * 10_007)]
    assert [e["frames"] for e in resumed.recorded()] == [1000, 2000] and resumed.pending() == []


def test_a_slow_evaluator_skips_submissions_beyond_the_waiting_limit_and_says_so_once(compose_cfg):
    fake = Fake()
    ev = scheduler(compose_cfg, fake)
    accepted = [ev.submit(1000 * (i + 1), 1.0, theta(float(i))) for i in range(MAX_PENDING_EVALS + 3)]
    # the first is taken by the evaluator (or still waits); at most MAX_PENDING_EVALS wait behind it
    assert accepted[:MAX_PENDING_EVALS] == [True] * MAX_PENDING_EVALS and not accepted[-1]
    assert len(fake.messages) == 1 and "evaluations fall behind" in fake.messages[0]
    fake.go.set()
    ev.wait()
    assert len(ev.recorded()) == sum(accepted) and ev.pending() == []


def test_the_first_evaluation_reaching_stop_at_score_ends_the_later_snapshots(compose_cfg):
    fake = Fake()
    ev = scheduler(compose_cfg, fake, None, lambda: False, "stop_at_score=5")
    for frames, w in ((1000, 1.0), (2000, 5.0), (3000, 7.0)):
        ev.submit(frames, 1.0, theta(w))
    fake.go.set()
    ev.wait()
    assert ev.reached["frames"] == 2000 and ev.reached["mean"] == 5.5
    assert float(ev.reached_model["w"]) == 5.0
    assert [e["frames"] for e in ev.recorded()] == [1000, 2000]  # the later snapshot: neither played nor kept
    assert ev.pending() == [] and [w for w, _ in fake.played] == [1.0, 5.0]
    assert any("stop_at_score=5 reached at 2,000 frames" in m for m in fake.messages)

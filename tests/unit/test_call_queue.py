"""The announcer's call queue with the simulated audio backend: order, no overlap, no repeats,
bounded backlog. Waits are on the sim's and the queue's conditions, never on sleep()."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator

import numpy as np
import pytest

from device_drivers.audio import SimAudio
from display_agents.call_queue import CallQueue, CallRequest, call_from_event
from tests.utils.voice import wav_bytes


class Renderer:
    """Renders each request to a distinct tiny WAV and remembers which is which."""

    def __init__(self) -> None:
        self.by_wav: dict[bytes, str] = {}
        self.lock = threading.Lock()

    def __call__(self, request: CallRequest) -> bytes:
        if request.number == "BAD":
            raise ValueError("cannot render BAD")
        with self.lock:
            wav = wav_bytes(np.zeros(10 + len(self.by_wav)), 22_050)
            self.by_wav[wav] = f"{request.number}@{request.counter}"
            return wav

    def played(self, sim: SimAudio) -> list[str]:
        with self.lock:
            return [self.by_wav[p.wav] for p in sim.played]


@pytest.fixture
def sim() -> SimAudio:
    return SimAudio()


@pytest.fixture
def render() -> Renderer:
    return Renderer()


@pytest.fixture
def queue(sim: SimAudio, render: Renderer) -> Iterator[CallQueue]:
    q = CallQueue(render, sim, max_backlog=50)
    q.start()
    yield q
    sim.release()
    q.stop()


def assert_no_overlap(sim: SimAudio) -> None:
    played = sim.played
    assert sim.max_concurrent == 1
    for a, b in itertools.pairwise(played):
        assert a.ended <= b.started


def test_a_burst_plays_in_order_without_overlap(queue: CallQueue, sim: SimAudio, render: Renderer) -> None:
    sim.hold()
    queue.submit(CallRequest("A001", "1", seq=1))
    assert sim.wait_playing()
    for i in range(2, 7):
        assert queue.submit(CallRequest(f"A00{i}", str(i), seq=i))
    assert [r.number for r in queue.waiting] == ["A002", "A003", "A004", "A005", "A006"]
    sim.release()
    assert queue.wait_idle()
    assert render.played(sim) == ["A001@1", "A002@2", "A003@3", "A004@4", "A005@5", "A006@6"]
    assert_no_overlap(sim)
    assert queue.stats.announced == 6


def test_same_event_is_announced_once(queue: CallQueue, sim: SimAudio, render: Renderer) -> None:
    assert queue.submit(CallRequest("A001", "1", seq=7))
    assert not queue.submit(CallRequest("A001", "1", seq=7))  # QoS 1 redelivery
    assert queue.wait_idle()
    assert not queue.submit(CallRequest("A001", "1", seq=7))  # replay after it was played
    assert queue.wait_idle()
    assert render.played(sim) == ["A001@1"]
    assert queue.stats.duplicates == 2


def test_a_recall_after_the_call_is_announced_again(
    queue: CallQueue, sim: SimAudio, render: Renderer
) -> None:
    queue.submit(CallRequest("A001", "1", seq=1))
    assert queue.wait_idle()
    queue.submit(CallRequest("A001", "1", seq=2, recall=True))
    assert queue.wait_idle()
    assert render.played(sim) == ["A001@1", "A001@1"]


def test_a_recall_of_a_call_still_waiting_is_absorbed(
    queue: CallQueue, sim: SimAudio, render: Renderer
) -> None:
    sim.hold()
    queue.submit(CallRequest("A001", "1", seq=1))
    assert sim.wait_playing()
    assert queue.submit(CallRequest("B001", "2", seq=2))
    assert not queue.submit(CallRequest("B001", "2", seq=3, recall=True))
    assert queue.submit(CallRequest("B001", "3", seq=4))  # another counter: a different call
    sim.release()
    assert queue.wait_idle()
    assert render.played(sim) == ["A001@1", "B001@2", "B001@3"]
    assert queue.stats.absorbed == 1


def test_backlog_drops_the_oldest_with_a_log_line(
    sim: SimAudio, render: Renderer, caplog: pytest.LogCaptureFixture
) -> None:
    with CallQueue(render, sim, max_backlog=3) as queue:
        sim.hold()
        queue.submit(CallRequest("A001", "1"))
        assert sim.wait_playing()
        with caplog.at_level(logging.WARNING):
            for i in range(2, 7):
                queue.submit(CallRequest(f"A00{i}", "1"))
        assert [r.number for r in queue.waiting] == ["A004", "A005", "A006"]
        assert "dropped call A002" in caplog.text and "dropped call A003" in caplog.text
        sim.release()
        assert queue.wait_idle()
    assert render.played(sim) == ["A001@1", "A004@1", "A005@1", "A006@1"]
    assert queue.stats.dropped == 2


def test_a_failing_call_does_not_stop_the_others(sim: SimAudio, render: Renderer) -> None:
    errors: list[tuple[str, str]] = []
    with CallQueue(render, sim, on_error=lambda r, e: errors.append((r.number, str(e)))) as queue:
        queue.submit(CallRequest("A001", "1"))
        queue.submit(CallRequest("BAD", "1"))
        queue.submit(CallRequest("A002", "1"))
        assert queue.wait_idle()
    assert render.played(sim) == ["A001@1", "A002@1"]
    assert errors == [("BAD", "cannot render BAD")]
    assert queue.stats.failed == 1


def test_many_producers_never_overlap(queue: CallQueue, sim: SimAudio, render: Renderer) -> None:
    def produce(counter: int) -> None:
        for i in range(10):
            queue.submit(CallRequest(f"A{counter}{i:02d}", str(counter), seq=counter * 100 + i))

    threads = [threading.Thread(target=produce, args=(c,)) for c in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert queue.wait_idle()
    played = render.played(sim)
    assert len(played) == 40
    for c in range(1, 5):
        mine = [p for p in played if p.endswith(f"@{c}")]
        assert mine == [f"A{c}{i:02d}@{c}" for i in range(10)]  # each producer's order is kept
    assert_no_overlap(sim)


def test_stop_drops_waiting_calls(sim: SimAudio, render: Renderer) -> None:
    queue = CallQueue(render, sim)
    queue.start()
    sim.hold()
    queue.submit(CallRequest("A001", "1"))
    assert sim.wait_playing()
    queue.submit(CallRequest("A002", "1"))
    assert queue.stop(timeout=0) is False  # A001 is still playing
    assert queue.waiting == []
    sim.release()
    assert queue.stop() is True
    assert render.played(sim) == ["A001@1"]


def test_call_from_event() -> None:
    ticket = {"number": "A012", "counter": "3", "status": "called"}
    event = {"seq": 41, "type": "ticket.called", "ts": "", "data": {"ticket": ticket, "recall": True}}
    assert call_from_event(event) == CallRequest("A012", "3", 41, True)
    assert call_from_event(event, {"3": "Quầy 3"}) == CallRequest("A012", "Quầy 3", 41, True)
    assert call_from_event(event, {"3": "Quầy Tư pháp"}) == CallRequest("A012", "3", 41, True)
    assert call_from_event({**event, "type": "ticket.issued"}) is None
    assert call_from_event({**event, "data": {"ticket": {"number": "A012"}}}) is None
    assert call_from_event({**event, "data": "junk"}) is None

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


class JoinedRenderer(Renderer):
    """Renders a joined announcement as its numbers, "+"-separated."""

    def joined(self, requests: list[CallRequest], chime: bool = True) -> bytes:
        with self.lock:
            wav = wav_bytes(np.zeros(10 + len(self.by_wav)), 22_050)
            said = "+".join(f"{r.number}@{r.counter}" for r in requests)
            self.by_wav[wav] = ("♪" if chime else "") + said
            return wav


def test_calls_that_pile_up_are_joined_and_none_is_lost(sim: SimAudio) -> None:
    render = JoinedRenderer()
    with CallQueue(render, sim, say=render.joined, join_max=3) as queue:
        sim.hold()
        queue.submit(CallRequest("A001", "1", seq=1))
        assert sim.wait_playing()
        for i in range(2, 31):  # 30 counters each call once while the first is said
            queue.submit(CallRequest(f"A{i:03d}", str(i), seq=i))
        sim.release()
        assert queue.wait_idle()
    played = render.played(sim)
    assert played[0] == "♪A001@1"  # after the chime; not repeated, since others wait
    assert played[1] == "A002@2+A003@3+A004@4"  # at once (no chime), the oldest first, three at a time
    assert played[-1] == played[-2] == "A029@29+A030@30"  # the hall is quiet again: said twice
    heard = [c for p in played[:-1] for c in p.strip("♪").split("+")]
    assert heard == [f"A{i:03d}@{i}" for i in range(1, 31)]  # every first call, once, in order
    assert queue.stats.dropped == 0 and queue.stats.announced == 30 and queue.stats.joined == 10


def test_a_waiting_recall_is_replaced_by_its_counters_next_call(sim: SimAudio) -> None:
    render = JoinedRenderer()
    with CallQueue(render, sim, say=render.joined, join_max=6) as queue:
        sim.hold()
        queue.submit(CallRequest("A001", "1", seq=1))
        assert sim.wait_playing()
        queue.submit(CallRequest("B001", "2", seq=2, recall=True))
        queue.submit(CallRequest("C001", "3", seq=3))
        queue.submit(CallRequest("B002", "2", seq=4))  # counter 2 moved on: its recall is moot
        assert [r.number for r in queue.waiting] == ["C001", "B002"]
        sim.release()
        assert queue.wait_idle()
    assert render.played(sim) == ["♪A001@1", "C001@3+B002@2", "C001@3+B002@2"]
    assert queue.stats.replaced == 1 and queue.stats.dropped == 0


def test_a_full_backlog_drops_a_recall_before_any_first_call(
    sim: SimAudio, caplog: pytest.LogCaptureFixture
) -> None:
    render = JoinedRenderer()
    dropped: list[str] = []
    queue = CallQueue(
        render, sim, say=render.joined, max_backlog=3, on_drop=lambda r: dropped.append(r.number)
    )
    with queue:
        sim.hold()
        queue.submit(CallRequest("A001", "1"))
        assert sim.wait_playing()
        queue.submit(CallRequest("A002", "2"))
        queue.submit(CallRequest("A003", "3", recall=True))
        queue.submit(CallRequest("A004", "4"))
        with caplog.at_level(logging.WARNING):
            queue.submit(CallRequest("A005", "5"))  # one too many: the recall goes, not A002
        assert [r.number for r in queue.waiting] == ["A002", "A004", "A005"]
        assert dropped == ["A003"] and "dropped recall A003 -> counter 3 unheard" in caplog.text
        sim.release()
        assert queue.wait_idle()
    assert queue.stats.dropped == 1


def test_an_unreadable_call_does_not_silence_those_joined_with_it(sim: SimAudio) -> None:
    render = JoinedRenderer()

    def joined(requests: list[CallRequest], chime: bool) -> bytes:
        if any(r.number == "BAD" for r in requests):
            raise ValueError("cannot render BAD")
        return render.joined(requests, chime)

    errors: list[str] = []
    with CallQueue(render, sim, say=joined, on_error=lambda r, e: errors.append(r.number)) as queue:
        sim.hold()
        queue.submit(CallRequest("A001", "1"))
        assert sim.wait_playing()
        for n in ("A002", "BAD", "A003"):
            queue.submit(CallRequest(n, "2"))
        sim.release()
        assert queue.wait_idle()
    assert render.played(sim) == ["♪A001@1", "A002@2", "A003@2", "A003@2"]
    assert errors == ["BAD"] and queue.stats.announced == 3


def test_a_lone_call_is_said_twice_and_the_chime_waits_for_a_quiet_hall(sim: SimAudio) -> None:
    render = JoinedRenderer()
    now = [100.0]
    with CallQueue(render, sim, say=render.joined, repeat=2, quiet_s=10, clock=lambda: now[0]) as queue:
        queue.submit(CallRequest("A001", "1", seq=1))
        assert queue.wait_idle()
        now[0] += 4  # soon after: straight on, without the chime
        queue.submit(CallRequest("A002", "1", seq=2))
        assert queue.wait_idle()
        now[0] += 30  # the hall has been quiet: the chime and the whole sentence again
        queue.submit(CallRequest("A003", "1", seq=3))
        assert queue.wait_idle()
    assert render.played(sim) == ["♪A001@1", "A001@1", "A002@1", "A002@1", "♪A003@1", "A003@1"]
    assert queue.stats.announced == 3

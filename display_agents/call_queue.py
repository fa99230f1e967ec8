"""The announcer's core: calls arrive (from ``ticket.called`` events, recalls included) and are
played one after another, never two at once, oldest first.

- The same event (same ``seq``) is announced once, however often it is delivered (QoS 1
  redelivery, a replay after a reconnect).
- A call identical to one still waiting (same number, same counter: a recall pressed before the
  first call was heard) is absorbed by the waiting one.
- **Keeping up** (docs/voice.md "When calls pile up"), with a ``say`` renderer: up to ``join_max``
  waiting calls, oldest first, make one announcement (each sentence once, "Xin mời công dân có số
  thứ tự" only before the first). The chime comes only when the speaker was quiet: straight after
  another announcement it would only delay the next number. The announcement is said again
  (``repeat`` times in all) only while no other call waits: a repeat never holds a new call back
  by more than the sentence being said. A peak is so read out at a few seconds per citizen instead
  of fifteen. Without ``say``, each call is played whole by ``render`` (chime, sentence, repeats).
- **No first call is dropped.** A waiting *recall* is replaced by a newer call of the same counter
  (the clerk has moved on; logged). Only when more than ``max_backlog`` calls wait is one dropped:
  the oldest recall if there is one, else the oldest call, with a warning, counted in
  :class:`QueueStats` (the announcer reports it in its health, and the dashboard shows it).
- Rendering (building the WAV) happens on the player thread, so whoever submits (the MQTT
  network thread) never waits for espeak-ng or numpy.

- **Liveness.** With a :attr:`CallQueue.heartbeat`, the player thread beats it on every turn and
  while idle, and announces each clip's length before playing it: a call stuck in the output for
  longer than its length plus the watchdog interval stops the process's watchdog pings.

No MQTT here: the agent feeds :meth:`CallQueue.submit`; tests do the same with the ``sim`` audio
backend.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from device_drivers.audio import AudioOut, wav_duration
from onestop.sdnotify import Heartbeat

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallRequest:
    """One call to announce: the ticket number and the counter as it is read (id or label)."""

    number: str
    counter: str
    seq: int | None = None
    recall: bool = False

    def describe(self) -> str:
        """A short description for log lines."""
        what = "recall" if self.recall else "call"
        return f"{what} {self.number} -> counter {self.counter}" + (
            f" (event {self.seq})" if self.seq else ""
        )


def call_from_event(
    event: Mapping[str, Any], counter_labels: Mapping[str, str] | None = None
) -> CallRequest | None:
    """The call a ``ticket.called`` event asks for (None for any other event or a malformed one).

    ``counter_labels`` maps counter ids to their labels ("Quầy 3"); the label is what is read when
    it holds a number, otherwise the id.
    """
    if event.get("type") != "ticket.called":
        return None
    data = event.get("data")
    ticket = data.get("ticket") if isinstance(data, Mapping) else None
    if not isinstance(ticket, Mapping):
        return None
    number, counter = ticket.get("number"), ticket.get("counter")
    if not isinstance(number, str) or not isinstance(counter, str):
        return None
    label = (counter_labels or {}).get(counter, "")
    spoken = label if any(ch.isdigit() for ch in label) else counter
    seq = event.get("seq")
    recall = bool(data.get("recall", False)) if isinstance(data, Mapping) else False
    return CallRequest(number, spoken, seq if isinstance(seq, int) else None, recall)


@dataclass
class QueueStats:
    """Counters for health reporting."""

    submitted: int = 0
    announced: int = 0
    duplicates: int = 0
    absorbed: int = 0
    dropped: int = 0
    replaced: int = 0  # waiting recalls replaced by a newer call of the same counter
    joined: int = 0  # announcements that joined several calls
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        """The figures, for the announcer's health message."""
        return dict(self.__dict__)


class CallQueue:
    """Plays submitted calls one at a time, in order, on its own thread."""

    def __init__(
        self,
        render: Callable[[CallRequest], bytes],
        audio: AudioOut | None,
        *,
        say: Callable[[Sequence[CallRequest], bool], bytes] | None = None,
        join_max: int = 1,
        repeat: int = 2,
        quiet_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        max_backlog: int = 200,
        remember: int = 4096,
        on_error: Callable[[CallRequest, Exception], None] | None = None,
        on_drop: Callable[[CallRequest], None] | None = None,
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        if join_max < 1 or repeat < 1:
            raise ValueError("join_max and repeat must be at least 1")
        self.render = render
        #: ``say(calls, chime)``: the announcement of ``calls`` (each sentence once), after a chime
        #: when ``chime``.
        self.say = say
        self.join_max = join_max if say is not None else 1
        self.repeat = repeat
        #: The speaker counts as quiet (the next announcement starts with the chime and the whole
        #: sentence) once it has said nothing for this long.
        self.quiet_s = quiet_s
        self.clock = clock
        self._last_end = -math.inf
        self.audio = audio
        self.max_backlog = max_backlog
        self.on_error = on_error
        self.on_drop = on_drop
        self.stats = QueueStats()
        self._cond = threading.Condition()
        self._waiting: deque[CallRequest] = deque()
        self._current: list[CallRequest] = []
        self._continuing = False  # the last announcement ended with calls waiting: no chime now
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque(maxlen=remember)
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: Beaten by the player thread (set it before :meth:`start`); None: nobody watches.
        self.heartbeat: Heartbeat | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the player thread."""
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="announcer-player", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> bool:
        """Drop the waiting calls, let the one playing finish, and end the thread; True once ended."""
        with self._cond:
            thread = self._thread
            self._stopping = True
            if self._waiting:
                log.info("announcer stopping: %d waiting call(s) not announced", len(self._waiting))
                self._waiting.clear()
            self._cond.notify_all()
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            return False
        with self._cond:
            if self._thread is thread:
                self._thread = None
        return True

    def __enter__(self) -> CallQueue:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the producer side -------------------------------------------------------------------
    def submit(self, request: CallRequest) -> bool:
        """Queue a call; False when it is a duplicate (seen event, or identical to a waiting call)."""
        with self._cond:
            self.stats.submitted += 1
            if request.seq is not None:
                if request.seq in self._seen:
                    self.stats.duplicates += 1
                    log.debug("announcer: event %s already announced or queued", request.seq)
                    return False
                if len(self._seen_order) == self._seen_order.maxlen:
                    self._seen.discard(self._seen_order[0])
                self._seen_order.append(request.seq)
                self._seen.add(request.seq)
            if any(w.number == request.number and w.counter == request.counter for w in self._waiting):
                self.stats.absorbed += 1
                log.info("announcer: %s is already waiting to be announced", request.describe())
                return False
            # A recall still waiting is moot once its counter calls someone else.
            for w in [w for w in self._waiting if w.recall and w.counter == request.counter]:
                self._waiting.remove(w)
                self.stats.replaced += 1
                log.info("announcer: %s replaces the waiting %s", request.describe(), w.describe())
            dropped = None
            if len(self._waiting) >= self.max_backlog:
                recalls = [w for w in self._waiting if w.recall]
                dropped = recalls[0] if recalls else self._waiting[0]
                self._waiting.remove(dropped)
                self.stats.dropped += 1
                log.warning(
                    "announcer is %d calls behind: dropped %s unheard",
                    len(self._waiting) + 1,
                    dropped.describe(),
                )
            self._waiting.append(request)
            self._cond.notify_all()
        if dropped is not None and self.on_drop is not None:
            self.on_drop(dropped)
        return True

    # -- observation -------------------------------------------------------------------------
    @property
    def waiting(self) -> list[CallRequest]:
        """The calls not yet started, oldest first."""
        with self._cond:
            return list(self._waiting)

    @property
    def current(self) -> list[CallRequest]:
        """The calls being rendered or played (several when joined), if any."""
        with self._cond:
            return list(self._current)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is playing or waiting; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting and not self._current, timeout)

    def take(self) -> tuple[list[CallRequest], bool]:
        """The next announcement: its calls, removed from the waiting line, and whether it starts
        with the chime. Call it with calls waiting, and :meth:`said` after each announcement or
        repeat; the player thread does, and so does the voice-backlog bench on its own clock."""
        with self._cond:
            return self._take()

    def _take(self) -> tuple[list[CallRequest], bool]:
        n = min(self.join_max, len(self._waiting))
        batch = [self._waiting.popleft() for _ in range(n)]
        recent = self.clock() - self._last_end < self.quiet_s
        return batch, not (self._continuing or recent)

    def said(self, times: int) -> bool:
        """An announcement has just been said ``times`` times: whether to say it once more (only
        with ``say``, fewer than ``repeat`` times, and while no other call waits)."""
        with self._cond:
            self._continuing = bool(self._waiting)
            self._last_end = self.clock()
            return self.say is not None and times < self.repeat and not self._waiting and not self._stopping

    # -- the player thread -------------------------------------------------------------------
    def _run(self) -> None:
        hb = self.heartbeat
        while True:
            if hb is not None:
                hb.beat()  # a turn, or an idle wait that timed out: the player is not stuck
            with self._cond:
                idle_s = hb.timeout(None) if hb is not None else None
                if not self._cond.wait_for(lambda: self._waiting or self._stopping, idle_s):
                    continue
                if self._stopping:
                    return
                batch, chime = self._take()
                self._current = batch
            try:
                if self.say is None:
                    self._play(batch, chime=True)
                    self.said(self.repeat)
                    continue
                times = 1
                self._play(batch, chime=chime)
                while self.said(times):
                    self._play(batch, chime=False, again=True)
                    times += 1
            finally:
                with self._cond:
                    self._current = []
                    self._cond.notify_all()

    def _play(self, batch: list[CallRequest], *, chime: bool, again: bool = False) -> None:
        try:
            wav = self.render(batch[0]) if self.say is None else self.say(batch, chime)
        except Exception as exc:
            if len(batch) > 1:  # one unreadable call must not silence the others joined with it
                for i, request in enumerate(batch):
                    self._play([request], chime=chime and i == 0, again=again)
                return
            if not again:
                self._failed(batch[0], exc)
            return
        try:
            assert self.audio is not None, "a queue without audio is driven by take() only"
            if self.heartbeat is not None:
                self.heartbeat.expect(_length_s(wav))  # playing takes the clip's length, no more
            self.audio.play(wav)
        except Exception as exc:  # one bad call must not silence the hall
            if not again:
                for request in batch:
                    self._failed(request, exc)
            return
        if again:
            return
        with self._cond:
            self.stats.announced += len(batch)
            self.stats.joined += 1 if len(batch) > 1 else 0
        what = " + ".join(r.describe() for r in batch)
        log.info("announced %s%s", what, " (joined)" if len(batch) > 1 else "")

    def _failed(self, request: CallRequest, exc: Exception) -> None:
        with self._cond:
            self.stats.failed += 1
        log.error("announcer could not play %s: %s", request.describe(), exc)
        if self.on_error is not None:
            self.on_error(request, exc)


def _length_s(wav: bytes) -> float:
    """The clip's length in seconds (0 for what is not a WAV: the output refuses it at once)."""
    try:
        return wav_duration(wav)
    except Exception:
        return 0.0

"""The announcer's core: calls arrive (from ``ticket.called`` events, recalls included) and are
played one after another, never two at once, oldest first.

- The same event (same ``seq``) is announced once, however often it is delivered (QoS 1
  redelivery, a replay after a reconnect).
- A call identical to one still waiting (same number, same counter: a recall pressed before the
  first call was heard) is absorbed by the waiting one.
- When more than ``max_backlog`` calls wait, the oldest is dropped with a warning: the hall has
  fallen behind, and the board still shows every call.
- Rendering (building the WAV) happens on the player thread, so whoever submits (the MQTT
  network thread) never waits for espeak-ng or numpy.

No MQTT here: the agent feeds :meth:`CallQueue.submit`; tests do the same with the ``sim`` audio
backend.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from device_drivers.audio import AudioOut

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
    failed: int = 0


class CallQueue:
    """Plays submitted calls one at a time, in order, on its own thread."""

    def __init__(
        self,
        render: Callable[[CallRequest], bytes],
        audio: AudioOut,
        *,
        max_backlog: int = 8,
        remember: int = 4096,
        on_error: Callable[[CallRequest, Exception], None] | None = None,
    ) -> None:
        if max_backlog < 1:
            raise ValueError("max_backlog must be at least 1")
        self.render = render
        self.audio = audio
        self.max_backlog = max_backlog
        self.on_error = on_error
        self.stats = QueueStats()
        self._cond = threading.Condition()
        self._waiting: deque[CallRequest] = deque()
        self._current: CallRequest | None = None
        self._seen: set[int] = set()
        self._seen_order: deque[int] = deque(maxlen=remember)
        self._stopping = False
        self._thread: threading.Thread | None = None

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
            if len(self._waiting) >= self.max_backlog:
                oldest = self._waiting.popleft()
                self.stats.dropped += 1
                log.warning(
                    "announcer is %d calls behind: dropped %s", len(self._waiting) + 1, oldest.describe()
                )
            self._waiting.append(request)
            self._cond.notify_all()
            return True

    # -- observation -------------------------------------------------------------------------
    @property
    def waiting(self) -> list[CallRequest]:
        """The calls not yet started, oldest first."""
        with self._cond:
            return list(self._waiting)

    @property
    def current(self) -> CallRequest | None:
        """The call being rendered or played, if any."""
        with self._cond:
            return self._current

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is playing or waiting; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting and self._current is None, timeout)

    # -- the player thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._waiting or self._stopping)
                if self._stopping:
                    return
                request = self._current = self._waiting.popleft()
            try:
                self.audio.play(self.render(request))
            except Exception as exc:  # one bad call must not silence the hall
                with self._cond:
                    self.stats.failed += 1
                log.error("announcer could not play %s: %s", request.describe(), exc)
                if self.on_error is not None:
                    self.on_error(request, exc)
            else:
                with self._cond:
                    self.stats.announced += 1
                log.info("announced %s", request.describe())
            finally:
                with self._cond:
                    self._current = None
                    self._cond.notify_all()

"""What the site already saw, against what the store holds: a rewound store is found before it serves.

The controller's retained states (``state/board``, ``state/counter/*``, ``state/service/*``) each carry
``seq``, the controller's last event seq when they were published, and every service state its
``issued_today`` and ``last_issued`` (and ``day``). They outlive the controller on the broker. When the
store comes back lower than that (its ``-wal`` lost, a file restored from an older backup), serving from
it would reuse event seqs the hub already holds and issue ticket numbers again that citizens already
hold. :func:`compare` says whether that is the case, and by how much; the controller then refuses to
serve until the operator accepts, and continues after what the site saw (docs/controller.md).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

#: Without the end marker (see :class:`SiteCheck`) the check decides on what arrived by then.
CHECK_TIMEOUT_S = 5.0


@dataclass
class SeenService:
    """What the hall saw of one service's numbering."""

    issued: int = 0
    last_issued: str | None = None
    day: str | None = None


@dataclass
class Seen:
    """The highest seq and the service numbering of the retained states read at start."""

    seq: int = 0
    states: int = 0
    services: dict[str, SeenService] = field(default_factory=dict)

    def add(self, kind: str, key: str, payload: bytes) -> None:
        """Take one retained state message into account (anything unreadable is skipped)."""
        try:
            data = json.loads(payload) if payload else None
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        seq = data.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            self.states += 1
            self.seq = max(self.seq, seq)
        if kind == "service" and key:
            issued = data.get("issued_today")
            if isinstance(issued, int) and not isinstance(issued, bool):
                last = data.get("last_issued")
                day = data.get("day")
                self.services[key] = SeenService(
                    issued, last if isinstance(last, str) else None, day if isinstance(day, str) else None
                )


@dataclass
class Verdict:
    """The outcome of :func:`compare`."""

    rewound: bool
    detail: str
    #: The seq the event log must continue after (never below what the site saw).
    floor: int
    #: Services whose numbering must continue after what the hall saw: id -> (issued, last number).
    numbers: dict[str, tuple[int, str | None]]


def compare(seen: Seen, store_seq: int, day: str, issued: dict[str, tuple[int, str | None]]) -> Verdict:
    """Compare the retained states with the store (``issued``: id -> (issued, last number) for ``day``).

    A service state without ``day`` (from an older controller) counts as ``day``: taking too high a
    number skips numbers, which is harmless; taking too low a number would issue one twice."""
    numbers: dict[str, tuple[int, str | None]] = {}
    for sid, s in sorted(seen.services.items()):
        have = issued.get(sid)
        if have is not None and s.day in (None, day) and s.issued > have[0]:
            numbers[sid] = (s.issued, s.last_issued)
    rewound = seen.seq > store_seq or bool(numbers)
    if not rewound:
        if seen.states == 0:
            detail = f"no retained state on the broker (first start, or a new broker); store at {store_seq}"
        else:
            detail = f"store at seq {store_seq}, the site saw seq {seen.seq}: consistent"
        return Verdict(False, detail, store_seq, {})
    at_risk = ", ".join(
        f"{sid} {issued[sid][1] or '-'}..{last or n} ({n - issued[sid][0]} numbers)"
        for sid, (n, last) in numbers.items()
    )
    detail = (
        f"the store is at event seq {store_seq} but the site saw seq {seen.seq} "
        f"({max(0, seen.seq - store_seq)} events lost)"
        + (f"; numbers the hall saw and the store lost: {at_risk}" if at_risk else "")
    )
    return Verdict(True, detail, max(seen.seq, store_seq), numbers)


class SiteCheck:
    """The start-up read of ``{root}/state/#`` on the controller's own connection.

    On the first connect the controller subscribes to the retained states and to a topic of its own
    (``dev/controller/check``), and publishes one marker there. The broker sends a subscription's
    retained messages before it handles the next packet, so once the marker comes back every retained
    state has arrived: no fixed wait. Until :attr:`verdict` is set the controller holds its inbox."""

    def __init__(self, accept: bool) -> None:
        self.token = uuid.uuid4().hex
        self.seen = Seen()
        self.accept = accept
        self.subscribed_at: float | None = None
        self.marker_back = False
        self.verdict: Verdict | None = None
        self.held: list[Any] = []
        self.next_poll = 0.0

    def finished(self, now: float | None = None) -> bool:
        """The marker came back, or the wait is over."""
        if self.marker_back:
            return True
        now = time.monotonic() if now is None else now
        return self.subscribed_at is not None and now - self.subscribed_at > CHECK_TIMEOUT_S

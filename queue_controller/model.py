"""The engine's domain objects: tickets, counters and services at run time, and its decisions."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from onestop.protocol import iso
from queue_controller.estimate import Calibration


def _ts(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass
class Ticket:
    """One numbered ticket of one business day."""

    id: str
    number: str
    service: str
    priority: bool
    day: str
    issued_at: datetime
    rank: int
    status: str = "waiting"
    called_at: datetime | None = None
    first_called_at: datetime | None = None
    counter: str | None = None
    officer: str | None = None
    finished_at: datetime | None = None
    origin_service: str = ""
    rated: bool = False
    issued_by: str = ""
    #: The citizen's booking: ``{"code", "slot_start", "slot_end", "status", "line"}``; ``status`` is
    #: how the arrival fitted the window ("on_time" | "early" | "late"), ``line`` where the ticket
    #: waits ("booked": called from ``due_at``; "walk_in": like any other ticket).
    booking: dict[str, Any] | None = None
    #: The dossier code a result-pickup ticket was issued for.
    dossier: str | None = None
    #: Why the ticket has priority (e.g. "age"), when the kiosk said.
    priority_reason: str | None = None

    @property
    def booked(self) -> bool:
        """True when the ticket waits in its service's booked line (called at its slot)."""
        return self.booking is not None and self.booking.get("line") == "booked"

    @property
    def due_at(self) -> datetime | None:
        """When a booked ticket may first be called (its window's start); None for the others."""
        if self.booking is None or not self.booked:
            return None
        return _dt(self.booking.get("due_at"))

    def wire(self) -> dict[str, Any]:
        """The contract's Ticket object (plus a few added fields)."""
        return {
            "id": self.id,
            "number": self.number,
            "service": self.service,
            "priority": self.priority,
            "status": self.status,
            "issued_at": iso(self.issued_at),
            "called_at": _ts(self.called_at),
            "counter": self.counter,
            # Additions (the contract is extended, never changed):
            "first_called_at": _ts(self.first_called_at),
            "finished_at": _ts(self.finished_at),
            "officer": self.officer,
            "origin_service": self.origin_service or self.service,
            "booking": dict(self.booking) if self.booking is not None else None,
            "dossier": self.dossier,
            "priority_reason": self.priority_reason,
        }

    def record(self) -> dict[str, Any]:
        """Everything needed to restore the ticket after a restart."""
        return {**self.wire(), "day": self.day, "rank": self.rank, "rated": self.rated, "by": self.issued_by}

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Ticket:
        """Inverse of :meth:`record`."""
        issued = _dt(r["issued_at"])
        assert issued is not None
        return cls(
            id=r["id"],
            number=r["number"],
            service=r["service"],
            priority=bool(r["priority"]),
            day=r["day"],
            issued_at=issued,
            rank=int(r["rank"]),
            status=r["status"],
            called_at=_dt(r.get("called_at")),
            first_called_at=_dt(r.get("first_called_at")),
            counter=r.get("counter"),
            officer=r.get("officer"),
            finished_at=_dt(r.get("finished_at")),
            origin_service=r.get("origin_service", ""),
            rated=bool(r.get("rated", False)),
            issued_by=r.get("by", ""),
            # Absent from records written before bookings and result pickups existed.
            booking=r.get("booking"),
            dossier=r.get("dossier"),
            priority_reason=r.get("priority_reason"),
        )


@dataclass
class CounterRt:
    """A counter at run time."""

    id: str
    status: str = "closed"
    officer: str | None = None
    serving: str | None = None
    last_done: str | None = None
    last_done_at: datetime | None = None
    streak: int = 0
    #: Booked calls in a row while a walk-in waited ([bookings] max_in_row).
    booked_streak: int = 0
    #: Calls and recalls made at this counter for the life of the site database (never reset): a
    #: counter agent blinks when it changes, and a restart must not change it.
    calls: int = 0
    #: The latest call or recall of the business day, as published: ``{"number", "recall", "ts"}``.
    last_call: dict[str, Any] | None = None

    def record(self) -> dict[str, Any]:
        """Persistent form."""
        return {
            "status": self.status,
            "officer": self.officer,
            "serving": self.serving,
            "last_done": self.last_done,
            "last_done_at": _ts(self.last_done_at),
            "streak": self.streak,
            "booked_streak": self.booked_streak,
            "calls": self.calls,
            "last_call": dict(self.last_call) if self.last_call else None,
        }

    @classmethod
    def from_record(cls, cid: str, r: dict[str, Any]) -> CounterRt:
        """Inverse of :meth:`record`."""
        return cls(
            id=cid,
            status=r["status"],
            officer=r.get("officer"),
            serving=r.get("serving"),
            last_done=r.get("last_done"),
            last_done_at=_dt(r.get("last_done_at")),
            streak=int(r.get("streak", 0)),
            booked_streak=int(r.get("booked_streak", 0)),
            # Absent from records written before these fields existed.
            calls=int(r.get("calls", 0)),
            last_call=r.get("last_call"),
        )


@dataclass
class ServiceRt:
    """A service at run time: today's numbering and its two waiting lines."""

    id: str
    ewma_s: float
    issued: int = 0
    last_issued: str | None = None
    open: bool = False
    # Ticket ids in calling order (ranks ascending); rebuilt from the tickets on restart.
    normal: deque[str] = field(default_factory=deque)
    prio: deque[str] = field(default_factory=deque)
    #: Booked tickets, by (due time, rank): only those whose window has begun can be called.
    booked: deque[str] = field(default_factory=deque)
    #: What real waits were compared with what was told (queue_controller/estimate.py).
    calibration: Calibration = field(default_factory=Calibration)

    @property
    def waiting(self) -> int:
        """How many tickets wait in this service."""
        return len(self.normal) + len(self.prio) + len(self.booked)

    def record(self) -> dict[str, Any]:
        """Persistent form (the waiting lines are derived from the tickets)."""
        return {
            "ewma_s": self.ewma_s,
            "issued": self.issued,
            "last_issued": self.last_issued,
            "wait_ratios": self.calibration.record(),
        }

    @classmethod
    def from_record(cls, sid: str, r: dict[str, Any]) -> ServiceRt:
        """Inverse of :meth:`record`."""
        return cls(
            id=sid,
            ewma_s=float(r["ewma_s"]),
            issued=int(r["issued"]),
            last_issued=r.get("last_issued"),
            # Absent from records written before wait ranges existed: nothing learned yet.
            calibration=Calibration.from_record(r.get("wait_ratios")),
        )


class Rejected(Exception):
    """A command the engine refuses, with a protocol error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Decision:
    """What one command (or one tick of the clock) decided. The shell persists it, then publishes it."""

    result: dict[str, Any] | None = None
    error: Rejected | None = None
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (type, ts, data)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    counters: set[str] = field(default_factory=set)
    services: set[str] = field(default_factory=set)
    board: bool = False
    ratings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the command succeeded."""
        return self.error is None

    @property
    def changed(self) -> bool:
        """True when anything must be persisted or published."""
        return bool(self.events or self.tickets or self.counters or self.services or self.board)

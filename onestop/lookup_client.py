"""The kiosk's side of back-end lookups: a booking, a dossier, a citizen's lists (docs/backend.md "Lookups").

The kiosk holds no back-end token: it asks the hub over its own MQTT connection
(``{root}/dev/{device}/lookup``) and the hub answers on ``{root}/dev/{device}/lookup/reply``. This
module sends through the kiosk's :class:`~onestop.device.DeviceClient` (the machinery of its ``issue``
commands: one id per lookup, kept across resends; the hub answers a repeated id from memory) and
returns a typed result, always within its deadline:

- :class:`Booking`, :class:`Dossier`, :class:`CitizenBookings`, :class:`CitizenDossiers`: found;
- :class:`NotFound`: the back end does not know the code (the screen says so);
- :class:`Unavailable`: anything else — no back end, the back end down or slow, the hub or the broker
  away, a malformed answer, a refusal (:class:`Refused`, a subclass). The screen offers a normal ticket.

Nothing here blocks beyond ``deadline_s`` (default 5 s), and a broker reconnect in the middle of a
lookup is covered by resending the same id.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from onestop.device import DeviceClient, NoReply

Kind = Literal["booking", "dossier", "citizen_bookings", "citizen_dossiers"]
DEFAULT_DEADLINE_S = 5.0
#: A lookup not answered this long is sent again (same id) until the deadline.
DEFAULT_RESEND_S = 2.0


@dataclass(frozen=True)
class Booking:
    """A booking from the portal: the citizen comes for ``service`` in the slot."""

    code: str
    site: str | None
    service: str
    slot_start: datetime
    slot_end: datetime
    initials: str
    status: Literal["booked", "used", "cancelled"]


@dataclass(frozen=True)
class Dossier:
    """A dossier (hồ sơ): ready ones are collected at ``service`` (the result-return service)."""

    code: str
    site: str | None
    title: str
    status: Literal["received", "processing", "ready", "returned", "rejected"]
    ready: bool
    promised_date: date | None
    service: str | None


@dataclass(frozen=True)
class CitizenBookings:
    """A citizen's bookings for today (found by the id number of their card)."""

    bookings: tuple[Booking, ...]


@dataclass(frozen=True)
class CitizenDossiers:
    """A citizen's dossiers (found by the id number of their card)."""

    dossiers: tuple[Dossier, ...]


@dataclass(frozen=True)
class NotFound:
    """The back end does not know this code."""

    kind: str


@dataclass(frozen=True)
class Unavailable:
    """No answer to use: the screen offers a normal ticket. ``code`` is the hub's error code
    (``backend_unavailable``, ``not_configured``, ...) or ``no_reply`` / ``malformed``."""

    code: str
    message: str = ""


@dataclass(frozen=True)
class Refused(Unavailable):
    """The hub refused the request itself (``bad_request``, ``forbidden``): a kiosk bug or a site
    configuration problem, handled like :class:`Unavailable` by the screens."""


Result = Booking | Dossier | CitizenBookings | CitizenDossiers
LookupResult = Result | NotFound | Unavailable


class LookupClient:
    """Lookups over a kiosk's connection: ``booking(code)``, ``dossier(code)``, ``citizen_*(number)``."""

    def __init__(
        self,
        device: DeviceClient,
        *,
        deadline_s: float = DEFAULT_DEADLINE_S,
        resend_s: float = DEFAULT_RESEND_S,
    ) -> None:
        if deadline_s <= 0 or resend_s <= 0:
            raise ValueError("deadline_s and resend_s must be positive")
        self.device = device
        self.deadline_s = deadline_s
        self.resend_s = resend_s

    def booking(self, code: str) -> Booking | NotFound | Unavailable:
        """Look a booking code up (``DL…``; case, spaces and dashes do not matter)."""
        return self.lookup("booking", code)  # type: ignore[return-value]

    def dossier(self, code: str) -> Dossier | NotFound | Unavailable:
        """Look a dossier code up (``000.00.12.H23-241204-0003``)."""
        return self.lookup("dossier", code)  # type: ignore[return-value]

    def citizen_bookings(self, id_number: str) -> CitizenBookings | NotFound | Unavailable:
        """Today's bookings of the citizen with this id number (only when the site forwards ids)."""
        return self.lookup("citizen_bookings", id_number)  # type: ignore[return-value]

    def citizen_dossiers(self, id_number: str) -> CitizenDossiers | NotFound | Unavailable:
        """The dossiers of the citizen with this id number (only when the site forwards ids)."""
        return self.lookup("citizen_dossiers", id_number)  # type: ignore[return-value]

    def lookup(self, kind: Kind, code: str) -> LookupResult:
        """Ask the hub; a typed result or failure within ``deadline_s``, never an exception."""
        if not self.device.mqtt.connected.is_set():
            return Unavailable("no_reply", "not connected to the broker")
        retries = max(0, math.ceil(self.deadline_s / self.resend_s) - 1)
        payload = {"id": uuid.uuid4().hex, "kind": kind, "code": code}
        topic = self.device.topics.dev_lookup(self.device.device_id)
        try:
            reply = self.device.ask(topic, payload, timeout=self.deadline_s / (retries + 1), retries=retries)
        except NoReply as exc:
            return Unavailable("no_reply", str(exc))
        return read_reply(kind, reply)


def read_reply(kind: str, reply: dict[str, Any]) -> LookupResult:
    """The typed result of a hub's reply (a reply that does not parse is :class:`Unavailable`)."""
    if not reply.get("ok"):
        raw = reply.get("error")
        err: dict[str, Any] = raw if isinstance(raw, dict) else {}
        code, message = str(err.get("code", "?")), str(err.get("message", ""))
        if code == "not_found":
            return NotFound(kind)
        if code in ("bad_request", "forbidden"):
            return Refused(code, message)
        return Unavailable(code, message)
    result = reply.get("result")
    try:
        if not isinstance(result, dict):
            raise ValueError("no result")
        if kind == "booking":
            return _booking(result)
        if kind == "dossier":
            return _dossier(result)
        if kind == "citizen_bookings":
            return CitizenBookings(tuple(_booking(b) for b in result["bookings"]))
        if kind == "citizen_dossiers":
            return CitizenDossiers(tuple(_dossier(d) for d in result["dossiers"]))
    except (KeyError, TypeError, ValueError) as exc:
        return Unavailable("malformed", f"the hub's answer does not parse: {exc}")
    return Unavailable("malformed", f"unknown kind {kind!r}")


def _booking(b: dict[str, Any]) -> Booking:
    start, end = datetime.fromisoformat(b["slot_start"]), datetime.fromisoformat(b["slot_end"])
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("slot times need an offset")
    if b["status"] not in ("booked", "used", "cancelled"):
        raise ValueError(f"booking status {b['status']!r}")
    return Booking(
        str(b["code"]),
        b.get("site"),
        str(b["service"]),
        start,
        end,
        str(b.get("initials") or ""),
        b["status"],
    )


def _dossier(d: dict[str, Any]) -> Dossier:
    if d["status"] not in ("received", "processing", "ready", "returned", "rejected"):
        raise ValueError(f"dossier status {d['status']!r}")
    promised = d.get("promised_date")
    return Dossier(
        str(d["code"]),
        d.get("site"),
        str(d.get("title") or ""),
        d["status"],
        bool(d.get("ready", d["status"] == "ready")),
        date.fromisoformat(promised) if promised else None,
        d.get("service"),
    )

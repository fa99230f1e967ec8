"""MQTT protocol v1: the one catalogue of topics and payload models (ARCHITECTURE.md §3, contract).

Nothing else in the suite builds topic strings: every module asks :class:`Topics` for them, and the
broker ACL is generated from :func:`acl_rules` here, so the catalogue and the access rules cannot drift
apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PROTOCOL_VERSION = "v1"
ROOT_PREFIX = "onestop"

# Reserved service accounts: never listed under [[devices]].
CONTROLLER_ID = "controller"
HUB_ID = "hub"
#: Read-only observers (``onestop monitor``, test and bench watchers): they read the whole site tree
#: and may publish nothing, so they never share (and with it displace) the hub's connection.
MONITOR_ID = "monitor"
RESERVED_IDS = frozenset({CONTROLLER_ID, HUB_ID, MONITOR_ID})

ROLES = ("kiosk", "counter", "rating", "board", "announcer")
Role = Literal["kiosk", "counter", "rating", "board", "announcer"]

#: Largest command payload the controller parses (bytes). The broker refuses much larger packets.
MAX_COMMAND_BYTES = 8 * 1024
#: Largest MQTT packet the site broker accepts; a bigger one makes the broker drop the sender.
MAX_PACKET_BYTES = 64 * 1024
#: Largest payload the suite publishes (room left for the topic and headers).
MAX_PUBLISH_BYTES = MAX_PACKET_BYTES - 4 * 1024
#: Command ids are chosen by the device (a UUID); this is the contract's upper bound.
MAX_COMMAND_ID_LEN = 64

TICKET_STATUSES = ("waiting", "called", "done", "skipped", "expired")
TERMINAL_STATUSES = frozenset({"done", "skipped", "expired"})

EVENT_TYPES = (
    "ticket.issued",
    "ticket.called",
    "ticket.skipped",
    "ticket.transferred",
    "ticket.done",
    "ticket.expired",
    "counter.opened",
    "counter.paused",
    "counter.resumed",
    "counter.closed",
    "rating.recorded",
    "day.closed",
)

ERROR_CODES = (
    "bad_request",
    "forbidden",
    "unknown_service",
    "service_closed",
    "daily_limit",
    "counter_closed",
    "no_current_ticket",
    "not_found",
    "already_rated",
    "nothing_to_rate",
    # Added since (docs/protocol.md "Deadlines", "Fair share"):
    "expired",  # the command's deadline passed before the controller could take it: nothing was done
    "rate_limited",  # the device sent more commands than its share: nothing was done, try later
    "unavailable",  # the controller cannot decide now (its clock or its store is not trusted)
    "officer_elsewhere",  # `open` names an officer working at another counter: nothing was done
    # Bookings (docs/protocol.md "Booked tickets"): nothing was issued.
    "booking_used",  # this booking code already has a ticket today
    "booking_early",  # the citizen came before the booking's window and the site refuses early ones
    "booking_late",  # the citizen came after the booking's window and the site refuses late ones
    "booking_not_today",  # the booking's slot is on another business day
)
#: Refusals that change nothing and depend on nothing stored: their replies are not kept one row per
#: command (a flooding device must not fill the controller's disk), and a retry is simply decided again.
UNSTORED_ERRORS = frozenset({"bad_request", "forbidden", "expired", "rate_limited", "unavailable"})

#: The operations each role may send, and the hub-only ``replay``.
OPS_BY_ROLE: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"issue"}),
    "counter": frozenset(
        {"open", "call_next", "recall", "call", "skip", "finish", "transfer", "pause", "resume", "close"}
    ),
    "rating": frozenset({"rate"}),
    "board": frozenset(),
    "announcer": frozenset(),
    "hub": frozenset({"replay"}),
}
ALL_OPS = frozenset().union(*OPS_BY_ROLE.values())

_LEVEL_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def valid_topic_level(value: str) -> bool:
    """True when ``value`` can be used as one MQTT topic level (no ``/``, ``+``, ``#``, not empty)."""
    return bool(_LEVEL_RE.match(value))


@dataclass(frozen=True)
class Topics:
    """Every topic of one site. Build it once with the site id and ask it for topics."""

    site: str

    def __post_init__(self) -> None:
        if not valid_topic_level(self.site):
            raise ValueError(f"site id {self.site!r} cannot be used in a topic")

    @property
    def root(self) -> str:
        """``onestop/v1/{site}``."""
        return f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/{self.site}"

    # -- per device ------------------------------------------------------------------------
    def dev_status(self, device: str) -> str:
        """Retained presence of a device (its Last Will says offline)."""
        return f"{self.root}/dev/{device}/status"

    def dev_health(self, device: str) -> str:
        """Retained role-specific health of a device."""
        return f"{self.root}/dev/{device}/health"

    def dev_cmd(self, device: str) -> str:
        """Commands a device sends to the controller."""
        return f"{self.root}/dev/{device}/cmd"

    def dev_reply(self, device: str) -> str:
        """The controller's replies to one device."""
        return f"{self.root}/dev/{device}/reply"

    def dev_lookup(self, device: str) -> str:
        """Back-end lookups a kiosk asks of the hub (issue 13; docs/backend.md "Lookups")."""
        return f"{self.root}/dev/{device}/lookup"

    def dev_lookup_reply(self, device: str) -> str:
        """The hub's answers to one kiosk's lookups."""
        return f"{self.root}/dev/{device}/lookup/reply"

    def dev_citizen(self, device: str) -> str:
        """A kiosk's citizen note ``{"ticket_id", "name"}`` for the hub (docs/privacy.md); not retained."""
        return f"{self.root}/dev/{device}/citizen"

    def dev_prefix(self, device: str) -> str:
        """Everything a device may publish under (for the ACL)."""
        return f"{self.root}/dev/{device}/#"

    # -- state and events ------------------------------------------------------------------
    def counter_state(self, counter: str) -> str:
        """Retained state of one counter."""
        return f"{self.root}/state/counter/{counter}"

    def service_state(self, service: str) -> str:
        """Retained state of one service."""
        return f"{self.root}/state/service/{service}"

    @property
    def board(self) -> str:
        """Retained hall board state."""
        return f"{self.root}/state/board"

    @property
    def state_all(self) -> str:
        """Subscription to every retained state topic."""
        return f"{self.root}/state/#"

    @property
    def events(self) -> str:
        """The controller's event stream."""
        return f"{self.root}/events"

    # -- subscriptions of the service accounts ---------------------------------------------
    @property
    def all_cmd(self) -> str:
        """Every device's command topic (the controller subscribes)."""
        return f"{self.root}/dev/+/cmd"

    @property
    def all_status(self) -> str:
        """Every device's presence topic."""
        return f"{self.root}/dev/+/status"

    @property
    def all_health(self) -> str:
        """Every device's health topic."""
        return f"{self.root}/dev/+/health"

    @property
    def all_lookup(self) -> str:
        """Every device's lookup topic (the hub subscribes)."""
        return f"{self.root}/dev/+/lookup"

    @property
    def all_lookup_reply(self) -> str:
        """Every device's lookup-reply topic (the hub publishes there)."""
        return f"{self.root}/dev/+/lookup/reply"

    @property
    def all_citizen(self) -> str:
        """Every kiosk's citizen notes (the hub subscribes when ``[citizen_id] prefill_name`` is on)."""
        return f"{self.root}/dev/+/citizen"

    @property
    def everything(self) -> str:
        """The whole site tree."""
        return f"{self.root}/#"

    def parse_dev(self, topic: str) -> tuple[str, str] | None:
        """Split ``{root}/dev/{device}/{kind}`` into ``(device, kind)``; None for other topics."""
        prefix = f"{self.root}/dev/"
        if not topic.startswith(prefix):
            return None
        rest = topic[len(prefix) :].split("/")
        if len(rest) != 2 or not rest[0]:
            return None
        return rest[0], rest[1]


@dataclass(frozen=True)
class AclRule:
    """One line of a Mosquitto ACL: ``topic {access} {topic}`` for one user."""

    access: Literal["read", "write", "readwrite", "deny"]
    topic: str


def acl_rules(topics: Topics, account: str, role: str) -> list[AclRule]:
    """The access rules of §3 for one account: what it may publish and read, nothing more."""
    # Citizen notes (a name read from an identity card) are for the hub alone: the other accounts that
    # read the whole tree are denied them (Mosquitto checks "deny" rules first).
    if account == CONTROLLER_ID:
        return [AclRule("deny", topics.all_citizen), AclRule("readwrite", topics.everything)]
    if account == HUB_ID:
        return [
            AclRule("read", topics.everything),
            AclRule("write", topics.dev_prefix(HUB_ID)),
            # The hub answers kiosks' back-end lookups (docs/backend.md "Lookups").
            AclRule("write", topics.all_lookup_reply),
        ]
    if account == MONITOR_ID:
        return [AclRule("deny", topics.all_citizen), AclRule("read", topics.everything)]
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    rules = [
        AclRule("write", topics.dev_prefix(account)),
        AclRule("read", topics.dev_reply(account)),
        AclRule("read", topics.state_all),
        AclRule("read", topics.events),
    ]
    if role == "kiosk":  # only kiosks look bookings and dossiers up, and read only their own answers
        rules.append(AclRule("read", topics.dev_lookup_reply(account)))
    return rules


# ---------------------------------------------------------------------------------------------
# Payload models. They describe the wire format; the engine has its own domain objects.
# ---------------------------------------------------------------------------------------------


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class TicketMsg(_Wire):
    """A ticket as it travels on the wire."""

    id: str
    number: str
    service: str
    priority: bool
    status: Literal["waiting", "called", "done", "skipped", "expired"]
    issued_at: str
    called_at: str | None
    counter: str | None
    #: Added (docs/protocol.md "Ticket"): the citizen's booking, a result pickup's dossier code.
    booking: dict[str, Any] | None = None
    dossier: str | None = None


class OfficerRef(_Wire):
    """The officer working at a counter."""

    id: str
    name: str


class CounterStateMsg(_Wire):
    """Retained ``state/counter/{counter}``."""

    counter: str
    label: str
    status: Literal["closed", "open", "paused"]
    serving: TicketMsg | None
    officer: OfficerRef | None
    seq: int


class ServiceStateMsg(_Wire):
    """Retained ``state/service/{service}``."""

    service: str
    name: str
    open: bool
    waiting: int
    est_wait_s: int
    last_issued: str | None
    seq: int


class BoardCall(_Wire):
    """One line of the hall board."""

    number: str
    counter: str
    counter_label: str
    service: str
    ts: str
    #: Added: the called citizen came with a booking.
    booked: bool = False


class BoardService(_Wire):
    """One service summary on the hall board."""

    service: str
    name: str
    waiting: int
    est_wait_s: int


class BoardStateMsg(_Wire):
    """Retained ``state/board``."""

    calls: list[BoardCall]
    services: list[BoardService]
    seq: int


class EventMsg(_Wire):
    """One event of ``{root}/events``."""

    seq: int
    type: str
    ts: str
    data: dict[str, Any]


class StatusMsg(_Wire):
    """Retained ``dev/{device}/status``."""

    online: bool
    role: str
    version: str = ""
    ts: str = ""


class CommandMsg(BaseModel):
    """A command a device sends on its ``cmd`` topic."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=MAX_COMMAND_ID_LEN)
    op: str = Field(min_length=1, max_length=32)
    args: dict[str, Any] = Field(default_factory=dict)
    #: Added since: the instant, in the controller's clock, after which the device has told its user
    #: that the command failed; the controller refuses it with ``expired`` after then.
    deadline: datetime | None = None

    @field_validator("deadline")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("deadline needs an offset (ISO 8601, e.g. 2026-12-03T08:00:05.000+07:00)")
        return v


class ErrorBody(_Wire):
    """The error of a failed reply."""

    code: str
    message: str


class ReplyMsg(_Wire):
    """The controller's answer to one command."""

    id: str
    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorBody | None = None


class ProtocolError(ValueError):
    """A payload that does not follow the protocol. ``command_id`` is set when it could be read."""

    def __init__(self, message: str, command_id: str | None = None) -> None:
        super().__init__(message)
        self.command_id = command_id


def _readable_id(obj: Any) -> str | None:
    if isinstance(obj, dict):
        cid = obj.get("id")
        if isinstance(cid, str) and 0 < len(cid) <= MAX_COMMAND_ID_LEN:
            return cid
    return None


_LEADING_ID = re.compile(rb'^\s*\{\s*"id"\s*:\s*"([A-Za-z0-9._:-]{1,64})"')


def _sniff_id(payload: bytes) -> str | None:
    """The id of a payload too large or too deep to parse, when it comes first (as devices send it)."""
    m = _LEADING_ID.match(payload[:200])
    return m.group(1).decode("ascii") if m else None


def parse_command(payload: bytes) -> CommandMsg:
    """Decode a command payload, or raise :class:`ProtocolError` saying what is wrong."""
    if len(payload) > MAX_COMMAND_BYTES:
        # Still read the id if it comes first, so that the device gets an answer, not a silence.
        raise ProtocolError(
            f"payload of {len(payload)} bytes exceeds {MAX_COMMAND_BYTES}", _sniff_id(payload)
        )
    try:
        obj = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"payload is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except RecursionError:
        raise ProtocolError("payload is nested too deeply", _sniff_id(payload)) from None
    except ValueError as exc:
        raise ProtocolError(f"payload is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"payload must be a JSON object, got {type(obj).__name__}")
    cid = _readable_id(obj)
    try:
        cmd = CommandMsg.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "payload"
        raise ProtocolError(f"{where}: {first['msg']}", cid) from None
    if cmd.op not in ALL_OPS:
        raise ProtocolError(f"unknown op {cmd.op!r}", cmd.id)
    return cmd


def dumps(obj: Any) -> bytes:
    """Encode a payload: compact UTF-8 JSON, non-ASCII kept as is (Vietnamese stays readable).

    The bytes are those of ``json.dumps(obj, ensure_ascii=False, separators=(",", ":"))``; orjson
    makes them several times faster, which matters on the controller's hot path.

    orjson returns its working buffer, rounded up to a power of two and at least 4 KB, whatever the
    length of the JSON; the copy keeps only the bytes. Payloads wait in MQTT queues (a QoS 1 message
    until its PUBACK, a whole batch before it is written), so without it a 300-byte counter state
    held 4 KB, and a 500-counter controller grew by 20-40 MB under a flood."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump(mode="json")
    return bytes(memoryview(orjson.dumps(obj)))


def iso(ts: datetime) -> str:
    """ISO 8601 with offset, to the millisecond."""
    if ts.tzinfo is None:
        raise ValueError("timestamps on the wire carry an offset")
    return ts.isoformat(timespec="milliseconds")


def ok_reply(command_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """A successful reply payload."""
    return {"id": command_id, "ok": True, "result": result}


def error_reply(command_id: str, code: str, message: str) -> dict[str, Any]:
    """A failed reply payload."""
    if code not in ERROR_CODES:
        raise ValueError(f"unknown error code {code!r}")
    return {"id": command_id, "ok": False, "error": {"code": code, "message": message}}

"""Site configuration (``site.toml``, ARCHITECTURE.md §2, contract): loading and validation.

Every process reads the same file. :func:`load` either returns a fully checked :class:`SiteConfig` or
raises :class:`~onestop.errors.ConfigError` listing every problem with its key path and what was
expected, so that a technician can fix the file in one go. Nothing starts on an invalid file.
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from onestop.errors import ConfigError
from onestop.protocol import RESERVED_IDS, ROLES, valid_topic_level
from onestop.ticket_layout import TicketLayout

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _nfc(value: Any) -> Any:
    """Normalise text to NFC: Vietnamese typed on different keyboards arrives decomposed."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _check_site_id(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9-]+", value):
        raise ValueError("expected lowercase letters, digits and '-' only (it is used in MQTT topics)")
    return value


def _check_ident(value: str) -> str:
    if not valid_topic_level(value) or len(value) > 40:
        raise ValueError("expected 1-40 letters, digits, '-' or '_' (it is used in MQTT topics)")
    return value


def _check_hhmm(value: str) -> str:
    _parse_hhmm(value)
    return value


def _parse_hhmm(value: str) -> time:
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value)
    if not m:
        raise ValueError(f"expected a local time as HH:MM (24 h), got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


def _check_range(value: str) -> str:
    parts = value.split("-")
    if len(parts) != 2:
        raise ValueError(f"expected a range 'HH:MM-HH:MM', got {value!r}")
    start, end = (_parse_hhmm(p.strip()) for p in parts)
    if start >= end:
        raise ValueError(f"range {value!r} ends before it starts")
    return value


def _check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"expected an IANA time zone such as 'Asia/Ho_Chi_Minh', got {value!r}") from None
    return value


Text = Annotated[str, BeforeValidator(_nfc), Field(min_length=1)]
Ident = Annotated[str, AfterValidator(_check_ident)]
HHMM = Annotated[str, AfterValidator(_check_hhmm)]
TimeRange = Annotated[str, AfterValidator(_check_range)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSection(_Section):
    """``[site]``: who and where the site is."""

    id: Annotated[str, AfterValidator(_check_site_id)]
    name: Text
    agency: Text
    address: Annotated[str, BeforeValidator(_nfc)] = ""
    timezone: Annotated[str, AfterValidator(_check_tz)] = "Asia/Ho_Chi_Minh"
    day_starts: HHMM = "05:00"

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def day_start_time(self) -> time:
        """Local time of the daily reset."""
        return _parse_hhmm(self.day_starts)


class BrokerSection(_Section):
    """``[broker]``: where the site's Mosquitto listens."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=0, le=65535)
    keepalive_s: int = Field(default=15, ge=5, le=600)
    #: Connect over TLS, trusting ``ca_file`` (devices on the LAN; processes on the hub use loopback).
    tls: bool = False
    #: The site CA certificate (relative paths: next to site.toml); required when ``tls`` is true.
    ca_file: str | None = None
    #: The broker's TLS listener for the LAN, written by ``onestop provision``; device bundles use it.
    tls_port: int = Field(default=8883, ge=1, le=65535)


class HubSection(_Section):
    """``[hub]``: the hub API's addresses (docs/configuration.md, "HTTPS on the LAN")."""

    #: Plain HTTP. With ``tls_listen`` set, keep it on loopback (the hub machine's own browser, tools).
    listen: str = "0.0.0.0:8080"
    public_url: str = "http://127.0.0.1:8080"
    #: HTTPS listener for the LAN (e.g. "0.0.0.0:8443"); unset: the hub serves plain HTTP only.
    tls_listen: str | None = None
    #: The hub's certificate and key (PEM; relative paths: next to site.toml), made by ``site init``.
    tls_cert: str = "hub/hub.crt"
    tls_key: str = "hub/hub.key"


class ServiceConfig(_Section):
    """``[[services]]``: a field (lĩnh vực) with its own numbering."""

    id: Ident
    name: Text
    name_en: Annotated[str, BeforeValidator(_nfc)] = ""
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,2}$")]
    digits: int = Field(default=3, ge=2, le=5)
    daily_limit: int | None = Field(default=None, ge=1)
    hours: list[TimeRange] = Field(default_factory=list)
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))
    avg_service_min: float = Field(default=8.0, gt=0, le=480)
    #: A picture on the kiosk's button: the name of one of kiosk_app/icons/*.png (docs/kiosk.md).
    icon: Ident | None = None

    @property
    def hour_ranges(self) -> list[tuple[time, time]]:
        """Opening hours as (start, end) local times; empty means always open on its days."""
        out = []
        for r in self.hours:
            a, b = r.split("-")
            out.append((_parse_hhmm(a.strip()), _parse_hhmm(b.strip())))
        return out

    @property
    def capacity(self) -> int:
        """How many numbers a day can hold: the daily limit, or what the digits allow."""
        most = 10**self.digits - 1
        return min(self.daily_limit, most) if self.daily_limit else most


class CounterConfig(_Section):
    """``[[counters]]``: a desk and the services it serves, in preference order."""

    id: Ident
    label: Text
    #: The label in English ("Counter 4"); empty: "Quầy N" becomes "Counter N", other labels are kept.
    label_en: Annotated[str, BeforeValidator(_nfc)] = ""
    services: list[str] = Field(min_length=1)
    policy: Literal["fifo", "ordered"] = "fifo"

    @property
    def english_label(self) -> str:
        """What English text calls this counter: ``label_en``, else "Counter N" for "Quầy N"."""
        if self.label_en:
            return self.label_en
        m = re.fullmatch(r"Quầy\s+(\S.*)", self.label)
        return f"Counter {m.group(1)}" if m else self.label


class OfficerConfig(_Section):
    """``[[officers]]``: a civil servant who works at counters and is rated."""

    id: Ident
    name: Text
    title: Annotated[str, BeforeValidator(_nfc)] = ""
    photo: str | None = None


class Hardware(BaseModel):
    """A device's hardware table (``printer``, ``keys``, ``display``, ``audio``, ``scanner``): a backend
    name and its parameters. Each driver validates its own parameters when it opens; the ``scanner``
    table is also checked when the site file is loaded."""

    model_config = ConfigDict(extra="allow", frozen=True)

    backend: str = "sim"

    @property
    def params(self) -> dict[str, Any]:
        """The backend's parameters, without ``backend``."""
        return dict(self.model_extra or {})


class PanelSize(_Section):
    """A touch terminal's ``panel``: the physical size of its screen, so that text and buttons are
    sized in millimetres (docs/kiosk.md "Panels"). Give ``width_mm`` and ``height_mm`` (the visible
    image), or ``diagonal_in``; without it the display's EDID, or the usual panel of the resolution."""

    width_mm: float | None = Field(default=None, gt=20, le=3000)
    height_mm: float | None = Field(default=None, gt=20, le=3000)
    diagonal_in: float | None = Field(default=None, ge=3, le=120)

    @model_validator(mode="after")
    def _one_way(self) -> PanelSize:
        if (self.width_mm is None) != (self.height_mm is None):
            raise ValueError("give both width_mm and height_mm")
        if self.width_mm is None and self.diagonal_in is None:
            raise ValueError("give width_mm and height_mm, or diagonal_in")
        if self.width_mm is not None and self.diagonal_in is not None:
            raise ValueError("give width_mm and height_mm, or diagonal_in, not both")
        return self


class DeviceConfig(_Section):
    """``[[devices]]``: one device identity (its MQTT username) and its role."""

    id: Ident
    role: Literal["kiosk", "counter", "rating", "board", "announcer"]
    counter: str | None = None
    services: list[str] | None = None
    printer: Hardware | None = None
    keys: Hardware | None = None
    display: Hardware | None = None
    audio: Hardware | None = None
    #: A kiosk: its barcode/QR scanner (device_drivers/scanner, docs/hardware.md "Scanners").
    scanner: Hardware | None = None
    #: A kiosk: a speaker button that reads the screen aloud to its ``audio`` output (docs/kiosk.md).
    read_aloud: bool = False
    #: A TV board: ``calls`` (the last calls, newest highlighted) or ``grid`` (every counter and the
    #: number it serves now, for large centres); its unit opens ``/board?layout=grid``.
    layout: Literal["calls", "grid"] = "calls"
    #: A kiosk or rating terminal: the physical size of its screen (else EDID, else the usual
    #: panel of its resolution).
    panel: PanelSize | None = None
    #: A kiosk or rating terminal: how its screen is driven. ``kms`` (default): a system service
    #: drawing on the display through KMS/DRM, no desktop (Raspberry Pi OS Lite); ``x11``: a user
    #: service of the desktop session (Raspberry Pi OS with desktop). docs/raspberry-pi.md.
    screen: Literal["kms", "x11"] = "kms"
    #: An announcer: only the calls of these counters (a zone of the hall with its own speaker, so
    #: that two zones are read out at once); default every counter.
    counters: list[str] | None = None
    #: A kiosk: ``tickets`` (the default) or ``lookup`` (it only looks dossiers up and shows their
    #: status; it never issues a ticket: docs/kiosk.md "A lookup-only kiosk").
    mode: Literal["tickets", "lookup"] = "tickets"


#: The ready-made short comments a rating terminal offers when ``[rating] comments`` is not given.
DEFAULT_COMMENTS = ("Cần hướng dẫn rõ hơn", "Cần nhanh hơn", "Cần niềm nở hơn")


def _english(value: Any) -> Any:
    """An English line: NFC, without surrounding blanks; ``""`` means "no English for this one"."""
    return _nfc(value).strip() if isinstance(value, str) else value


English = Annotated[str, BeforeValidator(_english)]


class RatingSection(_Section):
    """``[rating]``: the satisfaction scale, the reasons and the ready-made comments a citizen may pick.

    Each list may have an English twin (``levels_en``, ``reasons_en``, ``comments_en``): same length,
    same order, ``""`` for no English. Without one, the rating terminal uses its built-in English for
    the usual texts."""

    levels: list[Text] = Field(default_factory=lambda: ["Rất hài lòng", "Hài lòng", "Không hài lòng"])
    levels_en: list[English] | None = None
    satisfied_min: int = Field(default=2, ge=1)
    reasons: list[Text] = Field(
        default_factory=lambda: ["Thái độ phục vụ", "Hướng dẫn chưa rõ", "Chờ lâu", "Khác"]
    )
    reasons_en: list[English] | None = None
    #: Ready-made short comments (one tap on the reasons screen; the Vietnamese text is sent).
    comments: list[Text] = Field(default_factory=lambda: list(DEFAULT_COMMENTS))
    comments_en: list[English] | None = None
    window_s: int = Field(default=300, ge=10, le=3600)
    comment_max: int = Field(default=500, ge=0, le=2000)

    def score_of(self, index: int) -> int:
        """Score of the level at ``index`` (best first): ``len(levels) - index``."""
        return len(self.levels) - index

    def level_of(self, score: int) -> str:
        """The level name of a score."""
        return self.levels[len(self.levels) - score]


class BackendSection(_Section):
    """``[backend]``: the province's one-stop back end."""

    url: str
    token_env: str = "ONESTOP_BACKEND_TOKEN"
    #: ``default`` (ARCHITECTURE §4 over HTTP) or ``package.module:factory`` for a province's own API.
    adapter: str = "default"
    #: At most this many outbox records per POST.
    batch_size: int = Field(default=200, ge=1, le=10000)
    #: A request that takes longer is abandoned and retried (same batch, same key).
    timeout_s: float = Field(default=10.0, gt=0, le=600)
    #: Retries wait a random time between 0 and min(cap, base · 2^failures) ("full jitter").
    backoff_base_s: float = Field(default=0.5, gt=0, le=60)
    backoff_max_s: float = Field(default=60.0, gt=0, le=3600)
    #: Delivered records stay in the hub's outbox this many days (for audits), then are deleted.
    keep_days: int = Field(default=30, ge=1, le=3650)
    #: A kiosk's booking or dossier lookup (docs/backend.md "Lookups") that the back end has not
    #: answered in full within this many seconds is answered ``backend_unavailable``: the kiosk then
    #: offers a normal ticket. Keep it below the kiosk's own deadline (5 s).
    lookup_timeout_s: float = Field(default=3.0, gt=0, le=30)


class ProvinceSection(_Section):
    """``[province]``: the province's public side (docs/province.md, "Citizens on 4G")."""

    #: The province's public address (``https://…``). When set, the QR code on a ticket opens the
    #: province's status page ``{public_url}/t/{token}``, which a phone on 4G reaches; unset, the
    #: hub's page on the centre's LAN (``{hub.public_url}/t/{token}``). The site's bridge must carry
    #: its events to the province (``onestop province bridge add``), or the page stays unknown.
    public_url: str | None = None


class QueueSection(_Section):
    """``[queue]``: queue policy knobs (defaults suit most centres)."""

    #: Priority tickets are called first, but after this many priority calls in a row at a counter
    #: an ordinary ticket that waits is called, so that nobody is starved.
    priority_streak: int = Field(default=3, ge=1, le=100)
    #: Weight of the newest service time in the moving average behind the wait estimate.
    ewma_alpha: float = Field(default=0.2, gt=0, le=1)
    #: Tell waits as a range learned from real waits (``est_wait_range_s``, docs/controller.md "Wait
    #: estimates"); false: only the plain moving-average estimate, as before.
    wait_ranges: bool = True
    #: How many recent calls the hall board keeps.
    board_calls: int = Field(default=10, ge=1, le=50)
    #: A service (call to done) shorter than this is flagged ``short_service`` in the back end's
    #: queue record and left out of service-time figures: nobody is served in a few seconds.
    min_service_s: float = Field(default=10.0, ge=0, le=600)
    #: The controller's wall clock may differ from its steady clock by this much before it counts
    #: as a step (NTP slews far less; docs/controller.md "Time").
    clock_step_s: float = Field(default=5.0, ge=0.5, le=3600)
    #: A clock step that lasts this long is taken as the new time; until then the controller keeps
    #: time by its steady clock.
    clock_hold_s: float = Field(default=600.0, ge=0, le=7 * 86400)


class BookingsSection(_Section):
    """``[bookings]``: citizens who booked a slot online (docs/configuration.md "Bookings")."""

    enabled: bool = False
    #: A citizen who arrives this many minutes before the slot starts is on time.
    before_min: int = Field(default=15, ge=0, le=240)
    #: ... and this many minutes after it starts (the slot's end does not matter: a 15-minute slot
    #: and a 1-hour slot are both "on time" only near their start).
    after_min: int = Field(default=10, ge=0, le=240)
    #: Earlier than the window: "wait" (a ticket now, called from the window's start), "walk_in" (a
    #: normal ticket), "refuse" (come back at the window's start).
    early: Literal["wait", "walk_in", "refuse"] = "wait"
    #: Later than the window: "walk_in" (a normal ticket) or "refuse".
    late: Literal["walk_in", "refuse"] = "walk_in"
    #: Booked calls in a row at one counter before a waiting walk-in gets a turn.
    max_in_row: int = Field(default=2, ge=1, le=100)
    #: How booked tickets are numbered: "service" (the next number of their service, e.g. A015) or
    #: "prefix" (an own sequence for the whole site under ``prefix``, e.g. L001). Either way a number
    #: is unique in its day.
    numbering: Literal["service", "prefix"] = "service"
    prefix: Annotated[str, Field(pattern=r"^[A-Z]{1,2}$")] = "L"
    digits: int = Field(default=3, ge=2, le=5)


class DossiersSection(_Section):
    """``[dossiers]``: result pickup (trả kết quả) tickets carry the citizen's dossier code."""

    #: The service id of result return; unset: tickets carry no dossier code.
    service: Ident | None = None


class AnnouncerSection(_Section):
    """``[announcer]``: how numbers are read out."""

    mode: Literal["whole", "digits"] = "digits"
    dialect: Literal["north", "south"] = "north"
    repeat: int = Field(default=2, ge=1, le=3)
    #: When calls wait behind each other, up to this many are joined into one announcement (one
    #: chime, each said once) so that a peak is read out in seconds per citizen; 1: never joined
    #: (each waiting call is still said once, not ``repeat`` times). docs/voice.md.
    join_max: int = Field(default=6, ge=1, le=12)
    #: espeak-ng's words per minute for the short form ("số B004, quầy 5") said in a run of calls;
    #: a lone call keeps the slower voice (135). docs/voice.md.
    busy_rate: int = Field(default=165, ge=80, le=260)
    #: After this many seconds without a call said, the next one starts with the chime and the whole
    #: sentence; sooner, it follows at once in the short form.
    quiet_s: float = Field(default=10.0, ge=0, le=120)


class BoardSection(_Section):
    """``[board]``: the hall's TV board page."""

    #: A notice scrolled along the bottom of the board (empty: none).
    notice: Annotated[str, BeforeValidator(_nfc)] = ""
    #: How many recent calls the TV board lists.
    calls_shown: int = Field(default=8, ge=1, le=20)


def _default_languages() -> list[Literal["vi", "en"]]:
    return ["vi", "en"]


class KioskSection(_Section):
    """``[kiosk]``: how the ticket kiosks behave."""

    #: Seconds without a touch after which any other screen returns to the service list.
    idle_s: int = Field(default=30, ge=5, le=600)
    #: Ask "priority or ordinary?" after a service is chosen (elderly, disabled, pregnant, small children).
    priority: bool = True
    #: Languages offered, the first being the default; a switch is shown when there are two.
    languages: list[Literal["vi", "en"]] = Field(default_factory=_default_languages, min_length=1)
    #: Seconds between two printer status checks published as the kiosk's health.
    health_s: int = Field(default=30, ge=1, le=3600)
    #: Seconds a kiosk waits for a booking or dossier look-up before it offers a normal ticket
    #: (docs/kiosk.md "When the back end is down"); keep it above ``[backend] lookup_timeout_s``.
    lookup_s: float = Field(default=5.0, ge=1, le=30)


class CitizenIdSection(_Section):
    """``[citizen_id]``: what the kiosk may do with a scanned identity card (docs/privacy.md). All off
    by default: a site turns on only what it uses, and documents it to citizens."""

    #: Scan identity cards at all (the kiosk shows its consent line first).
    enabled: bool = False
    #: A priority ticket for holders of this age or older (e.g. 75); 0: no priority by age.
    priority_age: int = Field(default=0, ge=0, le=120)
    #: Show the holder's name to the clerk of the counter that serves the ticket (kept encrypted at
    #: the hub, deleted at day close).
    prefill_name: bool = False
    #: Find the holder's bookings of the day at the back end (needs ``forward``).
    find_bookings: bool = False
    #: Find the holder's dossiers at the back end (needs ``forward``).
    find_dossiers: bool = False
    #: Send the id number to the back end (only for the look-ups above; never in queue records).
    forward: bool = False

    @property
    def uses(self) -> list[str]:
        """The uses turned on, by key name (for the consent line and the docs)."""
        keys = ("prefill_name", "find_bookings", "find_dossiers")
        return (["priority_age"] if self.priority_age else []) + [k for k in keys if getattr(self, k)]


class RoleLimit(_Section):
    """One role's share: a device may send ``burst`` commands at once, then ``per_minute`` a minute."""

    burst: int = Field(ge=1, le=1_000_000)
    per_minute: float = Field(gt=0, le=1_000_000)


#: Defaults sized for people, not machines: a kiosk serves a queue of people tapping (a burst), then
#: at most one ticket every 3 s; a clerk presses a few keys a minute; a rating terminal rates once per
#: visit; boards and announcers send no commands at all.
DEFAULT_LIMITS: dict[str, dict[str, float]] = {
    "kiosk": {"burst": 10, "per_minute": 20},
    "counter": {"burst": 10, "per_minute": 30},
    "rating": {"burst": 3, "per_minute": 6},
    "board": {"burst": 5, "per_minute": 5},
    "announcer": {"burst": 5, "per_minute": 5},
}


class LimitsSection(_Section):
    """``[limits]``: each device's fair share of the controller (docs/configuration.md).

    A role's table may give only the key it changes (``[limits.kiosk] per_minute = 60``)."""

    kiosk: RoleLimit = RoleLimit.model_validate(DEFAULT_LIMITS["kiosk"])
    counter: RoleLimit = RoleLimit.model_validate(DEFAULT_LIMITS["counter"])
    rating: RoleLimit = RoleLimit.model_validate(DEFAULT_LIMITS["rating"])
    board: RoleLimit = RoleLimit.model_validate(DEFAULT_LIMITS["board"])
    announcer: RoleLimit = RoleLimit.model_validate(DEFAULT_LIMITS["announcer"])
    #: Messages of one device the controller holds before it drops that device's further ones.
    backlog: int = Field(default=500, ge=10, le=100_000)

    @model_validator(mode="before")
    @classmethod
    def _role_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for role, default in DEFAULT_LIMITS.items():
            if isinstance(out.get(role), dict):
                out[role] = {**default, **out[role]}
        return out

    def for_role(self, role: str) -> RoleLimit:
        """The limit of a role."""
        limit = getattr(self, role, None)
        return limit if isinstance(limit, RoleLimit) else self.strictest()

    def strictest(self) -> RoleLimit:
        """The smallest of the roles' limits (for a device that is not in site.toml)."""
        roles = [self.kiosk, self.counter, self.rating, self.board, self.announcer]
        return RoleLimit(burst=min(r.burst for r in roles), per_minute=min(r.per_minute for r in roles))

    def scaled(self, factor: float) -> LimitsSection:
        """Every rate ``factor`` times higher (simulated traffic runs faster than life); a burst is a
        number of people or presses, the same at any speed."""
        roles = {
            role: RoleLimit(burst=lim.burst, per_minute=min(1_000_000.0, lim.per_minute * factor))
            for role in DEFAULT_LIMITS
            if isinstance(lim := getattr(self, role), RoleLimit)
        }
        return self.model_copy(update=roles)


class StorageSection(_Section):
    """``[storage]``: where processes keep their data (relative paths: next to site.toml)."""

    dir: str = "var"


class SiteConfig(_Section):
    """A whole, checked ``site.toml``."""

    site: SiteSection
    broker: BrokerSection = BrokerSection()
    hub: HubSection = HubSection()
    services: list[ServiceConfig] = Field(min_length=1)
    counters: list[CounterConfig] = Field(default_factory=list)
    officers: list[OfficerConfig] = Field(default_factory=list)
    devices: list[DeviceConfig] = Field(default_factory=list)
    rating: RatingSection = RatingSection()
    backend: BackendSection | None = None
    province: ProvinceSection = ProvinceSection()
    queue: QueueSection = QueueSection()
    bookings: BookingsSection = BookingsSection()
    dossiers: DossiersSection = DossiersSection()
    announcer: AnnouncerSection = AnnouncerSection()
    board: BoardSection = BoardSection()
    kiosk: KioskSection = KioskSection()
    citizen_id: CitizenIdSection = CitizenIdSection()
    ticket: TicketLayout = TicketLayout()
    storage: StorageSection = StorageSection()
    limits: LimitsSection = LimitsSection()

    #: Where the file was read from (set by :func:`load`).
    source: str = Field(default="<memory>", exclude=True)

    # -- look-ups ----------------------------------------------------------------------------
    def service(self, service_id: str) -> ServiceConfig:
        """The service with this id (KeyError when unknown)."""
        return self._index("services")[service_id]

    def counter(self, counter_id: str) -> CounterConfig:
        """The counter with this id (KeyError when unknown)."""
        return self._index("counters")[counter_id]

    def officer(self, officer_id: str) -> OfficerConfig:
        """The officer with this id (KeyError when unknown)."""
        return self._index("officers")[officer_id]

    def device(self, device_id: str) -> DeviceConfig:
        """The device with this id (KeyError when unknown)."""
        return self._index("devices")[device_id]

    def devices_with_role(self, role: str) -> list[DeviceConfig]:
        """Every device of a role, in file order."""
        return [d for d in self.devices if d.role == role]

    def _index(self, name: str) -> dict[str, Any]:
        # Keyed by the list itself, so that a model_copy() with new entries never sees a stale index.
        items = getattr(self, name)
        cache = self.__dict__.setdefault("_indexes", {})
        hit = cache.get(name)
        if hit is None or hit[0] is not items:
            hit = cache[name] = (items, {item.id: item for item in items})
        return hit[1]

    @property
    def broker_ca(self) -> str | None:
        """The CA file to trust when ``[broker] tls`` is on (absolute), else None (plain TCP)."""
        if not self.broker.tls or not self.broker.ca_file:
            return None
        p = Path(self.broker.ca_file)
        if not p.is_absolute() and self.source != "<memory>":
            p = Path(self.source).resolve().parent / p
        return str(p)

    def site_path(self, value: str) -> Path:
        """A path of the site file made absolute (relative paths are next to site.toml)."""
        p = Path(value)
        if not p.is_absolute() and self.source != "<memory>":
            p = Path(self.source).resolve().parent / p
        return p

    @property
    def data_dir(self) -> Path:
        """Absolute data directory (``[storage] dir``, relative to the file's folder)."""
        p = Path(self.storage.dir)
        if not p.is_absolute() and self.source != "<memory>":
            p = Path(self.source).resolve().parent / p
        return p


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------

_FRIENDLY = {
    "missing": "is required",
    "extra_forbidden": "unknown key (check its spelling; see docs/configuration.md)",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "float_type": "expected a number",
    "bool_type": "expected true or false",
    "string_type": "expected a text in quotes",
    "list_type": "expected a list [ ... ]",
    "model_type": "expected a table",
}


def _describe_loc(data: Any, loc: tuple[Any, ...]) -> str:
    """Turn a pydantic location into a key path a technician can find: ``services[2] (id "dd").prefix``."""
    out = ""
    node = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part + 1}]"
            item = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                label += f' (id "{item["id"]}")'
            out += label
            node = item
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out or "(top level)"


def _friendly(err: Any) -> str:
    kind = err["type"]
    if kind in _FRIENDLY:
        msg = _FRIENDLY[kind]
    elif kind == "string_pattern_mismatch" and err["loc"][-1] == "prefix":
        msg = "expected one or two capital letters (A-Z) such as 'A'"
    elif kind == "literal_error":
        msg = "expected " + str(err["ctx"]["expected"])
    elif kind in ("too_short", "string_too_short") and err.get("input") == "":
        msg = "expected a text, not an empty one"
    else:
        msg = str(err["msg"]).removeprefix("Value error, ")
    if (
        kind not in ("missing", "extra_forbidden")
        and "got " not in msg
        and "input" in err
        and not isinstance(err["input"], dict | list)
    ):
        msg += f", got {err['input']!r}"
    return msg


#: The pictures a service's ``icon`` may name (drawn by scripts/make_kiosk_icons.py).
KIOSK_ICONS = Path(__file__).resolve().parent.parent / "kiosk_app" / "icons"


def _cross_check(cfg: SiteConfig) -> list[str]:
    """The rules that span sections: unique ids, references that exist, roles that fit."""
    problems: list[str] = []

    def dupes(kind: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                problems.append(f'{kind}: id "{i}" is used twice')
            seen.add(i)

    dupes("services", [s.id for s in cfg.services])
    dupes("counters", [c.id for c in cfg.counters])
    dupes("officers", [o.id for o in cfg.officers])
    dupes("devices", [d.id for d in cfg.devices])
    seen_prefix: dict[str, str] = {}
    for s in cfg.services:
        if s.prefix in seen_prefix:
            problems.append(
                f'services (id "{s.id}").prefix: "{s.prefix}" is already the prefix of service '
                f'"{seen_prefix[s.prefix]}"; numbers would collide'
            )
        seen_prefix[s.prefix] = s.id
        if s.daily_limit and s.daily_limit > 10**s.digits - 1:
            problems.append(
                f'services (id "{s.id}").daily_limit: {s.daily_limit} does not fit in {s.digits} digits'
            )
    icons = KIOSK_ICONS
    for s in cfg.services:
        if s.icon is not None and icons.is_dir() and not (icons / f"{s.icon}.png").is_file():
            known = ", ".join(sorted(p.stem for p in icons.glob("*.png")))
            problems.append(f'services (id "{s.id}").icon: no icon "{s.icon}"; there are: {known}')
    service_ids = {s.id for s in cfg.services}
    counter_ids = {c.id for c in cfg.counters}
    for c in cfg.counters:
        for sid in c.services:
            if sid not in service_ids:
                problems.append(f'counters (id "{c.id}").services: unknown service "{sid}"')
        if len(set(c.services)) != len(c.services):
            problems.append(f'counters (id "{c.id}").services: a service is listed twice')
    for d in cfg.devices:
        where = f'devices (id "{d.id}")'
        if d.id in RESERVED_IDS:
            problems.append(f'{where}.id: "{d.id}" is reserved for the suite\'s own service account')
        if d.role in ("counter", "rating"):
            if d.counter is None:
                problems.append(f"{where}.counter: a {d.role} device must name its counter")
            elif d.counter not in counter_ids:
                problems.append(f'{where}.counter: unknown counter "{d.counter}"')
        elif d.counter is not None and d.role != "board":
            problems.append(f"{where}.counter: only counter, rating and board devices have a counter")
        problems += _listed(f"{where}.services", d.services, d.role == "kiosk", "only kiosks offer services",
                            service_ids, "service")  # fmt: skip
        problems += _check_scanner(where, d)
        if d.panel is not None and d.role not in ("kiosk", "rating"):
            problems.append(f"{where}.panel: only kiosks and rating terminals have a touch panel")
        if d.mode != "tickets" and d.role != "kiosk":
            problems.append(f'{where}.mode: only kiosks have a mode ("tickets" or "lookup")')
        elif d.mode == "lookup" and cfg.backend is None:
            problems.append(
                f'{where}.mode: a "lookup" kiosk looks dossiers up at the back end: it needs [backend]'
            )
        problems += _listed(f"{where}.counters", d.counters, d.role == "announcer",
                            "only announcers have a zone of counters", counter_ids, "counter")  # fmt: skip
    problems += _check_hub(cfg.hub)
    problems += _check_province(cfg.province)
    if cfg.broker.tls and not cfg.broker.ca_file:
        problems.append("broker.ca_file: required when broker.tls is true (the site CA certificate)")
    if cfg.rating.satisfied_min > len(cfg.rating.levels):
        problems.append(
            f"rating.satisfied_min: {cfg.rating.satisfied_min} is above the best score "
            f"{len(cfg.rating.levels)}"
        )
    if len(set(cfg.kiosk.languages)) != len(cfg.kiosk.languages):
        problems.append("kiosk.languages: a language is listed twice")
    if len(cfg.rating.levels) < 2:
        problems.append("rating.levels: expected at least two levels")
    problems += _check_rating_texts(cfg.rating)
    problems += _check_bookings(cfg, service_ids)
    problems += _check_citizen_id(cfg)
    assert set(ROLES) >= {d.role for d in cfg.devices}
    return problems


def _check_bookings(cfg: SiteConfig, service_ids: set[str]) -> list[str]:
    """``[bookings]`` numbering that cannot collide with a service's; ``[dossiers] service`` exists."""
    problems: list[str] = []
    b = cfg.bookings
    if b.numbering == "prefix":
        for s in cfg.services:
            if s.prefix == b.prefix:
                problems.append(
                    f'bookings.prefix: "{b.prefix}" is already the prefix of service "{s.id}"; numbers '
                    'would collide (choose another letter, or numbering = "service")'
                )
    if cfg.dossiers.service is not None and cfg.dossiers.service not in service_ids:
        known = ", ".join(sorted(service_ids))
        problems.append(
            f'dossiers.service: unknown service "{cfg.dossiers.service}" (the result return service); '
            f"services are: {known}"
        )
    return problems


def _check_scanner(where: str, device: DeviceConfig) -> list[str]:
    """A device's ``scanner`` table: only on a kiosk, and parameters its backend accepts."""
    if device.scanner is None:
        return []
    if device.role != "kiosk":
        return [f"{where}.scanner: only kiosks have a scanner"]
    from device_drivers.scanner.errors import ScannerConfigError
    from device_drivers.scanner.params import parse_params

    try:
        parse_params({"backend": device.scanner.backend, **device.scanner.params})
    except ScannerConfigError as exc:
        return [f"{where}.scanner{'.' + key if key else ''}: {msg}" for key, msg in exc.problems]
    return []


def _listed(
    where: str, values: list[str] | None, role_ok: bool, wrong_role: str, known: set[str], kind: str
) -> list[str]:
    """A device's list of ids (its ``services``, an announcer's ``counters``): allowed for its role,
    and every id known."""
    if values is None:
        return []
    problems = [] if role_ok else [f"{where}: {wrong_role}"]
    return problems + [f'{where}: unknown {kind} "{v}"' for v in values if v not in known]


def split_listen(value: str) -> tuple[str, int] | None:
    """``HOST:PORT`` (IPv6 hosts in brackets) as (host, port); None when it is not one."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        return None
    return host, int(port)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _check_province(province: ProvinceSection) -> list[str]:
    """``[province] public_url``: an http(s) address with a host and nothing after its path."""
    url = province.public_url
    if url is None:
        return []
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        return [
            "province.public_url: expected https://HOST[/PATH] such as "
            f"'https://dichvu.example.gov.vn', got {url!r}"
        ]
    return []


def _check_hub(hub: HubSection) -> list[str]:
    """``[hub]``: addresses that parse, and a public URL whose scheme matches the listeners."""
    problems: list[str] = []
    for key in ("listen", "tls_listen"):
        value = getattr(hub, key)
        if value is not None and split_listen(value) is None:
            problems.append(f"hub.{key}: expected HOST:PORT such as '0.0.0.0:8443', got {value!r}")
    url = urlsplit(hub.public_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        problems.append(
            f"hub.public_url: expected http://HOST:PORT or https://HOST:PORT, got {hub.public_url!r}"
        )
    elif hub.tls_listen is not None and url.scheme != "https":
        problems.append(
            f"hub.public_url: expected https://… when hub.tls_listen is set (the ticket QR code and the TV "
            f"boards use it), got {hub.public_url!r}"
        )
    elif hub.tls_listen is None and url.scheme == "https":
        problems.append("hub.tls_listen: required when hub.public_url is https:// (e.g. '0.0.0.0:8443')")
    if hub.tls_listen is not None and hub.tls_listen == hub.listen:
        problems.append(
            "hub.tls_listen: must differ from hub.listen (one port cannot be both HTTP and HTTPS)"
        )
    return problems


def _check_citizen_id(cfg: SiteConfig) -> list[str]:
    """``[citizen_id]``: a use needs the scanning itself, look-ups need the back end and ``forward``."""
    cid = cfg.citizen_id
    given = cid.model_fields_set
    problems: list[str] = []
    if 0 < cid.priority_age < 18:
        problems.append(
            "citizen_id.priority_age: expected 0 (off) or an age of 18 or more such as 75, "
            f"got {cid.priority_age}"
        )
    if not cid.enabled:
        for key in ("priority_age", "prefill_name", "find_bookings", "find_dossiers", "forward"):
            if key in given and getattr(cid, key):
                problems.append(f"citizen_id.{key}: has no effect unless citizen_id.enabled = true")
        return problems
    for key in ("find_bookings", "find_dossiers"):
        if getattr(cid, key) and not cid.forward:
            problems.append(
                f"citizen_id.{key}: needs citizen_id.forward = true (the id number is sent to the back end "
                "to find them); see docs/privacy.md"
            )
    if cid.forward:
        if cfg.backend is None:
            problems.append("citizen_id.forward: needs a [backend] to forward to")
        if not (cid.find_bookings or cid.find_dossiers):
            problems.append(
                "citizen_id.forward: sends nothing unless citizen_id.find_bookings or find_dossiers is true"
            )
    return problems


def _check_rating_texts(rating: RatingSection) -> list[str]:
    """``[rating]``: each English list matches its Vietnamese list; configured comments fit comment_max."""
    problems: list[str] = []
    for name in ("levels", "reasons", "comments"):
        texts: list[str] = getattr(rating, name)
        english: list[str] | None = getattr(rating, f"{name}_en")
        if english is not None and len(english) != len(texts):
            given = "" if name in rating.model_fields_set else " (the default)"
            problems.append(
                f"rating.{name}_en: expected {len(texts)} text(s), one for each of rating.{name}{given} "
                f'in the same order ("" for no English), got {len(english)}'
            )
    if "comments" in rating.model_fields_set:
        for i, comment in enumerate(rating.comments, 1):
            if len(comment) > rating.comment_max:
                problems.append(
                    f"rating.comments[{i}]: expected at most rating.comment_max = {rating.comment_max} "
                    f"characters, got {len(comment)}"
                )
    return problems


def parse(data: dict[str, Any], source: str = "<memory>") -> SiteConfig:
    """Validate an already decoded TOML document."""
    try:
        cfg = SiteConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        problems = [f"{_describe_loc(data, tuple(e['loc']))}: {_friendly(e)}" for e in exc.errors()]
        raise ConfigError(source, problems) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def load(path: str | os.PathLike[str]) -> SiteConfig:
    """Read and validate a ``site.toml``; raise :class:`ConfigError` when it cannot be used."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(p), ["file not found (pass --config PATH)"]) from None
    except OSError as exc:
        raise ConfigError(str(p), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), [f"not UTF-8 text (byte {exc.start}); save the file as UTF-8"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(p), [f"not valid TOML: {exc}"]) from None
    return parse(data, str(p))

"""What the kiosk's code flows work with (appointments, result pickup, identity cards), in the
view-model's own small types, and the adapters from the suite's modules to them.

The view-model never calls the scanner, the code classifier or the lookup client itself: it is given a
:class:`CodeBackend` (lookups, the citizen note) and two readers (``read_scan``, ``read_typed``) that
turn text into a :data:`Read`. :func:`read_scan` and :func:`read_typed` here are those readers over
:mod:`onestop.scan_codes`; :func:`from_lookup` turns :mod:`onestop.lookup_client` results into
:data:`Outcome`. Tests give the view-model fakes of the same shapes.

Personal data: a :class:`CardRead` holds what the flow needs of an identity card (the name for the
clerk, the age, the id number for a look-up) and nothing else; its ``repr`` shows none of it.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, Protocol

from onestop.config import SiteConfig
from onestop.lookup_client import Booking, CitizenBookings, CitizenDossiers, Dossier, LookupResult, NotFound
from onestop.scan_codes import (
    BookingCode,
    CitizenCard,
    Classified,
    DossierCode,
    VneidCode,
    classify,
    classify_typed,
)

log = logging.getLogger("onestop.kiosk")

LookupKind = Literal["booking", "dossier", "citizen_bookings", "citizen_dossiers"]


# -- what a scan or a typed code is ---------------------------------------------------------------
@dataclass(frozen=True)
class CodeRead:
    """A booking code (``DL…``) or a dossier code (``000.00.12.H23-241204-0003``)."""

    kind: Literal["booking", "dossier"]
    code: str


@dataclass(frozen=True)
class CardRead:
    """An identity card's QR: what the flows may use, nothing more. ``repr`` masks everything."""

    name: str = field(repr=False)
    birth_date: date = field(repr=False)
    id_number: str = field(repr=False)

    def __repr__(self) -> str:
        return "CardRead(…)"

    __str__ = __repr__

    @property
    def initials(self) -> str:
        """``Nguyễn Văn An`` → ``N.V.A.``: all a kiosk screen ever shows of the name."""
        return initials(self.name)

    def age_on(self, day: date) -> int:
        """The holder's age in whole years on ``day``."""
        b = self.birth_date
        return max(0, day.year - b.year - ((day.month, day.day) < (b.month, b.day)))


@dataclass(frozen=True)
class BadRead:
    """Not a usable code: ``reason`` (a short code for logs) and what the screen says."""

    reason: str
    vi: str
    en: str


Read = CodeRead | CardRead | BadRead


def initials(name: str) -> str:
    """The initials of a name, upper case, dotted: ``Nguyễn Văn An`` → ``N.V.A.``; ``""`` for none."""
    letters = [w[0].upper() for w in unicodedata.normalize("NFC", name).split() if w[:1].isalpha()]
    return "".join(f"{c}." for c in letters[:6])


# -- what a look-up found -------------------------------------------------------------------------
@dataclass(frozen=True)
class BookingInfo:
    """A booking from the back end (docs/backend.md "Lookups")."""

    code: str
    service: str
    slot_start: datetime
    slot_end: datetime
    initials: str
    status: Literal["booked", "used", "cancelled"]
    site: str | None = None


@dataclass(frozen=True)
class DossierInfo:
    """A dossier's status from the back end."""

    code: str
    title: str
    status: Literal["received", "processing", "ready", "returned", "rejected"]
    ready: bool
    promised_date: date | None
    service: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class LookupFailed:
    """No usable answer: ``not_found`` (the back end does not know the code) or ``unavailable``
    (down, slow, not configured, refused: the kiosk offers a normal ticket)."""

    reason: Literal["not_found", "unavailable"]
    detail: str = ""


Outcome = BookingInfo | DossierInfo | tuple[BookingInfo, ...] | tuple[DossierInfo, ...] | LookupFailed


class CodeBackend(Protocol):
    """What the code flows need from the outside world, besides issuing and printing."""

    def lookup(self, kind: LookupKind, code: str) -> Outcome:
        """Ask the back end (through the hub); may block, the view-model gives up at its deadline."""
        ...

    def publish_citizen(self, ticket_id: str, name: str) -> None:
        """Tell the hub the name of the citizen of ``ticket_id`` (``[citizen_id] prefill_name``)."""
        ...


class ScanLike(Protocol):
    """A scanner's event (device_drivers.scanner.Scan)."""

    @property
    def text(self) -> str:
        """The decoded text."""
        ...

    @property
    def complete(self) -> bool:
        """False when the scanner stopped mid-code."""
        ...


# -- which flows a kiosk offers ---------------------------------------------------------------------
@dataclass(frozen=True)
class Features:
    """The code flows a kiosk offers, from site.toml (all off on a site that configures none)."""

    #: ``[bookings] enabled``: the appointment entry and booked tickets.
    bookings: bool = False
    #: ``[dossiers] service``: the result-return service (None: no result pickup).
    dossier_service: str | None = None
    #: ``[citizen_id] enabled`` and its uses.
    cards: bool = False
    priority_age: int = 0
    prefill_name: bool = False
    find_bookings: bool = False
    find_dossiers: bool = False
    #: The device's ``mode = "lookup"``: dossier look-ups only, never a ticket.
    lookup_only: bool = False

    @property
    def dossiers(self) -> bool:
        """Result pickup is offered."""
        return self.dossier_service is not None or self.lookup_only

    @classmethod
    def of(cls, cfg: SiteConfig, device_id: str) -> Features:
        """The features of a kiosk of ``cfg``."""
        dev = cfg.device(device_id)
        cid = cfg.citizen_id
        cards = cid.enabled
        return cls(
            bookings=cfg.bookings.enabled,
            dossier_service=cfg.dossiers.service,
            cards=cards,
            priority_age=cid.priority_age if cards else 0,
            prefill_name=cards and cid.prefill_name,
            # look-ups by id number only when the site forwards it (docs/privacy.md)
            find_bookings=cards and cfg.citizen_id.forward and cfg.citizen_id.find_bookings,
            find_dossiers=cards and cfg.citizen_id.forward and cfg.citizen_id.find_dossiers,
            lookup_only=dev.mode == "lookup",
        )


# -- adapters from the suite's modules ------------------------------------------------------------
def _convert(found: Classified) -> Read:
    if isinstance(found, BookingCode):
        return CodeRead("booking", found.code)
    if isinstance(found, DossierCode):
        return CodeRead("dossier", found.code)
    if isinstance(found, CitizenCard):
        return CardRead(found.name, found.birth_date, found.id_number)
    if isinstance(found, VneidCode):
        return BadRead("vneid", found.vi, found.en)
    return BadRead(found.reason, found.vi, found.en)


def read_scan(text: str, today: date | None = None) -> Read:
    """A scanner's text as a :data:`Read` (onestop.scan_codes.classify)."""
    return _convert(classify(text, today=today))


def read_typed(text: str) -> Read:
    """A code typed on the keypad as a :data:`Read` (onestop.scan_codes.classify_typed)."""
    return _convert(classify_typed(text))


def from_lookup(result: LookupResult) -> Outcome:
    """A :mod:`onestop.lookup_client` result as an :data:`Outcome`."""
    if isinstance(result, Booking):
        return _booking(result)
    if isinstance(result, Dossier):
        return _dossier(result)
    if isinstance(result, CitizenBookings):
        return tuple(_booking(b) for b in result.bookings)
    if isinstance(result, CitizenDossiers):
        return tuple(_dossier(d) for d in result.dossiers)
    if isinstance(result, NotFound):
        return LookupFailed("not_found")
    return LookupFailed("unavailable", str(getattr(result, "code", "")))


def _booking(b: Booking) -> BookingInfo:
    return BookingInfo(b.code, b.service, b.slot_start, b.slot_end, b.initials, b.status, b.site)


def _dossier(d: Dossier) -> DossierInfo:
    return DossierInfo(d.code, d.title, d.status, d.ready, d.promised_date, d.service, d.site)

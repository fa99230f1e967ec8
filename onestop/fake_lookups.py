"""Bookings and dossiers for the reference back end (docs/backend.md "Lookups").

:class:`LookupBook` holds what ``GET {prefix}/bookings/{code}``, ``…/dossiers/{code}`` and
``…/citizens/{id}/bookings|dossiers`` answer. It is filled from a JSON fixtures file (tests) or by
:func:`generate_day`, which makes a believable day for a site from its ``site.toml``: bookings across
the opening hours of the site's services (and a few around the present moment, so that a demo at any
hour has one to type), dossiers in every status with promised dates, ready ones returned at the
result-return service, and a few invented citizens' id numbers linked to some of them.

Everything is invented: the names behind the initials, the id numbers and the codes. Nothing here is
ever a real person's data.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from onestop.config import ServiceConfig, SiteConfig

BOOKING_STATUSES = ("booked", "used", "cancelled")
DOSSIER_STATUSES = ("received", "processing", "ready", "returned", "rejected")
#: The booking code format of INTERFACES-13: ``DL`` and 8 to 10 digits or upper-case letters.
BOOKING_CODE_RE = re.compile(r"^DL[0-9A-Z]{8,10}$")
#: A dossier code: the agency code, ``-yymmdd-`` and a 4-digit sequence.
DOSSIER_CODE_RE = re.compile(r"^[0-9A-Z.]{3,40}-\d{6}-\d{4}$")
CITIZEN_ID_RE = re.compile(r"^(\d{9}|\d{12})$")

_FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ",
           "Hồ", "Ngô", "Dương", "Lý"]  # fmt: skip
_MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Ngọc", "Thanh", "Hữu", "Quang", "Thu", "Xuân", "Anh"]
_GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan", "Linh", "Mai", "Nam",
          "Phong", "Quân", "Sơn", "Thảo", "Trang", "Tuấn", "Yến", "Ánh", "Đạt", "Ơn", "Uyên"]  # fmt: skip
#: Procedure titles by words found in a service's id or name; the last entry is for any service.
_TITLES: list[tuple[tuple[str, ...], list[str]]] = [
    (("tuphap", "hộ tịch", "tư pháp"), ["Đăng ký khai sinh", "Cấp bản sao trích lục hộ tịch",
                                        "Đăng ký kết hôn", "Chứng thực bản sao từ bản chính"]),
    (("datdai", "đất", "tainguyen", "môi trường"), ["Cấp Giấy chứng nhận quyền sử dụng đất lần đầu",
                                                    "Đăng ký biến động đất đai", "Tách thửa đất"]),
    (("dkkd", "kinh doanh"), ["Đăng ký thành lập hộ kinh doanh", "Thay đổi nội dung đăng ký doanh nghiệp"]),
    (("xaydung", "xây dựng"), ["Cấp giấy phép xây dựng nhà ở riêng lẻ"]),
    (("ldtbxh", "lao động", "xã hội"), ["Trợ cấp xã hội hằng tháng", "Xác nhận người có công"]),
    (("giaothong", "giao thông"), ["Đổi giấy phép lái xe", "Cấp lại giấy phép lái xe"]),
    (("thue", "thuế"), ["Đăng ký mã số thuế cá nhân"]),
    ((), ["Giải quyết thủ tục hành chính"]),
]  # fmt: skip
DEFAULT_HOURS = [(time(7, 30), time(11, 30)), (time(13, 30), time(17, 0))]


class FixtureError(ValueError):
    """A fixtures document that does not describe bookings and dossiers as docs/backend.md says."""


@dataclass
class LookupBook:
    """What the reference back end knows: bookings and dossiers by code, citizens' links to them."""

    bookings: dict[str, dict[str, Any]] = field(default_factory=dict)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: id number → {"bookings": [code], "dossiers": [code]}
    citizens: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: Codes worth typing at a demo kiosk: label → code.
    samples: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> LookupBook:
        """Read a fixtures document (see docs/backend.md), or raise :class:`FixtureError`."""
        if not isinstance(doc, Mapping):
            raise FixtureError("fixtures: expected a JSON object")
        book = cls()
        for b in _list(doc, "bookings"):
            _need(b, "booking", ("code", "site", "service", "slot_start", "slot_end", "initials", "status"))
            if b["status"] not in BOOKING_STATUSES:
                raise FixtureError(
                    f"booking {b['code']}: status {b['status']!r} is not one of {BOOKING_STATUSES}"
                )
            book.bookings[normalise_booking(str(b["code"]))] = dict(b)
        for d in _list(doc, "dossiers"):
            _need(d, "dossier", ("code", "site", "title", "status"))
            if d["status"] not in DOSSIER_STATUSES:
                raise FixtureError(
                    f"dossier {d['code']}: status {d['status']!r} is not one of {DOSSIER_STATUSES}"
                )
            d = {"promised_date": None, "service": None, **d, "ready": d["status"] == "ready"}
            book.dossiers[str(d["code"]).upper()] = d
        citizens = doc.get("citizens", {})
        if not isinstance(citizens, Mapping):
            raise FixtureError("citizens: expected an object {id_number: {bookings: [...], dossiers: [...]}}")
        for number, links in citizens.items():
            if not CITIZEN_ID_RE.match(str(number)) or not isinstance(links, Mapping):
                raise FixtureError("citizens: keys are 9- or 12-digit id numbers, values objects")
            book.citizens[str(number)] = {
                "bookings": [normalise_booking(str(c)) for c in links.get("bookings", [])],
                "dossiers": [str(c).upper() for c in links.get("dossiers", [])],
            }
        samples = doc.get("samples", {})
        if isinstance(samples, Mapping):
            book.samples = {str(k): str(v) for k, v in samples.items()}
        return book

    def to_doc(self) -> dict[str, Any]:
        """The fixtures document of this book (what :meth:`from_doc` reads)."""
        return {
            "bookings": list(self.bookings.values()),
            "dossiers": list(self.dossiers.values()),
            "citizens": self.citizens,
            "samples": self.samples,
        }

    def booking(self, code: str) -> dict[str, Any] | None:
        """The booking with this code (case, spaces and dashes ignored)."""
        return self.bookings.get(normalise_booking(code))

    def dossier(self, code: str) -> dict[str, Any] | None:
        """The dossier with this code (case ignored)."""
        return self.dossiers.get(code.strip().upper())

    def citizen_bookings(self, number: str, day: str | None) -> list[dict[str, Any]] | None:
        """A citizen's bookings (on ``day``, YYYY-MM-DD, when given); None for an unknown citizen."""
        links = self.citizens.get(number)
        if links is None:
            return None
        found = [self.bookings[c] for c in links["bookings"] if c in self.bookings]
        if day:
            found = [b for b in found if str(b["slot_start"])[:10] == day]
        return found

    def citizen_dossiers(self, number: str) -> list[dict[str, Any]] | None:
        """A citizen's dossiers; None for an unknown citizen."""
        links = self.citizens.get(number)
        if links is None:
            return None
        return [self.dossiers[c] for c in links["dossiers"] if c in self.dossiers]

    def samples_text(self) -> str:
        """The sample codes, one per line, for a person at the demo kiosk."""
        width = max((len(k) for k in self.samples), default=0)
        lines = ["# Codes to type or scan at a demo kiosk (the reference back end knows them):"]
        lines += [f"{label:<{width}}  {code}" for label, code in self.samples.items()]
        return "\n".join(lines) + "\n"


def _list(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = doc.get(key, [])
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise FixtureError(f"{key}: expected a list of objects")
    return items


def _need(item: Mapping[str, Any], what: str, keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in item]
    if missing:
        raise FixtureError(f"{what} {item.get('code', '?')}: missing {', '.join(missing)}")


def normalise_booking(code: str) -> str:
    """A booking code as typed: upper case, without spaces and dashes."""
    return re.sub(r"[\s-]", "", code).upper()


# -- a generated day ---------------------------------------------------------------------------


def initials(name: str) -> str:
    """``Nguyễn Văn An`` → ``N.V.A``: the first letter of each word, tone marks dropped (Đ kept)."""
    out = []
    for word in name.split():
        first = unicodedata.normalize("NFD", word[0])[0].upper()
        out.append(first)
    return ".".join(out)


def result_service(cfg: SiteConfig) -> ServiceConfig | None:
    """The site's result-return service: ``[dossiers] service`` when the site has it, else a service
    whose id or name says so (``traketqua``, "Trả kết quả"), else None."""
    section = getattr(cfg, "dossiers", None)
    wanted = getattr(section, "service", None)
    if isinstance(wanted, str):
        try:
            return cfg.service(wanted)
        except KeyError:
            return None
    for s in cfg.services:
        text = f"{s.id} {s.name}".lower()
        if "traketqua" in text or "trả kết quả" in text or "tra-ket-qua" in text:
            return s
    return None


def _agency_code(site: str) -> str:
    n = int(hashlib.sha256(site.encode()).hexdigest()[:6], 16)
    return f"000.00.{10 + n % 80:02d}.H{10 + n // 80 % 60:02d}"


def _titles(service: ServiceConfig) -> list[str]:
    text = f"{service.id} {service.name}".lower()
    for words, titles in _TITLES:
        if not words or any(w in text for w in words):
            return titles
    return _TITLES[-1][1]


def _citizen_number(rng: random.Random) -> str:
    # Province code (3), gender and century (1: 0/1 born in the 1900s, 2/3 in the 2000s), year (2),
    # then six digits: the shape of a 12-digit căn cước number, with a made-up province 0xx.
    return (
        f"0{rng.randint(1, 96):02d}{rng.choice('0123')}{rng.randint(0, 99):02d}{rng.randint(0, 999999):06d}"
    )


def generate_day(cfg: SiteConfig, now: datetime | None = None, *, seed: int | None = None) -> LookupBook:
    """A believable day of bookings and dossiers for ``cfg`` around ``now`` (default: the present).

    The same site, day and seed give the same book (the seed defaults to one made of both)."""
    tz = cfg.site.tz
    now = (now or datetime.now(UTC)).astimezone(tz)
    today = now.date()
    site = cfg.site.id
    if seed is None:
        seed = int(hashlib.sha256(f"{site}:{today.isoformat()}".encode()).hexdigest()[:12], 16)
    rng = random.Random(seed)
    ret = result_service(cfg)
    book = LookupBook()
    seq = 0

    def booking(service: ServiceConfig, start: datetime, minutes: int, status: str) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        name = f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"
        code = f"DL{start:%y%m%d}{seq:04d}"
        b = {
            "code": code, "site": site, "service": service.id,
            "slot_start": start.isoformat(timespec="seconds"),
            "slot_end": (start + timedelta(minutes=minutes)).isoformat(timespec="seconds"),
            "initials": initials(name), "status": status,
        }  # fmt: skip
        book.bookings[code] = b
        return b

    bookable = [s for s in cfg.services if ret is None or s.id != ret.id] or list(cfg.services)
    for service in bookable:
        ranges = service.hour_ranges or DEFAULT_HOURS
        for a, b in ranges:
            slot = datetime.combine(today, a, tz)
            end = datetime.combine(today, b, tz)
            while slot + timedelta(minutes=30) <= end:
                for _ in range(rng.choices((0, 1, 2, 3), (35, 35, 20, 10))[0]):  # citizens per slot
                    booking(service, slot, 30, rng.choices(BOOKING_STATUSES, (85, 10, 5))[0])
                slot += timedelta(minutes=30)
    # A few around the present moment, whatever the hour, so that a demo always has one to type.
    here = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    current = [booking(s, here, 30, "booked") for s in bookable[:3]]
    later = booking(bookable[0], here + timedelta(hours=2), 30, "booked")
    used = booking(bookable[0], here - timedelta(minutes=30), 30, "used")
    cancelled = booking(bookable[-1], here, 30, "cancelled")

    agency = _agency_code(site)
    by_status: dict[str, list[str]] = {s: [] for s in DOSSIER_STATUSES}
    for n in range(1, 41):
        received = today - timedelta(days=rng.randint(1, 30))
        status = rng.choices(DOSSIER_STATUSES, (15, 35, 25, 15, 10))[0]
        service = rng.choice(bookable)
        promised = received + timedelta(days=rng.randint(3, 20))
        if status == "ready":
            promised = min(promised, today)
        code = f"{agency}-{received:%y%m%d}-{n:04d}"
        book.dossiers[code] = {
            "code": code, "site": site, "title": rng.choice(_titles(service)), "status": status,
            "ready": status == "ready", "promised_date": promised.isoformat(),
            "service": ret.id if ret is not None else None,
        }  # fmt: skip
        by_status[status].append(code)
    for status in ("ready", "processing", "rejected"):  # every sample label has a dossier
        if not by_status[status]:
            code = f"{agency}-{today - timedelta(days=5):%y%m%d}-{41 + len(book.dossiers):04d}"
            book.dossiers[code] = {
                "code": code, "site": site, "title": _titles(bookable[0])[0], "status": status,
                "ready": status == "ready", "promised_date": (today + timedelta(days=3)).isoformat(),
                "service": ret.id if ret is not None else None,
            }  # fmt: skip
            by_status[status].append(code)

    codes = list(book.bookings)
    # One invented citizen has a booking now and a ready result, for trying a card at the kiosk.
    book.citizens[_citizen_number(rng)] = {
        "bookings": [current[0]["code"]],
        "dossiers": [by_status["ready"][0], by_status["processing"][0]],
    }
    for _ in range(4):
        number = _citizen_number(rng)
        book.citizens[number] = {
            "bookings": rng.sample(codes, 1),
            "dossiers": rng.sample(list(book.dossiers), 2),
        }
    book.samples = {
        **{f"booking now ({b['service']})": b["code"] for b in current},
        "booking in 2 hours": later["code"],
        "booking already used": used["code"],
        "booking cancelled": cancelled["code"],
        "dossier ready": by_status["ready"][0],
        "dossier processing": by_status["processing"][0],
        "dossier rejected": by_status["rejected"][0],
        "unknown booking": f"DL{today:%y%m%d}9999",
    }
    return book

"""The QR code of Vietnam's chip-based identity card (docs/citizen-id.md): parsing and checks.

A CCCD gắn chip (issued from 2021) carries a QR code of UTF-8 text, fields separated by ``|``::

    personal id (12 digits)|old CMND (9 digits, may be empty)|full name|birth ddmmyyyy|Nam/Nữ|
    permanent address|issue date ddmmyyyy

Some cards and readers add fields after these seven: they are counted, never kept (they may hold
other people's data, such as the names of parents). The 2024 "Căn cước" card (Law on
Identification 2023) lists the same seven facts first; its QR is read the same way when it keeps
this order (docs/citizen-id.md says what is known and what is not).

VNeID codes (the app's identity QR, links to vneid) are signed, dynamic and checked on-line by the
Ministry of Public Security's systems: they cannot be read here. :func:`recognise_vneid` says so.

Everything a citizen or clerk reads is given in Vietnamese first, then English. Nothing here logs,
and :class:`CitizenCard`'s ``repr`` masks the personal data so that a stray ``log.info(card)``
leaks nothing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Literal
from urllib.parse import urlsplit

from onestop.errors import OnestopError

#: The longest text looked at: a card's QR is a few hundred bytes; anything far longer is not one.
MAX_TEXT = 2048
#: Longest name and address kept (characters, after NFC).
MAX_NAME = 100
MAX_ADDRESS = 300

#: The three-digit codes of the 63 provinces and cities (the place of birth registration) that
#: start a personal id number issued under Circulars 07/2016 and 59/2021 (the General Statistics
#: Office's province codes). Numbers already issued keep them.
PROVINCE_CODES = frozenset(
    f"{n:03d}"
    for n in (
        1, 2, 4, 6, 8, 10, 11, 12, 14, 15, 17, 19, 20, 22, 24, 25, 26, 27, 30, 31, 33, 34, 35, 36,
        37, 38, 40, 42, 44, 45, 46, 48, 49, 51, 52, 54, 56, 58, 60, 62, 64, 66, 67, 68, 70, 72, 74,
        75, 77, 79, 80, 82, 83, 84, 86, 87, 89, 91, 92, 93, 94, 95, 96,
    )
)  # fmt: skip

#: The 4th digit: (first year of the century, sex). 0/1: 1900s, 2/3: 2000s, ... 8/9: 1800s.
_CENTURY = {
    "0": (1900, "Nam"), "1": (1900, "Nữ"), "2": (2000, "Nam"), "3": (2000, "Nữ"),
    "4": (2100, "Nam"), "5": (2100, "Nữ"), "6": (2200, "Nam"), "7": (2200, "Nữ"),
    "8": (1800, "Nam"), "9": (1800, "Nữ"),
}  # fmt: skip

Sex = Literal["Nam", "Nữ"]
Layout = Literal["cccd-2021", "can-cuoc-2024"]


class CardError(OnestopError, ValueError):
    """A scanned text that cannot be used as an identity card. ``code`` names the reason;
    ``vi`` and ``en`` are what the kiosk shows (no personal data in either)."""

    def __init__(self, code: str, vi: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.code, self.vi, self.en = code, vi, en


class UnknownFormat(CardError):
    """Not the QR of a supported identity card (wrong number of fields, too long, binary...)."""


class InvalidCard(CardError):
    """Laid out like a card's QR, but a check failed (id number, dates, sex)."""


class NotSupported(CardError):
    """A code the kiosk recognises but cannot read offline (VNeID)."""


def _unknown(code: str, vi: str, en: str) -> UnknownFormat:
    return UnknownFormat(code, vi, en)


def _invalid(code: str, vi: str, en: str) -> InvalidCard:
    return InvalidCard(code, vi, en)


def _mask(value: str, keep: int = 3) -> str:
    return value[:keep] + "…" if value else ""


@dataclass(frozen=True)
class CitizenCard:
    """What the QR of a chip-based identity card says. Strings are NFC. ``repr`` masks it all."""

    id_number: str = field(repr=False)
    old_id: str | None = field(repr=False)
    name: str = field(repr=False)
    birth_date: date = field(repr=False)
    sex: Sex = field(repr=False)
    address: str = field(repr=False)
    issue_date: date = field(repr=False)
    #: Which known layout the text followed.
    layout: Layout = "cccd-2021"
    #: How many fields came after the seven read (not kept).
    extra_fields: int = 0

    def __repr__(self) -> str:
        return (
            f"CitizenCard(id={_mask(self.id_number)}, layout={self.layout}, extra_fields={self.extra_fields})"
        )

    __str__ = __repr__

    @property
    def province_code(self) -> str:
        """The first three digits of the id number (the place of birth registration)."""
        return self.id_number[:3]


@dataclass(frozen=True)
class VneidCode:
    """A VNeID code: recognised, not readable offline. ``kind``: ``url`` (a link to VNeID) or
    ``opaque`` (a long signed or encrypted token)."""

    kind: Literal["url", "opaque"]
    vi: str = (
        "Mã VNeID không đọc được tại quầy tự phục vụ. Xin quét mã QR trên thẻ căn cước, "
        "hoặc lấy số thứ tự thông thường."
    )
    en: str = (
        "VNeID codes cannot be read here. Please scan the QR code on your ID card, or take a normal ticket."
    )

    def __repr__(self) -> str:
        return f"VneidCode(kind={self.kind})"


# -- text ------------------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str | bytes) -> str:
    """A scanned text as the parser sees it: UTF-8 decoded, NFC, trimmed of the scanner's line ends
    and of control characters. Raises :class:`UnknownFormat` for bytes that are not UTF-8 and for
    texts longer than :data:`MAX_TEXT`."""
    if isinstance(text, bytes):
        if len(text) > MAX_TEXT * 4:
            raise _too_long()
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _unknown(
                "not_text", "Mã quét được không phải là văn bản.", "The scanned code is not text."
            ) from None
    if len(text) > MAX_TEXT * 4:
        raise _too_long()
    text = unicodedata.normalize("NFC", text.lstrip("\ufeff"))
    text = _CONTROL.sub("", text).strip()
    if len(text) > MAX_TEXT:
        raise _too_long()
    return text


def _missing() -> UnknownFormat:
    return _unknown(
        "missing_fields",
        "Mã QR trên thẻ thiếu thông tin, xin quét lại.",
        "The card's QR code is missing fields; please scan again.",
    )


def _too_long() -> UnknownFormat:
    return _unknown(
        "too_long",
        "Mã quét được quá dài, không phải mã QR trên thẻ căn cước.",
        "The scanned code is too long to be the QR code of an ID card.",
    )


def _field_text(value: str) -> str:
    return _SPACES.sub(" ", value).strip()


def _date(value: str, what_vi: str, what_en: str) -> date:
    value = value.strip()
    if not re.fullmatch(r"\d{8}", value):
        raise _invalid(
            "bad_date", f"{what_vi} trên thẻ không hợp lệ.", f"The {what_en} on the card is not a valid date."
        )
    try:
        return date(int(value[4:]), int(value[2:4]), int(value[:2]))
    except ValueError:
        raise _invalid(
            "bad_date", f"{what_vi} trên thẻ không hợp lệ.", f"The {what_en} on the card is not a valid date."
        ) from None


def _sex(value: str) -> Sex:
    v = value.strip().casefold()
    if v == "nam":
        return "Nam"
    if v in ("nữ", "nu"):  # a keyboard-wedge scanner may lose the diacritics
        return "Nữ"
    raise _invalid("bad_sex", "Giới tính trên thẻ không đọc được.", "The sex on the card cannot be read.")


def _is_date(value: str) -> bool:
    return bool(re.fullmatch(r"\d{8}", value.strip()))


def _has_letters(value: str) -> bool:
    return any(ch.isalpha() for ch in value)


# -- parsing --------------------------------------------------------------------------------------


def parse_card(text: str | bytes, *, today: date) -> CitizenCard:
    """Parse and check the QR text of a chip-based identity card; ``today`` (the site's local date)
    bounds the dates. Raises :class:`UnknownFormat`, :class:`InvalidCard` or :class:`NotSupported`."""
    text = clean_text(text)
    if not text:
        raise _unknown("empty", "Không đọc được mã, xin quét lại.", "Nothing was read; please scan again.")
    if recognise_vneid(text) is not None:
        raise NotSupported("vneid", VneidCode("url").vi, VneidCode("url").en)
    fields = text.split("|")
    if len(fields) < 6:
        if len(fields) >= 2 and re.fullmatch(r"\d{9}|\d{12}", fields[0].strip()):
            raise _missing()
        raise _unknown(
            "not_a_card",
            "Đây không phải mã QR trên thẻ căn cước.",
            "This is not the QR code of an ID card.",
        )
    head = [f.strip() for f in fields[:3]]
    if not re.fullmatch(r"\d{12}", head[0]):
        if re.fullmatch(r"\d{9}", head[0]):
            raise _unknown(
                "old_cmnd",
                "Chứng minh nhân dân 9 số không có mã QR đọc được; xin dùng thẻ căn cước gắn chip.",
                "A 9-digit CMND has no readable QR code; please use a chip-based ID card.",
            )
        raise _invalid(
            "bad_id_number",
            "Số định danh cá nhân trên thẻ phải có 12 chữ số.",
            "The personal identification number must have 12 digits.",
        )
    # 2021 layout: id|cmnd|name|birth|sex|address|issued. The 2024 card's list puts the CMND after
    # the issue date: id|name|birth|sex|residence|issued|cmnd|... Told apart by the second field.
    if head[1] == "" or re.fullmatch(r"\d{9}", head[1]):
        layout: Layout = "cccd-2021"
        if len(fields) < 7:
            raise _missing()
        old_id, name, birth, sex, address, issued = fields[1:7]
        extra = len(fields) - 7
    elif _has_letters(head[1]) and _is_date(head[2]):
        layout = "can-cuoc-2024"
        name, birth, sex, address, issued = fields[1:6]
        old_id = fields[6] if len(fields) > 6 else ""
        if old_id.strip() and not re.fullmatch(r"\d{9}", old_id.strip()):
            old_id = ""  # a field the 2024 list adds (a cancelled id, parents): not ours to read
            extra = len(fields) - 6
        else:
            extra = max(len(fields) - 7, 0)
    else:
        raise _invalid(
            "bad_old_id",
            "Số chứng minh nhân dân cũ trên thẻ không hợp lệ.",
            "The old CMND number on the card is not valid.",
        )
    return _checked(head[0], old_id.strip() or None, name, birth, sex, address, issued, layout, extra, today)


def _checked(
    id_number: str, old_id: str | None, name: str, birth: str, sex_text: str, address: str, issued: str,
    layout: Layout, extra: int, today: date,
) -> CitizenCard:  # fmt: skip
    name = _field_text(name)
    address = _field_text(address)
    if not name or not _has_letters(name) or any(ch.isdigit() for ch in name) or len(name) > MAX_NAME:
        raise _invalid(
            "bad_name", "Họ và tên trên thẻ không đọc được.", "The name on the card cannot be read."
        )
    if len(address) > MAX_ADDRESS:
        raise _invalid("bad_address", "Địa chỉ trên thẻ quá dài.", "The address on the card is too long.")
    if old_id is not None and not re.fullmatch(r"\d{9}", old_id):
        raise _invalid(
            "bad_old_id",
            "Số chứng minh nhân dân cũ trên thẻ không hợp lệ.",
            "The old CMND number is not valid.",
        )
    born = _date(birth, "Ngày sinh", "date of birth")
    issue = _date(issued, "Ngày cấp", "issue date")
    sex = _sex(sex_text)
    if born > today:
        raise _invalid(
            "future_date", "Ngày sinh trên thẻ ở tương lai.", "The date of birth is in the future."
        )
    if issue > today:
        raise _invalid("future_date", "Ngày cấp thẻ ở tương lai.", "The issue date is in the future.")
    if issue < born:
        raise _invalid(
            "bad_date", "Ngày cấp thẻ trước ngày sinh.", "The issue date is before the date of birth."
        )
    if id_number[:3] not in PROVINCE_CODES:
        raise _invalid(
            "bad_province",
            "Ba số đầu của số định danh không phải mã tỉnh, thành phố.",
            "The first three digits of the id number are not a province code.",
        )
    century, coded_sex = _CENTURY[id_number[3]]
    if century + int(id_number[4:6]) != born.year:
        raise _invalid(
            "id_birth_mismatch",
            "Số định danh không khớp với năm sinh trên thẻ.",
            "The id number does not match the year of birth.",
        )
    if coded_sex != sex:
        raise _invalid(
            "id_sex_mismatch",
            "Số định danh không khớp với giới tính trên thẻ.",
            "The id number does not match the sex on the card.",
        )
    return CitizenCard(id_number, old_id, name, born, sex, address, issue, layout, extra)


# -- VNeID ----------------------------------------------------------------------------------------

_VNEID_HOSTS = ("vneid.gov.vn", "vneid.vn")
_OPAQUE = re.compile(r"[A-Za-z0-9+/=_.\-]{120,}")


def recognise_vneid(text: str) -> VneidCode | None:
    """A VNeID code (a link to VNeID, or a long signed/encrypted token): recognised to say "use the
    card", never decoded. None for anything else."""
    t = text.strip()
    low = t.lower()
    if low.startswith(("http://", "https://")) or "vneid" in low[:64]:
        try:
            host = (urlsplit(t).hostname or "").lower()
        except ValueError:
            host = ""
        if any(host == h or host.endswith("." + h) for h in _VNEID_HOSTS) or low.startswith("vneid:"):
            return VneidCode("url")
        return None
    if "|" not in t and _OPAQUE.fullmatch(t):
        return VneidCode("opaque")
    return None


# -- rules ----------------------------------------------------------------------------------------


def age_on(card: CitizenCard, day: date) -> int:
    """The card holder's age in whole years on ``day`` (a 29 February birthday counts on 1 March)."""
    b = card.birth_date
    years = day.year - b.year
    if (day.month, day.day) < (b.month, b.day):
        years -= 1
    return max(years, 0)


def priority_by_age(card: CitizenCard, day: date, min_age: int) -> bool:
    """True when the holder is ``min_age`` or older on ``day``; ``min_age`` 0 means the rule is off."""
    return min_age > 0 and age_on(card, day) >= min_age

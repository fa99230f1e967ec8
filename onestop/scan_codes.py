"""What a scanned or typed code is (docs/citizen-id.md "Classifying scans"): a dossier code (bare or
in a receipt's URL), a booking code, an identity card's QR, a VNeID code, or none of these.

:func:`classify` takes a scanner's text; :func:`classify_typed` takes what a citizen typed on the
kiosk's keypad, after :func:`normalise_typed_code`. Neither ever raises on bad input: anything
unusable is an :class:`Unknown` with the reason to show (Vietnamese, then English), and no part of
the scanned text in it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from onestop.citizen_id import (
    CardError,
    CitizenCard,
    NotSupported,
    UnknownFormat,
    VneidCode,
    clean_text,
    parse_card,
    recognise_vneid,
)

#: A dossier code: the agency's code (e.g. ``000.00.12.H23``), ``-yymmdd-``, a 4-digit sequence.
DOSSIER_RE = re.compile(r"(?P<agency>[0-9A-Z]{1,4}(?:\.[0-9A-Z]{1,4}){1,4})-(?P<day>\d{6})-(?P<seq>\d{4})")
#: A booking code: ``DL`` and 8 to 10 digits or capital letters (INTERFACES-13.md), or 11: its own example
#: ``DL24120400017`` (yymmdd + a 5-digit sequence) has 11, so 11 is accepted too.
BOOKING_RE = re.compile(r"DL[0-9A-Z]{8,11}")
#: The query parameters a receipt's URL may carry the dossier code in (compared case-insensitively).
DOSSIER_PARAMS = ("mahoso", "code", "ma_ho_so", "hoso", "sohoso")


@dataclass(frozen=True)
class DossierCode:
    """A one-stop dossier code; ``source``: ``bare`` (the code itself) or ``url`` (a receipt's link)."""

    code: str
    source: Literal["bare", "url", "typed"] = "bare"


@dataclass(frozen=True)
class BookingCode:
    """An appointment's booking code (upper case, no spaces or dashes)."""

    code: str


@dataclass(frozen=True)
class Unknown:
    """Not a code the kiosk can use. ``reason`` is a short code; ``vi``/``en`` what the screen says."""

    reason: str
    vi: str
    en: str


Classified = CitizenCard | VneidCode | DossierCode | BookingCode | Unknown

_NOT_KNOWN = Unknown(
    "unknown",
    "Không nhận ra mã này. Xin quét giấy hẹn trả kết quả, mã đặt lịch hoặc thẻ căn cước.",
    "This code is not recognised. Please scan a receipt, a booking code or an ID card.",
)


def _valid_dossier(code: str) -> bool:
    m = DOSSIER_RE.fullmatch(code)
    if m is None:
        return False
    d = m.group("day")
    try:
        date(2000 + int(d[:2]), int(d[2:4]), int(d[4:]))
    except ValueError:
        return False
    return True


def _dossier_in_url(text: str) -> str | None:
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    for key, value in parse_qsl(parts.query, keep_blank_values=False):
        if key.lower() in DOSSIER_PARAMS:
            code = value.strip().upper()
            if _valid_dossier(code):
                return code
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and _valid_dossier(segments[-1].strip().upper()):
        return segments[-1].strip().upper()
    return None


def classify(text: str | bytes, *, today: date | None = None) -> Classified:
    """What a scanned text is. ``today`` (the site's local date) checks an identity card's dates;
    without it, the system date is used."""
    try:
        t = clean_text(text)
    except UnknownFormat as exc:
        return Unknown(exc.code, exc.vi, exc.en)
    if not t:
        return Unknown("empty", "Không đọc được mã, xin quét lại.", "Nothing was read; please scan again.")
    vneid = recognise_vneid(t)
    if vneid is not None:
        return vneid
    if "|" in t:
        try:
            return parse_card(t, today=today or date.today())
        except NotSupported:
            return VneidCode("url")
        except CardError as exc:
            return Unknown(exc.code, exc.vi, exc.en)
    if t.lower().startswith(("http://", "https://")):
        code = _dossier_in_url(t)
        if code is not None:
            return DossierCode(code, "url")
        return Unknown(
            "unknown_url",
            "Đường dẫn này không chứa mã hồ sơ. Xin quét mã trên giấy hẹn trả kết quả.",
            "This link holds no dossier code. Please scan the code on your receipt.",
        )
    upper = t.upper()
    if _valid_dossier(upper):
        return DossierCode(upper, "bare")
    if BOOKING_RE.fullmatch(upper):
        return BookingCode(upper)
    return _NOT_KNOWN


# -- typed codes -----------------------------------------------------------------------------------

_TYPED_MAX = 64


def normalise_typed_code(text: str) -> str:
    """A typed code in its canonical form: NFKC (full-width digits become ASCII), upper case,
    without spaces; a booking code also loses its dashes; the dashes of a dossier code typed with
    spaces instead (``000.00.12.H23 241204 0003``) are put back. The empty string for nothing usable."""
    t = unicodedata.normalize("NFKC", text)[: _TYPED_MAX * 2].strip().upper()
    t = re.sub(r"[\u2010-\u2015\u2212]", "-", t)  # typographic dashes
    words = [w for w in re.split(r"\s+", t) if w]
    joined = "".join(words)
    if len(joined) > _TYPED_MAX:
        return ""
    if _valid_dossier(joined):
        return joined
    if len(words) == 3 and _valid_dossier("-".join(w.strip("-") for w in words)):
        return "-".join(w.strip("-") for w in words)
    compact = joined.replace("-", "")
    if BOOKING_RE.fullmatch(compact):
        return compact
    return joined


def classify_typed(text: str) -> DossierCode | BookingCode | Unknown:
    """What a typed code is (a dossier or booking code; nobody types an identity card)."""
    code = normalise_typed_code(text)
    if code and _valid_dossier(code):
        return DossierCode(code, "typed")
    if code and BOOKING_RE.fullmatch(code):
        return BookingCode(code)
    return Unknown(
        "bad_typed_code",
        "Mã vừa nhập không đúng dạng mã hồ sơ hoặc mã đặt lịch. Xin kiểm tra lại.",
        "This is neither a dossier code nor a booking code. Please check it.",
    )

"""Bookings and dossiers a kiosk looks up through its hub (docs/backend.md "Lookups").

The province keeps the bookings of the public service portal and the status of dossiers for its
centres (imported with ``onestop province import``, or written by an integration with the
provincial one-stop system). A citizen id number is never stored: rows carry an HMAC-SHA256 of it
under the province's own secret, so a lookup by id works and the tables alone name nobody.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from onestop.fake_backend import BadRequest

VN = ZoneInfo("Asia/Ho_Chi_Minh")
BOOKING_RE = re.compile(r"^[A-Z0-9]{4,32}$")
DOSSIER_RE = re.compile(r"^[A-Z0-9][A-Z0-9.\-/]{3,63}$")
CITIZEN_RE = re.compile(r"^\d{12}$")
DOSSIER_STATUSES = ("received", "processing", "ready", "returned", "rejected")
BOOKING_STATUSES = ("booked", "used", "cancelled")


def booking_code(text: str) -> str:
    """A typed or scanned booking code as stored: upper case, without spaces or dashes."""
    code = re.sub(r"[\s\-]", "", text).upper()
    if not BOOKING_RE.fullmatch(code):
        raise BadRequest("booking code: expected 4 to 32 letters or digits")
    return code


def dossier_code(text: str) -> str:
    code = text.strip().upper()
    if not DOSSIER_RE.fullmatch(code):
        raise BadRequest("dossier code: expected 4 to 64 letters, digits, '.', '-' or '/'")
    return code


def citizen_number(text: str) -> str:
    if not CITIZEN_RE.fullmatch(text):
        raise BadRequest("citizen id: expected the 12 digits of a căn cước number")
    return text


def _secret(conn: psycopg.Connection) -> bytes:
    row = conn.execute("SELECT value FROM province_secrets WHERE name = 'citizen_key'").fetchone()
    assert row is not None, "migration 0002 creates the secret"
    return bytes(row[0])


def citizen_key(conn: psycopg.Connection, number: str) -> bytes:
    return hmac.new(_secret(conn), citizen_number(number).encode("ascii"), hashlib.sha256).digest()


def _iso(ts: datetime) -> str:
    return ts.astimezone(VN).isoformat()


def _booking(row: tuple[Any, ...]) -> dict[str, Any]:
    code, site, service, start, end, initials, status = row
    return {"code": code, "site": site, "service": service, "slot_start": _iso(start), "slot_end": _iso(end),
            "initials": initials, "status": status}  # fmt: skip


def _dossier(row: tuple[Any, ...]) -> dict[str, Any]:
    code, site, title, status, promised, service = row
    return {"code": code, "site": site, "title": title, "status": status, "ready": status == "ready",
            "promised_date": promised.isoformat() if promised else None, "service": service}  # fmt: skip


_B = "SELECT code, site, service, slot_start, slot_end, initials, status FROM bookings"
_D = "SELECT code, site, title, status, promised_date, service FROM dossiers"


def booking(conn: psycopg.Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(_B + " WHERE code = %s", (booking_code(code),)).fetchone()
    return _booking(row) if row else None


def dossier(conn: psycopg.Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(_D + " WHERE code = %s", (dossier_code(code),)).fetchone()
    return _dossier(row) if row else None


def citizen_bookings(conn: psycopg.Connection, site: str, number: str, day: date) -> list[dict[str, Any]]:
    """The citizen's bookings at this site on that day (Vietnam's calendar day)."""
    start = datetime(day.year, day.month, day.day, tzinfo=VN)
    rows = conn.execute(
        _B
        + " WHERE citizen_key = %s AND site = %s AND slot_start >= %s AND slot_start < %s + interval '1 day'"
        " ORDER BY slot_start",
        (citizen_key(conn, number), site, start, start),
    ).fetchall()
    return [_booking(r) for r in rows]


def citizen_dossiers(conn: psycopg.Connection, site: str, number: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        _D + " WHERE citizen_key = %s AND site = %s ORDER BY updated_at DESC LIMIT 20",
        (citizen_key(conn, number), site),
    ).fetchall()
    return [_dossier(r) for r in rows]


def _text(item: Mapping[str, Any], key: str, i: int, *, optional: bool = False) -> str | None:
    v = item.get(key)
    if v is None and optional:
        return None
    if not isinstance(v, str) or not v:
        raise BadRequest(f"[{i}].{key}: expected a non-empty string")
    return v


def import_bookings(conn: psycopg.Connection, items: Iterable[Mapping[str, Any]]) -> int:
    """Insert or update bookings (the portal's export); returns how many were written."""
    n = 0
    with conn.transaction():
        for i, it in enumerate(items):
            status = it.get("status", "booked")
            if status not in BOOKING_STATUSES:
                raise BadRequest(f"[{i}].status: expected one of {', '.join(BOOKING_STATUSES)}")
            cid = _text(it, "citizen_id", i, optional=True)
            conn.execute(
                """INSERT INTO bookings (code, site, service, slot_start, slot_end, initials, status,
                                         citizen_key)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET site = EXCLUDED.site, service = EXCLUDED.service,
                       slot_start = EXCLUDED.slot_start, slot_end = EXCLUDED.slot_end,
                       initials = EXCLUDED.initials, status = EXCLUDED.status,
                       citizen_key = EXCLUDED.citizen_key, updated_at = now()""",
                (booking_code(_text(it, "code", i) or ""), _text(it, "site", i), _text(it, "service", i),
                 _text(it, "slot_start", i), _text(it, "slot_end", i), it.get("initials", ""), status,
                 citizen_key(conn, cid) if cid else None),
            )  # fmt: skip
            n += 1
    return n


def import_dossiers(conn: psycopg.Connection, items: Iterable[Mapping[str, Any]]) -> int:
    """Insert or update dossiers' status; returns how many were written."""
    n = 0
    with conn.transaction():
        for i, it in enumerate(items):
            status = it.get("status")
            if status not in DOSSIER_STATUSES:
                raise BadRequest(f"[{i}].status: expected one of {', '.join(DOSSIER_STATUSES)}")
            cid = _text(it, "citizen_id", i, optional=True)
            conn.execute(
                """INSERT INTO dossiers (code, site, title, status, promised_date, service, citizen_key)
                   VALUES (%s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (code) DO UPDATE SET site = EXCLUDED.site, title = EXCLUDED.title,
                       status = EXCLUDED.status, promised_date = EXCLUDED.promised_date,
                       service = EXCLUDED.service, citizen_key = EXCLUDED.citizen_key,
                       updated_at = now()""",
                (dossier_code(_text(it, "code", i) or ""), _text(it, "site", i), _text(it, "title", i),
                 status,
                 it.get("promised_date"), it.get("service"), citizen_key(conn, cid) if cid else None),
            )  # fmt: skip
            n += 1
    return n

"""Lookups without a broker: the hub's checks of a request and of the back end's answer, the kiosk
client's reading of a reply, the redaction of id numbers from httpx's log, and the reference back
end's generated day (docs/backend.md "Lookups")."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import pytest

from hub_api.lookup import BadLookup, _RedactCitizenIds, allowed_citizen_kinds, parse_lookup, shape
from onestop.config import SiteConfig
from onestop.fake_backend import parse_lookup_path
from onestop.fake_lookups import (
    BOOKING_CODE_RE,
    DOSSIER_CODE_RE,
    FixtureError,
    LookupBook,
    generate_day,
    initials,
    result_service,
)
from onestop.lookup_client import Booking, CitizenDossiers, NotFound, Refused, Unavailable, read_reply
from tests.conftest import SiteFactory
from tests.utils.site import SITE

BOOKING = {"code": "DL2612040017", "site": "t", "service": "tuphap",
           "slot_start": "2026-12-04T09:00:00+07:00", "slot_end": "2026-12-04T09:30:00+07:00",
           "initials": "N.V.A", "status": "booked"}  # fmt: skip
DOSSIER = {"code": "000.00.12.H23-241204-0003", "site": "t", "title": "Đăng ký khai sinh", "status": "ready",
           "ready": True, "promised_date": "2024-12-10", "service": "traketqua"}  # fmt: skip


# -- the hub's checks ------------------------------------------------------------------------------


def test_a_typed_booking_code_is_normalised() -> None:
    req = parse_lookup("kiosk-1", b'{"id": "a", "kind": "booking", "code": " dl-2612 040017 "}')
    assert (req.device, req.id, req.kind, req.code) == ("kiosk-1", "a", "booking", "DL2612040017")


@pytest.mark.parametrize(
    ("payload", "has_id"),
    [
        (b"nope", False),
        (b'"just a string"', False),
        (b'{"kind": "booking", "code": "DL1"}', False),
        (b'{"id": "", "kind": "booking", "code": "DL1"}', False),
        (b'{"id": "a b", "kind": "booking", "code": "DL1"}', False),
        (b'{"id": "a", "kind": "booking", "code": ".."}', True),
        (b'{"id": "a", "kind": "dossier", "code": "x/../y"}', True),
        (b'{"id": "a", "kind": "dossier", "code": "%2e%2e"}', True),
        (b'{"id": "a", "kind": "citizen_dossiers", "code": "00120300456A"}', True),
        (b'{"id": "a", "kind": "booking", "code": 12}', True),
        (b'{"id": "a", "kind": "booking", "code": "DL1", "date": "x"}', True),
        (b'{"id": "a", "kind": "booking", "code": "' + b"9" * 2000 + b'"}', True),
    ],
)
def test_malformed_lookups(payload: bytes, has_id: bool) -> None:
    with pytest.raises(BadLookup) as info:
        parse_lookup("kiosk-1", payload)
    assert (info.value.lookup_id == "a") is has_id


def test_a_refusal_never_quotes_an_id_number() -> None:
    number = "0012030045678"  # 13 digits: one too many
    with pytest.raises(BadLookup) as info:
        parse_lookup(
            "kiosk-1", b'{"id": "a", "kind": "citizen_bookings", "code": "' + number.encode() + b'"}'
        )
    assert number not in str(info.value)
    req = parse_lookup("kiosk-1", b'{"id": "a", "kind": "citizen_bookings", "code": "001203004567"}')
    assert "001203004567" not in req.shown()


def test_answers_are_cut_to_the_documented_fields() -> None:
    assert shape("booking", {**BOOKING, "phone": "0900000000"}) == BOOKING
    assert shape("dossier", {**DOSSIER, "owner": "Nguyễn Văn A"}) == DOSSIER
    listed = shape("citizen_bookings", {"bookings": [BOOKING] * 50})
    assert len(listed["bookings"]) == 20
    assert shape("citizen_dossiers", [DOSSIER]) == {"dossiers": [DOSSIER]}  # a bare list is read too


@pytest.mark.parametrize(
    ("kind", "doc"),
    [
        ("booking", [BOOKING]),
        ("booking", {**BOOKING, "status": "maybe"}),
        ("booking", {**BOOKING, "slot_start": "2026-12-04T09:00:00"}),  # no offset
        ("booking", {**BOOKING, "initials": "N" * 100}),
        ("dossier", {**DOSSIER, "promised_date": "10/12/2024"}),
        ("dossier", {**DOSSIER, "ready": "yes"}),
        ("citizen_bookings", {"bookings": "none"}),
    ],
)
def test_answers_not_as_documented_are_refused(kind: str, doc: Any) -> None:
    with pytest.raises(ValueError):
        shape(kind, doc)


def test_citizen_lookups_only_as_the_site_allows(site_cfg: SiteConfig, site_factory: SiteFactory) -> None:
    assert allowed_citizen_kinds(site_cfg) == frozenset()
    rules = {"enabled": True, "find_dossiers": True, "forward": True}
    backend = {"url": "http://127.0.0.1:9/onestop"}
    assert allowed_citizen_kinds(site_factory({"citizen_id": rules, "backend": backend})) == {
        "citizen_dossiers"
    }
    both = site_factory(
        {"citizen_id": {**rules, "find_bookings": True}, "backend": backend}, name="both.toml"
    )
    assert allowed_citizen_kinds(both) == {"citizen_bookings", "citizen_dossiers"}


def test_httpx_request_lines_lose_the_id_number() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, 'HTTP Request: %s %s "%s %d %s"',
        ("GET", "http://b/x/citizens/001203004567/bookings?site=t", "HTTP/1.1", 200, "OK"), None,
    )  # fmt: skip
    assert _RedactCitizenIds().filter(record)
    assert (
        record.getMessage() == 'HTTP Request: GET http://b/x/citizens/***/bookings?site=t "HTTP/1.1 200 OK"'
    )


# -- the kiosk's reading of a reply -------------------------------------------------------------------


def test_the_client_reads_replies_into_types() -> None:
    got = read_reply("booking", {"id": "a", "ok": True, "result": BOOKING})
    assert isinstance(got, Booking) and got.slot_end - got.slot_start == timedelta(minutes=30)
    assert read_reply("booking", {"id": "a", "ok": False, "error": {"code": "not_found"}}) == NotFound(
        "booking"
    )
    assert isinstance(read_reply("dossier", {"ok": False, "error": {"code": "forbidden"}}), Refused)
    down = read_reply("dossier", {"ok": False, "error": {"code": "backend_unavailable", "message": "x"}})
    assert down == Unavailable("backend_unavailable", "x")
    assert read_reply("citizen_dossiers", {"ok": True, "result": {"dossiers": []}}) == CitizenDossiers(())


@pytest.mark.parametrize(
    "reply",
    [
        {"ok": True},
        {"ok": True, "result": {"code": "x"}},
        {"ok": True, "result": {**BOOKING, "slot_start": "soon"}},
        {"ok": False, "error": "boom"},
    ],
)
def test_a_reply_that_does_not_parse_is_unavailable(reply: dict[str, Any]) -> None:
    assert isinstance(read_reply("booking", reply), Unavailable)


# -- the reference back end's day ------------------------------------------------------------------------


def test_initials_keep_the_base_letter() -> None:
    assert initials("Nguyễn Văn An") == "N.V.A"
    assert initials("Đặng Thị Ánh") == "Đ.T.A"


@pytest.fixture
def demo_site(site_factory: SiteFactory) -> SiteConfig:
    """The test site with hours and a result-return service."""
    services = [{**s, "hours": ["07:30-11:30", "13:30-17:00"]} for s in SITE["services"]] + [
        {"id": "traketqua", "name": "Trả kết quả", "prefix": "R", "digits": 3}
    ]
    return site_factory({"services": services})


def test_a_generated_day_is_believable(demo_site: SiteConfig) -> None:
    now = datetime(2026, 12, 4, 9, 47, tzinfo=demo_site.site.tz)
    book = generate_day(demo_site, now)
    ret = result_service(demo_site)
    assert ret is not None and ret.id == "traketqua"
    assert len(book.bookings) > 20 and len(book.dossiers) >= 40
    services = {s.id for s in demo_site.services}
    for b in book.bookings.values():
        assert BOOKING_CODE_RE.match(b["code"]) and b["service"] in services - {"traketqua"}
        assert len(b["initials"].split(".")) == 3
        assert datetime.fromisoformat(b["slot_start"]) < datetime.fromisoformat(b["slot_end"])
    for d in book.dossiers.values():
        assert DOSSIER_CODE_RE.match(d["code"]) and d["service"] == "traketqua"
        assert d["ready"] == (d["status"] == "ready")
    assert {d["status"] for d in book.dossiers.values()} == {
        "received",
        "processing",
        "ready",
        "returned",
        "rejected",
    }
    # Every sample code says what its label says.
    s = book.samples
    current = book.booking(s["booking now (tuphap)"])
    assert current is not None and current["status"] == "booked"
    assert datetime.fromisoformat(current["slot_start"]) <= now < datetime.fromisoformat(current["slot_end"])
    assert book.booking(s["booking already used"])["status"] == "used"  # type: ignore[index]
    assert book.booking(s["booking cancelled"])["status"] == "cancelled"  # type: ignore[index]
    assert book.dossier(s["dossier ready"])["ready"] is True  # type: ignore[index]
    assert book.dossier(s["dossier processing"])["status"] == "processing"  # type: ignore[index]
    assert book.booking(s["unknown booking"]) is None
    # The same site and day give the same book; the fixtures document reads back the same.
    assert generate_day(demo_site, now).to_doc() == book.to_doc()
    assert LookupBook.from_doc(book.to_doc()).to_doc() == book.to_doc()


def test_a_citizen_links_to_bookings_and_dossiers(demo_site: SiteConfig) -> None:
    book = generate_day(demo_site)
    number, links = next(iter(book.citizens.items()))
    assert len(number) == 12 and number.isdigit()
    day = links["bookings"][0][2:8]
    found = book.citizen_bookings(number, f"20{day[:2]}-{day[2:4]}-{day[4:]}")
    assert found and found[0]["code"] == links["bookings"][0]
    assert book.citizen_bookings(number, "1999-01-01") == []
    assert book.citizen_dossiers("000000000000") is None


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {"bookings": [{"code": "DL1"}]},
        {"bookings": [{**BOOKING, "status": "lost"}]},
        {"dossiers": [{"code": "x", "site": "t", "title": "t", "status": "lost"}]},
        {"citizens": {"abc": {}}},
    ],
)
def test_bad_fixtures_are_refused_with_the_reason(doc: Any) -> None:
    with pytest.raises(FixtureError):
        LookupBook.from_doc(doc)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("onestop/bookings/DL1", ("bookings", "DL1")),
        ("dossiers/000.00.12.H23-241204-0003", ("dossiers", "000.00.12.H23-241204-0003")),
        ("x/citizens/001203004567/bookings", ("citizen_bookings", "001203004567")),
        ("x/citizens/001203004567/dossiers", ("citizen_dossiers", "001203004567")),
        ("x/ratings", None),
        ("bookings", None),
    ],
)
def test_lookup_paths(path: str, want: tuple[str, str] | None) -> None:
    assert parse_lookup_path(path) == want

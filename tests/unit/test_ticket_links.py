"""Unguessable ticket links: the token of a ticket's QR code (onestop/ticket_links.py)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from onestop.clock import ManualClock
from onestop.ticket_links import TOKEN_CHARS, TicketLinks, looks_like_token, new_key
from queue_controller.engine import Engine
from queue_controller.store import Store
from tests.unit.sites import MONDAY_8AM, site


def test_a_token_is_128_bits_in_22_url_safe_characters_and_stable_for_a_key() -> None:
    links = TicketLinks(b"k" * 32)
    token = links.token("20261203-A012")
    assert len(token) == TOKEN_CHARS == 22 and looks_like_token(token)
    assert len(base64.urlsafe_b64decode(token + "==")) * 8 == 128
    assert links.token("20261203-A012") == token  # a redelivered reply names the same link
    assert TicketLinks(b"k" * 32).token("20261203-A013") != token


def test_the_token_is_not_derivable_from_the_id_without_the_key() -> None:
    ticket_id = "20261203-A012"
    mine, other = TicketLinks(new_key()), TicketLinks(new_key())
    assert mine.token(ticket_id) != other.token(ticket_id)  # the key decides, not the id
    unkeyed = {
        base64.urlsafe_b64encode(h(ticket_id.encode()).digest()[:16]).decode().rstrip("=")
        for h in (hashlib.sha256, hashlib.sha1, hashlib.md5, hashlib.blake2b)
    }
    assert mine.token(ticket_id) not in unkeyed
    # neighbouring ids share nothing that helps guess the next one
    a, b = mine.token("20261203-A012"), mine.token("20261203-A013")
    assert sum(x == y for x, y in zip(a, b, strict=True)) < 8


def test_a_sequential_id_does_not_look_like_a_token() -> None:
    assert not looks_like_token("20261203-A012")
    assert not looks_like_token("../../etc/passwd")
    assert not looks_like_token("A" * 23)


def test_the_engine_puts_the_token_in_the_issue_result_and_the_issued_event() -> None:
    eng = Engine(site(), ManualClock(MONDAY_8AM))
    links = TicketLinks(b"s" * 32)
    eng.ticket_token = links.token
    d = eng.handle("kiosk-1", "issue", {"service": "tuphap"})
    assert d.result is not None
    ticket = d.result["ticket"]
    assert ticket["token"] == links.token(ticket["id"])
    (kind, _ts, data) = d.events[0]
    assert kind == "ticket.issued" and data["ticket"]["token"] == ticket["token"]
    # later events carry the ticket without its link: only the issued event hands it out
    d = eng.handle("counter-1", "open", {})
    d = eng.handle("counter-1", "call_next", {})
    assert d.result is not None and "token" not in d.result["ticket"]


def test_the_controller_keeps_its_link_key_in_its_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "c.db")
    key = store.secret("ticket_links", new_key)
    store.close()
    store = Store(tmp_path / "c.db")
    assert store.secret("ticket_links", new_key) == key and len(key) == 32
    store.close()


def test_the_printed_link_is_the_token_under_the_public_url_https_included() -> None:
    from kiosk_app.ticket_kiosk.ticket import ticket_status_url

    cfg = site()
    https = cfg.model_copy(
        update={"hub": cfg.hub.model_copy(update={"public_url": "https://192.168.1.10:8443/"})}
    )
    token = TicketLinks(b"q" * 32).token("20261203-A012")
    assert ticket_status_url(https, token) == f"https://192.168.1.10:8443/t/{token}"
    assert ticket_status_url(https, None) is None  # no token (an older controller): no QR code

"""The province's notification sender against a fake Web Push service and a fake SMS gateway (real
HTTP servers on loopback): a passing failure (no connection, 429, 5xx) is tried again, with the same
message and the same idempotency key, while the notice still means something; a lasting one (a
refusal) is not; a sender that closes drops the retries not yet due."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from onestop.broker import free_port
from province.citizens import Notice, Sender
from tests.utils.push import Browser, Recorder

pytestmark = pytest.mark.integration

WAIT_S = 20.0
FAST = (0.05, 0.1, 0.2)  # the retry delays in these tests (in service: 2, 10 and 30 s)


@pytest.fixture
def sender() -> Iterator[Sender]:
    s = Sender("postgresql://unused", subject="mailto:it@example.vn", delays=FAST)
    s.set_key(ec.generate_private_key(ec.SECP256R1()))
    try:
        yield s
    finally:
        s.close()


def _settled(s: Sender, n: int) -> bool:
    """Wait until ``n`` notices are counted (sent or failed)."""
    with s.done:
        return s.done.wait_for(lambda: s.sent + s.failed >= n, WAIT_S)


def _sms(kind: str = "called", seq: int = 7, phone: str = "+84912345678") -> Notice:
    return Notice(kind, "tq-xa1", "T" * 22, "B004", ahead=2, counter_label="Quầy 2", phone=phone, seq=seq)


def test_a_gateway_that_fails_for_a_while_gets_the_message_once_with_one_key(sender: Sender) -> None:
    with Recorder(answers={"/sms": [503, 429, 500]}) as gw:
        gateway = (f"{gw.url}/sms", "gw-token", "sms")
        sender.submit(_sms(), gateway)
        assert _settled(sender, 1)
        assert (sender.sent, sender.failed, sender.retried) == (1, 0, 3)
        assert len(gw.received) == 4  # three passing failures, then the message
        assert len({r.body for r in gw.received}) == 1
        keys = {r.headers["idempotency-key"] for r in gw.received}
        assert len(keys) == 1 and all(r.headers["authorization"] == "Bearer gw-token" for r in gw.received)
        key = keys.pop()
        assert "T" * 22 not in key and "912345678" not in key  # nothing of the link or the number
        # Another message (a recall: another call event) has another key; the same one, the same key.
        assert _sms(seq=8).key != key and _sms(kind="near").key != key and _sms().key == key
        assert _sms(phone="+84987654321").key != key


def test_a_refusal_is_not_tried_again_and_retries_end(sender: Sender) -> None:
    with Recorder(answers={"/sms": [400], "/down": [503] * 10}) as gw:
        sender.submit(_sms(), (f"{gw.url}/sms", None, "sms"))
        assert _settled(sender, 1)
        assert (sender.sent, sender.failed, len(gw.received)) == (0, 1, 1)
        assert "authorization" not in gw.received[0].headers
        sender.submit(_sms(seq=9), (f"{gw.url}/down", None, "sms"))  # down for longer than the retries
        assert _settled(sender, 2)
        assert (sender.sent, sender.failed) == (0, 2)
        assert len([r for r in gw.received if r.path == "/down"]) == 1 + len(FAST)


def test_no_connection_is_a_passing_failure(sender: Sender) -> None:
    port = free_port()  # nobody listens there
    sender.submit(_sms(), (f"http://127.0.0.1:{port}/sms", None, "sms"))
    assert _settled(sender, 1)
    assert (sender.sent, sender.failed, sender.retried) == (0, 1, len(FAST))  # tried again, then given up


def test_a_push_service_that_fails_for_a_while_gets_the_same_message(sender: Sender) -> None:
    with Recorder(answers={"/push/b1": [502, 503]}) as push:
        browser = Browser(f"{push.url}/push/b1")
        sub = browser.subscription()
        n = Notice("near", "tq-xa1", "P" * 22, "A007", ahead=2,
                   push=(1, sub["endpoint"], sub["keys"]["p256dh"], sub["keys"]["auth"]))  # fmt: skip
        sender.submit(n, None)
        assert _settled(sender, 1)
        assert (sender.sent, sender.failed, sender.retried) == (1, 0, 2)
        assert len(push.received) == 3
        messages = [browser.decrypt(r.body) for r in push.received]
        assert all(m == messages[0] for m in messages)
        assert messages[0]["kind"] == "near" and "A007" in messages[0]["title"]
        assert all(r.headers["ttl"] == "600" for r in push.received)


def test_closing_drops_the_retries_not_yet_due() -> None:
    s = Sender("postgresql://unused", subject="mailto:it@example.vn", delays=(3600.0,))
    with Recorder(answers={"/sms": [503]}) as gw:
        s.submit(_sms(), (f"{gw.url}/sms", None, "sms"))
        assert gw.wait(lambda got: len(got) == 1, WAIT_S)
        s.close()  # returns at once: the retry due in an hour is dropped, not waited for
        assert len(gw.received) == 1 and s.retried == 0

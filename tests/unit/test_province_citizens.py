"""Citizens on 4G, the parts without a database: push endpoints, phone numbers, rate budgets, the
notices' wording, and where the ticket's QR code points."""

from __future__ import annotations

import pytest

from kiosk_app.ticket_kiosk.ticket import ticket_status_url
from onestop.errors import ConfigError
from province.citizens import PUSH_HOSTS, Notice, english_counter, push_endpoint_allowed
from province.public import Buckets, normalise_phone
from tests.conftest import SiteFactory

TOKEN = "AbCdEfGhIjKlMnOpQrStUv"


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", True),
        ("https://updates.push.services.mozilla.com/wpush/v2/x", True),
        ("https://wns2-par02p.notify.windows.com/w/?token=x", True),
        ("https://web.push.apple.com/QGx", True),
        ("http://fcm.googleapis.com/fcm/send/abc", False),  # not https
        ("https://fcm.googleapis.com.evil.example/x", False),
        ("https://evilnotify.windows.com/x", False),  # "*.notify.windows.com" needs the dot
        ("https://user:pw@fcm.googleapis.com/x", False),
        ("http://127.0.0.1:5432/", False),  # into the province's own network: never
        ("https://10.0.0.5/x", False),
        ("file:///etc/passwd", False),
        ("https://fcm.googleapis.com/" + "a" * 1100, False),
    ],
)
def test_only_known_push_services_are_ever_posted_to(endpoint: str, ok: bool) -> None:
    assert push_endpoint_allowed(endpoint, PUSH_HOSTS) is ok


def test_a_province_may_allow_its_own_push_relay_by_prefix() -> None:
    allowed = (*PUSH_HOSTS, "http://127.0.0.1:9999/push/")
    assert push_endpoint_allowed("http://127.0.0.1:9999/push/abc", allowed)
    assert not push_endpoint_allowed("http://127.0.0.1:9999/admin", allowed)


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("0912 345 678", "+84912345678"),
        ("0912.345.678", "+84912345678"),
        ("+84 912 345 678", "+84912345678"),
        ("84912345678", "+84912345678"),
        ("0386-123-456", "+84386123456"),
        ("024 3825 1234", "+842438251234"),  # a landline (Hà Nội)
        ("12", None),
        ("0112345678", None),
        ("09123456789999", None),
        ("", None),
        ("0912345678; DROP TABLE", None),
    ],
)
def test_phone_numbers_are_vietnamese_and_normalised(text: str, phone: str | None) -> None:
    assert normalise_phone(text) == phone


def test_each_address_has_its_own_budget_that_refills() -> None:
    b = Buckets(rate=1.0, burst=3)
    assert [b.take("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert b.take("a", now=0.0) == pytest.approx(1.0)
    assert b.take("b", now=0.0) == 0.0, "another address is not slowed"
    assert b.take("a", now=1.0) == 0.0, "a second later one more is allowed"


def test_notices_say_it_in_vietnamese_first() -> None:
    near = Notice("near", "s", TOKEN, "B004", ahead=2)
    assert near.texts() == (
        "Số B004: trước bạn còn 2 người, xin quay lại trung tâm",
        "B004: 2 people ahead of you",
    )
    assert Notice("near", "s", TOKEN, "B004", ahead=1).texts()[1] == "B004: 1 person ahead of you"
    assert (
        Notice("near", "s", TOKEN, "B004", ahead=0).texts()[0] == "Số B004: sắp đến lượt bạn, xin về gần quầy"
    )
    called = Notice("called", "s", TOKEN, "B004", counter_label="Quầy 5")
    assert called.texts() == ("Mời số B004 đến Quầy 5", "B004: please go to Counter 5")
    assert "912345678" not in repr(Notice("near", "s", TOKEN, "B004", phone="+84912345678")), "never in a log"
    assert english_counter("Bàn tiếp nhận", "7") == "Bàn tiếp nhận"


def test_the_qr_code_points_at_the_province_when_the_site_says_so(site_factory: SiteFactory) -> None:
    lan = site_factory()
    assert ticket_status_url(lan, TOKEN) == f"http://127.0.0.1:8080/t/{TOKEN}"
    on_4g = site_factory({"province": {"public_url": "https://dichvu.hagiang.gov.vn/"}})
    assert ticket_status_url(on_4g, TOKEN) == f"https://dichvu.hagiang.gov.vn/t/{TOKEN}"
    assert ticket_status_url(on_4g, None) is None


@pytest.mark.parametrize("url", ["dichvu.hagiang.gov.vn", "ftp://x.vn", "https://x.vn/?a=1", "https://"])
def test_a_bad_province_url_is_refused_with_the_reason(site_factory: SiteFactory, url: str) -> None:
    with pytest.raises(ConfigError, match=r"province\.public_url"):
        site_factory({"province": {"public_url": url}})

"""A kiosk's code flows with real parts: a real Mosquitto with auth and ACL, the real controller, the
real hub relaying look-ups to the reference back end over HTTP on loopback, and the kiosk's own
device (KioskDevice: its MQTT client, the lookup client, a simulated scanner and printer).

A scanned booking code gives a booked ticket from the controller; a ready dossier a result-pickup
ticket with its code; with the back end down (refusing, or holding the request forever), the kiosk
says so within its deadline and still issues a normal ticket."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from device_drivers.scanner import make_scanner
from device_drivers.scanner.sim import SimScanner
from kiosk_app.ticket_kiosk.device import KioskDevice
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.fake_backend import BackendServer, FakeBackend
from onestop.fake_lookups import LookupBook
from queue_controller.service import Controller
from tests.conftest import SiteFactory

pytestmark = pytest.mark.integration

TOKEN = "tok-kiosk-lookups-9a1c"
TOKEN_ENV = "ONESTOP_TEST_KIOSK_LOOKUP_TOKEN"
NOW = datetime.now(UTC).replace(microsecond=0)
BOOKING = "DL26120400017"
DOSSIER = "000.00.12.H23-261204-0003"
FIXTURES: dict[str, Any] = {
    "bookings": [
        {"code": BOOKING, "site": "t-site", "service": "tuphap", "slot_start": NOW.isoformat(),
         "slot_end": (NOW + timedelta(minutes=15)).isoformat(), "initials": "N.V.A", "status": "booked"},
    ],
    "dossiers": [
        {"code": DOSSIER, "site": "t-site", "title": "Đăng ký khai sinh", "status": "ready",
         "promised_date": NOW.date().isoformat(), "service": None},
    ],
}  # fmt: skip


@pytest.fixture
def fake() -> Iterator[BackendServer]:
    server = BackendServer(FakeBackend(TOKEN, lookups=LookupBook.from_doc(FIXTURES))).start()
    yield server
    server.stop()


@pytest.fixture
def site_cfg(site_factory: SiteFactory, fake: BackendServer, monkeypatch: pytest.MonkeyPatch) -> SiteConfig:
    """The test site taking bookings and result pickups (at ``dkkd``), with the reference back end."""
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    return site_factory({
        "backend": {"url": f"{fake.url}/onestop", "token_env": TOKEN_ENV, "lookup_timeout_s": 1.0},
        "bookings": {"enabled": True, "before_min": 30, "after_min": 30},
        "dossiers": {"service": "dkkd"},
        "kiosk": {"lookup_s": 3},
    })  # fmt: skip


@pytest.fixture
def kiosk(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], controller: Controller, hub: Any
) -> Iterator[tuple[KioskDevice, SimScanner]]:
    scanner = make_scanner({"backend": "sim"})
    assert isinstance(scanner, SimScanner)
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})
    dev = KioskDevice(cfg, "kiosk-1", credentials["kiosk-1"], guard_s=0.0, health_s=3600, scanner=scanner)
    dev.start()
    yield dev, scanner
    dev.stop()


def settled(vm: KioskViewModel, *screens: str, timeout: float = 15.0) -> None:
    """Wait until the kiosk shows one of ``screens`` with nothing on its way."""
    ok = vm.wait_for(lambda m: m.screen in screens and not m.busy, timeout)
    assert ok, f"the kiosk shows {vm.screen}, not {screens}"


def test_a_scanned_booking_code_gives_a_booked_ticket(kiosk: tuple[KioskDevice, SimScanner]) -> None:
    dev, scanner = kiosk
    vm = dev.vm
    scanner.feed(BOOKING.lower())  # the scanner's thread hands the scan to the view-model
    settled(vm, "booking")
    assert any("Lịch hẹn" in a for a, _ in vm.view().lines)
    assert vm.press("take")
    settled(vm, "done")
    ticket = (vm.result or {})["ticket"]
    assert ticket["booking"]["code"] == BOOKING and ticket["service"] == "tuphap"
    assert "Bạn có lịch hẹn: sẽ được gọi gần giờ hẹn" in [a for a, _ in vm.view().lines]
    vm.press("ok")
    scanner.feed(BOOKING)  # the same code again: the controller says it was used
    settled(vm, "booking")
    vm.press("take")
    settled(vm, "booking_used")


def test_a_ready_dossier_gives_a_result_pickup_ticket(kiosk: tuple[KioskDevice, SimScanner]) -> None:
    dev, scanner = kiosk
    scanner.feed(f"https://dichvucong.example.vn/tra-cuu?maHoSo={DOSSIER}")
    settled(dev.vm, "dossier")
    dev.vm.press("take")
    settled(dev.vm, "done")
    ticket = (dev.vm.result or {})["ticket"]
    assert ticket["dossier"] == DOSSIER and ticket["service"] == "dkkd"


@pytest.mark.parametrize("mode", [{"mode": "down"}, {"mode": "timeout", "stream": "lookups", "hold_s": 3600}])
def test_with_the_back_end_down_a_normal_ticket_is_still_issued(
    kiosk: tuple[KioskDevice, SimScanner], fake: BackendServer, mode: dict[str, Any]
) -> None:
    dev, scanner = kiosk
    httpx.post(f"{fake.url}/_control", json=mode, timeout=5).raise_for_status()
    scanner.feed(DOSSIER)
    settled(dev.vm, "lookup_down", timeout=dev.vm.lookup_s + 5)
    assert dev.vm.view().title == "Không tra cứu được lúc này — bạn vẫn có thể lấy số thường"
    assert dev.vm.press("walk_in")
    settled(dev.vm, "done")
    ticket = (dev.vm.result or {})["ticket"]
    assert ticket["service"] == "dkkd" and not ticket.get("dossier")
    dev.vm.press("ok")
    scanner.feed(BOOKING)  # a booking: the kiosk offers the service list, and a ticket follows
    settled(dev.vm, "lookup_down", timeout=dev.vm.lookup_s + 5)
    dev.vm.press("walk_in")
    settled(dev.vm, "home")
    assert dev.vm.tap_service("tuphap")
    if dev.vm.screen == "priority":
        dev.vm.choose_priority(False)
    settled(dev.vm, "done")

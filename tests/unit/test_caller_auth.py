"""The soft caller's sign-in: PIN files, the PIN lock-out, signed session tokens, the queue order."""

from __future__ import annotations

import json
import re
import stat
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub_api.auth import PinGuard, SessionSigner, web_key_path
from hub_api.caller import web_keypad_devices
from hub_api.routers.counters import waiting_for
from onestop.config import CounterConfig, SiteConfig
from onestop.credentials import PinNotFound, ensure_credentials, ensure_pin, pin_path, read_pin, secrets_dir
from tests.conftest import SiteFactory
from tests.utils.site import SITE


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_a_pin_is_six_private_digits_kept_across_calls(site_cfg: SiteConfig) -> None:
    with pytest.raises(PinNotFound, match="counter-2"):
        read_pin(site_cfg, "counter-2")
    pin = ensure_pin(site_cfg, "counter-2")
    assert re.fullmatch(r"\d{6}", pin)
    assert ensure_pin(site_cfg, "counter-2") == read_pin(site_cfg, "counter-2") == pin
    assert stat.S_IMODE(pin_path(site_cfg, "counter-2").stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets_dir(site_cfg).stat().st_mode) == 0o700
    assert not [p for p in secrets_dir(site_cfg).iterdir() if p.name.endswith(".tmp")]
    ensure_credentials(site_cfg)  # the passwords do not disturb the PIN, and vice versa
    assert read_pin(site_cfg, "counter-2") == pin


def test_a_pin_written_by_the_technician_is_used(site_cfg: SiteConfig) -> None:
    secrets_dir(site_cfg).mkdir(parents=True)
    pin_path(site_cfg, "counter-1").write_text("246810\n", encoding="utf-8")
    assert ensure_pin(site_cfg, "counter-1") == "246810"


def test_sessions_are_bound_to_a_counter_its_pin_and_a_time() -> None:
    clock = FakeClock()
    signer = SessionSigner(b"k" * 32, clock=clock)
    token = signer.issue("2", "123456", ttl_s=3600)
    assert signer.verify(token, "2", "123456")
    assert not signer.verify(token, "1", "123456")  # another counter
    assert not signer.verify("1" + token[1:], "1", "123456")  # its counter changed by hand
    assert not signer.verify(token, "2", "654321")  # the PIN was changed: everybody signs in again
    assert not signer.verify(token[:-2] + "xx", "2", "123456")
    assert not SessionSigner(b"x" * 32, clock=clock).verify(token, "2", "123456")  # another key
    assert not signer.verify(None, "2", "123456") and not signer.verify("garbage", "2", "123456")
    clock.t += 3601
    assert not signer.verify(token, "2", "123456")


def test_the_session_key_is_created_once_and_kept_private(site_cfg: SiteConfig) -> None:
    a = SessionSigner.for_site(site_cfg)
    b = SessionSigner.for_site(site_cfg)
    assert b.verify(a.issue("1", "000001"), "1", "000001")
    assert stat.S_IMODE(web_key_path(site_cfg).stat().st_mode) == 0o600


def test_five_wrong_pins_lock_a_counter_for_a_minute() -> None:
    clock = FakeClock()
    guard = PinGuard(max_tries=5, lock_s=60, clock=clock)
    assert [guard.check("2", "000000", "123456").tries_left for _ in range(4)] == [4, 3, 2, 1]
    locked = guard.check("2", "000000", "123456")
    assert not locked.ok and locked.locked_for == 60
    assert not guard.check("2", "123456", "123456").ok, "the right PIN waits for the lock too"
    assert guard.check("1", "111111", "111111").ok, "other counters are not locked"
    clock.t += 59
    assert not guard.check("2", "123456", "123456").ok
    clock.t += 2
    assert guard.check("2", "123456", "123456").ok
    assert guard.check("2", "000000", "123456").tries_left == 4  # a success starts the count again


def test_a_locked_out_client_does_not_lock_the_clerk_out() -> None:
    """The lock-out is per client and counter: one guessing browser cannot keep a clerk from signing in."""
    clock = FakeClock()
    guard = PinGuard(max_tries=5, lock_s=60, clock=clock)
    for _ in range(5):
        guard.check("2", "000000", "123456", client="10.0.0.66")
    assert not guard.check("2", "123456", "123456", client="10.0.0.66").ok
    assert guard.check("2", "123456", "123456", client="10.0.0.21").ok, "the clerk's browser signs in"
    assert guard.check("2", "000000", "123456", client="10.0.0.21").tries_left == 4


def test_lock_outs_in_a_row_grow_up_to_a_cap() -> None:
    clock = FakeClock()
    guard = PinGuard(max_tries=2, lock_s=60, max_lock_s=300, clock=clock)
    locks = []
    for _ in range(6):
        guard.check("2", "0", "1", client="x")
        verdict = guard.check("2", "0", "1", client="x")
        assert verdict.just_locked
        locks.append(verdict.locked_for)
        clock.t += verdict.locked_for
    assert locks == [60, 120, 240, 300, 300, 300]
    assert guard.check("2", "1", "1", client="x").ok  # a success forgives everything
    guard.check("2", "0", "1", client="x")
    assert guard.check("2", "0", "1", client="x").locked_for == 60


def test_the_failure_table_stays_bounded() -> None:
    guard = PinGuard(max_tries=5, lock_s=60, clock=FakeClock(), max_entries=100)
    for i in range(10_000):  # a client that changes its address at every try
        guard.check("2", "000000", "123456", client=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert len(guard) == 100


def test_only_counter_devices_with_web_keys_are_web_keypads(site_factory: SiteFactory) -> None:
    cfg = site_factory(
        {
            "devices": [
                *SITE["devices"],
                {"id": "web-2", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
                {"id": "web-2b", "role": "counter", "counter": "2", "keys": {"backend": "web"}},
                {"id": "pad-3", "role": "counter", "counter": "3", "keys": {"backend": "serial"}},
            ]
        }
    )
    assert {c: d.id for c, d in web_keypad_devices(cfg).items()} == {"2": "web-2"}


def _row(
    number: str, service: str, seq: int, *, priority: bool = False, front: bool = False
) -> dict[str, Any]:
    return {"number": number, "service": service, "priority": priority, "updated_seq": seq, "front": front}


def test_the_queue_lists_tickets_in_likely_calling_order() -> None:
    rows = [
        _row("B001", "datdai", 1),
        _row("A001", "tuphap", 2),
        _row("B002", "datdai", 3),
        _row("A002", "tuphap", 4, priority=True),
        _row("A003", "tuphap", 5, front=True),  # transferred to the front of tuphap's line
        _row("A004", "tuphap", 6),
    ]
    fifo = CounterConfig(id="1", label="Quầy 1", services=["datdai", "tuphap"], policy="fifo")
    ordered = CounterConfig(id="2", label="Quầy 2", services=["datdai", "tuphap"], policy="ordered")
    assert [r["number"] for r in waiting_for(rows, fifo)] == ["A002", "B001", "A003", "A001", "B002", "A004"]
    assert [r["number"] for r in waiting_for(rows, ordered)] == [
        "A002",
        "B001",
        "B002",
        "A003",
        "A001",
        "A004",
    ]


def test_the_queue_lists_due_booked_tickets_before_walk_ins_and_early_ones_last() -> None:
    def booked(number: str, seq: int, due: str) -> dict[str, Any]:
        b = {"code": "DL00000001", "line": "booked", "due_at": due}
        return {**_row(number, "tuphap", seq), "booking": json.dumps(b)}

    rows = [
        _row("A001", "tuphap", 1),
        booked("A002", 2, "2026-11-23T08:10:00.000+07:00"),  # due at 08:10
        booked("A003", 3, "2026-11-23T07:45:00.000+07:00"),  # due since 07:45
        _row("A004", "tuphap", 4, priority=True),
        booked("A005", 5, "2026-11-23T07:50:00.000+07:00"),
        {
            **_row("A006", "tuphap", 6),
            "booking": json.dumps({"code": "DL2", "line": "walk_in", "due_at": None}),
        },
    ]
    fifo = CounterConfig(id="1", label="Quầy 1", services=["tuphap"], policy="fifo")
    at_8 = datetime(2026, 11, 23, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    line = waiting_for(rows, fifo, at_8)
    assert [r["number"] for r in line] == ["A004", "A003", "A005", "A001", "A006", "A002"]
    assert [r["booked"] for r in line] == [False, True, True, False, False, True]

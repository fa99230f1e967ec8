"""One contract for the Scanner interface, run against every backend (STYLE.md §4).

``sim`` always runs; ``serial`` runs on a real pseudo-terminal; ``hid`` on a fake input device fed
with the same key events as the fixtures (no /dev/uinput here). A real scanner runs only when
``ONESTOP_TEST_SCANNER_SERIAL=/dev/ttyACM0`` or ``ONESTOP_TEST_SCANNER_HID=/dev/input/by-id/…`` names
it: a person scans a code holding ``DL24120400017`` when the test says so.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from device_drivers.scanner import Scanner, make_scanner
from device_drivers.scanner.hid import HidScanner
from device_drivers.scanner.params import HidParams
from device_drivers.scanner.sim import SimScanner
from tests.integration.test_scanner_serial import Collect
from tests.unit.test_scanner_hid import FakeInputDevice
from tests.utils.scanner_events import Typist
from tests.utils.serial_fakes import PtyPair

pytestmark = pytest.mark.integration

CODE = "DL24120400017"


@dataclass
class Rig:
    """A scanner (not started) and how to make it read a code ending with its suffix, or cut short."""

    scanner: Scanner
    send: Callable[[str], None]
    send_partial: Callable[[str], None] | None


def _sim() -> Iterator[Rig]:
    sim = SimScanner()
    yield Rig(sim, lambda t: sim.feed(t), sim.feed_partial)


def _serial() -> Iterator[Rig]:
    pair = PtyPair()
    scanner = make_scanner({"backend": "serial", "port": pair.path, "timeout_ms": 50})
    yield Rig(
        scanner,
        lambda t: os.write(pair.master, t.encode() + b"\r\n") and None,
        lambda t: os.write(pair.master, t.encode()) and None,
    )
    pair.close()


def _hid() -> Iterator[Rig]:
    dev = FakeInputDevice("/dev/input/event9", "Fake 2D scanner")
    scanner = HidScanner(HidParams(backend="hid", path=dev.path, timeout_ms=50), opener=lambda p: dev)
    yield Rig(scanner, lambda t: dev.send(Typist().text(t).enter().events),
              lambda t: dev.send(Typist().text(t).events))  # fmt: skip


def _real(kind: str, env: str) -> Iterator[Rig]:
    where = os.environ.get(env)
    if not where:
        pytest.skip(f"{env} names no real {kind} scanner")
    key = "port" if kind == "serial" else "path"
    scanner = make_scanner({"backend": kind, key: where})

    def ask(text: str) -> None:
        print(f"\n>>> scan a code holding {text!r} now", file=sys.stderr)

    yield Rig(scanner, ask, None)


RIGS = {
    "sim": _sim,
    "serial": _serial,
    "hid": _hid,
    "real-serial": lambda: _real("serial", "ONESTOP_TEST_SCANNER_SERIAL"),
    "real-hid": lambda: _real("hid", "ONESTOP_TEST_SCANNER_HID"),
}


@pytest.fixture(params=sorted(RIGS))
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from RIGS[request.param]()


def test_start_read_stop(rig: Rig) -> None:
    got = Collect()
    assert rig.scanner.health() == "offline"  # not started
    rig.scanner.start(got)
    try:
        assert rig.scanner.health() == "ok", rig.scanner.detail
        rig.send(CODE)
        (scan,) = got.wait(1, timeout=30)
        assert (scan.text, scan.complete, scan.error, scan.ok) == (CODE, True, None, True)
        assert scan.source == rig.scanner.source and scan.source.startswith(rig.scanner.backend)
    finally:
        rig.scanner.stop()
    assert rig.scanner.health() == "offline"
    rig.scanner.stop()  # idempotent


def test_a_code_cut_short_is_one_partial_scan(rig: Rig) -> None:
    if rig.send_partial is None:
        pytest.skip("a person cannot cut a scan short on demand")
    got = Collect()
    rig.scanner.start(got)
    try:
        rig.send_partial("DL2412")
        assert [(s.text, s.complete) for s in got.wait(1)] == [("DL2412", False)]  # after the silence
        rig.send(CODE)
        assert [(s.text, s.complete) for s in got.wait(2)] == [("DL2412", False), (CODE, True)]
    finally:
        rig.scanner.stop()


def test_a_listener_that_raises_is_logged_and_reading_goes_on(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    got = Collect()

    def flaky(scan: object) -> None:
        got(scan)  # type: ignore[arg-type]
        raise RuntimeError("the screen broke")

    rig.scanner.start(flaky)
    try:
        rig.send(CODE)
        rig.send(CODE)
        assert len(got.wait(2, timeout=30)) == 2
    finally:
        rig.scanner.stop()
    assert "the scan listener failed" in caplog.text
    assert CODE not in caplog.text  # the scanned text is never logged

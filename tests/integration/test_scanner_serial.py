"""A serial (USB-CDC) scanner through a real pseudo-terminal pair: the driver opens the slave path
as it would open /dev/ttyACM0; the test writes what a scanner sends on the master side."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_drivers.scanner import Scan, make_scanner
from device_drivers.scanner.serial_port import SerialScanner
from tests.utils.serial_fakes import PtyPair

pytestmark = pytest.mark.integration


class Collect:
    """The scans a scanner delivered; tests wait on it, never sleep."""

    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.cond = threading.Condition()

    def __call__(self, scan: Scan) -> None:
        with self.cond:
            self.scans.append(scan)
            self.cond.notify_all()

    def wait(self, count: int, timeout: float = 3.0) -> list[Scan]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.scans) >= count, timeout), self.scans
            return list(self.scans)


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    pair = PtyPair()
    yield pair
    pair.close()


def start(port: str, **params: object) -> tuple[SerialScanner, Collect]:
    scanner = make_scanner({"backend": "serial", "port": port, "baudrate": 115200, **params})
    assert isinstance(scanner, SerialScanner)
    got = Collect()
    scanner.start(got)
    return scanner, got


def texts(scans: list[Scan]) -> list[tuple[str, bool, str | None]]:
    return [(s.text, s.complete, s.error) for s in scans]


def test_whole_scans_with_each_suffix_style(pty_pair: PtyPair) -> None:
    scanner, got = start(pty_pair.path)
    try:
        assert scanner.health() == "ok"
        os.write(pty_pair.master, b"DL24120400017\r000.00.12.H23-241204-0003\nDL24120400018\r\n")
        scans = got.wait(3)
        assert texts(scans) == [
            ("DL24120400017", True, None),
            ("000.00.12.H23-241204-0003", True, None),
            ("DL24120400018", True, None),
        ]
        assert scans[0].source == f"serial:{pty_pair.path}"
    finally:
        scanner.stop()


def test_crlf_split_across_writes_is_one_terminator(pty_pair: PtyPair) -> None:
    scanner, got = start(pty_pair.path, suffix="crlf", timeout_ms=2000)
    try:
        for chunk in (b"DL2412", b"0400017\r", b"\nDL24120400018\r", b"\n"):
            os.write(pty_pair.master, chunk)
        assert texts(got.wait(2)) == [("DL24120400017", True, None), ("DL24120400018", True, None)]
    finally:
        scanner.stop()
    assert texts(got.scans) == texts(got.scans[:2])  # nothing more: no empty scan for the LF


def test_a_code_cut_short_is_a_partial_scan_and_the_next_reads(pty_pair: PtyPair) -> None:
    scanner, got = start(pty_pair.path, timeout_ms=50)
    try:
        os.write(pty_pair.master, b"DL2412")
        assert texts(got.wait(1)) == [("DL2412", False, None)]
        os.write(pty_pair.master, b"DL24120400017\r\n")
        assert texts(got.wait(2))[1] == ("DL24120400017", True, None)
    finally:
        scanner.stop()


def test_a_10kb_garbage_burst_is_one_error_then_it_resyncs(pty_pair: PtyPair) -> None:
    noise = bytes(b for b in os.urandom(20_000) if b not in (0x0D, 0x0A))[:10_240]
    scanner, got = start(pty_pair.path, max_length=4096, timeout_ms=2000)
    try:
        os.write(pty_pair.master, noise + b"\r\nDL24120400017\r\n")
        assert texts(got.wait(2)) == [("", True, "too_long"), ("DL24120400017", True, None)]
    finally:
        scanner.stop()


def test_invalid_utf8_is_marked_and_vietnamese_utf8_reads(pty_pair: PtyPair) -> None:
    qr = "001099012345|012345678|Nguyễn Văn An|01011990|Nam|Hà Nội|15082021"
    scanner, got = start(pty_pair.path)
    try:
        os.write(pty_pair.master, b"Nguy\xe1\xbb\r\n" + qr.encode() + b"\r\n")
        bad, good = got.wait(2)
        assert bad.error == "undecodable" and bad.text.startswith("Nguy") and "\ufffd" in bad.text
        assert not bad.ok
        assert (good.text, good.ok) == (qr, True)
    finally:
        scanner.stop()


def test_a_missing_port_is_offline_not_an_error(tmp_path: Path) -> None:
    scanner, _ = start(str(tmp_path / "ttyACM9"), poll_s=0.05)
    try:
        assert scanner.health() == "offline"
        assert "cannot open" in scanner.detail
    finally:
        scanner.stop()


def test_the_port_disappears_and_comes_back(tmp_path: Path) -> None:
    """A USB-CDC scanner pulled out and plugged in again: its /dev/serial/by-id link goes and comes
    back (here a symlink to a pseudo-terminal that is hung up, then to a new one)."""
    link = tmp_path / "usb-Honeywell_Xenon-if00"
    first = PtyPair()
    link.symlink_to(first.path)
    scanner, got = start(str(link), poll_s=0.05, timeout_ms=50)
    second: PtyPair | None = None
    try:
        os.write(first.master, b"DL24120400017\r\nDL24")
        assert texts(got.wait(1)) == [("DL24120400017", True, None)]
        link.unlink()
        os.close(first.master)  # the cable comes out: the slave side reads EIO
        assert scanner.wait_health("offline", 3)
        assert texts(got.wait(2))[1] == ("DL24", False, None)
        second = PtyPair()
        link.symlink_to(second.path)
        assert scanner.wait_health("ok", 3)
        os.write(second.master, b"DL24120400018\r\n")
        assert texts(got.wait(3))[2] == ("DL24120400018", True, None)
    finally:
        scanner.stop()
        with contextlib.suppress(OSError):
            os.close(first.slave)
        if second is not None:
            second.close()


def test_scan_test_command_prints_each_scan_from_a_serial_scanner(pty_pair: PtyPair, tmp_path: Path) -> None:
    import select
    import subprocess
    import sys

    from tests.utils.site import SITE, write_site

    devices = [dict(d) for d in SITE["devices"]]
    kiosk = next(d for d in devices if d["role"] == "kiosk")
    kiosk["scanner"] = {"backend": "serial", "port": pty_pair.path, "baudrate": 115200}
    path = write_site(tmp_path, {"devices": devices})
    argv = [sys.executable, "-m", "onestop", "kiosk", "scan-test", "--config", str(path),
            "--device", kiosk["id"]]  # fmt: skip
    proc = subprocess.Popen(
        [*argv, "--count", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stderr], [], [], 30)
        assert ready, "scan-test did not start"
        assert "reading serial:" in proc.stderr.readline()
        os.write(pty_pair.master, "DL24120400017\r\nNguyễn Văn An\r\n".encode())
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines() == [
        '#1 ok, 13 characters: "DL24120400017"',
        '#2 ok, 13 characters: "Nguyễn Văn An"',
    ]
    other = write_site(tmp_path, {"devices": [
        {**kiosk, "scanner": {"backend": "serial", "port": str(tmp_path / "ttyACM9")}},
        *[d for d in devices if d is not kiosk],
    ]}, name="absent.toml")  # fmt: skip
    r = subprocess.run([*argv[:6], str(other), *argv[7:]], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith(f"onestop kiosk: {kiosk['id']}: scanner offline: cannot open")


def test_a_second_reader_of_the_same_port_is_refused(pty_pair: PtyPair) -> None:
    first, got = start(pty_pair.path)
    second, _ = start(pty_pair.path, poll_s=5)
    try:
        assert first.health() == "ok"
        assert second.health() == "offline" and "exclusively lock" in second.detail, second.detail
        os.write(pty_pair.master, b"DL24120400017\r")
        assert texts(got.wait(1)) == [("DL24120400017", True, None)]
    finally:
        second.stop()
        first.stop()

"""``onestop kiosk scan``: one line into a running kiosk's simulated scanner's named pipe (a real FIFO
read by the real sim scanner), and a clear refusal when no kiosk reads it."""

from __future__ import annotations

import threading

import pytest

from device_drivers.scanner import Scan
from kiosk_app.ticket_kiosk.cli import scan, scan_fifo, sim_scanner
from onestop.config import SiteConfig
from onestop.errors import OnestopError


def test_a_scan_reaches_the_running_kiosks_scanner(
    site_cfg: SiteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    got: list[Scan] = []
    arrived = threading.Event()

    def on_scan(s: Scan) -> None:
        got.append(s)
        arrived.set()

    scanner = sim_scanner(site_cfg, "kiosk-1")
    scanner.start(on_scan)
    try:
        assert scan_fifo(site_cfg, "kiosk-1") == site_cfg.data_dir / "kiosk" / "kiosk-1.scan"
        assert scan(site_cfg, "kiosk-1", "Nguyễn|DL24120400017") == 0
        assert arrived.wait(5)
    finally:
        scanner.stop()
    assert [(s.text, s.ok) for s in got] == [("Nguyễn|DL24120400017", True)]
    assert capsys.readouterr().out == "scanned 20 characters at kiosk-1\n"  # the text itself is not echoed


def test_no_kiosk_reading_is_a_clear_error_not_a_hang(site_cfg: SiteConfig) -> None:
    with pytest.raises(OnestopError, match="no simulated scanner running"):
        scan(site_cfg, "kiosk-1", "DL24120400017")
    scanner = sim_scanner(site_cfg, "kiosk-1")
    scanner.start(lambda s: None)
    scanner.stop()  # the pipe stays, nobody reads it
    if scan_fifo(site_cfg, "kiosk-1").exists():
        with pytest.raises(OnestopError, match="is not running"):
            scan(site_cfg, "kiosk-1", "DL24120400017")


@pytest.mark.parametrize("text", ["", "two\nlines", "x" * 3000])
def test_bad_text_is_refused(site_cfg: SiteConfig, text: str) -> None:
    with pytest.raises(OnestopError, match="one line"):
        scan(site_cfg, "kiosk-1", text)


def test_only_kiosks(site_cfg: SiteConfig) -> None:
    with pytest.raises(OnestopError, match="not a kiosk"):
        scan(site_cfg, "counter-1", "DL24120400017")

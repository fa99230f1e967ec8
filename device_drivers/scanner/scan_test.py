"""``onestop kiosk scan-test``: print each scan of a kiosk's scanner on one line as it arrives.

For a technician setting up a scanner: is it found, grabbed, and does it send what the code holds
(US layout, suffix, UTF-8)? Scan test codes, not a citizen's card: the text is printed. Health
changes go to standard error. ``--record FILE`` (hid scanners) keeps each scan's key events in a
recording file (:mod:`device_drivers.scanner.recording`), to add to the decoder's test data.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from typing import TextIO

from device_drivers.scanner import Scan, ScannerError, make_scanner
from device_drivers.scanner.hid import HidScanner
from device_drivers.scanner.keys import InputEventLike
from device_drivers.scanner.recording import RecordedEvent, Recording, append, event_of
from onestop.config import SiteConfig
from onestop.errors import OnestopError


def shown(text: str) -> str:
    """Text on one line: control characters (a GS1 separator, a stray CR) as ``\\x1d``."""
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


def describe(n: int, scan: Scan) -> str:
    """The line printed for the n-th scan."""
    size = f"{len(scan.text)} characters"
    if scan.error == "too_long":
        return f"#{n} too long: more than the scanner's max_length, dropped"
    if scan.error == "undecodable":
        state = "unreadable (not UTF-8, an unknown key or a bad Alt code)"
    elif not scan.complete:
        state = "partial (no suffix before the timeout)"
    else:
        state = "ok"
    return f'#{n} {state}, {size}: "{shown(scan.text)}"'


def scan_test(
    cfg: SiteConfig,
    device: str,
    count: int | None = None,
    record: str | None = None,
    wait: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Read scans until ``count`` (or Ctrl-C); 0 when done, :class:`OnestopError` when the scanner
    cannot be used (no table, a bad one, absent without ``wait``, grabbed by another process)."""
    if device not in {d.id for d in cfg.devices}:
        raise OnestopError(f"--device {device}: no such device in {cfg.source}")
    dev = cfg.device(device)
    if dev.role != "kiosk":
        raise OnestopError(f"--device {device}: it is a {dev.role} device, not a kiosk")
    table = dev.scanner
    if table is None:
        raise OnestopError(f"{device} has no scanner table in {cfg.source} (docs/configuration.md)")
    try:
        scanner = make_scanner(table)
    except ScannerError as exc:
        raise OnestopError(f"{device}: {exc}") from None
    scans: queue.Queue[Scan] = queue.Queue()
    taped: list[RecordedEvent] = []
    recordings: list[Recording] = []
    hid: HidScanner | None = None
    if record is not None:
        if not isinstance(scanner, HidScanner):
            raise OnestopError("--record: only hid scanners send key events")
        hid = scanner

        def tap(event: InputEventLike) -> None:
            taped.append(event_of(event))

        scanner.tap = tap

    def on_scan(scan: Scan) -> None:
        if hid is not None:
            events: list[RecordedEvent | None] = list(taped)
            taped.clear()
            settings = {"suffix": hid.params.suffix, "alt_codes": hid.params.alt_codes}
            recordings.append(
                Recording(
                    f"scan-{len(recordings) + 1}",
                    events,
                    scan.text if scan.complete else None,
                    scan.complete,
                    scanner.source,
                    settings,
                )
            )
        scans.put(scan)

    reading = threading.Event()  # health changes are told once reading, after the first state

    def on_health(state: str, detail: str) -> None:
        if reading.is_set():
            print(f"scanner {state}: {detail}", file=err, flush=True)

    log = logging.getLogger("device_drivers.scanner")
    level = log.level
    log.setLevel(logging.ERROR)  # this tool tells health changes itself, on one line each
    try:
        scanner.start(on_scan, on_health)
    except ScannerError as exc:
        log.setLevel(level)
        raise OnestopError(f"{device}: {exc}") from None
    n = 0
    try:
        state = scanner.health()
        if state == "error" or (state == "offline" and not wait):
            raise OnestopError(f"{device}: scanner {state}: {scanner.detail}")
        print(f"{device}: reading {scanner.source} ({scanner.detail}); scan a code (Ctrl-C ends)",
              file=err, flush=True)  # fmt: skip
        reading.set()
        while count is None or n < count:
            try:
                scan = scans.get(timeout=0.5)
            except queue.Empty:
                continue
            n += 1
            print(describe(n, scan), file=out, flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        reading.clear()
        scanner.stop()
        log.setLevel(level)
        if record is not None and recordings:
            for rec in recordings:
                append(record, rec)
            print(f"recorded {len(recordings)} scan(s) to {record}", file=err)
    return 0

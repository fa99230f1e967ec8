"""Real-time printer status (ESC/POS ``DLE EOT n``): the byte decoding (pure) and the query sequence.

python-escpos 3.1's ``is_online()``/``paper_status()`` are wrong, so the suite reads status itself:

====  ==========================  =====================================================================
n     reply byte                  bits used (fixed: bits 0, 7 off and 1, 4 on, ``b & 0x93 == 0x12``)
====  ==========================  =====================================================================
1     printer status              bit 3: offline
2     offline cause               bit 2: cover open; bit 3: paper fed by the feed button;
                                  bit 5: printing stopped by paper end; bit 6: an error occurred
3     error cause                 bit 3: autocutter error; bit 5: unrecoverable; bit 6: auto-recoverable
4     roll paper sensor           bits 2-3: paper near end; bits 5-6: paper end
====  ==========================  =====================================================================

States, most severe first: ``error`` > ``paper_out`` > ``offline`` > ``paper_low`` > ``ok``; the
detail lists every finding. No answer to ``DLE EOT 1`` within the timeout means ``offline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

State = Literal["ok", "paper_low", "paper_out", "offline", "error"]
#: Every state, least severe first (the kiosk health message uses these strings, ARCHITECTURE.md §3).
STATES: tuple[State, ...] = ("ok", "paper_low", "offline", "paper_out", "error")

DLE_EOT = b"\x10\x04"
FIXED_MASK = 0x93
FIXED_VALUE = 0x12

# n = 1
OFFLINE = 0x08
# n = 2
COVER_OPEN = 0x04
FEED_BUTTON = 0x08
PAPER_END_STOP = 0x20
ERROR_OCCURRED = 0x40
# n = 3
CUTTER_ERROR = 0x08
UNRECOVERABLE = 0x20
AUTO_RECOVERABLE = 0x40
# n = 4
NEAR_END = 0x0C
PAPER_END = 0x60


@dataclass(frozen=True)
class PrinterStatus:
    """What the printer says about itself: a state and a human-readable detail."""

    state: State
    detail: str = ""
    #: False when the backend cannot read status (a write-only file): ``state`` is then an assumption.
    known: bool = True

    @property
    def ready(self) -> bool:
        """True when a ticket can be printed now (``ok`` or ``paper_low``)."""
        return self.state in ("ok", "paper_low")


def status_request(n: int) -> bytes:
    """The bytes of ``DLE EOT n`` (n = 1..4)."""
    if n not in (1, 2, 3, 4):
        raise ValueError(f"DLE EOT n takes n = 1..4, got {n}")
    return DLE_EOT + bytes((n,))


def valid_status_byte(b: int) -> bool:
    """True when a reply byte has the fixed bits every DLE EOT reply has."""
    return 0 <= b <= 0xFF and b & FIXED_MASK == FIXED_VALUE


def decode_status(
    printer: int | None,
    offline_cause: int | None = None,
    error_cause: int | None = None,
    paper: int | None = None,
) -> PrinterStatus:
    """Map the reply bytes of ``DLE EOT`` 1-4 (``None``: not asked or not answered) to a status."""
    if printer is None:
        return PrinterStatus("offline", "no answer to the status request (powered off, cable, wrong port?)")
    found: list[tuple[State, str]] = []
    for n, b in ((1, printer), (2, offline_cause), (3, error_cause), (4, paper)):
        if b is not None and not valid_status_byte(b):
            found.append(("error", f"unexpected reply 0x{b:02x} to status request {n}"))
    if valid_status_byte(printer) and printer & OFFLINE:
        causes = len(found)
        if offline_cause is not None and valid_status_byte(offline_cause):
            if offline_cause & COVER_OPEN:
                found.append(("offline", "cover open"))
            if offline_cause & FEED_BUTTON:
                found.append(("offline", "paper being fed with the feed button"))
            if offline_cause & PAPER_END_STOP:
                found.append(("paper_out", "printing stopped: paper end"))
            if offline_cause & ERROR_OCCURRED:
                errs = len(found)
                if error_cause is not None and valid_status_byte(error_cause):
                    if error_cause & CUTTER_ERROR:
                        found.append(("error", "autocutter error (paper jam?)"))
                    if error_cause & UNRECOVERABLE:
                        found.append(("error", "unrecoverable error"))
                    if error_cause & AUTO_RECOVERABLE:
                        found.append(("error", "auto-recoverable error (print head too hot?)"))
                if len(found) == errs:
                    found.append(("error", "printer error (cause not reported)"))
        if len(found) == causes:
            found.append(("offline", "printer is offline"))
    if paper is not None and valid_status_byte(paper):
        if paper & PAPER_END:
            found.append(("paper_out", "roll paper end"))
        elif paper & NEAR_END:
            found.append(("paper_low", "roll paper near end"))
    if not found:
        return PrinterStatus("ok")
    found.sort(key=lambda f: -STATES.index(f[0]))
    details: list[str] = []
    for _, d in found:
        if d not in details:
            details.append(d)
    return PrinterStatus(found[0][0], "; ".join(details))


class StatusChannel(Protocol):
    """The part of a transport the status query needs."""

    def write(self, data: bytes) -> None:
        """Send bytes to the printer."""
        ...

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes from the printer; ``b""`` when nothing came within ``timeout`` seconds."""
        ...

    def drain(self) -> None:
        """Discard whatever the printer sent and nobody read (late replies)."""
        ...


def _ask(channel: StatusChannel, n: int, timeout: float) -> int | None:
    channel.write(status_request(n))
    reply = channel.read(1, timeout)
    return reply[0] if reply else None


def query_status(channel: StatusChannel, timeout: float) -> PrinterStatus:
    """Ask ``DLE EOT`` 1, then 2 when offline, 3 when 2 reports an error, and 4; decode the answers.

    Raises :class:`OSError` when the connection itself fails (the caller decides what that means).
    """
    channel.drain()
    printer = _ask(channel, 1, timeout)
    if printer is None:
        return decode_status(None)
    offline_cause = error_cause = None
    if valid_status_byte(printer) and printer & OFFLINE:
        offline_cause = _ask(channel, 2, timeout)
        if offline_cause is not None and valid_status_byte(offline_cause) and offline_cause & ERROR_OCCURRED:
            error_cause = _ask(channel, 3, timeout)
    paper = _ask(channel, 4, timeout)
    status = decode_status(printer, offline_cause, error_cause, paper)
    if paper is None and status.state == "ok":
        return PrinterStatus("ok", "no answer to the paper sensor request")
    return status

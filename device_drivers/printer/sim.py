"""The simulated printer (``backend = "sim"``) and the byte-level fake behind it and the socket/pty fakes.

Two faces (STYLE.md §3). The driver face is the ordinary :class:`~device_drivers.printer.base.Printer`
returned by ``open_printer({"backend": "sim"})``: it talks ESC/POS to a :class:`FakePrinter` through
:class:`SimTransport`, exactly as it talks to a real printer, status requests included. The test face is
:class:`FakePrinter` itself (``printer.fake``): ``jobs``, ``set_paper()``, ``set_cover_open()``,
``set_offline()``, ``set_error()``, ``reset()``, ``wait_for_jobs()``.

Like a real printer, the fake answers ``DLE EOT n`` while it cannot print; unlike a real printer, it
*drops* print data received while it cannot print (counted in ``rejected``) instead of printing it later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from PIL import Image

from device_drivers.printer import status as st
from device_drivers.printer.codec import Command, EscPosParser
from device_drivers.printer.driver import EscPosPrinter
from device_drivers.printer.profiles import PrinterProfile

Paper = Literal["ok", "near_end", "out"]
ErrorKind = Literal["cutter", "unrecoverable", "auto_recoverable"]


@dataclass
class Job:
    """One ticket as it came out of the (simulated) printer."""

    raw: bytes
    image: Image.Image | None
    cut: bool
    feed_lines: int
    time: datetime
    commands: list[Command] = field(default_factory=list, repr=False)
    #: True when the paper ran out in the middle: ``image`` holds the rows that were printed.
    partial: bool = False


class FakePrinter:
    """A byte-level ESC/POS printer model: parses what it receives and answers status requests.

    Thread-safe: a socket or pty server feeds it from its own thread while a test reads ``jobs``.
    """

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Condition()
        self.reset()

    # -- test face ---------------------------------------------------------------------------
    def reset(self) -> None:
        """Back to a healthy printer with paper and no history."""
        with self._lock:
            self.paper: Paper = "ok"
            self.cover_open = False
            self.offline = False
            self.error: ErrorKind | None = None
            self.paper_left: int | None = None
            self._jobs: list[Job] = []
            self.received = bytearray()
            self.status_requests: list[int] = []
            self.unknown = bytearray()
            self.rejected = 0
            self._parser = EscPosParser()
            self._start_job()
            self._lock.notify_all()

    def set_paper(self, paper: Paper) -> None:
        """Paper roll state: ``ok``, ``near_end`` (prints, reports low) or ``out`` (refuses)."""
        if paper not in ("ok", "near_end", "out"):
            raise ValueError(f"paper is 'ok', 'near_end' or 'out', got {paper!r}")
        with self._lock:
            self.paper = paper

    def set_paper_left(self, rows: int | None) -> None:
        """Let the roll run out after ``rows`` more printed rows (``None``: an endless roll)."""
        with self._lock:
            self.paper_left = rows

    def set_cover_open(self, is_open: bool) -> None:
        """Open or close the cover (an open cover makes the printer go offline)."""
        with self._lock:
            self.cover_open = is_open

    def set_offline(self, offline: bool) -> None:
        """Power off or unplug: no answer to anything, nothing printed."""
        with self._lock:
            self.offline = offline

    def set_error(self, error: ErrorKind | None) -> None:
        """Raise (or clear with ``None``) an error: cutter, unrecoverable or auto-recoverable."""
        with self._lock:
            self.error = error

    @property
    def jobs(self) -> list[Job]:
        """The jobs printed so far (a copy)."""
        with self._lock:
            return list(self._jobs)

    def wait_for_jobs(self, count: int, timeout: float = 5.0) -> list[Job]:
        """Wait until at least ``count`` jobs are printed; ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._jobs) >= count, timeout):
                raise TimeoutError(f"expected {count} job(s) within {timeout} s, got {len(self._jobs)}")
            return list(self._jobs)

    def wait_for_received(self, nbytes: int, timeout: float = 5.0) -> bytes:
        """Wait until at least ``nbytes`` bytes arrived; ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self.received) >= nbytes, timeout):
                raise TimeoutError(f"expected {nbytes} byte(s) within {timeout} s, got {len(self.received)}")
            return bytes(self.received)

    def end_job(self) -> None:
        """Finish the job in progress (a connection closed, or a job without a cut)."""
        with self._lock:
            self._finish(cut=False)

    # -- device face -------------------------------------------------------------------------
    @property
    def can_print(self) -> bool:
        """True when the mechanism would print (not offline, cover closed, paper, no error)."""
        return not (self.offline or self.cover_open or self.paper == "out" or self.error)

    def status_byte(self, n: int) -> int:
        """The reply this printer gives to ``DLE EOT n`` right now."""
        b = st.FIXED_VALUE
        if n == 1 and (self.cover_open or self.paper == "out" or self.error):
            b |= st.OFFLINE
        elif n == 2:
            b |= st.COVER_OPEN if self.cover_open else 0
            b |= st.PAPER_END_STOP if self.paper == "out" else 0
            b |= st.ERROR_OCCURRED if self.error else 0
        elif n == 3:
            b |= {None: 0, "cutter": st.CUTTER_ERROR, "unrecoverable": st.UNRECOVERABLE}.get(
                self.error, st.AUTO_RECOVERABLE
            )
        elif n == 4:
            b |= {"ok": 0, "near_end": st.NEAR_END, "out": st.NEAR_END | st.PAPER_END}[self.paper]
        return b

    def handle(self, data: bytes) -> bytes:
        """Receive bytes from the host; return the bytes the printer sends back."""
        with self._lock:
            if self.offline:
                return b""
            self.received += data
            reply = bytearray()
            for cmd in self._parser.feed(data):
                if cmd.name == "status":
                    self.status_requests.append(cmd.arg)
                    if cmd.arg in (1, 2, 3, 4):
                        reply.append(self.status_byte(cmd.arg))
                    continue
                if not self.can_print and cmd.name in ("raster", "feed", "feed_dots", "lf", "cut"):
                    self.rejected += cmd.name == "raster"
                    continue
                if cmd.name == "init" and self._rows:
                    self._finish(cut=False)
                self._job_raw += cmd.raw
                self._job_cmds.append(cmd)
                if cmd.name == "raster" and cmd.image is not None:
                    self._print_rows(cmd.image)
                elif cmd.name == "feed":
                    self._feed += cmd.arg
                elif cmd.name == "unknown":
                    self.unknown += cmd.raw
                elif cmd.name == "cut":
                    self._finish(cut=True)
            self._lock.notify_all()
            return bytes(reply)

    # -- internals ---------------------------------------------------------------------------
    def _start_job(self) -> None:
        self._rows: list[Image.Image] = []
        self._feed = 0
        self._job_raw = bytearray()
        self._job_cmds: list[Command] = []

    def _print_rows(self, image: Image.Image) -> None:
        if self.paper_left is None or image.height <= self.paper_left:
            self._rows.append(image)
            if self.paper_left is not None:
                self.paper_left -= image.height
            return
        self._rows.append(image.crop((0, 0, image.width, self.paper_left)))
        self.paper_left = None
        self.paper = "out"
        self._finish(cut=False, partial=True)

    def _finish(self, *, cut: bool, partial: bool = False) -> None:
        if self._rows or cut:
            image = _stack(self._rows)
            job = Job(bytes(self._job_raw), image, cut, self._feed, self._clock(), self._job_cmds, partial)
            self._jobs.append(job)
            self._lock.notify_all()
        self._start_job()


def _stack(rows: list[Image.Image]) -> Image.Image | None:
    """Raster blocks one under the other, as they come out of the printer."""
    if not rows:
        return None
    width = max(r.width for r in rows)
    out = Image.new("1", (width, sum(r.height for r in rows)), 255)
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    return out


class SimTransport:
    """The in-process link between the driver and a :class:`FakePrinter` (replies are immediate)."""

    can_read = True

    def __init__(self, fake: FakePrinter) -> None:
        self.fake = fake
        self._inbox = bytearray()
        self._closed = False

    def write(self, data: bytes) -> None:
        """Hand bytes to the fake printer and keep its reply for :meth:`read`."""
        if self._closed:
            raise ConnectionError("simulated printer connection is closed")
        self._inbox += self.fake.handle(data)

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` reply bytes; ``b""`` at once when the fake said nothing (it never will later)."""
        out = bytes(self._inbox[:n])
        del self._inbox[:n]
        return out

    def drain(self) -> None:
        """Forget unread replies."""
        self._inbox.clear()

    def close(self) -> None:
        """Close the link; a job without a cut is finished, as when a real connection closes."""
        if not self._closed:
            self._closed = True
            self.fake.end_job()


class SimPrinter(EscPosPrinter):
    """The ``sim`` backend: the real driver over :class:`SimTransport`; ``fake`` is the test face."""

    def __init__(
        self, profile: PrinterProfile, fake: FakePrinter | None = None, *, status_timeout_s: float = 0.5
    ) -> None:
        #: The simulated printer behind this driver (the test face; the driver never reads it).
        self.fake = fake or FakePrinter()
        fake_printer = self.fake
        super().__init__(
            "sim", profile, lambda: SimTransport(fake_printer), status_timeout_s=status_timeout_s
        )

"""The simulated scanner (``backend = "sim"``, always available), with two faces.

- The driver face is :class:`SimScanner`, the :class:`Scanner` interface itself.
- The test face is on the same object but used only by tests and the demo: :meth:`SimScanner.feed`
  (a whole code), :meth:`~SimScanner.feed_partial`, :meth:`~SimScanner.feed_bytes` (raw bytes
  through the serial framer: garbage, invalid UTF-8, a code without its suffix),
  :meth:`~SimScanner.feed_events` (key events through the HID decoder), :meth:`~SimScanner.garbage`,
  :meth:`~SimScanner.unplug` / :meth:`~SimScanner.plug`, a timestamped :attr:`~SimScanner.history`
  and :meth:`~SimScanner.reset`. The driver never reads them back.

Scanners with the same ``name`` are one scanner (:func:`sim_scanner` finds it), so a test can feed
the scanner that a kiosk opened itself. With ``fifo``, lines written to that named pipe are
scanned (``echo DL24120400017 > /run/onestop/kiosk-01.scan``): how ``onestop up`` or a technician
feeds a kiosk in another process.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import stat
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from device_drivers.scanner.base import Scan, Scanner
from device_drivers.scanner.framing import ByteFramer
from device_drivers.scanner.keys import InputEventLike, KeyDecoder
from device_drivers.scanner.params import SimParams

HISTORY = 100


@dataclass(frozen=True)
class Fed:
    """One scan the simulator produced, and when (``time.monotonic()``)."""

    at: float
    scan: Scan


class SimScanner(Scanner):
    """A scanner in memory, fed by code."""

    backend = "sim"

    def __init__(self, params: SimParams | None = None) -> None:
        super().__init__()
        self.params = params or SimParams(backend="sim")
        self.framer = ByteFramer(
            self.source, self.params.suffix, self.params.timeout_s, self.params.max_length
        )
        self.decoder = KeyDecoder(
            self.source, timeout_s=self.params.timeout_s, max_length=self.params.max_length
        )
        #: The last scans delivered (bounded: a demo running all day keeps no more than this).
        self.history: deque[Fed] = deque(maxlen=HISTORY)
        self.running = False
        self._plugged = True
        self._lock = threading.RLock()
        self._fifo_thread: threading.Thread | None = None
        self._fifo_wake = (-1, -1)

    @property
    def source(self) -> str:
        return f"sim:{self.params.name}" if self.params.name else "sim"

    # -- driver face ---------------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            self.running = True
            self._set_health("ok" if self._plugged else "offline", "simulated")
        fd = self._open_fifo(self.params.fifo) if self.params.fifo and self._fifo_thread is None else None
        if fd is not None:
            self._fifo_wake = os.pipe()
            self._fifo_thread = threading.Thread(
                target=self._read_fifo, args=(fd,), name="scanner-sim-fifo", daemon=True
            )
            self._fifo_thread.start()

    def _stop(self) -> None:
        with self._lock:
            self.running = False
        if self._fifo_thread is not None:
            os.write(self._fifo_wake[1], b"x")
            self._fifo_thread.join(2)
            self._fifo_thread = None
            for fd in self._fifo_wake:
                os.close(fd)
        self._set_health("offline", "stopped")

    # -- test face -----------------------------------------------------------------------------
    def feed(self, text: str, complete: bool = True) -> Scan:
        """Scan ``text`` as one whole code (or one cut short)."""
        return self._deliver(Scan(text, complete, self.source))

    def feed_partial(self, text: str) -> Scan:
        """A code the scanner stopped sending half-way (no suffix, then silence)."""
        return self.feed(text, complete=False)

    def feed_bytes(self, data: bytes, idle: bool = True) -> list[Scan]:
        """Raw bytes as a serial scanner sends them, through the same framer as the serial backend;
        with ``idle``, then the silence that ends a code without its suffix."""
        now = time.monotonic()
        scans = self.framer.feed(data, now)
        if idle:
            tail = self.framer.idle(float("inf"))
            scans += [tail] if tail is not None else []
        for scan in scans:
            self._deliver(scan)
        return scans

    def feed_events(self, events: Iterable[InputEventLike | None]) -> list[Scan]:
        """Key events (``None``: silence) through the same decoder as the hid backend."""
        from device_drivers.scanner.hid import decode_events

        scans: list[Scan] = []
        decode_events(events, self.decoder, scans.append)
        for scan in scans:
            self._deliver(scan)
        return scans

    def garbage(self, size: int = 10_000, seed: int = 0, suffix: bytes = b"\r\n") -> list[Scan]:
        """A burst of ``size`` random bytes without CR or LF (a misconfigured scanner, line noise),
        then ``suffix``: one ``too_long`` scan when it is longer than ``max_length``, else one
        ``undecodable`` one (or, by chance, one that decodes)."""
        rng = random.Random(seed)
        noise = bytes(b for b in rng.randbytes(size * 2) if b not in (0x0D, 0x0A))[:size]
        return self.feed_bytes(noise + suffix)

    def unplug(self) -> None:
        """The scanner goes away: health ``offline``, nothing is delivered."""
        with self._lock:
            self._plugged = False
            if self.running:
                self._set_health("offline", "simulated: unplugged")

    def plug(self) -> None:
        """The scanner is back."""
        with self._lock:
            self._plugged = True
            if self.running:
                self._set_health("ok", "simulated")

    def reset(self) -> None:
        """Forget the history and any half-fed code."""
        with self._lock:
            self.history.clear()
            self.framer.reset()
            self.decoder.reset()

    def _deliver(self, scan: Scan) -> Scan:
        with self._lock:
            if not (self.running and self._plugged):
                return scan
            self.history.append(Fed(time.monotonic(), scan))
        self._emit(scan)
        return scan

    # -- the named pipe ------------------------------------------------------------------------
    def _open_fifo(self, path: str) -> int | None:
        """The named pipe, made when missing, open for reading; None (health ``error``) if it cannot be."""
        try:
            if not os.path.exists(path):
                os.mkfifo(path, 0o600)
            elif not stat.S_ISFIFO(os.stat(path).st_mode):
                self._set_health("error", f"{path} exists and is not a named pipe")
                return None
            # read-write: this process is a writer too, so the pipe never reads end-of-file when
            # a writer (echo) closes, and select() waits instead of spinning
            return os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            self._set_health("error", f"cannot use the named pipe {path}: {exc.strerror}")
            return None

    def _read_fifo(self, fd: int) -> None:
        framer = ByteFramer(self.source, self.params.suffix, self.params.timeout_s, self.params.max_length)
        try:
            while True:
                wait = self.params.timeout_s if framer.pending else None
                ready, _, _ = select.select([fd, self._fifo_wake[0]], [], [], wait)
                if self._fifo_wake[0] in ready:
                    return
                if fd in ready:
                    with contextlib.suppress(BlockingIOError):
                        for scan in framer.feed(os.read(fd, 4096), time.monotonic()):
                            self._deliver(scan)
                    continue
                tail = framer.idle(time.monotonic())  # written without a newline (printf): whole
                if tail is not None:
                    self._deliver(Scan(tail.text, True, tail.source, tail.error))
        finally:
            os.close(fd)


_named: dict[str, SimScanner] = {}
_named_lock = threading.Lock()


def make_sim(params: SimParams) -> SimScanner:
    """The sim scanner of these parameters: the same object for the same non-empty ``name``."""
    if not params.name:
        return SimScanner(params)
    with _named_lock:
        scanner = _named.get(params.name)
        if scanner is None:
            scanner = _named[params.name] = SimScanner(params)
        return scanner


def sim_scanner(name: str) -> SimScanner:
    """The named sim scanner (the test face of a scanner a kiosk opened itself); KeyError if none."""
    with _named_lock:
        return _named[name]


def reset_sim_scanners() -> None:
    """Forget every named sim scanner (between tests)."""
    with _named_lock:
        _named.clear()

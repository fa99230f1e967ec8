"""The scanner interface every backend implements (the driver face the kiosk uses), and :class:`Scan`.

A scan is one event with the decoded text. Backends read in their own thread and call ``on_scan``
there; a listener that raises is logged and the scanner keeps reading. ``health()`` says whether
the scanner is there: ``ok``, ``offline`` (unplugged, not found: it is looked for again every
``poll_s``) or ``error`` (present but unusable, e.g. grabbed by another process).
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)

Health = Literal["ok", "offline", "error"]
HEALTH_STATES: tuple[Health, ...] = ("ok", "offline", "error")

#: ``Scan.error`` values: something in the code could not be turned into text (invalid UTF-8, an
#: unknown key, a bad Alt code: the text holds U+FFFD where it was), or the code was longer than
#: ``max_length`` (the text is empty).
ScanError = Literal["undecodable", "too_long"]


@dataclass(frozen=True)
class Scan:
    """One decoded scan.

    ``complete`` is False when the scanner stopped mid-code (no terminator before the inter-key or
    inter-byte timeout): the screen asks to scan again ("quét lại"). ``error`` is set when the code
    was read but cannot be trusted (see :data:`ScanError`). ``source`` names the backend and its
    device, e.g. ``serial:/dev/ttyACM0``."""

    text: str
    complete: bool
    source: str
    error: ScanError | None = None

    @property
    def ok(self) -> bool:
        """True when the text is whole and decoded: the only scans worth classifying."""
        return self.complete and self.error is None


ScanListener = Callable[[Scan], None]
HealthListener = Callable[[str, str], None]


def normalise(text: str) -> str:
    """Scanned text as the suite keeps text: NFC (a QR may hold decomposed Vietnamese)."""
    return unicodedata.normalize("NFC", text)


class Scanner(ABC):
    """A source of scans: ``start(on_scan)`` begins reading, ``stop()`` ends it, ``health()`` tells."""

    #: The backend name (``hid``, ``serial``, ``sim``).
    backend: str = ""

    def __init__(self) -> None:
        self._on_scan: ScanListener | None = None
        self._on_health: HealthListener | None = None
        self._health: Health = "offline"
        self._detail = "not started"
        self._cond = threading.Condition()

    @property
    def source(self) -> str:
        """What :attr:`Scan.source` says for this scanner."""
        return self.backend

    # -- the interface ------------------------------------------------------------------------
    def start(self, on_scan: ScanListener, on_health: HealthListener | None = None) -> None:
        """Start reading; ``on_scan`` (and ``on_health(state, detail)``) are called from the
        backend's thread. A scanner that is not there yet is not an error: health says
        ``offline`` and it is looked for again until :meth:`stop`."""
        self._on_scan = on_scan
        self._on_health = on_health
        self._start()

    def stop(self) -> None:
        """Stop reading and release the device (idempotent)."""
        self._stop()
        self._on_scan = None
        self._on_health = None

    def health(self) -> str:
        """``ok``, ``offline`` or ``error``."""
        with self._cond:
            return self._health

    @property
    def detail(self) -> str:
        """Why the health is what it is, in one line (for the device's health message and logs)."""
        with self._cond:
            return self._detail

    def wait_health(self, state: str, timeout: float = 2.0) -> bool:
        """Wait until :meth:`health` is ``state``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._health == state, timeout)

    # -- for backends -------------------------------------------------------------------------
    def _set_health(self, state: Health, detail: str) -> None:
        with self._cond:
            changed = (state, detail) != (self._health, self._detail)
            self._health, self._detail = state, detail
            self._cond.notify_all()
        if not changed:
            return
        (log.info if state == "ok" else log.warning)("scanner %s: %s (%s)", self.source, state, detail)
        listener = self._on_health
        if listener is not None:
            try:
                listener(state, detail)
            except Exception:
                log.exception("scanner %s: the health listener failed", self.source)

    def _emit(self, scan: Scan) -> None:
        listener = self._on_scan
        if listener is None:
            return
        try:
            listener(scan)
        except Exception:  # the screen's problem, not the scanner's: keep reading
            log.exception("scanner %s: the scan listener failed", self.source)

    @abstractmethod
    def _start(self) -> None: ...

    @abstractmethod
    def _stop(self) -> None: ...

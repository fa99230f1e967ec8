"""The one ESC/POS printer driver, over any :class:`~device_drivers.printer.transports.Transport`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PIL import Image

from device_drivers.printer.base import Printer
from device_drivers.printer.codec import encode_job
from device_drivers.printer.errors import PaperOut, PrinterError, PrinterIOError, PrinterNotReady
from device_drivers.printer.profiles import PrinterProfile
from device_drivers.printer.status import PrinterStatus, query_status
from device_drivers.printer.transports import Transport

log = logging.getLogger(__name__)


class EscPosPrinter(Printer):
    """Prints raster jobs and reads ``DLE EOT`` status over a transport made by ``connect``.

    Printing checks the status first and refuses (:class:`PaperOut`, :class:`PrinterNotReady`) without
    sending anything when the printer cannot print; after sending, it checks again and raises with
    ``incomplete = True`` when the paper ran out or an error came up meanwhile. A connection that broke
    (a network printer dropping an idle connection) is re-opened once, with a log line, when the status
    is read; a failure while sending is never retried (that could print half a ticket twice).
    """

    def __init__(
        self,
        backend: str,
        profile: PrinterProfile,
        connect: Callable[[], Transport],
        *,
        status_timeout_s: float = 0.5,
    ) -> None:
        self.backend = backend
        self.profile = profile
        self._connect = connect
        self._status_timeout_s = status_timeout_s
        self._transport: Transport | None = None
        self._opened = False

    @property
    def transport(self) -> Transport | None:
        """The current connection (``None`` while closed)."""
        return self._transport

    @property
    def supports_status(self) -> bool:
        """True unless the connection is write-only."""
        return self._transport is None or self._transport.can_read

    def open(self) -> None:
        """Connect; :class:`PrinterNotFound` when the printer is absent."""
        if self._transport is None:
            self._transport = self._connect()
        self._opened = True
        if not self.profile.has_cutter:
            log.info(
                "printer profile %s has no cutter: tickets are fed out to be torn off", self.profile.name
            )

    def close(self) -> None:
        """Disconnect (idempotent)."""
        self._opened = False
        self._drop()

    def _drop(self) -> None:
        if self._transport is not None:
            transport, self._transport = self._transport, None
            try:
                transport.close()
            except OSError as exc:
                log.debug("closing printer connection: %s", exc)

    def _link(self) -> Transport:
        if not self._opened:
            raise PrinterError(f"{self.backend} printer is not open (call open() first)")
        if self._transport is None:
            log.warning("%s printer: connection was lost, reconnecting", self.backend)
            self._transport = self._connect()
        return self._transport

    def status(self) -> PrinterStatus:
        """Read ``DLE EOT`` status; ``offline`` when the printer is unreachable or silent."""
        for attempt in (1, 2):
            try:
                link = self._link()
            except PrinterError as exc:
                if not self._opened:
                    raise
                return PrinterStatus("offline", str(exc))
            if not link.can_read:
                return PrinterStatus(
                    "ok", f"status is not readable on this {self.backend} printer", known=False
                )
            try:
                return query_status(link, self._status_timeout_s)
            except OSError as exc:
                self._drop()
                if attempt == 2:
                    return PrinterStatus("offline", f"connection lost: {exc}")
                log.warning("%s printer: status request failed (%s), reconnecting", self.backend, exc)
        raise AssertionError("unreachable")

    def print_image(self, img: Image.Image, *, cut: bool = True) -> None:
        """Print one job; see the class documentation for what is raised when."""
        data = encode_job(img, self.profile, cut=cut)
        before = self.status()
        self._refuse_unless_ready(before)
        link = self._link()
        try:
            link.write(data)
        except OSError as exc:
            self._drop()
            raise PrinterIOError(f"{self.backend} printer: connection failed while printing: {exc}") from exc
        if link.can_read:
            after = self.status()
            if not after.ready:
                err = self._refusal(after)
                err.incomplete = True
                raise err

    def _refuse_unless_ready(self, status: PrinterStatus) -> None:
        if not status.ready:
            raise self._refusal(status)

    @staticmethod
    def _refusal(status: PrinterStatus) -> PrinterNotReady:
        if status.state == "paper_out":
            return PaperOut(status, f"printer is out of paper ({status.detail})")
        return PrinterNotReady(status)

"""Printer errors: one root (:class:`PrinterError`), each specific error also a matching built-in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from onestop.errors import OnestopError

if TYPE_CHECKING:
    from device_drivers.printer.status import PrinterStatus


class PrinterError(OnestopError):
    """Root of every error the printer drivers raise on purpose."""


class PrinterConfigError(PrinterError, ValueError):
    """A printer table in site.toml that cannot be used: unknown backend or profile, bad parameters."""


class BackendUnavailable(PrinterError, ImportError):
    """The backend needs an optional library that is not installed (e.g. pyusb for ``usb``)."""


class PrinterNotFound(PrinterError, OSError):
    """The printer cannot be reached when it is opened: no such device, port or host."""


class PrinterIOError(PrinterError, OSError):
    """The connection failed while talking to an open printer; part of a ticket may have been printed."""


class ImageTooWide(PrinterError, ValueError):
    """The image is wider than the printer's print width."""


class PrinterNotReady(PrinterError):
    """The printer reported that it cannot print (offline, cover open, error); nothing was sent."""

    def __init__(self, status: PrinterStatus, message: str | None = None) -> None:
        self.status = status
        #: True when the problem was found *after* the job was sent: the ticket may be incomplete.
        self.incomplete = False
        super().__init__(message or f"printer not ready: {status.state} ({status.detail})")


class PaperOut(PrinterNotReady):
    """The printer is out of paper. Raised before sending (nothing printed) or, with ``incomplete``
    set, when the paper ran out while the ticket was being sent."""

"""The printer interface every backend implements (the driver face the kiosk uses)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self

from PIL import Image

from device_drivers.printer.profiles import PrinterProfile
from device_drivers.printer.status import PrinterStatus


class Printer(ABC):
    """A receipt printer: open it, ask its status, print raster images, close it."""

    #: The backend name it was opened with (``usb``, ``serial``, ``network``, ``file``, ``sim``).
    backend: str
    profile: PrinterProfile

    @abstractmethod
    def open(self) -> None:
        """Connect; :class:`~device_drivers.printer.errors.PrinterNotFound` when the printer is absent."""

    @abstractmethod
    def close(self) -> None:
        """Disconnect (idempotent)."""

    @abstractmethod
    def status(self) -> PrinterStatus:
        """Ask the printer how it is; never raises for a missing or silent printer (that is ``offline``)."""

    @abstractmethod
    def print_image(self, img: Image.Image, *, cut: bool = True) -> None:
        """Print an image at most the profile's width wide (narrower images are centred).

        Raises :class:`~device_drivers.printer.errors.PaperOut` or
        :class:`~device_drivers.printer.errors.PrinterNotReady` when the printer says it cannot print
        (nothing is sent), :class:`~device_drivers.printer.errors.PrinterIOError` when the connection fails.
        """

    @property
    def supports_status(self) -> bool:
        """True when :meth:`status` reads the printer; False when it can only assume (write-only file)."""
        return True

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

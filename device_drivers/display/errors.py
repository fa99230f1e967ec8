"""Errors of the LED display drivers: one root, each specific error also a matching built-in."""

from __future__ import annotations

from onestop.errors import OnestopError


class DisplayError(OnestopError):
    """Root of every error an LED display driver raises on purpose."""


class DisplayConfigError(DisplayError, ValueError):
    """A display table in ``site.toml`` that cannot be used (unknown backend, bad parameter)."""


class DisplayIOError(DisplayError, OSError):
    """The link to the display failed (write error, adapter unplugged)."""


class DisplayNotFound(DisplayIOError):
    """The display's port cannot be opened (missing, unplugged, no permission)."""


class DisplayTimeout(DisplayError, TimeoutError):
    """The display did not answer in time; the driver stays usable."""


class DisplayProtocolError(DisplayError, ValueError):
    """The display answered something the protocol does not allow."""


class DisplayCrcError(DisplayProtocolError):
    """An answer whose CRC (or checksum) does not match its bytes."""


class ModbusExceptionError(DisplayProtocolError):
    """The display answered with a Modbus exception response; ``code`` is the exception code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class DisplayUnsupported(DisplayError, NotImplementedError):
    """The display (or its configured profile) cannot do what was asked, e.g. set its brightness."""


class DisplayClosed(DisplayError, RuntimeError):
    """The display was used before :meth:`open` or after :meth:`close`."""

"""Scanner errors: one root (:class:`ScannerError`), each specific error also a matching built-in."""

from __future__ import annotations

from onestop.errors import OnestopError


class ScannerError(OnestopError):
    """Root of every error the scanner drivers raise on purpose."""


class ScannerConfigError(ScannerError, ValueError):
    """A ``scanner`` table that cannot be used. ``problems`` lists each as ``(key, message)``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        lines = (f"scanner.{key}: {msg}" if key else f"scanner: {msg}" for key, msg in problems)
        super().__init__("; ".join(lines))


class ScannerUnavailable(ScannerError, ImportError):
    """The backend needs a library that is not installed here (python-evdev for ``hid``)."""


class ScannerNotFound(ScannerError, OSError):
    """The scanner's device node or serial port cannot be found or opened."""


class ScannerAccessDenied(ScannerError, PermissionError):
    """The scanner is there but this user may not read it (not in the ``input`` or ``dialout`` group)."""

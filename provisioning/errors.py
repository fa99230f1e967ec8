"""The provisioning package's error."""

from __future__ import annotations

from onestop.errors import OnestopError


class ProvisionError(OnestopError, RuntimeError):
    """A provisioning step could not be done; the message says why and what to do."""

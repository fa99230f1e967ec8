"""onestop: queue, kiosk, display and rating suite for Vietnamese one-stop shops."""

__version__ = "0.1.0"

"""Printer profiles: print width in dots, cutter, and the python-escpos profile used for encoding."""

from __future__ import annotations

from dataclasses import dataclass, replace

from device_drivers.printer.errors import PrinterConfigError


@dataclass(frozen=True)
class PrinterProfile:
    """What the driver must know about a printer model."""

    name: str
    #: Printable width in dots (203 dpi: 576 for most 80 mm printers, 512 for TM-T88s, 384 at 58 mm).
    width_dots: int
    paper_mm: int
    has_cutter: bool
    #: The python-escpos capability profile used to encode commands.
    escpos_profile: str = "default"
    #: Lines fed after the ticket, before the cut (or for tearing off when there is no cutter).
    feed_lines: int = 6


PROFILES: dict[str, PrinterProfile] = {
    p.name: p
    for p in (
        PrinterProfile("TM-T88V", 512, 80, True, "TM-T88V"),
        PrinterProfile("TM-T88IV", 512, 80, True, "TM-T88IV"),
        PrinterProfile("TM-T88VI", 512, 80, True, "TM-T88V"),
        PrinterProfile("TM-T20", 576, 80, True, "TM-T20II"),
        PrinterProfile("TM-T20II", 576, 80, True, "TM-T20II"),
        PrinterProfile("generic-80", 576, 80, True, "default"),
        PrinterProfile("generic-58", 384, 58, False, "default"),
    )
}

DEFAULT_PROFILE = "generic-80"


def get_profile(name: str, *, width_dots: int | None = None, cutter: bool | None = None) -> PrinterProfile:
    """The profile called ``name``, with optional per-device overrides of width and cutter."""
    try:
        profile = PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise PrinterConfigError(f"unknown printer profile {name!r}; known profiles: {known}") from None
    if width_dots is not None:
        if not 8 <= width_dots <= 2048 or width_dots % 8:
            raise PrinterConfigError(f"width_dots must be a multiple of 8 in 8..2048, got {width_dots}")
        profile = replace(profile, width_dots=width_dots)
    if cutter is not None:
        profile = replace(profile, has_cutter=cutter)
    return profile

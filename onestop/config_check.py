"""``onestop config check``: is a site file valid, and will what it asks for show on the hardware?

:func:`onestop.config.load` already refuses an invalid file. What a valid file can still get wrong
is only seen on the day: a service prefix that a counter's 7-segment display cannot draw (K, M, V, W,
X, Z: :data:`device_drivers.display.text.SEVEN_SEG_FONT` lacks them), or a ticket number longer than
the display has digits (the counter agent then drops the prefix letters). Those are warnings: the site
runs, but a citizen at that counter reads "-012" or "012" instead of "M012".
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from device_drivers.display import DisplayError, make_display
from device_drivers.display.text import SEVEN_SEG, SEVEN_SEG_FONT, SEVEN_SEG_SUBSTITUTE
from onestop.config import SiteConfig, load
from onestop.text import plural

OK, WARN, FAIL = "✓", "!", "✗"

#: The capital letters a 7-segment display can draw, for the advice in a warning.
SEVEN_SEG_LETTERS = "".join(ch for ch in SEVEN_SEG_FONT if ch.isalpha())


def _sample(prefix: str, digits: int) -> str:
    """The first number of a service: ``A001``."""
    return f"{prefix}{1:0{digits}d}"


def _verb(devices: list[str], one: str = "shows", many: str = "show") -> str:
    return one if len(devices) == 1 else many


def display_problems(cfg: SiteConfig) -> tuple[list[str], list[str]]:
    """``(warnings, problems)`` about the counters' number displays.

    A warning: a service's prefix letter that a 7-segment display cannot draw, or a ticket number
    longer than the display's width. A problem: a display table its driver refuses (the counter agent
    would not start)."""
    unreadable: dict[tuple[str, str], list[str]] = defaultdict(list)  # (service, shown) -> devices
    too_long: dict[tuple[str, int], list[str]] = defaultdict(list)  # (service, cols) -> devices
    problems: list[str] = []
    for dev in cfg.devices_with_role("counter"):
        if dev.display is None or dev.counter is None:
            continue
        try:
            info = make_display(dev.display).info
        except (DisplayError, ValueError) as exc:
            problems.append(f'devices (id "{dev.id}").display: {exc}')
            continue
        for sid in cfg.counter(dev.counter).services:
            svc = cfg.service(sid)
            number = _sample(svc.prefix, svc.digits)
            if info.charset == SEVEN_SEG:
                shown = "".join(ch if ch in SEVEN_SEG_FONT else SEVEN_SEG_SUBSTITUTE for ch in number)
                if shown != number:
                    unreadable[(sid, shown)].append(dev.id)
            if len(number) > info.cols:
                too_long[(sid, info.cols)].append(dev.id)
    warnings = []
    for (sid, shown), devices in unreadable.items():
        svc = cfg.service(sid)
        bad = "".join(sorted({ch for ch in svc.prefix if ch not in SEVEN_SEG_FONT}))
        warnings.append(
            f'service "{sid}" ({svc.name}): prefix "{svc.prefix}" cannot be drawn on a 7-segment '
            f"display ({', '.join(bad)}): {', '.join(devices)} {_verb(devices)} "
            f'{_sample(svc.prefix, svc.digits)} as "{shown}"; '
            f"choose a prefix of {' '.join(SEVEN_SEG_LETTERS)}"
        )
    for (sid, cols), devices in too_long.items():
        svc = cfg.service(sid)
        number = _sample(svc.prefix, svc.digits)
        warnings.append(
            f'service "{sid}" ({svc.name}): its numbers ({number}, {len(number)} characters: prefix '
            f"{svc.prefix!r} + {svc.digits} digits) do not fit the {cols}-character display of "
            f"{', '.join(devices)}, which {_verb(devices, 'drops', 'drop')} the prefix; "
            "shorten the prefix or services.digits"
        )
    return warnings, problems


def check_config(cfg: SiteConfig) -> list[tuple[str, str]]:
    """The checklist of a loaded (hence valid) site file: ``[(mark, text)]``."""
    lines = [
        (
            OK,
            f"{cfg.source} is valid (site {cfg.site.id}: {plural(len(cfg.services), 'service')}, "
            f"{plural(len(cfg.counters), 'counter')}, {plural(len(cfg.devices), 'device')})",
        )
    ]
    warnings, problems = display_problems(cfg)
    lines += [(FAIL, p) for p in problems]
    lines += [(WARN, w) for w in warnings]
    if not warnings and not problems:
        lines.append((OK, "every ticket number shows in full on the counters' displays"))
    return lines


def run_config_check(args: argparse.Namespace) -> int:
    """``onestop config check``: 0 when the file is usable (warnings included), 1 with a ✗ line; an
    invalid file raises :class:`~onestop.errors.ConfigError` (exit 2, every problem listed)."""
    lines = check_config(load(args.config))
    for mark, text in lines:
        print(f"{mark} {text}")
    failed = sum(1 for mark, _ in lines if mark == FAIL)
    warned = sum(1 for mark, _ in lines if mark == WARN)
    if failed:
        print(f"{FAIL} NOT OK: {plural(failed, 'problem')}")
        return 1
    if warned:
        print(f"{WARN} usable, with {plural(warned, 'warning')}")
    else:
        print(f"{OK} all is well")
    return 0

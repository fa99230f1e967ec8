"""Kiosks and rating terminals without a desktop: Kivy on SDL2's KMS/DRM backend (Raspberry Pi OS Lite).

The screen's system unit (:func:`provisioning.units.device_unit_spec` with ``screen = "kms"``) runs
``onestop provision screen prepare`` before the app (``ExecStartPre=``):

- it keeps Kivy's configuration in the data folder (``KIVY_HOME``) with the touch input read straight
  from the kernel (``probesysfs`` → ``mtdev``, ``hidinput`` when libmtdev is missing), written only
  when it differs, atomically;
- it waits until a display is connected (``/sys/class/drm/card*-*/status``), saying so once a minute,
  so that a kiosk switched on without its screen retries quietly instead of crashing every few seconds.

A udev rule (:func:`screen_udev_rule`) restarts the unit when a display is plugged in again (SDL keeps
no mode on a connector that went away) or a touch panel appears (Kivy looks for touch devices only
when it starts).
"""

from __future__ import annotations

import argparse
import configparser
import io
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from provisioning.files import SERVICE_USER

log = logging.getLogger("onestop.screen")

#: How often the display is looked for, and how often the wait is logged (seconds).
POLL_S = 2.0
LOG_EVERY_S = 60.0
#: A screen that keeps stopping although a display is there (one it cannot drive, a broken driver)
#: starts at once CRASH_BURST times a minute, then once a minute: one attempt, and one error in the
#: journal, a minute instead of thirty (systemd's own restart delay stays 2 s for a replugged display).
CRASH_BURST = 5
CRASH_WINDOW_S = 60.0
#: The touch input line of Kivy's ``[input]`` section: every multitouch panel found in sysfs, read by
#: mtdev (hidinput when libmtdev is missing), also panels that act as a pointer (``use_mouse=1``:
#: SDL's own touch-to-mouse events are turned off in the unit, SDL_TOUCH_MOUSE_EVENTS=0).
TOUCH_INPUT = "probesysfs,provider=mtdev,use_mouse=1"
#: Kivy's ``[input]`` section as the unit wants it: a USB mouse for maintenance, and the touch panels.
KIVY_INPUT = {"mouse": "mouse", "%(name)s": TOUCH_INPUT}


def kms_environment(kivy_home: Path) -> dict[str, str]:
    """``Environment=`` of a kiosk or rating terminal drawn through KMS/DRM: SDL2 draws on the DRM
    device itself (no X, no Wayland), Kivy's files live in the data folder, and Kivy logs through
    Python to the journal, never to files of its own."""
    return {
        "KIVY_WINDOW": "sdl2",
        "KIVY_GL_BACKEND": "sdl2",
        "SDL_VIDEODRIVER": "kmsdrm",
        "SDL_TOUCH_MOUSE_EVENTS": "0",
        "KIVY_HOME": str(kivy_home),
        "KIVY_LOG_MODE": "PYTHON",
        "KIVY_NO_FILELOG": "1",
        "KIVY_NO_CONSOLELOG": "1",
    }


#: Kivy's own touch input line (its default on Linux): mtdev or hidinput, but only for panels that do
#: not also act as a pointer.
KIVY_DEFAULT_TOUCH = "probesysfs"


def kivy_config_text(existing: str | None) -> str:
    """Kivy's ``config.ini`` with the ``[input]`` of :data:`KIVY_INPUT`, everything else kept.

    A new file holds only that section: Kivy adds its defaults on first start and keeps it (it fills
    in missing keys only). An ``[input]`` section that a technician changed (another touch line, a
    ``param=rotation=90``) is kept as it is: only a missing section or Kivy's default is replaced."""
    cp = configparser.RawConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # type: ignore[assignment,method-assign]  # Kivy's keys are case-sensitive
    if existing:
        cp.read_string(existing)
        touch = cp.get("input", "%(name)s", fallback=KIVY_DEFAULT_TOUCH) if cp.has_section("input") else None
        if touch is not None and touch.replace(" ", "") != KIVY_DEFAULT_TOUCH:
            return existing  # the technician's own input configuration
    if not cp.has_section("input"):
        cp.add_section("input")
    for key, value in KIVY_INPUT.items():
        cp.set("input", key, value)
    out = io.StringIO()
    cp.write(out)
    return out.getvalue()


def ensure_kivy_config(home: Path) -> bool:
    """Make ``home/config.ini`` carry the touch input; True when it was (re)written. Written only when
    it differs (no write at each start), atomically (rename after fsync, then the folder's fsync)."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = home / "config.ini"
    try:
        existing: str | None = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        existing = None
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("%s is unreadable (%s): writing it again", path, exc)
        existing = None
    try:
        text = kivy_config_text(existing)
    except configparser.Error as exc:
        log.warning("%s is not a valid Kivy configuration (%s): writing a new one", path, exc)
        text = kivy_config_text(None)
    if text == existing:
        return False
    from onestop.durable import atomic_write

    atomic_write(path, text.encode("utf-8"), mode=0o600)
    return True


def connectors(sysfs: Path = Path("/sys")) -> dict[str, str]:
    """Every DRM connector and its status: ``{"card1-HDMI-A-1": "connected", ...}``."""
    out = {}
    for status in sorted((sysfs / "class" / "drm").glob("card*-*/status")):
        try:
            out[status.parent.name] = status.read_text(encoding="ascii").strip()
        except OSError:
            continue
    return out


def wait_for_display(
    sysfs: Path = Path("/sys"),
    *,
    poll_s: float = POLL_S,
    log_every_s: float = LOG_EVERY_S,
    stop: Callable[[float], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Wait until a display is connected; return its connector (None when ``stop`` ended the wait).
    ``stop(timeout)`` waits up to ``timeout`` and says whether to give up (tests pass an event's wait)."""
    pause = stop or _sleep
    last_log: float | None = None
    while True:
        found = connectors(sysfs)
        connected = [name for name, state in found.items() if state == "connected"]
        if connected:
            if last_log is not None:
                log.info("display connected: %s", ", ".join(connected))
            return connected[0]
        now = clock()
        if last_log is None or now - last_log >= log_every_s:
            last_log = now
            if found:
                states = ", ".join(f"{k}: {v}" for k, v in found.items())
                log.warning("no display connected (%s); waiting for one (checked every %g s)", states, poll_s)
            else:
                log.warning(
                    "no DRM display connector in %s: is dtoverlay=vc4-kms-v3d in config.txt? waiting",
                    sysfs / "class" / "drm",
                )
        if pause(poll_s):
            return None


def pace_restarts(
    state: Path, now: float, *, burst: int = CRASH_BURST, window_s: float = CRASH_WINDOW_S
) -> float:
    """Record a start in ``state/starts`` (the unit's runtime folder: RAM, kept across restarts);
    return how long to wait before it. 0, unless ``burst`` starts came within ``window_s``, or the
    last start was itself paced and came less than ``window_s`` ago (the loop goes on): then until
    ``window_s`` after the last start. ``now`` is ``time.monotonic()`` (one clock system-wide)."""
    path = state / "starts"
    try:
        rows = [line.split() for line in path.read_text(encoding="ascii").splitlines() if line.strip()]
        starts = [(float(t), p == "paced") for t, p in rows]
    except (OSError, ValueError):
        starts = []
    recent = sorted(s for s in starts if 0 <= now - s[0] < window_s)
    looping = bool(recent) and recent[-1][1]
    delay = max(0.0, recent[-1][0] + window_s - now) if len(recent) >= burst or looping else 0.0
    record = [*recent[-burst:], (now + delay, delay > 0)]
    try:
        state.mkdir(parents=True, exist_ok=True)
        path.write_text(
            "".join(f"{t:.3f} {'paced' if p else 'quick'}\n" for t, p in record), encoding="ascii"
        )
    except OSError as exc:
        log.warning("cannot record the start in %s: %s", path, exc)
    return delay


def _sleep(seconds: float) -> bool:
    """The production pause between looks: sleep, never give up (SIGTERM from systemd ends it)."""
    time.sleep(seconds)
    return False


def screen_udev_rule(device_id: str) -> str:
    """The udev rule that restarts a KMS screen's unit when a display or a touch panel (re)appears."""
    unit = f"onestop-{device_id}.service"
    restart = f'RUN+="/usr/bin/systemctl --no-block try-restart {unit}"'
    return (
        f"# Screen of {device_id}, generated by onestop provision: restart {unit} when a display is\n"
        "# plugged in again (HOTPLUG on the DRM card) or a touch panel appears (Kivy looks for touch\n"
        "# panels only when it starts). try-restart: nothing happens while the unit is stopped.\n"
        f'ACTION=="change", SUBSYSTEM=="drm", ENV{{HOTPLUG}}=="1", {restart}\n'
        f'ACTION=="add", SUBSYSTEM=="input", KERNEL=="event*", ENV{{ID_INPUT_TOUCHSCREEN}}=="1", {restart}\n'
        f"# The touch panel's event node is readable by the input group, which {SERVICE_USER} is in.\n"
    )


def configure(parser: argparse.ArgumentParser) -> None:
    """``onestop provision screen prepare``: the options."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="prepare")
    p = sub.add_parser("prepare", help="before a KMS screen starts: Kivy's touch input, wait for a display")
    p.add_argument("--kivy-home", type=Path, required=True, help="Kivy's folder (KIVY_HOME)")
    p.add_argument("--sysfs", type=Path, default=Path("/sys"), help=argparse.SUPPRESS)
    p.add_argument("--poll", type=float, default=POLL_S, help="seconds between looks for a display")
    p.add_argument("--no-wait", action="store_true", help="do not wait for a display")
    p.add_argument(
        "--state",
        type=Path,
        default=Path(os.environ["RUNTIME_DIRECTORY"]) if os.environ.get("RUNTIME_DIRECTORY") else None,
        help="where recent starts are counted (default: the unit's $RUNTIME_DIRECTORY; none: no pacing)",
    )
    p.set_defaults(run=run_prepare)


def run_prepare(args: argparse.Namespace) -> int:
    """Write Kivy's configuration when needed, then wait for a display."""
    if ensure_kivy_config(args.kivy_home):
        log.info("wrote %s (touch input: %s)", args.kivy_home / "config.ini", TOUCH_INPUT)
    if args.state is not None:
        delay = pace_restarts(args.state, time.monotonic())
        if delay:
            log.warning(
                "the screen stopped %d times within %.0f s: next start in %.0f s (see its errors above)",
                CRASH_BURST,
                CRASH_WINDOW_S,
                delay,
            )
            time.sleep(delay)
    if not args.no_wait:
        found = wait_for_display(args.sysfs, poll_s=args.poll)
        log.info("display: %s", found)
    return 0


__all__ = [
    "KIVY_INPUT",
    "TOUCH_INPUT",
    "connectors",
    "ensure_kivy_config",
    "kivy_config_text",
    "kms_environment",
    "screen_udev_rule",
    "wait_for_display",
]

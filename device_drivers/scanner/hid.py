"""A USB keyboard-wedge scanner (``backend = "hid"``) read through python-evdev, grabbed.

The scanner is a keyboard to the kernel. The backend finds its event device (by ``path``, or by
``name``/USB id among /dev/input/by-id and /dev/input/event*), ``grab()`` s it so that no keystroke
reaches the kiosk's screen or a console, and decodes the key events with :class:`KeyDecoder`.

The reading loop is :func:`decode_events`: it takes any iterable of events, where ``None`` means
"nothing came for ``timeout_s``". Here the iterable is :func:`device_events`, which waits on the
device with a timeout (``InputDevice.read_loop`` has none, and a code cut short must still end);
tests give recorded events. A device that goes away (ENODEV on read) makes health ``offline``; it
is looked for every ``poll_s`` and grabbed again when it is back.

Needs python-evdev (Linux only, ``evdev`` in pyproject.toml). Without it the backend raises
:class:`ScannerUnavailable` at start, not at import.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import logging
import os
import select
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from device_drivers.scanner import keymap
from device_drivers.scanner.base import Scan, Scanner
from device_drivers.scanner.errors import ScannerAccessDenied, ScannerNotFound, ScannerUnavailable
from device_drivers.scanner.keys import InputEventLike, KeyDecoder
from device_drivers.scanner.params import HidParams

log = logging.getLogger(__name__)

NO_EVDEV = (
    "the hid scanner backend needs python-evdev (Linux only): `apt install python3-evdev` on Raspberry "
    "Pi OS/Debian (a kiosk's install.sh does it), or `pip install 'onestop-queue[hid]'`"
)


class InputDeviceLike(Protocol):
    """What the backend uses of ``evdev.InputDevice`` (a fake in tests has the same)."""

    path: str
    name: str

    def fileno(self) -> int: ...
    def read(self) -> Iterator[InputEventLike]: ...
    def grab(self) -> None: ...
    def ungrab(self) -> None: ...
    def close(self) -> None: ...


Opener = Callable[[str], InputDeviceLike]
Lister = Callable[[], list[str]]


def decode_events(
    events: Iterable[InputEventLike | None], decoder: KeyDecoder, emit: Callable[[Scan], None]
) -> None:
    """Run events through ``decoder`` and ``emit`` each scan; ``None`` is an idle tick. This is the
    whole decode path of the backend, shared with the tests' recorded events."""
    for event in events:
        if event is None:
            scan = decoder.idle()
            if scan is not None:
                emit(scan)
            continue
        for scan in decoder.feed(event):
            emit(scan)


def device_events(
    device: InputDeviceLike, timeout_s: float, wake_fd: int, idle_after: Callable[[], bool]
) -> Iterator[InputEventLike | None]:
    """The device's events as they arrive; ``None`` after ``timeout_s`` without one while
    ``idle_after()`` (a code is pending); ends when ``wake_fd`` becomes readable (stop). A device
    that goes away raises its OSError."""
    fd = device.fileno()
    while True:
        ready, _, _ = select.select([fd, wake_fd], [], [], timeout_s if idle_after() else None)
        if wake_fd in ready:
            return
        if fd not in ready:
            yield None
            continue
        try:
            batch = list(device.read())
        except BlockingIOError:
            continue
        yield from batch


def _evdev_opener(path: str) -> InputDeviceLike:
    try:
        import evdev
    except ImportError:
        raise ScannerUnavailable(NO_EVDEV) from None
    device: Any = evdev.InputDevice(path)
    return device


def _list_candidates(by_id_dir: str) -> list[str]:
    """Keyboard-like event devices: /dev/input/by-id/*-event-kbd first, then every event node."""
    found = sorted(glob.glob(os.path.join(by_id_dir, "*-event-kbd")))
    found += sorted(glob.glob("/dev/input/event*"), key=lambda p: int("0" + p.rpartition("event")[2]))
    seen: set[str] = set()
    out = []
    for path in found:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


class HidScanner(Scanner):
    """A keyboard-wedge scanner on an input event device, grabbed by this process."""

    backend = "hid"

    def __init__(
        self, params: HidParams, *, opener: Opener | None = None, lister: Lister | None = None
    ) -> None:
        super().__init__()
        self.params = params
        self._opener = opener or _evdev_opener
        self._lister = lister or (lambda: _list_candidates(params.by_id_dir))
        self.decoder = KeyDecoder(
            self.source, params.suffix, params.timeout_s, params.alt_codes, params.max_length
        )
        #: Called with every event read, before decoding (``scan-test --record``); never in production.
        self.tap: Callable[[InputEventLike], None] | None = None
        self._device: InputDeviceLike | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1

    @property
    def source(self) -> str:
        p = self.params
        if p.path:
            return f"hid:{p.path}"
        ids = "" if p.vendor_id is None else f"{p.vendor_id:04x}"
        if p.product_id is not None:
            ids += f":{p.product_id:04x}"
        return "hid:" + " ".join(x for x in (p.name, ids) if x)

    # -- lifecycle -----------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is not None:
            return
        if self._opener is _evdev_opener:
            try:
                import evdev  # noqa: F401
            except ImportError:
                raise ScannerUnavailable(NO_EVDEV) from None
        self._stopping.clear()
        self._wake_r, self._wake_w = os.pipe()
        self._connect()  # the first attempt here, so that health() is true when start() returns
        self._thread = threading.Thread(target=self._run, name="scanner-hid", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stopping.set()
        if self._wake_w >= 0:
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self._release()
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r, self._wake_w = -1, -1
        self._set_health("offline", "stopped")

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._device is None and not self._connect():
                self._stopping.wait(self.params.poll_s)
                continue
            device = self._device
            assert device is not None
            try:
                pending = lambda: self.decoder.pending  # noqa: E731
                events = self._tapped(device_events(device, self.params.timeout_s, self._wake_r, pending))
                decode_events(events, self.decoder, self._emit)
            except OSError as exc:
                gone = exc.errno in (errno.ENODEV, errno.EIO, errno.EBADF, errno.ENOENT)
                cut = self.decoder.idle()
                if cut is not None:
                    self._emit(cut)
                self._release()
                why = exc.strerror or str(exc)
                if gone:
                    self._set_health("offline", f"{device.path} unplugged: {why}")
                else:
                    self._set_health("error", f"{device.path} failed: {why}")
                self._stopping.wait(self.params.poll_s)
            except Exception as exc:  # never let a decoding surprise end the reader
                log.exception("scanner %s: reading failed", self.source)
                self._release()
                self._set_health("error", f"reading failed: {exc}")
                self._stopping.wait(self.params.poll_s)

    def _tapped(self, events: Iterator[InputEventLike | None]) -> Iterator[InputEventLike | None]:
        for event in events:
            tap = self.tap
            if tap is not None and event is not None:
                tap(event)
            yield event

    # -- the device ----------------------------------------------------------------------------
    def _connect(self) -> bool:
        """Find, open and grab the scanner; set health either way."""
        try:
            device = self._find()
        except ScannerNotFound as exc:
            self._set_health("offline", str(exc))
            return False
        except (ScannerUnavailable, ScannerAccessDenied) as exc:
            self._set_health("error", str(exc))
            return False
        if self.params.grab:
            try:
                device.grab()
            except OSError as exc:
                with contextlib.suppress(OSError):
                    device.close()
                busy = exc.errno == errno.EBUSY
                why = "another process has grabbed it" if busy else f"cannot grab it: {exc.strerror or exc}"
                self._set_health("error", f"{device.path}: {why}")
                return False
        self.decoder.reset()
        self._device = device
        self._set_health("ok", f"{device.path} ({device.name}){' grabbed' if self.params.grab else ''}")
        return True

    def _release(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        if self.params.grab:
            with contextlib.suppress(OSError):
                device.ungrab()
        with contextlib.suppress(OSError):
            device.close()

    def _find(self) -> InputDeviceLike:
        p = self.params
        if p.path is not None:
            try:
                return self._opener(p.path)
            except PermissionError:
                raise ScannerAccessDenied(
                    f"may not read {p.path}: add the user to the 'input' group (the kiosk's install.sh does)"
                ) from None
            except OSError as exc:
                raise ScannerNotFound(f"cannot open {p.path}: {exc.strerror or exc}") from None
        candidates = self._lister()
        for path in candidates:
            try:
                device = self._opener(path)
            except OSError:
                continue  # not ours to read (permissions) or gone meanwhile
            if self._matches(device):
                return device
            with contextlib.suppress(OSError):
                device.close()
        raise ScannerNotFound(f"no input device matches {self.source.removeprefix('hid:')} "
                              f"(looked at {len(candidates)})")  # fmt: skip

    def _matches(self, device: InputDeviceLike) -> bool:
        p = self.params
        if not _types_text(device):
            return False  # the same scanner's other interfaces (consumer control, a mouse)
        if p.name is not None and p.name.casefold() not in (device.name or "").casefold():
            return False
        info = getattr(device, "info", None)
        if p.vendor_id is not None and getattr(info, "vendor", None) != p.vendor_id:
            return False
        return not (p.product_id is not None and getattr(info, "product", None) != p.product_id)


def _types_text(device: InputDeviceLike) -> bool:
    """True when the device has the keys of a keyboard (A and Enter); a device that cannot tell
    (a fake without ``capabilities``) counts as one."""
    capabilities = getattr(device, "capabilities", None)
    if capabilities is None:
        return True
    try:
        keys = set(capabilities().get(keymap.EV_KEY, []))
    except OSError:
        return False
    return {keymap.KEY_ENTER, keymap.KEY_NAMES["KEY_A"]} <= keys

"""A serial or USB-CDC scanner (``backend = "serial"``): pyserial on a tty such as /dev/ttyACM0.

A reader thread reads whatever arrives and hands it to the :class:`ByteFramer`; every ``timeout_s``
of silence it asks the framer for a code cut short. When the port fails (the USB cable pulled out:
a read error) or cannot be opened, health says ``offline`` and the port is opened again every
``poll_s`` until it is back. Nothing the scanner sends can stop the thread.
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from typing import Any

from device_drivers.scanner.base import Scanner
from device_drivers.scanner.framing import ByteFramer
from device_drivers.scanner.params import SerialParams

log = logging.getLogger(__name__)

#: At most this many bytes per read (a 10 kB burst takes a few reads; memory stays bounded).
READ_CHUNK = 65536


class SerialScanner(Scanner):
    """A scanner that sends each code followed by CR, LF or CR LF on a serial port."""

    backend = "serial"

    def __init__(self, params: SerialParams) -> None:
        super().__init__()
        self.params = params
        self.framer = ByteFramer(self.source, params.suffix, params.timeout_s, params.max_length)
        self._serial: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def source(self) -> str:
        return f"serial:{self.params.port}"

    def _start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._open()  # the first attempt here, so that health() is true as soon as start() returns
        self._thread = threading.Thread(target=self._run, name=f"scanner-{self.params.port}", daemon=True)
        self._thread.start()

    def _stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None
        self._close()
        self._set_health("offline", "stopped")

    def _open(self) -> bool:
        import serial  # type: ignore[import-untyped]

        # the read timeout bounds how late a partial code and stop() are noticed
        poll = min(max(self.params.timeout_s / 4, 0.01), 0.1)
        try:
            # exclusive: a second reader (scan-test beside the kiosk) is refused, not given half the codes
            self._serial = serial.Serial(self.params.port, self.params.baudrate, timeout=poll, exclusive=True)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._serial = None
            if getattr(exc, "errno", None) in (errno.EACCES, errno.EPERM):
                hint = "add the user to the 'dialout' group (the kiosk's install.sh does)"
                self._set_health("error", f"may not open {self.params.port}: {hint}")
            else:
                self._set_health("offline", f"cannot open {self.params.port}: {_reason(exc)}")
            return False
        self.framer.reset()
        self._set_health("ok", f"{self.params.port} open at {self.params.baudrate} baud")
        return True

    def _close(self) -> None:
        ser, self._serial = self._serial, None
        if ser is not None:
            try:
                ser.close()
            except Exception as exc:  # a port that vanished may fail to close; it is gone anyway
                log.debug("closing %s: %s", self.params.port, exc)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._serial is None and not self._open():
                self._stopping.wait(self.params.poll_s)
                continue
            try:
                self._read_once()
            except Exception as exc:  # unplugged (EIO, "returned no data"), or anything else odd
                self._close()
                pending = self.framer.idle(float("inf"))
                if pending is not None:
                    self._emit(pending)
                self._set_health("offline", f"{self.params.port} lost: {_reason(exc)}")
                self._stopping.wait(self.params.poll_s)

    def _read_once(self) -> None:
        ser = self._serial
        data = ser.read(1)
        now = time.monotonic()
        if not data:
            scan = self.framer.idle(now)
            if scan is not None:
                self._emit(scan)
            return
        waiting = ser.in_waiting
        if waiting:
            data += ser.read(min(waiting, READ_CHUNK))
        for scan in self.framer.feed(data, now):
            self._emit(scan)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]

"""Byte links to a printer, one per backend. Optional libraries (pyusb) are imported only when opened."""

from __future__ import annotations

import contextlib
import errno
import importlib
import importlib.util
import logging
import os
import select
import socket
import stat
from typing import Any, Protocol

import serial  # type: ignore[import-untyped]

from device_drivers.printer.errors import BackendUnavailable, PrinterNotFound

log = logging.getLogger(__name__)


class Transport(Protocol):
    """A connection to one printer."""

    #: False when the link cannot carry replies (status requests are then not sent).
    can_read: bool

    def write(self, data: bytes) -> None:
        """Send all of ``data``; :class:`OSError` when the link fails."""
        ...

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes; ``b""`` when nothing arrived within ``timeout`` seconds."""
        ...

    def drain(self) -> None:
        """Discard unread input."""
        ...

    def close(self) -> None:
        """Close the link (idempotent)."""
        ...


class SocketTransport:
    """A raw TCP connection (port 9100, "JetDirect"), the network backend."""

    can_read = True

    def __init__(self, host: str, port: int = 9100, timeout_s: float = 5.0) -> None:
        self.where = f"{host}:{port}"
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout_s)
        except OSError as exc:
            raise PrinterNotFound(f"no printer answers at {self.where}: {exc}") from exc
        self._sock.settimeout(timeout_s)

    def write(self, data: bytes) -> None:
        """Send everything (the socket timeout bounds a stalled printer)."""
        self._sock.sendall(data)

    def read(self, n: int, timeout: float) -> bytes:
        """Wait up to ``timeout`` for bytes; a closed connection is an error, not silence."""
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return b""
        data = self._sock.recv(n)
        if not data:
            raise ConnectionResetError(f"printer at {self.where} closed the connection")
        return data

    def drain(self) -> None:
        """Discard late replies; notice a connection the printer closed."""
        while select.select([self._sock], [], [], 0)[0]:
            if not self._sock.recv(4096):
                raise ConnectionResetError(f"printer at {self.where} closed the connection")

    def close(self) -> None:
        """Shut the connection down."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()


class SerialTransport:
    """A serial port through pyserial (RS-232 or a USB-serial adapter), the serial backend."""

    can_read = True

    def __init__(self, port: str, baudrate: int = 9600, flow: str = "none", timeout_s: float = 5.0) -> None:
        self.where = port
        self._baudrate = baudrate
        self._timeout_s = timeout_s
        try:
            self._ser: Any = serial.Serial(
                port=port,
                baudrate=baudrate,
                timeout=0,
                write_timeout=timeout_s,
                rtscts=flow == "rtscts",
                dsrdtr=flow == "dsrdtr",
                xonxoff=flow == "xonxoff",
            )
        except (serial.SerialException, OSError) as exc:
            raise PrinterNotFound(f"cannot open serial port {port}: {exc}") from exc

    def write(self, data: bytes) -> None:
        """Send everything and wait until it left the port.

        The time allowed grows with the job: a 50 kB ticket takes about 55 s at 9600 baud.
        """
        try:
            self._ser.write_timeout = self._timeout_s + len(data) * 12 / self._baudrate
            self._ser.write(data)
            self._ser.flush()
        except serial.SerialException as exc:
            raise OSError(f"serial port {self.where}: {exc}") from exc

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes within ``timeout``."""
        self._ser.timeout = timeout
        data: bytes = self._ser.read(n)
        return data

    def drain(self) -> None:
        """Discard buffered input."""
        self._ser.reset_input_buffer()

    def close(self) -> None:
        """Close the port."""
        self._ser.close()


class FileTransport:
    """A device file such as ``/dev/usb/lp0`` (the kernel's usblp driver), the file backend.

    Status is read only from a character device opened read-write (``status = "auto"``); a regular file
    or a device that refuses reading is write-only, and that is announced in the log.
    """

    def __init__(self, path: str, status: str = "auto") -> None:
        self.where = path
        try:
            st_mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise PrinterNotFound(f"no printer device {path} (is the printer plugged in and on?)") from None
        except OSError as exc:
            raise PrinterNotFound(f"cannot use printer device {path}: {exc}") from exc
        self.can_read = False
        if status == "auto" and stat.S_ISCHR(st_mode):
            try:
                self._fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
                self.can_read = True
            except OSError as exc:
                log.warning("printer %s: cannot open for reading (%s); status will not be read", path, exc)
        if not self.can_read:
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY)
            except PermissionError:
                raise PrinterNotFound(
                    f"permission denied on {path} (add the kiosk's user to the device's group, e.g. lp)"
                ) from None
            except OSError as exc:
                raise PrinterNotFound(f"cannot open printer device {path}: {exc}") from exc
            if status == "auto" and stat.S_ISREG(st_mode):
                log.info("printer %s is a regular file: jobs are appended, status is not read", path)

    def write(self, data: bytes) -> None:
        """Write everything."""
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes within ``timeout`` (character devices only)."""
        if not self.can_read:
            return b""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self._fd, n)
        except BlockingIOError:
            return b""

    def drain(self) -> None:
        """Discard unread input."""
        while self.can_read and select.select([self._fd], [], [], 0)[0]:
            try:
                if not os.read(self._fd, 4096):
                    return
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EIO):
                    return
                raise

    def close(self) -> None:
        """Close the file."""
        with contextlib.suppress(OSError):
            os.close(self._fd)


class UsbTransport:
    """A USB printer through pyusb, using python-escpos's ``Usb`` class to find and claim the device."""

    can_read = True

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        *,
        in_ep: int = 0x82,
        out_ep: int = 0x01,
        timeout_s: float = 5.0,
        escpos_profile: str = "default",
    ) -> None:
        self.where = f"USB {vendor_id:04x}:{product_id:04x}"
        if importlib.util.find_spec("usb") is None:
            raise BackendUnavailable("the usb printer backend needs pyusb (pip install pyusb) and libusb")
        from device_drivers.printer.codec import _import_escpos

        not_found = importlib.import_module("escpos.exceptions").DeviceNotFoundError

        usb_cls = _import_escpos("Usb")
        self._timeout_ms = int(timeout_s * 1000)
        self._in_ep = in_ep
        self._esc = usb_cls(
            vendor_id,
            product_id,
            timeout=self._timeout_ms,
            in_ep=in_ep,
            out_ep=out_ep,
            profile=escpos_profile,
        )
        no_backend = importlib.import_module("usb.core").NoBackendError
        try:
            self._esc.open()
        except not_found as exc:
            raise PrinterNotFound(f"no printer at {self.where}: {exc}") from exc
        except no_backend as exc:
            raise BackendUnavailable(
                "the usb printer backend needs libusb (Debian: apt install libusb-1.0-0)"
            ) from exc

    def write(self, data: bytes) -> None:
        """Send everything (pyusb errors are OSErrors)."""
        self._esc._raw(data)

    def read(self, n: int, timeout: float) -> bytes:
        """Up to ``n`` bytes from the IN endpoint within ``timeout``."""
        usb_core = importlib.import_module("usb.core")
        try:
            return bytes(self._esc.device.read(self._in_ep, max(n, 64), int(timeout * 1000)))[:n]
        except usb_core.USBTimeoutError:
            return b""

    def drain(self) -> None:
        """Discard unread input."""
        while self.read(64, 0.01):
            pass

    def close(self) -> None:
        """Release the device."""
        with contextlib.suppress(Exception):
            self._esc.close()

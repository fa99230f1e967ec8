"""Fake serial devices on the master side of a real pseudo-terminal pair.

The driver under test opens the slave path (``pair.path``) as its serial port, exactly as it
would open ``/dev/ttyUSB0``; a :class:`FakeDevice` thread reads whole frames from the master side
and answers them. Tests wait on the fake's condition variable with a timeout, never on sleep().
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import threading
import tty
from collections.abc import Callable
from typing import Literal, Self

from device_drivers.display.checksums import crc16_modbus


class PtyPair:
    """A raw pseudo-terminal pair; the slave end stays open so the master never sees a hang-up."""

    def __init__(self) -> None:
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)  # no echo, no CR/LF mapping, no ^C/^S handling of 0x03/0x13
        self.path = os.ttyname(self.slave)

    def close(self) -> None:
        """Close both ends."""
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


class FakeDevice:
    """Reads frames from the master side (``split`` cuts one off the buffer) and ``answer``s them."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.frames: list[bytes] = []
        self.buffer = bytearray()
        self.cond = threading.Condition()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, name="fake-serial-device", daemon=True)

    # -- what a fake implements -----------------------------------------------------------------
    def split(self, buf: bytearray) -> bytes | None:
        """Cut one complete frame off the front of ``buf``, or None when more bytes are needed."""
        raise NotImplementedError

    def answer(self, frame: bytes) -> bytes | None:
        """What the device sends back for ``frame`` (None: nothing)."""
        raise NotImplementedError

    # -- lifecycle and waiting ------------------------------------------------------------------
    def start(self) -> Self:
        """Start reading."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and wait for the thread."""
        os.write(self._stop_w, b"x")
        self._thread.join(timeout=2)
        os.close(self._stop_r)
        os.close(self._stop_w)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 2.0) -> bool:
        """Wait until ``predicate()`` holds after a frame; False on timeout."""
        with self.cond:
            return self.cond.wait_for(predicate, timeout)

    def wait_frames(self, count: int, timeout: float = 2.0) -> list[bytes]:
        """The first ``count`` frames, waiting for them; AssertionError on timeout."""
        if not self.wait_for(lambda: len(self.frames) >= count, timeout):
            raise AssertionError(f"expected {count} frame(s), got {self.frames!r} (buffer {self.buffer!r})")
        with self.cond:
            return self.frames[:count]

    def _run(self) -> None:
        while True:
            ready, _, _ = select.select([self.fd, self._stop_r], [], [])
            if self._stop_r in ready:
                return
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                return
            with self.cond:
                self.buffer += data
                while (frame := self.split(self.buffer)) is not None:
                    reply = self.answer(frame)
                    self.frames.append(frame)
                    if reply:
                        os.write(self.fd, reply)
                    self.cond.notify_all()


ModbusMode = Literal[
    "ok", "silent", "silent-once", "bad-crc", "exception", "partial", "echo", "wrong-slave", "twice"
]


class ModbusSlaveFake(FakeDevice):
    """A Modbus RTU slave that keeps a register image and answers 0x06 and 0x10.

    ``mode``: ``ok``; ``silent`` (never answers); ``silent-once`` (ignores the next request only);
    ``bad-crc`` (answers with the CRC bytes flipped); ``exception`` (exception ``exception_code``);
    ``partial`` (first 3 bytes only); ``echo`` (sends the request back first, like a 2-wire
    adapter, then answers); ``wrong-slave`` (a well-formed answer from slave address + 1);
    ``twice`` (every answer sent two times, as a confused device or a reflection might)."""

    def __init__(self, fd: int, slave: int = 1, mode: ModbusMode = "ok", exception_code: int = 2) -> None:
        super().__init__(fd)
        self.slave = slave
        self.mode: ModbusMode = mode
        self.exception_code = exception_code
        self.registers: dict[int, int] = {}
        self.bad_frames: list[bytes] = []

    def split(self, buf: bytearray) -> bytes | None:
        """A 0x06 request is 8 bytes; a 0x10 request 9 + its byte count."""
        if len(buf) < 2:
            return None
        if buf[1] == 0x06:
            size = 8
        elif buf[1] == 0x10:
            if len(buf) < 7:
                return None
            size = 9 + buf[6]
        else:
            size = len(buf)  # not ours: swallow it whole
        if len(buf) < size:
            return None
        frame = bytes(buf[:size])
        del buf[:size]
        return frame

    def answer(self, frame: bytes) -> bytes | None:
        """Check the CRC, apply the write, answer as ``mode`` says."""
        if len(frame) < 4 or crc16_modbus(frame[:-2]).to_bytes(2, "little") != frame[-2:]:
            self.bad_frames.append(frame)
            return None  # a real slave ignores a garbled frame
        if frame[0] not in (self.slave, 0):
            return None
        function = frame[1]
        if function == 0x06:
            self.registers[int.from_bytes(frame[2:4], "big")] = int.from_bytes(frame[4:6], "big")
            reply = frame
        elif function == 0x10:
            start, count = int.from_bytes(frame[2:4], "big"), int.from_bytes(frame[4:6], "big")
            for i in range(count):
                self.registers[start + i] = int.from_bytes(frame[7 + 2 * i : 9 + 2 * i], "big")
            reply = _with_crc(frame[:6])
        else:
            return _with_crc(bytes([frame[0], function | 0x80, 1]))
        if frame[0] == 0 or self.mode == "silent":
            return None
        if self.mode == "silent-once":
            self.mode = "ok"
            return None
        if self.mode == "bad-crc":
            return reply[:-2] + bytes([reply[-2] ^ 0xFF, reply[-1]])
        if self.mode == "exception":
            return _with_crc(bytes([frame[0], function | 0x80, self.exception_code]))
        if self.mode == "partial":
            return reply[:3]
        if self.mode == "echo":
            return frame + reply
        if self.mode == "twice":
            return reply + reply
        if self.mode == "wrong-slave":
            return _with_crc(bytes([frame[0] + 1]) + reply[1:-2])
        return reply

    def register_range(self, start: int, count: int) -> list[int]:
        """Register values ``start`` .. ``start + count - 1`` (0 where never written)."""
        with self.cond:
            return [self.registers.get(start + i, 0) for i in range(count)]


def _with_crc(body: bytes) -> bytes:
    return body + crc16_modbus(body).to_bytes(2, "little")


AsciiMode = Literal["ack", "silent", "nak", "none"]


class AsciiBoardFake(FakeDevice):
    """A board taking ``STX ... ETX`` frames followed by ``trailer`` checksum bytes.

    Keeps the last text per line for frames of the default template
    (``STX addr(2) line(1) blink(1) text ETX checksum``). ``mode``: ``ack`` answers ``ack`` bytes,
    ``nak`` answers ``nak`` bytes, ``silent``/``none`` answer nothing."""

    def __init__(
        self, fd: int, trailer: int = 2, mode: AsciiMode = "ack", ack: bytes = b"\x06", nak: bytes = b"\x15"
    ) -> None:
        super().__init__(fd)
        self.trailer = trailer
        self.mode: AsciiMode = mode
        self.ack, self.nak = ack, nak
        self.lines: dict[int, str] = {}
        self.blink: dict[int, bool] = {}

    def split(self, buf: bytearray) -> bytes | None:
        """Up to ETX and ``trailer`` bytes more."""
        end = buf.find(b"\x03")
        if end < 0 or len(buf) < end + 1 + self.trailer:
            return None
        size = end + 1 + self.trailer
        frame = bytes(buf[:size])
        del buf[:size]
        return frame

    def answer(self, frame: bytes) -> bytes | None:
        """Record the line, then answer per ``mode``."""
        if frame[:1] == b"\x02" and len(frame) >= 6:
            line = frame[3] - ord("0")
            self.blink[line] = frame[4:5] == b"1"
            self.lines[line] = frame[5 : frame.index(b"\x03")].decode("latin-1")
        if self.mode == "ack":
            return self.ack
        if self.mode == "nak":
            return self.nak
        return None

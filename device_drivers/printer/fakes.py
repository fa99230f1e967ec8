"""Fake printers on real links, for tests and demos: a TCP server (the network backend's port 9100) and a
pseudo-terminal pair (the serial and file backends). Both feed a :class:`FakePrinter`, so they parse the
same ESC/POS and answer ``DLE EOT`` like the simulator; set its state through ``.fake``.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import tty
from collections.abc import Callable
from types import TracebackType
from typing import Self

from device_drivers.printer.sim import FakePrinter


class _Server:
    """Start/stop plumbing shared by the fakes: a wake-up pipe and worker threads."""

    def __init__(self, fake: FakePrinter | None) -> None:
        #: The printer model behind the link (the test face).
        self.fake = fake or FakePrinter()
        self._wake_r, self._wake_w = os.pipe()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _stop_threads(self) -> None:
        self._stopping.set()
        os.write(self._wake_w, b"x")
        for t in self._threads:
            t.join(5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError


class TcpFakePrinter(_Server):
    """A fake network printer listening on ``host`` and a free port (see :attr:`port`)."""

    def __init__(self, fake: FakePrinter | None = None, host: str = "127.0.0.1") -> None:
        super().__init__(fake)
        self.host = host
        self.port = 0
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Condition()
        self.accepted = 0

    def start(self) -> None:
        """Listen on a free port and accept connections in a thread."""
        self._listener = socket.create_server((self.host, 0))
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def stop(self) -> None:
        """Close every connection and the listener; wait for the threads."""
        self._stop_threads()
        self.drop_connections()
        if self._listener is not None:
            self._listener.close()

    def drop_connections(self) -> None:
        """Close the open connections from the printer's side (as printers do with idle ones)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)

    def wait_for_connections(self, count: int, timeout: float = 5.0) -> None:
        """Wait until ``count`` connections have been accepted in all; ``TimeoutError`` otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.accepted >= count, timeout):
                raise TimeoutError(f"expected {count} connection(s), got {self.accepted}")

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._listener.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                return
            conn, _ = self._listener.accept()
            with self._lock:
                self._conns.append(conn)
                self.accepted += 1
                self._lock.notify_all()
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                ready, _, _ = select.select([conn.fileno(), self._wake_r], [], [])
                if self._wake_r in ready:
                    return
                data = conn.recv(65536)
                if not data:
                    return
                reply = self.fake.handle(data)
                if reply:
                    conn.sendall(reply)
        except OSError:
            return
        finally:
            self.fake.end_job()
            conn.close()


class PtyFakePrinter(_Server):
    """A fake serial printer on the master side of a pseudo-terminal; open :attr:`port` as the device."""

    def __init__(self, fake: FakePrinter | None = None) -> None:
        super().__init__(fake)
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line editing: bytes pass through unchanged
        #: The device path to give to the serial (or file) backend.
        self.port = os.ttyname(self._slave)

    def start(self) -> None:
        """Serve the master side in a thread."""
        self._spawn(self._serve)

    def stop(self) -> None:
        """Stop the thread and close both ends."""
        self._stop_threads()
        os.close(self._master)
        os.close(self._slave)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._master, self._wake_r], [], [])
            if self._wake_r in ready:
                return
            try:
                data = os.read(self._master, 65536)
            except OSError:
                return
            reply = self.fake.handle(data)
            if reply:
                os.write(self._master, reply)

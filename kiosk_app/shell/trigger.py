"""The HTTP trigger of a terminal without a screen: a small JSON server on loopback that drives a
view-model, and its ticker (the ticket kiosk's :mod:`kiosk_app.ticket_kiosk.headless` and the rating
terminal's :mod:`kiosk_app.rating.headless` are built on it)."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

log = logging.getLogger("onestop.kiosk")


class Tickable(Protocol):
    """A view-model that a trigger drives: its device id, and a ``tick()`` for its timeouts."""

    device_id: str

    def tick(self) -> None:
        """Called a few times a second."""
        ...


class JsonHandler(BaseHTTPRequestHandler):
    """A request handler with JSON helpers; subclasses implement ``do_GET`` / ``do_POST``."""

    def log_message(self, format: str, *args: Any) -> None:
        """Requests go to the debug log, not to standard error."""
        log.debug("http: " + format, *args)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(min(n, 4096)) if n else b"{}"
        data = json.loads(raw or b"{}")
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data


class TriggerServer:
    """An HTTP trigger (``handler``) for a view-model (``start()`` / ``stop()``), plus its ticker."""

    def __init__(
        self, vm: Tickable, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.vm = vm
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def address(self) -> tuple[str, int]:
        """Where the trigger listens (the port is chosen by the system when 0 was asked)."""
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        """The trigger's base URL."""
        host, port = self.address
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Serve requests and tick the view-model (timeouts) in background threads."""
        for target, name in ((self._server.serve_forever, "http"), (self._tick, "tick")):
            th = threading.Thread(target=target, name=f"{self.vm.device_id}-{name}", daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self) -> None:
        """Stop serving and ticking."""
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        for th in self._threads:
            th.join(5)

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            self.vm.tick()

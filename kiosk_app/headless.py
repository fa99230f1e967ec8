"""The kiosk without a screen: the same view-model, driven over a small HTTP trigger on loopback.

``onestop kiosk --headless`` (and ``onestop up`` on machines without a display) runs this. Endpoints
(JSON in, JSON out; the view is :class:`~kiosk_app.viewmodel.View` as a dict):

- ``GET  /screen``: the current view.
- ``POST /tap`` ``{"service": "tuphap", "priority": false}``: take a number as a citizen would (the
  service, then the priority answer); waits for the outcome and returns the view (``done``,
  ``paper_out``, ``unreachable``, …). 409 while another request is in flight.
- ``POST /press`` ``{"action": "ok"}`` (``ok``, ``back``, ``retry``) and ``POST /language``
  ``{"lang": "en"}``: the other buttons.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from kiosk_app.viewmodel import KioskViewModel

log = logging.getLogger("onestop.kiosk")

#: Longest a ``POST /tap`` waits for its outcome (the issue timeouts are shorter).
TAP_WAIT_S = 30.0


def view_dict(vm: KioskViewModel) -> dict[str, Any]:
    """The current view as JSON-ready data."""
    return dataclasses.asdict(vm.view())


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


class HeadlessKiosk(TriggerServer):
    """The kiosk's HTTP trigger (``start()`` / ``stop()``), plus the idle ticker."""

    def __init__(self, vm: KioskViewModel, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(vm, _handler(vm), host, port)
        self.vm: KioskViewModel = vm


def _handler(vm: KioskViewModel) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/screen", ""):
                self._reply(200, view_dict(vm))
            else:
                self._reply(404, {"error": "not found: use GET /screen, POST /tap, /press, /language"})

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError as exc:
                self._reply(400, {"error": f"bad JSON: {exc}"})
                return
            path = self.path.rstrip("/")
            if path == "/tap":
                service = body.get("service")
                if not isinstance(service, str) or service not in {s.id for s in vm.services}:
                    offered = ", ".join(s.id for s in vm.services)
                    self._reply(400, {"error": f"service must be one of: {offered}"})
                    return
                before = vm.version
                if not vm.take_number(service, bool(body.get("priority", False))):
                    self._reply(409, {"error": "busy: a request is in flight", "view": view_dict(vm)})
                    return
                vm.wait_for(lambda m: m.version > before and not m.busy, TAP_WAIT_S)
                self._reply(200, view_dict(vm))
            elif path == "/press":
                taken = vm.press(str(body.get("action", "")))
                self._reply(200 if taken else 409, view_dict(vm))
            elif path == "/language":
                vm.set_language(body.get("lang", "vi"))
                self._reply(200, view_dict(vm))
            else:
                self._reply(404, {"error": "not found: use GET /screen, POST /tap, /press, /language"})

    return Handler

"""The kiosk without a screen: the same view-model, driven over a small HTTP trigger on loopback.

``onestop kiosk --headless`` (and ``onestop up`` on machines without a display) runs this. Endpoints
(JSON in, JSON out; the view is :class:`~kiosk_app.ticket_kiosk.viewmodel.View` as a dict):

- ``GET  /screen``: the current view.
- ``POST /tap`` ``{"service": "tuphap", "priority": false}``: take a number as a citizen would (the
  service, then the priority answer); waits for the outcome and returns the view (``done``,
  ``paper_out``, ``unreachable``, …). 409 while another request is in flight.
- ``POST /press`` ``{"action": "ok"}`` (``ok``, ``back``, ``retry``, ``take``, ``agree``, …) and
  ``POST /language`` ``{"lang": "en"}``: the other buttons; the answer waits for a ticket or a look-up
  that the button started.
- ``POST /scan`` ``{"text": "DL24120400017"}``: a scan at the kiosk's scanner (a booking or dossier
  code, an identity card's QR); ``POST /type`` ``{"code": "..."}``: a code typed on the keypad. Both
  wait for the look-up's outcome (``booking``, ``dossier``, ``lookup_down``, …) and return the view.
"""

from __future__ import annotations

import dataclasses
import logging
from http.server import BaseHTTPRequestHandler
from typing import Any

from kiosk_app.shell.trigger import JsonHandler, TriggerServer
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel

log = logging.getLogger("onestop.kiosk")

#: Longest a ``POST /tap`` waits for its outcome (the issue timeouts are shorter).
TAP_WAIT_S = 30.0


def view_dict(vm: KioskViewModel) -> dict[str, Any]:
    """The current view as JSON-ready data."""
    return dataclasses.asdict(vm.view())


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
                before = vm.version
                taken = vm.press(str(body.get("action", "")))
                if taken:
                    vm.wait_for(
                        lambda m: m.version > before and not m.busy and m.screen != "looking", TAP_WAIT_S
                    )
                self._reply(200 if taken else 409, view_dict(vm))
            elif path in ("/scan", "/type"):
                value = body.get("text" if path == "/scan" else "code")
                if not isinstance(value, str) or not value or len(value) > 4096:
                    self._reply(400, {"error": "expected a non-empty string of at most 4096 characters"})
                    return
                before = vm.version
                taken = vm.on_scan(_Scan(value)) if path == "/scan" else vm.type_code(value)
                if not taken:
                    self._reply(409, {"error": "busy: a ticket is on its way", "view": view_dict(vm)})
                    return
                vm.wait_for(lambda m: m.version > before and not m.busy and m.screen != "looking", TAP_WAIT_S)
                self._reply(200, view_dict(vm))
            elif path == "/language":
                vm.set_language(body.get("lang", "vi"))
                self._reply(200, view_dict(vm))
            else:
                self._reply(
                    404, {"error": "not found: use GET /screen, POST /tap, /press, /language, /scan, /type"}
                )

    return Handler


@dataclasses.dataclass(frozen=True)
class _Scan:
    """A scan given over HTTP (the shape of device_drivers.scanner.Scan)."""

    text: str
    complete: bool = True
    source: str = "http"

"""The rating terminal without a screen: the same view-model, driven over a small HTTP trigger on loopback.

``onestop rating --headless`` (and ``onestop up``) runs this. Endpoints (JSON in, JSON out; the view
is :class:`~kiosk_app.rating.viewmodel.RatingView` as a dict):

- ``GET  /screen``: the current view.
- ``POST /rate`` ``{"score": 3, "reasons": ["Chờ lâu"], "comment": "…", "wait_s": 5}``: rate the
  ticket that ended last, in one step; waits up to ``wait_s`` (default 5, at most 30) for a ticket
  to be offered, then for the outcome, and returns the view (``thanks``, ``idle`` when the window
  had passed, ``error``, ``unreachable``). 409 when no ticket is offered, 400 for a score or a
  reason that is not configured.
- ``POST /choose`` ``{"score": 1}``, ``POST /reason`` ``{"index": 0}``, ``POST /comment``
  ``{"index": 0}``, ``POST /press`` ``{"action": "send"}`` (``send``, ``back``, ``retry``, ``ok``)
  and ``POST /language`` ``{"lang": "en"}``: the buttons, one press each (with the press guard).
"""

from __future__ import annotations

import dataclasses
from http.server import BaseHTTPRequestHandler
from typing import Any

from kiosk_app.rating.viewmodel import RatingViewModel
from kiosk_app.shell.trigger import JsonHandler, TriggerServer

#: Longest a ``POST /rate`` waits for a ticket to rate, and then for the outcome.
RATE_WAIT_S = 30.0
ROUTES = "GET /screen, POST /rate, /choose, /reason, /comment, /press, /language"


def rating_view_dict(vm: RatingViewModel) -> dict[str, Any]:
    """The current view as JSON-ready data."""
    return dataclasses.asdict(vm.view())


class HeadlessRating(TriggerServer):
    """The rating terminal's HTTP trigger (``start()`` / ``stop()``), plus the ticker (window, thanks)."""

    def __init__(self, vm: RatingViewModel, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(vm, _handler(vm), host, port)
        self.vm: RatingViewModel = vm


def _offered(vm: RatingViewModel) -> bool:
    return vm.screen in ("rate", "reasons", "unreachable") and not vm.busy


def _handler(vm: RatingViewModel) -> type[BaseHTTPRequestHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            if self.path.rstrip("/") in ("/screen", ""):
                self._reply(200, rating_view_dict(vm))
            else:
                self._reply(404, {"error": f"not found: use {ROUTES}"})

        def _int(self, body: dict[str, Any], key: str) -> int | None:
            value = body.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def _index(self, body: dict[str, Any]) -> int:
            index = self._int(body, "index")
            return -1 if index is None else index

        def _rate(self, body: dict[str, Any]) -> None:
            score = self._int(body, "score")
            reasons = body.get("reasons", [])
            comment = body.get("comment", "")
            levels = len(vm.levels)
            if score is None or not 1 <= score <= levels:
                self._reply(400, {"error": f"score must be an integer 1..{levels}"})
                return
            if not isinstance(reasons, list) or any(r not in vm.reasons for r in reasons):
                self._reply(400, {"error": f"reasons must be among {vm.reasons}"})
                return
            if not isinstance(comment, str):
                self._reply(400, {"error": "comment must be text"})
                return
            wait = body.get("wait_s", 5)
            wait_s = min(float(wait), RATE_WAIT_S) if isinstance(wait, int | float) else 5.0
            vm.wait_for(_offered, max(0.0, wait_s))
            before = vm.version
            if not vm.rate(score, reasons, comment):
                self._reply(409, {"error": "nothing to rate now", "view": rating_view_dict(vm)})
                return
            vm.wait_for(lambda m: m.version > before and not m.busy, RATE_WAIT_S)
            self._reply(200, rating_view_dict(vm))

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError as exc:
                self._reply(400, {"error": f"bad JSON: {exc}"})
                return
            path = self.path.rstrip("/")
            taken: bool
            if path == "/rate":
                self._rate(body)
                return
            if path == "/choose":
                taken = vm.choose(self._int(body, "score") or 0)
            elif path == "/reason":
                taken = vm.toggle_reason(self._index(body))
            elif path == "/comment":
                taken = vm.toggle_comment(self._index(body))
            elif path == "/press":
                taken = vm.press(str(body.get("action", "")))
            elif path == "/language":
                taken = vm.set_language(body.get("lang", "vi"))
            else:
                self._reply(404, {"error": f"not found: use {ROUTES}"})
                return
            self._reply(200 if taken else 409, rating_view_dict(vm))

    return Handler

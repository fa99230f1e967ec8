"""The site as it is now: the latest retained states, and a fan-out of changes to web clients."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Subscriber:
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]


@dataclass
class LiveState:
    """Latest ``state/*`` payloads, updated from the MQTT thread and read by web handlers."""

    board: dict[str, Any] = field(default_factory=lambda: {"calls": [], "services": [], "seq": 0})
    counters: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    controller_online: bool | None = None
    #: The ticket each counter serves, whole (with its booking code and dossier): for the signed-in
    #: soft caller of that counter only (:meth:`serving`); the public views above leave those out.
    _serving: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    _subs: list[_Subscriber] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def update(self, kind: str, key: str, payload: dict[str, Any]) -> None:
        """Store a state message (``kind`` is board, counter or service) and tell every subscriber."""
        with self._lock:
            if kind == "board":
                self.board = payload
            elif kind == "counter":
                self._serving[key] = payload.get("serving") if isinstance(payload, dict) else None
                payload = public_counter(payload)
                self.counters[key] = payload
            elif kind == "service":
                self.services[key] = payload
        self._fan_out({"kind": kind, "key": key, "data": payload})

    def set_controller(self, online: bool) -> None:
        """Record whether the controller is online, and tell every subscriber."""
        self.controller_online = online
        self._fan_out({"kind": "controller", "key": "", "data": {"online": online}})

    def serving(self, counter: str) -> dict[str, Any] | None:
        """The ticket ``counter`` serves now, whole (None when nobody)."""
        with self._lock:
            t = self._serving.get(counter)
            return dict(t) if isinstance(t, dict) else None

    def snapshot(self) -> dict[str, Any]:
        """Everything at once, for a page that (re)connects."""
        with self._lock:
            return {
                "board": self.board,
                "counters": dict(self.counters),
                "services": dict(self.services),
                "controller_online": self.controller_online,
            }

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """A queue of changes for the calling event loop; give it back with :meth:`unsubscribe`."""
        q: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        with self._lock:
            self._subs.append(_Subscriber(asyncio.get_running_loop(), q))
        return q

    def unsubscribe(self, q: asyncio.Queue[dict[str, Any]]) -> None:
        """Stop sending changes to ``q``."""
        with self._lock:
            self._subs = [s for s in self._subs if s.queue is not q]

    def _fan_out(self, msg: dict[str, Any]) -> None:
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            try:
                s.loop.call_soon_threadsafe(_offer, s.queue, msg)
            except RuntimeError:  # that loop is closed: the client is gone
                self.unsubscribe(s.queue)


def public_ticket(t: dict[str, Any]) -> dict[str, Any]:
    """A ticket as the public pages may see it: a booking's slot but not its code, and whether it is
    a result pickup but not the dossier code (either leads to the citizen on the province's portal)."""
    out = dict(t)
    booking = out.get("booking")
    if isinstance(booking, dict):
        out["booking"] = {k: booking.get(k) for k in ("slot_start", "slot_end", "status", "line")}
    if out.get("dossier"):
        out["dossier"] = None
        out["pickup"] = True
    return out


def public_counter(st: Any) -> Any:
    """A counter state with its serving ticket made public (:func:`public_ticket`)."""
    if isinstance(st, dict) and isinstance(st.get("serving"), dict):
        return {**st, "serving": public_ticket(st["serving"])}
    return st


def _offer(q: asyncio.Queue[dict[str, Any]], msg: dict[str, Any]) -> None:
    if q.full():  # a stalled client gets the newest state, not an ever-growing backlog
        q.get_nowait()
    q.put_nowait(msg)

"""Hand-made controller events for feeding a :class:`HubStore` directly (no broker, no controller)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hub_api.store import HubStore


class EventFeed:
    """Builds consecutive events (``seq`` 1, 2, ...) with the shapes the controller publishes."""

    def __init__(self, store: HubStore) -> None:
        self.store = store
        self.seq = store.last_seq

    def _emit(self, kind: str, ts: str, data: dict[str, Any]) -> None:
        self.seq += 1
        self.store.apply([{"seq": self.seq, "type": kind, "ts": ts, "data": data}])

    def ticket(
        self,
        number: str,
        service: str,
        issued: str,
        *,
        day: str | None = None,
        wait_min: float | None = None,
        service_min: float | None = None,
        end: str | None = None,
        counter: str | None = "1",
        officer: str | None = "cb001",
        priority: bool = False,
    ) -> dict[str, Any]:
        """A ticket issued at ``issued`` (ISO), called after ``wait_min``, ending ``end``
        (done | skipped | expired | None: left as it is) ``service_min`` after the call."""
        at = datetime.fromisoformat(issued)
        tid = f"{day or at.strftime('%Y%m%d')}-{number}"
        t: dict[str, Any] = {
            "id": tid,
            "number": number,
            "service": service,
            "priority": priority,
            "status": "waiting",
            "issued_at": issued,
            "called_at": None,
            "counter": None,
            "first_called_at": None,
            "finished_at": None,
            "officer": None,
            "origin_service": service,
        }
        self._emit("ticket.issued", issued, {"ticket": dict(t), "ahead": 0, "est_wait_s": 0})
        if wait_min is not None:
            called = (at + timedelta(minutes=wait_min)).isoformat()
            t.update(
                status="called", called_at=called, first_called_at=called, counter=counter, officer=officer
            )
            self._emit("ticket.called", called, {"ticket": dict(t), "recall": False})
        if end is not None:
            base = datetime.fromisoformat(t["called_at"] or issued)
            fin = (base + timedelta(minutes=service_min or 0)).isoformat()
            t.update(status=end, finished_at=fin)
            self._emit(f"ticket.{end}", fin, {"ticket": dict(t)})
        return t

    def transfer(self, t: dict[str, Any], service: str, at: str) -> None:
        """Ticket ``t`` transferred at ``at`` to the end of ``service``'s line, waiting again (as the
        engine does: its first call is kept, its counter and call are cleared)."""
        from_service, from_counter = t["service"], t["counter"]
        t.update(status="waiting", service=service, counter=None, called_at=None, officer=None)
        self._emit(
            "ticket.transferred",
            at,
            {"ticket": dict(t), "from_service": from_service, "from_counter": from_counter, "front": False},
        )

    def rating(self, t: dict[str, Any], score: int, level: str, satisfied: bool, rated_at: str) -> None:
        """A rating of ticket ``t`` (served at its counter by its officer)."""
        r = {
            "ticket": t["id"],
            "number": t["number"],
            "service": t["service"],
            "counter": t["counter"],
            "officer": t["officer"],
            "officer_name": None,
            "score": score,
            "level": level,
            "satisfied": satisfied,
            "reasons": [],
            "comment": "",
            "rated_at": rated_at,
        }
        self._emit("rating.recorded", rated_at, {"rating": r, "ticket": t})

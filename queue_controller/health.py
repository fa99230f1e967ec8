"""The controller's own health: named conditions, published retained on ``dev/controller/health``.

Each part of the controller that can find something wrong (its clock, its store, a device that floods
it) owns one condition by name. A condition is ``"ok"`` or a short code, with a detail for people and
the instant it began. The hub shows the conditions on its device page and raises an alert for each one
that is not ``"ok"`` (docs/operations.md).

Payload (retained, QoS 1)::

    {"status": "ok" | "alarm", "conditions": {"clock": {"state": "ok", "detail": "", "since": ts}, ...},
     "ts": ts}
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from onestop.protocol import iso

log = logging.getLogger("onestop.controller.health")


@dataclass
class Condition:
    """One named condition."""

    state: str = "ok"
    detail: str = ""
    since: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return {"state": self.state, "detail": self.detail, "since": iso(self.since) if self.since else None}


class Health:
    """The set of conditions; ``changed`` tells the controller to publish it again."""

    def __init__(self) -> None:
        self.conditions: dict[str, Condition] = {}
        self.changed = True

    def set(self, name: str, state: str, detail: str, now: datetime) -> None:
        """Set condition ``name`` (``state`` ``"ok"`` clears it); logs each change once."""
        cur = self.conditions.get(name)
        if cur is not None and cur.state == state and cur.detail == detail:
            return
        since = cur.since if cur is not None and cur.state == state else now
        self.conditions[name] = Condition(state, detail, since)
        self.changed = True
        if state == "ok":
            if cur is not None and cur.state != "ok":
                log.warning("health %s: back to ok (%s)", name, detail or "cleared")
        else:
            log.warning("health %s: %s: %s", name, state, detail)

    def ok(self, name: str, now: datetime, detail: str = "") -> None:
        """Clear condition ``name``."""
        self.set(name, "ok", detail, now)

    def state(self, name: str) -> str:
        """The state of a condition (``"ok"`` when never set)."""
        cur = self.conditions.get(name)
        return cur.state if cur is not None else "ok"

    def detail_of(self, name: str) -> str:
        """The detail of a condition ("" when never set)."""
        cur = self.conditions.get(name)
        return cur.detail if cur is not None else ""

    def payload(self, now: datetime) -> dict[str, Any]:
        """The retained health message."""
        alarm = any(c.state != "ok" for c in self.conditions.values())
        return {
            "status": "alarm" if alarm else "ok",
            "conditions": {k: v.as_dict() for k, v in sorted(self.conditions.items())},
            "ts": iso(now),
        }

"""Reading the figures the controller publishes in its health message (queue_controller/metrics.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onestop.protocol import CONTROLLER_ID, Topics
from queue_controller.service import Controller

Counts = dict[tuple[str, str], int]


def command_counts(health: dict[str, Any]) -> Counts:
    """Commands answered by (op, result), from a health payload ({} when it carries no figures)."""
    rows = (health.get("metrics") or {}).get("commands") or []
    return {(r["op"], r["result"]): r["count"] for r in rows}


def published_counts(
    mqtt: Callable[..., Any], topics: Topics, ctl: Controller, until: Callable[[Counts], bool]
) -> Counts:
    """Ask the controller to publish its health now and return the first published counts that
    satisfy ``until`` (the controller counts a batch just after sending its replies)."""
    watcher = mqtt("monitor")
    watcher.subscribe(topics.dev_health(CONTROLLER_ID))
    ctl.publish_health_soon()
    msg = watcher.inbox.wait_for(
        topics.dev_health(CONTROLLER_ID), lambda m: until(command_counts(m.json())), timeout=10
    )
    return command_counts(msg.json())

"""A simulated day (`onestop up --traffic --speed S`): the controller's clock stays real, and the
waits and services it measures count S simulated seconds per second."""

from __future__ import annotations

import pytest

from onestop.clock import ManualClock
from queue_controller.engine import Engine
from tests.unit.sites import MONDAY_8AM, site


def serve_one(scale: float, service_real_s: float) -> tuple[Engine, list[str]]:
    """Serve one ``tuphap`` visit that lasts ``service_real_s`` by the clock; the kinds and flags."""
    clock = ManualClock(MONDAY_8AM)
    eng = Engine(site(), clock, time_scale=scale)
    assert eng.handle("counter-1", "open", {}).error is None
    assert eng.handle("kiosk-1", "issue", {"service": "tuphap"}).error is None
    assert eng.handle("counter-1", "call_next", {}).error is None
    clock.advance(service_real_s)
    d = eng.handle("counter-1", "finish", {})
    assert d.error is None
    return eng, [f"{kind}{data.get('flags', '')}" for kind, _ts, data in d.events]


def test_a_real_site_measures_by_the_clock() -> None:
    eng, kinds = serve_one(1.0, 4.0)  # 4 s: a clerk passing over a ticket, not a service
    assert kinds == ["ticket.done['short_service']"]
    assert eng.services["tuphap"].ewma_s == 5 * 60  # not learned: too short to be a service


def test_at_speed_60_four_seconds_are_a_four_minute_service() -> None:
    eng, kinds = serve_one(60.0, 4.0)
    assert kinds == ["ticket.done"]  # a real service of the simulated day
    a = eng.cfg.queue.ewma_alpha
    assert eng.services["tuphap"].ewma_s == pytest.approx(a * 240 + (1 - a) * 300)
    assert eng.span_s(MONDAY_8AM, ManualClock(MONDAY_8AM).advance(1.5)) == 90.0

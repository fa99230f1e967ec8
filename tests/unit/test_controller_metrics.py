"""The controller's figures (queue_controller/metrics.py) and the hub's reading of them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from hub_api.routers.metrics import _controller
from queue_controller.metrics import LATENCY_BUCKETS, CommandMetrics, result_of


def test_latency_buckets_are_inclusive_and_cumulative() -> None:
    m = CommandMetrics()
    m.handled("issue", "ok", 0.001)  # on a bound: counted in it (le = "less or equal")
    m.handled("issue", "ok", 0.0011)
    m.handled("call_next", "counter_closed", 100.0)  # above every bound: only +Inf
    lat = m.payload()["latency"]
    assert lat["le"] == [*LATENCY_BUCKETS, "+Inf"]
    assert lat["counts"][:2] == [1, 2] and lat["counts"][-2:] == [2, 3]
    assert (lat["count"], lat["sum"]) == (3, pytest.approx(100.0021))
    assert m.payload()["commands"] == [
        {"op": "call_next", "result": "counter_closed", "count": 1},
        {"op": "issue", "result": "ok", "count": 2},
    ]


def test_result_is_ok_or_the_error_code() -> None:
    assert result_of({"id": "a", "ok": True, "result": {}}) == "ok"
    assert (
        result_of({"id": "a", "ok": False, "error": {"code": "rate_limited", "message": ""}})
        == "rate_limited"
    )
    assert result_of({"id": "a", "ok": False}) == "error"


def test_the_process_figures_are_read() -> None:
    proc = CommandMetrics().payload()["process"]
    assert proc["rss_bytes"] > 0 and proc["open_fds"] > 0 and proc["cpu_seconds"] >= 0


class _One(Collector):
    def __init__(self, health: dict[str, Any]) -> None:
        self.health = health

    def collect(self) -> Any:
        return _controller(self.health, datetime.now(UTC))


def _render(health: dict[str, Any]) -> dict[str, list[Any]]:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_One(health))
    return {f.name: f.samples for f in text_string_to_metric_families(generate_latest(reg).decode())}


def test_the_hub_re_exports_the_figures_as_prometheus_families() -> None:
    m = CommandMetrics()
    m.handled("issue", "ok", 0.004)
    m.handled("issue", "rate_limited", 0.004)
    fams = _render({"ts": datetime.now(UTC).isoformat(), "metrics": m.payload()})
    counts = {(s.labels["op"], s.labels["result"]): s.value for s in fams["onestop_controller_commands"]}
    assert counts == {("issue", "ok"): 1, ("issue", "rate_limited"): 1}
    hist = {(s.name, s.labels.get("le")): s.value for s in fams["onestop_controller_command_latency_seconds"]}
    assert hist[("onestop_controller_command_latency_seconds_bucket", "0.0025")] == 0
    assert hist[("onestop_controller_command_latency_seconds_bucket", "0.005")] == 2
    assert hist[("onestop_controller_command_latency_seconds_count", None)] == 2


@pytest.mark.parametrize(
    "figures",
    [
        "not a dict",
        {"process": [], "commands": "x", "latency": None},
        {"commands": [{"op": 1, "result": "ok", "count": 1}, {"op": "x", "result": "ok", "count": "NaN"}]},
        {"latency": {"le": [0.1, "+Inf"], "counts": [1], "count": 1, "sum": 0.1}},
        {"latency": {"le": [0.1, 0.2], "counts": [1, 1], "count": 1, "sum": 0.1}},
        {"latency": {"le": ["a", "+Inf"], "counts": [1, 1], "count": 1, "sum": 0.1}},
        {"process": {"rss_bytes": float("inf"), "open_fds": True}},
    ],
)
def test_malformed_figures_are_left_out_not_fatal(figures: Any) -> None:
    fams = _render({"metrics": figures})
    assert "onestop_controller_command_latency_seconds" not in fams
    assert "onestop_controller_process_resident_memory_bytes" not in fams
    assert "onestop_controller_process_open_fds" not in fams
    assert not fams.get("onestop_controller_commands"), "a malformed row was exported"

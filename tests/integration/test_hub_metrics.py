"""The hub's /metrics, parsed as Prometheus parses it, against a real broker, controller and hub."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hub_api.app import Hub, create_app
from onestop.broker import free_port
from onestop.config import SiteConfig
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration

TOKEN_ENV = "ONESTOP_TEST_METRICS_BACKEND_TOKEN"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture
def site_cfg(site_factory: Callable[..., SiteConfig], monkeypatch: pytest.MonkeyPatch) -> SiteConfig:
    """The test site with a ``[backend]`` where nothing listens: what the hub owes stays owed."""
    monkeypatch.setenv(TOKEN_ENV, "tok-metrics-3f9a1c")
    url = f"http://127.0.0.1:{free_port('127.0.0.1')}/onestop"
    return site_factory({"backend": {"url": url, "token_env": TOKEN_ENV}})


@pytest.fixture
def api(hub: Hub) -> Iterator[TestClient]:
    """The hub's app with a viewer token in its headers."""
    with TestClient(create_app(hub, manage=False)) as client:
        assert hub.tokens is not None
        client.headers["Authorization"] = f"Bearer {hub.tokens.add('prometheus', 'viewer')}"
        yield client


def scrape(api: TestClient) -> dict[str, tuple[str, list[Sample]]]:
    """``/metrics`` parsed by prometheus_client's own parser: family name -> (type, samples)."""
    r = api.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(r.text)}


def value(fams: dict[str, tuple[str, list[Sample]]], family: str, sample: str = "", **labels: str) -> float:
    """The value of one sample (``sample`` defaults to the family's name)."""
    _kind, samples = fams[family]
    found = [s.value for s in samples if s.name == (sample or family) and s.labels == labels]
    assert len(found) == 1, (family, sample, labels, samples)
    return found[0]


def test_families_keep_their_names_and_types_on_a_private_registry(
    controller: Controller, device: DeviceFactory, hub: Hub, api: TestClient
) -> None:
    kiosk = device("kiosk-1")
    kiosk.request("issue", {"service": "tuphap"})
    kiosk.request("issue", {"service": "tuphap"})
    assert hub.ingest is not None and hub.ingest.wait_for_seq(2, 10)
    fams = scrape(api)
    kinds = {name: kind for name, (kind, _s) in fams.items()}
    # The names dashboards use (the parser names a counter without its "_total").
    assert {
        "onestop_hub_events_applied": "counter",
        "onestop_hub_ingest_replays": "counter",
        "onestop_hub_ingest_gaps": "counter",
        "onestop_hub_ingest_bad_messages": "counter",
        "onestop_hub_last_seq": "gauge",
        "onestop_hub_broker_connected": "gauge",
        "onestop_hub_controller_online": "gauge",
        "onestop_hub_tickets_waiting": "gauge",
        "onestop_hub_device_online": "gauge",
        "onestop_hub_devices_online": "gauge",
        "onestop_hub_alerts": "gauge",
    }.items() <= kinds.items()
    assert value(fams, "onestop_hub_last_seq") == 2
    assert value(fams, "onestop_hub_events_applied", "onestop_hub_events_applied_total") == 2
    assert value(fams, "onestop_hub_tickets_waiting", service="tuphap") == 2
    assert value(fams, "onestop_hub_device_online", device="kiosk-1", role="kiosk") == 1
    assert value(fams, "onestop_hub_broker_connected") == 1
    # No "_created" samples: a counter's start is the hub's, which process_start_time_seconds says.
    assert not any(s.name.endswith("_created") for _k, ss in fams.values() for s in ss)
    # The hub's registry is its own: nothing in the library's global one, nothing left between tests.
    assert hub.metrics is not None and hub.metrics is not REGISTRY
    assert b"onestop_" not in generate_latest(REGISTRY)


def controller_figures(hub: Hub) -> dict[str, Any]:
    """The ``metrics`` part of the controller's health as the hub stored it ({} before any)."""
    rows = hub.store.query("SELECT health FROM devices WHERE id = 'controller'")
    health = json.loads(rows[0]["health"]) if rows and rows[0]["health"] else {}
    return dict(health.get("metrics") or {})


def command_counts(figures: dict[str, Any]) -> dict[tuple[str, str], int]:
    return {(r["op"], r["result"]): r["count"] for r in figures.get("commands", [])}


def test_an_operator_sees_the_controller_the_queue_and_the_backlog(
    controller: Controller, device: DeviceFactory, hub: Hub, api: TestClient
) -> None:
    kiosk, counter = device("kiosk-1"), device("counter-1")
    with pytest.raises(Exception, match="counter_closed"):
        counter.request("call_next")  # refused: the counter is not open
    counter.request("open", {"officer": "cb001"})
    for _ in range(3):
        kiosk.request("issue", {"service": "tuphap"})
    counter.request("call_next")  # A001 called
    counter.request("call_next")  # A001 done (an outbox record, not delivered), A002 called
    assert hub.ingest is not None and hub.ingest.wait_for_seq(6, 10)
    mine = {("call_next", "counter_closed"): 1, ("open", "ok"): 1, ("issue", "ok"): 3, ("call_next", "ok"): 2}
    controller.publish_health_soon()  # rather than waiting for the periodic publication
    assert hub.ingest.wait_for(lambda: mine.items() <= command_counts(controller_figures(hub)).items(), 10), (
        controller_figures(hub)
    )

    before = datetime.now(UTC)
    fams = scrape(api)
    after = datetime.now(UTC)

    # Commands by op and result, and one latency observation per command.
    kind, samples = fams["onestop_controller_commands"]
    assert kind == "counter"
    counted = {(s.labels["op"], s.labels["result"]): s.value for s in samples if s.name.endswith("_total")}
    assert {k: counted.get(k) for k in mine} == mine
    assert set(counted) - set(mine) <= {("replay", "ok")}  # the hub's own catch-up
    kind, samples = fams["onestop_controller_command_latency_seconds"]
    assert kind == "histogram"
    buckets = [s for s in samples if s.name.endswith("_bucket")]
    assert buckets[-1].labels["le"] == "+Inf" and len(buckets) > 5
    assert [b.value for b in buckets] == sorted(b.value for b in buckets)  # cumulative
    total = value(
        fams, "onestop_controller_command_latency_seconds", "onestop_controller_command_latency_seconds_count"
    )
    assert total == buckets[-1].value == sum(counted.values())
    assert (
        value(
            fams,
            "onestop_controller_command_latency_seconds",
            "onestop_controller_command_latency_seconds_sum",
        )
        >= 0
    )

    # The controller's process (published by it), and the hub's (read by the hub).
    assert value(fams, "onestop_controller_process_resident_memory_bytes") > 0
    assert value(fams, "onestop_controller_process_open_fds") > 0
    cpu = "onestop_controller_process_cpu_seconds"
    assert fams[cpu][0] == "counter" and value(fams, cpu, cpu + "_total") >= 0
    assert value(fams, "onestop_controller_process_start_time_seconds") > 0
    assert value(fams, "process_resident_memory_bytes") > 0 and value(fams, "process_open_fds") > 0

    # The oldest waiting ticket: A003 (A002 is being served); none waits for the other services.
    [a003] = hub.store.query("SELECT issued_at FROM tickets WHERE number = 'A003'")
    issued = datetime.fromisoformat(a003["issued_at"])
    age = value(fams, "onestop_hub_oldest_waiting_seconds", service="tuphap")
    assert (before - issued).total_seconds() <= age <= (after - issued).total_seconds()
    assert value(fams, "onestop_hub_oldest_waiting_seconds", service="dkkd") == 0
    assert value(fams, "onestop_hub_tickets_waiting", service="tuphap") == 1

    # The back end is unreachable: A001's record is owed, as old as the event that made it.
    [rec] = hub.store.query("SELECT created FROM outbox WHERE stream = 'queue-records'")
    made = datetime.fromisoformat(rec["created"])
    lag = value(fams, "onestop_hub_forwarder_lag_seconds", stream="queue-records")
    assert (before - made).total_seconds() <= lag <= (after - made).total_seconds()
    assert value(fams, "onestop_hub_forwarder_lag_seconds", stream="ratings") == 0
    assert value(fams, "onestop_hub_forwarder_pending", stream="queue-records") == 1

    # Devices online by role: every role of site.toml, online or not.
    assert value(fams, "onestop_hub_devices_online_by_role", role="kiosk") == 1
    assert value(fams, "onestop_hub_devices_online_by_role", role="counter") == 1
    assert value(fams, "onestop_hub_devices_online_by_role", role="board") == 0

    # Every family served is listed in docs/operations.md "Metrics", with its type.
    section = OPERATIONS.read_text(encoding="utf-8").split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    for name, (kind, _samples) in fams.items():
        shown = f"{name}_total" if kind == "counter" else name
        assert f"`{shown}`" in section, f"{shown} ({kind}) is not in docs/operations.md Metrics"
        row = next((line for line in section.splitlines() if line.startswith(f"| `{shown}`")), None)
        assert row is None or f"| {kind} |" in row, row

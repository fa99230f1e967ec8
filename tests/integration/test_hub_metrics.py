"""The hub's /metrics, parsed as Prometheus parses it, against a real broker, controller and hub."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from hub_api.app import Hub, create_app
from onestop.config import SiteConfig
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def hub(site_cfg: SiteConfig, broker: Any, credentials: dict[str, str], tmp_path: Path) -> Iterator[Hub]:
    """A started hub on the test broker."""
    h = Hub.open(
        site_cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port
    )
    h.start()
    assert h.ingest is not None
    h.ingest.mqtt.wait_connected(10)
    yield h
    h.stop()


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

"""The whole chain: controller → hub (ingest, outbox, forwarder) → the reference back end over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub_api.app import Hub
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.fake_backend import BackendServer, FakeBackend
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory
from tests.utils.outbox import assert_exactly_once_in_order

pytestmark = pytest.mark.integration

TOKEN = "tok-hub-8c1e4a"
TOKEN_ENV = "ONESTOP_TEST_HUB_BACKEND_TOKEN"


@pytest.fixture
def fake() -> Iterator[BackendServer]:
    """The reference back end on a free loopback port."""
    server = BackendServer(FakeBackend(TOKEN)).start()
    yield server
    server.stop()


@pytest.fixture
def site_cfg(site_factory: Callable[..., SiteConfig], fake: BackendServer) -> SiteConfig:
    """The test site, with a ``[backend]`` pointing at the reference back end."""
    return site_factory({"backend": {"url": f"{fake.url}/onestop", "token_env": TOKEN_ENV}})


def test_the_hub_forwards_what_the_controller_decided(
    controller: Controller,
    device: DeviceFactory,
    broker: Broker,
    credentials: dict[str, str],
    site_cfg: SiteConfig,
    fake: BackendServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    db = tmp_path / "hub.db"
    hub = Hub.open(site_cfg, credentials["hub"], db_path=db, host=broker.host, port=broker.port)
    hub.start()
    try:
        assert hub.forwarder is not None and hub.forwarder.running
        kiosk, counter, rater = device("kiosk-1"), device("counter-1"), device("rate-1")
        counter.request("open", {"officer": "cb001"})
        for _ in range(3):
            kiosk.request("issue", {"service": "tuphap"})
        counter.request("call_next")
        counter.request("call_next")  # A001 done
        rater.request("rate", {"score": 3})
        counter.request("skip")  # A002 skipped
        backend = fake.backend
        assert backend.wait_for(lambda: backend.stats()["records"] >= 3, 20)
        assert hub.forwarder.wait_drained(20)
        got = {s: [r["record"] for r in backend.records(s)] for s in ("queue-records", "ratings")}
        assert [(r["number"], r["outcome"]) for r in got["queue-records"]] == [
            ("A001", "done"),
            ("A002", "skipped"),
        ]
        assert [(r["number"], r["level"], r["officer"]) for r in got["ratings"]] == [
            ("A001", "Rất hài lòng", "cb001")
        ]
        assert_exactly_once_in_order(backend, db)
        m = hub.forwarder.metrics()
        assert m["running"] and m["streams"]["ratings"]["pending"] == 0
    finally:
        hub.stop()
    assert not hub.forwarder.running

"""The whole chain: controller → hub (ingest, outbox, forwarder) → the reference back end over HTTP."""

from __future__ import annotations

import socket
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


def test_the_hub_pings_for_ingest_and_forwarder_and_a_slow_back_end_is_no_wedge(
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
    monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WatchdogSec=0.4: a ping every 0.2 s
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert site_cfg.backend is not None
    cfg = site_cfg.model_copy(update={"backend": site_cfg.backend.model_copy(update={"timeout_s": 3.0})})
    fake.backend.control({"mode": "timeout", "hold_s": 30})  # held past the 3 s deadline (> 2 s of silence)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(tmp_path / "notify"))
        sock.settimeout(2.0)  # ten ping intervals: silence this long would mean the pings stopped
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        hub = Hub.open(
            cfg, credentials["hub"], db_path=tmp_path / "hub.db", host=broker.host, port=broker.port
        )
        hub.start()
        try:
            fwd, ingest = hub.forwarder, hub.ingest
            assert fwd is not None and fwd.running and ingest is not None
            assert fwd.liveness is ingest.liveness  # one process, one verdict
            assert ingest.liveness.loops == [
                "hub ingest loop",
                "forwarder of queue-records",
                "forwarder of ratings",
            ]
            kiosk, counter = device("kiosk-1"), device("counter-1")
            counter.request("open", {"officer": "cb001"})
            kiosk.request("issue", {"service": "tuphap"})
            counter.request("call_next")
            counter.request("finish")  # a queue record to forward, which the back end never answers
            st = fwd.status["queue-records"]
            for _ in range(400):  # pings go on, request after request cut off at its deadline
                assert sock.recv(64) == b"WATCHDOG=1"
                if st.consecutive_failures >= 2:
                    break
            else:
                raise AssertionError(f"the forwarder never failed twice: {st}")
            assert "timeout" in (st.last_error or "")
        finally:
            hub.stop()
    assert ingest.liveness.loops == []

"""Fixtures shared by every suite: a site file, a real Mosquitto for it, MQTT test clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from tests.utils.mqtt import TestClient, connect
from tests.utils.site import make_site

# Hypothesis's default deadline (200 ms per example) is a wall-clock threshold: on a loaded machine
# (CI with two cores, other tests running) a correct example takes longer and the test fails as
# "flaky". Properties here are about behaviour, never speed (that is bench/'s job).
settings.register_profile("onestop", deadline=None)
settings.load_profile("onestop")

SiteFactory = Callable[..., SiteConfig]
MqttFactory = Callable[..., TestClient]

# `pytest --hypothesis-profile=emulated` (scripts/arm64.sh: the unit tests under QEMU, 5-10 times
# slower): the same examples, without the checks that measure time, which there say nothing about
# the code.
settings.register_profile("emulated", deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def site_factory(tmp_path: Path) -> SiteFactory:
    """``site_factory(overrides=None, *, extra="", name="site.toml")``: write and load a site file."""

    def make(
        overrides: dict[str, Any] | None = None, *, extra: str = "", name: str = "site.toml"
    ) -> SiteConfig:
        return make_site(tmp_path, overrides, extra=extra, name=name)

    return make


@pytest.fixture
def site_cfg(site_factory: SiteFactory) -> SiteConfig:
    """The default test site (``t-site``), loaded from a file in ``tmp_path``."""
    return site_factory()


@pytest.fixture
def broker(site_cfg: SiteConfig, tmp_path: Path) -> Iterator[Broker]:
    """A started private Mosquitto for ``site_cfg`` on a free port, stopped after the test."""
    b = Broker(site_cfg, tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def credentials(broker: Broker) -> dict[str, str]:
    """Every account's password, as the broker knows it."""
    return ensure_credentials(broker.cfg)


@pytest.fixture
def mqtt(broker: Broker, credentials: dict[str, str]) -> Iterator[MqttFactory]:
    """``mqtt(account, password=None, **kw)``: a connected test client (its own password by default)."""
    clients: list[TestClient] = []

    def make(account: str | None, password: str | None = None, **kw: Any) -> TestClient:
        if password is None and account is not None:
            password = credentials.get(account, "")
        client = connect(broker.host, broker.port, account, password, **kw)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()

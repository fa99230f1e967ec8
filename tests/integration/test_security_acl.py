"""The role × topic matrix of tests/integration/test_broker_acl.py, run again against the broker files
``onestop provision`` generated, over the TLS listener that devices use on the LAN.

The tests are imported, not copied: this module only swaps the fixtures they use (``site_cfg``,
``broker`` and ``mqtt``) for a provisioned site, its generated ``mosquitto.conf`` and TLS clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from onestop.config import SiteConfig
from tests.conftest import MqttFactory
from tests.integration.test_broker_acl import (  # noqa: F401 - collected here with the fixtures below
    test_anonymous_is_refused,
    test_another_accounts_password_is_refused,
    test_publish_matrix,
    test_read_matrix,
    test_reload_lets_a_new_device_in_with_its_rules,
    test_reload_shuts_out_a_removed_device,
    test_unknown_account_is_refused,
    test_wrong_password_is_refused,
)
from tests.integration.test_client_id_binding import (  # noqa: F401 - collected here as well
    test_a_device_cannot_take_another_accounts_client_id,
)
from tests.utils.mqtt import TestClient
from tests.utils.provisioned import ProvisionedBroker, provision_site, tls_client

pytestmark = pytest.mark.integration


@pytest.fixture
def site_cfg(tmp_path: Path) -> SiteConfig:
    """The test site, written to ``tmp_path`` and provisioned with ``site init``."""
    return provision_site(tmp_path)


@pytest.fixture
def broker(site_cfg: SiteConfig, tmp_path: Path) -> Iterator[ProvisionedBroker]:
    """Mosquitto running the generated configuration."""
    b = ProvisionedBroker(site_cfg, tmp_path / "run")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def mqtt(broker: ProvisionedBroker, credentials: dict[str, str]) -> Iterator[MqttFactory]:
    """``mqtt(account, password=None)``: a client connected over TLS to the LAN listener."""
    clients: list[TestClient] = []

    def make(account: str | None, password: str | None = None, **kw: Any) -> TestClient:
        if password is None and account is not None:
            password = credentials.get(account, "")
        client = tls_client(account, password, broker.layout.ca_cert, client_id=kw.get("client_id"))
        clients.append(client)
        return client.connect("127.0.0.1", broker.tls_port)

    yield make
    for c in clients:
        c.close()

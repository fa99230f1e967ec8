"""A real Mosquitto running the configuration that ``onestop provision site init`` generated.

The site file sets free ports (``[broker] port`` for loopback, ``tls_port`` for TLS); the broker is
started from the generated ``mosquitto.conf`` untouched, by :class:`onestop.broker.Broker`'s process
handling. Reloading rewrites the password file and ACL with provisioning's own function.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from onestop.broker import Broker, _run_as, free_port
from onestop.config import SiteConfig, load
from provisioning.files import Layout
from provisioning.site import init_site, write_auth_files
from tests.utils.mqtt import TestClient
from tests.utils.site import write_site


class ProvisionedBroker(Broker):
    """Mosquitto started with a site's generated ``mosquitto.conf`` (its loopback port is ``port``)."""

    def __init__(self, cfg: SiteConfig, run_dir: Path) -> None:
        super().__init__(cfg, run_dir, host="127.0.0.1", port=cfg.broker.port)
        self.layout = Layout.of(cfg)
        self._tls_port = cfg.broker.tls_port  # a reload may bring a site file with other ports

    @property
    def conf_path(self) -> Path:
        """The generated configuration, used as it is."""
        return self.layout.broker_conf

    @property
    def password_path(self) -> Path:
        """The generated password file."""
        return self.layout.password_file

    @property
    def acl_path(self) -> Path:
        """The generated ACL."""
        return self.layout.acl_file

    @property
    def tls_port(self) -> int:
        """The TLS listener's port."""
        return self._tls_port

    def _write_auth_files(self) -> None:
        write_auth_files(self.cfg, self.layout)

    def _write_conf(self, port: int) -> None:
        pass  # the generated file is the one under test


def provision_site(directory: Path, overrides: dict[str, Any] | None = None) -> SiteConfig:
    """Write the test site with free broker ports into ``directory`` and run ``site init`` on it."""
    directory.mkdir(parents=True, exist_ok=True)
    ports = {"broker": {"port": free_port(), "tls_port": free_port()}}
    write_site(directory, {**ports, **(overrides or {})})
    init_site(directory, lan_hosts=["127.0.0.1"], broker_user=_run_as(), tls_bind="127.0.0.1")
    return load(directory / "site.toml")


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` only (None: the system store, which lacks the site CA)."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def tls_client(
    account: str | None, password: str | None, ca_file: Path | None, *, client_id: str | None = None
) -> TestClient:
    """A :class:`TestClient` that will connect over TLS (not connected yet)."""
    client = TestClient(account, password, client_id=client_id)
    client.paho.tls_set_context(tls_context(ca_file))
    return client

"""HTTPS on the LAN: ``onestop hub`` serving TLS with the certificate ``site init`` made from the site CA."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onestop.config import SiteConfig
from onestop.credentials import secrets_dir
from provisioning import pki
from provisioning.check import check_site
from provisioning.files import Layout
from tests.utils.provisioned import ProvisionedBroker, provision_site, tls_context
from tests.utils.web import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    """A provisioned site whose hub serves HTTP on loopback and HTTPS on another loopback port."""
    plain, tls = free_port(), free_port()
    hub = {
        "listen": f"127.0.0.1:{plain}",
        "tls_listen": f"127.0.0.1:{tls}",
        "public_url": f"https://127.0.0.1:{tls}",
    }
    return provision_site(tmp_path / "site", {"hub": hub})


@pytest.fixture
def gbroker(site: SiteConfig, tmp_path: Path) -> Iterator[ProvisionedBroker]:
    b = ProvisionedBroker(site, tmp_path / "run")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def _get(client: httpx.Client, url: str, timeout: float = 20) -> httpx.Response:
    """GET ``url`` once the hub listens (a child process: there is no event to wait on, so poll)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return client.get(url)
        except httpx.ConnectError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                raise
            last = exc
        pause.wait(0.1)
    raise AssertionError(f"{url} never answered: {last!r}")


@pytest.fixture
def hub_process(
    site: SiteConfig, gbroker: ProvisionedBroker, tmp_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "hub.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "onestop", "hub", "--config", site.source, "--db", str(tmp_path / "hub.db")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ONESTOP_LOG": ""},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        log.close()


def test_the_hub_serves_https_with_the_site_ca_and_http_on_loopback(
    site: SiteConfig, hub_process: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    layout = Layout.of(site)
    cert = pki.load_cert(site.site_path(site.hub.tls_cert))
    assert pki.issued_by(cert, pki.load_cert(layout.ca_cert))
    assert {"localhost", "127.0.0.1", "::1"} <= set(pki.san_hosts(cert))
    with httpx.Client(base_url=site.hub.public_url, verify=tls_context(layout.ca_cert), timeout=5) as lan:
        health = _get(lan, "/healthz")
        assert health.status_code == 200 and health.json()["site"] == site.site.id
        assert lan.get("/t/20261203-A001").status_code == 404  # the pages are served over HTTPS too
        # the dashboard's session cookie is Secure over HTTPS
        token = (secrets_dir(site) / "hub-admin.token").read_text().strip()
        signed_in = lan.post("/api/session", json={"token": token})
        assert signed_in.status_code == 200
        assert "secure" in signed_in.headers["set-cookie"].lower()
    plain = site.hub.listen
    with httpx.Client(base_url=f"http://{plain}", timeout=5) as local:
        assert _get(local, "/healthz").status_code == 200
        signed_in = local.post("/api/session", json={"token": token})
        assert "secure" not in signed_in.headers["set-cookie"].lower()
    # a client that does not trust the site CA (the system store) is refused
    stranger = httpx.Client(base_url=site.hub.public_url, verify=tls_context(None), timeout=5)
    with stranger, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        stranger.get("/healthz")
    # plain HTTP to the TLS port gets no answer: nothing crosses the LAN in clear
    with httpx.Client(timeout=5) as wrong, pytest.raises(httpx.RemoteProtocolError):
        wrong.get(site.hub.public_url.replace("https://", "http://") + "/healthz")
    assert check_site(site).ok, check_site(site).render()
    hub_process.send_signal(signal.SIGTERM)
    # both listeners stop on one signal (uvicorn re-raises it once done: systemd sees a clean stop)
    assert hub_process.wait(20) in (0, -signal.SIGTERM)
    log = (tmp_path / "hub.log").read_text()
    assert log.count("Finished server process") == 2 and log.count("Application shutdown complete") == 1


def test_a_hub_without_its_certificate_says_so_in_one_line(site: SiteConfig) -> None:
    site.site_path(site.hub.tls_key).unlink()
    r = subprocess.run(
        [sys.executable, "-m", "onestop", "hub", "--config", site.source],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert (
        r.stderr.strip()
        .splitlines()[-1]
        .endswith(
            f"hub.tls_key: {site.site_path(site.hub.tls_key)} is missing "
            "(run `onestop provision site init`, docs/deployment.md)"
        )
    )

"""Site security against a real Mosquitto running the configuration ``onestop provision`` generated:
TLS on the LAN listener, accounts, revocation, secrets kept out of logs, private files.

(The hub API's token roles are tested with the hub, not here.)
"""

from __future__ import annotations

import logging
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from onestop.broker import _run_as
from onestop.config import SiteConfig, load
from onestop.credentials import ensure_credentials, secret_path, secrets_dir
from onestop.device import DeviceClient
from onestop.mqtt import BrokerUnreachable
from onestop.protocol import Topics
from provisioning.devices import add_device, bundle_device, revoke_device
from provisioning.files import Layout
from provisioning.reload import pidfile_reloader
from provisioning.site import init_site
from queue_controller.service import Controller
from tests.utils.mqtt import ConnectRefused, TestClient, connect
from tests.utils.provisioned import ProvisionedBroker, provision_site, tls_client

pytestmark = pytest.mark.integration

REFUSED_LOGIN = {0x86, 0x87}


@pytest.fixture
def site(tmp_path: Path) -> SiteConfig:
    """The test site, provisioned with ``site init`` (CA, broker certificate, broker files)."""
    return provision_site(tmp_path / "site")


@pytest.fixture
def gbroker(site: SiteConfig, tmp_path: Path) -> Iterator[ProvisionedBroker]:
    """Mosquitto running the generated configuration."""
    b = ProvisionedBroker(site, tmp_path / "run")
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def clients() -> Iterator[list[TestClient]]:
    """Clients to close after the test."""
    made: list[TestClient] = []
    yield made
    for c in made:
        c.close()


def _tls(
    gbroker: ProvisionedBroker, clients: list[TestClient], account: str, password: str, ca: Path | None
) -> TestClient:
    c = tls_client(account, password, ca)
    clients.append(c)
    return c.connect("127.0.0.1", gbroker.tls_port)


# -- TLS on the LAN listener ---------------------------------------------------------------------


def test_tls_with_the_site_ca_and_password_connects(
    gbroker: ProvisionedBroker, clients: list[TestClient]
) -> None:
    password = ensure_credentials(gbroker.cfg)["kiosk-1"]
    client = _tls(gbroker, clients, "kiosk-1", password, gbroker.layout.ca_cert)
    assert client.connected
    t = Topics(gbroker.cfg.site.id)
    assert not client.publish_acked(t.dev_status("kiosk-1"), b"x").is_failure


def test_plain_mqtt_to_the_tls_listener_fails(gbroker: ProvisionedBroker) -> None:
    password = ensure_credentials(gbroker.cfg)["kiosk-1"]
    with pytest.raises(ConnectRefused) as info:
        connect("127.0.0.1", gbroker.tls_port, "kiosk-1", password)
    assert info.value.reason is None  # no CONNACK at all: the broker dropped the non-TLS bytes


def test_tls_without_trusting_the_site_ca_fails_verification(gbroker: ProvisionedBroker) -> None:
    password = ensure_credentials(gbroker.cfg)["kiosk-1"]
    client = tls_client("kiosk-1", password, None)  # the system store does not hold the site CA
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            client.connect("127.0.0.1", gbroker.tls_port)
    finally:
        client.close()


def test_tls_with_a_wrong_password_is_refused(gbroker: ProvisionedBroker, clients: list[TestClient]) -> None:
    password = ensure_credentials(gbroker.cfg)["kiosk-1"]
    with pytest.raises(ConnectRefused) as info:
        _tls(gbroker, clients, "kiosk-1", password + "x", gbroker.layout.ca_cert)
    assert info.value.reason is not None and info.value.reason.value in REFUSED_LOGIN


def test_anonymous_is_refused_on_both_listeners(
    gbroker: ProvisionedBroker, clients: list[TestClient]
) -> None:
    with pytest.raises(ConnectRefused):
        connect("127.0.0.1", gbroker.port, None, None)
    with pytest.raises(ConnectRefused):
        _tls(gbroker, clients, None, None, gbroker.layout.ca_cert)  # type: ignore[arg-type]


def test_loopback_listener_is_bound_to_loopback_only(gbroker: ProvisionedBroker) -> None:
    conf = gbroker.conf_path.read_text()
    assert f"listener {gbroker.port} 127.0.0.1\n" in conf
    assert "allow_anonymous false" in conf and "allow_anonymous true" not in conf


# -- a device as it runs on a Pi: its bundle's site.toml, TLS, its secret --------------------------


def test_a_bundled_device_connects_over_tls(gbroker: ProvisionedBroker, tmp_path: Path) -> None:
    cfg = gbroker.cfg
    bundle = bundle_device(Path(cfg.source), "counter-1", tmp_path / "usb", broker_host="127.0.0.1")
    device_cfg = load(bundle / "etc" / "site.toml")
    assert device_cfg.broker.tls and device_cfg.broker.port == gbroker.tls_port
    assert device_cfg.broker_ca == str(bundle / "etc" / "ca.crt")
    password = (bundle / "secrets" / "counter-1.secret").read_text().strip()
    client = DeviceClient(
        cfg.site.id,
        "counter-1",
        "counter",
        host=device_cfg.broker.host,
        port=device_cfg.broker.port,
        password=password,
        tls_ca=device_cfg.broker_ca,
    )
    client.start(wait=5)
    try:
        assert client.mqtt.connected.is_set()
    finally:
        client.stop()


# -- enrolment and revocation against the running broker -----------------------------------------


def test_added_device_gets_in_and_revoked_device_is_shut_out(
    gbroker: ProvisionedBroker, clients: list[TestClient]
) -> None:
    config = Path(gbroker.cfg.source)
    ca = gbroker.layout.ca_cert

    def reload() -> str:
        gbroker.reload(load(config))
        return "reloaded the test broker"

    cfg, _ = add_device(config, "kiosk-9", "kiosk", reload=reload)
    password = ensure_credentials(cfg)["kiosk-9"]
    assert _tls(gbroker, clients, "kiosk-9", password, ca).connected

    revoke_device(config, "kiosk-9", reload=reload)
    assert not secret_path(cfg, "kiosk-9").exists()
    with pytest.raises(ConnectRefused) as info:
        _tls(gbroker, clients, "kiosk-9", password, ca)
    assert info.value.reason is not None and info.value.reason.value in REFUSED_LOGIN


def test_revoke_through_the_pidfile_reloader(gbroker: ProvisionedBroker, tmp_path: Path) -> None:
    password = ensure_credentials(gbroker.cfg)["board-1"]
    assert connect(gbroker.host, gbroker.port, "board-1", password).connected
    pidfile = tmp_path / "mosquitto.pid"
    pidfile.write_text(f"{gbroker.pid}\n")
    offset = gbroker._log_size()

    revoke_device(Path(gbroker.cfg.source), "board-1", reload=pidfile_reloader(pidfile))
    assert gbroker._wait_for(lambda: "Reloading config." in gbroker._log_since(offset), "reload")

    with pytest.raises(ConnectRefused):
        connect(gbroker.host, gbroker.port, "board-1", password)


# -- secrets stay out of logs; files are private -------------------------------------------------


def test_secrets_never_appear_in_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    cfg = provision_site(tmp_path / "site")
    config = Path(cfg.source)
    init_site(config.parent, lan_hosts=["127.0.0.1"], broker_user=_run_as(), tls_bind="127.0.0.1")  # again
    broker = ProvisionedBroker(cfg, tmp_path / "run")
    broker.start()
    try:

        def reload() -> str:
            broker.reload(load(config))
            return "reloaded"

        cfg, _ = add_device(config, "kiosk-9", "kiosk", reload=reload)
        bundle_device(config, "kiosk-9", tmp_path / "usb", tar=True)
        creds = ensure_credentials(cfg)
        ctl = Controller(
            cfg, creds["controller"], db_path=tmp_path / "c.db", host=broker.host, port=broker.port
        )
        ctl.start()
        ctl.stop()
        with pytest.raises(BrokerUnreachable):
            DeviceClient(
                cfg.site.id,
                "kiosk-9",
                "kiosk",
                host=broker.host,
                port=broker.port,
                password="wrong-" + "x" * 8,
            ).start(wait=5)
        revoke_device(config, "kiosk-9", reload=reload)
    finally:
        broker.stop()
    out = capsys.readouterr()
    logs = "\n".join([caplog.text, out.out, out.err, broker.log_path.read_text(errors="replace")])
    assert "kiosk-9" in logs and "controller" in logs  # the logs are there and say something
    for account, secret in creds.items():
        assert secret not in logs, f"the secret of {account} appears in the logs"


def test_secret_files_and_keys_are_private(site: SiteConfig) -> None:
    layout = Layout.of(site)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    for folder in (layout.pki, layout.broker, secrets_dir(site)):
        assert mode(folder) == 0o700, folder
    private = [layout.ca_key, layout.broker_key, layout.password_file, layout.acl_file, layout.broker_conf]
    private += list(secrets_dir(site).iterdir())
    assert {p.name: mode(p) for p in private} == {p.name: 0o600 for p in private}
    assert b"PRIVATE KEY" not in layout.ca_cert.read_bytes()

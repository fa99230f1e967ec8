"""A site installs the province's bridge bundle: the broker's config gains the bridge, kept across
regenerations, and a bundle for another site is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestop.cli import main
from onestop.config import load
from province import bridge as province_bridge
from provisioning.bridge import MARKER, BridgeBundleError, install_bridge
from provisioning.files import Layout
from provisioning.site import init_site


@pytest.fixture
def site(tmp_path: Path) -> Path:
    init_site(tmp_path / "site", site_id="hg-xa-a", lan_hosts=["192.168.1.10"], broker_user="nobody")
    return tmp_path / "site" / "site.toml"


def _bundle(tmp_path: Path, site_id: str) -> Path:
    d = province_bridge.init_broker_dir(tmp_path / "pb", "hg", ["mqtt.province.example"])
    province_bridge.add_site(d, site_id, "mqtt.province.example", 8883).write(tmp_path / f"bundle-{site_id}")
    return tmp_path / f"bundle-{site_id}"


def test_the_bridge_is_installed_into_the_broker_conf_and_survives_regeneration(
    site: Path, tmp_path: Path
) -> None:
    bundle = _bundle(tmp_path, "hg-xa-a")
    assert main(["provision", "bridge", "install", "--config", str(site), "--bundle", str(bundle)]) == 0
    layout = Layout.of(load(site))
    conf = layout.broker_conf.read_text()
    assert MARKER in conf and "connection onestop-province" in conf
    assert f"bridge_cafile {layout.broker / 'province-ca.crt'}" in conf
    assert "remote_username hg-xa-a" in conf and "topic onestop/v1/hg-xa-a/events out 1" in conf
    # Provisioning the site again keeps the bridge, once.
    init_site(site.parent, site_id="hg-xa-a", lan_hosts=["192.168.1.10"], broker_user="nobody")
    again = layout.broker_conf.read_text()
    assert again.count("connection onestop-province") == 1 and again.count(MARKER) == 1
    assert main(["provision", "bridge", "remove", "--config", str(site)]) == 0
    assert "onestop-province" not in layout.broker_conf.read_text()


def test_a_bundle_made_for_another_site_is_refused(site: Path, tmp_path: Path) -> None:
    cfg = load(site)
    with pytest.raises(BridgeBundleError, match="made for site 'hg-xa-b'"):
        install_bridge(cfg, Layout.of(cfg), _bundle(tmp_path, "hg-xa-b"))
    assert main(["provision", "bridge", "install", "--config", str(site), "--bundle", str(tmp_path)]) == 2

"""Sites bridged to the province broker: two real Mosquittos, TLS with the province CA, an ACL per site."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from onestop.broker import Broker, free_port
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from province import bridge, migrations
from province.bridge import ProvinceBroker, ProvinceBrokerDir
from province.store import Store
from tests.utils.mqtt import ConnectRefused, TestClient, connect
from tests.utils.postgres import pg_cluster, pg_dsn  # noqa: F401  # fixtures
from tests.utils.province import ProvinceNode

pytestmark = pytest.mark.integration

WAIT_S = 20.0


@pytest.fixture
def province_dir(tmp_path: Path) -> ProvinceBrokerDir:
    return bridge.init_broker_dir(tmp_path / "province-broker", "hg", ["127.0.0.1", "localhost"])


@pytest.fixture
def province_broker(province_dir: ProvinceBrokerDir) -> Iterator[ProvinceBroker]:
    pb = ProvinceBroker(province_dir, tls_port=free_port())
    pb.start()
    yield pb
    pb.stop()


def _watch(pb: ProvinceBroker, d: ProvinceBrokerDir) -> TestClient:
    """The province service's view: every site's topics."""
    password = d.service_password.read_text().strip()
    client = connect(pb.host, pb.port, bridge.SERVICE_ACCOUNT, password)
    client.subscribe("onestop/v1/#")
    return client


def _site_broker(cfg: SiteConfig, d: ProvinceBrokerDir, pb: ProvinceBroker, root: Path) -> Broker:
    """The site's own broker with the bridge files a technician would copy there."""
    assert pb._tls is not None
    bundle = bridge.add_site(
        d, cfg.site.id, "127.0.0.1", pb._tls.port, cafile=root / "bundle" / "province-ca.crt"
    )
    bundle.write(root / "bundle")
    pb.reload_files()  # the province broker learns the new account
    return Broker(cfg, root / "site-broker", extra_conf=(root / "bundle" / "onestop-bridge.conf").read_text())


def test_a_site_bridges_its_state_and_events_and_nothing_else(
    site_cfg: SiteConfig, province_dir: ProvinceBrokerDir, province_broker: ProvinceBroker, tmp_path: Path
) -> None:
    watch = _watch(province_broker, province_dir)
    site = _site_broker(site_cfg, province_dir, province_broker, tmp_path)
    site.start()
    try:
        root = bridge.site_prefix(site_cfg.site.id)
        watch.inbox.wait_for(f"{root}/bridge/state", lambda m: m.payload == b"1", WAIT_S)
        creds = ensure_credentials(site_cfg)
        ctl = connect(site.host, site.port, "controller", creds["controller"])
        ctl.publish_acked(
            f"{root}/state/counter/1", {"counter": "1", "status": "open", "seq": 1}, retain=True
        )
        ctl.publish_acked(f"{root}/events", {"seq": 1, "type": "ticket.issued", "ts": "x", "data": {}})
        ctl.publish_acked(f"{root}/dev/kiosk-01/cmd", {"id": "c1", "op": "issue", "args": {}})
        watch.inbox.wait_for(f"{root}/state/counter/1", timeout=WAIT_S)
        watch.inbox.wait_for(f"{root}/events", timeout=WAIT_S)
        # A marker after the command: once it is seen, the command would have been seen too.
        ctl.publish_acked(f"{root}/events", {"seq": 2, "type": "marker", "ts": "x", "data": {}})
        watch.inbox.wait_for(f"{root}/events", lambda m: m.json()["seq"] == 2, WAIT_S)
        assert watch.inbox.messages(f"{root}/dev/+/cmd") == [], "commands stay at the site"
        ctl.close()
    finally:
        site.stop()
    watch.inbox.wait_for(f"{root}/bridge/state", lambda m: m.payload == b"0", WAIT_S)
    watch.close()


def test_a_site_account_cannot_write_for_another_site_or_send_commands(
    site_cfg: SiteConfig, province_dir: ProvinceBrokerDir, province_broker: ProvinceBroker
) -> None:
    mine = bridge.add_site(province_dir, site_cfg.site.id, "127.0.0.1", 8883)
    bridge.add_site(province_dir, "other-site", "127.0.0.1", 8883)
    province_broker.reload_files()
    watch = _watch(province_broker, province_dir)
    rogue = connect(province_broker.host, province_broker.port, site_cfg.site.id, mine.password)
    own = bridge.site_prefix(site_cfg.site.id)
    other = bridge.site_prefix("other-site")
    rogue.publish_acked(f"{other}/state/board", {"calls": []})  # another site's state
    rogue.publish_acked(f"{own}/dev/kiosk-01/cmd", {"id": "x", "op": "issue", "args": {}})  # a command
    rogue.publish_acked(f"{own}/dev/kiosk-01/reply", {"id": "x", "ok": True, "result": {}})
    rogue.publish_acked(f"{own}/events", {"seq": 9, "type": "marker", "ts": "x", "data": {}})
    watch.inbox.wait_for(f"{own}/events", timeout=WAIT_S)
    assert [m.topic for m in watch.inbox.messages("#")] == [f"{own}/events"]
    rogue.subscribe("onestop/v1/#")
    rogue.publish_acked(f"{own}/events", {"seq": 10, "type": "marker", "ts": "x", "data": {}})
    watch.inbox.wait_for(f"{own}/events", lambda m: m.json()["seq"] == 10, WAIT_S)
    assert rogue.inbox.messages("#") == [], "a site reads nothing at the province"
    rogue.close()
    watch.close()


def test_a_wrong_ca_or_password_keeps_the_link_down(
    site_cfg: SiteConfig, province_dir: ProvinceBrokerDir, province_broker: ProvinceBroker, tmp_path: Path
) -> None:
    with pytest.raises(ConnectRefused):
        connect(province_broker.host, province_broker.port, site_cfg.site.id, "guess")
    impostor = bridge.init_broker_dir(tmp_path / "impostor", "hg", ["127.0.0.1"])
    watch = _watch(province_broker, province_dir)
    site = _site_broker(site_cfg, province_dir, province_broker, tmp_path)
    (tmp_path / "bundle" / "province-ca.crt").write_bytes(impostor.ca_cert.read_bytes())
    site.start()
    try:
        log = tmp_path / "site-broker"
        # The site broker refuses the province broker's certificate, which its CA did not sign.
        ctl = connect(site.host, site.port, "controller", ensure_credentials(site_cfg)["controller"])
        root = bridge.site_prefix(site_cfg.site.id)
        ctl.publish_acked(f"{root}/events", {"seq": 1, "type": "x", "ts": "x", "data": {}})
        ctl.close()
        assert site.wait_log("certificate verify failed", WAIT_S), site.log_path.read_text()[-2000:]
        assert watch.inbox.messages(f"{root}/#") == []
        assert log.exists()
    finally:
        site.stop()
        watch.close()


def test_events_queue_while_the_link_is_down_and_arrive_after(
    site_cfg: SiteConfig, province_dir: ProvinceBrokerDir, province_broker: ProvinceBroker, tmp_path: Path
) -> None:
    watch = _watch(province_broker, province_dir)
    site = _site_broker(site_cfg, province_dir, province_broker, tmp_path)
    site.start()
    root = bridge.site_prefix(site_cfg.site.id)
    try:
        watch.inbox.wait_for(f"{root}/bridge/state", lambda m: m.payload == b"1", WAIT_S)
        province_broker.stop()  # the link drops (the province is down)
        ctl = connect(site.host, site.port, "controller", ensure_credentials(site_cfg)["controller"])
        for seq in range(1, 201):
            ctl.publish_acked(f"{root}/events", {"seq": seq, "type": "ticket.issued", "ts": "x", "data": {}})
        watch.close()
        province_broker.start()  # same port, same files
        watch = _watch(province_broker, province_dir)
        last = watch.inbox.wait_for(f"{root}/events", lambda m: m.json()["seq"] == 200, 90)
        assert last is not None
        seqs = [m.json()["seq"] for m in watch.inbox.messages(f"{root}/events")]
        assert sorted(set(seqs)) == list(range(1, 201)), "every event queued at the site arrives"
        ctl.close()
    finally:
        site.stop()
        watch.close()


def test_the_province_sees_each_centre_live_and_when_its_link_drops(
    site_cfg: SiteConfig,
    province_dir: ProvinceBrokerDir,
    province_broker: ProvinceBroker,
    pg_dsn: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    site_id = site_cfg.site.id
    migrations.migrate(pg_dsn)
    store = Store(pg_dsn, max_size=1)
    store.open()
    store.add_site(site_id, "Trung tâm thử")
    store.add_site("other-site", "Trung tâm khác")
    viewer = store.add_token("lan", "viewer")
    centre = store.add_token("other-manager", "centre", "other-site")
    store.close()
    site = _site_broker(site_cfg, province_dir, province_broker, tmp_path)
    site.start()
    live = ["--live-broker", f"127.0.0.1:{province_broker.port}",
            "--live-password-file", str(province_dir.service_password)]  # fmt: skip
    root = bridge.site_prefix(site_id)

    def centres(token: str) -> dict[str, dict[str, Any]]:
        r = httpx.get(f"{node.url}/api/v1/live", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, r.text
        return {c["site"]: c for c in r.json()["centres"]}

    def until(check: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + WAIT_S
        pause = threading.Event()
        while time.monotonic() < deadline:
            if check():
                return True
            pause.wait(0.1)
        return False

    with ProvinceNode(pg_dsn, "n1", extra=live, log_path=tmp_path / "node.log") as node:
        try:
            ctl = connect(site.host, site.port, "controller", ensure_credentials(site_cfg)["controller"])
            ctl.publish_acked(
                f"{root}/state/counter/1", {"counter": "1", "status": "open", "seq": 1}, retain=True
            )
            ctl.publish_acked(
                f"{root}/state/counter/2", {"counter": "2", "status": "closed", "seq": 1}, retain=True
            )
            ctl.publish_acked(f"{root}/state/service/tuphap", {"service": "tuphap", "waiting": 7, "seq": 1},
                              retain=True)  # fmt: skip
            ctl.publish_acked(f"{root}/state/service/datdai", {"service": "datdai", "waiting": 5, "seq": 1},
                              retain=True)  # fmt: skip
            ctl.publish_acked(f"{root}/dev/kiosk-01/status", {"online": False, "role": "kiosk"}, retain=True)
            ctl.publish_acked(f"{root}/state/board", b"not json")  # a broken site: dropped, nothing stops
            ctl.close()
            assert until(lambda: centres(viewer)[site_id]["waiting"] == 12), centres(viewer)
            now = centres(viewer)
            mine = now[site_id]
            assert (mine["link"], mine["counters_open"], mine["counters"]) == ("up", 1, 2)
            assert mine["device_alerts"] == [{"device": "kiosk-01", "alert": "offline"}]
            assert now["other-site"]["link"] == "unknown" and now["other-site"]["last_seen"] is None
            assert list(centres(centre)) == ["other-site"], "a centre manager sees only their centre"
            seen = mine["last_seen"]
        finally:
            site.stop()  # the site's hub goes dark: its bridge's Last Will says so
        assert until(lambda: centres(viewer)[site_id]["link"] == "down"), centres(viewer)
        gone = centres(viewer)[site_id]
        assert gone["last_seen"] >= seen and gone["waiting"] == 12, "the last known state stays, marked"
        assert httpx.get(f"{node.url}/api/v1/live", timeout=10).status_code == 401

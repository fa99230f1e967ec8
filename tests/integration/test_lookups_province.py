"""A kiosk's lookups through its hub to the province tier (not the reference back end): real
Mosquitto, real hub relay, a real ``onestop province serve`` node on a private PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from hub_api.app import Hub
from onestop.broker import Broker
from onestop.lookup_client import Booking, CitizenBookings, Dossier, LookupClient, NotFound
from province import lookups, migrations
from province.store import Store
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.postgres import pg_cluster, pg_dsn  # noqa: F401  # fixtures
from tests.utils.province import ProvinceNode

pytestmark = pytest.mark.integration

TOKEN_ENV = "ONESTOP_TEST_PROVINCE_LOOKUP_TOKEN"
CITIZEN = "001203004567"  # invented: the shape of a 12-digit căn cước number
VN = ZoneInfo("Asia/Ho_Chi_Minh")
# The slot: 09:00 of the site's business day (it starts at day_starts, 05:00), the day a kiosk asks
# for. A slot at "now" fell on the next calendar day when the suite ran between 00:00 and 05:00 in
# Vietnam, and the lookup found nothing.
_LOCAL = datetime.now(VN) - timedelta(hours=5)
NOW = datetime(_LOCAL.year, _LOCAL.month, _LOCAL.day, 9, 0, tzinfo=VN).astimezone(UTC)


@pytest.fixture
def node(pg_dsn: str) -> Iterator[tuple[ProvinceNode, str]]:  # noqa: F811
    migrations.migrate(pg_dsn)
    store = Store(pg_dsn, max_size=1)
    store.open()
    token = store.add_site("t-site", "Trung tâm thử")
    store.close()
    with psycopg.connect(pg_dsn) as conn:
        lookups.import_bookings(conn, [
            {"code": "DL2612040017", "site": "t-site", "service": "tuphap", "slot_start": NOW.isoformat(),
             "slot_end": (NOW + timedelta(minutes=30)).isoformat(), "initials": "N.V.A",
             "citizen_id": CITIZEN},
        ])  # fmt: skip
        lookups.import_dossiers(conn, [
            {"code": "000.00.12.H23-241204-0003", "site": "t-site", "title": "Đăng ký khai sinh",
             "status": "ready", "promised_date": "2026-12-10", "service": "tuphap"},
        ])  # fmt: skip
    with ProvinceNode(pg_dsn, "n1") as n:
        yield n, token


def test_a_kiosk_finds_bookings_and_dossiers_at_the_province(
    node: tuple[ProvinceNode, str],
    site_factory: SiteFactory,
    broker: Broker,
    credentials: dict[str, str],
    device: DeviceFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    n, token = node
    monkeypatch.setenv(TOKEN_ENV, token)
    cfg = site_factory(
        {"backend": {"url": f"{n.url}/api/v1", "token_env": TOKEN_ENV, "lookup_timeout_s": 3},
         "citizen_id": {"enabled": True, "forward": True, "find_bookings": True}},
        name="province-site.toml",
    )  # fmt: skip
    hub = Hub.open(cfg, credentials["hub"], db_path=tmp_path / f"hub-{uuid.uuid4().hex[:6]}.db",
                   host=broker.host, port=broker.port)  # fmt: skip
    hub.start()
    try:
        assert hub.ingest is not None
        hub.ingest.mqtt.wait_connected(10)
        kiosk = LookupClient(device("kiosk-1"))
        got = kiosk.booking("dl 2612-040017")
        assert isinstance(got, Booking), got
        assert (got.code, got.service, got.initials, got.status) == (
            "DL2612040017",
            "tuphap",
            "N.V.A",
            "booked",
        )
        assert got.slot_start == NOW
        ready = kiosk.dossier("000.00.12.H23-241204-0003")
        assert isinstance(ready, Dossier) and ready.ready and ready.service == "tuphap"
        assert kiosk.booking("DL2612049999") == NotFound("booking")
        mine = kiosk.citizen_bookings(CITIZEN)
        assert isinstance(mine, CitizenBookings), mine
        assert [b.code for b in mine.bookings] == ["DL2612040017"]
    finally:
        hub.stop()

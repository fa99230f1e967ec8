"""The province tier on a real PostgreSQL (a private cluster started by the test, on a free port).

Nodes are real ``onestop province serve`` processes; sites forward with the hub's real forwarder.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest

from hub_api.forwarder import Backoff, Forwarder
from hub_api.store import HubStore
from onestop.config import BackendSection
from onestop.fake_backend import BackendServer, FakeBackend
from province import lookups, migrations, reports
from province.cluster import PrivateCluster
from province.migrations import SchemaTooNew
from province.store import Store
from tests.utils.outbox import fill_outbox, outbox
from tests.utils.postgres import pg_cluster, pg_dsn  # noqa: F401  # fixtures
from tests.utils.province import ProvinceNode

pytestmark = pytest.mark.integration

SITE = "t-site"
TOKEN_ENV = "ONESTOP_TEST_PROVINCE_TOKEN"
WAIT_S = 30.0


def _record(i: int, **over: Any) -> dict[str, Any]:
    rec = {
        "ticket_id": f"20261204-A{i:04d}", "number": f"A{i:03d}", "service": "tuphap", "counter": "1",
        "officer": "cb001", "priority": False, "issued_at": "2026-12-04T08:00:00+07:00",
        "called_at": "2026-12-04T08:05:00+07:00", "finished_at": "2026-12-04T08:09:00+07:00",
        "wait_s": 300, "service_s": 240, "outcome": "done",
    }  # fmt: skip
    rec.update(over)
    return rec


def _post(url: str, token: str, records: list[dict[str, Any]], key: str, site: str = SITE) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/queue-records",
        content=orjson.dumps({"site": site, "records": records}),
        headers={"Idempotency-Key": key, "Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
        timeout=20,
    )


@pytest.fixture
def province(pg_dsn: str) -> Iterator[tuple[str, str]]:  # noqa: F811
    """A migrated province database with one site; yields (dsn, the site's token)."""
    migrations.migrate(pg_dsn)
    store = Store(pg_dsn, max_size=1)
    store.open()
    token = store.add_site(SITE, "Trung tâm thử")
    store.close()
    yield pg_dsn, token


def test_migrations_run_once_when_nodes_start_together(pg_dsn: str) -> None:  # noqa: F811
    barrier = threading.Barrier(4)

    def run() -> list[int]:
        barrier.wait()
        return migrations.migrate(pg_dsn)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: run(), range(4)))
    known = [m.version for m in migrations.available()]
    assert sorted(v for r in results for v in r) == known, "each migration applied by exactly one runner"
    with psycopg.connect(pg_dsn) as conn:
        assert migrations.applied(conn) == known
        assert migrations.check(conn) == len(known)


def test_a_node_refuses_a_database_newer_than_its_code(pg_dsn: str, tmp_path: Path) -> None:  # noqa: F811
    migrations.migrate(pg_dsn)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')")
    with psycopg.connect(pg_dsn) as conn, pytest.raises(SchemaTooNew, match="999"):
        migrations.check(conn)
    with pytest.raises(SchemaTooNew):
        migrations.migrate(pg_dsn)
    node = ProvinceNode(pg_dsn, "old", log_path=tmp_path / "node.log")
    with pytest.raises(RuntimeError, match="exited with 2"):
        node.start()
    assert "upgrade this node" in (tmp_path / "node.log").read_text()


def test_a_site_hub_forwards_to_the_province_with_no_change(
    province: tuple[str, str], tmp_path: Path
) -> None:
    dsn, token = province
    hub_db = tmp_path / "hub.db"
    HubStore(hub_db).close()
    fill_outbox(hub_db, queue=450, ratings=120)
    with ProvinceNode(dsn, "n1") as node:
        backend = BackendSection(url=f"{node.url}/api/v1", token_env=TOKEN_ENV, timeout_s=10, batch_size=100)
        fwd = Forwarder(SITE, backend, hub_db, backoff=Backoff(0.001, 0.01), idle_poll_s=0.05,
                        environ={TOKEN_ENV: token})  # fmt: skip
        fwd.start()
        try:
            assert fwd.wait_drained(WAIT_S), fwd.status
        finally:
            fwd.stop()
    store = Store(dsn, max_size=1)
    store.open()
    try:
        for stream in ("queue-records", "ratings"):
            sent = [r for _, r in outbox(hub_db, stream)]
            got = store.records(stream)
            key = "ticket_id"
            assert sorted(r[key] for r in got) == sorted(r[key] for r in sent)
            assert {orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in got} == {
                orjson.dumps(r, option=orjson.OPT_SORT_KEYS) for r in sent
            }, f"{stream}: the province keeps each record exactly as the site sent it"
        assert store.counts()["onward_pending"] == 450 + 120
    finally:
        store.close()


def test_two_nodes_receiving_the_same_batch_at_once_store_it_once(province: tuple[str, str]) -> None:
    dsn, token = province
    records = [_record(i) for i in range(1, 201)]
    with ProvinceNode(dsn, "n1") as n1, ProvinceNode(dsn, "n2") as n2:
        for round_ in range(5):
            key = f"{SITE}:queue-records:{round_ * 1000 + 1}-{round_ * 1000 + 200}"
            batch = [_record(round_ * 1000 + i) for i in range(1, 201)] if round_ else records
            barrier = threading.Barrier(8)

            def send(
                i: int,
                batch: list[dict[str, Any]] = batch,
                key: str = key,
                barrier: threading.Barrier = barrier,
            ) -> int:
                barrier.wait()
                return _post((n1, n2)[i % 2].url, token, batch, key).status_code

            with ThreadPoolExecutor(8) as pool:
                statuses = sorted(pool.map(send, range(8)))
            assert statuses == [200] + [409] * 7, f"round {round_}: {statuses}"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM queue_records").fetchone() == (1000,)
        assert conn.execute("SELECT count(*) FROM onward_outbox").fetchone() == (1000,)
        assert conn.execute("SELECT sum(repeats) FROM batches").fetchone() == (35,)
        nodes = {r[0] for r in conn.execute("SELECT node FROM batches")}
        assert nodes <= {"n1", "n2"}


def test_records_resent_under_new_keys_are_kept_once(province: tuple[str, str]) -> None:
    """A site restored from a backup resends what it sent before, with other keys: nothing doubles."""
    dsn, token = province
    with ProvinceNode(dsn, "n1") as node:
        assert (
            _post(
                node.url, token, [_record(i) for i in range(1, 11)], f"{SITE}:queue-records:1-10"
            ).status_code
            == 200
        )
        again = _post(node.url, token, [_record(i) for i in range(5, 16)], f"{SITE}:queue-records:5-15")
        assert again.status_code == 200
        assert again.json()["stored"] == 5
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM queue_records").fetchone() == (15,)
        assert conn.execute("SELECT count(*) FROM onward_outbox").fetchone() == (15,)


def test_refusals_are_clear_and_store_nothing(province: tuple[str, str]) -> None:
    dsn, token = province
    store = Store(dsn, max_size=1)
    store.open()
    other = store.add_site("other-site", "Trung tâm khác")
    store.close()
    key = f"{SITE}:queue-records:1-1"
    with ProvinceNode(dsn, "n1") as node:
        assert _post(node.url, "", [_record(1)], key).status_code == 401
        assert _post(node.url, "not-a-token-of-anyone", [_record(1)], key).status_code == 401
        wrong_site = _post(node.url, other, [_record(1)], key)
        assert wrong_site.status_code == 403 and "other-site" in wrong_site.json()["error"]
        bad_key = _post(node.url, token, [_record(1)], "nonsense")
        assert bad_key.status_code == 400 and "Idempotency-Key" in bad_key.json()["error"]
        # PostgreSQL itself would read 'yesterday' as a time: the node checks ISO 8601 first.
        bad_date = _post(node.url, token, [_record(1, finished_at="yesterday")], key)
        assert bad_date.status_code == 400 and "finished_at" in bad_date.json()["error"]
        bad_kind = _post(node.url, token, [_record(1, priority="maybe")], key)
        assert bad_kind.status_code == 400 and "wrong kind" in bad_kind.json()["error"]
        missing = _post(node.url, token, [_record(1, ticket_id=None)], key)
        assert missing.status_code == 400 and "ticket_id" in missing.json()["error"]
        huge = httpx.post(
            f"{node.url}/api/v1/ratings", content=b"[" + b" " * (9 * 1024 * 1024) + b"]",
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"{SITE}:ratings:1-1"},
            timeout=30,
        )  # fmt: skip
        assert huge.status_code == 413
        # The refused key was not used up: the good batch is stored under it.
        assert _post(node.url, token, [_record(1)], key).status_code == 200
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM queue_records").fetchone() == (1,)


def test_database_down_means_503_then_the_same_batch_is_stored_once() -> None:
    with PrivateCluster() as pg:
        dsn = pg.dsn()
        migrations.migrate(dsn)
        store = Store(dsn, max_size=1)
        store.open()
        token = store.add_site(SITE, "Trung tâm thử")
        store.close()
        key = f"{SITE}:queue-records:1-3"
        batch = [_record(i) for i in range(1, 4)]
        with ProvinceNode(dsn, "n1") as node:
            assert _post(node.url, token, batch[:1], f"{SITE}:queue-records:1-1").status_code == 200
            pg.stop("immediate")  # a crash of the database server
            down = _post(node.url, token, batch, key)
            assert down.status_code == 503 and down.headers.get("retry-after")
            assert httpx.get(node.url + "/healthz", timeout=10).status_code == 503
            pg.start()
            # The hub retries a 503 later with the same key, as here: the node's pool reconnects by itself.
            deadline = time.monotonic() + 60
            ok = _post(node.url, token, batch, key)
            while ok.status_code == 503 and time.monotonic() < deadline:
                threading.Event().wait(0.5)
                ok = _post(node.url, token, batch, key)
            assert ok.status_code == 200, ok.text
            assert ok.json()["stored"] == 2
            assert _post(node.url, token, batch, key).status_code == 409
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT count(*) FROM queue_records").fetchone() == (3,)


ONWARD_TOKEN = "onward-tok-7c1d2e9f"


def test_onward_forwarding_survives_a_down_system_and_a_killed_leader(
    province: tuple[str, str], tmp_path: Path
) -> None:
    """Records reach the onward system exactly once while it is down for a while and the node that
    forwards is SIGKILLed mid-stream: another node takes over and resends the open batch, same key."""
    dsn, token = province
    fake = BackendServer(FakeBackend(ONWARD_TOKEN)).start()
    fake.backend.control({"mode": "down"})
    onward = ["--onward-url", fake.url, "--onward-batch", "25"]
    env = {"ONESTOP_ONWARD_TOKEN": ONWARD_TOKEN}
    try:
        n1 = ProvinceNode(dsn, "n1", extra=onward, env=env, log_path=tmp_path / "n1.log").start()
        n2 = ProvinceNode(dsn, "n2", extra=onward, env=env, log_path=tmp_path / "n2.log").start()
        try:
            for b in range(8):
                first, last = b * 50 + 1, b * 50 + 50
                batch = [_record(i) for i in range(first, last + 1)]
                assert (
                    _post(
                        (n1, n2)[b % 2].url, token, batch, f"{SITE}:queue-records:{first}-{last}"
                    ).status_code
                    == 200
                )
            assert fake.backend.wait_for(lambda: fake.backend.by_status[503] >= 2, WAIT_S)
            # Back up, but slow: batches are in flight when the leader dies.
            fake.backend.control({"mode": "up"})
            fake.backend.control({"mode": "slow", "ms": 200})
            assert fake.backend.wait_for(lambda: len(fake.backend.records()) >= 50, WAIT_S)
            leader = n1 if "leads onward forwarding now" in (tmp_path / "n1.log").read_text() else n2
            leader.kill()
            fake.backend.control({"mode": "up"})
            assert fake.backend.wait_for(lambda: len(fake.backend.records()) >= 400, 60), len(
                fake.backend.records()
            )
        finally:
            n1.stop()
            n2.stop()
        got = [r["record"]["ticket_id"] for r in fake.backend.records()]
        assert sorted(got) == sorted(f"20261204-A{i:04d}" for i in range(1, 401)), (
            "each record once, none lost"
        )
        assert fake.backend.conflicts == 0, "a resent batch carried exactly the same records"
        with psycopg.connect(dsn) as conn:
            assert conn.execute(
                "SELECT count(*) FROM onward_outbox WHERE delivered_at IS NULL"
            ).fetchone() == (0,)
    finally:
        fake.stop()


CITIZEN = "001190012345"


def test_kiosk_lookups_of_bookings_and_dossiers(
    province: tuple[str, str],
    pg_cluster: PrivateCluster,  # noqa: F811
    tmp_path: Path,
) -> None:
    dsn, token = province
    with psycopg.connect(dsn) as conn:
        day = "2026-12-04T"
        lookups.import_bookings(conn, [
            {"code": "DL24120400017", "site": SITE, "service": "tuphap", "slot_start": f"{day}09:00:00+07:00",
             "slot_end": f"{day}09:15:00+07:00", "initials": "N.V.A", "citizen_id": CITIZEN},
            {"code": "DL24120400018", "site": SITE, "service": "datdai", "slot_start": f"{day}10:00:00+07:00",
             "slot_end": f"{day}10:15:00+07:00", "initials": "T.T.B", "status": "cancelled"},
        ])  # fmt: skip
        lookups.import_dossiers(conn, [
            {"code": "000.00.12.H23-241204-0003", "site": SITE, "title": "Cấp bản sao trích lục hộ tịch",
             "status": "ready", "promised_date": "2026-12-04", "service": "traketqua", "citizen_id": CITIZEN},
            {"code": "000.00.12.H23-241204-0004", "site": SITE, "title": "Đăng ký đất đai",
             "status": "processing", "promised_date": "2026-12-10"},
        ])  # fmt: skip
    auth = {"Authorization": f"Bearer {token}"}
    with ProvinceNode(dsn, "n1", log_path=tmp_path / "n1.log", extra=["--log-level", "DEBUG"]) as node:
        api = f"{node.url}/api/v1"
        b = httpx.get(f"{api}/bookings/dl-2412-0400-017", headers=auth, timeout=10)
        assert b.status_code == 200, b.text
        assert b.json() == {"code": "DL24120400017", "site": SITE, "service": "tuphap",
                            "slot_start": "2026-12-04T09:00:00+07:00",
                            "slot_end": "2026-12-04T09:15:00+07:00",
                            "initials": "N.V.A", "status": "booked"}  # fmt: skip
        assert httpx.get(f"{api}/bookings/DL24120400018", headers=auth).json()["status"] == "cancelled"
        assert httpx.get(f"{api}/bookings/DL99999999", headers=auth).status_code == 404
        assert httpx.get(f"{api}/bookings/x", headers=auth).status_code == 400
        assert httpx.get(f"{api}/bookings/DL24120400017").status_code == 401
        d = httpx.get(f"{api}/dossiers/000.00.12.H23-241204-0003", headers=auth).json()
        assert d["ready"] is True and d["service"] == "traketqua" and d["promised_date"] == "2026-12-04"
        d = httpx.get(f"{api}/dossiers/000.00.12.h23-241204-0004", headers=auth).json()
        assert d["ready"] is False and d["status"] == "processing" and d["promised_date"] == "2026-12-10"
        mine = httpx.get(
            f"{api}/citizens/{CITIZEN}/bookings", params={"date": "2026-12-04"}, headers=auth
        ).json()
        assert [x["code"] for x in mine] == ["DL24120400017"]
        assert (
            httpx.get(
                f"{api}/citizens/{CITIZEN}/bookings", params={"date": "2026-12-05"}, headers=auth
            ).json()
            == []
        )
        assert [x["code"] for x in httpx.get(f"{api}/citizens/{CITIZEN}/dossiers", headers=auth).json()] == [
            "000.00.12.H23-241204-0003"
        ]
        assert httpx.get(f"{api}/citizens/12345/dossiers", headers=auth).status_code == 400
    # The id number is kept nowhere: not in any table, not in the node's log.
    dump = subprocess.run(
        [str(pg_cluster.bindir / "pg_dump"), "--data-only", dsn], capture_output=True, text=True, check=True
    ).stdout
    assert "N.V.A" in dump and CITIZEN not in dump
    assert CITIZEN not in (tmp_path / "n1.log").read_text()


def test_rollups_are_exact_and_an_officer_who_moved_keeps_one_row(province: tuple[str, str]) -> None:
    """The dashboard and TT01 report read rollups written with the records: same figures as the records."""
    dsn, token = province
    store = Store(dsn, max_size=2)
    store.open()
    other = store.add_site("other-site", "Trung tâm khác")
    day = reports.today().isoformat()
    waits = [60, 300, 899, 900, 901, 1800]
    with ProvinceNode(dsn, "n1") as node:
        for site, tok, officer in ((SITE, token, "cb001"), ("other-site", other, "x-07")):
            recs = [_record(i, wait_s=w, officer=officer, issued_at=f"{day}T08:00:00+07:00",
                            called_at=f"{day}T08:10:00+07:00", finished_at=f"{day}T08:20:00+07:00")
                    for i, w in enumerate(waits, 1)]  # fmt: skip
            assert _post(node.url, tok, recs, f"{site}:queue-records:1-6", site=site).status_code == 200
            rates = [{"ticket_id": r["ticket_id"], "number": r["number"], "service": "tuphap", "counter": "1",
                      "officer": officer, "score": s, "level": reports.LEVELS[s], "satisfied": s >= 2,
                      "reasons": [], "comment": "", "rated_at": f"{day}T08:21:00+07:00"}
                     for r, s in zip(recs, [3, 3, 2, 1, 3, 2], strict=True)]  # fmt: skip
            r = httpx.post(
                f"{node.url}/api/v1/ratings", content=orjson.dumps({"site": site, "records": rates}),
                headers={"Authorization": f"Bearer {tok}", "Idempotency-Key": f"{site}:ratings:1-6"},
            )  # fmt: skip
            assert r.status_code == 200, r.text
    with psycopg.connect(dsn) as conn:
        # The officer x-07 of the other centre is the same person as cb001 (they moved).
        conn.execute("UPDATE officers SET person = 'cb001' WHERE site = 'other-site' AND officer = 'x-07'")
        by_site = {c["site"]: c for c in reports.centres(conn, reports.today())}
        mine = by_site[SITE]
        assert mine["tickets_today"] == 6
        assert mine["mean_wait_s"] == pytest.approx(sum(waits) / 6)
        assert mine["within_15"] == pytest.approx(4 / 6), "called within 15 minutes: wait ≤ 900 s"
        assert mine["satisfaction_quarter"] == pytest.approx(5 / 6)
        q_start, q_end = reports.quarter_of(reports.today())
        people = reports.officers_quarter(conn, q_start, q_end)
        assert [p["officer"] for p in people] == ["cb001"], "one row for a person across centres"
        (p,) = people
        assert (p["very_satisfied"], p["satisfied"], p["not_satisfied"], p["ratings"]) == (6, 4, 2, 12)
        assert p["centres"] == ["other-site", SITE]
        only_mine = reports.officers_quarter(conn, q_start, q_end, SITE)
        assert only_mine[0]["ratings"] == 6
        month = reports.monthly(conn, q_start, q_end)
        assert {(m["site"], m["tickets"], m["ratings"]) for m in month} == {
            (SITE, 6, 6),
            ("other-site", 6, 6),
        }
        csv_text = reports.to_csv(people, [("officer", "Cán bộ"), ("satisfaction", "Tỷ lệ hài lòng")])
        assert csv_text.startswith("\ufeffCán bộ,Tỷ lệ hài lòng") and "cb001,0.8333" in csv_text
        # A resent batch adds nothing to the rollups.
    with ProvinceNode(dsn, "n1") as node:
        assert _post(node.url, token, [_record(1)], f"{SITE}:queue-records:1-6").status_code == 409
    with psycopg.connect(dsn) as conn:
        assert reports.centres(conn, reports.today(), SITE)[0]["tickets_today"] == 6
    store.close()


def test_upgrading_from_an_older_schema_keeps_and_rolls_up_what_was_stored(pg_dsn: str) -> None:  # noqa: F811
    migrations.migrate(pg_dsn, target=3)
    store_v3 = psycopg.connect(pg_dsn, autocommit=True)
    store_v3.execute("INSERT INTO sites (id, name, token_sha256) VALUES (%s, 'x', 'h')", (SITE,))
    day = reports.today().isoformat()
    store_v3.execute(
        """INSERT INTO queue_records (site, ticket_id, finished_at, number, service, priority, issued_at,
                                      wait_s, outcome, batch_key, record)
           VALUES (%s, 't1', %s, 'A001', 'tuphap', false, %s, 600, 'done', 'k', '{}')""",
        (SITE, f"{day}T09:00:00+07:00", f"{day}T08:00:00+07:00"),
    )
    store_v3.close()
    assert migrations.migrate(pg_dsn) == [m.version for m in migrations.available()][3:]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM queue_records").fetchone() == (1,)
        assert reports.centres(conn, reports.today())[0]["mean_wait_s"] == 600

"""The reference back end answers lookups as docs/backend.md "Lookups" says, over real HTTP, misbehaves
on request, and serves the day `onestop up` generates for the demo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onestop.broker import free_port
from onestop.config import SiteConfig
from onestop.fake_backend import BackendServer, FakeBackend
from onestop.fake_lookups import LookupBook, generate_day
from onestop.up import lookup_samples_path, write_demo_lookups

pytestmark = pytest.mark.integration

TOKEN = "tok-fake-lookups-77"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def book(site_cfg: SiteConfig) -> LookupBook:
    """A generated day of the test site."""
    return generate_day(site_cfg)


@pytest.fixture
def client(book: LookupBook) -> Iterator[httpx.Client]:
    """An HTTP client of the reference back end (on a free loopback port) knowing ``book``."""
    server = BackendServer(FakeBackend(TOKEN, lookups=book)).start()
    with httpx.Client(base_url=server.url, timeout=5) as c:
        yield c
    server.stop()


def test_bookings_and_dossiers_by_code(client: httpx.Client, book: LookupBook) -> None:
    code = book.samples["booking now (tuphap)"]
    r = client.get(f"/onestop/bookings/{code.lower()}", headers=AUTH, params={"site": "t-site"})
    assert r.status_code == 200 and r.json() == book.bookings[code]
    ready = book.samples["dossier ready"]
    r = client.get(f"/onestop/dossiers/{ready}", headers=AUTH)
    assert r.status_code == 200 and r.json()["ready"] is True
    assert client.get("/onestop/bookings/DL0000000000", headers=AUTH).status_code == 404
    assert client.get(f"/onestop/bookings/{code}").status_code == 401
    assert client.get("/onestop/weather/today", headers=AUTH).status_code == 404


def test_citizens_lists(client: httpx.Client, book: LookupBook) -> None:
    number, links = next(iter(book.citizens.items()))
    r = client.get(f"/x/citizens/{number}/dossiers", headers=AUTH)
    assert [d["code"] for d in r.json()["dossiers"]] == links["dossiers"]
    r = client.get(f"/x/citizens/{number}/bookings", headers=AUTH, params={"date": "1999-01-01"})
    assert r.json() == {"bookings": []}
    assert client.get("/x/citizens/12/bookings", headers=AUTH).status_code == 400
    # The back end's own bookkeeping keeps no id number either.
    stats = client.get("/_lookups").json()
    assert stats["asked"] == {"citizen_dossiers": 1, "citizen_bookings": 2}
    assert number not in json.dumps(stats)


def test_fault_knobs_apply_to_lookups(client: httpx.Client, book: LookupBook) -> None:
    code = book.samples["booking now (tuphap)"]
    client.post("/_control", json={"mode": "fail", "stream": "lookups", "status": 502})
    assert client.get(f"/bookings/{code}", headers=AUTH).status_code == 502
    client.post("/_control", json={"mode": "up"})
    client.post("/_control", json={"mode": "huge", "stream": "lookups", "bytes": 300_000})
    with client.stream("GET", f"/bookings/{code}", headers=AUTH) as r:
        got = sum(len(chunk) for chunk in r.iter_raw())
    assert r.status_code == 200 and got == 300_000
    client.post("/_control", json={"mode": "up"})
    assert client.get(f"/bookings/{code}", headers=AUTH).status_code == 200
    client.post("/_control", json={"mode": "down", "stream": "ratings"})  # one stream only
    assert client.get(f"/bookings/{code}", headers=AUTH).status_code == 200


def test_fixtures_are_loaded_at_run_time(client: httpx.Client) -> None:
    r = client.post("/_lookups", json={"bookings": [{"code": "DL1"}]})
    assert r.status_code == 400 and "missing" in r.json()["error"]
    r = client.post("/_lookups", json={"dossiers": [], "bookings": []})
    assert r.json()["bookings"] == 0


def test_up_writes_the_demo_day_that_the_back_end_serves(site_cfg: SiteConfig, tmp_path: Path) -> None:
    site_cfg.data_dir.mkdir(parents=True, exist_ok=True)
    fixtures = write_demo_lookups(site_cfg)
    samples = lookup_samples_path(site_cfg).read_text(encoding="utf-8")
    assert "booking now" in samples and "dossier ready" in samples
    port = free_port()
    again = tmp_path / "samples-again.txt"
    argv = [sys.executable, "-m", "onestop", "fake-backend", f"--listen=127.0.0.1:{port}", "--token", TOKEN,
            "--lookups", str(fixtures), "--samples", str(again), "--log-level", "WARNING"]  # fmt: skip
    proc = subprocess.Popen(argv, env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        book = LookupBook.from_doc(json.loads(fixtures.read_text(encoding="utf-8")))
        code = book.samples["dossier processing"]
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", timeout=5, transport=httpx.HTTPTransport(retries=20)
        ) as c:
            r = c.get(f"/onestop/dossiers/{code}", headers=AUTH)
        assert r.status_code == 200 and r.json()["status"] == "processing"
        assert again.read_text(encoding="utf-8") == samples
    finally:
        proc.terminate()
        proc.wait(10)

"""The hub's REST API with token roles, reports and metrics, against a real controller and broker."""

from __future__ import annotations

import csv
import io
import logging
import stat
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from hub_api.app import Hub, create_app
from hub_api.tokens import TokenConfigError, TokenStore, admin_token_path, tokens_path
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.integration.conftest import DeviceFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def api(hub: Hub) -> Iterator[TestClient]:
    """The hub's app (tokens created on first use), without a token."""
    with TestClient(create_app(hub, manage=False)) as client:
        yield client


@pytest.fixture
def tokens(api: TestClient, hub: Hub, site_cfg: SiteConfig) -> dict[str, dict[str, str]]:
    """Authorization headers per role: the first admin token, and a viewer and a manager added."""
    assert hub.tokens is not None
    admin = admin_token_path(site_cfg).read_text().strip()
    viewer = hub.tokens.add("tv-script", "viewer")
    manager = hub.tokens.add("truong-bo-phan", "manager")
    return {
        role: {"Authorization": f"Bearer {tok}"}
        for role, tok in (("admin", admin), ("viewer", viewer), ("manager", manager))
    }


def test_first_start_creates_a_private_token_file_of_hashes(
    hub: Hub, site_cfg: SiteConfig, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="onestop.hub.tokens"):
        create_app(hub, manage=False)
    path = tokens_path(site_cfg)
    admin = admin_token_path(site_cfg).read_text().strip()
    for p in (path, admin_token_path(site_cfg)):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    text = path.read_text()
    assert admin not in text and 'role = "admin"' in text and "sha256 = " in text
    assert str(path) in caplog.text and admin not in caplog.text  # the path is logged, never the token
    # A second start keeps the file and the token.
    assert TokenStore.for_site(site_cfg).check(admin) is not None


@pytest.mark.parametrize(
    "entry",
    [
        'token = "changeme"',
        'token = "short-token"',
        'sha256 = "057ba03d6c44104863dc7361fe4578965d1887360f90a0895882e58a6248fc86"',
    ],
)
def test_placeholder_tokens_stop_the_hub(hub: Hub, site_cfg: SiteConfig, entry: str) -> None:
    path = tokens_path(site_cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[[tokens]]\nname = "x"\nrole = "admin"\n{entry}\n')  # the sha256 is of "changeme"
    with pytest.raises(TokenConfigError, match=r"tokens\[0\]"):
        create_app(hub, manage=False)


def test_roles(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    r = api.get("/api/tickets")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert api.get("/api/tickets", headers={"Authorization": "Bearer nope-nope-nope-nope"}).status_code == 401
    assert api.get("/api/tickets", headers={"Authorization": "Basic abc"}).status_code == 401
    assert api.get("/api/tickets", headers=tokens["viewer"]).status_code == 200
    r = api.get("/api/reports", headers=tokens["viewer"])
    assert r.status_code == 403 and "manager" in r.json()["detail"]
    assert api.get("/api/reports", headers=tokens["manager"]).status_code == 200
    assert api.get("/api/reports", headers=tokens["admin"]).status_code == 200
    assert api.get("/api/tokens", headers=tokens["manager"]).status_code == 403
    names = api.get("/api/tokens", headers=tokens["admin"]).json()
    assert {"name": "tv-script", "role": "viewer"} in names and all(set(n) == {"name", "role"} for n in names)
    assert api.get("/metrics").status_code == 401
    assert api.get("/metrics", headers=tokens["viewer"]).status_code == 200
    for public in (
        "/healthz",
        "/board",
        "/dashboard",
        "/static/common.js",
        "/api/site",
        "/docs",
        "/openapi.json",
    ):
        assert api.get(public).status_code == 200, public


def test_dashboard_session_cookie(api: TestClient, hub: Hub, tokens: dict[str, dict[str, str]]) -> None:
    assert api.get("/api/session").status_code == 401
    assert api.post("/api/session", json={"token": "wrong-wrong-wrong-wrong"}).status_code == 401
    manager = tokens["manager"]["Authorization"].split()[1]
    r = api.post("/api/session", json={"token": manager})
    assert r.status_code == 200 and r.json() == {"name": "truong-bo-phan", "role": "manager"}
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and manager not in cookie
    assert api.get("/api/dashboard").status_code == 200  # the cookie is enough
    assert hub.tokens is not None and hub.tokens.remove("truong-bo-phan")
    assert api.get("/api/dashboard").status_code == 401  # removing the token ends its sessions


def test_rest_shapes_and_filters(
    controller: Controller,
    device: DeviceFactory,
    hub: Hub,
    api: TestClient,
    tokens: dict[str, dict[str, str]],
    site_cfg: SiteConfig,
) -> None:
    v = tokens["viewer"]
    kiosk, counter = device("kiosk-1"), device("counter-1")
    counter.request("open", {"officer": "cb001"})
    issued = [
        kiosk.request("issue", {"service": s})["ticket"] for s in ("tuphap", "tuphap", "datdai", "tuphap")
    ]
    counter.request("call_next")
    topics = Topics(site_cfg.site.id)
    kiosk.mqtt.publish(
        topics.dev_health("kiosk-1"),
        {"printer": "paper_low", "detail": "còn ít giấy", "ts": "2026-11-23T08:00:00+07:00"},
        retain=True,
    )
    kiosk.request("issue", {"service": "dkkd"})  # same connection, after the health: ordered
    assert hub.ingest is not None and hub.ingest.wait_for_seq(7, 10)

    page = api.get("/api/tickets", params={"service": "tuphap", "limit": 2}, headers=v).json()
    assert (page["total"], page["limit"], len(page["items"])) == (3, 2, 2)
    assert set(page["items"][0]) >= {"id", "number", "status", "wait_s", "service_s", "officer", "day"}
    rest = api.get("/api/tickets", params={"service": "tuphap", "offset": 2}, headers=v).json()["items"]
    assert len(rest) == 1
    called = api.get("/api/tickets", params={"status": "called", "counter": "1"}, headers=v).json()["items"]
    assert [(t["number"], t["officer"]) for t in called] == [("A001", "cb001")]
    assert api.get("/api/tickets", params={"day": "2026-11-23"}, headers=v).status_code == 422
    full = api.get(f"/api/tickets/{issued[3]['id']}", headers=v).json()
    assert (full["number"], full["status"], full["ahead"]) == ("A003", "waiting", 1)
    assert api.get("/api/tickets/20200101-Z999", headers=v).status_code == 404
    public = api.get(f"/api/tickets/{issued[3]['token']}/status").json()  # by link: the status page's view
    assert (public["number"], public["ahead"], public["service_name"]) == ("A003", 1, "Tư pháp - Hộ tịch")
    assert "officer" not in public

    services = {s["id"]: s for s in api.get("/api/services", headers=v).json()}
    assert services["tuphap"]["waiting"] == 2 and services["dkkd"]["daily_limit"] == 50
    counters = {c["id"]: c for c in api.get("/api/counters", headers=v).json()}
    assert (counters["1"]["status"], counters["1"]["serving"], counters["1"]["officer"]) == (
        "open",
        "A001",
        "cb001",
    )
    officers = api.get("/api/officers", headers=v).json()
    assert officers[0] == {"id": "cb001", "name": "Nguyễn Thị Lan", "title": "", "at_counter": "1"}

    devs = {d["id"]: d for d in api.get("/api/devices", headers=v).json()}
    assert (devs["kiosk-1"]["online"], devs["kiosk-1"]["printer"], devs["kiosk-1"]["role"]) == (
        True,
        "paper_low",
        "kiosk",
    )
    assert devs["board-1"]["online"] is None and devs["controller"]["configured"] is False
    alerts = api.get("/api/alerts", headers=v).json()
    kinds = {(a["kind"], a["device"], a["severity"]) for a in alerts}
    assert ("printer", "kiosk-1", "warning") in kinds and ("device_never_seen", "board-1", "warning") in kinds
    assert not any(a["kind"] == "controller_offline" for a in alerts)

    ev = api.get("/api/events", params={"from_seq": 2, "limit": 3}, headers=v).json()
    assert [e["seq"] for e in ev["items"]] == [2, 3, 4] and ev["next_seq"] == 5 and ev["last_seq"] == 7
    assert ev["items"][0]["type"] == "ticket.issued" and ev["items"][0]["data"]["ticket"]["number"] == "A001"

    metrics = api.get("/metrics", headers=v)
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = metrics.text
    assert "onestop_hub_last_seq 7" in text
    assert 'onestop_hub_tickets_waiting{service="tuphap"} 2' in text
    assert 'onestop_hub_device_online{device="kiosk-1",role="kiosk"} 1' in text
    assert "# TYPE onestop_hub_events_applied_total counter" in text
    assert 'onestop_hub_alerts{severity="warning"}' in text


def test_reports_and_csv_export(
    controller: Controller,
    device: DeviceFactory,
    hub: Hub,
    api: TestClient,
    tokens: dict[str, dict[str, str]],
) -> None:
    m = tokens["manager"]
    kiosk, counter, rater = device("kiosk-1"), device("counter-1"), device("rate-1")
    counter.request("open", {"officer": "cb001"})
    kiosk.request("issue", {"service": "tuphap"})
    kiosk.request("issue", {"service": "tuphap"})
    counter.request("call_next")
    counter.request("call_next")  # A001 done
    rater.request("rate", {"score": 3})
    counter.request("skip")  # A002 did not come
    assert hub.ingest is not None and hub.ingest.wait_for_seq(8, 10)

    rep = api.get("/api/reports", params={"by": "officer", "period": "quarter"}, headers=m).json()
    [row] = rep["rows"]
    assert (row["key"], row["name"], row["issued"], row["served"], row["skipped"]) == (
        "cb001",
        "Nguyễn Thị Lan",
        2,
        1,
        1,
    )
    assert (row["ratings"], row["satisfaction"], row["levels"]["Rất hài lòng"]) == (1, 1.0, 1)
    assert row["period"].split("-Q")[1] in "1234" and rep["levels"] == [
        "Rất hài lòng",
        "Hài lòng",
        "Không hài lòng",
    ]

    r = api.get("/api/reports", params={"by": "service", "format": "csv"}, headers=m)
    assert (
        r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    )
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["Kỳ", "Nhóm", "Mã", "Tên"] and rows[1][3] == "Tư pháp - Hộ tịch"

    off = api.get("/api/reports/officers", headers=m).json()
    lan = next(x for x in off["rows"] if x["officer"] == "cb001")
    assert (lan["ratings"], lan["satisfaction"], lan["unit"]) == (1, 1.0, "Bộ phận Một cửa thử nghiệm")
    assert off["rows"][-1]["officer"] is None and off["quarter"] in (1, 2, 3, 4)
    csv_body = api.get("/api/reports/officers", params={"format": "csv"}, headers=m).content
    assert csv_body.startswith(b"\xef\xbb\xbf") and "Nguyễn Thị Lan".encode() in csv_body
    page = api.get("/api/reports/officers", params={"format": "html", "year": off["year"]}, headers=m)
    assert page.status_code == 200 and "Nguyễn Thị Lan" in page.text and f"Năm {off['year']}" in page.text
    assert "100,0 %" in page.text and "100.0 %" not in page.text  # a Vietnamese page: decimal comma
    csv_rows = list(csv.reader(io.StringIO(csv_body.decode("utf-8-sig"))))
    assert "100.0" in csv_rows[1]  # CSV keeps a plain number with a dot, for spreadsheets and scripts
    assert api.get("/api/reports", params={"period": "week"}, headers=m).status_code == 422


def test_every_page_has_an_icon(api: TestClient, hub: Hub) -> None:
    ico = api.get("/favicon.ico")
    assert ico.status_code == 200 and ico.headers["content-type"] == "image/x-icon"
    assert ico.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    svg = api.get("/favicon.svg")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<svg")
    pages = ["/board", "/dashboard", "/caller/1", "/t/nothing-here"]
    for path in pages:
        r = api.get(path)
        assert '<link rel="icon" href="/favicon.svg"' in r.text, path
        assert '<link rel="icon" href="/favicon.ico"' in r.text, path

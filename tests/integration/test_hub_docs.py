"""The API documentation pages are served offline, from the hub's own origin, with the site name escaped."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hub_api.app import Hub, create_app
from tests.conftest import SiteFactory

pytestmark = pytest.mark.integration

EVIL = "Một cửa </title><script>alert(1)</script>"


@pytest.fixture
def api(site_factory: SiteFactory, tmp_path: Path) -> Iterator[TestClient]:
    """The app of a hub (not started: the pages need no broker) whose site name tries to inject markup."""
    cfg = site_factory({"site": {"name": EVIL}})
    hub = Hub.open(cfg, "unused", db_path=tmp_path / "hub.db")
    try:
        with TestClient(create_app(hub, manage=False)) as client:
            yield client
    finally:
        hub.store.close()


def _references(page: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', page)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_use_only_the_hubs_own_assets(api: TestClient, path: str) -> None:
    r = api.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "//" not in "".join(_references(page)), _references(page)  # no other host, no CDN
    assert not re.search(r"https?://", page), "no absolute URL at all"
    types = {".js": "javascript", ".css": "text/css", ".json": "application/json", ".png": "image/png"}
    for ref in _references(page):
        asset = api.get(ref)
        assert asset.status_code == 200, ref
        kind = types[Path(ref).suffix]
        assert kind in asset.headers["content-type"], (ref, asset.headers["content-type"])
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_site_name_cannot_inject_markup(api: TestClient, path: str) -> None:
    page = api.get(path).text
    assert "<script>alert(1)" not in page and page.count("</title>") == 1
    assert "&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_every_answer_carries_the_security_headers(api: TestClient) -> None:
    for path in ("/healthz", "/board", "/static/board.js", "/openapi.json", "/api/nothing-here", "/docs"):
        r = api.get(path)
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        assert "default-src 'self'" in r.headers["content-security-policy"], path

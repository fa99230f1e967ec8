"""The reference back end answers as ARCHITECTURE §4 says, over real HTTP, and misbehaves on request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hub_api.store import queue_record, rating_record
from onestop.errors import OnestopError
from onestop.fake_backend import BackendServer, FakeBackend, parse_listen
from tests.utils.outbox import done_event, rating_event

pytestmark = pytest.mark.integration

TOKEN = "tok-fake-29d7"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fake() -> Iterator[BackendServer]:
    """The reference back end on a free loopback port."""
    server = BackendServer(FakeBackend(TOKEN)).start()
    yield server
    server.stop()


@pytest.fixture
def client(fake: BackendServer) -> Iterator[httpx.Client]:
    """An HTTP client of it."""
    with httpx.Client(base_url=fake.url, timeout=5) as c:
        yield c


def _queue(n: int) -> list[dict[str, Any]]:
    return [queue_record(done_event(i)["data"]["ticket"], "done") for i in range(1, n + 1)]


def _post(
    client: httpx.Client, stream: str, key: str, body: Any, headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post(
        f"/onestop/{stream}", json=body, headers={**AUTH, "Idempotency-Key": key, **(headers or {})}
    )


def test_accepts_once_then_answers_409_with_the_original_receipt(
    fake: BackendServer, client: httpx.Client
) -> None:
    body = {"site": "s1", "records": _queue(3)}
    first = _post(client, "queue-records", "s1:queue-records:1-3", body)
    assert first.status_code == 200 and first.json()["accepted"] == 3
    again = _post(client, "queue-records", "s1:queue-records:1-3", body)
    assert again.status_code == 409
    assert again.json()["received_at"] == first.json()["received_at"]
    stats = client.get("/_stats").json()
    assert stats["streams"]["queue-records"] == {"records": 3, "batches": 1, "repeats": 1}
    assert stats["conflicts"] == 0
    rows = client.get("/_records", params={"stream": "queue-records"}).json()["records"]
    assert [r["record"] for r in rows] == body["records"] and {r["key"] for r in rows} == {
        "s1:queue-records:1-3"
    }
    # the same key with other records: still 409 (delivered), but counted as the client's fault
    assert (
        _post(
            client, "queue-records", "s1:queue-records:1-3", {"site": "s1", "records": _queue(2)}
        ).status_code
        == 409
    )
    assert fake.backend.conflicts == 1


def test_ratings_endpoint_and_any_path_prefix(client: httpx.Client) -> None:
    records = [rating_record(rating_event(i)["data"]["rating"]) for i in (4, 5)]
    r = client.post(
        "/ratings",
        json={"site": "s1", "records": records},
        headers={**AUTH, "Idempotency-Key": "s1:ratings:4-5"},
    )
    assert r.status_code == 200
    assert client.post("/onestop/nothing", json={}, headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    ("auth", "status"), [(None, 401), ("Basic dTpw", 401), ("Bearer wrong", 401), (f"Bearer {TOKEN}", 200)]
)
def test_bearer_token(client: httpx.Client, auth: str | None, status: int) -> None:
    headers = {"Idempotency-Key": "s1:queue-records:1-1"} | ({"Authorization": auth} if auth else {})
    r = client.post("/onestop/queue-records", json={"site": "s1", "records": _queue(1)}, headers=headers)
    assert r.status_code == status


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        (None, {"site": "s1", "records": _queue(1)}, "missing Idempotency-Key"),
        ("s1-1-1", {"site": "s1", "records": _queue(1)}, "expected '{site}:{stream}:{first}-{last}'"),
        ("s2:queue-records:1-1", {"site": "s1", "records": _queue(1)}, "does not match"),
        ("s1:ratings:1-1", {"site": "s1", "records": _queue(1)}, "does not match"),
        ("s1:queue-records:1-1", {"site": "s1", "records": []}, "non-empty list"),
        ("s1:queue-records:1-1", {"records": _queue(1)}, "expected an object"),
        ("s1:queue-records:1-1", {"site": "s1", "records": [{"ticket_id": "x"}]}, "records[0]: missing"),
        ("s1:queue-records:1-1", {"site": "s1", "records": ["x"]}, "records[0]: expected an object"),
    ],
)
def test_bad_shapes_are_400_with_a_reason(
    client: httpx.Client, key: str | None, body: Any, reason: str
) -> None:
    headers = {**AUTH, **({"Idempotency-Key": key} if key else {})}
    r = client.post("/onestop/queue-records", json=body, headers=headers)
    assert r.status_code == 400 and reason in r.json()["error"]
    assert client.get("/_stats").json()["records"] == 0


def test_control_api_modes(fake: BackendServer, client: httpx.Client) -> None:
    body = {"site": "s1", "records": _queue(1)}
    client.post("/_control", json={"mode": "down"})
    assert _post(client, "queue-records", "s1:queue-records:1-1", body).status_code == 503
    client.post("/_control", json={"mode": "up"})
    client.post("/_control", json={"mode": "fail", "status": 502, "stream": "queue-records"})
    assert _post(client, "queue-records", "s1:queue-records:1-1", body).status_code == 502
    assert (
        _post(
            client,
            "ratings",
            "s1:ratings:9-9",
            {"site": "s1", "records": [rating_record(rating_event(9)["data"]["rating"])]},
        ).status_code
        == 200
    )
    client.post("/_control", json={"mode": "up"})
    client.post("/_control", json={"mode": "timeout", "hold_s": 30})
    with pytest.raises(httpx.ReadTimeout):
        _post(client.__class__(base_url=fake.url, timeout=0.3), "queue-records", "s1:queue-records:1-1", body)
    assert fake.backend.wait_for(lambda: fake.backend.held == 1, 5)
    assert client.post("/_control", json={"mode": "up"}).status_code == 200
    assert fake.backend.wait_for(lambda: fake.backend.held == 0, 5)
    assert client.get("/_stats").json()["records"] == 2  # the timed-out batch did arrive
    assert client.post("/_control", json={"mode": "sideways"}).status_code == 400
    client.post("/_reset")
    assert client.get("/_stats").json()["records"] == 0


def test_listens_on_loopback_only() -> None:
    assert parse_listen("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_listen("localhost:9000") == ("localhost", 9000)
    with pytest.raises(OnestopError, match="loopback"):
        parse_listen("0.0.0.0:9000")

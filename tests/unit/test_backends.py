"""Back-end adapter pieces without a network: tokens, backoff, outcomes of HTTP answers, keys."""

from __future__ import annotations

import random

import httpx
import pytest

from hub_api.backends import (
    BackendConfigError,
    HttpAdapter,
    adapter_factory,
    looks_like_placeholder,
    read_token,
)
from hub_api.forwarder import Backoff, batch_key
from onestop.config import BackendSection

BACKEND = BackendSection(url="http://127.0.0.1:9/onestop", token_env="T_ENV")


@pytest.mark.parametrize(
    "value", ["changethis", "CHANGEME", "<token>", "${TOKEN}", "xxxxxxxx", " secret ", "test"]
)
def test_placeholders_are_refused(value: str) -> None:
    assert looks_like_placeholder(value)
    with pytest.raises(BackendConfigError, match="placeholder"):
        read_token(BACKEND, {"T_ENV": value})


def test_a_real_token_is_read_and_a_missing_one_named() -> None:
    assert read_token(BACKEND, {"T_ENV": " 9f8e7d6c5b4a "}) == "9f8e7d6c5b4a"
    with pytest.raises(BackendConfigError, match="T_ENV is not set"):
        read_token(BACKEND, {})


def test_full_jitter_backoff_grows_to_its_cap() -> None:
    b = Backoff(base_s=0.5, cap_s=60, rng=random.Random(7))
    for failures, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (8, 60.0), (500, 60.0)]:
        delays = [b.delay(failures) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range ("full" jitter)


def test_idempotency_key_format() -> None:
    assert batch_key("hg-tthc", "ratings", 12, 211) == "hg-tthc:ratings:12-211"


@pytest.mark.parametrize(
    ("answer", "delivered", "duplicate"),
    [(200, True, False), (201, True, False), (204, True, False), (409, True, True), (400, False, False),
     (401, False, False), (404, False, False), (500, False, False), (503, False, False)],
)  # fmt: skip
def test_http_answers_map_to_outcomes(answer: int, delivered: bool, duplicate: bool) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(answer, text="nope" if answer >= 400 else "")

    a = HttpAdapter("http://backend.test/onestop/", "tok-123", transport=httpx.MockTransport(handler))
    out = a.send("ratings", "s1", [{"ticket_id": "t", "comment": "Lâu quá"}], "s1:ratings:3-3")
    a.close()
    assert (out.delivered, out.duplicate, out.status) == (delivered, duplicate, answer)
    if not delivered:
        assert out.reason == f"HTTP {answer}: nope"
    req = seen[0]
    assert str(req.url) == "http://backend.test/onestop/ratings"
    assert req.headers["authorization"] == "Bearer tok-123"
    assert req.headers["idempotency-key"] == "s1:ratings:3-3"
    assert req.read().decode() == '{"site":"s1","records":[{"ticket_id":"t","comment":"Lâu quá"}]}'


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (httpx.ConnectError("refused"), "ConnectError: refused"),
        (httpx.ReadTimeout("slow"), "timeout (ReadTimeout)"),
    ],
)
def test_no_answer_means_retry(exc: Exception, reason: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    a = HttpAdapter("http://backend.test", "tok-123", transport=httpx.MockTransport(handler))
    out = a.send("queue-records", "s1", [{}], "s1:queue-records:1-1")
    assert (out.delivered, out.reason, out.status) == (False, reason, None)


def test_adapter_by_name() -> None:
    assert adapter_factory(BACKEND) == HttpAdapter.from_config
    custom = BACKEND.model_copy(update={"adapter": "hub_api.backends:HttpAdapter.from_config"})
    with pytest.raises(BackendConfigError, match="cannot be loaded"):
        adapter_factory(custom)
    ok = BACKEND.model_copy(update={"adapter": "tests.unit.test_backends:make_adapter"})
    assert adapter_factory(ok) is make_adapter
    with pytest.raises(BackendConfigError, match="expected 'default'"):
        adapter_factory(BACKEND.model_copy(update={"adapter": "nonsense"}))


def make_adapter(backend: BackendSection, token: str) -> HttpAdapter:
    """A custom adapter factory, as a province would write one."""
    return HttpAdapter(backend.url, token)

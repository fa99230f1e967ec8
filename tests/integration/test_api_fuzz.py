"""The hub's REST API under schemathesis: no 5xx and schema-conforming answers, with and without a token.

A real site runs for the whole module (Mosquitto, an in-process controller, a started hub with some
tickets, a rating and a web keypad), and schemathesis drives the hub's app in-process through its
ASGI transport, every operation of ``create_app(hub).openapi()`` except the endless event stream.
Each operation runs with the first admin token (so the guarded endpoints are exercised past their
role check) and without a valid one (whatever ``Authorization`` header and session cookie schemathesis
makes up: 401 everywhere but the public endpoints), each with valid (positive) and invalid (negative)
parameters and bodies. The soft caller's PIN is not known to the fuzzer, so its commands stop at 401.
Every status an operation answers must be listed in its OpenAPI responses (``status_code_conformance``).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

import hub_api.routers
from hub_api.app import Hub, create_app
from hub_api.tokens import admin_token_path
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from onestop.device import DeviceClient
from queue_controller.service import Controller
from tests.utils.site import SITE, make_site

pytestmark = pytest.mark.integration

#: Examples per operation, token mode and generation mode: the four runs take ~40 s on 2 cores.
MAX_EXAMPLES = 20
#: Never-ending responses the ASGI transport would wait on forever.
ENDLESS = ("/api/stream",)
#: What "conforming" means here: no server error; status, body, content type and headers as documented.
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_headers_conformance,
]

#: Known non-conformances, reported to the product (each shown by an xfail test below):
#: (operation, a text of the failure). Remove an entry once its xfail test passes.
KNOWN: list[tuple[str, str]] = []


def _site(root: Path) -> SiteConfig:
    devices = [
        *SITE["devices"],
        {"id": "caller-3", "role": "counter", "counter": "3", "keys": {"backend": "web"}},
    ]
    return make_site(root, {"devices": devices})


def _traffic(cfg: SiteConfig, broker: Broker, passwords: dict[str, str]) -> None:
    """Some history for the hub to serve: tickets in every state, an open counter and a rating."""
    made: list[DeviceClient] = []

    def dev(device_id: str) -> DeviceClient:
        c = DeviceClient(
            cfg.site.id, device_id, cfg.device(device_id).role, host=broker.host, port=broker.port,
            password=passwords[device_id],
        )  # fmt: skip
        c.start()
        made.append(c)
        return c

    try:
        kiosk, c1, c2, rate = dev("kiosk-1"), dev("counter-1"), dev("counter-2"), dev("rate-1")
        for service in ("tuphap", "tuphap", "datdai", "tuphap", "dkkd", "datdai"):
            kiosk.request("issue", {"service": service, "priority": service == "dkkd"})
        c1.request("open", {"officer": "cb001"})
        c2.request("open", {"officer": "cb002"})
        c1.request("call_next", {})
        c1.request("call_next", {})  # the first is done
        rate.request("rate", {"score": 3, "reasons": ["Khác"], "comment": "Nhanh"})
        c2.request("call_next", {})
        c2.request("skip", {})
    finally:
        for c in made:
            c.stop()


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, FastAPI, str]]:
    """A started site and the hub's app (not managed: the fixture starts and stops the hub)."""
    root = tmp_path_factory.mktemp("api-fuzz")
    cfg = _site(root)
    broker = Broker(cfg, root / "broker")
    broker.start()
    passwords = ensure_credentials(cfg)
    ctl = Controller(
        cfg, passwords["controller"], db_path=root / "controller.db", host=broker.host, port=broker.port,
        tick_s=0.2, fatal=lambda reason: pytest.fail(f"controller stopped: {reason}"),
    )  # fmt: skip
    hub = Hub.open(cfg, passwords["hub"], db_path=root / "hub.db", host=broker.host, port=broker.port)
    try:
        ctl.start()
        hub.start()
        assert hub.ingest is not None
        hub.ingest.mqtt.wait_connected(10)
        app = create_app(hub, manage=False)
        _traffic(cfg, broker, passwords)
        token = admin_token_path(cfg).read_text().strip()
        yield hub, app, token
    finally:
        hub.stop()
        ctl.stop()
        broker.stop()


@pytest.fixture(scope="module")
def api_schema(fuzz_hub: tuple[Hub, FastAPI, str]) -> Any:
    """The hub's OpenAPI document, bound to its app in-process (schemathesis' ASGI transport)."""
    _hub, app, _token = fuzz_hub
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return schema.exclude(path=list(ENDLESS))


def _fuzz(schema: Any, mode: GenerationMode, token: str | None) -> tuple[int, list[str]]:
    """Every operation with ``MAX_EXAMPLES`` cases of ``mode``; the number of calls and the failures
    (one line per operation: its first failing request as a curl command and what was wrong)."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    calls = 0
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(
            max_examples=MAX_EXAMPLES, deadline=None, database=None, derandomize=True,
            suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
        )  # fmt: skip
        def run(case: Any) -> None:
            nonlocal calls
            if headers and case.headers:  # the real token, not a generated Authorization header
                case.headers = {k: v for k, v in case.headers.items() if k.lower() != "authorization"}
            calls += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # negative mode: an operation without a parameter that could be wrong
            continue
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup, or the app's own
            text = str(exc)
            if not any(op.label == label and marker in text for label, marker in KNOWN):
                failures.append(f"{op.label}: {type(exc).__name__}: {text[:1500]}")
    return calls, failures


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("auth", ["admin-token", "no-valid-token"])
def test_api_fuzz(
    api_schema: Any, fuzz_hub: tuple[Hub, FastAPI, str], auth: str, mode: GenerationMode
) -> None:
    """No server error and schema-conforming answers on every operation."""
    _hub, _app, token = fuzz_hub
    # Without a token, schemathesis still makes up Authorization headers and session cookies: none is valid.
    calls, failures = _fuzz(api_schema, mode, token if auth == "admin-token" else None)
    assert calls > 0
    assert not failures, "\n\n".join(failures)


def test_report_with_end_before_start_answers_a_documented_422(fuzz_hub: tuple[Hub, FastAPI, str]) -> None:
    """Found by the fuzzing above: the 422 of a reversed range is FastAPI's validation error, as documented
    (it was ``{"detail": "end is before start"}``, a string where the OpenAPI says a list)."""
    _hub, app, token = fuzz_hub
    with TestClient(app) as client:
        r = client.get(
            "/api/reports", params={"start": "2026-03-02", "end": "2026-03-01"},
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip
    assert r.status_code == 422
    assert isinstance(r.json()["detail"], list), r.json()
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", "end"] and error["type"] == "value_error", error
    assert error["msg"] == "end 2026-03-01 is before start 2026-03-02", error
    documented = app.openapi()["paths"]["/api/reports"]["get"]["responses"]["422"]["content"]
    assert documented["application/json"]["schema"] == {"$ref": "#/components/schemas/HTTPValidationError"}


def test_officer_report_html_is_documented(fuzz_hub: tuple[Hub, FastAPI, str]) -> None:
    """Found by the fuzzing above: the printable officer report's media type was missing from the schema."""
    _hub, app, token = fuzz_hub
    content = app.openapi()["paths"]["/api/reports/officers"]["get"]["responses"]["200"]["content"]
    assert "text/html" in content, sorted(content)
    with TestClient(app) as client:
        r = client.get(
            "/api/reports/officers", params={"format": "html"}, headers={"Authorization": f"Bearer {token}"}
        )
    assert r.status_code == 200 and r.headers["content-type"].split(";")[0] in content


def _guards(dependant: Any) -> set[str]:
    """The roles that ``require(role)`` dependencies anywhere under a route's dependant ask for."""
    found = set()
    for dep in dependant.dependencies:
        name = getattr(dep.call, "__name__", "")
        if name.startswith("require_"):
            found.add(name.removeprefix("require_"))
        found |= _guards(dep)
    return found


def test_guarded_operations_document_their_refusals(fuzz_hub: tuple[Hub, FastAPI, str]) -> None:
    """Every operation behind a role documents the guard's 401, and its 403 unless any token may (viewer).

    The fuzzing above sees the 401s (it also runs without a token) but never a 403 (its token is admin's):
    this is what keeps a new manager or admin operation from forgetting ``responses=refusals(role)``."""
    _hub, app, _token = fuzz_hub
    paths = app.openapi()["paths"]
    checked: dict[str, set[str]] = {}
    for info in pkgutil.iter_modules(
        hub_api.routers.__path__
    ):  # every router module: create_app has them all
        router = importlib.import_module(f"hub_api.routers.{info.name}").router
        for route in router.routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            roles = _guards(route.dependant)
            for method in route.methods if roles and route.methods else ():
                documented = set(paths[route.path_format][method.lower()]["responses"])
                expected = {"401"} | ({"403"} if roles - {"viewer"} else set())
                assert expected <= documented, f"{method} {route.path_format} ({roles}): {sorted(documented)}"
                checked[f"{method} {route.path_format}"] = roles
    assert checked["GET /metrics"] == {"viewer"} and checked["GET /api/tokens"] == {"admin"}, checked
    assert checked["GET /api/reports/officers"] == {"manager"}, checked


def _int_parameters(app: FastAPI) -> list[tuple[str, str, str]]:
    """(path, location, name) of every integer query or path parameter of a GET operation."""
    found = []
    for path, ops in app.openapi()["paths"].items():
        for param in ops.get("get", {}).get("parameters", []):
            schema = param.get("schema", {})
            types = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
            if "integer" in types:
                found.append((path, param["in"], param["name"]))
    return found


@pytest.mark.parametrize("value", [str(2**63), "99999999999999999999999", "-99999999999999999999999"])
def test_huge_integers_in_parameters_answer_422(fuzz_hub: tuple[Hub, FastAPI, str], value: str) -> None:
    """An integer past SQLite's int64 answered 500 (``OverflowError`` in the query): now 422, everywhere."""
    _hub, app, token = fuzz_hub
    params = _int_parameters(app)
    assert ("/api/events", "query", "from_seq") in params and ("/api/tickets", "query", "offset") in params
    with TestClient(app, raise_server_exceptions=False) as client:
        for path, where, name in params:
            url = path.replace("{counter}", "1") if where == "query" else path.replace(f"{{{name}}}", value)
            r = client.get(
                url, params={name: value} if where == "query" else None,
                headers={"Authorization": f"Bearer {token}"},
            )  # fmt: skip
            assert r.status_code == 422, (path, name, r.status_code, r.text[:200])

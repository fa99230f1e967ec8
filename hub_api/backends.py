"""Back-end adapters: how one batch of outbox records reaches the one-stop back end.

The forwarder (:mod:`hub_api.forwarder`) owns ordering, retries and the durable position; an adapter
only answers "did this batch arrive?" for one attempt. The default adapter speaks ARCHITECTURE §4
(JSON over HTTP, bearer token, ``Idempotency-Key``). A province's own API plugs in as
``[backend] adapter = "package.module:factory"`` where ``factory(backend, token)`` returns an
:class:`Adapter`.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson

from onestop import __version__
from onestop.config import BackendSection
from onestop.errors import OnestopError


class BackendConfigError(OnestopError, ValueError):
    """The ``[backend]`` settings cannot be used (token missing or a placeholder, unknown adapter)."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt at delivering a batch came to."""

    delivered: bool
    #: Why not (retry), or a note on a delivery (``duplicate``); short and stable, it is logged.
    reason: str = ""
    #: The HTTP status when there was one.
    status: int | None = None
    #: The back end already had this key (409): delivered before, perhaps by an attempt that timed out.
    duplicate: bool = False

    @classmethod
    def ok(cls, status: int | None = None, *, duplicate: bool = False) -> Outcome:
        """Delivered."""
        return cls(True, "duplicate" if duplicate else "", status, duplicate)

    @classmethod
    def retry(cls, reason: str, status: int | None = None) -> Outcome:
        """Not delivered (or not known to be): send the same batch again later."""
        return cls(False, reason, status)


class Adapter(Protocol):
    """One back end. ``send`` must not raise for a failed delivery: it returns a retry outcome."""

    def send(self, stream: str, site: str, records: Sequence[Mapping[str, Any]], key: str) -> Outcome:
        """Deliver one batch of ``stream``'s records under the idempotency ``key``."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


AdapterFactory = Callable[[BackendSection, str], Adapter]

#: Values that are obviously not a real token (lower case; compared after stripping).
PLACEHOLDERS = frozenset(
    {"changethis", "changeme", "change-me", "change_me", "secret", "token", "password", "todo",
     "xxx", "xxxx", "placeholder", "example", "your-token", "your_token", "none", "null", "test"}
)  # fmt: skip


def looks_like_placeholder(value: str) -> bool:
    """True for tokens such as ``changethis``, ``<token>``, ``${TOKEN}`` or ``xxxxxxxx``."""
    v = value.strip().lower()
    return (
        v in PLACEHOLDERS
        or (v.startswith("<") and v.endswith(">"))
        or v.startswith("${")
        or "changeme" in v
        or "changethis" in v
        or len(set(v)) == 1
    )


def read_token(backend: BackendSection, environ: Mapping[str, str] | None = None) -> str:
    """The back end's bearer token from the variable named by ``token_env``; fails fast when unusable."""
    env = os.environ if environ is None else environ
    name = backend.token_env
    value = env.get(name, "").strip()
    if not value:
        raise BackendConfigError(
            f"[backend] token_env: the environment variable {name} is not set; "
            f"set it to the token the back end gave this site (nothing is forwarded without it)"
        )
    if looks_like_placeholder(value):
        raise BackendConfigError(f"[backend] token_env: {name} holds a placeholder ({value!r}), not a token")
    return value


class HttpAdapter:
    """ARCHITECTURE §4: ``POST {url}/{stream}`` with a JSON body, a bearer token and ``Idempotency-Key``."""

    def __init__(
        self, url: str, token: str, *, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base = url.rstrip("/")
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"onestop-hub/{__version__}",
            },
            transport=transport,
        )

    @classmethod
    def from_config(cls, backend: BackendSection, token: str) -> HttpAdapter:
        """The default adapter for a ``[backend]`` section."""
        return cls(backend.url, token, timeout_s=backend.timeout_s)

    def send(self, stream: str, site: str, records: Sequence[Mapping[str, Any]], key: str) -> Outcome:
        """POST one batch; 2xx and 409 are delivered, anything else (or no answer) is retried."""
        body = orjson.dumps({"site": site, "records": list(records)})
        try:
            r = self.client.post(f"{self.base}/{stream}", content=body, headers={"Idempotency-Key": key})
        except httpx.TimeoutException as exc:
            return Outcome.retry(f"timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            return Outcome.retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= r.status_code < 300:
            return Outcome.ok(r.status_code)
        if r.status_code == 409:
            return Outcome.ok(409, duplicate=True)
        detail = r.text.strip().replace("\n", " ")[:200]
        return Outcome.retry(f"HTTP {r.status_code}" + (f": {detail}" if detail else ""), r.status_code)

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def adapter_factory(backend: BackendSection) -> AdapterFactory:
    """The factory named by ``[backend] adapter``: ``default`` or ``package.module:callable``."""
    name = backend.adapter
    if name == "default":
        return HttpAdapter.from_config
    module, _, attr = name.partition(":")
    if not module or not attr:
        raise BackendConfigError(
            f"[backend] adapter: expected 'default' or 'package.module:factory', got {name!r}"
        )
    try:
        factory = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise BackendConfigError(f"[backend] adapter {name!r} cannot be loaded: {exc}") from exc
    if not callable(factory):
        raise BackendConfigError(f"[backend] adapter {name!r} is not callable")
    return factory

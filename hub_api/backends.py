"""Back-end adapters: how one batch of outbox records reaches the one-stop back end.

The forwarder (:mod:`hub_api.forwarder`) owns ordering, retries and the durable position; an adapter
only answers "did this batch arrive?" for one attempt. The default adapter speaks ARCHITECTURE §4
(JSON over HTTP, bearer token, ``Idempotency-Key``). A province's own API plugs in as
``[backend] adapter = "package.module:factory"`` where ``factory(backend, token)`` returns an
:class:`Adapter`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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


#: The systemd credential the hub's unit loads the token into (``provision backend set``).
TOKEN_CREDENTIAL = "backend-token"


def read_token(backend: BackendSection, environ: Mapping[str, str] | None = None) -> str:
    """The back end's bearer token: the variable named by ``token_env``, else the systemd credential
    ``backend-token`` (``$CREDENTIALS_DIRECTORY``, what the generated hub unit loads); fails fast when
    unusable."""
    env = os.environ if environ is None else environ
    name = backend.token_env
    value = env.get(name, "").strip()
    creds = env.get("CREDENTIALS_DIRECTORY", "")
    if not value and creds:
        try:
            value = (Path(creds) / TOKEN_CREDENTIAL).read_text(encoding="utf-8").strip()
        except OSError:
            value = ""
    if not value:
        raise BackendConfigError(
            f"[backend]: no token: the environment variable {name} is not set and there is no systemd "
            f"credential {TOKEN_CREDENTIAL}; store the token the back end gave this site with "
            "`onestop provision backend set --token-file FILE` (nothing is forwarded without it)"
        )
    if looks_like_placeholder(value):
        raise BackendConfigError(f"[backend] token_env: {name} holds a placeholder ({value!r}), not a token")
    return value


#: The most of a back end's answer the hub reads (its status line and a short reason are all it needs).
MAX_RESPONSE_BYTES = 1024 * 1024


class _Deadline:
    """Cuts one request off at a total deadline, whatever the back end does (httpx's timeouts are per
    read: a back end that drips a header every few seconds never trips them).

    httpcore's ``trace`` hook hands over each new connection's stream; a timer shuts that socket down
    at the deadline (on a duplicate of its descriptor, so that the TLS object is not touched from
    another thread), which makes the blocked read fail at once."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's trace callback: remember the socket of every connection opened."""
        if not event.endswith(("connect_tcp.complete", "start_tls.complete")):
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return
        try:
            dup = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:
            return
        with self._lock:
            self._socks.append(dup)
            if self.expired:
                self._shutdown(dup)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._socks:
                self._shutdown(sock)

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._socks:
                sock.close()
            self._socks.clear()


class HttpAdapter:
    """ARCHITECTURE §4: ``POST {url}/{stream}`` with a JSON body, a bearer token and ``Idempotency-Key``.

    Each attempt ends by ``timeout_s`` in all (connect, send, headers and body together), and reads
    at most ``max_response_bytes`` of the answer: a slower or bigger answer is a failed delivery,
    retried later with the same records and key."""

    def __init__(
        self, url: str, token: str, *, timeout_s: float = 10.0, transport: httpx.BaseTransport | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:  # fmt: skip
        self.base = url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.client = httpx.Client(
            timeout=httpx.Timeout(timeout_s),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": f"onestop-hub/{__version__}",
                "Accept-Encoding": "identity",
            },
            transport=transport,
            # A new connection per batch: the deadline can always reach its socket (and a batch a
            # minute is no load worth a pool).
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    @classmethod
    def from_config(cls, backend: BackendSection, token: str) -> HttpAdapter:
        """The default adapter for a ``[backend]`` section."""
        return cls(backend.url, token, timeout_s=backend.timeout_s)

    def send(self, stream: str, site: str, records: Sequence[Mapping[str, Any]], key: str) -> Outcome:
        """POST one batch; 2xx and 409 are delivered, anything else (or no answer) is retried."""
        body = orjson.dumps({"site": site, "records": list(records)})
        deadline = _Deadline(self.timeout_s)
        try:
            with deadline:
                request = self.client.build_request(
                    "POST", f"{self.base}/{stream}", content=body, headers={"Idempotency-Key": key},
                    extensions={"trace": deadline.trace},
                )  # fmt: skip
                r = self.client.send(request, stream=True)
                try:
                    answer = self._read(r)
                finally:
                    r.close()
        except httpx.TimeoutException as exc:
            return Outcome.retry(f"timeout ({type(exc).__name__})")
        except httpx.HTTPError as exc:
            if deadline.expired:
                return Outcome.retry(f"timeout (no complete answer within the {self.timeout_s:g} s deadline)")
            return Outcome.retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if isinstance(answer, Outcome):
            return answer
        if 200 <= r.status_code < 300:
            return Outcome.ok(r.status_code)
        if r.status_code == 409:
            return Outcome.ok(409, duplicate=True)
        detail = answer.decode("utf-8", "replace").strip().replace("\n", " ")[:200]
        return Outcome.retry(f"HTTP {r.status_code}" + (f": {detail}" if detail else ""), r.status_code)

    def _read(self, r: httpx.Response) -> bytes | Outcome:
        """The answer's body, or a retry outcome when it is bigger than ``max_response_bytes``."""
        cap = self.max_response_bytes
        data = read_capped(r, cap)
        if data is None:
            return Outcome.retry(f"answer too large (over {cap} bytes; HTTP {r.status_code})", r.status_code)
        return data

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()


def read_capped(r: httpx.Response, cap: int) -> bytes | None:
    """The body of a streamed answer, or None as soon as it is known to be bigger than ``cap`` bytes
    (declared so, or read so far): the caller closes the connection rather than read on."""
    declared = r.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return None
    data = bytearray()
    try:
        for chunk in r.iter_raw():  # as sent: a compressed answer is not inflated here
            data += chunk
            if len(data) > cap:
                return None
    except httpx.StreamConsumed:  # a transport that hands over a body already read (in memory)
        data = bytearray(r.content)
        if len(data) > cap:
            return None
    return bytes(data)


#: What the lookups (hub_api.lookup) use of this module's machinery, by a public name.
Deadline = _Deadline


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

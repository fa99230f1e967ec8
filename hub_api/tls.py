"""HTTPS on the LAN: the hub's TLS listener beside its plain one (docs/configuration.md, docs/deployment.md).

With ``[hub] tls_listen`` set, the hub serves two listeners from one process and one app: HTTPS on
``tls_listen`` (the LAN: soft callers' PINs, dashboard tokens, session cookies) with the certificate
``site init`` made from the site CA, and plain HTTP on ``listen`` (keep it on loopback). The first
listener leads: it runs the app's lifespan (the hub starts and stops once) and handles the signals;
the others follow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import uvicorn

from onestop.config import SiteConfig, split_listen
from onestop.errors import OnestopError


@dataclass(frozen=True)
class Listener:
    """One address the hub serves, with uvicorn's TLS options (empty: plain HTTP)."""

    host: str
    port: int
    ssl: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The listener's base URL, for the log."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.ssl else 'http'}://{host}:{self.port}"


def ssl_options(cfg: SiteConfig) -> dict[str, str] | None:
    """uvicorn's ``ssl_certfile``/``ssl_keyfile`` for the hub's TLS listener; None without
    ``[hub] tls_listen``. :class:`OnestopError` (one line) when the certificate or key cannot be used."""
    if cfg.hub.tls_listen is None:
        return None
    cert, key = cfg.site_path(cfg.hub.tls_cert), cfg.site_path(cfg.hub.tls_key)
    for name, path in (("tls_cert", cert), ("tls_key", key)):
        if not path.is_file():
            raise OnestopError(
                f"hub.{name}: {path} is missing (run `onestop provision site init`, docs/deployment.md)"
            )
    try:  # what uvicorn will do, but with a clear reason instead of a traceback
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert), str(key))
    except PermissionError as exc:
        raise OnestopError(f"hub.tls_key: cannot read {exc.filename or key}: permission denied") from None
    except (ssl.SSLError, OSError) as exc:
        raise OnestopError(f"hub.tls_cert/tls_key: {cert} and {key} are not a usable pair: {exc}") from None
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def listeners(cfg: SiteConfig, listen: str | None = None) -> list[Listener]:
    """The hub's listeners: plain ``listen`` (or the ``--listen`` override) first, then TLS if set."""
    plain = listen or cfg.hub.listen
    where = split_listen(plain)
    if where is None:
        raise OnestopError(f"hub listen address: expected HOST:PORT, got {plain!r}")
    out = [Listener(*where)]
    options = ssl_options(cfg)
    if options is not None:
        assert cfg.hub.tls_listen is not None
        tls_where = split_listen(cfg.hub.tls_listen)
        assert tls_where is not None  # checked when the site file was loaded
        out.append(Listener(*tls_where, ssl=options))
    return out


class _Leader(uvicorn.Server):
    """The first listener: runs the lifespan, takes the signals and passes them on."""

    def __init__(self, config: uvicorn.Config, followers: list[uvicorn.Server]) -> None:
        super().__init__(config)
        self.followers = followers

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        for f in self.followers:
            f.should_exit, f.force_exit = self.should_exit, self.force_exit


class _Follower(uvicorn.Server):
    """Another listener of the same app: no lifespan, no signal handlers of its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def servers(app: Any, where: list[Listener], **options: Any) -> list[uvicorn.Server]:
    """One uvicorn server per listener, sharing ``options`` (log level, timeouts, limits)."""
    followers: list[uvicorn.Server] = [
        _Follower(uvicorn.Config(app, host=w.host, port=w.port, lifespan="off", **w.ssl, **options))  # type: ignore[arg-type]
        for w in where[1:]
    ]
    lead = where[0]
    leader = _Leader(uvicorn.Config(app, host=lead.host, port=lead.port, **lead.ssl, **options), followers)  # type: ignore[arg-type]
    return [leader, *followers]


async def serve_all(group: list[uvicorn.Server]) -> None:
    """Serve every listener until the leader stops (a signal, or its start failed)."""
    leader, followers = group[0], group[1:]
    tasks = [asyncio.create_task(f.serve()) for f in followers]
    try:
        await leader.serve()
    finally:
        for f in followers:
            f.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)


def serve(app: Any, where: list[Listener], **options: Any) -> None:
    """Serve ``app`` on every listener in this thread until a signal stops the leader."""
    asyncio.run(serve_all(servers(app, where, **options)))

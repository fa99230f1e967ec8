"""Serving the hub over HTTP: uvicorn with limits that one misbehaving client cannot get around.

uvicorn alone waits forever for the headers of a request (a client that opens connections and
sends nothing, or one byte every few seconds, keeps them all), lets one address hold any number of
connections, and logs every refused request and every failed ``accept()``. :func:`serve_listeners` adds:

- a **header timeout**: a connection whose request headers are not complete ``header_timeout_s``
  after it opened (or after the first byte of a next request on a kept-alive connection) is closed;
- a **connection limit** overall (``max_connections``: beyond it uvicorn answers 503) and per
  client address (``per_client``: further connections from that address are closed at once);
- a cap on the size of the request line and headers (h11's ``max_incomplete_event_size``: 431/400);
- **rate-limited logging** of refusals and of the event loop's errors (``accept()`` out of file
  descriptors), so that a flood cannot fill the disk with log lines;
- the soft ``RLIMIT_NOFILE`` raised to the hard limit (systemd's ``LimitNOFILE=``).

Request bodies are capped and timed by :mod:`hub_api.limits` (a middleware of the app itself).
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from hub_api import tls

log = logging.getLogger("onestop.hub.server")


@dataclass(frozen=True)
class ServerLimits:
    """How much of the hub one client, and all clients together, may hold."""

    #: Open connections in all (TV boards and soft callers each keep one open); beyond it: 503.
    max_connections: int = 1000
    #: Connections one client address may hold; more are closed at once (logged, rate limited).
    per_client: int = 100
    #: Seconds a client has to send a request's line and headers; then the connection is closed.
    header_timeout_s: float = 10.0
    #: Seconds an idle kept-alive connection stays open.
    keep_alive_s: int = 5
    #: Bytes of request line and headers at most (h11 answers a bigger one with an error).
    max_header_bytes: int = 32 * 1024


class RateLimitedLog:
    """Logs a kind of message at most once per ``every_s``, with how many were left out meanwhile."""

    def __init__(
        self, logger: logging.Logger, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.every_s = every_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def __call__(self, kind: str, level: int, msg: str, *args: Any) -> bool:
        """Log ``msg % args`` unless ``kind`` was logged less than ``every_s`` ago; True when logged."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.every_s:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return False
        if len(self._last) > 1000:  # kinds are few; never let a table grow without bound
            self._last.clear()
            self._skipped.clear()
        skipped = self._skipped.pop(kind, 0)
        self._last[kind] = now
        suffix = (
            f" ({skipped} more like it in the last {now - last:.0f} s)"
            if skipped and last is not None
            else ""
        )
        self.logger.log(level, msg + suffix, *args)
        return True


class _RateLimitFilter(logging.Filter):
    """Lets the same message of a logger through at most once per ``every_s`` (uvicorn's warnings:
    "Exceeded concurrency limit.", "Invalid HTTP request received.")."""

    def __init__(self, every_s: float = 10.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:  # start and stop lines of each listener all pass
            return True
        key = str(record.msg)
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True


def guarded_protocol(limits: ServerLimits, say: RateLimitedLog) -> type[H11Protocol]:
    """uvicorn's h11 protocol with the header timeout and the per-client connection limit."""
    per_client: dict[str, int] = {}

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            host = self.client[0] if self.client else "?"
            n = per_client.get(host, 0) + 1
            if n > limits.per_client:
                say(
                    f"per-client {host}", logging.WARNING,
                    "closed a connection from %s: it already holds %d (the limit per client)",
                    host, limits.per_client,
                )  # fmt: skip
                transport.abort()
                return
            per_client[host] = n
            self._counted = host
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            if self._counted is not None:
                left = per_client.get(self._counted, 1) - 1
                if left > 0:
                    per_client[self._counted] = left
                else:
                    per_client.pop(self._counted, None)
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # Between requests (h11 IDLE) with bytes of the next one buffered: its headers are now due.
            if (
                self.conn.their_state is h11.IDLE
                and self._header_timer is None
                and not self.transport.is_closing()
            ):
                self._arm_header_timer()

        def handle_events(self) -> None:
            super().handle_events()
            if self.conn.their_state is not h11.IDLE:  # a request line and headers were read
                self._disarm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE:  # the keep-alive timer covers the idle wait
                self._disarm_header_timer()

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._header_timeout)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                host = self.client[0] if self.client else "?"
                say(
                    "header timeout", logging.WARNING,
                    "closed a connection from %s: no complete request headers within %g s",
                    host, limits.header_timeout_s,
                )  # fmt: skip
                self.transport.close()

    return GuardedH11Protocol


def raise_nofile_limit() -> tuple[int, int]:
    """Raise this process's soft limit of open files to its hard limit; the (soft, hard) now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
    return soft, hard


class HubServer(uvicorn.Server):
    """uvicorn's server with a rate-limited handler of the event loop's errors."""

    def __init__(self, config: uvicorn.Config, say: RateLimitedLog) -> None:
        super().__init__(config)
        self._say = say
        #: The event loop it serves on (once started).
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.loop.set_exception_handler(self._loop_error)
        await super().startup(sockets=sockets)

    def _loop_error(self, _loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        _loop_error(self._say, context)


def _loop_error(say: RateLimitedLog, context: dict[str, Any]) -> None:
    """Log an event loop error through the rate-limited log."""
    exc = context.get("exception")
    message = str(context.get("message", "event loop error"))
    detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
    # "socket.accept() out of system resource" (EMFILE) repeats every second for as long as it lasts.
    say(f"loop {message}", logging.ERROR, "%s%s", message, f" ({detail})" if detail else "")


def server_config(
    app: Any,
    host: str,
    port: int,
    *,
    limits: ServerLimits | None = None,
    ssl_options: dict[str, Any] | None = None,
    log_level: str = "info",
    timeout_graceful_shutdown: int = 3,
    say: RateLimitedLog | None = None,
) -> uvicorn.Config:
    """The uvicorn configuration of the hub: its limits, and ``ssl_options`` (``ssl_certfile``,
    ``ssl_keyfile``, ...) passed to :class:`uvicorn.Config` as they are."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=timeout_graceful_shutdown,
        **uvicorn_options(limits or ServerLimits(), say or RateLimitedLog(log)),
        **(ssl_options or {}),
    )


def uvicorn_options(limits: ServerLimits, say: RateLimitedLog) -> dict[str, Any]:
    """The keyword arguments of :class:`uvicorn.Config` that carry the hub's limits."""
    return {
        "access_log": False,
        "loop": "asyncio",
        "http": guarded_protocol(limits, say),
        "limit_concurrency": limits.max_connections,
        "timeout_keep_alive": limits.keep_alive_s,
        "h11_max_incomplete_event_size": limits.max_header_bytes,
    }


def serve_listeners(
    app: Any,
    where: list[tls.Listener],
    *,
    limits: ServerLimits | None = None,
    log_level: str = "info",
    timeout_graceful_shutdown: int = 3,
) -> None:
    """Serve ``app`` on every listener (plain, then HTTPS: :mod:`hub_api.tls`) with the hub's limits,
    until SIGINT/SIGTERM."""
    soft, hard = raise_nofile_limit()
    log.info("open-file limit %d (hard %s)", soft, "unlimited" if hard == resource.RLIM_INFINITY else hard)
    say = RateLimitedLog(log)
    group = tls.servers(
        app, where, log_level=log_level, timeout_graceful_shutdown=timeout_graceful_shutdown,
        **uvicorn_options(limits or ServerLimits(), say),
    )  # fmt: skip
    quiet_uvicorn_floods()  # after uvicorn.Config, which configures uvicorn's loggers

    async def run() -> None:
        # "socket.accept() out of system resource" (EMFILE) repeats every second while it lasts.
        asyncio.get_running_loop().set_exception_handler(lambda _loop, ctx: _loop_error(say, ctx))
        await tls.serve_all(group)

    asyncio.run(run())


def quiet_uvicorn_floods(every_s: float = 10.0) -> None:
    """Rate-limit uvicorn's per-request warnings (refused over the limit, invalid requests)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _RateLimitFilter) for f in logger.filters):
        logger.addFilter(_RateLimitFilter(every_s))

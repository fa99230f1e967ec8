"""A real hub served by uvicorn in a thread, and how to launch Debian's Chromium for Playwright."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from hub_api.app import Hub, create_app
from hub_api.server import HubServer as _HubUvicorn
from hub_api.server import RateLimitedLog, ServerLimits, log, server_config
from onestop.config import SiteConfig

#: Playwright cannot download its own browser here: it drives the system's Chromium.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Server(_HubUvicorn):
    """The hub's uvicorn server, telling a threading event when it listens (or gave up)."""

    def __init__(self, config: uvicorn.Config, say: RateLimitedLog) -> None:
        super().__init__(config, say)
        self.answered = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets=sockets)
        finally:
            self.answered.set()


class HubServer:
    """``onestop hub`` in-process: a :class:`Hub` (store, ingest, web keypads) and its app on a fixed
    loopback port, so that it can be stopped and started again on the same address."""

    def __init__(
        self, cfg: SiteConfig, password: str, *, broker_host: str, broker_port: int, db_path: Path,
        limits: ServerLimits | None = None,
    ) -> None:  # fmt: skip
        self.cfg = cfg
        self.limits = limits
        self.password = password
        self.broker = (broker_host, broker_port)
        self.db_path = db_path
        self.port = free_port()
        self.hub: Hub | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The hub's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Hub:
        """Open the hub, serve it, and wait until it listens and its MQTT clients are connected."""
        hub = Hub.open(
            self.cfg, self.password, db_path=self.db_path, host=self.broker[0], port=self.broker[1]
        )
        app = create_app(hub, manage=True)
        # Open event streams never end by themselves: let uvicorn close them one second into a stop.
        # The server set-up is the hub's own (hub_api.server): its limits are part of what is tested.
        say = RateLimitedLog(log)
        config = server_config(
            app, "127.0.0.1", self.port, limits=self.limits, log_level="warning",
            timeout_graceful_shutdown=1, say=say,
        )  # fmt: skip
        server = _Server(config, say)
        thread = threading.Thread(target=server.run, name=f"hub-{self.port}", daemon=True)
        self.hub, self._server, self._thread = hub, server, thread
        thread.start()
        if not server.answered.wait(timeout) or not server.started:
            self.stop()
            raise RuntimeError(f"the hub did not start on port {self.port}")
        assert hub.ingest is not None and hub.keypads is not None
        hub.ingest.mqtt.wait_connected(timeout)
        for kp in hub.keypads.keypads.values():
            if kp.client is not None:
                kp.client.mqtt.wait_connected(timeout)
        return hub

    def stop(self) -> None:
        """Stop serving (the app's lifespan stops the hub) and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(20)
            if self._thread.is_alive():
                raise RuntimeError("the hub's server thread did not stop")
        self._server = self._thread = None

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

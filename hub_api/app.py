"""The hub process: store, live state and ingest, and the FastAPI app that serves them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from hub_api.ingest import Ingest
from hub_api.live import LiveState
from hub_api.store import HubStore
from onestop import __version__
from onestop.config import SiteConfig


@dataclass
class Hub:
    """Everything a request handler may need."""

    cfg: SiteConfig
    store: HubStore
    live: LiveState
    ingest: Ingest | None = None

    @classmethod
    def open(
        cls, cfg: SiteConfig, password: str, *, db_path: Path | None = None, host: str | None = None,
        port: int | None = None, client_id: str = "hub",
    ) -> Hub:  # fmt: skip
        """Open the store and prepare the ingest (not started)."""
        store = HubStore(db_path or cfg.data_dir / "hub.db")
        live = LiveState()
        ingest = Ingest(cfg, password, store, live, host=host, port=port, client_id=client_id)
        return cls(cfg, store, live, ingest)

    def start(self) -> None:
        """Start consuming the site's traffic."""
        if self.ingest is not None:
            self.ingest.start(connect_timeout=None)

    def stop(self) -> None:
        """Stop consuming and close the store."""
        if self.ingest is not None:
            self.ingest.stop()
        self.store.close()


def get_hub(request: Request) -> Hub:
    """The hub of the running app."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def create_app(hub: Hub, *, manage: bool = True) -> FastAPI:
    """The FastAPI app; with ``manage`` it starts and stops the hub with the server."""
    from hub_api.routers import health, state, tickets

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage:
            hub.start()
        try:
            yield
        finally:
            if manage:
                hub.stop()

    app = FastAPI(title=f"onestop hub — {hub.cfg.site.name}", version=__version__, lifespan=lifespan)
    app.state.hub = hub
    app.include_router(health.router)
    app.include_router(state.router)
    app.include_router(tickets.router)
    return app

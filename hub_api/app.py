"""The hub process: store, live state and ingest, and the FastAPI app that serves them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from prometheus_client import CollectorRegistry

from hub_api.auth import PinGuard, SessionSigner
from hub_api.caller import WebKeypads
from hub_api.citizen_notes import CitizenNotes, forget_all_notes
from hub_api.forwarder import Forwarder
from hub_api.ingest import Ingest
from hub_api.limits import BodyLimitMiddleware, SecurityHeadersMiddleware
from hub_api.live import LiveState
from hub_api.lookup import LookupRelay
from hub_api.store import HubStore
from hub_api.tokens import SessionSigner as DashboardSigner
from hub_api.tokens import TokenStore
from onestop import __version__, sdnotify
from onestop.config import SiteConfig


@dataclass
class Hub:
    """Everything a request handler may need."""

    cfg: SiteConfig
    store: HubStore
    live: LiveState
    ingest: Ingest | None = None
    #: The web keypads the hub plays for soft callers (none until :meth:`open`).
    keypads: WebKeypads | None = None
    #: Signs the soft callers' session cookies.
    sessions: SessionSigner | None = None
    pins: PinGuard = field(default_factory=PinGuard)
    #: Forwards the outbox to ``[backend]`` (None when the site has no back end).
    forwarder: Forwarder | None = None
    #: API tokens with roles, and the dashboard's session cookies (set by :func:`create_app`).
    tokens: TokenStore | None = None
    dashboard_sessions: DashboardSigner | None = None
    #: The hub's own Prometheus registry (made on the first scrape: hub_api/routers/metrics.py).
    metrics: CollectorRegistry | None = None
    #: Answers kiosks' booking and dossier lookups through the back end (hub_api.lookup).
    lookups: LookupRelay | None = None
    #: Citizen names for the clerk serving the ticket (``[citizen_id] prefill_name``; else None).
    notes: CitizenNotes | None = None

    @classmethod
    def open(
        cls, cfg: SiteConfig, password: str, *, db_path: Path | None = None, host: str | None = None,
        port: int | None = None, client_id: str = "hub", time_scale: float = 1.0,
    ) -> Hub:  # fmt: skip
        """Open the store and prepare the ingest and the web keypads (not started). ``time_scale``:
        demo only, see :attr:`hub_api.store.HubStore.time_scale`."""
        store = HubStore(db_path or cfg.data_dir / "hub.db", time_scale=time_scale)
        live = LiveState()
        liveness = sdnotify.Liveness.from_env()  # the ingest loop pings while it and the forwarder work
        notes_path = store.path.with_name("citizen-notes.db")
        notes: CitizenNotes | None = None
        if cfg.citizen_id.enabled and cfg.citizen_id.prefill_name:
            notes = CitizenNotes(cfg, notes_path)
            notes.purge_past()  # a day that closed while the hub was down
        else:
            forget_all_notes(cfg, notes_path)  # the setting was turned off: nothing is kept
        ingest = Ingest(
            cfg, password, store, live, host=host, port=port, client_id=client_id, liveness=liveness,
            on_citizen=notes.receive if notes is not None else None,
        )  # fmt: skip
        if notes is not None:
            ingest.on_events.append(notes.on_events)
        keypads = WebKeypads(cfg, host=host, port=port)
        forwarder = Forwarder.for_site(cfg, store.path, liveness=liveness)
        if forwarder is not None:
            ingest.on_outbox.append(forwarder.wake)  # records go out at once, not at the next poll
        mqtt = ingest.mqtt
        lookups = LookupRelay.for_site(cfg, lambda topic, payload: mqtt.publish(topic, payload, qos=1))
        ingest.on_lookup = lookups.submit
        return cls(
            cfg,
            store,
            live,
            ingest,
            keypads,
            SessionSigner.for_site(cfg),
            forwarder=forwarder,
            notes=notes,
            lookups=lookups,
        )

    def start(self) -> None:
        """Start consuming the site's traffic and connect the web keypads."""
        if self.lookups is not None:
            self.lookups.start()  # before the ingest connects: it hands lookups over at once
        if self.ingest is not None:
            self.ingest.start(connect_timeout=None)
        if self.keypads is not None:
            self.keypads.start()
        if self.forwarder is not None:
            self.forwarder.start(fail_soft=True)  # the site keeps working without its back end

    def stop(self) -> None:
        """Disconnect the web keypads, stop consuming and close the store."""
        if self.keypads is not None:
            self.keypads.stop()
        if self.ingest is not None:
            self.ingest.stop()
        if self.forwarder is not None:
            self.forwarder.stop()
        if self.lookups is not None:
            self.lookups.stop()
        if self.notes is not None:
            self.notes.close()
        self.store.close()


def get_hub(request: Request) -> Hub:
    """The hub of the running app."""
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


def create_app(hub: Hub, *, manage: bool = True) -> FastAPI:
    """The FastAPI app; with ``manage`` it starts and stops the hub with the server."""
    from hub_api.routers import (
        caller,
        counters,
        devices,
        docs,
        events,
        health,
        metrics,
        officers,
        pages,
        releases,
        reports,
        services,
        session,
        site,
        state,
        tickets,
    )

    if hub.tokens is None:  # fails fast on a malformed token file or a placeholder token
        hub.tokens = TokenStore.for_site(hub.cfg)
    if hub.dashboard_sessions is None:
        hub.dashboard_sessions = DashboardSigner.for_site(hub.cfg)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage:
            hub.start()
            sdnotify.ready(f"hub of {hub.cfg.site.id}")  # the ingest loop pings (forwarder alive too)
        try:
            yield
        finally:
            if manage:
                hub.stop()

    app = FastAPI(
        title=f"onestop hub — {hub.cfg.site.name}", version=__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # served offline by hub_api.routers.docs
    )  # fmt: skip
    app.state.hub = hub
    app.include_router(health.router)
    app.include_router(state.router)
    app.include_router(tickets.router)
    app.include_router(site.router)
    app.include_router(counters.router)
    app.include_router(caller.router)
    app.add_exception_handler(caller.CallerError, caller.caller_error_handler)
    for r in (services, officers, devices, events, reports, metrics, session, releases):
        app.include_router(r.router)
    app.include_router(pages.router)
    app.include_router(docs.router)
    app.mount("/static", pages.static_files(), name="static")
    app.mount(docs.ASSETS, docs.assets(), name="docs-assets")
    # Outermost last: the security headers also go on the body limit's refusals.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app

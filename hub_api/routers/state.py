"""The site as it is now, and a stream of its changes (Server-Sent Events) for pages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from hub_api.app import HubDep

router = APIRouter(prefix="/api", tags=["state"])

#: A comment line is sent this often so that proxies and browsers keep the stream open.
KEEPALIVE_S = 15.0


@router.get("/state")
def snapshot(hub: HubDep) -> dict[str, Any]:
    """The hall board, every counter and every service, as last published by the controller."""
    return hub.live.snapshot()


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


_SSE = {"description": "Server-Sent Events", "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@router.get("/stream", response_class=StreamingResponse, responses={200: _SSE})
async def stream(request: Request, hub: HubDep) -> StreamingResponse:
    """Server-Sent Events: a ``snapshot`` first, then one ``state`` event per change."""
    q = hub.live.subscribe()

    async def events() -> AsyncIterator[str]:
        try:
            yield "retry: 1000\n\n"
            yield _sse("snapshot", hub.live.snapshot())
            while not await request.is_disconnected():
                try:
                    msg = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                yield _sse("state", msg)
        finally:
            hub.live.unsubscribe(q)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

"""The web pages the hub serves: TV board, soft caller, ticket status, dashboard (plain HTML/CSS/JS)."""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from hub_api.app import HubDep
from hub_api.routers.tickets import ticket_by_token

router = APIRouter(tags=["pages"], include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

#: Pages and their scripts are revalidated on every load, so a TV picks up an upgrade on reload.
NO_CACHE = {"Cache-Control": "no-cache"}


class _RevalidatedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        resp = await super().get_response(path, scope)
        resp.headers.setdefault("Cache-Control", "no-cache")
        return resp


def static_files() -> StaticFiles:
    """The ``/static`` mount: the pages' scripts and style sheets."""
    return _RevalidatedStatic(directory=STATIC_DIR)


#: The pages' icon; browsers ask for /favicon.ico on every page even without a <link>.
ICON_HEADERS = {"Cache-Control": "public, max-age=86400"}


@router.get("/favicon.ico")
def favicon_ico() -> FileResponse:
    """The icon for browsers that ask for /favicon.ico (16, 32 and 48 px)."""
    return FileResponse(STATIC_DIR / "favicon.ico", media_type="image/x-icon", headers=ICON_HEADERS)


@router.get("/favicon.svg")
def favicon_svg() -> FileResponse:
    """The icon, scalable, that every page links."""
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml", headers=ICON_HEADERS)


@router.get("/")
def home() -> RedirectResponse:
    """The hub's front page is the hall board."""
    return RedirectResponse("/board")


@router.get("/board")
def board() -> FileResponse:
    """The hall's TV board (1920×1080)."""
    return FileResponse(STATIC_DIR / "board.html", headers=NO_CACHE)


_NOT_A_WEB_KEYPAD = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Không có bàn phím web</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/caller.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="icon" href="/favicon.ico" sizes="16x16 32x32 48x48"></head>
<body class="plain"><main class="notice-page">
<h1>{label}: không có trang gọi số</h1>
<p>Quầy này chưa được cấu hình bàn phím web (<code>keys = {{ backend = "web" }}</code>).
Xin liên hệ cán bộ kỹ thuật.</p>
<p class="en">{label} has no web keypad (soft caller): ask the technician to add one in site.toml.</p>
</main></body></html>
"""


@router.get("/caller/{counter}", response_model=None)
def caller(counter: str, hub: HubDep) -> FileResponse | HTMLResponse:
    """The soft caller of one counter; 404 with an explanation when it has no web keypad."""
    if hub.keypads is None or hub.keypads.get(counter) is None:
        try:
            label = hub.cfg.counter(counter).label
        except KeyError:
            label = f"Quầy {counter}"
        return HTMLResponse(_NOT_A_WEB_KEYPAD.format(label=html.escape(label)), status_code=404)
    return FileResponse(STATIC_DIR / "caller.html", headers=NO_CACHE)


_NO_TICKET = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Không tìm thấy phiếu</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/ticket.css">
<link rel="icon" href="/favicon.svg" type="image/svg+xml">
<link rel="icon" href="/favicon.ico" sizes="16x16 32x32 48x48"></head>
<body><header class="bar"><div class="agency">{agency}</div><div class="centre">{centre}</div></header>
<main class="card notfound">
<h1>Không tìm thấy phiếu</h1>
<p>Không có phiếu số thứ tự với mã <code>{ticket}</code>. Xin kiểm tra lại mã QR trên phiếu, hoặc hỏi cán bộ
hướng dẫn tại sảnh.</p>
<p class="en">Ticket not found: please scan the QR code on your ticket again, or ask at the help desk.</p>
</main></body></html>
"""


@router.get("/t/{token}", response_model=None)
def ticket_status_page(token: str, hub: HubDep) -> FileResponse | HTMLResponse:
    """A ticket's status page at its unguessable link (the QR code on the ticket); a friendly 404 page
    for anything else, a sequential ticket id included."""
    if ticket_by_token(hub, token) is None:
        page = _NO_TICKET.format(
            agency=html.escape(hub.cfg.site.agency),
            centre=html.escape(hub.cfg.site.name),
            ticket=html.escape(token[:64]),
        )
        return HTMLResponse(page, status_code=404)
    return FileResponse(STATIC_DIR / "ticket.html", headers=NO_CACHE)


@router.get("/dashboard")
def dashboard() -> FileResponse:
    """The centre manager's dashboard (its data needs a manager token: the page asks for one)."""
    return FileResponse(STATIC_DIR / "dashboard.html", headers=NO_CACHE)

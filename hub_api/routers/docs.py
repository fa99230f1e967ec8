"""The API's own documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served offline.

Both load their scripts and style sheets from the hub itself (``/docs-assets``: the files shipped in
the ``fastapi-offline`` package, MIT: Swagger UI 5 and ReDoc 2), never from a CDN: a site's LAN often
has no Internet, and a third-party script would run in the hub's origin. The site name in the title
is HTML-escaped; Swagger UI is started by a script file (no inline script: see the CSP in
:mod:`hub_api.limits`).
"""

from __future__ import annotations

import html
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

router = APIRouter(tags=["pages"], include_in_schema=False)

#: Where the assets are mounted.
ASSETS = "/docs-assets"


def assets_dir() -> Path:
    """The folder of Swagger UI's and ReDoc's files in the installed ``fastapi_offline`` package."""
    return Path(str(files("fastapi_offline") / "static"))


def assets() -> StaticFiles:
    """The ``/docs-assets`` mount."""
    return StaticFiles(directory=assets_dir())


_SWAGGER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="stylesheet" href="/static/swagger.css">
<link rel="icon" href="{assets}/favicon.png"></head>
<body><div id="swagger-ui" data-openapi-url="{openapi}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body></html>
"""

_REDOC = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="/static/redoc.css"></head>
<body><redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
<script src="/static/redoc-init.js"></script>
</body></html>
"""


def _page(template: str, request: Request, suffix: str) -> HTMLResponse:
    app = request.app
    page = template.format(
        title=html.escape(f"{app.title} — {suffix}"),
        assets=ASSETS,
        openapi=html.escape(app.openapi_url or "/openapi.json"),
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-cache"})


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The API's interactive documentation (Swagger UI)."""
    return _page(_SWAGGER, request, "Swagger UI")


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """The API's reference documentation (ReDoc)."""
    return _page(_REDOC, request, "ReDoc")

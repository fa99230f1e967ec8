"""Signing in to the dashboard with a token (a session cookie), and the token list for admins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Cookie, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub_api.app import HubDep
from hub_api.deps import Admin, refusals
from hub_api.models import UNREADABLE_BODY, answer
from hub_api.tokens import SESSION_COOKIE, SESSION_S

router = APIRouter(prefix="/api", tags=["session"])


class SignIn(BaseModel):
    """``POST /api/session``: an API token."""

    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)


@router.get("/session", responses={401: answer("signed out: no valid session cookie")})
def whoami(
    hub: HubDep, session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None
) -> dict[str, Any]:
    """The token name and role of this browser's session (401 when signed out)."""
    assert hub.tokens is not None and hub.dashboard_sessions is not None
    tok = hub.dashboard_sessions.verify(session, hub.tokens)
    if tok is None:
        raise HTTPException(401, "signed out")
    return {"name": tok.name, "role": tok.role}


@router.post("/session", responses={401: answer("unknown token"), **UNREADABLE_BODY})
def sign_in(body: SignIn, request: Request, hub: HubDep) -> JSONResponse:
    """Check a token; set the session cookie (HttpOnly, SameSite=Strict, 12 hours)."""
    assert hub.tokens is not None and hub.dashboard_sessions is not None
    tok = hub.tokens.check(body.token.strip())
    if tok is None:
        raise HTTPException(401, "unknown token")
    resp = JSONResponse({"name": tok.name, "role": tok.role})
    resp.set_cookie(
        SESSION_COOKIE,
        hub.dashboard_sessions.issue(tok),
        max_age=SESSION_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.delete("/session", status_code=204, response_class=Response)
def sign_out() -> Response:
    """Forget the session cookie."""
    resp = Response(status_code=204)
    resp.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.get("/tokens", responses=refusals("admin"))
def tokens(hub: HubDep, _who: Admin) -> list[dict[str, str]]:
    """Admin: the names and roles of the API tokens (never their values or hashes)."""
    assert hub.tokens is not None
    return [{"name": t.name, "role": t.role} for t in hub.tokens.tokens()]

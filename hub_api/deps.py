"""Who is asking: ``require(role)``, the dependency that guards the REST API, reports and metrics.

A request proves a role with ``Authorization: Bearer <token>`` (scripts, Prometheus, the province's
tools) or with the dashboard's session cookie (browsers, after signing in with a token). No proof:
401 with ``WWW-Authenticate: Bearer``; a token whose role is too low: 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Cookie, Depends, Header, HTTPException

from hub_api.app import HubDep
from hub_api.models import Responses, answer
from hub_api.tokens import ROLES, SESSION_COOKIE, Role, Token, role_at_least


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    if not authorization:
        return None
    scheme, _, value = authorization.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def require(role: Role) -> Callable[..., Token]:
    """A dependency that answers the caller's token entry when its role is at least ``role``."""

    def dependency(
        hub: HubDep,
        authorization: Annotated[str | None, Header()] = None,
        session: Annotated[str | None, Cookie(alias=SESSION_COOKIE)] = None,
    ) -> Token:
        assert hub.tokens is not None and hub.dashboard_sessions is not None
        value = bearer(authorization)
        tok = hub.tokens.check(value) if value else hub.dashboard_sessions.verify(session, hub.tokens)
        if tok is None:
            raise HTTPException(401, "a valid API token is needed", headers={"WWW-Authenticate": "Bearer"})
        if not role_at_least(tok.role, role):
            raise HTTPException(403, f"this needs the {role} role; the token {tok.name!r} is {tok.role}")
        return tok

    dependency.__name__ = f"require_{role}"
    return dependency


def refusals(role: Role) -> Responses:
    """What ``require(role)`` answers instead of the endpoint, for the route's OpenAPI ``responses=``:
    401, and 403 unless every role may (the lowest role, viewer, is never refused with 403)."""
    out: Responses = {
        401: answer(
            "no token (nor dashboard session), or an unknown one",
            headers={
                "WWW-Authenticate": {
                    "description": "`Bearer`",
                    "required": True,
                    "schema": {"type": "string"},
                }
            },
        )
    }
    if not all(role_at_least(r, role) for r in ROLES):
        out[403] = answer(f"the token's role is below {role}")
    return out


Viewer = Annotated[Token, Depends(require("viewer"))]
Manager = Annotated[Token, Depends(require("manager"))]
Admin = Annotated[Token, Depends(require("admin"))]

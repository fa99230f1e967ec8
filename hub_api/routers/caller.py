"""The soft caller's API: sign in with the counter's PIN, then send counter commands as its web keypad.

Every answer that is not a success is ``{"ok": false, "error": {"code", "message", ...}}``; the
codes are the controller's (``counter_closed``, ``no_current_ticket``, ...) plus the hub's own:
``no_web_keypad`` (404), ``unknown_op`` (404), ``signed_out`` (401), ``wrong_pin`` (401),
``locked`` (429), ``keypad_unavailable`` (503) and ``no_reply`` (504). A body FastAPI cannot decode or
validate gets FastAPI's own answer instead (400 ``{"detail"}``, 422 ``{"detail": [...]}``).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Cookie, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from hub_api.app import Hub, HubDep
from hub_api.auth import COOKIE, SESSION_S
from hub_api.caller import KeypadUnavailable, WebKeypad
from hub_api.models import BODY_LIMITS, UNREADABLE_BODY, CallerErrorOut, ErrorOut, Responses, answer
from onestop.device import CommandFailed, NoReply
from onestop.protocol import OPS_BY_ROLE

log = logging.getLogger("onestop.hub.caller")

router = APIRouter(prefix="/api/caller", tags=["caller"])

COUNTER_OPS = OPS_BY_ROLE["counter"]

#: HTTP status of each controller error code (anything else: 409, the counter's state refused it).
_STATUS = {"bad_request": 400, "forbidden": 403, "unknown_service": 400, "not_found": 404}


def _refused(description: str, **extra: Any) -> dict[str, Any]:
    return answer(description, model=CallerErrorOut, **extra)


#: The documented answers besides the success, per route (see the handlers for where each comes from).
NO_WEB_KEYPAD: Responses = {404: _refused("no_web_keypad: the counter has no web keypad (or does not exist)")}
SIGNED_OUT: Responses = {401: _refused("signed_out: sign in with the counter's PIN first")}
SIGN_IN: Responses = {
    **UNREADABLE_BODY,
    401: _refused("wrong_pin, with tries_left"),
    **NO_WEB_KEYPAD,
    429: _refused(
        "locked: too many wrong PINs, with retry_after",
        headers={"Retry-After": {"description": "seconds", "required": True, "schema": {"type": "integer"}}},
    ),
}
COMMAND: Responses = {
    **BODY_LIMITS,
    400: answer(
        "the controller's bad_request or unknown_service; or FastAPI's ErrorOut for a body it cannot decode",
        model=CallerErrorOut | ErrorOut,
    ),
    **SIGNED_OUT,
    403: _refused("the controller's forbidden"),
    404: _refused("no_web_keypad, unknown_op, or the controller's not_found"),
    409: _refused(
        "the counter's state refused it: counter_closed, no_current_ticket, ... (the controller's)"
    ),
    503: _refused("keypad_unavailable: the web keypad has no broker identity (its password is missing)"),
    504: _refused("no_reply: the controller did not answer in time"),
}


class CallerError(Exception):
    """An answer other than success, rendered as ``{"ok": false, "error": {...}}``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> JSONResponse:
        """The JSON answer."""
        headers = {}
        if "retry_after" in self.extra:
            headers["Retry-After"] = str(int(self.extra["retry_after"]) + 1)
        body = {"ok": False, "error": {"code": self.code, "message": self.message, **self.extra}}
        return JSONResponse(body, status_code=self.status, headers=headers)


def _keypad(hub: Hub, counter: str) -> WebKeypad:
    kp = hub.keypads.get(counter) if hub.keypads is not None else None
    if kp is None:
        raise CallerError(404, "no_web_keypad", f"counter {counter!r} has no web keypad")
    return kp


def _signed_in(hub: Hub, counter: str, token: str | None) -> WebKeypad:
    kp = _keypad(hub, counter)
    assert hub.keypads is not None and hub.sessions is not None
    if not hub.sessions.verify(token, counter, hub.keypads.pin(counter)):
        raise CallerError(401, "signed_out", "sign in with the counter's PIN first")
    return kp


SessionCookie = Annotated[str | None, Cookie(alias=COOKIE)]


class SignIn(BaseModel):
    """``POST /api/caller/{counter}/session``."""

    model_config = ConfigDict(extra="forbid")
    pin: str = Field(max_length=16)


class Command(BaseModel):
    """``POST /api/caller/{counter}/{op}``: the arguments, and an id that a retry of the same press
    repeats (the controller then answers again without acting twice)."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{8,64}$")
    args: dict[str, Any] = Field(default_factory=dict)


def _who(kp: WebKeypad, hub: Hub) -> dict[str, Any]:
    c = hub.cfg.counter(kp.counter)
    return {"ok": True, "counter": c.id, "label": c.label, "device": kp.device.id}


async def caller_error_handler(_request: Request, exc: Exception) -> Response:
    """The app's handler of :class:`CallerError`."""
    assert isinstance(exc, CallerError)
    return exc.response()


@router.get("/{counter}/session", responses={**SIGNED_OUT, **NO_WEB_KEYPAD})
async def whoami(counter: str, hub: HubDep, token: SessionCookie = None) -> dict[str, Any]:
    """Whether this browser is signed in for ``counter`` (200) or not (401)."""
    return _who(_signed_in(hub, counter, token), hub)


@router.get("/{counter}/serving", responses={**SIGNED_OUT, **NO_WEB_KEYPAD})
async def serving(counter: str, hub: HubDep, token: SessionCookie = None) -> dict[str, Any]:
    """The ticket the counter serves now, whole: with the booking code and the dossier code that the
    public state leaves out (the clerk of this counter only)."""
    kp = _signed_in(hub, counter, token)
    return {"ticket": hub.live.serving(kp.counter)}


@router.post("/{counter}/session", responses=SIGN_IN)
async def sign_in(counter: str, body: SignIn, request: Request, hub: HubDep) -> JSONResponse:
    """Check the PIN; on success set the session cookie (HttpOnly, SameSite=Strict, this counter only)."""
    kp = _keypad(hub, counter)
    assert hub.keypads is not None and hub.sessions is not None
    pin = hub.keypads.pin(counter)
    where = request.client.host if request.client else "?"
    verdict = hub.pins.check(counter, body.pin.strip(), pin, client=where)
    if not verdict.ok:
        if verdict.locked_for > 0 and verdict.tries_left == 0:
            if verdict.just_locked:  # once per lock-out: a client that keeps trying cannot flood the log
                log.warning(
                    "soft caller of counter %s: sign-in from %s locked for %d s (too many wrong PINs; "
                    "other browsers can still sign in)", counter, where, round(verdict.locked_for),
                )  # fmt: skip
            raise CallerError(
                429, "locked", "too many wrong PINs; try again later", retry_after=round(verdict.locked_for)
            )
        log.warning(
            "soft caller of counter %s: wrong PIN from %s (%d tries left)", counter, where, verdict.tries_left
        )
        raise CallerError(401, "wrong_pin", "wrong PIN", tries_left=verdict.tries_left)
    log.info("soft caller of counter %s: signed in from %s", counter, where)
    resp = JSONResponse(_who(kp, hub))
    resp.set_cookie(
        COOKIE,
        hub.sessions.issue(counter, pin),
        max_age=SESSION_S,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return resp


@router.get("/{counter}/citizen", responses={**SIGNED_OUT, **NO_WEB_KEYPAD})
async def citizen(counter: str, hub: HubDep, token: SessionCookie = None) -> JSONResponse:
    """The name a kiosk read from the identity card of the citizen this counter serves now
    (``[citizen_id] prefill_name``): ``{"ok": true, "ticket": id|null, "name": str|null}``. Only for the
    signed-in clerk of this counter; never cached; null when there is no note (docs/privacy.md)."""
    kp = _signed_in(hub, counter, token)
    serving = (hub.live.counters.get(kp.counter) or {}).get("serving")
    ticket = serving.get("id") if isinstance(serving, dict) else None
    name = None
    if hub.notes is not None and isinstance(ticket, str):
        name = await run_in_threadpool(hub.notes.name_for, ticket)
    body = {"ok": True, "ticket": ticket if isinstance(ticket, str) else None, "name": name}
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


@router.delete("/{counter}/session", status_code=204, response_class=Response)
async def sign_out(counter: str) -> Response:
    """Forget the session cookie."""
    resp = Response(status_code=204)
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return resp


@router.post("/{counter}/{op}", responses=COMMAND)
async def command(
    counter: str, op: str, body: Command, hub: HubDep, token: SessionCookie = None
) -> dict[str, Any]:
    """Send ``op`` with ``args`` as the counter's web keypad; answer the controller's result or error."""
    kp = _signed_in(hub, counter, token)
    if op not in COUNTER_OPS:
        raise CallerError(404, "unknown_op", f"no counter operation {op!r}")
    assert hub.keypads is not None
    keypads = hub.keypads
    try:
        result = await run_in_threadpool(keypads.request, kp.counter, op, body.args, body.id)
    except CommandFailed as exc:
        raise CallerError(_STATUS.get(exc.code, 409), exc.code, exc.message) from None
    except NoReply as exc:
        raise CallerError(504, "no_reply", str(exc)) from None
    except KeypadUnavailable as exc:
        raise CallerError(503, "keypad_unavailable", str(exc)) from None
    return {"ok": True, "op": op, "result": result}

"""Response models of the hub's REST API (what /docs shows)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

#: The largest integer SQLite stores: every integer query parameter that reaches SQL is bounded by it,
#: so that a bigger one answers 422 rather than failing in SQLite (500).
SQLITE_INT_MAX = 2**63 - 1

TicketStatusName = Literal["waiting", "called", "done", "skipped", "expired"]


class TicketOut(BaseModel):
    """A ticket with everything the hub knows about it."""

    id: str
    day: str = Field(description="business day, yyyymmdd")
    number: str
    service: str
    origin_service: str | None
    priority: bool
    status: TicketStatusName
    counter: str | None
    officer: str | None
    issued_at: str
    first_called_at: str | None
    called_at: str | None
    finished_at: str | None
    wait_s: float | None = Field(description="issue to first call")
    service_s: float | None = Field(description="last call to done")
    ahead: int | None = Field(description="people ahead while it waits (for a single ticket only)")
    est_wait_s: int | None = Field(description="the estimate given when it was issued")
    updated_seq: int
    booking: dict[str, Any] | None = Field(
        default=None,
        description="the citizen's booking: code, slot_start, slot_end, status (on_time, early, late)",
    )
    dossier: str | None = Field(default=None, description="the dossier code of a result pickup")


class TicketPage(BaseModel):
    """A page of tickets."""

    total: int
    offset: int
    limit: int
    items: list[TicketOut]


class TicketStatus(BaseModel):
    """The public view of a ticket for its status page: no officer, nothing personal."""

    id: str
    number: str
    service: str
    service_name: str
    service_name_en: str
    priority: bool
    status: TicketStatusName
    counter: str | None
    counter_label: str | None
    counter_label_en: str | None = None
    issued_at: str
    called_at: str | None
    ahead: int | None
    est_wait_s: int | None
    site_name: str
    agency: str
    seq: int = Field(description="the hub had applied events up to this seq when it answered")


class ServiceOut(BaseModel):
    """A service (lĩnh vực) and its live queue."""

    id: str
    name: str
    name_en: str
    prefix: str
    hours: list[str]
    daily_limit: int | None
    open: bool | None
    waiting: int | None
    est_wait_s: int | None
    issued_today: int | None


class CounterOut(BaseModel):
    """A counter and its live state."""

    id: str
    label: str
    services: list[str]
    policy: str
    status: str | None
    serving: str | None = Field(description="the number being served")
    officer: str | None


class OfficerOut(BaseModel):
    """An officer of site.toml and where they work now."""

    id: str
    name: str
    title: str
    at_counter: str | None


class DeviceOut(BaseModel):
    """A device's presence and health."""

    id: str
    role: str
    configured: bool = Field(description="listed in site.toml")
    counter: str | None
    online: bool | None = Field(description="null: never seen")
    version: str | None
    status_ts: str | None
    last_seen: str | None
    printer: str | None = Field(description="kiosks: ok, paper_low, paper_out, offline or error")
    health: dict[str, Any]


class AlertOut(BaseModel):
    """A problem for the centre manager."""

    severity: Literal["critical", "warning"]
    kind: str
    device: str | None
    message: str
    message_en: str
    since: str | None


class EventOut(BaseModel):
    """One event of the controller's stream, as stored by the hub."""

    seq: int
    type: str
    ts: str
    data: dict[str, Any]


class EventPage(BaseModel):
    """Events from ``from_seq`` on; ``next_seq`` is where the next page starts."""

    last_seq: int
    next_seq: int
    items: list[EventOut]


class ReportRow(BaseModel):
    """Figures of one group in one period (see docs/hub.md for how each is computed)."""

    period: str
    group: str
    key: str | None
    name: str
    issued: int
    served: int
    skipped: int
    expired: int
    open: int
    waits: int = Field(
        description="tickets called at least once (served, skipped, called or served now, transferred "
        "after a call): the waits the figures below are taken over"
    )
    wait_mean_s: float | None = Field(
        description="mean wait from issue to the first call, in seconds, rounded to 0.1 s; null without waits"
    )
    wait_p90_s: float | None = Field(
        description="90th percentile of those waits by nearest rank (the ceil(0.9 n)-th smallest), in "
        "seconds, rounded to 0.1 s"
    )
    within_target: float | None = Field(
        description="share of waits of at most 15 minutes (900 s counts), 0..1, rounded to 4 decimals"
    )
    service_mean_s: float | None = Field(
        description="mean time from the last call to the end of served (done) tickets, in seconds, rounded "
        "to 0.1 s"
    )
    ratings: int
    satisfied: int = Field(
        description="ratings whose score is at least [rating] satisfied_min as configured now"
    )
    satisfaction: float | None = Field(description="satisfied / ratings, 0..1, rounded to 4 decimals")
    levels: dict[str, int]


class Report(BaseModel):
    """A report: its parameters and rows."""

    by: str
    period: str
    start: str
    end: str
    levels: list[str]
    rows: list[ReportRow]


class OfficerRatingRow(BaseModel):
    """One officer's ratings in the period (``officer`` null: the unit's total)."""

    period: str
    officer: str | None
    name: str
    title: str
    unit: str
    levels: dict[str, int]
    ratings: int
    satisfied: int
    satisfaction: float | None


class OfficerReport(BaseModel):
    """The Thông tư 01/2018 report: ratings per officer for a quarter or a year."""

    period: str
    year: int
    quarter: int | None
    unit: str
    levels: list[str]
    rows: list[OfficerRatingRow]


class ErrorOut(BaseModel):
    """An error answer (401, 403, 404, ...): what went wrong, in English."""

    detail: str


class CallerErrorInfo(BaseModel):
    """What went wrong for the soft caller: the controller's error code or the hub's own."""

    code: str = Field(description="e.g. counter_closed, no_current_ticket, signed_out, wrong_pin, locked")
    message: str
    tries_left: int | None = Field(default=None, description="wrong_pin: PIN tries left before the lock")
    retry_after: int | None = Field(default=None, description="locked: seconds until the next try")


class CallerErrorOut(BaseModel):
    """Any answer of the soft caller's API that is not a success."""

    ok: Literal[False]
    error: CallerErrorInfo


#: A route's ``responses=``: its answers besides the success, by status (FastAPI's format).
Responses = dict[int | str, dict[str, Any]]


def answer(description: str, model: Any = ErrorOut, **extra: Any) -> dict[str, Any]:
    """One documented answer besides the success: its description and body model (``{"detail"}``)."""
    return {"model": model, "description": description, **extra}


#: FastAPI's own answer to a JSON body it cannot even decode (bytes that are not UTF-8); a body that
#: decodes but is not valid JSON, or not the expected object, gets the documented 422.
#: The body limits of every route that reads a body (hub_api.limits; docs/hub.md "Limits").
BODY_LIMITS: Responses = {
    408: answer("the body did not arrive within 30 s"),
    413: answer("the body is over the route's cap (1 KiB for a token, 4 KiB for the soft caller)"),
}
UNREADABLE_BODY: Responses = {400: answer("the body cannot be decoded (not UTF-8)"), **BODY_LIMITS}

"""The queue engine: pure decisions over tickets, counters and services.

No MQTT, no SQLite, no wall clock: the engine reads time from an injected clock, takes a command
(device, op, args) and returns a :class:`~queue_controller.model.Decision` with the reply, the
events and what changed. The controller shell persists a decision before anything is published.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from onestop.clock import Clock
from onestop.config import SiteConfig
from onestop.protocol import OPS_BY_ROLE, TERMINAL_STATUSES, iso
from queue_controller.estimate import (
    PACE_CALLS,
    PACE_WEIGHT,
    Told,
    WaitEstimate,
    break_after,
    combine,
    drain_pace,
    learn,
    pool_of,
)
from queue_controller.model import CounterRt, Decision, Rejected, ServiceRt, Ticket

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Service times outside this range say more about a forgotten key than about the service.
MIN_SAMPLE_S, MAX_SAMPLE_S = 10.0, 3 * 3600.0
#: A booking code once normalised (the portal's are ``DL`` + 8-10 characters; be lenient, bounded).
BOOKING_CODE = re.compile(r"[A-Z0-9]{4,24}")
#: A dossier code (mã hồ sơ): agency code, ``-yymmdd-``, a 4-digit daily sequence.
DOSSIER_CODE = re.compile(r"[A-Z0-9]{1,12}(?:\.[A-Z0-9]{1,12}){0,5}-\d{6}-\d{4}")
DOSSIER_MAX = 48
#: Why a ticket has priority: a short lowercase word (e.g. "age").
PRIORITY_REASON = re.compile(r"[a-z_]{1,24}")
#: The longest slot a booking may have.
MAX_SLOT = timedelta(hours=12)


def business_day(cfg: SiteConfig, when: datetime) -> date:
    """The business day an instant belongs to: the local date, shifted back by ``day_starts``."""
    start = cfg.site.day_start_time
    local = when.astimezone(cfg.site.tz)
    return (local - timedelta(hours=start.hour, minutes=start.minute)).date()


class Engine:
    """All queue state of one site, and the rules that change it."""

    #: Gives an issued ticket its link token (set by the shell: onestop.ticket_links); None: no token.
    ticket_token: Callable[[str], str] | None = None

    def __init__(self, cfg: SiteConfig, clock: Clock, *, time_scale: float = 1.0) -> None:
        self.cfg = cfg
        self.clock = clock
        #: Simulated seconds per real second (``onestop up --traffic``; 1 on a real site): how long
        #: waits and services last in the simulated day that the demo plays faster than life. The
        #: clock itself stays real (deadlines, opening hours, the business day); only durations scale.
        self.time_scale = time_scale
        self.day: date = business_day(cfg, clock.now())
        self.next_rank = 1
        self.tickets: dict[str, Ticket] = {}
        self.counters = {c.id: CounterRt(c.id) for c in cfg.counters}
        self.services = {s.id: ServiceRt(s.id, ewma_s=s.avg_service_min * 60) for s in cfg.services}
        self.calls: deque[dict[str, Any]] = deque(maxlen=cfg.queue.board_calls)
        self._counters_of: dict[str, list[str]] = {s.id: [] for s in cfg.services}
        for c in cfg.counters:
            for sid in c.services:
                self._counters_of[sid].append(c.id)
        now = clock.now()
        self._tz = cfg.site.tz
        self._hours = {s.id: (frozenset(s.days), s.hour_ranges) for s in cfg.services}
        self._last_tick = self._quiet_until = now
        #: The basis of each waiting ticket's estimate, until its first call teaches the calibration.
        self._told: dict[str, Told] = {}
        #: When each service's latest tickets were first called (the pace its line moves at).
        self._called: dict[str, deque[datetime]] = {s.id: deque(maxlen=PACE_CALLS) for s in cfg.services}
        #: Set while the clock's business day is earlier than the engine's (the clock went back).
        self.day_behind: date | None = None
        #: Booking codes that got a ticket in the current business day (each is used once).
        self.booking_codes: set[str] = set()
        #: Booked tickets numbered today under ``[bookings] prefix`` (numbering = "prefix").
        self.booked_issued = 0
        for s in self.services.values():
            s.open = self.service_open(s.id, now)

    # ------------------------------------------------------------------------------------
    # Restoring after a restart
    # ------------------------------------------------------------------------------------
    def restore(
        self,
        meta: dict[str, Any],
        tickets: Iterable[Ticket],
        counters: dict[str, dict[str, Any]],
        services: dict[str, dict[str, Any]],
        booking_codes: Iterable[str] = (),
    ) -> None:
        """Load persisted state (today's tickets and every non-terminal one, and the booking codes
        used in the stored day)."""
        if "day" in meta:
            # The stored day wins over the clock's when it is later: a day is never reopened.
            self.day = date.fromisoformat(meta["day"])
        self._quiet_until = self._last_tick  # the next tick must look at the clock (a day may have passed)
        self.next_rank = int(meta.get("next_rank", 1))
        self.booked_issued = int(meta.get("booked_issued", 0))
        self.booking_codes = set(booking_codes)
        self.calls.clear()
        self.calls.extend(meta.get("calls", [])[: self.cfg.queue.board_calls])
        for cid, rec in counters.items():
            if cid in self.counters:
                self.counters[cid] = CounterRt.from_record(cid, rec)
        for sid, rec in services.items():
            if sid in self.services:
                rt = ServiceRt.from_record(sid, rec)
                rt.open = self.services[sid].open
                self.services[sid] = rt
        waiting: list[Ticket] = []
        for t in tickets:
            self.tickets[t.id] = t
            if t.status == "waiting":
                waiting.append(t)
        for t in sorted(waiting, key=lambda t: t.rank):
            svc = self.services.get(t.service)
            if svc is not None:
                self._enqueue(svc, t)
        # A counter may name a ticket that a configuration change removed: forget it.
        for c in self.counters.values():
            if c.serving and c.serving not in self.tickets:
                c.serving = None

    def meta(self) -> dict[str, Any]:
        """The engine's scalar state, for persistence."""
        return {
            "day": self.day.isoformat(),
            "next_rank": self.next_rank,
            "calls": list(self.calls),
            "booked_issued": self.booked_issued,
        }

    # ------------------------------------------------------------------------------------
    # Views published as retained state
    # ------------------------------------------------------------------------------------
    def counter_state(self, cid: str) -> dict[str, Any]:
        """``state/counter/{cid}`` without ``seq``."""
        c = self.counters[cid]
        conf = self.cfg.counter(cid)
        officer = None
        if c.officer is not None:
            officer = {"id": c.officer, "name": self.cfg.officer(c.officer).name}
        serving = self.tickets[c.serving].wire() if c.serving else None
        return {
            "counter": cid,
            "label": conf.label,
            "status": c.status,
            "serving": serving,
            "officer": officer,
            "services": list(conf.services),
            # Additions: what a counter display needs to blink on each call and recall (see
            # docs/protocol.md, "Counter state").
            "calls": c.calls,
            "last_call": dict(c.last_call) if c.last_call else None,
            # What the next call_next here weighs besides the lines (docs/protocol.md, "Counter
            # state"): priority calls in a row while others waited, booked ones while a walk-in did.
            "streaks": {"priority": c.streak, "booked": c.booked_streak},
        }

    def service_state(self, sid: str) -> dict[str, Any]:
        """``state/service/{sid}`` without ``seq``."""
        s = self.services[sid]
        conf = self.cfg.service(sid)
        return {
            "service": sid,
            "name": conf.name,
            "name_en": conf.name_en,
            "open": s.open,
            "waiting": s.waiting,
            **self._wait_fields(sid, s.waiting),
            "last_issued": s.last_issued,
            "issued_today": s.issued,
            "remaining_today": max(0, conf.capacity - s.issued),
            "counters_open": self.open_counters(sid),
            "hours": list(conf.hours),
            "day": self.day.isoformat(),  # the business day that issued_today counts (docs/protocol.md)
        }

    def board_state(self) -> dict[str, Any]:
        """``state/board`` without ``seq``."""
        return {
            "calls": list(self.calls),
            "services": [
                {
                    "service": s.id,
                    "name": s.name,
                    "waiting": self.services[s.id].waiting,
                    **self._wait_fields(s.id, self.services[s.id].waiting),
                }
                for s in self.cfg.services
            ],
        }

    def open_counters(self, sid: str) -> int:
        """Counters open now for a service."""
        return sum(1 for cid in self._counters_of[sid] if self.counters[cid].status == "open")

    def estimate(self, sid: str, ahead: int) -> int:
        """Seconds until a ticket with ``ahead`` people before it is called (see :meth:`wait_estimate`)."""
        return self.wait_estimate(sid, ahead).point_s

    def _basis(self, sid: str, ahead: int) -> Told:
        """The plain estimate for ``ahead`` people: the moving average of real service times shared
        by the counters open for the service (at least one is assumed), plus the breaks in the
        service's hours that the wait would run across; and the calibration pool it belongs to."""
        opened = self.open_counters(sid)
        slot = self.services[sid].ewma_s / max(1, opened)
        plain = max(0, ahead) * slot
        if not self.cfg.queue.wait_ranges:  # the estimate as it was before ranges
            return Told(pool_of(opened, ahead), plain, slot)
        now = self.clock.now()
        pace = drain_pace(self._called[sid], now, self.time_scale) if opened else None
        if pace is not None:  # the pace at which this service's line really moved lately
            slot = PACE_WEIGHT * pace + (1 - PACE_WEIGHT) * slot
            plain = max(0, ahead) * slot
        if plain > 0:
            plain += break_after(now.astimezone(self._tz), plain, self._hours[sid][1])
        return Told(pool_of(opened, ahead), plain, slot)

    def wait_estimate(self, sid: str, ahead: int) -> WaitEstimate:
        """The wait told for a ticket with ``ahead`` people before it: a point and a range, from the
        plain estimate calibrated by how real waits compared with it (queue_controller/estimate.py)."""
        told = self._basis(sid, ahead)
        if not self.cfg.queue.wait_ranges:
            point = math.ceil(told.plain_s)
            return WaitEstimate(point, point, point)
        return combine(told.plain_s, told.slot_s, self.services[sid].calibration.ratios(told.pool))

    def _wait_fields(self, sid: str, ahead: int) -> dict[str, Any]:
        est = self.wait_estimate(sid, ahead)
        out: dict[str, Any] = {"est_wait_s": est.point_s}
        if self.cfg.queue.wait_ranges:
            out["est_wait_range_s"] = [est.lo_s, est.hi_s]
        return out

    def service_open(self, sid: str, now: datetime) -> bool:
        """Whether a service issues tickets at ``now`` (its days and hours, in site time)."""
        days, ranges = self._hours[sid]
        local = now.astimezone(self._tz)
        if WEEKDAY_KEYS[local.weekday()] not in days:
            return False
        if not ranges:
            return True
        t = local.time()
        return any(a <= t < b for a, b in ranges)

    def waiting_list(self, sid: str) -> list[Ticket]:
        """The tickets waiting in a service, in likely calling order (priority first, then booked)."""
        s = self.services[sid]
        return [self.tickets[t] for t in (*s.prio, *s.booked, *s.normal)]

    # ------------------------------------------------------------------------------------
    # The clock
    # ------------------------------------------------------------------------------------
    def tick(self) -> Decision:
        """Apply what time alone changes: the daily reset, and services opening or closing."""
        d = Decision()
        now = self.clock.now()
        # Hours and the daily reset are given in whole minutes: within a minute nothing can change.
        if self._last_tick <= now < self._quiet_until:
            return d
        self._last_tick = now
        self._quiet_until = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        today = business_day(self.cfg, now)
        if today > self.day:
            self.day_behind = None
            self._close_day(d, now, today)
        elif today < self.day:
            # The clock went back across ``day_starts`` (or a day was closed on a clock that ran
            # ahead). A closed day is never reopened: numbering goes on in the engine's day, so no
            # ticket id can be issued twice. The controller raises the alarm.
            self.day_behind = today
        else:
            self.day_behind = None
        for s in self.services.values():
            is_open = self.service_open(s.id, now)
            if is_open != s.open:
                s.open = is_open
                d.services.add(s.id)
                d.board = True
        return d

    def _close_day(self, d: Decision, now: datetime, today: date) -> None:
        issued = sum(svc.issued for svc in self.services.values())
        expired = 0
        for c in self.counters.values():
            if c.serving:
                self._end(d, self.tickets[c.serving], "done", now, learn=False)
            if c.status != "closed":
                c.status, c.officer = "closed", None
                self._event(
                    d, now, "counter.closed", {"counter": self.counter_state(c.id), "reason": "day_end"}
                )
            c.serving, c.last_done, c.last_done_at, c.streak = None, None, None, 0
            c.booked_streak = 0
            c.last_call = None  # like the board's calls; ``calls`` goes on (no display blinks)
            d.counters.add(c.id)
        for s in self.services.values():
            for tid in (*s.prio, *s.booked, *s.normal):
                t = self.tickets[tid]
                t.status, t.finished_at = "expired", now
                d.tickets[tid] = t
                self._event(d, now, "ticket.expired", {"ticket": t.wire()})
                expired += 1
            s.prio.clear()
            s.booked.clear()
            s.normal.clear()
            s.issued, s.last_issued = 0, None
            d.services.add(s.id)
        self._told.clear()
        self.booking_codes.clear()
        self.booked_issued = 0
        self._event(d, now, "day.closed", {"day": self.day.isoformat(), "issued": issued, "expired": expired})
        self.calls.clear()
        d.board = True
        self.day = today
        # Yesterday's tickets are persisted through the decision; keep memory to today.
        self.tickets = {k: v for k, v in self.tickets.items() if v.status not in TERMINAL_STATUSES}

    # ------------------------------------------------------------------------------------
    # Commands
    # ------------------------------------------------------------------------------------
    def handle(self, device_id: str, op: str, args: dict[str, Any]) -> Decision:
        """Decide one command from a device. Never raises for bad input: the decision says why."""
        d = self.tick()
        try:
            dev = self.cfg.device(device_id)
        except KeyError:
            d.error = Rejected("forbidden", f"unknown device {device_id!r}: it is not in site.toml")
            return d
        if op not in OPS_BY_ROLE.get(dev.role, ()):
            d.error = Rejected("forbidden", f"a {dev.role} device may not send {op!r}")
            return d
        handler = getattr(self, f"_op_{op}")
        try:
            if dev.role in ("counter", "rating"):
                assert dev.counter is not None
                d.result = handler(d, dev.counter, _Args(args))
            else:
                d.result = handler(d, dev, _Args(args))
        except Rejected as exc:
            d.error = exc
        return d

    # -- kiosk ------------------------------------------------------------------------------
    def _op_issue(self, d: Decision, dev: Any, args: _Args) -> dict[str, Any]:
        sid = args.text("service")
        priority = args.flag("priority", False)
        reason = args.opt_text("priority_reason")
        booking_arg = args.opt_object("booking")
        dossier_arg = args.opt_text("dossier")
        args.done()
        if reason is not None:
            if not PRIORITY_REASON.fullmatch(reason):
                raise Rejected(
                    "bad_request", "args.priority_reason: expected a short lowercase word such as 'age'"
                )
            if "priority" in args and not priority:
                raise Rejected(
                    "bad_request", "args.priority_reason goes with a priority ticket, not priority false"
                )
            priority = True
        if sid not in self.services:
            raise Rejected("unknown_service", f"no service {sid!r} at this site")
        if dev.services is not None and sid not in dev.services:
            raise Rejected("forbidden", f"kiosk {dev.id} does not offer service {sid!r}")
        conf = self.cfg.service(sid)
        svc = self.services[sid]
        now = self.clock.now()
        dossier = self._dossier(sid, dossier_arg)
        if not svc.open:
            hours = ", ".join(conf.hours) or "—"
            raise Rejected("service_closed", f"{conf.name} is closed now; hours: {hours}")
        if svc.issued >= conf.capacity:
            raise Rejected("daily_limit", f"{conf.name}: all {conf.capacity} numbers of today are issued")
        booking = self._booking(booking_arg, now) if booking_arg is not None else None
        booked = booking is not None and booking["line"] == "booked"
        own = self.cfg.bookings
        if booked and own.numbering == "prefix":
            if self.booked_issued >= 10**own.digits - 1:
                raise Rejected("daily_limit", f"all {10**own.digits - 1} booked numbers of today are issued")
            self.booked_issued += 1
            number = f"{own.prefix}{self.booked_issued:0{own.digits}d}"
        else:
            number = f"{conf.prefix}{svc.issued + 1:0{conf.digits}d}"
        svc.issued += 1  # booked tickets count against the daily limit like any other
        t = Ticket(
            id=f"{self.day:%Y%m%d}-{number}",
            number=number,
            service=sid,
            priority=priority,
            day=self.day.isoformat(),
            issued_at=now,
            rank=self._rank(),
            origin_service=sid,
            issued_by=dev.id,
            booking=booking,
            dossier=dossier,
            priority_reason=reason,
        )
        if booked:
            # Before it: priority tickets, and the booked ones due no later than it is.
            assert t.due_at is not None
            ahead = len(svc.prio) + sum(1 for b in svc.booked if (self.tickets[b].due_at or now) <= t.due_at)
        else:
            ahead = len(svc.prio) if priority else svc.waiting
        self.tickets[t.id] = t
        self._enqueue(svc, t)
        if booking is not None:
            self.booking_codes.add(booking["code"])
        svc.last_issued = number
        d.tickets[t.id] = t
        d.services.add(sid)
        d.board = True
        wait = self._wait_fields(sid, ahead)
        until_due = self.span_s(now, t.due_at) if t.due_at is not None else 0.0
        if until_due > 0:
            # Called from its window's start at the earliest: the wait is at least until then, and
            # says nothing about how the line moves (no calibration from it).
            floor = math.ceil(until_due)
            wait["est_wait_s"] = max(wait["est_wait_s"], floor)
            if "est_wait_range_s" in wait:
                lo, hi = wait["est_wait_range_s"]
                wait["est_wait_range_s"] = [max(lo, floor), max(hi, floor)]
        else:
            self._told[t.id] = self._basis(sid, ahead)
        wire = t.wire()
        if self.ticket_token is not None:  # the unguessable link of the ticket's QR code
            wire["token"] = self.ticket_token(t.id)
        extra = {"booking_status": booking["status"]} if booking is not None else {}
        self._event(d, now, "ticket.issued", {"ticket": wire, "ahead": ahead, **wait, **extra})
        return {"ticket": dict(wire), "ahead": ahead, **wait, **extra}

    def _booking(self, raw: dict[str, Any], now: datetime) -> dict[str, Any]:
        """Check a booking handed to ``issue`` and apply the site's window and rules to it."""
        rules = self.cfg.bookings
        if not rules.enabled:
            raise Rejected("bad_request", "bookings are not enabled at this site ([bookings] enabled)")
        b = _Args(raw, "booking")
        code_in = b.text("code")
        start, end = b.instant("slot_start", self._tz), b.instant("slot_end", self._tz)
        b.done()
        code = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", code_in)).upper()
        if not BOOKING_CODE.fullmatch(code):
            raise Rejected("bad_request", "args.booking.code: expected 4-24 letters or digits")
        if not start < end <= start + MAX_SLOT:
            raise Rejected(
                "bad_request", "args.booking: slot_end must come after slot_start, within 12 hours"
            )
        if business_day(self.cfg, start) != self.day:
            raise Rejected(
                "booking_not_today", f"booking {code} is for {business_day(self.cfg, start)}, not {self.day}"
            )
        if code in self.booking_codes:
            raise Rejected("booking_used", f"booking {code} already has a ticket today")
        opens = start - timedelta(minutes=rules.before_min)
        closes = start + timedelta(minutes=rules.after_min)
        local = opens.astimezone(self._tz)
        if now < opens:
            status, line = "early", {"wait": "booked", "walk_in": "walk_in", "refuse": ""}[rules.early]
            if not line:
                raise Rejected("booking_early", f"booking {code}: come back at {local:%H:%M}")
        elif now > closes:
            status, line = "late", {"walk_in": "walk_in", "refuse": ""}[rules.late]
            if not line:
                raise Rejected(
                    "booking_late",
                    f"booking {code}: the window closed at {closes.astimezone(self._tz):%H:%M}",
                )
        else:
            status, line = "on_time", "booked"
        return {
            "code": code,
            "slot_start": iso(start),
            "slot_end": iso(end),
            "status": status,
            "line": line,
            "due_at": iso(opens) if line == "booked" else None,
        }

    def _dossier(self, sid: str, raw: str | None) -> str | None:
        """Check the dossier code of a result-pickup ticket (only in the result return service)."""
        if raw is None:
            return None
        returns = self.cfg.dossiers.service
        if returns is None:
            raise Rejected("bad_request", "no result return service is configured ([dossiers] service)")
        if sid != returns:
            raise Rejected("bad_request", f"a dossier code goes with the result return service {returns!r}")
        code = unicodedata.normalize("NFKC", raw).strip().upper()
        if len(code) > DOSSIER_MAX or not DOSSIER_CODE.fullmatch(code):
            raise Rejected(
                "bad_request", "args.dossier: expected a dossier code such as 000.00.12.H23-241204-0003"
            )
        return code

    # -- counter ----------------------------------------------------------------------------
    def _op_open(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        officer = args.opt_text("officer")
        move = args.flag("move", False)
        args.done()
        c = self.counters[cid]
        if officer is not None:
            try:
                self.cfg.officer(officer)
            except KeyError:
                raise Rejected("not_found", f"no officer {officer!r} in site.toml") from None
            # One officer, one counter: ratings and the quarterly per-officer report are credited
            # to the officer of the counter, so an officer open elsewhere is refused, or moved here
            # (closing the other counter, as `close` there would) when the clerk chose to.
            for other in self._counters_where(officer):
                if other == cid:
                    continue
                if not move:
                    label = self.cfg.counter(other).label
                    raise Rejected(
                        "officer_elsewhere",
                        f"officer {officer!r} is working at {label} (counter {other}); close it "
                        'there, or open here with "move": true',
                    )
                self._op_close(d, other, _Args({}))
        changed = c.status != "open" or (officer is not None and officer != c.officer)
        if changed:
            c.status = "open"
            if officer is not None:
                c.officer = officer
            self._counter_changed(d, cid)
            self._event(d, self.clock.now(), "counter.opened", {"counter": self.counter_state(cid)})
        return self.counter_state(cid)

    def _op_pause(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        c = self._require_not_closed(cid)
        if c.status == "open":
            c.status = "paused"
            self._counter_changed(d, cid)
            self._event(d, self.clock.now(), "counter.paused", {"counter": self.counter_state(cid)})
        return self.counter_state(cid)

    def _op_resume(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        c = self._require_not_closed(cid)
        if c.status == "paused":
            c.status = "open"
            self._counter_changed(d, cid)
            self._event(d, self.clock.now(), "counter.resumed", {"counter": self.counter_state(cid)})
        return self.counter_state(cid)

    def _op_close(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        c = self.counters[cid]
        if c.status != "closed":
            now = self.clock.now()
            if c.serving:
                self._finish_current(d, cid, now)
            c.status, c.officer, c.streak = "closed", None, 0
            self._counter_changed(d, cid)
            self._event(d, now, "counter.closed", {"counter": self.counter_state(cid)})
        return self.counter_state(cid)

    def _op_call_next(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        self._require_open(cid)
        now = self.clock.now()
        if self.counters[cid].serving:
            self._finish_current(d, cid, now)
        t = self._pick(cid)
        if t is None:
            return {"ticket": None}
        self._call(d, cid, t, now)
        return {"ticket": t.wire()}

    def _op_call(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        number = unicodedata.normalize("NFKC", args.text("number")).strip().upper()
        args.done()
        self._require_open(cid)
        t = self.tickets.get(f"{self.day:%Y%m%d}-{number}")
        if t is None:
            raise Rejected("not_found", f"no ticket {number} is waiting or skipped today")
        if t.service not in self.cfg.counter(cid).services:
            raise Rejected("not_found", f"{number} waits for a service this counter does not serve")
        if t.status not in ("waiting", "skipped"):
            where = f" at counter {t.counter}" if t.status == "called" else ""
            raise Rejected("not_found", f"{number} is {t.status}{where}, not waiting")
        now = self.clock.now()
        if self.counters[cid].serving:
            self._finish_current(d, cid, now)
        if t.status == "waiting":
            self._unqueue(t)
        self._call(d, cid, t, now, pick=False)
        return {"ticket": t.wire()}

    def _op_recall(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        self._require_open(cid)
        t = self._current(cid)
        now = self.clock.now()
        self._mark_call(d, cid, t, now, recall=True)
        self._board_call(d, cid, t, now)
        self._event(d, now, "ticket.called", {"ticket": t.wire(), "recall": True})
        return {"ticket": t.wire()}

    def _op_skip(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        t = self._current(cid)
        self._end(d, t, "skipped", self.clock.now(), learn=False)
        c = self.counters[cid]
        # The last visit at this counter was a no-show: nothing to rate, and a press on the rating
        # screen must not land on the citizen before.
        previous, c.serving, c.last_done, c.last_done_at = c.last_done, None, None, None
        self._forget(previous)
        self._counter_changed(d, cid)
        return {"ticket": t.wire()}

    def _op_finish(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        args.done()
        t = self._current(cid)
        self._finish_current(d, cid, self.clock.now())
        return {"ticket": t.wire()}

    def _op_transfer(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        sid = args.text("service")
        front = args.flag("front", False)
        args.done()
        if sid not in self.services:
            raise Rejected("unknown_service", f"no service {sid!r} at this site")
        t = self._current(cid)
        now = self.clock.now()
        self._learn(t, now)
        from_service = t.service
        svc = self.services[sid]
        if t.booking is not None and t.booked:  # its slot was at the first service: a walk-in here
            t.booking = {**t.booking, "line": "walk_in", "due_at": None}
        line = svc.prio if t.priority else svc.normal
        if front:
            t.rank = (self.tickets[line[0]].rank if line else self.next_rank) - 1
            line.appendleft(t.id)
        else:
            t.rank = self._rank()
            line.append(t.id)
        t.status, t.service, t.counter, t.called_at = "waiting", sid, None, None
        c = self.counters[cid]
        previous, c.serving, c.last_done, c.last_done_at = (
            c.last_done,
            None,
            None,
            None,
        )  # it goes on elsewhere
        self._forget(previous)
        d.tickets[t.id] = t
        d.services.update({from_service, sid})
        self._counter_changed(d, cid)
        self._event(
            d,
            now,
            "ticket.transferred",
            {"ticket": t.wire(), "from_service": from_service, "from_counter": cid, "front": front},
        )
        return {"ticket": t.wire()}

    # -- rating -----------------------------------------------------------------------------
    def _op_rate(self, d: Decision, cid: str, args: _Args) -> dict[str, Any]:
        conf = self.cfg.rating
        score = args.whole("score")
        reasons = [unicodedata.normalize("NFC", r) for r in args.texts("reasons")]
        comment = unicodedata.normalize("NFC", args.opt_text("comment") or "").strip()
        wanted = args.opt_text("ticket")
        args.done()
        if not 1 <= score <= len(conf.levels):
            raise Rejected("bad_request", f"score must be 1..{len(conf.levels)}, got {score}")
        unknown = [r for r in reasons if r not in conf.reasons]
        if unknown:
            raise Rejected("bad_request", f"unknown reason {unknown[0]!r}; configured: {conf.reasons}")
        if len(comment) > conf.comment_max:
            raise Rejected("bad_request", f"comment is longer than {conf.comment_max} characters")
        c = self.counters[cid]
        now = self.clock.now()
        if c.last_done is None or c.last_done_at is None or c.last_done not in self.tickets:
            raise Rejected("nothing_to_rate", "no ticket was served at this counter recently")
        if (now - c.last_done_at).total_seconds() > conf.window_s:
            raise Rejected("nothing_to_rate", f"the last ticket ended more than {conf.window_s} s ago")
        t = self.tickets[c.last_done]
        if wanted is not None and wanted != t.id:
            raise Rejected("nothing_to_rate", f"{wanted} is not the visit that ended last at this counter")
        if t.rated:
            raise Rejected("already_rated", f"{t.number} has already been rated")
        t.rated = True
        d.tickets[t.id] = t
        officer_name = self.cfg.officer(t.officer).name if t.officer else None
        rating = {
            "ticket": t.id,
            "number": t.number,
            "service": t.service,
            "counter": cid,
            "officer": t.officer,
            "officer_name": officer_name,
            "score": score,
            "level": conf.level_of(score),
            "satisfied": score >= conf.satisfied_min,
            "reasons": reasons,
            "comment": comment,
            "rated_at": iso(now),
        }
        d.ratings.append(rating)
        self._event(d, now, "rating.recorded", {"rating": rating, "ticket": t.wire()})
        return {"rating": rating}

    # ------------------------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------------------------
    def span_s(self, start: datetime, end: datetime) -> float:
        """How long a wait or a service from ``start`` to ``end`` lasted, in seconds of the day the
        site lives (simulated seconds under :attr:`time_scale`)."""
        return (end - start).total_seconds() * self.time_scale

    def _rank(self) -> int:
        r = self.next_rank
        self.next_rank += 1
        return r

    def _event(self, d: Decision, now: datetime, kind: str, data: dict[str, Any]) -> None:
        d.events.append((kind, iso(now), data))

    def _counter_changed(self, d: Decision, cid: str) -> None:
        d.counters.add(cid)
        d.services.update(self.cfg.counter(cid).services)
        d.board = True

    def _counters_where(self, officer: str) -> list[str]:
        """The counters (open or paused) where ``officer`` works now."""
        return [k for k, c in self.counters.items() if c.status != "closed" and c.officer == officer]

    def _require_not_closed(self, cid: str) -> CounterRt:
        c = self.counters[cid]
        if c.status == "closed":
            raise Rejected("counter_closed", f"counter {cid} is closed; open it first")
        return c

    def _require_open(self, cid: str) -> CounterRt:
        c = self._require_not_closed(cid)
        if c.status == "paused":
            raise Rejected("counter_closed", f"counter {cid} is paused; resume it first")
        return c

    def _current(self, cid: str) -> Ticket:
        c = self.counters[cid]
        if not c.serving:
            raise Rejected("no_current_ticket", f"counter {cid} is not serving anyone")
        return self.tickets[c.serving]

    def _learn(self, t: Ticket, now: datetime) -> None:
        """Feed a real service time into the service's moving average."""
        if t.called_at is None:
            return
        sample = self.span_s(t.called_at, now)
        if MIN_SAMPLE_S <= sample <= MAX_SAMPLE_S:
            svc = self.services[t.service]
            a = self.cfg.queue.ewma_alpha
            svc.ewma_s = a * sample + (1 - a) * svc.ewma_s

    def _end(self, d: Decision, t: Ticket, status: str, now: datetime, *, learn: bool) -> None:
        if learn:
            self._learn(t, now)
        short = (
            status == "done"
            and t.called_at is not None
            and self.span_s(t.called_at, now) < self.cfg.queue.min_service_s
        )
        t.status, t.finished_at = status, now
        d.tickets[t.id] = t
        d.services.add(t.service)
        kind = "ticket.done" if status == "done" else "ticket.skipped"
        # A "service" of a few seconds is a clerk passing over a ticket, not a service: say so, so
        # that the back end and the reports do not count it as one (docs/protocol.md "Events").
        self._event(d, now, kind, {"ticket": t.wire(), **({"flags": ["short_service"]} if short else {})})

    def _finish_current(self, d: Decision, cid: str, now: datetime) -> None:
        c = self.counters[cid]
        assert c.serving is not None
        t = self.tickets[c.serving]
        self._end(d, t, "done", now, learn=True)
        previous, c.serving, c.last_done, c.last_done_at = c.last_done, None, t.id, now
        self._forget(previous)
        self._counter_changed(d, cid)

    def _forget(self, tid: str | None) -> None:
        """Drop a finished ticket from memory: it is on disk, and nothing can change it any more.

        Kept in memory are only the tickets that can: waiting and called ones, skipped ones (they
        can be called back by number today) and each counter's last finished one (it can still be
        rated). A centre's whole day would otherwise stay in RAM (~0.8 KB a ticket)."""
        t = self.tickets.get(tid) if tid else None
        referenced = any(c.last_done == tid for c in self.counters.values())
        if t is not None and t.status in ("done", "expired") and not referenced:
            del self.tickets[t.id]

    def _pick(self, cid: str) -> Ticket | None:
        """The next ticket for a counter: priority first, then booked ones that are due, then walk-ins,
        by its policy, without starving anyone (``priority_streak``, ``[bookings] max_in_row``)."""
        conf = self.cfg.counter(cid)
        c = self.counters[cid]
        now = self.clock.now()
        lines = [self.services[s] for s in conf.services]
        due = [s for s in lines if s.booked and self._due(self.tickets[s.booked[0]], now)]
        any_prio = any(s.prio for s in lines)
        any_walk_in = any(s.normal for s in lines)
        any_normal = any_walk_in or bool(due)
        use_prio = any_prio and (not any_normal or c.streak < self.cfg.queue.priority_streak)
        use_booked = (
            not use_prio and bool(due) and (not any_walk_in or c.booked_streak < self.cfg.bookings.max_in_row)
        )
        heads: list[deque[str]]
        if use_prio:
            heads = [s.prio for s in lines if s.prio]
        elif use_booked:
            heads = [s.booked for s in due]
        else:
            heads = [s.normal for s in lines if s.normal]
        if not heads:
            return None
        if conf.policy == "ordered":
            line = heads[0]
        elif use_booked:
            line = min(heads, key=lambda h: self._booked_key(self.tickets[h[0]]))
        else:
            line = min(heads, key=lambda h: self.tickets[h[0]].rank)
        t = self.tickets[line.popleft()]
        c.streak = c.streak + 1 if (use_prio and any_normal) else 0
        if not use_prio:
            c.booked_streak = c.booked_streak + 1 if (use_booked and any_walk_in) else 0
        return t

    @staticmethod
    def _due(t: Ticket, now: datetime) -> bool:
        """Whether a booked ticket's window has begun."""
        return t.due_at is None or t.due_at <= now

    @staticmethod
    def _booked_key(t: Ticket) -> tuple[datetime, int]:
        return (t.due_at or t.issued_at, t.rank)

    def _line(self, svc: ServiceRt, t: Ticket) -> deque[str]:
        """The waiting line of ``svc`` a ticket belongs in."""
        if t.booked:
            return svc.booked
        return svc.prio if t.priority else svc.normal

    def _enqueue(self, svc: ServiceRt, t: Ticket) -> None:
        """Put a ticket at the end of its line (booked ones: in order of due time, then rank)."""
        line = self._line(svc, t)
        if line is not svc.booked:
            line.append(t.id)
            return
        key = self._booked_key(t)
        i = len(line)
        while i > 0 and self._booked_key(self.tickets[line[i - 1]]) > key:
            i -= 1
        line.insert(i, t.id)

    def _unqueue(self, t: Ticket) -> None:
        svc = self.services[t.service]
        self._line(svc, t).remove(t.id)

    def _call(self, d: Decision, cid: str, t: Ticket, now: datetime, pick: bool = True) -> None:
        c = self.counters[cid]
        t.status, t.counter, t.called_at, t.officer = "called", cid, now, c.officer
        t.finished_at = None
        if t.first_called_at is None:
            t.first_called_at = now
            self._called[t.service].append(now)
            told = self._told.pop(t.id, None)
            if told is not None:  # learn how the wait told compared with the real one
                learn(self.services[t.service].calibration, told, self.span_s(t.issued_at, now))
        c.serving = t.id
        d.tickets[t.id] = t
        self._counter_changed(d, cid)
        d.services.add(t.service)
        self._mark_call(d, cid, t, now, recall=False)
        self._board_call(d, cid, t, now)
        self._event(d, now, "ticket.called", {"ticket": t.wire(), "recall": False})

    def _mark_call(self, d: Decision, cid: str, t: Ticket, now: datetime, *, recall: bool) -> None:
        """Count a call or recall in the counter's state, so that its retained state changes (and is
        persisted and published again) on every one of them: counter agents blink on that."""
        c = self.counters[cid]
        c.calls += 1
        c.last_call = {"number": t.number, "recall": recall, "ts": iso(now)}
        d.counters.add(cid)

    def _board_call(self, d: Decision, cid: str, t: Ticket, now: datetime) -> None:
        for entry in list(self.calls):
            if entry["number"] == t.number:
                self.calls.remove(entry)
        self.calls.appendleft(
            {
                "number": t.number,
                "counter": cid,
                "counter_label": self.cfg.counter(cid).label,
                "service": t.service,
                "ts": iso(now),
                # Added: a citizen called from the booked line (at the slot, before walk-ins that came
                # earlier) is marked on the hall board (docs/protocol.md); a late one who walked in is not.
                "booked": t.booked,
            }
        )
        d.board = True


class _Args:
    """Typed access to a command's ``args`` that turns every mistake into ``bad_request``."""

    def __init__(self, args: dict[str, Any], where: str = "args") -> None:
        if not isinstance(args, dict):
            raise Rejected("bad_request", f"{where} must be an object")
        self._args = args
        self._where = where
        self._seen: set[str] = set()

    def __contains__(self, key: str) -> bool:
        return self._args.get(key) is not None

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        return self._args.get(key)

    def text(self, key: str) -> str:
        """A required, non-empty text argument (at most 64 characters)."""
        v = self._get(key)
        if not isinstance(v, str) or not v or len(v) > 64:
            raise Rejected(
                "bad_request", f"{self._where}.{key}: expected a non-empty text of at most 64 characters"
            )
        return v

    def opt_text(self, key: str) -> str | None:
        """An optional text argument (at most 2,000 characters)."""
        v = self._get(key)
        if v is None:
            return None
        if not isinstance(v, str) or len(v) > 2000:
            raise Rejected("bad_request", f"{self._where}.{key}: expected a text")
        return v

    def flag(self, key: str, default: bool) -> bool:
        """An optional true/false argument."""
        v = self._get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise Rejected("bad_request", f"{self._where}.{key}: expected true or false")
        return v

    def whole(self, key: str) -> int:
        """A required whole number."""
        v = self._get(key)
        if not isinstance(v, int) or isinstance(v, bool):
            raise Rejected("bad_request", f"{self._where}.{key}: expected a whole number")
        return v

    def texts(self, key: str) -> list[str]:
        """An optional list of short texts."""
        v = self._get(key)
        if v is None:
            return []
        if not isinstance(v, list) or len(v) > 20 or not all(isinstance(x, str) and len(x) <= 200 for x in v):
            raise Rejected("bad_request", f"{self._where}.{key}: expected a list of texts")
        return list(dict.fromkeys(v))

    def opt_object(self, key: str) -> dict[str, Any] | None:
        """An optional object argument (small: at most 16 keys)."""
        v = self._get(key)
        if v is None:
            return None
        if not isinstance(v, dict) or len(v) > 16:
            raise Rejected("bad_request", f"{self._where}.{key}: expected an object")
        return v

    def instant(self, key: str, local: tzinfo) -> datetime:
        """A required ISO 8601 timestamp; without an offset it is a time in ``local``."""
        v = self.text(key)
        try:
            ts = datetime.fromisoformat(v)
        except ValueError:
            ts = None
        if ts is not None and ts.tzinfo is None:
            ts = ts.replace(tzinfo=local)
        # Years far out would overflow the arithmetic on them (a time zone shift, a window).
        if ts is None or not 2000 <= ts.year <= 2999:
            raise Rejected("bad_request", f"{self._where}.{key}: expected an ISO 8601 time with its offset")
        return ts

    def done(self) -> None:
        """Refuse arguments the op does not know (a typo should not pass silently)."""
        extra = sorted(set(self._args) - self._seen)
        if extra:
            where = "" if self._where == "args" else f" in {self._where}"
            raise Rejected("bad_request", f"unknown argument {extra[0]!r}{where}")

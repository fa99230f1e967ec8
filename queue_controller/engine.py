"""The queue engine: pure decisions over tickets, counters and services.

No MQTT, no SQLite, no wall clock: the engine reads time from an injected clock, takes a command
(device, op, args) and returns a :class:`~queue_controller.model.Decision` with the reply, the
events and what changed. The controller shell persists a decision before anything is published.
"""

from __future__ import annotations

import math
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
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
    ) -> None:
        """Load persisted state (today's tickets and every non-terminal one)."""
        if "day" in meta:
            # The stored day wins over the clock's when it is later: a day is never reopened.
            self.day = date.fromisoformat(meta["day"])
        self._quiet_until = self._last_tick  # the next tick must look at the clock (a day may have passed)
        self.next_rank = int(meta.get("next_rank", 1))
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
                (svc.prio if t.priority else svc.normal).append(t.id)
        # A counter may name a ticket that a configuration change removed: forget it.
        for c in self.counters.values():
            if c.serving and c.serving not in self.tickets:
                c.serving = None

    def meta(self) -> dict[str, Any]:
        """The engine's scalar state, for persistence."""
        return {"day": self.day.isoformat(), "next_rank": self.next_rank, "calls": list(self.calls)}

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
        """The tickets waiting in a service, in calling order (priority first)."""
        s = self.services[sid]
        return [self.tickets[t] for t in (*s.prio, *s.normal)]

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
            c.last_call = None  # like the board's calls; ``calls`` goes on (no display blinks)
            d.counters.add(c.id)
        for s in self.services.values():
            for tid in (*s.prio, *s.normal):
                t = self.tickets[tid]
                t.status, t.finished_at = "expired", now
                d.tickets[tid] = t
                self._event(d, now, "ticket.expired", {"ticket": t.wire()})
                expired += 1
            s.prio.clear()
            s.normal.clear()
            s.issued, s.last_issued = 0, None
            d.services.add(s.id)
        self._told.clear()
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
        args.done()
        if sid not in self.services:
            raise Rejected("unknown_service", f"no service {sid!r} at this site")
        if dev.services is not None and sid not in dev.services:
            raise Rejected("forbidden", f"kiosk {dev.id} does not offer service {sid!r}")
        conf = self.cfg.service(sid)
        svc = self.services[sid]
        now = self.clock.now()
        if not svc.open:
            hours = ", ".join(conf.hours) or "—"
            raise Rejected("service_closed", f"{conf.name} is closed now; hours: {hours}")
        if svc.issued >= conf.capacity:
            raise Rejected("daily_limit", f"{conf.name}: all {conf.capacity} numbers of today are issued")
        ahead = len(svc.prio) if priority else svc.waiting
        svc.issued += 1
        number = f"{conf.prefix}{svc.issued:0{conf.digits}d}"
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
        )
        self.tickets[t.id] = t
        (svc.prio if priority else svc.normal).append(t.id)
        svc.last_issued = number
        d.tickets[t.id] = t
        d.services.add(sid)
        d.board = True
        wait = self._wait_fields(sid, ahead)
        self._told[t.id] = self._basis(sid, ahead)
        wire = t.wire()
        if self.ticket_token is not None:  # the unguessable link of the ticket's QR code
            wire["token"] = self.ticket_token(t.id)
        self._event(d, now, "ticket.issued", {"ticket": wire, "ahead": ahead, **wait})
        return {"ticket": dict(wire), "ahead": ahead, **wait}

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
        """The next ticket for a counter: priority first, by its policy, without starving the rest."""
        conf = self.cfg.counter(cid)
        c = self.counters[cid]
        lines = [self.services[s] for s in conf.services]
        any_prio = any(s.prio for s in lines)
        any_normal = any(s.normal for s in lines)
        use_prio = any_prio and (not any_normal or c.streak < self.cfg.queue.priority_streak)
        heads = [(s.prio if use_prio else s.normal) for s in lines]
        heads = [h for h in heads if h]
        if not heads:
            return None
        by_rank = min(heads, key=lambda h: self.tickets[h[0]].rank)
        line = heads[0] if conf.policy == "ordered" else by_rank
        t = self.tickets[line.popleft()]
        c.streak = c.streak + 1 if (use_prio and any_normal) else 0
        return t

    def _unqueue(self, t: Ticket) -> None:
        svc = self.services[t.service]
        (svc.prio if t.priority else svc.normal).remove(t.id)

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
            }
        )
        d.board = True


class _Args:
    """Typed access to a command's ``args`` that turns every mistake into ``bad_request``."""

    def __init__(self, args: dict[str, Any]) -> None:
        if not isinstance(args, dict):
            raise Rejected("bad_request", "args must be an object")
        self._args = args
        self._seen: set[str] = set()

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        return self._args.get(key)

    def text(self, key: str) -> str:
        """A required, non-empty text argument (at most 64 characters)."""
        v = self._get(key)
        if not isinstance(v, str) or not v or len(v) > 64:
            raise Rejected("bad_request", f"args.{key}: expected a non-empty text of at most 64 characters")
        return v

    def opt_text(self, key: str) -> str | None:
        """An optional text argument (at most 2,000 characters)."""
        v = self._get(key)
        if v is None:
            return None
        if not isinstance(v, str) or len(v) > 2000:
            raise Rejected("bad_request", f"args.{key}: expected a text")
        return v

    def flag(self, key: str, default: bool) -> bool:
        """An optional true/false argument."""
        v = self._get(key)
        if v is None:
            return default
        if not isinstance(v, bool):
            raise Rejected("bad_request", f"args.{key}: expected true or false")
        return v

    def whole(self, key: str) -> int:
        """A required whole number."""
        v = self._get(key)
        if not isinstance(v, int) or isinstance(v, bool):
            raise Rejected("bad_request", f"args.{key}: expected a whole number")
        return v

    def texts(self, key: str) -> list[str]:
        """An optional list of short texts."""
        v = self._get(key)
        if v is None:
            return []
        if not isinstance(v, list) or len(v) > 20 or not all(isinstance(x, str) and len(x) <= 200 for x in v):
            raise Rejected("bad_request", f"args.{key}: expected a list of texts")
        return list(dict.fromkeys(v))

    def done(self) -> None:
        """Refuse arguments the op does not know (a typo should not pass silently)."""
        extra = sorted(set(self._args) - self._seen)
        if extra:
            raise Rejected("bad_request", f"unknown argument {extra[0]!r}")

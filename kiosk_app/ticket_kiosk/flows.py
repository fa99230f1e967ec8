"""The kiosk's code flows, a part of its view-model: appointments, result pickup, identity cards.

A scan (from any screen but while a ticket is being issued) or a code typed on the keypad is read
into a :data:`~kiosk_app.ticket_kiosk.codes.Read` and routed::

    booking code ─► looking ─► booking ──Lấy số──► printing ─► done ("sẽ được gọi gần giờ hẹn")
                       │          └─► booking_used | booking_cancelled | booking_other
                       │   (the controller's answer) booking_early | booking_late (the time)
    dossier code ─► looking ─► dossier ──Lấy số──► printing ─► done (the dossier code)
                       │    └─► dossier_status (not ready: status and promised date; no ticket)
                       ├─► not_found
                       └─► lookup_down (the back end is down or slow: one tap to a normal ticket)
    ID card ─► consent ─agree─► [looking: the holder's bookings, dossiers] ─► home with the card
                  └─ no thanks ─► home (the card is forgotten)

Every look-up has a deadline on the injected clock (``[kiosk] lookup_s``): a back end that never
answers gives ``lookup_down`` when :meth:`tick` passes it, and its late answer is ignored. The card
(the name, the birth date, the id number) lives only in the view-model's ``_card`` while its flow
lasts: going home, the idle timeout or a new scan forgets it; only initials are ever shown.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from kiosk_app.shell.words import Action, Lang
from kiosk_app.ticket_kiosk.codes import (
    BadRead,
    BookingInfo,
    CardRead,
    CodeBackend,
    DossierInfo,
    Features,
    LookupFailed,
    LookupKind,
    Outcome,
    Read,
    ScanLike,
)
from kiosk_app.ticket_kiosk.flow_words import W
from onestop.citizen_use import consent_line
from onestop.config import CitizenIdSection, SiteConfig

log = logging.getLogger("onestop.kiosk")

#: Screens of the code flows (the view-model's ``Screen`` includes them).
FLOW_SCREENS = (
    "lookup_home", "keypad", "looking", "booking", "booking_used", "booking_cancelled", "booking_early",
    "booking_late", "booking_other", "dossier", "dossier_status", "not_found", "lookup_down", "scan_bad",
    "consent",
)  # fmt: skip
#: The keypad's keys: digits and the marks of a dossier code, or letters.
DIGIT_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", ".", "0", "-")
LETTER_KEYS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
#: The longest code a citizen may type.
ENTRY_MAX = 32
#: The time a refusal names ("come back at 08:45").
_TIME = re.compile(r"\b(\d{1,2}:\d{2})\b")


@dataclass
class FlowState:
    """What the code flows remember between screens; :meth:`clear` forgets all of it."""

    entry: str = ""
    letters: bool = False
    purpose: Literal["booking", "dossier"] = "booking"
    typed_error: tuple[str, str] | None = None
    token: int = 0
    deadline: float = 0.0
    kind: LookupKind | None = None
    booking: BookingInfo | None = None
    dossier: DossierInfo | None = None
    #: The scanned identity card (personal data: never shown but as initials, forgotten on clear).
    card: CardRead | None = None
    card_priority: bool = False
    #: The message of the screen: a bad scan's text, a refusal's time, a booking's other day.
    message: tuple[str, str] | None = None
    when: str = ""
    #: ``lookup_down``: the service of the normal ticket offered (None: choose on the home screen).
    fallback: str | None = None
    #: The seconds the looking screen shows.
    shown_left: int = 0

    def clear(self) -> None:
        """Forget everything (the card first)."""
        self.card = None
        self.card_priority = False
        self.entry, self.letters, self.typed_error = "", False, None
        self.booking = self.dossier = None
        self.message, self.when, self.fallback, self.kind = None, "", None, None
        self.token += 1  # an answer still on its way is ignored


class CodeFlows:
    """The code flows of :class:`~kiosk_app.ticket_kiosk.viewmodel.KioskViewModel` (a mixin: it uses
    the view-model's lock, clock, runner, screen and request machinery)."""

    cfg: SiteConfig
    device_id: str
    screen: Any
    lang: Lang
    busy: bool
    clock: Callable[[], float]
    runner: Callable[[Callable[[], None]], None]
    connected: Callable[[], bool]
    _cond: threading.Condition
    _activity: float
    _service: str | None

    features: Features
    codes: CodeBackend | None
    read_scan: Callable[[str], Read]
    read_typed: Callable[[str], Read]
    lookup_s: float
    flow: FlowState

    if TYPE_CHECKING:  # provided by the view-model (declared here for the type checker only)

        def _changed(self) -> None: ...
        def _go(self, screen: Any) -> None: ...
        def _home(self) -> None: ...
        def _accept_press(self, too_soon: str = "too soon") -> bool: ...
        def _issue(self, service: str, priority: bool, extra: dict[str, Any], note: str | None) -> None: ...
        def today(self) -> date: ...

    # -- inputs -----------------------------------------------------------------------------
    def on_scan(self, scan: ScanLike) -> bool:
        """A scan from the kiosk's scanner (any screen); return whether it was taken. Ignored while a
        ticket is being issued or printed."""
        complete = bool(getattr(scan, "complete", True))
        unreadable = getattr(scan, "error", None) is not None
        with self._cond:
            if self.busy:
                log.info("%s: scan ignored (a ticket is on its way)", self.device_id)
                return False
            self._activity = self.clock()
        read: Read
        if not complete:
            read = BadRead("partial", W["scan_again"].vi, W["scan_again"].en)
        elif unreadable:
            read = BadRead("unreadable", W["scan_unreadable"].vi, W["scan_unreadable"].en)
        else:
            try:
                read = self.read_scan(scan.text)
            except Exception:  # a reader bug must not take the kiosk down
                log.exception("%s: reading a scan failed", self.device_id)
                read = BadRead("error", W["scan_bad_title"].vi, W["scan_bad_title"].en)
        with self._cond:
            if self.busy:
                return False
            self.flow.clear()
            self._route(read)
        self._changed()
        return True

    def type_code(self, text: str) -> bool:
        """A whole code typed at once (the headless trigger; the keypad builds it key by key)."""
        with self._cond:
            if self.busy:
                return False
            self._activity = self.clock()
            self.flow.clear()
            self.flow.entry = text[:ENTRY_MAX]
            self._submit()
        self._changed()
        return True

    def flow_press(self, action: str) -> bool | None:
        """A button of the code flows; None when ``action`` is not one of theirs."""
        f = self.flow
        if action.startswith("key:") or action in ("erase", "keys:letters", "keys:digits"):
            with self._cond:
                if self.screen != "keypad":
                    return False
                self._activity = self.clock()
                if action == "erase":
                    f.entry = f.entry[:-1]
                elif action.startswith("keys:"):
                    f.letters = action == "keys:letters"
                elif len(f.entry) < ENTRY_MAX and action[4:] in (*DIGIT_KEYS, *LETTER_KEYS):
                    f.entry += action[4:]
                f.typed_error = None
            self._changed()
            return True
        handlers: dict[str, Callable[[], None]] = {
            "appointment": lambda: self._keypad("booking"),
            "result": lambda: self._keypad("dossier"),
            "find": self._submit,
            "take": self._take,
            "walk_in": self._walk_in,
            "agree": self._agree,
            "decline": self._home,
            "forget": self._home,
            "type_again": lambda: self._keypad(f.purpose),
            "cancel": self._home,
        }
        if action not in handlers:
            return None
        with self._cond:
            allowed = {
                "appointment": ("home",), "result": ("home", "lookup_home"), "find": ("keypad",),
                "take": ("booking", "dossier"), "walk_in": ("lookup_down", "booking_late", "booking_other"),
                "agree": ("consent",), "decline": ("consent",), "forget": ("home",),
                "type_again": ("not_found", "scan_bad"), "cancel": ("looking",),
            }[action]  # fmt: skip
            if self.screen not in allowed or not self._accept_press("double tap"):
                return False
            handlers[action]()
        self._changed()
        return True

    # -- routing ----------------------------------------------------------------------------
    def _route(self, read: Read) -> None:
        f, feat = self.flow, self.features
        if isinstance(read, BadRead):
            f.message = (read.vi, read.en)
            self._go("scan_bad")
        elif isinstance(read, CardRead):
            if not feat.cards or feat.lookup_only:
                f.message = (W["no_cards"].vi, W["no_cards"].en)
                self._go("scan_bad")
            else:
                f.card = read
                self._go("consent")
        elif read.kind == "booking":
            f.purpose = "booking"
            if feat.lookup_only:
                self._message("tickets_elsewhere")
            elif not feat.bookings:
                self._message("no_bookings")
            else:
                self._lookup("booking", read.code)
        else:
            f.purpose = "dossier"
            if not feat.dossiers:
                self._message("no_dossiers")
            else:
                self._lookup("dossier", read.code)

    def _message(self, key: str) -> None:
        self.flow.message = (W[key].vi, W[key].en)
        self._go("scan_bad")

    def _keypad(self, purpose: Literal["booking", "dossier"]) -> None:
        f = self.flow
        card, prio = f.card, f.card_priority
        f.clear()
        f.card, f.card_priority = card, prio  # typing a code keeps a consented card
        f.purpose = purpose
        f.entry = "DL" if purpose == "booking" else ""
        f.letters = False
        self._go("keypad")

    def _submit(self) -> None:
        f = self.flow
        try:
            read = self.read_typed(f.entry)
        except Exception:
            log.exception("%s: reading a typed code failed", self.device_id)
            read = BadRead("error", W["scan_bad_title"].vi, W["scan_bad_title"].en)
        if isinstance(read, (BadRead, CardRead)):
            if isinstance(read, BadRead):
                log.info("%s: typed code refused (%s)", self.device_id, read.reason)
            f.typed_error = (W["typed_bad"].vi, W["typed_bad"].en)
            self._go("keypad")
            return
        self._route(read)

    # -- look-ups ---------------------------------------------------------------------------
    def _lookup(self, kind: LookupKind, code: str) -> None:
        f = self.flow
        f.token += 1
        token = f.token
        f.kind = kind
        f.fallback = self.features.dossier_service if kind == "dossier" else None
        f.deadline = self.clock() + self.lookup_s
        self._go("looking")
        if self.codes is None or not self.connected():
            self._looked(token, kind, LookupFailed("unavailable", "no connection"))
            return
        codes = self.codes

        def job() -> None:
            try:
                outcome = codes.lookup(kind, code)
            except Exception as exc:  # the back end's problem is never the kiosk's crash
                log.warning("%s: %s lookup failed: %s", self.device_id, kind, type(exc).__name__)
                outcome = LookupFailed("unavailable", type(exc).__name__)
            with self._cond:
                taken = self._looked(token, kind, outcome)
            if taken:
                self._changed()

        self.runner(job)

    def seconds_left(self) -> int:
        """Whole seconds until the look-up's deadline (the looking screen counts down)."""
        return max(0, math.ceil(self.flow.deadline - self.clock()))

    def check_lookup(self) -> bool:
        """Give up a look-up whose deadline passed (called by ``tick``); return whether it did. The
        countdown on the looking screen is redrawn each second."""
        with self._cond:
            f = self.flow
            if self.screen != "looking":
                return False
            if self.clock() < f.deadline:
                left = self.seconds_left()
                redraw = left != f.shown_left
                f.shown_left = left
            else:
                redraw = False
        if redraw:
            self._changed()
        with self._cond:
            if self.screen != "looking" or self.clock() < f.deadline:
                return False
            log.warning("%s: %s lookup: no answer in %.0f s", self.device_id, f.kind, self.lookup_s)
            kind = f.kind or "booking"
            self._looked(f.token, kind, LookupFailed("unavailable", "deadline"))
        self._changed()
        return True

    def _looked(self, token: int, kind: LookupKind, outcome: Outcome) -> bool:
        """Act on a look-up's outcome (under the lock); False when it came too late."""
        f = self.flow
        if token != f.token or self.screen != "looking":
            log.info("%s: a late %s answer ignored", self.device_id, kind)
            return False
        f.token += 1  # one answer per look-up
        self._activity = self.clock()
        if kind in ("citizen_bookings", "citizen_dossiers"):
            self._card_found(kind, outcome)
            return True
        if isinstance(outcome, LookupFailed):
            if outcome.reason == "not_found":
                self._go("not_found")
            else:
                log.warning("%s: %s lookup unavailable (%s)", self.device_id, kind, outcome.detail)
                self._go("lookup_down")
            return True
        if kind == "booking" and isinstance(outcome, BookingInfo):
            self._show_booking(outcome)
        elif kind == "dossier" and isinstance(outcome, DossierInfo):
            self._show_dossier(outcome)
        else:
            log.error("%s: %s lookup: unexpected answer %s", self.device_id, kind, type(outcome).__name__)
            self._go("lookup_down")
        return True

    def _show_booking(self, b: BookingInfo) -> None:
        f = self.flow
        f.booking = b
        tz = self.cfg.site.tz
        services = {s.id for s in self.cfg.services}
        if b.status == "used":
            self._go("booking_used")
        elif b.status == "cancelled":
            self._go("booking_cancelled")
        elif b.site is not None and b.site != self.cfg.site.id:
            f.message = (W["booking_elsewhere"].vi, W["booking_elsewhere"].en)
            self._go("booking_other")
        elif business_day(self.cfg, b.slot_start) != self.today():
            day = f"{b.slot_start.astimezone(tz):%d/%m/%Y}"
            f.message = W["booking_other_day"].vi.format(day=day), W["booking_other_day"].en.format(day=day)
            self._go("booking_other")
        elif b.service not in services:
            log.error("%s: booking for unknown service %r", self.device_id, b.service)
            f.message = (W["booking_elsewhere"].vi, W["booking_elsewhere"].en)
            self._go("booking_other")
        else:
            self._go("booking")

    def _show_dossier(self, d: DossierInfo) -> None:
        self.flow.dossier = d
        service = d.service or self.features.dossier_service
        services = {s.id for s in self.cfg.services}
        if d.ready and d.status == "ready" and not self.features.lookup_only and service in services:
            self._go("dossier")
        else:
            self._go("dossier_status")

    # -- identity cards ---------------------------------------------------------------------
    def _agree(self) -> None:
        f, feat = self.flow, self.features
        if f.card is None:
            self._home()
            return
        f.card_priority = feat.priority_age > 0 and f.card.age_on(self.today()) >= feat.priority_age
        if feat.find_bookings and feat.bookings:
            self._lookup("citizen_bookings", f.card.id_number)
        elif feat.find_dossiers and feat.dossiers:
            self._lookup("citizen_dossiers", f.card.id_number)
        else:
            self._card_home()

    def _card_found(self, kind: LookupKind, outcome: Outcome) -> None:
        f, feat = self.flow, self.features
        if isinstance(outcome, LookupFailed) and outcome.reason != "not_found":
            log.warning("%s: %s lookup unavailable (%s)", self.device_id, kind, outcome.detail)
        if kind == "citizen_bookings" and isinstance(outcome, tuple):
            for b in outcome:
                if (isinstance(b, BookingInfo) and b.status == "booked"
                        and business_day(self.cfg, b.slot_start) == self.today()
                        and b.site in (None, self.cfg.site.id)):  # fmt: skip
                    f.purpose = "booking"
                    self._show_booking(b)
                    return
        if kind == "citizen_dossiers" and isinstance(outcome, tuple):
            for d in outcome:
                if isinstance(d, DossierInfo) and d.ready and d.status == "ready":
                    f.purpose = "dossier"
                    self._show_dossier(d)
                    return
        if kind == "citizen_bookings" and feat.find_dossiers and feat.dossiers and f.card is not None:
            self._lookup("citizen_dossiers", f.card.id_number)
            return
        self._card_home()

    def _card_home(self) -> None:
        self._go("home")

    # -- tickets ----------------------------------------------------------------------------
    def _extra(self) -> tuple[bool, dict[str, Any], str | None]:
        """The priority, the ``issue`` args a card adds, and the name for the clerk."""
        f, feat = self.flow, self.features
        extra: dict[str, Any] = {}
        if f.card_priority:
            extra["priority_reason"] = "age"
        note = f.card.name if f.card is not None and feat.prefill_name else None
        return f.card_priority, extra, note

    def _take(self) -> None:
        f = self.flow
        priority, extra, note = self._extra()
        if self.screen == "booking" and f.booking is not None:
            b = f.booking
            extra["booking"] = {
                "code": b.code,
                "slot_start": b.slot_start.isoformat(),
                "slot_end": b.slot_end.isoformat(),
            }
            self._issue(b.service, priority, extra, note)
        elif self.screen == "dossier" and f.dossier is not None:
            service = f.dossier.service or self.features.dossier_service
            assert service is not None
            extra["dossier"] = f.dossier.code
            self._issue(service, priority, extra, note)

    def _walk_in(self) -> None:
        f = self.flow
        service = f.fallback
        if self.screen in ("booking_late", "booking_other") and f.booking is not None:
            service = f.booking.service if self.screen == "booking_late" else None
        if service is None or self.features.lookup_only:
            self._card_home() if f.card is not None else self._home()
            return
        priority, extra, note = self._extra()
        self._issue(service, priority, extra, note)

    def refused(self, code: str, message: str) -> Any:
        """The screen of an ``issue`` refusal that is the code flows' (None: not theirs)."""
        f = self.flow
        screens = {"booking_used": "booking_used", "booking_early": "booking_early",
                   "booking_late": "booking_late", "booking_not_today": "booking_other"}  # fmt: skip
        if code not in screens:
            return None
        m = _TIME.search(message)
        f.when = m.group(1) if m else ""
        if code == "booking_not_today":
            f.message = (W["booking_not_today"].vi, W["booking_not_today"].en)
        return screens[code]

    # -- the view ---------------------------------------------------------------------------
    def _fw(self, key: str, **kw: Any) -> tuple[str, str]:
        a, b = W[key].pick(self.lang)
        return a.format(**kw), b.format(**kw)

    def _pick(self, pair: tuple[str, str]) -> tuple[str, str]:
        return pair if self.lang == "vi" else (pair[1], pair[0])

    def home_entries(self) -> tuple[tuple[Action, ...], tuple[str, str]]:
        """The home screen's entries (appointment, result, forget my card) and the scan hint."""
        feat = self.features
        if self.flow.card is not None:
            return (Action("forget", *self._fw("forget_card")),), ("", "")
        entries: list[Action] = []
        if feat.bookings:
            entries.append(Action("appointment", *self._fw("appointment"), primary=True))
        if feat.dossier_service is not None:
            entries.append(Action("result", *self._fw("result"), primary=True))
        hint = ("", "")
        if entries or feat.cards:
            hint = self._fw("scan_hint" if feat.cards else "scan_hint_codes")
        return tuple(entries), hint

    def card_banner(self) -> tuple[str, str]:
        """The banner over the services while a consented card is in use (initials only)."""
        f = self.flow
        if f.card is None:
            return "", ""
        who = f.card.initials
        if f.card_priority:
            return self._fw("card_banner_prio", who=who, age=self.features.priority_age)
        return self._fw("card_banner", who=who)

    def _slot(self, b: BookingInfo) -> tuple[str, str]:
        tz = self.cfg.site.tz
        start, end = f"{b.slot_start.astimezone(tz):%H:%M}", f"{b.slot_end.astimezone(tz):%H:%M}"
        conf = self.cfg.service(b.service) if b.service in {s.id for s in self.cfg.services} else None
        vi_name = conf.name.replace(" - ", " – ") if conf else b.service
        en_name = (conf.name_en or conf.name) if conf else b.service
        vi = W["booking_slot"].vi.format(start=start, end=end, service=vi_name)
        en = W["booking_slot"].en.format(start=start, end=end, service=en_name)
        return self._pick((vi, en))

    def _dossier_status(self, d: DossierInfo) -> list[tuple[str, str]]:
        status = W[f"dossier_{d.status}"]
        lines: list[tuple[str, str]] = []
        if d.promised_date is not None and d.status in ("received", "processing"):
            day = f"{d.promised_date:%d/%m/%Y}"
            lines.append(self._fw("status_promised", status=status.pick(self.lang)[0], day=day))
            other = status.pick("en" if self.lang == "vi" else "vi")[0]
            lines[-1] = (lines[-1][0], W["status_promised"].pick(self.lang)[1].format(status=other, day=day))
        else:
            lines.append(self._fw(f"dossier_{d.status}"))
        return lines

    def flow_view(self, base: dict[str, Any]) -> dict[str, Any]:
        """The fields of a code-flow screen's view (title, lines, actions, entry, keys)."""
        f, s = self.flow, self.screen
        back = Action("back", *self._fw_main("back"))
        out: dict[str, Any] = {}
        lines: list[tuple[str, str]]
        if s == "lookup_home":
            title = self._fw("lookup_title")
            out.update(
                lines=(self._fw("lookup_hint"),),
                actions=(Action("result", *self._fw("type_dossier"), primary=True),),
            )
        elif s == "keypad":
            title = self._fw("pad_booking" if f.purpose == "booking" else "pad_dossier")
            key = "pad_booking_hint" if f.purpose == "booking" else "pad_dossier_hint"
            hint = self._pick(f.typed_error) if f.typed_error else self._fw(key)
            toggle = ("keys:digits", "pad_digits") if f.letters else ("keys:letters", "pad_letters")
            out.update(
                entry=f.entry,
                keys=LETTER_KEYS if f.letters else DIGIT_KEYS,
                lines=(hint,),
                error=f.typed_error is not None,
                actions=(
                    Action(toggle[0], *self._fw(toggle[1])),
                    Action("erase", *self._fw("erase")),
                    Action("find", *self._fw("find"), primary=len(f.entry) > 2),
                    back,
                ),
            )
        elif s == "looking":
            title = self._fw("looking")
            out.update(lines=(self._fw("looking_max", s=self.seconds_left()),),
                       actions=(Action("cancel", *self._fw("cancel")),), busy=True)  # fmt: skip
        elif s == "booking" and f.booking is not None:
            title = self._fw("booking_title")
            lines = [self._slot(f.booking)]
            if f.booking.initials:
                lines.append(self._fw("booking_who", who=f.booking.initials))
            out.update(
                lines=tuple(lines), actions=(Action("take", *self._fw("take_number"), primary=True), back)
            )
        elif s == "booking_used":
            title = self._fw("booking_used_title")
            out.update(lines=(self._fw("booking_used_hint"),), actions=(back,))
        elif s == "booking_cancelled":
            title = self._fw("booking_cancelled_title")
            out.update(
                lines=(self._fw("or_normal"),),
                actions=(Action("back", *self._fw("choose_service"), primary=True),),
            )
        elif s == "booking_early":
            title = self._fw("booking_early_title")
            lines = [self._slot(f.booking)] if f.booking else []
            if f.when:
                lines.append(self._fw("come_back_at", time=f.when))
            out.update(lines=tuple(lines), actions=(back,))
        elif s == "booking_late":
            title = self._fw("booking_late_title")
            lines = [self._slot(f.booking)] if f.booking else []
            if f.when:
                lines.append(self._fw("late_until", time=f.when))
            lines.append(self._fw("or_normal"))
            out.update(
                lines=tuple(lines), actions=(Action("walk_in", *self._fw("walk_in"), primary=True), back)
            )
        elif s == "booking_other":
            title = self._pick(f.message) if f.message else self._fw("booking_not_today")
            lines = [self._slot(f.booking)] if f.booking and f.booking.service else []
            lines.append(self._fw("or_normal"))
            out.update(
                lines=tuple(lines), actions=(Action("back", *self._fw("choose_service"), primary=True),)
            )
        elif s == "dossier" and f.dossier is not None:
            title = self._fw("dossier_title")
            lines = [self._fw("dossier_code", code=f.dossier.code)]
            if f.dossier.title:
                lines.append((f.dossier.title, ""))
            out.update(
                lines=tuple(lines), actions=(Action("take", *self._fw("take_result"), primary=True), back)
            )
        elif s == "dossier_status" and f.dossier is not None:
            d = f.dossier
            title = self._dossier_status(d)[0]
            lines = [self._fw("dossier_code", code=d.code)]
            if d.title:
                lines.append((d.title, ""))
            if d.ready and d.status == "ready":
                lines.append(self._fw("result_elsewhere"))
            elif d.status == "rejected":
                lines.append(self._fw("ask_staff_rejected"))
            elif d.status != "returned":
                lines.append(self._fw("no_ticket"))
            out.update(lines=tuple(lines), actions=(Action("back", *self._fw_main("ok"), primary=True),))
        elif s == "not_found":
            title = self._fw("booking_not_found" if f.purpose == "booking" else "dossier_not_found")
            again = Action("type_again", *self._fw("type_again"), primary=True)
            out.update(lines=(self._fw("check_code"),), actions=(again, back))
        elif s == "lookup_down":
            title = self._fw("down_title")
            lines = []
            if f.fallback and not self.features.lookup_only:
                name = self.cfg.service(f.fallback)
                lines.append(self._pick((name.name, name.name_en or name.name)))
                action = Action("walk_in", *self._fw("walk_in"), primary=True)
            else:
                action = Action("walk_in", *self._fw("choose_service"), primary=True)
            if self.features.lookup_only:
                out.update(lines=(), actions=(back,))
            else:
                out.update(lines=tuple(lines), actions=(action, back))
        elif s == "scan_bad":
            title = self._pick(f.message) if f.message else self._fw("scan_bad_title")
            out.update(lines=(), actions=(Action("back", *self._fw_main("ok"), primary=True),))
        elif s == "consent":
            title = self._fw("consent_title")
            out.update(lines=(self._consent_body(),),
                       actions=(Action("agree", *self._fw("agree"), primary=True),
                                Action("decline", *self._fw("decline"))))  # fmt: skip
        else:  # a screen whose data is gone (cannot happen): go home
            title = self._fw_main("error_title")
            out.update(lines=(), actions=(back,))
        out["title"], out["title2"] = title
        return out

    def _consent_body(self) -> tuple[str, str]:
        """The consent line of docs/privacy.md (onestop.citizen_use.consent_line) for this kiosk's
        uses, without its leading question (the screen's title asks it)."""
        feat = self.features
        rules = CitizenIdSection(
            enabled=True, priority_age=feat.priority_age, prefill_name=feat.prefill_name,
            find_bookings=feat.find_bookings, find_dossiers=feat.find_dossiers,
            forward=feat.find_bookings or feat.find_dossiers,
        )  # fmt: skip
        vi, en = consent_line(rules)
        return self._pick((vi.split("? ", 1)[-1], en.split("? ", 1)[-1]))

    def _fw_main(self, key: str) -> tuple[str, str]:
        from kiosk_app.ticket_kiosk.viewmodel import T

        return T[key].pick(self.lang)

    def booking_done_lines(self, result: dict[str, Any]) -> list[tuple[str, str]]:
        """What the done screen adds for a booked or a result-pickup ticket."""
        ticket = result.get("ticket") or {}
        out: list[tuple[str, str]] = []
        booking = ticket.get("booking")
        if isinstance(booking, dict):
            status = result.get("booking_status") or booking.get("status") or "on_time"
            if status == "early":
                due = _local_time(booking.get("due_at") or booking.get("slot_start"), self.cfg)
                out.append(self._fw("booked_early", time=due) if due else self._fw("booked_on_time"))
            elif status == "late":
                out.append(self._fw("booked_late"))
            else:
                out.append(self._fw("booked_on_time"))
        dossier = ticket.get("dossier")
        if isinstance(dossier, str) and dossier:
            out.append(self._fw("pickup_line", code=dossier))
        return out


def business_day(cfg: SiteConfig, when: datetime) -> date:
    """The site's business day of ``when`` (it starts at ``[site] day_starts``), as the controller
    counts it: a booking is "today" when its slot is in today's business day."""
    local = when.astimezone(cfg.site.tz)
    return local.date() - timedelta(days=1) if local.time() < cfg.site.day_start_time else local.date()


def _local_time(value: Any, cfg: SiteConfig) -> str:
    """``HH:MM`` in the site's time zone of an ISO 8601 time ("" when it does not parse)."""
    try:
        return f"{datetime.fromisoformat(str(value)).astimezone(cfg.site.tz):%H:%M}"
    except (TypeError, ValueError):
        return ""

"""The rating terminal's view-model: every screen, transition and text, in plain Python (no Kivy, no MQTT).

A rating terminal stands on a counter, facing the citizen. It follows the counter's retained state
(``state/counter/{id}``: the officer, the ticket being served) and the site's events. When the
ticket being served *ends* (``ticket.done`` for this counter, or ``serving`` changing from it to
another ticket or to nobody) it offers the configured levels; the citizen presses one; below
``[rating] satisfied_min`` it asks why (reasons, an optional short comment); it sends ``rate``
through a :class:`RatingBackend` on a worker started by an injected ``runner`` and thanks them.
Time comes from an injected monotonic ``clock``, so the window, the thanks timeout and the
repeated-press guard are tested without sleeping.

Screens::

    idle ──ticket ends──► rate ──satisfied──────────────► (sending) ──► thanks ──► idle
     ▲  (officer, serving)  │                                  ▲   │
     │                      └──not satisfied──► reasons ──send─┘   ├──► unreachable (retry: same id)
     │                                                             ├──► error
     └──── window_s after the end / thanks_s / nothing_to_rate ◄───┘

One rating per ticket: after ``ok`` or ``already_rated`` (or a ``rating.recorded`` event for it,
e.g. from another device) the levels are gone until the next ticket ends. A press is ignored while
a request is in flight and for ``guard_s`` after the last accepted press (HappyOrNot-style minimum
interval), so a trembling finger or a double tap never sends two ratings or answers the next
question by accident.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from kiosk_app.shell.observable import Observable, PressGuard
from kiosk_app.shell.words import Action, Lang, Words
from onestop.config import SiteConfig
from onestop.device import CommandFailed, NoReply
from onestop.mqtt import BrokerUnreachable

log = logging.getLogger("onestop.rating")

Screen = Literal["idle", "rate", "reasons", "thanks", "unreachable", "error"]
#: Screens that belong to one ended ticket (they end with its window).
TICKET_SCREENS: frozenset[Screen] = frozenset({"rate", "reasons", "unreachable", "error"})

#: Level colours, best first, from green to red (white text on each has a contrast of 4.9:1 or more).
LEVEL_COLOURS: dict[int, tuple[str, ...]] = {
    2: ("#1B6E3A", "#B3261E"),
    3: ("#1B6E3A", "#5C7A00", "#B3261E"),
    4: ("#1B6E3A", "#5C7A00", "#A84B00", "#B3261E"),
    5: ("#1B6E3A", "#5C7A00", "#5B6770", "#A84B00", "#B3261E"),
}

#: English for the levels, reasons and comments a site is likely to configure: used for a list whose
#: ``[rating] levels_en`` / ``reasons_en`` / ``comments_en`` is not given (other texts show only once).
ENGLISH: dict[str, str] = {
    "Rất hài lòng": "Very satisfied",
    "Hài lòng": "Satisfied",
    "Bình thường": "Neutral",
    "Chưa hài lòng": "Not yet satisfied",
    "Không hài lòng": "Not satisfied",
    "Rất không hài lòng": "Very dissatisfied",
    "Thái độ phục vụ": "Staff attitude",
    "Hướng dẫn chưa rõ": "Unclear guidance",
    "Chờ lâu": "Long wait",
    "Giải quyết chậm": "Slow processing",
    "Khác": "Other",
    "Cần hướng dẫn rõ hơn": "Explain more clearly",
    "Cần nhanh hơn": "Be quicker",
    "Cần niềm nở hơn": "Be friendlier",
}


def english(texts: Sequence[str], configured: Sequence[str] | None) -> list[str]:
    """The English line of each text: the site's own list (``[rating] *_en``, ``""`` for none) when it
    gives one, else the built-in :data:`ENGLISH` (``""`` for a text it does not know)."""
    if configured is not None:
        return [_nfc(e).strip() for e in configured]
    return [ENGLISH.get(_nfc(t), "") for t in texts]


# -- every text the terminal shows ------------------------------------------------------------------
T = {
    "welcome": Words("Xin kính chào quý khách", "Welcome"),
    "closed": Words("Quầy đang tạm nghỉ", "This counter is closed"),
    "paused": Words("Quầy tạm dừng, xin ông/bà chờ trong giây lát", "This counter is paused, please wait"),
    "serving": Words("Đang phục vụ số {number}", "Now serving {number}"),
    "ready": Words("Xin mời ông/bà chờ đến lượt", "Please wait for your number to be called"),
    "rate_title": Words("Ông/bà có hài lòng với cán bộ tiếp nhận?", "Are you satisfied with the service?"),
    "rate_ticket": Words(
        "Số {number} — xin chạm vào một ô bên dưới", "Number {number} — touch one box below"
    ),
    "reasons_title": Words("Ông/bà chưa hài lòng về điều gì?", "What were you not satisfied with?"),
    "reasons_hint": Words("Chọn một hoặc nhiều ý, rồi bấm Gửi", "Choose one or more, then press Send"),
    "comment_title": Words("Góp ý thêm: chọn một (không bắt buộc)", "A comment: pick one (optional)"),
    "send": Words("Gửi đánh giá", "Send"),
    "back": Words("Quay lại", "Back"),
    "sending": Words("Đang gửi đánh giá…", "Sending…"),
    "thanks": Words("Cảm ơn ông/bà đã đánh giá!", "Thank you for your rating!"),
    "thanks_line": Words(
        "Ý kiến của ông/bà giúp chúng tôi phục vụ tốt hơn", "Your opinion helps us serve you better"
    ),
    "busy_title": Words("Chưa gửi được đánh giá", "Your rating could not be sent"),
    "busy_line": Words("Hệ thống đang bận, xin ông/bà thử lại", "The system is busy, please try again"),
    "retry": Words("Thử lại", "Try again"),
    "error_title": Words("Không gửi được đánh giá", "Your rating could not be recorded"),
    "ask_staff": Words("Xin ông/bà báo cán bộ tại quầy", "Please tell the officer at the counter"),
    "banner_offline": Words(
        "Mất kết nối với hệ thống: đánh giá sẽ gửi được khi có kết nối lại",
        "No connection to the system: ratings can be sent when it is back",
    ),
}


class RatingBackend(Protocol):
    """What the view-model needs from the outside world: send ``rate``."""

    def rate(
        self, score: int, reasons: Sequence[str], comment: str, command_id: str, ticket: str | None = None
    ) -> dict[str, Any]:
        """The ``rate`` result ``{"rating": {...}}``; raises CommandFailed or NoReply."""
        ...


@dataclass(frozen=True)
class Level:
    """One level button: its score, text in both languages (chosen one first) and colour."""

    score: int
    text: str
    text2: str
    colour: str
    #: 1.0 for the best level, 0.0 for the worst (the face drawn on the button smiles that much).
    mood: float


@dataclass(frozen=True)
class Choice:
    """A toggle (a reason or a ready-made comment): index, texts, and whether it is selected."""

    index: int
    text: str
    text2: str
    selected: bool


@dataclass(frozen=True)
class Officer:
    """The officer shown: name, title and photo file (empty when none exists); initials for no photo."""

    id: str
    name: str
    title: str = ""
    photo: str = ""

    @property
    def initials(self) -> str:
        """The given name's first letter, as Vietnamese people are addressed by it ("Lan" → "L")."""
        parts = self.name.split()
        return parts[-1][:1].upper() if parts else "?"


@dataclass(frozen=True)
class RatingView:
    """Everything one screen shows, already in the chosen language (``text`` first, ``text2`` smaller)."""

    screen: Screen
    lang: Lang
    counter_label: str = ""
    title: str = ""
    title2: str = ""
    #: The ticket shown: being served (idle) or to rate (rate, reasons).
    number: str = ""
    officer: Officer | None = None
    lines: tuple[tuple[str, str], ...] = ()
    levels: tuple[Level, ...] = ()
    reasons: tuple[Choice, ...] = ()
    comments: tuple[Choice, ...] = ()
    comment_title: tuple[str, str] = ("", "")
    actions: tuple[Action, ...] = ()
    banner: str = ""
    banner2: str = ""
    busy: bool = False
    languages: tuple[Lang, ...] = ("vi", "en")


@dataclass
class _Ended:
    """A ticket that ended at this counter: what may be rated now."""

    ticket: str
    number: str
    officer: str | None
    at: float
    command_id: str = field(default_factory=lambda: uuid.uuid4().hex)


def _thread_runner(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="rating-send", daemon=True).start()


def _nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


class RatingViewModel(Observable, PressGuard):
    """The rating terminal's state machine. Thread-safe: presses come from the UI, state from MQTT."""

    def __init__(
        self,
        cfg: SiteConfig,
        device_id: str,
        backend: RatingBackend,
        *,
        clock: Callable[[], float] = time.monotonic,
        runner: Callable[[Callable[[], None]], None] = _thread_runner,
        connected: Callable[[], bool] = lambda: True,
        guard_s: float = 1.0,
        thanks_s: float = 5.0,
        error_s: float = 10.0,
        reasons_idle_s: float = 45.0,
        grace_s: float = 1.5,
        idle_lang_s: float = 30.0,
        languages: Sequence[Lang] | None = None,
        comments: Sequence[Words] | None = None,
    ) -> None:
        dev = cfg.device(device_id)
        if dev.role != "rating" or dev.counter is None:
            raise ValueError(f"{device_id} is a {dev.role} device, not a rating terminal of a counter")
        self.cfg = cfg
        self.device_id = device_id
        self.counter = dev.counter
        self.counter_label = cfg.counter(dev.counter).label
        self.backend = backend
        self.clock = clock
        self.runner = runner
        self.connected = connected
        self.guard_s = guard_s
        self.thanks_s = thanks_s
        self.error_s = error_s
        self.reasons_idle_s = reasons_idle_s
        self.grace_s = grace_s
        self.idle_lang_s = idle_lang_s
        rating = cfg.rating
        self.window_s = float(rating.window_s)
        #: The levels (best first) and the reasons, as configured (Vietnamese), and their English lines.
        self.levels = [_nfc(x) for x in rating.levels]
        self.levels_en = english(self.levels, rating.levels_en)
        self.reasons = [_nfc(x) for x in rating.reasons]
        self.reasons_en = english(self.reasons, rating.reasons_en)
        if comments is None:
            said = [_nfc(x) for x in rating.comments]
            comments = [Words(vi, en) for vi, en in zip(said, english(said, rating.comments_en), strict=True)]
        #: The ready-made comments offered (one that does not fit ``comment_max`` is left out).
        self.comments = tuple(c for c in comments if len(c.vi) <= rating.comment_max)
        self.languages: tuple[Lang, ...] = tuple(languages or cfg.kiosk.languages)
        self._init_observable()
        self.screen: Screen = "idle"
        self.lang: Lang = self.languages[0]
        self.busy = False
        self._state: dict[str, Any] = {}  # the latest state/counter/{id}
        self._ended: _Ended | None = None  # the ticket the levels are for
        self._ending: dict[str, tuple[dict[str, Any], float]] = {}  # left `serving`, no event yet
        self._score: int | None = None
        self._reasons: set[int] = set()
        self._comment: int | None = None
        self._since = clock()  # when the current screen appeared
        self._activity = clock()
        self._guard_until = float("-inf")
        self._was_connected = True
        #: Tickets that cannot be rated (again) here: rated, or skipped/transferred (they did not end).
        self._closed: deque[str] = deque(maxlen=64)
        #: Every rating sent, in order (for tests and the operator log): (ticket, score, reasons, comment).
        self.sent: list[tuple[str, int, tuple[str, ...], str]] = []
        #: Results of the ratings recorded by this terminal.
        self.recorded: list[dict[str, Any]] = []

    # -- inputs from the shell ------------------------------------------------------------
    def on_counter_state(self, payload: Mapping[str, Any]) -> None:
        """A retained ``state/counter/{id}`` message of this terminal's counter."""
        if payload.get("counter") != self.counter:
            return
        with self._cond:
            before = self._state.get("serving") if self._state else None
            self._state = dict(payload)
            after = payload.get("serving")
            after_id = after.get("id") if isinstance(after, Mapping) else None
            if isinstance(before, Mapping) and before.get("id") and after_id != before.get("id"):
                # Done, skipped or transferred? The event (published just after) tells; without one
                # within ``grace_s`` (a lost event), it is taken as done.
                self._ending.setdefault(str(before["id"]), (dict(before), self.clock()))
        self._changed()

    def on_event(self, event: Mapping[str, Any]) -> None:
        """A message of the ``events`` stream (only this counter's ticket and rating events matter)."""
        kind = event.get("type")
        data = event.get("data")
        if not isinstance(data, Mapping):
            return
        ticket = data.get("ticket")
        with self._cond:
            if (
                kind == "ticket.done"
                and isinstance(ticket, Mapping)
                and ticket.get("counter") == self.counter
            ):
                self._ending.pop(str(ticket.get("id")), None)
                self._ticket_ended(ticket)
            elif kind in ("ticket.skipped", "ticket.transferred") and isinstance(ticket, Mapping):
                here = ticket.get("counter") == self.counter or data.get("from_counter") == self.counter
                if not here:
                    return
                self._ending.pop(str(ticket.get("id")), None)
                self._close_ticket(str(ticket.get("id")))  # a no-show or a transfer is not rated
            elif kind == "rating.recorded":
                rating = data.get("rating")
                if not isinstance(rating, Mapping) or rating.get("counter") != self.counter:
                    return
                self._close_ticket(str(rating.get("ticket")))  # rated (here, or by another device)
            else:
                return
        self._changed()

    def _ticket_ended(self, ticket: Mapping[str, Any]) -> None:
        tid = str(ticket.get("id", ""))
        if not tid or tid in self._closed or (self._ended is not None and self._ended.ticket == tid):
            return
        officer = ticket.get("officer")
        if not isinstance(officer, str):
            off = self._state.get("officer")
            officer = off.get("id") if isinstance(off, Mapping) else None
        self._ended = _Ended(tid, str(ticket.get("number", "")), officer, self.clock())
        log.info("%s: %s ended: offering the levels", self.device_id, self._ended.number)
        if not self.busy:
            self._offer()

    def _offer(self) -> None:
        self._score, self._reasons, self._comment = None, set(), None
        self._go("rate")

    def _close_ticket(self, tid: str) -> None:
        """No more rating for ``tid``; a screen for it (not one showing an outcome) goes idle."""
        if tid not in self._closed:
            self._closed.append(tid)
        if self._ended is not None and self._ended.ticket == tid and not self.busy:
            self._ended = None
            if self.screen in ("rate", "reasons", "unreachable", "error"):
                self._idle()

    # -- presses --------------------------------------------------------------------------
    def choose(self, score: int) -> bool:
        """A level button (its score) on the rate screen; return whether the press was taken."""
        with self._cond:
            if self.screen != "rate" or self._ended is None or not 1 <= score <= len(self.levels):
                return False
            if not self._accept_press("too soon"):
                return False
            self._score = score
            if score < self.cfg.rating.satisfied_min and (self.reasons or self.comments):
                self._reasons, self._comment = set(), None
                self._go("reasons")
            else:
                self._send()
        self._changed()
        return True

    def toggle_reason(self, index: int) -> bool:
        """Select or unselect a reason on the reasons screen."""
        with self._cond:
            if (
                self.screen != "reasons"
                or not 0 <= index < len(self.reasons)
                or not self._accept_press("too soon")
            ):
                return False
            self._reasons ^= {index}
        self._changed()
        return True

    def toggle_comment(self, index: int) -> bool:
        """Select (or unselect) one ready-made comment on the reasons screen."""
        with self._cond:
            if (
                self.screen != "reasons"
                or not 0 <= index < len(self.comments)
                or not self._accept_press("too soon")
            ):
                return False
            self._comment = None if self._comment == index else index
        self._changed()
        return True

    def press(self, action: str) -> bool:
        """A button under a message: ``send`` and ``back`` (reasons), ``retry`` (unreachable), ``ok``."""
        with self._cond:
            ok_here = {
                "send": ("reasons",),
                "back": ("reasons",),
                "retry": ("unreachable",),
                "ok": ("thanks", "error", "unreachable"),
            }.get(action, ())
            if self.screen not in ok_here or not self._accept_press("too soon"):
                return False
            if action == "send" or action == "retry":
                self._send()
            elif action == "back":
                self._go("rate")
            else:
                self._after_outcome()
        self._changed()
        return True

    def set_language(self, lang: Lang) -> bool:
        """Switch the language of every text (the other language stays, smaller)."""
        with self._cond:
            self._activity = self.clock()
            if lang not in self.languages or lang == self.lang:
                return False
            self.lang = lang
        self._changed()
        return True

    def rate(self, score: int, reasons: Sequence[str] = (), comment: str = "") -> bool:
        """Rate the offered ticket in one step (the headless trigger; no press guard): False when
        nothing is offered, a request is in flight, or the score or a reason is not configured."""
        with self._cond:
            if self._ended is None or self.busy or self.screen not in ("rate", "reasons", "unreachable"):
                return False
            picked = [_nfc(r) for r in reasons]
            if not 1 <= score <= len(self.levels) or any(r not in self.reasons for r in picked):
                return False
            self._activity = self.clock()
            self._score = score
            self._reasons = {self.reasons.index(r) for r in picked}
            self._comment = None
            self._send(_nfc(comment).strip()[: self.cfg.rating.comment_max])
        self._changed()
        return True

    def check_connection(self) -> None:
        """Notice a lost (or regained) broker connection (listeners hear of it)."""
        connected = self.connected()
        if connected != self._was_connected:
            self._was_connected = connected
            self._changed()

    def tick(self) -> None:
        """Called a few times a second: the connection, tickets that left ``serving`` without an event,
        the rating window, and the timeouts of the thanks and error screens and of an abandoned
        reasons screen (sent with what was chosen: the citizen did say "not satisfied")."""
        self.check_connection()
        with self._cond:
            changed = self._tick()
        if changed:
            self._changed()

    def _tick(self) -> bool:
        now = self.clock()
        late = [tid for tid, (_, at) in self._ending.items() if now - at >= self.grace_s]
        for tid in late:
            self._ticket_ended(self._ending.pop(tid)[0])
        if self.busy:
            return bool(late)
        ended = self._ended
        if ended is not None and now - ended.at >= self.window_s:
            log.info("%s: nobody rated %s within %.0f s", self.device_id, ended.number, self.window_s)
            self._ended = None
            if self.screen in TICKET_SCREENS:
                self._idle()
        elif now - self._since >= {"thanks": self.thanks_s, "error": self.error_s}.get(self.screen, math.inf):
            self._after_outcome()
        elif self.screen == "reasons" and now - self._activity >= self.reasons_idle_s:
            log.info("%s: reasons left unfinished: sending what was chosen", self.device_id)
            self._send()
        elif (
            self.screen == "idle"
            and self.lang != self.languages[0]
            and now - self._activity >= self.idle_lang_s
        ):
            self.lang = self.languages[0]
        else:
            return bool(late)
        return True

    # -- the request ----------------------------------------------------------------------
    def _go(self, screen: Screen) -> None:
        self.screen = screen
        self._since = self.clock()

    def _idle(self) -> None:
        self._score, self._reasons, self._comment = None, set(), None
        self._go("idle")

    def _after_outcome(self) -> None:
        """Leave thanks or an error: to a newer ticket's levels if one ended meanwhile, else idle."""
        if self.screen == "unreachable":
            self._ended = None  # given up
        if self._ended is not None and self._ended.ticket not in self._closed:
            self._offer()
        else:
            self._idle()

    def _send(self, comment: str | None = None) -> None:
        ended, score = self._ended, self._score
        assert ended is not None and score is not None
        reasons = tuple(self.reasons[i] for i in sorted(self._reasons))
        if comment is None:
            comment = self.comments[self._comment].vi if self._comment is not None else ""
        if not self.connected():
            self._go("unreachable")
            return
        self.busy = True
        self.sent.append((ended.ticket, score, reasons, comment))
        self.runner(lambda: self._work(ended, score, reasons, comment))

    def _work(self, ended: _Ended, score: int, reasons: tuple[str, ...], comment: str) -> None:
        screen: Screen = "thanks"
        try:
            result = self.backend.rate(score, reasons, comment, ended.command_id, ended.ticket)
            self.recorded.append(dict(result.get("rating") or {}))
            log.info("%s: %s rated %d", self.device_id, ended.number, score)
        except CommandFailed as exc:
            if exc.code == "already_rated":
                log.info("%s: %s was already rated", self.device_id, ended.number)
            elif exc.code == "rate_limited":  # nothing was done: "try again" sends the same id
                screen = "unreachable"
                log.warning("%s: rate: %s", self.device_id, exc)
            elif exc.code == "nothing_to_rate":
                screen = "idle"  # the window passed (on the controller's clock): quietly back
                log.info("%s: %s: %s", self.device_id, ended.number, exc)
            elif exc.code in ("expired", "unavailable", "rate_limited"):
                screen = "unreachable"  # nothing was recorded; trying again may work
                log.warning("%s: rate not taken: %s", self.device_id, exc)
            else:
                screen = "error"
                log.warning("%s: rate refused: %s", self.device_id, exc)
        except (NoReply, BrokerUnreachable, ConnectionError) as exc:
            screen = "unreachable"
            log.error("%s: rate: %s", self.device_id, exc)
        except Exception:
            screen = "error"
            log.exception("%s: rate failed", self.device_id)
        with self._cond:
            self.busy = False
            now = self.clock()
            self._activity = now
            self._guard_until = max(self._guard_until, now + self.guard_s)
            if screen != "unreachable":
                if ended.ticket not in self._closed:
                    self._closed.append(ended.ticket)
                if self._ended is ended:
                    self._ended = None
            if screen == "idle":
                self._idle()
            else:
                self._go(screen)
        self._changed()

    # -- the view -------------------------------------------------------------------------
    def view(self) -> RatingView:
        """What the current screen shows."""
        with self._cond:
            return self._view()

    def _w(self, key: str, **kw: Any) -> tuple[str, str]:
        a, b = T[key].pick(self.lang)
        return a.format(**kw), b.format(**kw)

    def _pair(self, vi: str, en: str) -> tuple[str, str]:
        """(first line, second line) in the chosen language; without English, the Vietnamese alone."""
        if self.lang == "vi":
            return vi, en
        return (en, vi) if en else (vi, "")

    def officer(self, officer_id: str | None = None) -> Officer | None:
        """The officer shown: ``officer_id``, or the one at the counter now (from its state)."""
        if officer_id is None:
            off = self._state.get("officer")
            officer_id = off.get("id") if isinstance(off, Mapping) else None
        if not officer_id:
            return None
        try:
            conf = self.cfg.officer(officer_id)
        except KeyError:
            off = self._state.get("officer")
            name = off.get("name") if isinstance(off, Mapping) else None
            return Officer(officer_id, str(name or officer_id))
        return Officer(conf.id, conf.name, conf.title, self._photo(conf.photo))

    def _photo(self, photo: str | None) -> str:
        if not photo:
            return ""
        p = Path(photo)
        if not p.is_absolute() and self.cfg.source != "<memory>":
            p = Path(self.cfg.source).resolve().parent / p
        return str(p) if p.is_file() else ""

    def _levels(self) -> tuple[Level, ...]:
        n = len(self.levels)
        colours = LEVEL_COLOURS.get(n) or tuple(
            LEVEL_COLOURS[5][round(i * 4 / max(1, n - 1))] for i in range(n)
        )
        # Satisfied levels smile (mood 0.65..1), the others frown (0.45..0): "Hài lòng" is a smile.
        good = [i for i in range(n) if n - i >= self.cfg.rating.satisfied_min]
        bad = [i for i in range(n) if i not in good]
        out = []
        for i, name in enumerate(self.levels):
            group, top, bottom = (good, 1.0, 0.65) if i in good else (bad, 0.45, 0.0)
            k = group.index(i) / max(1, len(group) - 1) if len(group) > 1 else 0.0
            mood = top - (top - bottom) * k if len(group) > 1 else (top if i in good else bottom)
            text, text2 = self._pair(name, self.levels_en[i])
            out.append(Level(n - i, text, text2, colours[i], round(mood, 3)))
        return tuple(out)

    def _view(self) -> RatingView:
        base: dict[str, Any] = {
            "screen": self.screen, "lang": self.lang, "languages": self.languages,
            "counter_label": self.counter_label, "busy": self.busy,
        }  # fmt: skip
        if not self.connected():
            base["banner"], base["banner2"] = self._w("banner_offline")
        s = self.screen
        ended = self._ended
        if s == "idle":
            return self._idle_view(base)
        if s in ("rate", "reasons") and ended is not None:
            base["officer"] = self.officer(ended.officer)
            base["number"] = ended.number
        if s == "rate":
            title, title2 = self._w("sending" if self.busy else "rate_title")
            lines = (self._w("rate_ticket", number=ended.number if ended else ""),)
            return RatingView(**base, title=title, title2=title2, lines=lines, levels=self._levels())
        if s == "reasons":
            title, title2 = self._w("sending" if self.busy else "reasons_title")
            reasons = tuple(
                Choice(i, *self._pair(r, self.reasons_en[i]), selected=i in self._reasons)
                for i, r in enumerate(self.reasons)
            )
            comments = tuple(
                Choice(i, *self._pair(c.vi, c.en), selected=i == self._comment)
                for i, c in enumerate(self.comments)
            )
            actions: tuple[Action, ...] = (
                Action("send", *self._w("send"), primary=True),
                Action("back", *self._w("back")),
            )
            return RatingView(
                **base, title=title, title2=title2, lines=(self._w("reasons_hint"),), reasons=reasons,
                comments=comments, comment_title=self._w("comment_title"), actions=actions,
            )  # fmt: skip
        if s == "thanks":
            title, title2 = self._w("thanks")
            return RatingView(**base, title=title, title2=title2, lines=(self._w("thanks_line"),))
        if s == "unreachable":
            title, title2 = self._w("sending" if self.busy else "busy_title")
            actions = (Action("retry", *self._w("retry"), primary=True),)
            return RatingView(
                **base, title=title, title2=title2, lines=(self._w("busy_line"),), actions=actions
            )
        title, title2 = self._w("error_title")
        actions = (Action("ok", *self._w("back")),)
        return RatingView(**base, title=title, title2=title2, lines=(self._w("ask_staff"),), actions=actions)

    def _idle_view(self, base: dict[str, Any]) -> RatingView:
        status = self._state.get("status")
        officer = self.officer() if status in ("open", "paused") else None
        title, title2 = self._w("welcome")
        lines: list[tuple[str, str]] = []
        number = ""
        if status == "open":
            serving = self._state.get("serving")
            if isinstance(serving, Mapping) and serving.get("number"):
                number = str(serving["number"])
                lines.append(self._w("serving", number=number))
            else:
                lines.append(self._w("ready"))
        elif status == "paused":
            lines.append(self._w("paused"))
        elif status == "closed":
            lines.append(self._w("closed"))
        return RatingView(
            **base, title=title, title2=title2, number=number, officer=officer, lines=tuple(lines)
        )

"""The ticket kiosk's view-model: every screen, transition and text, in plain Python (no Kivy, no MQTT).

The screens (Kivy, or the headless driver) only show :meth:`KioskViewModel.view` and call the tap
methods; the view-model decides. Issuing and printing go through a :class:`KioskBackend` (the MQTT and
printer shell, or a fake in tests) on a worker started by an injected ``runner``; time comes from an
injected monotonic ``clock``, so idle timeouts and the double-tap guard are tested without sleeping.

Screens::

    home ──tap service──► priority? ──choose──► printing ──► done
      ▲                                            │
      │                                            ├──► closed | limit | error | unreachable
      └──── back / done / idle timeout ◄───────────┴──► paper_out | printer_error (ticket issued)

A tap is ignored while a request is in flight and for ``guard_s`` after the last accepted tap or the
end of a request, so a double tap (or a trembling finger) never issues two tickets.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

from device_drivers.printer.errors import PaperOut, PrinterError
from kiosk_app.shell.observable import Observable, PressGuard
from kiosk_app.shell.words import Action, Lang, Words
from kiosk_app.ticket_kiosk.codes import CodeBackend, Features, Read
from kiosk_app.ticket_kiosk.codes import read_scan as _read_scan
from kiosk_app.ticket_kiosk.codes import read_typed as _read_typed
from kiosk_app.ticket_kiosk.flows import FLOW_SCREENS, CodeFlows, FlowState, business_day
from kiosk_app.ticket_kiosk.ticket import format_ahead, format_wait, nfc, parse_wait_range, told_wait
from onestop.config import ServiceConfig, SiteConfig
from onestop.device import CommandFailed, NoReply
from onestop.mqtt import BrokerUnreachable

log = logging.getLogger("onestop.kiosk")

Screen = Literal[
    "home",
    "priority",
    "printing",
    "done",
    "closed",
    "limit",
    "unreachable",
    "paper_out",
    "printer_error",
    "error",
    # the code flows (kiosk_app/ticket_kiosk/flows.py)
    "lookup_home",
    "keypad",
    "looking",
    "booking",
    "booking_used",
    "booking_cancelled",
    "booking_early",
    "booking_late",
    "booking_other",
    "dossier",
    "dossier_status",
    "not_found",
    "lookup_down",
    "scan_bad",
    "consent",
]
#: Screens that show a ticket number the citizen must keep.
NUMBER_SCREENS: frozenset[Screen] = frozenset({"done", "paper_out", "printer_error"})
#: Printer states (ARCHITECTURE.md §3 kiosk health).
PRINTER_STATES = ("ok", "paper_low", "paper_out", "offline", "error")


class KioskBackend(Protocol):
    """What the view-model needs from the outside world: issue a ticket, print it."""

    def issue(
        self, service: str, priority: bool, command_id: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """The ``issue`` result ``{"ticket", "ahead", "est_wait_s"}``; raises CommandFailed or NoReply.
        ``extra``: more ``issue`` args (``booking``, ``dossier``, ``priority_reason``)."""
        ...

    def print_ticket(self, result: Mapping[str, Any]) -> None:
        """Print the ticket of an ``issue`` result; raises :class:`PrinterError` when it cannot."""
        ...


# -- every text the kiosk shows -------------------------------------------------------------------
T = {
    "home_title": Words("Xin mời chọn lĩnh vực", "Please choose a service"),
    "waiting": Words("Đang chờ: {n} người", "Waiting: {n}"),
    "nobody": Words("Không có ai chờ", "No one waiting"),
    "wait_about": Words("khoảng {m} phút", "about {m} min"),
    "wait_hours": Words("khoảng {h} giờ {m} phút", "about {h} h {m} min"),
    "svc_closed": Words("Ngoài giờ làm việc", "Closed now"),
    "svc_hours": Words("Giờ làm việc: {hours}", "Opening hours: {hours}"),
    "page": Words("Trang {n}/{of}", "Page {n} of {of}"),
    "page_prev": Words("◀ Trang trước", "◀ Previous"),
    "page_next": Words("Trang sau ▶", "Next ▶"),
    "svc_full": Words("Đã hết số hôm nay", "No more numbers today"),
    "prio_title": Words("Bạn có thuộc diện ưu tiên không?", "Do you have priority?"),
    "prio_who": Words(
        "Ưu tiên cho: người cao tuổi, người khuyết tật, phụ nữ có thai, người đang bế con nhỏ",
        "Priority is for: elderly people, people with disabilities, pregnant women, "
        "people with small children",
    ),
    "prio_no": Words("KHÔNG — Lấy số thường", "NO — Ordinary number"),
    "prio_yes": Words("CÓ — Lấy số ưu tiên", "YES — Priority number"),
    "back": Words("Quay lại", "Back"),
    "issuing": Words("Đang lấy số, xin chờ một chút…", "Getting your number, please wait…"),
    "printing": Words("Đang in phiếu…", "Printing your ticket…"),
    "done_title": Words("Số thứ tự của bạn", "Your number"),
    "take_ticket": Words("Vui lòng nhận phiếu ở khe bên dưới", "Please take your ticket below"),
    "ok": Words("Xong", "Done"),
    "noted": Words("Tôi đã nhớ số", "I have noted my number"),
    "priority_mark": Words("ƯU TIÊN", "PRIORITY"),
    "closed_title": Words("{name}: ngoài giờ làm việc", "{name} is closed now"),
    "closed_come_back": Words("Xin mời quay lại trong giờ làm việc", "Please come back during opening hours"),
    "limit_title": Words("{name}: đã hết số thứ tự hôm nay", "{name}: all numbers for today are taken"),
    "limit_hint": Words(
        "Xin mời quay lại vào ngày làm việc tiếp theo, hoặc liên hệ cán bộ hướng dẫn",
        "Please come back on the next working day, or ask a staff member",
    ),
    "busy_title": Words(
        "Hệ thống đang bận, vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn",
        "The system is busy. Please try again or ask a staff member for help",
    ),
    "retry": Words("Thử lại", "Try again"),
    "paper_title": Words(
        "Máy in hết giấy — vui lòng ghi nhớ số của bạn:",
        "The printer is out of paper — please remember your number:",
    ),
    "printer_title": Words(
        "Máy in đang gặp sự cố — vui lòng ghi nhớ số của bạn:",
        "The printer has a problem — please remember your number:",
    ),
    "kept_place": Words(
        "Bạn vẫn giữ lượt của mình. Hãy nhớ số này và báo cán bộ hướng dẫn.",
        "Your place in the queue is kept. Remember this number and tell a staff member.",
    ),
    "error_title": Words("Không lấy được số thứ tự", "Could not get a number"),
    "ask_staff": Words("Vui lòng liên hệ cán bộ hướng dẫn", "Please ask a staff member for help"),
    "banner_offline": Words(
        "Hệ thống đang bận, vui lòng chờ hoặc liên hệ cán bộ hướng dẫn",
        "The system is busy. Please wait or ask a staff member",
    ),
    "banner_paper": Words(
        "Máy in tạm hết giấy: số thứ tự sẽ hiện trên màn hình",
        "The printer is out of paper: your number will be shown on screen",
    ),
    "banner_printer": Words(
        "Máy in đang gặp sự cố: số thứ tự sẽ hiện trên màn hình",
        "The printer has a problem: your number will be shown on screen",
    ),
}


@dataclass(frozen=True)
class ServiceButton:
    """One service on the home screen: its name, and its state in a main line and a detail line."""

    id: str
    name: str
    name2: str
    #: "Đang chờ: 5 người", "Không có ai chờ", "Ngoài giờ làm việc", "Đã hết số hôm nay" (or "").
    status: str
    #: "khoảng 15 phút", or the opening hours of a closed service (or "").
    detail: str
    enabled: bool
    waiting: int | None = None
    est_wait_s: int | None = None
    #: ``status`` and ``detail`` in the other language.
    status2: str = ""
    detail2: str = ""
    #: The service's picture (``icon`` in site.toml: kiosk_app/icons/{icon}.png), or None.
    icon: str | None = None


@dataclass(frozen=True)
class View:
    """Everything one screen shows, already in the chosen language (``text`` first, ``text2`` smaller)."""

    screen: Screen
    lang: Lang
    title: str = ""
    title2: str = ""
    number: str = ""
    priority: bool = False
    #: Lines under the title or number: (text, smaller text in the other language).
    lines: tuple[tuple[str, str], ...] = ()
    services: tuple[ServiceButton, ...] = ()
    actions: tuple[Action, ...] = ()
    banner: str = ""
    banner2: str = ""
    busy: bool = False
    languages: tuple[Lang, ...] = ("vi", "en")
    #: The page of services shown (0-based) and how many pages there are (home screen): a panel too
    #: small for every service at the legible sizes pages them (``Trang 1/2``) instead of shrinking.
    page: int = 0
    pages: int = 1
    #: The services on this page (ids; empty: every service is on the screen).
    shown: tuple[str, ...] = ()
    #: The home screen's code entries ("Tôi có lịch hẹn", "Nhận kết quả") and its scan hint.
    entries: tuple[Action, ...] = ()
    hint: tuple[str, str] = ("", "")
    #: The keypad: the code typed so far, the keys shown, and whether the line under it is an error.
    entry: str = ""
    keys: tuple[str, ...] = ()
    error: bool = False


@dataclass
class _Live:
    """The latest retained ``state/service/{id}`` of one service."""

    open: bool | None = None
    waiting: int | None = None
    est_wait_s: int | None = None
    est_wait_range_s: tuple[int, int] | None = None
    remaining: int | None = None
    hours: list[str] | None = None


@dataclass
class _Request:
    service: str
    priority: bool
    command_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: More ``issue`` args: ``booking``, ``dossier``, ``priority_reason``.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The name to tell the clerk after the ticket is issued (``[citizen_id] prefill_name``).
    note: str | None = field(default=None, repr=False)


def _thread_runner(job: Callable[[], None]) -> None:
    threading.Thread(target=job, name="kiosk-issue", daemon=True).start()


def minutes_text(est_wait_s: int, lang: Lang, est_wait_range_s: Sequence[int] | None = None) -> str:
    """A short wait estimate: "khoảng 15 phút", "khoảng 10–20 phút", "dưới 5 phút" (ticket.told_wait)."""
    vi, en, _ = told_wait(int(est_wait_s), est_wait_range_s)
    return (vi if lang == "vi" else en).replace("\u00a0", " ")


class KioskViewModel(CodeFlows, Observable, PressGuard):
    """The kiosk's state machine. Thread-safe: taps come from the UI, results from the worker."""

    def __init__(
        self,
        cfg: SiteConfig,
        device_id: str,
        backend: KioskBackend,
        *,
        clock: Callable[[], float] = time.monotonic,
        runner: Callable[[Callable[[], None]], None] = _thread_runner,
        connected: Callable[[], bool] = lambda: True,
        guard_s: float = 0.8,
        codes: CodeBackend | None = None,
        features: Features | None = None,
        read_scan: Callable[[str], Read] | None = None,
        read_typed: Callable[[str], Read] = _read_typed,
        today: Callable[[], date] | None = None,
    ) -> None:
        dev = cfg.device(device_id)
        if dev.role != "kiosk":
            raise ValueError(f"{device_id} is a {dev.role} device, not a kiosk")
        self.cfg = cfg
        self.device_id = device_id
        self.backend = backend
        self.clock = clock
        self.runner = runner
        self.connected = connected
        self.guard_s = guard_s
        self.idle_s = float(cfg.kiosk.idle_s)
        self.ask_priority = cfg.kiosk.priority
        self.languages: tuple[Lang, ...] = tuple(cfg.kiosk.languages)
        #: The code flows (flows.py): what this kiosk offers, its look-ups, how it reads codes.
        self.features = features if features is not None else Features.of(cfg, device_id)
        self.codes = codes
        self._today = today or (lambda: business_day(cfg, datetime.now(cfg.site.tz)))
        self.read_scan = read_scan or (lambda text: _read_scan(text, self._today()))
        self.read_typed = read_typed
        self.lookup_s = float(cfg.kiosk.lookup_s)
        self.flow = FlowState()
        offered = dev.services or [s.id for s in cfg.services]
        self.services: list[ServiceConfig] = [cfg.service(sid) for sid in offered]
        self._live: dict[str, _Live] = {s.id: _Live() for s in self.services}
        self._init_observable()
        self.screen: Screen = "lookup_home" if self.features.lookup_only else "home"
        self.lang: Lang = self.languages[0]
        self.busy = False
        self.printer_state = "ok"
        self._service: str | None = None  # the service chosen (priority screen and after)
        self._request: _Request | None = None  # the last request (kept for "try again")
        self._result: dict[str, Any] | None = None
        self._printed = False
        self._activity = clock()
        self._guard_until = float("-inf")
        self._was_connected = True
        #: The home screen's page of services, and the page count the screen last laid out.
        self.page = 0
        self.pages = 1
        self._page_ids: list[tuple[str, ...]] = []
        #: Every accepted issue, in order (for tests and the operator log): (service, priority).
        self.requests: list[tuple[str, bool]] = []
        #: Reads a screen aloud (kiosk_app.ticket_kiosk.read_aloud.ReadAloud.read) when the kiosk's
        #: ``read_aloud`` is on; None: no speaker button.
        self.speak: Callable[[View], None] | None = None

    # -- inputs from the shell ------------------------------------------------------------
    def on_service_state(self, payload: Mapping[str, Any]) -> None:
        """A retained ``state/service/{id}`` message."""
        sid = payload.get("service")
        if not isinstance(sid, str) or sid not in self._live:
            return
        live = self._live[sid]
        if isinstance(payload.get("open"), bool):
            live.open = payload["open"]
        fields = (("waiting", "waiting"), ("est_wait_s", "est_wait_s"), ("remaining_today", "remaining"))
        for key, attr in fields:
            value = payload.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                setattr(live, attr, value)
        if "est_wait_range_s" in payload or "est_wait_s" in payload:
            live.est_wait_range_s = parse_wait_range(payload.get("est_wait_range_s"))
        hours = payload.get("hours")
        if isinstance(hours, list) and all(isinstance(h, str) for h in hours):
            live.hours = list(hours)
        self._changed()

    def set_printer_state(self, state: str) -> None:
        """The printer's latest health state: ok, paper_low, paper_out, offline or error."""
        if state != self.printer_state:
            self.printer_state = state
            self._changed()

    # -- taps -----------------------------------------------------------------------------
    def today(self) -> date:
        """The site's business day (the day bookings are checked against)."""
        return self._today()

    def tap_service(self, service: str) -> bool:
        """A service button on the home screen; return whether the tap was taken."""
        with self._cond:
            if self.screen != "home" or service not in self._live or not self._accept_press("double tap"):
                return False
            self._service = service
            live = self._live[service]
            if live.open is False:
                self._go("closed")
            elif live.remaining == 0:
                self._go("limit")
            elif self.ask_priority and not self.flow.card_priority:
                self._go("priority")
            else:
                self._start(self._card_request(service, self.flow.card_priority))
        self._changed()
        return True

    def choose_priority(self, priority: bool) -> bool:
        """The answer on the priority screen; return whether the tap was taken."""
        with self._cond:
            if self.screen != "priority" or self._service is None or not self._accept_press("double tap"):
                return False
            self._start(self._card_request(self._service, priority))
        self._changed()
        return True

    def read_aloud(self) -> bool:
        """The speaker button: read the current screen aloud (off the UI thread); it counts as a
        touch, so the screen does not time out under the citizen who listens."""
        if self.speak is None:
            return False
        with self._cond:
            self._activity = self.clock()
        self.speak(self.view())
        return True

    def press(self, action: str) -> bool:
        """A button under a message (``back``, ``ok``, ``retry``, ``normal``, ``priority``)."""
        if action in ("normal", "priority"):
            return self.choose_priority(action == "priority")
        if action in ("next_page", "prev_page"):
            return self._turn(1 if action == "next_page" else -1)
        taken = self.flow_press(action)
        if taken is not None:
            return taken
        with self._cond:
            if self.screen in ("home", "lookup_home") or not self._accept_press("double tap"):
                return False
            if action == "retry" and self.screen == "unreachable" and self._request is not None:
                # The same command id: if the first try did reach the controller, this returns that ticket.
                self._start(self._request)
            else:
                self._home()
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

    def set_pages(self, pages: int, ids: Sequence[Sequence[str]] = ()) -> None:
        """How many pages of services the screen needs (it knows the panel; the view-model does not),
        and which services each shows (``ids``, for reading the page aloud). Keeps the page in range;
        no change is announced (the screen is being drawn)."""
        with self._cond:
            self.pages = max(1, int(pages))
            self.page = min(self.page, self.pages - 1)
            self._page_ids = [tuple(p) for p in ids] if len(ids) == self.pages else []

    def next_page(self) -> bool:
        """The "Trang sau ▶" arrow: the next page of services; return whether there was one."""
        return self._turn(+1)

    def prev_page(self) -> bool:
        """The "◀ Trang trước" arrow: the previous page of services; return whether there was one."""
        return self._turn(-1)

    def _turn(self, step: int) -> bool:
        with self._cond:
            self._activity = self.clock()
            page = self.page + step
            if self.screen != "home" or not 0 <= page < self.pages:
                return False
            self.page = page
        self._changed()
        return True

    def take_number(self, service: str, priority: bool = False) -> bool:
        """Issue a ticket in one step, from any screen but printing (the headless trigger; no tap guard)."""
        with self._cond:
            self._activity = self.clock()
            if self.busy or service not in self._live or self.features.lookup_only:
                return False
            self._service = service
            self._start(self._card_request(service, priority or self.flow.card_priority))
        self._changed()
        return True

    def check_connection(self) -> None:
        """Notice a lost (or regained) broker connection (listeners hear of it)."""
        connected = self.connected()
        if connected != self._was_connected:
            self._was_connected = connected
            self._changed()

    def tick(self) -> None:
        """Called a few times a second: notice a lost (or regained) connection, and return home after
        ``[kiosk] idle_s`` without a touch."""
        self.check_connection()
        self.check_lookup()
        with self._cond:
            if self.busy:
                return
            idle = self.clock() - self._activity
            limit = self.idle_s * (2 if self.screen in ("paper_out", "printer_error") else 1)
            if idle < limit:
                return
            home = "lookup_home" if self.features.lookup_only else "home"
            if (
                self.screen == home
                and self.lang == self.languages[0]
                and self.page == 0
                and self.flow.card is None
            ):
                return
            self._home()
            self.lang = self.languages[0]
        self._changed()

    # -- the request ----------------------------------------------------------------------
    def _go(self, screen: Screen) -> None:
        self.screen = screen

    def _home(self) -> None:
        self.screen = "lookup_home" if self.features.lookup_only else "home"
        self._service = None
        self._result = None
        self._request = None
        self.page = 0
        self.flow.clear()  # the card (and any code typed) is forgotten

    def _card_request(self, service: str, priority: bool) -> _Request:
        """A request for ``service``, with what a consented card adds (priority by age, the name)."""
        card_priority, extra, note = self._extra()
        if card_priority and priority:
            return _Request(service, True, extra=extra, note=note)
        extra.pop("priority_reason", None)
        return _Request(service, priority, extra=extra, note=note)

    def _issue(self, service: str, priority: bool, extra: dict[str, Any], note: str | None) -> None:
        """Issue a ticket from a code flow (a booking, a result pickup, a fallback)."""
        self._service = service
        self._start(_Request(service, priority, extra=dict(extra), note=note))

    def _start(self, req: _Request) -> None:
        if self.features.lookup_only:  # a lookup-only kiosk never issues a ticket
            log.error("%s: a lookup-only kiosk was asked for a ticket", self.device_id)
            self._home()
            return
        if not self.connected():
            self._request = req
            self._service = req.service
            self._go("unreachable")
            return
        self.busy = True
        self._request = req
        self._result = None
        self._printed = False
        self.requests.append((req.service, req.priority))
        self._go("printing")
        self.runner(lambda: self._work(req))

    def _work(self, req: _Request) -> None:
        screen: Screen = "done"
        result: dict[str, Any] | None = None
        try:
            if req.extra:
                result = self.backend.issue(req.service, req.priority, req.command_id, req.extra)
            else:
                result = self.backend.issue(req.service, req.priority, req.command_id)
        except CommandFailed as exc:
            # expired / unavailable / rate_limited: nothing was done, and "try again" may well work:
            # the citizen sees "busy", not "error".
            refusals: dict[str, Screen] = {
                "service_closed": "closed",
                "daily_limit": "limit",
                "expired": "unreachable",
                "unavailable": "unreachable",
                "rate_limited": "unreachable",
            }
            screen = refusals.get(exc.code) or self.refused(exc.code, exc.message) or "error"
            log.warning("%s: issue %s refused: %s", self.device_id, req.service, exc)
        except (NoReply, BrokerUnreachable, ConnectionError) as exc:
            screen = "unreachable"
            log.error("%s: issue %s: %s", self.device_id, req.service, exc)
        except Exception:
            screen = "error"
            log.exception("%s: issue %s failed", self.device_id, req.service)
        if result is not None:
            with self._cond:
                self._result = result
            self._changed()  # the number is known: "printing" now shows it
            if req.note and self.codes is not None:
                ticket_id = str((result.get("ticket") or {}).get("id", ""))
                try:
                    self.codes.publish_citizen(ticket_id, req.note)
                except Exception as exc:  # the clerk types the name instead; never log it
                    log.error(
                        "%s: citizen note for %s not sent: %s", self.device_id, ticket_id, type(exc).__name__
                    )
            req.note = None
            try:
                self.backend.print_ticket(result)
                self._printed = True
            except PaperOut as exc:
                screen = "paper_out"
                log.error("%s: %s not printed: %s", self.device_id, _number(result), exc)
            except PrinterError as exc:
                screen = "printer_error"
                log.error("%s: %s not printed: %s", self.device_id, _number(result), exc)
            except Exception:
                screen = "printer_error"
                log.exception("%s: %s not printed", self.device_id, _number(result))
        with self._cond:
            if screen not in ("unreachable",):
                self._request = None  # finished: "try again" would be a new request
            self.busy = False
            now = self.clock()
            self._activity = now
            self._guard_until = max(self._guard_until, now + self.guard_s)
            self._go(screen)
        self._changed()

    # -- the view -------------------------------------------------------------------------
    @property
    def result(self) -> dict[str, Any] | None:
        """The last ``issue`` result (while its screen shows)."""
        return self._result

    def view(self) -> View:
        """What the current screen shows."""
        with self._cond:
            return self._view()

    def _w(self, key: str, **kw: Any) -> tuple[str, str]:
        a, b = T[key].pick(self.lang)
        return a.format(**kw), b.format(**kw)

    def _names(self, sid: str) -> tuple[str, str]:
        conf = self.cfg.service(sid)
        name, name_en = nfc(conf.name), nfc(conf.name_en) or nfc(conf.name)
        return (name, conf.name_en) if self.lang == "vi" else (name_en, name if conf.name_en else "")

    def _hours(self, sid: str) -> str:
        live = self._live.get(sid)
        hours = (live.hours if live and live.hours is not None else None) or self.cfg.service(sid).hours
        return ", ".join(h.replace("-", "–") for h in hours)

    def _button(self, conf: ServiceConfig) -> ServiceButton:
        live = self._live[conf.id]
        name, name2 = self._names(conf.id)
        lang: Lang = self.lang
        other: Lang = "en" if lang == "vi" else "vi"
        enabled = True
        detail = detail2 = ""
        if live.open is False:
            enabled = False
            status, status2 = self._w("svc_closed")
            hours = self._hours(conf.id)
            if hours:
                detail, detail2 = self._w("svc_hours", hours=hours)
        elif live.remaining == 0:
            enabled = False
            status, status2 = self._w("svc_full")
        elif live.waiting is None:
            status = status2 = ""
        elif live.waiting == 0:
            status, status2 = self._w("nobody")
        else:
            status, status2 = self._w("waiting", n=live.waiting)
            est = live.est_wait_s or 0
            rng = live.est_wait_range_s
            detail, detail2 = minutes_text(est, lang, rng), minutes_text(est, other, rng)
        return ServiceButton(
            conf.id,
            name,
            name2,
            status,
            detail,
            enabled,
            live.waiting,
            live.est_wait_s,
            status2,
            detail2,
            conf.icon,
        )

    def _banner(self) -> tuple[str, str]:
        if self.flow.card is not None and self.screen in ("home", "priority"):
            return self.card_banner()
        if not self.connected():
            return self._w("banner_offline")
        if self.printer_state == "paper_out":
            return self._w("banner_paper")
        if self.printer_state in ("offline", "error"):
            return self._w("banner_printer")
        return "", ""

    def _ticket_lines(self, result: Mapping[str, Any], *, take: bool) -> list[tuple[str, str]]:
        ticket = result.get("ticket") or {}
        lines = [self._names(str(ticket.get("service", self._service or "")))]
        ahead_vi, ahead_en = format_ahead(int(result.get("ahead", 0)))
        wait_vi, wait_en = format_wait(
            int(result.get("est_wait_s", 0)), parse_wait_range(result.get("est_wait_range_s"))
        )
        pick = (lambda vi, en: (vi, en)) if self.lang == "vi" else (lambda vi, en: (en, vi))
        lines.append(pick(ahead_vi, ahead_en))
        lines.append(pick(wait_vi.replace("\u00a0", " "), wait_en))
        lines[1:1] = self.booking_done_lines(dict(result))
        if take:
            lines.append(self._w("take_ticket"))
        return lines

    def _view(self) -> View:
        base: dict[str, Any] = {"screen": self.screen, "lang": self.lang, "languages": self.languages}
        base.update(page=self.page, pages=self.pages)
        banner, banner2 = self._banner()
        base.update(banner=banner, banner2=banner2, busy=self.busy)
        s = self.screen
        name = self._names(self._service)[0] if self._service else ""
        back = Action("back", *self._w("back"))
        lines: tuple[tuple[str, str], ...]
        if s == "home":
            title, title2 = self._w("home_title")
            buttons = tuple(self._button(conf) for conf in self.services)
            pager: tuple[Action, ...] = ()
            if self.pages > 1:  # the arrows; "page" is the "Trang 1/2" between them
                pager = (
                    Action("prev_page", *self._w("page_prev"), primary=self.page > 0),
                    Action("page", *self._w("page", n=self.page + 1, of=self.pages)),
                    Action("next_page", *self._w("page_next"), primary=self.page < self.pages - 1),
                )
            shown = self._page_ids[self.page] if self.pages > 1 and self._page_ids else ()
            entries, hint = self.home_entries()
            return View(**base, title=title, title2=title2, services=buttons, actions=pager, shown=shown,
                        entries=entries, hint=hint)  # fmt: skip
        if s in FLOW_SCREENS:
            return View(**{**base, **self.flow_view(base)})
        if s == "priority":
            title, title2 = self._w("prio_title")
            actions = (
                Action("normal", *self._w("prio_no"), primary=True),
                Action("priority", *self._w("prio_yes"), primary=True),
                back,
            )
            lines = (self._names(self._service or ""), self._w("prio_who"))
            return View(**base, title=title, title2=title2, lines=lines, actions=actions)
        result = self._result or {}
        ticket = result.get("ticket") or {}
        number = str(ticket.get("number", ""))
        prio = bool(ticket.get("priority"))
        if s == "printing":
            title, title2 = self._w("printing" if number else "issuing")
            return View(**base, title=title, title2=title2, number=number, priority=prio)
        if s == "done":
            title, title2 = self._w("done_title")
            lines = tuple(self._ticket_lines(result, take=True))
            return View(
                **base, title=title, title2=title2, number=number, priority=prio, lines=lines,
                actions=(Action("ok", *self._w("ok"), primary=True),),
            )  # fmt: skip
        if s in ("paper_out", "printer_error"):
            title, title2 = self._w("paper_title" if s == "paper_out" else "printer_title")
            lines = (self._w("kept_place"), *self._ticket_lines(result, take=False))
            return View(
                **base, title=title, title2=title2, number=number, priority=prio, lines=lines,
                actions=(Action("ok", *self._w("noted"), primary=True),),
            )  # fmt: skip
        if s == "closed":
            title, title2 = self._w("closed_title", name=name)
            lines = ()
            hours = self._hours(self._service) if self._service else ""
            if hours:
                lines += (self._w("svc_hours", hours=hours),)
            lines += (self._w("closed_come_back"),)
            return View(**base, title=title, title2=title2, lines=lines, actions=(back,))
        if s == "limit":
            title, title2 = self._w("limit_title", name=name)
            return View(**base, title=title, title2=title2, lines=(self._w("limit_hint"),), actions=(back,))
        if s == "unreachable":
            title, title2 = self._w("busy_title")
            retry = Action("retry", *self._w("retry"), primary=True)
            return View(**base, title=title, title2=title2, actions=(retry, back))
        title, title2 = self._w("error_title")
        return View(**base, title=title, title2=title2, lines=(self._w("ask_staff"),), actions=(back,))


def _number(result: Mapping[str, Any]) -> str:
    return str((result.get("ticket") or {}).get("number", "?"))

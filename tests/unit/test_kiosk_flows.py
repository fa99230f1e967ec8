"""The kiosk's code flows (kiosk_app/ticket_kiosk/flows.py): appointments, result pickup, identity
cards, the keypad, a back end that is down or never answers, a lookup-only kiosk, and that nothing
of a card is kept after its flow. No I/O: fakes of the view-model's Protocols, an injected clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from kiosk_app.ticket_kiosk.codes import (
    BadRead,
    BookingInfo,
    CardRead,
    CodeRead,
    DossierInfo,
    Features,
    LookupFailed,
    Outcome,
    Read,
    initials,
)
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel
from onestop.device import CommandFailed
from tests.conftest import SiteFactory
from tests.utils.viewmodel import Clock, Runner

TZ = timezone(timedelta(hours=7))
TODAY = date(2026, 12, 4)
SLOT = datetime(2026, 12, 4, 9, 0, tzinfo=TZ)
NAME = "Nguyễn Văn Trường An"
ID_NUMBER = "001099012345"


class Backend:
    """Issues A001, A002, … and records every issue's args; looks codes up from a table."""

    def __init__(self) -> None:
        self.issue_error: Exception | None = None
        self.issued: list[tuple[str, bool, dict[str, Any]]] = []
        self.printed: list[str] = []
        self.answers: dict[tuple[str, str], Outcome] = {}
        self.asked: list[tuple[str, str]] = []
        self.notes: list[tuple[str, str]] = []
        self.lookup_error: Exception | None = None

    def issue(
        self, service: str, priority: bool, command_id: str, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        self.issued.append((service, priority, dict(extra or {})))
        if self.issue_error is not None:
            raise self.issue_error
        n = len(self.issued)
        ticket: dict[str, Any] = {"id": f"20261204-A{n:03d}", "number": f"A{n:03d}", "service": service,
                                  "priority": priority, "booking": None, "dossier": None}  # fmt: skip
        result: dict[str, Any] = {"ticket": ticket, "ahead": 2, "est_wait_s": 600}
        if extra and "booking" in extra:
            ticket["booking"] = {
                **extra["booking"],
                "status": "on_time",
                "due_at": extra["booking"]["slot_start"],
            }
            result["booking_status"] = "on_time"
        if extra and "dossier" in extra:
            ticket["dossier"] = extra["dossier"]
        return result

    def print_ticket(self, result: Mapping[str, Any]) -> None:
        self.printed.append(result["ticket"]["number"])

    def lookup(self, kind: str, code: str) -> Outcome:
        self.asked.append((kind, code))
        if self.lookup_error is not None:
            raise self.lookup_error
        return self.answers.get((kind, code), LookupFailed("not_found"))

    def publish_citizen(self, ticket_id: str, name: str) -> None:
        self.notes.append((ticket_id, name))


def fake_read(text: str) -> Read:
    """What onestop.scan_codes would say, for the codes these tests use."""
    t = text.strip().upper()
    if t.startswith("DL") and len(t) > 6:
        return CodeRead("booking", t)
    if t.count("-") == 2 and t[-4:].isdigit():
        return CodeRead("dossier", t)
    if t.startswith(ID_NUMBER):
        return CardRead(NAME, date(1948, 5, 1), ID_NUMBER)
    if t.startswith("YOUNG"):
        return CardRead("Lê Thị Bình", date(1990, 1, 1), "001190000001")
    return BadRead("unknown", "Không nhận ra mã này.", "Not recognised.")


@dataclasses.dataclass
class Scan:
    text: str
    complete: bool = True
    source: str = "sim"


ALL = Features(bookings=True, dossier_service="trakq", cards=True, priority_age=75, prefill_name=True,
               find_bookings=True, find_dossiers=True)  # fmt: skip
Make = Callable[..., tuple[KioskViewModel, Backend, Runner, Clock]]


@pytest.fixture
def make(site_factory: SiteFactory) -> Make:
    def build(
        features: Features = ALL, *, connected: bool = True
    ) -> tuple[KioskViewModel, Backend, Runner, Clock]:
        from tests.utils.site import SITE

        services = [*SITE["services"], {"id": "trakq", "name": "Trả kết quả", "prefix": "K", "digits": 3}]
        cfg = site_factory({"kiosk": {"idle_s": 30}, "services": services})
        backend, runner, clock = Backend(), Runner(), Clock()
        vm = KioskViewModel(cfg, "kiosk-1", backend, clock=clock, runner=runner, connected=lambda: connected,
                            codes=backend, features=features, read_scan=fake_read, read_typed=fake_read,
                            today=lambda: TODAY)  # fmt: skip
        return vm, backend, runner, clock

    return build


def booking(
    code: str = "DL24120400017", status: str = "booked", start: datetime = SLOT, **kw: Any
) -> BookingInfo:
    return BookingInfo(code, "tuphap", start, start + timedelta(minutes=15), "N.V.A.", status, **kw)  # type: ignore[arg-type]


def dossier(ready: bool, status: str = "ready", promised: date | None = date(2026, 12, 10)) -> DossierInfo:
    return DossierInfo(
        "000.00.12.H23-241204-0003", "Cấp bản sao trích lục khai sinh", status, ready, promised
    )  # type: ignore[arg-type]


def texts(vm: KioskViewModel) -> str:
    v = vm.view()
    return "\n".join([v.title, v.title2, *(a for a, _ in v.lines), *(b for _, b in v.lines)])


# -- home --------------------------------------------------------------------------------------------


def test_home_offers_the_entries_the_site_configures_and_the_scan_hint(make: Make) -> None:
    vm, *_ = make()
    v = vm.view()
    assert [(a.id, a.text, a.text2) for a in v.entries] == [
        ("appointment", "Tôi có lịch hẹn", "I have an appointment"),
        ("result", "Nhận kết quả", "Collect a result"),
    ]
    assert v.hint[0] == "Quét mã trên giấy hẹn hoặc thẻ căn cước"
    plain, *_ = make(Features())
    assert plain.view().entries == () and plain.view().hint == ("", "")
    only_bookings, *_ = make(Features(bookings=True))
    assert [a.id for a in only_bookings.view().entries] == ["appointment"]
    assert only_bookings.view().hint[0] == "Quét mã trên giấy hẹn hoặc mã đặt lịch"


# -- appointments ------------------------------------------------------------------------------------


def test_a_scanned_booking_is_looked_up_shown_and_issued_as_booked(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    assert vm.on_scan(Scan("DL24120400017"))
    assert vm.view().screen == "looking" and vm.view().busy
    runner.run_all()
    v = vm.view()
    assert v.screen == "booking"
    assert (
        "Lịch hẹn 09:00–09:15, Tư pháp – Hộ tịch",
        "Appointment 09:00–09:15, Tư pháp - Hộ tịch",
    ) in v.lines
    assert ("Người đặt: N.V.A.", "Booked by: N.V.A.") in v.lines
    assert [a.id for a in v.actions] == ["take", "back"] and v.actions[0].text == "Lấy số"
    clock.advance(1)
    assert vm.press("take")
    runner.run_all()
    service, priority, extra = backend.issued[0]
    assert (service, priority) == ("tuphap", False)
    assert extra == {"booking": {"code": "DL24120400017", "slot_start": SLOT.isoformat(),
                                 "slot_end": (SLOT + timedelta(minutes=15)).isoformat()}}  # fmt: skip
    v = vm.view()
    assert v.screen == "done" and v.number == "A001"
    assert "Bạn có lịch hẹn: sẽ được gọi gần giờ hẹn" in [a for a, _ in v.lines]


def test_typing_a_booking_code_on_the_keypad(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    assert vm.press("appointment")
    v = vm.view()
    assert v.screen == "keypad" and v.entry == "DL" and "0" in v.keys and "-" in v.keys
    assert v.title == "Nhập mã đặt lịch"
    for key in "2412040001":
        assert vm.press(f"key:{key}")
    vm.press("key:8")
    vm.press("erase")
    vm.press("key:7")
    assert vm.view().entry == "DL24120400017"
    vm.press("keys:letters")
    assert "Q" in vm.view().keys and "0" not in vm.view().keys
    vm.press("keys:digits")
    clock.advance(1)
    assert vm.press("find")
    runner.run_all()
    assert backend.asked == [("booking", "DL24120400017")] and vm.view().screen == "booking"


def test_a_typed_code_that_is_no_code_stays_on_the_keypad_with_the_reason(make: Make) -> None:
    vm, backend, _runner, clock = make()
    vm.press("appointment")
    vm.press("key:1")
    clock.advance(1)
    assert vm.press("find")
    v = vm.view()
    assert v.screen == "keypad" and v.error and v.lines[0][0] == "Mã chưa đúng dạng, xin kiểm tra lại"
    assert v.entry == "DL1" and backend.asked == []


def test_the_keypad_takes_at_most_a_codes_length(make: Make) -> None:
    vm, *_ = make()
    vm.press("result")
    for _ in range(100):
        vm.press("key:1")
    assert len(vm.view().entry) == 32


@pytest.mark.parametrize(
    ("found", "screen", "title"),
    [
        (booking(status="used"), "booking_used", "Mã đặt lịch này đã được dùng hôm nay"),
        (booking(status="cancelled"), "booking_cancelled", "Lịch hẹn này đã bị hủy"),
        (booking(start=SLOT + timedelta(days=2)), "booking_other", "Lịch hẹn của bạn là ngày 06/12/2026"),
        (booking(site="other-site"), "booking_other", "Lịch hẹn này không phải tại trung tâm này"),
        (LookupFailed("not_found"), "not_found", "Không tìm thấy lịch hẹn với mã này"),
    ],
)
def test_bookings_that_give_no_ticket(make: Make, found: Outcome, screen: str, title: str) -> None:
    vm, backend, runner, _clock = make()
    backend.answers[("booking", "DL24120400017")] = found
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    v = vm.view()
    assert (v.screen, v.title) == (screen, title)
    assert backend.issued == []


def test_early_refused_names_the_time_to_come_back(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    backend.issue_error = CommandFailed("issue", "booking_early", "booking DL24120400017: come back at 08:45")
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    clock.advance(1)
    vm.press("take")
    runner.run_all()
    v = vm.view()
    assert v.screen == "booking_early" and v.title == "Bạn đến sớm hơn giờ hẹn"
    assert ("Xin mời quay lại lúc 08:45", "Please come back at 08:45") in v.lines


def test_late_refused_offers_a_normal_ticket_of_the_booked_service(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    backend.issue_error = CommandFailed("issue", "booking_late", "booking DL1: the window closed at 09:10")
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    clock.advance(1)
    vm.press("take")
    runner.run_all()
    v = vm.view()
    assert (
        v.screen == "booking_late"
        and ("Lịch hẹn chỉ nhận đến 09:10", "Appointments were taken until 09:10") in v.lines
    )
    backend.issue_error = None
    clock.advance(1)
    assert vm.press("walk_in")
    runner.run_all()
    assert backend.issued[-1] == ("tuphap", False, {}) and vm.view().screen == "done"


def test_used_refused_by_the_controller(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    backend.issue_error = CommandFailed("issue", "booking_used", "already")
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    clock.advance(1)
    vm.press("take")
    runner.run_all()
    assert vm.view().screen == "booking_used"


def test_an_early_booked_ticket_says_when_it_will_be_called(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    issue = backend.issue

    def early(*args: Any) -> dict[str, Any]:
        result = issue(*args)
        result["booking_status"] = "early"
        result["ticket"]["booking"]["due_at"] = (SLOT - timedelta(minutes=15)).isoformat()
        return result

    backend.issue = early  # type: ignore[method-assign]
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    clock.advance(1)
    vm.press("take")
    runner.run_all()
    assert (
        "Bạn đến sớm: sẽ được gọi từ 08:45",
        "You are early: you will be called from 08:45",
    ) in vm.view().lines


# -- result pickup -----------------------------------------------------------------------------------


def test_a_ready_dossier_gives_a_result_return_ticket_with_the_dossier_code(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("dossier", "000.00.12.H23-241204-0003")] = dossier(True)
    vm.on_scan(Scan("000.00.12.H23-241204-0003"))
    runner.run_all()
    v = vm.view()
    assert v.screen == "dossier" and v.title == "Hồ sơ đã có kết quả"
    assert v.actions[0].text == "Lấy số nhận kết quả"
    clock.advance(1)
    vm.press("take")
    runner.run_all()
    assert backend.issued == [("trakq", False, {"dossier": "000.00.12.H23-241204-0003"})]
    assert "Nhận kết quả hồ sơ 000.00.12.H23-241204-0003" in [a for a, _ in vm.view().lines]


def test_a_dossier_not_ready_shows_status_and_promised_date_and_issues_nothing(make: Make) -> None:
    vm, backend, runner, _clock = make()
    backend.answers[("dossier", "000.00.12.H23-241204-0003")] = dossier(False, "processing")
    vm.press("result")
    for ch in "000.00.12":
        vm.press(f"key:{ch}")
    vm.type_code("000.00.12.H23-241204-0003")
    runner.run_all()
    v = vm.view()
    assert v.screen == "dossier_status"
    assert v.title == "Hồ sơ đang xử lý, hẹn trả ngày 10/12/2026"
    assert v.title2 == "Your dossier is being processed, promised for 10/12/2026"
    assert backend.issued == []


def test_an_unknown_dossier(make: Make) -> None:
    vm, _backend, runner, clock = make()
    vm.on_scan(Scan("000.00.12.H23-241204-0009"))
    runner.run_all()
    assert vm.view().title == "Không tìm thấy hồ sơ với mã này"
    clock.advance(1)
    assert vm.press("type_again") and vm.view().screen == "keypad" and vm.view().entry == ""


# -- the back end down or slow ---------------------------------------------------------------------


def test_a_back_end_that_never_answers_gives_a_normal_ticket_after_the_deadline(make: Make) -> None:
    vm, backend, runner, clock = make()
    vm.on_scan(Scan("000.00.12.H23-241204-0003"))
    assert vm.view().screen == "looking"
    never = runner.jobs.pop()  # the look-up is on its way and never comes back
    assert vm.view().lines[0] == ("Còn tối đa 5 giây", "At most 5 more seconds")
    clock.advance(2.5)
    before = vm.version
    vm.tick()
    assert vm.view().lines[0][0] == "Còn tối đa 3 giây" and vm.version > before  # the countdown redrawn
    clock.advance(vm.lookup_s - 2.6)
    vm.tick()
    assert vm.view().screen == "looking"
    clock.advance(0.2)
    vm.tick()
    v = vm.view()
    assert v.screen == "lookup_down"
    assert v.title == "Không tra cứu được lúc này — bạn vẫn có thể lấy số thường"
    assert v.actions[0].id == "walk_in" and ("Trả kết quả", "Trả kết quả") in v.lines
    clock.advance(1)
    assert vm.press("walk_in")
    runner.run_all()
    assert backend.issued == [("trakq", False, {})] and vm.view().screen == "done"
    backend.answers[("dossier", "000.00.12.H23-241204-0003")] = dossier(True)
    never()  # the answer comes at last: ignored
    assert vm.view().screen == "done"


def test_a_failed_booking_lookup_offers_the_service_list(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = LookupFailed("unavailable", "backend_unavailable")
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    assert vm.view().screen == "lookup_down"
    clock.advance(1)
    vm.press("walk_in")
    assert vm.view().screen == "home" and backend.issued == []


def test_a_lookup_that_raises_is_the_back_end_down(make: Make) -> None:
    vm, backend, runner, _clock = make()
    backend.lookup_error = OSError("boom")
    vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    assert vm.view().screen == "lookup_down"


def test_without_a_broker_no_lookup_is_tried(make: Make) -> None:
    vm, backend, _runner, _clock = make(connected=False)
    vm.on_scan(Scan("DL24120400017"))
    assert vm.view().screen == "lookup_down" and backend.asked == []


def test_cancel_while_looking(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("booking", "DL24120400017")] = booking()
    vm.on_scan(Scan("DL24120400017"))
    clock.advance(1)
    assert vm.press("cancel")
    runner.run_all()
    assert vm.view().screen == "home"


# -- scans -------------------------------------------------------------------------------------------


def test_bad_and_partial_scans_say_so(make: Make) -> None:
    vm, *_ = make()
    vm.on_scan(Scan("garbage"))
    assert (vm.view().screen, vm.view().title) == ("scan_bad", "Không nhận ra mã này.")
    vm.on_scan(Scan("DL2412", complete=False))
    assert vm.view().title == "Chưa đọc hết mã, xin quét lại"
    from device_drivers.scanner import Scan as DriverScan

    assert vm.on_scan(DriverScan("DL24\ufffd00017", True, "sim", "undecodable"))
    assert vm.view().title == "Không đọc được mã, xin quét lại"


def test_a_reader_that_crashes_is_a_bad_scan(make: Make) -> None:
    vm, *_ = make()

    def boom(_text: str) -> Read:
        raise RuntimeError("bug")

    vm.read_scan = boom
    assert vm.on_scan(Scan("x")) and vm.view().screen == "scan_bad"


def test_a_scan_while_a_ticket_is_issued_is_ignored(make: Make) -> None:
    vm, _backend, runner, _clock = make(Features(bookings=True))
    vm.take_number("tuphap")
    assert not vm.on_scan(Scan("DL24120400017"))
    runner.run_all()
    assert vm.view().screen == "done"
    assert vm.on_scan(Scan("DL24120400017"))  # from the done screen: taken


def test_codes_the_kiosk_does_not_use(make: Make) -> None:
    vm, *_ = make(Features())
    vm.on_scan(Scan("DL24120400017"))
    assert vm.view().title.startswith("Máy này không nhận lịch hẹn")
    vm.on_scan(Scan("000.00.12.H23-241204-0003"))
    assert vm.view().title.startswith("Máy này không tra cứu hồ sơ")
    vm.on_scan(Scan(ID_NUMBER + "|…"))
    assert vm.view().title.startswith("Máy này không dùng thẻ căn cước") and vm.flow.card is None


# -- identity cards ----------------------------------------------------------------------------------


def _holds(obj: Any, needle: str, seen: set[int] | None = None) -> bool:
    """Whether ``needle`` is anywhere in ``obj``'s attributes (recursively)."""
    seen = seen if seen is not None else set()
    if id(obj) in seen:
        return False
    seen.add(id(obj))
    if isinstance(obj, str):
        return needle in obj
    if isinstance(obj, (int, float, bool, type(None), date, datetime)):
        return False
    if isinstance(obj, Mapping):
        return any(_holds(k, needle, seen) or _holds(v, needle, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return any(_holds(v, needle, seen) for v in obj)
    if dataclasses.is_dataclass(obj):
        return any(_holds(getattr(obj, f.name), needle, seen) for f in dataclasses.fields(obj))
    if hasattr(obj, "__dict__"):
        return any(
            _holds(v, needle, seen) for k, v in vars(obj).items() if k not in ("cfg", "backend", "codes")
        )
    return False


def test_a_card_asks_for_consent_first_and_shows_only_initials(make: Make) -> None:
    vm, backend, runner, clock = make(dataclasses.replace(ALL, find_bookings=False, find_dossiers=False))
    vm.on_scan(Scan(ID_NUMBER + "|"))
    v = vm.view()
    assert v.screen == "consent" and v.title == "Dùng thẻ căn cước của bạn?"
    assert v.lines[0][0].startswith(
        "Máy chỉ đọc mã QR trên thẻ để xét ưu tiên theo tuổi, báo họ tên cho cán bộ tiếp nhận hồ sơ"
    )
    assert "không được in, không hiện trên màn hình chung" in v.lines[0][0]
    assert v.lines[0][0].endswith("Bạn có thể bỏ qua và lấy số thông thường.")
    assert [a.id for a in v.actions] == ["agree", "decline"]
    assert NAME not in texts(vm) and backend.asked == []
    clock.advance(1)
    assert vm.press("agree")
    v = vm.view()
    assert v.screen == "home"
    assert v.banner == "Thẻ căn cước N.V.T.A.: số ưu tiên (từ 75 tuổi)"
    assert [a.id for a in v.entries] == ["forget"]
    clock.advance(1)
    assert vm.tap_service("datdai")  # priority known: no question
    runner.run_all()
    assert backend.issued == [("datdai", True, {"priority_reason": "age"})]
    assert backend.notes == [("20261204-A001", NAME)]
    v = vm.view()
    assert v.screen == "done" and v.priority
    for screen_text in (texts(vm), v.banner):
        assert NAME not in screen_text
    clock.advance(1)
    vm.press("ok")
    assert not _holds(vm, NAME) and not _holds(vm, ID_NUMBER)


def test_a_younger_card_holder_is_asked_the_priority_question(make: Make) -> None:
    vm, backend, runner, clock = make(dataclasses.replace(ALL, find_bookings=False, find_dossiers=False))
    vm.on_scan(Scan("YOUNG"))
    clock.advance(1)
    vm.press("agree")
    assert vm.view().banner == "Thẻ căn cước L.T.B."
    clock.advance(1)
    vm.tap_service("tuphap")
    assert vm.view().screen == "priority"
    clock.advance(1)
    vm.choose_priority(False)
    runner.run_all()
    assert backend.issued == [("tuphap", False, {})] and backend.notes[0][1] == "Lê Thị Bình"


def test_no_thanks_forgets_the_card(make: Make) -> None:
    vm, backend, _runner, clock = make()
    vm.on_scan(Scan(ID_NUMBER))
    clock.advance(1)
    assert vm.press("decline")
    assert vm.view().screen == "home" and vm.view().banner == ""
    assert not _holds(vm, NAME) and not _holds(vm, ID_NUMBER) and backend.asked == []


def test_the_idle_timeout_forgets_a_card_at_any_step(make: Make) -> None:
    vm, _backend, _runner, clock = make(dataclasses.replace(ALL, find_bookings=False, find_dossiers=False))
    vm.on_scan(Scan(ID_NUMBER))
    assert _holds(vm, NAME)
    clock.advance(31)
    vm.tick()
    assert vm.view().screen == "home" and not _holds(vm, NAME) and not _holds(vm, ID_NUMBER)
    vm.on_scan(Scan(ID_NUMBER))
    clock.advance(1)
    vm.press("agree")
    assert vm.view().screen == "home" and _holds(vm, NAME)  # home, with the card
    clock.advance(31)
    vm.tick()
    assert not _holds(vm, NAME) and vm.view().banner == ""


def test_with_consent_the_cards_booking_is_found(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("citizen_bookings", ID_NUMBER)] = (
        booking(status="used", code="DL0000000001"),
        booking(),
    )
    vm.on_scan(Scan(ID_NUMBER))
    clock.advance(1)
    vm.press("agree")
    assert vm.view().screen == "looking"
    runner.run_all()
    assert backend.asked == [("citizen_bookings", ID_NUMBER)]
    assert vm.view().screen == "booking"
    clock.advance(1)
    vm.press("take")
    runner.run_all()
    service, priority, extra = backend.issued[0]
    assert (service, priority, extra["priority_reason"], extra["booking"]["code"]) == (
        "tuphap",
        True,
        "age",
        "DL24120400017",
    )
    assert backend.notes == [("20261204-A001", NAME)]


def test_with_consent_a_ready_dossier_is_found_after_no_booking(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.answers[("citizen_bookings", ID_NUMBER)] = ()
    backend.answers[("citizen_dossiers", ID_NUMBER)] = (dossier(False, "processing"), dossier(True))
    vm.on_scan(Scan(ID_NUMBER))
    clock.advance(1)
    vm.press("agree")
    runner.run_all()
    assert backend.asked == [("citizen_bookings", ID_NUMBER), ("citizen_dossiers", ID_NUMBER)]
    assert vm.view().screen == "dossier"


def test_card_lookups_down_still_lead_to_the_services(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.lookup_error = TimeoutError()
    vm.on_scan(Scan(ID_NUMBER))
    clock.advance(1)
    vm.press("agree")
    runner.run_all()
    assert vm.view().screen == "home" and vm.view().banner.startswith("Thẻ căn cước N.V.T.A.")


def test_initials() -> None:
    assert initials("Nguyễn Văn An") == "N.V.A."
    assert initials("  đặng   thị  ") == "Đ.T."
    assert initials("") == ""
    assert repr(CardRead(NAME, date(1950, 1, 1), ID_NUMBER)) == "CardRead(…)"


# -- a lookup-only kiosk -----------------------------------------------------------------------------


def test_a_lookup_only_kiosk_looks_dossiers_up_and_never_issues(make: Make) -> None:
    vm, backend, runner, clock = make(Features(dossier_service="trakq", lookup_only=True))
    v = vm.view()
    assert v.screen == "lookup_home" and v.title == "Tra cứu kết quả hồ sơ" and v.actions[0].id == "result"
    backend.answers[("dossier", "000.00.12.H23-241204-0003")] = dossier(True)
    vm.on_scan(Scan("000.00.12.H23-241204-0003"))
    runner.run_all()
    v = vm.view()
    assert v.screen == "dossier_status" and v.title == "Hồ sơ đã có kết quả"
    assert "Mời bạn lấy số nhận kết quả tại máy lấy số" in [a for a, _ in v.lines]
    assert not vm.take_number("tuphap")
    vm.on_scan(Scan("DL24120400017"))
    assert vm.view().title.startswith("Máy này chỉ tra cứu hồ sơ")
    backend.lookup_error = OSError()
    vm.on_scan(Scan("000.00.12.H23-241204-0003"))
    runner.run_all()
    assert vm.view().screen == "lookup_down" and [a.id for a in vm.view().actions] == ["back"]
    clock.advance(31)
    vm.tick()
    assert vm.view().screen == "lookup_home"
    assert backend.issued == []


def test_every_flow_text_is_nfc_and_has_both_languages() -> None:
    import unicodedata

    from kiosk_app.ticket_kiosk.flow_words import W

    for key, words in W.items():
        assert words.vi and words.en, key
        assert unicodedata.normalize("NFC", words.vi) == words.vi, key


def test_read_aloud_reads_the_entries_and_the_flow_screens(make: Make) -> None:
    from kiosk_app.ticket_kiosk.read_aloud import screen_speech

    vm, *_ = make()
    said = screen_speech(vm.view())
    assert "Quét mã trên giấy hẹn hoặc thẻ căn cước" in said
    assert "Nút Tôi có lịch hẹn" in said and "Nút Nhận kết quả" in said
    vm.on_scan(Scan(ID_NUMBER))
    said = screen_speech(vm.view())
    assert said[0] == "Dùng thẻ căn cước của bạn?" and "Nút Đồng ý" in said
    assert not any(NAME in s for s in said)


def test_the_lookup_mode_and_deadline_in_site_toml(site_factory: SiteFactory) -> None:
    from onestop.errors import ConfigError
    from tests.utils.site import SITE

    devices = [dict(d) for d in SITE["devices"]]
    devices[0]["mode"] = "lookup"
    backend = {"url": "http://127.0.0.1:9/onestop", "token_env": "T"}
    cfg = site_factory({"devices": devices, "backend": backend, "kiosk": {"lookup_s": 4}})
    assert Features.of(cfg, "kiosk-1").lookup_only and cfg.kiosk.lookup_s == 4
    vm = KioskViewModel(cfg, "kiosk-1", Backend())
    assert vm.view().screen == "lookup_home" and vm.lookup_s == 4
    with pytest.raises(ConfigError, match=r"mode: a \"lookup\" kiosk .* needs \[backend\]"):
        site_factory({"devices": devices}, name="nobackend.toml")
    devices[0]["mode"] = "tickets"
    devices[1]["mode"] = "lookup"
    with pytest.raises(ConfigError, match="only kiosks have a mode"):
        site_factory({"devices": devices, "backend": backend}, name="counter.toml")
    devices[1]["mode"] = "sometimes"
    with pytest.raises(ConfigError, match="mode"):
        site_factory({"devices": devices}, name="bad.toml")


# -- the real readers (onestop.scan_codes) behind the view-model's ----------------------------------


def test_the_readers_over_the_real_classifier() -> None:
    from kiosk_app.ticket_kiosk.codes import read_scan, read_typed

    card = "001052012345|011234567|Nguyễn Văn An|15031952|Nam|Hà Nội|10052021"
    assert read_scan("DL24120400017") == CodeRead("booking", "DL24120400017")
    assert read_scan("000.00.12.H23-241204-0003") == CodeRead("dossier", "000.00.12.H23-241204-0003")
    url = "https://dichvucong.example.vn/tra-cuu?maHoSo=000.00.12.H23-241204-0003"
    assert read_scan(url) == CodeRead("dossier", "000.00.12.H23-241204-0003")
    read = read_scan(card, date(2026, 12, 4))
    assert isinstance(read, CardRead) and read.initials == "N.V.A." and read.age_on(date(2026, 12, 4)) == 74
    assert read.id_number == "001052012345" and "Nguyễn" not in repr(read)
    bad = read_scan("hello")
    assert isinstance(bad, BadRead) and bad.vi.startswith("Không nhận ra mã này")
    assert read_typed("dl 2412-0400017") == CodeRead("booking", "DL24120400017")
    assert isinstance(read_typed("12"), BadRead)


def test_the_screenshots_demo_card_is_a_valid_card() -> None:
    from kiosk_app.ticket_kiosk.codes import read_scan
    from kiosk_app.ticket_kiosk.screenshots import DEMO_NAME, _demo_card

    class Vm:
        def today(self) -> date:
            return TODAY

    read = read_scan(_demo_card(Vm()), TODAY)  # type: ignore[arg-type]
    assert isinstance(read, CardRead) and read.name == DEMO_NAME and read.age_on(TODAY) >= 75


# -- the headless trigger -----------------------------------------------------------------------------


def test_the_headless_trigger_scans_and_types(make: Make) -> None:
    import httpx

    from kiosk_app.ticket_kiosk.headless import HeadlessKiosk

    vm, backend, _runner, _clock = make()
    vm.runner = lambda job: job()
    vm.guard_s = 0
    backend.answers[("booking", "DL24120400017")] = booking()
    trigger = HeadlessKiosk(vm)
    trigger.start()
    try:
        r = httpx.post(f"{trigger.url}/scan", json={"text": "DL24120400017"}, timeout=10)
        assert r.status_code == 200 and r.json()["screen"] == "booking"
        r = httpx.post(f"{trigger.url}/press", json={"action": "take"}, timeout=10)
        assert r.json()["screen"] == "done" and backend.issued[0][2]["booking"]["code"] == "DL24120400017"
        r = httpx.post(f"{trigger.url}/type", json={"code": "000.00.12.H23-241204-0009"}, timeout=10)
        assert r.json()["screen"] == "not_found"
        for body in ({"text": ""}, {"text": 5}, {"text": "x" * 5000}):
            assert httpx.post(f"{trigger.url}/scan", json=body, timeout=10).status_code == 400
    finally:
        trigger.stop()

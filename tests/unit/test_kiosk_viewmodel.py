"""The kiosk view-model: every screen transition, error mapping, double tap and idle timeout (no I/O)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from device_drivers.printer import PaperOut, PrinterIOError, PrinterNotReady, PrinterStatus
from kiosk_app.ticket_kiosk.viewmodel import KioskViewModel, View
from onestop.config import SiteConfig
from onestop.device import CommandFailed, NoReply
from tests.conftest import SiteFactory
from tests.utils.viewmodel import Clock, Runner


class Backend:
    """Issues numbers A001, A002, … or raises what it is told to; records prints."""

    def __init__(self) -> None:
        self.issue_error: Exception | None = None
        self.print_error: Exception | None = None
        self.issued: list[tuple[str, bool, str]] = []
        self.printed: list[str] = []

    def issue(self, service: str, priority: bool, command_id: str) -> dict[str, Any]:
        self.issued.append((service, priority, command_id))
        if self.issue_error is not None:
            raise self.issue_error
        n = len(self.issued)
        ticket = {"id": f"20261123-A{n:03d}", "number": f"A{n:03d}", "service": service, "priority": priority}
        return {"ticket": ticket, "ahead": 4, "est_wait_s": 900}

    def print_ticket(self, result: Mapping[str, Any]) -> None:
        if self.print_error is not None:
            raise self.print_error
        self.printed.append(result["ticket"]["number"])


PAPER = "Máy in hết giấy — vui lòng ghi nhớ số của bạn:"
PRINTER = "Máy in đang gặp sự cố — vui lòng ghi nhớ số của bạn:"
Make = Callable[..., tuple[KioskViewModel, Backend, Runner, Clock]]


@pytest.fixture
def make(site_factory: SiteFactory) -> Make:
    """``make(kiosk=None, connected=True)``: a view-model over a fake backend, runner and clock."""

    def build(
        kiosk: dict[str, Any] | None = None, *, connected: bool = True, services: list[str] | None = None
    ) -> tuple[KioskViewModel, Backend, Runner, Clock]:
        overrides: dict[str, Any] = {"kiosk": {"idle_s": 30, **(kiosk or {})}}
        if services is not None:
            from tests.utils.site import SITE

            devices = [dict(d) for d in SITE["devices"]]
            devices[0]["services"] = services
            overrides["devices"] = devices
        cfg: SiteConfig = site_factory(overrides)
        backend, runner, clock = Backend(), Runner(), Clock()
        state = {"connected": connected}
        vm = KioskViewModel(
            cfg, "kiosk-1", backend, clock=clock, runner=runner, connected=lambda: state["connected"]
        )
        vm.connected_state = state  # type: ignore[attr-defined]
        return vm, backend, runner, clock

    return build


def _issue(
    vm: KioskViewModel, runner: Runner, clock: Clock, service: str = "tuphap", prio: bool = False
) -> None:
    assert vm.tap_service(service)
    clock.advance(1)
    assert vm.choose_priority(prio)
    runner.run_all()


# -- home ------------------------------------------------------------------------------------------


def test_home_lists_the_kiosks_services_with_live_counts_and_waits(make: Make) -> None:
    vm, *_ = make(services=["tuphap", "dkkd"])
    v = vm.view()
    assert v.screen == "home" and v.lang == "vi"
    assert [b.id for b in v.services] == ["tuphap", "dkkd"]
    assert v.services[0].name == "Tư pháp - Hộ tịch" and v.services[0].status == ""  # nothing known yet
    vm.on_service_state({"service": "tuphap", "open": True, "waiting": 5, "est_wait_s": 840})
    vm.on_service_state({"service": "datdai", "open": True, "waiting": 9})  # not offered here: ignored
    vm.on_service_state({"service": "dkkd", "open": True, "waiting": 0, "est_wait_s": 0})
    b = {s.id: s for s in vm.view().services}
    assert (b["tuphap"].status, b["tuphap"].detail, b["tuphap"].enabled) == (
        "Đang chờ: 5 người",
        "khoảng 14 phút",
        True,
    )
    assert (b["tuphap"].status2, b["tuphap"].detail2) == ("Waiting: 5", "about 14 min")
    assert b["dkkd"].status == "Không có ai chờ"
    assert "datdai" not in b


def test_closed_and_full_services_are_disabled_with_their_hours(make: Make) -> None:
    vm, *_ = make()
    vm.on_service_state(
        {"service": "tuphap", "open": False, "waiting": 0, "hours": ["07:00-11:30", "13:30-17:00"]}
    )
    vm.on_service_state({"service": "dkkd", "open": True, "waiting": 3, "remaining_today": 0})
    b = {s.id: s for s in vm.view().services}
    assert not b["tuphap"].enabled
    assert b["tuphap"].status == "Ngoài giờ làm việc"
    assert b["tuphap"].detail == "Giờ làm việc: 07:00–11:30, 13:30–17:00"
    assert not b["dkkd"].enabled and b["dkkd"].status == "Đã hết số hôm nay"
    assert b["datdai"].enabled


def test_tapping_a_closed_service_explains_without_asking_the_controller(make: Make) -> None:
    vm, backend, _runner, _clock = make()
    vm.on_service_state({"service": "tuphap", "open": False, "hours": ["07:00-11:30"]})
    assert vm.tap_service("tuphap")
    v = vm.view()
    assert v.screen == "closed" and v.title == "Tư pháp - Hộ tịch: ngoài giờ làm việc"
    assert ("Giờ làm việc: 07:00–11:30", "Opening hours: 07:00–11:30") in v.lines
    assert backend.issued == []


# -- the happy path ----------------------------------------------------------------------------------


def test_service_priority_printing_done_home(make: Make) -> None:
    vm, backend, runner, clock = make()
    assert vm.tap_service("tuphap")
    v = vm.view()
    assert v.screen == "priority" and [a.id for a in v.actions] == ["normal", "priority", "back"]
    assert "người cao tuổi" in v.lines[1][0] and "phụ nữ có thai" in v.lines[1][0]
    clock.advance(1)
    assert vm.choose_priority(True)
    assert vm.view().screen == "printing" and vm.view().busy and vm.view().number == ""
    runner.run_all()
    v = vm.view()
    assert backend.issued[0][:2] == ("tuphap", True) and backend.printed == ["A001"]
    assert v.screen == "done" and v.number == "A001" and v.priority and not v.busy
    texts = [a for a, _ in v.lines]
    assert "Trước bạn còn 4 người" in texts
    assert "Thời gian chờ dự kiến: khoảng 15 phút" in texts
    assert "Vui lòng nhận phiếu ở khe bên dưới" in texts
    clock.advance(1)
    assert vm.press("ok")
    assert vm.view().screen == "home"


def test_without_the_priority_question_a_tap_issues_at_once(make: Make) -> None:
    vm, backend, runner, _clock = make({"priority": False})
    assert vm.tap_service("datdai")
    assert vm.view().screen == "printing"
    runner.run_all()
    assert vm.view().screen == "done" and backend.issued[0][:2] == ("datdai", False)


def test_back_from_the_priority_question(make: Make) -> None:
    vm, backend, _runner, clock = make()
    vm.tap_service("tuphap")
    clock.advance(1)
    assert vm.press("back")
    assert vm.view().screen == "home" and backend.issued == []


def test_the_number_shows_while_the_ticket_prints(make: Make) -> None:
    vm, backend, _runner, _clock = make({"priority": False})
    seen: list[View] = []
    backend_print = backend.print_ticket

    def spy(result: Mapping[str, Any]) -> None:
        seen.append(vm.view())
        backend_print(result)

    backend.print_ticket = spy  # type: ignore[method-assign]
    vm.runner = lambda job: job()
    vm.tap_service("tuphap")
    assert seen[0].screen == "printing" and seen[0].number == "A001" and seen[0].title == "Đang in phiếu…"


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "screen", "title"),
    [
        (
            CommandFailed("issue", "service_closed", "closed"),
            "closed",
            "Tư pháp - Hộ tịch: ngoài giờ làm việc",
        ),
        (
            CommandFailed("issue", "daily_limit", "full"),
            "limit",
            "Tư pháp - Hộ tịch: đã hết số thứ tự hôm nay",
        ),
        (CommandFailed("issue", "forbidden", "no"), "error", "Không lấy được số thứ tự"),
        (CommandFailed("issue", "unknown_service", "no"), "error", "Không lấy được số thứ tự"),
        (
            NoReply("issue: no reply"),
            "unreachable",
            "Hệ thống đang bận, vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn",
        ),
        (
            CommandFailed("issue", "expired", "the device gave up"),
            "unreachable",
            "Hệ thống đang bận, vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn",
        ),
        (
            CommandFailed("issue", "unavailable", "clock behind"),
            "unreachable",
            "Hệ thống đang bận, vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn",
        ),
        (
            CommandFailed("issue", "rate_limited", "too many commands from kiosk-1; try again in 3 s"),
            "unreachable",
            "Hệ thống đang bận, vui lòng thử lại hoặc liên hệ cán bộ hướng dẫn",
        ),
        (RuntimeError("bug"), "error", "Không lấy được số thứ tự"),
    ],
)
def test_issue_errors_map_to_screens(make: Make, error: Exception, screen: str, title: str) -> None:
    vm, backend, runner, clock = make()
    backend.issue_error = error
    _issue(vm, runner, clock)
    v = vm.view()
    assert (v.screen, v.title) == (screen, title)
    assert v.number == "" and backend.printed == [] and not v.busy
    assert v.actions and v.actions[-1].id == "back"


@pytest.mark.parametrize(
    ("error", "screen", "title"),
    [
        (PaperOut(PrinterStatus("paper_out", "roll paper end")), "paper_out", PAPER),
        (PrinterNotReady(PrinterStatus("offline", "cover open")), "printer_error", PRINTER),
        (PrinterIOError("broken pipe"), "printer_error", PRINTER),
        (OSError("usb gone"), "printer_error", PRINTER),
    ],
)  # fmt: skip
def test_printer_errors_still_show_the_issued_number(
    make: Make, error: Exception, screen: str, title: str
) -> None:
    vm, backend, runner, clock = make()
    backend.print_error = error
    _issue(vm, runner, clock)
    v = vm.view()
    assert (v.screen, v.title, v.number) == (screen, title, "A001")
    assert len(backend.issued) == 1
    assert v.lines[0][0] == "Bạn vẫn giữ lượt của mình. Hãy nhớ số này và báo cán bộ hướng dẫn."
    assert [a.id for a in v.actions] == ["ok"] and v.actions[0].text == "Tôi đã nhớ số"


@pytest.mark.parametrize(
    "error", [NoReply("no reply"), CommandFailed("issue", "rate_limited", "try again in 3 s")]
)
def test_unreachable_retry_reuses_the_command_id(make: Make, error: Exception) -> None:
    vm, backend, runner, clock = make()
    backend.issue_error = error
    _issue(vm, runner, clock)
    assert vm.view().screen == "unreachable" and [a.id for a in vm.view().actions] == ["retry", "back"]
    backend.issue_error = None
    clock.advance(1)
    assert vm.press("retry")
    runner.run_all()
    assert vm.view().screen == "done"
    assert backend.issued[0][2] == backend.issued[1][2]  # same id: the controller cannot issue twice


def test_a_new_request_after_success_gets_a_new_command_id(make: Make) -> None:
    vm, backend, runner, clock = make({"priority": False})
    vm.tap_service("tuphap")
    runner.run_all()
    clock.advance(1)
    vm.press("ok")
    clock.advance(1)
    vm.tap_service("tuphap")
    runner.run_all()
    assert backend.issued[0][2] != backend.issued[1][2]


def test_broker_down_shows_unreachable_without_sending(make: Make) -> None:
    vm, backend, runner, clock = make(connected=False)
    vm.tick()
    v = vm.view()
    assert v.banner == "Hệ thống đang bận, vui lòng chờ hoặc liên hệ cán bộ hướng dẫn"
    vm.tap_service("tuphap")
    clock.advance(1)
    vm.choose_priority(False)
    assert vm.view().screen == "unreachable" and backend.issued == [] and runner.jobs == []


def test_printer_banner_on_home(make: Make) -> None:
    vm, *_ = make()
    vm.set_printer_state("paper_out")
    assert vm.view().banner == "Máy in tạm hết giấy: số thứ tự sẽ hiện trên màn hình"
    vm.set_printer_state("offline")
    assert vm.view().banner.startswith("Máy in đang gặp sự cố")
    vm.set_printer_state("paper_low")
    assert vm.view().banner == ""


# -- double taps ---------------------------------------------------------------------------------------


def test_a_double_tap_never_issues_two_tickets(make: Make) -> None:
    vm, backend, runner, clock = make({"priority": False})
    assert vm.tap_service("tuphap")
    clock.advance(0.1)
    assert not vm.tap_service("tuphap")  # in flight (and on the printing screen)
    assert not vm.press("ok")
    assert not vm.take_number("tuphap")
    runner.run_all()
    assert vm.view().screen == "done"
    clock.advance(0.1)
    assert not vm.press("ok")  # the guard after the request
    clock.advance(1)
    assert vm.press("ok") and vm.view().screen == "home"
    assert len(backend.issued) == 1 and vm.requests == [("tuphap", False)]


def test_a_double_tap_does_not_answer_the_priority_question(make: Make) -> None:
    vm, backend, runner, clock = make()
    assert vm.tap_service("tuphap")
    clock.advance(0.15)  # the second touch of a double tap lands on the next screen's button
    assert not vm.choose_priority(False)
    assert vm.view().screen == "priority" and backend.issued == []
    clock.advance(1)
    assert vm.choose_priority(False)
    runner.run_all()
    assert len(backend.issued) == 1


def test_the_guard_follows_a_fast_request(make: Make) -> None:
    vm, _backend, _runner, clock = make({"priority": False})
    vm.runner = lambda job: job()  # the reply and the print are instant
    assert vm.tap_service("tuphap") and vm.view().screen == "done"
    clock.advance(0.5)
    assert not vm.press("ok")


# -- idle and language -----------------------------------------------------------------------------------


def test_idle_returns_home_and_resets_the_language(make: Make) -> None:
    vm, _backend, runner, clock = make({"priority": False})
    assert vm.set_language("en")
    assert vm.view().title == "Please choose a service" and vm.view().title2 == "Xin mời chọn lĩnh vực"
    vm.tap_service("tuphap")
    runner.run_all()
    clock.advance(29)
    vm.tick()
    assert vm.view().screen == "done"
    vm.touch()  # still reading
    clock.advance(29)
    vm.tick()
    assert vm.view().screen == "done"
    clock.advance(1)
    vm.tick()
    assert vm.view().screen == "home" and vm.view().lang == "vi"


def test_idle_on_home_only_resets_the_language(make: Make) -> None:
    vm, _backend, _runner, clock = make()
    vm.set_language("en")
    clock.advance(30)
    changes: list[int] = []
    vm.subscribe(lambda: changes.append(vm.version))
    vm.tick()
    assert vm.view().lang == "vi" and len(changes) == 1
    clock.advance(60)
    vm.tick()
    assert len(changes) == 1  # nothing more to do


def test_idle_never_interrupts_a_request_and_paper_screens_stay_longer(make: Make) -> None:
    vm, backend, runner, clock = make({"priority": False})
    backend.print_error = PaperOut(PrinterStatus("paper_out", "roll paper end"))
    vm.tap_service("tuphap")
    clock.advance(100)
    vm.tick()
    assert vm.view().screen == "printing"
    runner.run_all()
    clock.advance(59)
    vm.tick()
    assert vm.view().screen == "paper_out"
    clock.advance(1)
    vm.tick()
    assert vm.view().screen == "home"


def test_priority_question_times_out_too(make: Make) -> None:
    vm, _backend, _runner, clock = make()
    vm.tap_service("tuphap")
    clock.advance(30)
    vm.tick()
    assert vm.view().screen == "home"


def test_english_texts_and_only_configured_languages(make: Make) -> None:
    vm, *_ = make({"languages": ["vi"]})
    assert not vm.set_language("en")
    vm2, _b, runner2, clock2 = make()
    vm2.set_language("en")
    _issue(vm2, runner2, clock2)
    v = vm2.view()
    assert v.title == "Your number" and v.title2 == "Số thứ tự của bạn"
    assert v.lines[1] == ("4 people ahead of you", "Trước bạn còn 4 người")
    assert v.lines[0] == ("Tư pháp - Hộ tịch", "")  # no English name in the test site: shown once


def test_every_text_is_nfc(make: Make) -> None:
    vm, backend, runner, clock = make()
    views = [vm.view()]
    vm.tap_service("tuphap")
    views.append(vm.view())
    backend.print_error = PaperOut(PrinterStatus("paper_out"))
    clock.advance(1)
    vm.choose_priority(False)
    runner.run_all()
    views.append(vm.view())
    for v in views:
        for text in (v.title, v.title2, *(t for pair in v.lines for t in pair), *(a.text for a in v.actions)):
            assert unicodedata.is_normalized("NFC", text), text


def test_listeners_hear_every_change_and_wait_for_works(make: Make) -> None:
    vm, _backend, runner, _clock = make({"priority": False})
    heard: list[str] = []
    vm.subscribe(lambda: heard.append(vm.screen))
    vm.tap_service("tuphap")
    runner.run_all()
    assert heard[0] == "printing" and heard[-1] == "done"
    assert vm.wait_for(lambda m: m.screen == "done", timeout=0)
    assert not vm.wait_for(lambda m: m.screen == "home", timeout=0)


def test_a_kiosk_only_for_kiosks(site_factory: SiteFactory) -> None:
    with pytest.raises(ValueError, match="not a kiosk"):
        KioskViewModel(site_factory(), "counter-1", Backend())


def test_pages_of_services_turn_and_reset_on_idle(make: Make) -> None:
    vm, _backend, _runner, clock = make()
    assert vm.view().pages == 1 and vm.view().actions == ()  # everything fits: no arrows
    assert not vm.next_page()
    vm.set_pages(3)  # the screen found the services need three pages on its panel
    view = vm.view()
    assert (view.page, view.pages) == (0, 3)
    assert [(a.id, a.text, a.text2, a.primary) for a in view.actions] == [
        ("prev_page", "◀ Trang trước", "◀ Previous", False),
        ("page", "Trang 1/3", "Page 1 of 3", False),
        ("next_page", "Trang sau ▶", "Next ▶", True),
    ]
    assert not vm.prev_page()
    assert vm.press("next_page") and vm.next_page() and not vm.next_page()
    assert vm.view().page == 2 and vm.view().actions[1].text == "Trang 3/3"
    assert not vm.view().actions[2].primary  # the last page: no further
    vm.set_language("en")
    assert vm.view().actions[1].text == "Page 3 of 3" and vm.view().actions[1].text2 == "Trang 3/3"
    vm.set_pages(2)  # a smaller layout (the window turned): the page stays in range
    assert vm.view().page == 1
    clock.advance(29)
    vm.tick()
    assert vm.view().page == 1  # turning a page is a touch: not idle yet
    clock.advance(31)
    vm.tick()
    assert vm.view().page == 0 and vm.view().lang == "vi"  # idle: back to the first page
    vm.next_page()
    assert vm.view().page == 1 and vm.tap_service("tuphap")
    clock.advance(1)
    assert vm.press("back")
    assert vm.view().screen == "home" and vm.view().page == 0


def test_a_page_of_services_is_read_aloud_as_shown(make: Make) -> None:
    from kiosk_app.ticket_kiosk.read_aloud import screen_speech

    vm, _backend, _runner, _clock = make()
    ids = [s.id for s in vm.services]
    vm.set_pages(2, [ids[:1], ids[1:]])
    view = vm.view()
    assert view.shown == (ids[0],)
    said = screen_speech(view)
    assert said[0] == "Xin mời chọn lĩnh vực" and said[1].startswith(vm.view().services[0].name)
    assert not any(s.startswith(view.services[1].name) for s in said)  # on the next page
    assert said[-2:] == ["Trang 1 trên 2", "Nút Trang sau"]  # no "◀ Trang trước" on the first page
    vm.next_page()
    assert vm.view().shown == tuple(ids[1:])
    assert screen_speech(vm.view())[-2:] == ["Nút Trang trước", "Trang 2 trên 2"]  # the last page

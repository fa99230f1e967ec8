"""The rating terminal's view-model: every transition, one rating per ticket, the press guard, the
window, the reasons flow and the error codes (no I/O, an injected clock and runner)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from kiosk_app.rating.viewmodel import RatingViewModel
from onestop.config import SiteConfig
from onestop.device import CommandFailed, NoReply
from tests.conftest import SiteFactory
from tests.utils.viewmodel import Clock, Runner

RATE_TITLE = "Ông/bà có hài lòng với cán bộ tiếp nhận?"
THANKS = "Cảm ơn ông/bà đã đánh giá!"


class Backend:
    """Records every ``rate``; answers with the rating, or raises what it is told."""

    def __init__(self) -> None:
        self.error: Exception | None = None
        self.calls: list[tuple[int, tuple[str, ...], str, str]] = []

    def rate(
        self, score: int, reasons: Sequence[str], comment: str, command_id: str, ticket: str | None = None
    ) -> dict[str, Any]:
        self.calls.append((score, tuple(reasons), comment, command_id))
        if self.error is not None:
            raise self.error
        return {"rating": {"score": score, "reasons": list(reasons), "comment": comment}}


Make = Callable[..., tuple[RatingViewModel, Backend, Runner, Clock]]


@pytest.fixture
def make(site_factory: SiteFactory) -> Make:
    """``make(rating=None, officers=None, connected=True)``: a view-model of rate-1 (counter 1)."""

    def build(
        rating: dict[str, Any] | None = None,
        *,
        officers: list[dict[str, Any]] | None = None,
        connected: bool = True,
    ) -> tuple[RatingViewModel, Backend, Runner, Clock]:
        overrides: dict[str, Any] = {}
        if rating is not None:
            from tests.utils.site import SITE

            overrides["rating"] = {**SITE["rating"], **rating}
        if officers is not None:
            overrides["officers"] = officers
        cfg: SiteConfig = site_factory(overrides)
        backend, runner, clock = Backend(), Runner(), Clock()
        state = {"connected": connected}
        vm = RatingViewModel(
            cfg, "rate-1", backend, clock=clock, runner=runner, connected=lambda: state["connected"]
        )
        vm.connected_state = state  # type: ignore[attr-defined]
        return vm, backend, runner, clock

    return build


def ticket(
    n: int, *, counter: str = "1", officer: str | None = "cb001", status: str = "called"
) -> dict[str, Any]:
    return {"id": f"20261123-A{n:03d}", "number": f"A{n:03d}", "service": "tuphap", "status": status,
            "counter": counter, "officer": officer}  # fmt: skip


def state(
    serving: dict[str, Any] | None, *, status: str = "open", officer: str | None = "cb001"
) -> dict[str, Any]:
    off = {"id": officer, "name": "Nguyễn Thị Lan"} if officer else None
    return {"counter": "1", "label": "Quầy 1", "status": status, "serving": serving, "officer": off, "seq": 1}


def done(n: int, **kw: Any) -> dict[str, Any]:
    return {"seq": n, "type": "ticket.done", "data": {"ticket": ticket(n, status="done", **kw)}}


def end_ticket(vm: RatingViewModel, n: int) -> None:
    """Ticket n is served, then finished (state first, then the event, as the controller publishes)."""
    vm.on_counter_state(state(ticket(n)))
    vm.on_counter_state(state(None))
    vm.on_event(done(n))


# -- idle ------------------------------------------------------------------------------------------


def test_idle_shows_the_officer_and_the_ticket_being_served(make: Make) -> None:
    vm, *_ = make()
    v = vm.view()
    assert v.screen == "idle" and v.officer is None and v.title == "Xin kính chào quý khách"
    assert v.title2 == "Welcome" and v.counter_label == "Quầy 1" and v.levels == ()
    vm.on_counter_state(state(ticket(12)))
    v = vm.view()
    assert v.officer is not None and v.officer.name == "Nguyễn Thị Lan" and v.officer.initials == "L"
    assert v.number == "A012" and v.lines == (("Đang phục vụ số A012", "Now serving A012"),)
    vm.on_counter_state(state(None))
    assert vm.view().lines == (("Xin mời ông/bà chờ đến lượt", "Please wait for your number to be called"),)
    vm.on_counter_state({**state(None, status="closed", officer=None)})
    v = vm.view()
    assert v.officer is None and v.lines[0][0] == "Quầy đang tạm nghỉ"
    vm.on_counter_state({**state(None), "counter": "2"})  # another counter: ignored
    assert vm.view().lines[0][0] == "Quầy đang tạm nghỉ"


def test_the_officer_title_and_photo_come_from_the_site_file(make: Make, tmp_path: Path) -> None:
    photo = tmp_path / "lan.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n")
    officers = [
        {"id": "cb001", "name": "Nguyễn Thị Lan", "title": "Chuyên viên", "photo": "lan.png"},
        {"id": "cb002", "name": "Trần Văn Hùng", "photo": "missing.png"},
    ]
    vm, *_ = make(officers=officers)
    vm.on_counter_state(state(ticket(1)))
    off = vm.view().officer
    assert off is not None and off.title == "Chuyên viên" and off.photo == str(photo)  # relative to site.toml
    vm.on_counter_state(state(ticket(1), officer="cb002"))
    off = vm.view().officer
    assert off is not None and off.name == "Trần Văn Hùng" and off.photo == ""  # a missing file: initials


def test_a_rating_device_must_be_bound_to_a_counter(site_cfg: SiteConfig) -> None:
    with pytest.raises(ValueError, match="not a rating terminal"):
        RatingViewModel(site_cfg, "kiosk-1", Backend())


# -- the levels ------------------------------------------------------------------------------------


def test_a_ticket_done_offers_the_levels_best_first_green_to_red(make: Make) -> None:
    vm, *_ = make()
    end_ticket(vm, 12)
    v = vm.view()
    assert v.screen == "rate" and v.title == RATE_TITLE and v.number == "A012"
    assert v.officer is not None and v.officer.id == "cb001"
    assert [(lv.score, lv.text, lv.text2) for lv in v.levels] == [
        (3, "Rất hài lòng", "Very satisfied"),
        (2, "Hài lòng", "Satisfied"),
        (1, "Không hài lòng", "Not satisfied"),
    ]
    assert v.levels[0].colour == "#1B6E3A" and v.levels[-1].colour == "#B3261E"
    assert v.levels[0].mood == 1.0 and v.levels[1].mood > 0.5 > v.levels[2].mood  # satisfied levels smile


def test_five_levels_give_five_buttons_with_scores_five_to_one(make: Make) -> None:
    levels = ["Rất hài lòng", "Hài lòng", "Bình thường", "Không hài lòng", "Rất không hài lòng"]
    vm, *_ = make({"levels": levels, "satisfied_min": 3})
    end_ticket(vm, 1)
    v = vm.view()
    assert [lv.score for lv in v.levels] == [5, 4, 3, 2, 1] and len({lv.colour for lv in v.levels}) == 5
    assert [lv.mood > 0.5 for lv in v.levels] == [True, True, True, False, False]


def test_the_event_alone_offers_the_levels_and_the_next_call_keeps_them(make: Make) -> None:
    vm, *_ = make()
    vm.on_counter_state(state(ticket(12)))
    vm.on_counter_state(state(ticket(13)))  # call_next: A012 done, A013 called
    assert vm.view().screen == "idle"  # not yet: done, skipped or transferred?
    vm.on_event(done(12))
    v = vm.view()
    assert v.screen == "rate" and v.number == "A012"
    vm.on_event(done(12))  # a duplicate changes nothing


def test_a_skipped_or_transferred_ticket_is_not_offered(make: Make) -> None:
    vm, _, _, clock = make()
    vm.on_counter_state(state(ticket(12)))
    vm.on_counter_state(state(None))
    vm.on_event({"seq": 2, "type": "ticket.skipped", "data": {"ticket": ticket(12, status="skipped")}})
    clock.advance(5)
    vm.tick()
    assert vm.view().screen == "idle"
    vm.on_counter_state(state(ticket(13)))
    vm.on_counter_state(state(None))
    moved = {**ticket(13, status="waiting"), "counter": None, "service": "datdai"}
    vm.on_event({"seq": 3, "type": "ticket.transferred", "data": {"ticket": moved, "from_counter": "1"}})
    clock.advance(5)
    vm.tick()
    assert vm.view().screen == "idle"


def test_without_an_event_the_end_of_serving_offers_the_levels_after_a_short_grace(make: Make) -> None:
    vm, _, _, clock = make()
    vm.on_counter_state(state(ticket(12)))
    vm.on_counter_state(state(None))
    vm.tick()
    assert vm.view().screen == "idle"
    clock.advance(vm.grace_s)
    vm.tick()
    assert vm.view().screen == "rate" and vm.view().number == "A012"


def test_other_counters_tickets_are_ignored(make: Make) -> None:
    vm, *_ = make()
    vm.on_event(done(5, counter="2"))
    vm.on_event({"seq": 9, "type": "ticket.done", "data": "junk"})
    vm.on_event({"seq": 9, "type": "counter.opened", "data": {"counter": {}}})
    assert vm.view().screen == "idle"


# -- one press, one rating -----------------------------------------------------------------------


def test_a_satisfied_press_sends_rate_once_and_thanks(make: Make) -> None:
    vm, backend, runner, clock = make()
    end_ticket(vm, 12)
    assert vm.choose(3)
    assert vm.busy and vm.view().title == "Đang gửi đánh giá…"
    assert not vm.choose(2)  # in flight: ignored
    clock.advance(5)
    assert not vm.choose(1)  # still in flight
    runner.run_all()
    v = vm.view()
    assert v.screen == "thanks" and v.title == THANKS and v.levels == ()
    assert [c[:3] for c in backend.calls] == [(3, (), "")]
    assert not vm.choose(1)  # the buttons are gone
    assert vm.sent == [("20261123-A012", 3, (), "")]


def test_repeated_presses_within_the_guard_are_ignored(make: Make) -> None:
    vm, backend, runner, clock = make()
    end_ticket(vm, 12)
    assert vm.choose(1)  # not satisfied: the reasons screen
    assert vm.screen == "reasons"
    assert not vm.toggle_reason(0)  # the second touch of a double tap lands on a reason: ignored
    assert not vm.press("send")
    clock.advance(vm.guard_s)
    assert vm.toggle_reason(0)
    assert not vm.toggle_reason(0)  # a trembling finger does not undo it
    assert vm.view().reasons[0].selected
    assert backend.calls == [] and runner.jobs == []


def test_thanks_returns_to_idle_after_a_few_seconds(make: Make) -> None:
    vm, _, runner, clock = make()
    end_ticket(vm, 12)
    vm.choose(2)
    runner.run_all()
    clock.advance(vm.thanks_s - 0.1)
    vm.tick()
    assert vm.screen == "thanks"
    clock.advance(0.1)
    vm.tick()
    assert vm.screen == "idle"


def test_the_next_ticket_brings_the_levels_back_even_on_the_thanks_screen(make: Make) -> None:
    vm, backend, runner, clock = make()
    end_ticket(vm, 12)
    vm.choose(3)
    runner.run_all()
    end_ticket(vm, 13)
    v = vm.view()
    assert v.screen == "rate" and v.number == "A013"
    clock.advance(2)
    assert vm.choose(2)
    runner.run_all()
    assert [c[0] for c in backend.calls] == [3, 2]
    assert len({c[3] for c in backend.calls}) == 2  # two tickets, two command ids


def test_a_rating_recorded_elsewhere_closes_the_offer(make: Make) -> None:
    vm, backend, *_ = make()
    end_ticket(vm, 12)
    rating = {"ticket": "20261123-A012", "counter": "1", "score": 3}
    vm.on_event({"seq": 20, "type": "rating.recorded", "data": {"rating": {**rating, "counter": "2"}}})
    assert vm.screen == "rate"
    vm.on_event({"seq": 21, "type": "rating.recorded", "data": {"rating": rating}})
    assert vm.screen == "idle" and backend.calls == []
    vm.on_event(done(12))  # redelivered: not offered again
    assert vm.screen == "idle"


# -- reasons ---------------------------------------------------------------------------------------


def test_not_satisfied_asks_for_reasons_and_a_comment_then_sends_them(make: Make) -> None:
    vm, backend, runner, clock = make()
    end_ticket(vm, 12)
    assert vm.choose(1)
    v = vm.view()
    assert v.screen == "reasons" and v.title == "Ông/bà chưa hài lòng về điều gì?"
    assert [(c.text, c.text2) for c in v.reasons] == [
        ("Thái độ phục vụ", "Staff attitude"), ("Chờ lâu", "Long wait"), ("Khác", "Other"),
    ]  # fmt: skip
    assert [a.id for a in v.actions] == ["send", "back"] and v.comments
    for step in (lambda: vm.toggle_reason(2), lambda: vm.toggle_reason(1), lambda: vm.toggle_reason(2),
                 lambda: vm.toggle_comment(0)):  # fmt: skip
        clock.advance(1.5)
        assert step()
    v = vm.view()
    assert [c.selected for c in v.reasons] == [False, True, False] and v.comments[0].selected
    clock.advance(1.5)
    assert vm.press("send")
    runner.run_all()
    assert vm.screen == "thanks"
    assert backend.calls[0][:3] == (1, ("Chờ lâu",), vm.comments[0].vi)


def test_back_from_the_reasons_to_the_levels_then_a_better_level(make: Make) -> None:
    vm, backend, runner, clock = make()
    end_ticket(vm, 12)
    vm.choose(1)
    clock.advance(1.5)
    assert vm.press("back") and vm.screen == "rate"
    clock.advance(1.5)
    assert vm.choose(2)
    runner.run_all()
    assert backend.calls[0][:2] == (2, ())


def test_an_abandoned_reasons_screen_sends_the_rating_with_what_was_chosen(make: Make) -> None:
    vm, backend, runner, clock = make()
    end_ticket(vm, 12)
    vm.choose(1)
    clock.advance(1.5)
    vm.toggle_reason(0)
    clock.advance(vm.reasons_idle_s)
    vm.tick()
    runner.run_all()
    assert backend.calls[0][:2] == (1, ("Thái độ phục vụ",)) and vm.screen == "thanks"


def test_no_reasons_configured_sends_at_once(make: Make) -> None:
    vm, backend, runner, _ = make({"reasons": [], "comments": []})
    assert vm.comments == ()
    end_ticket(vm, 12)
    vm.choose(1)
    runner.run_all()
    assert backend.calls[0][:2] == (1, ()) and vm.screen == "thanks"


# -- the window ------------------------------------------------------------------------------------


def test_nobody_rates_within_the_window_back_to_idle(make: Make) -> None:
    vm, backend, _, clock = make({"window_s": 60})
    end_ticket(vm, 12)
    clock.advance(59)
    vm.tick()
    assert vm.screen == "rate"
    clock.advance(1)
    vm.tick()
    assert vm.screen == "idle" and not vm.choose(3) and backend.calls == []


def test_the_window_also_closes_an_unfinished_reasons_screen(make: Make) -> None:
    vm, backend, _, clock = make({"window_s": 20})
    end_ticket(vm, 12)
    vm.choose(1)
    clock.advance(20)
    vm.tick()
    assert vm.screen == "idle" and backend.calls == []


# -- error codes -----------------------------------------------------------------------------------


def test_already_rated_thanks_and_removes_the_buttons(make: Make) -> None:
    vm, backend, runner, _ = make()
    backend.error = CommandFailed("rate", "already_rated", "A012 has already been rated")
    end_ticket(vm, 12)
    vm.choose(3)
    runner.run_all()
    assert vm.screen == "thanks" and not vm.choose(3)
    vm.on_event(done(12))
    assert vm.screen == "thanks"  # the same ticket is not offered again


def test_nothing_to_rate_returns_to_idle_quietly(make: Make) -> None:
    vm, backend, runner, _ = make()
    backend.error = CommandFailed("rate", "nothing_to_rate", "the last ticket ended more than 300 s ago")
    end_ticket(vm, 12)
    vm.choose(3)
    runner.run_all()
    assert vm.screen == "idle" and vm.view().title == "Xin kính chào quý khách"


@pytest.mark.parametrize(
    "error", [NoReply("no reply"), CommandFailed("rate", "rate_limited", "try again in 10 s")]
)
def test_no_reply_offers_a_retry_with_the_same_command_id(make: Make, error: Exception) -> None:
    vm, backend, runner, clock = make()
    backend.error = error
    end_ticket(vm, 12)
    vm.choose(3)
    runner.run_all()
    v = vm.view()
    assert v.screen == "unreachable" and v.title == "Chưa gửi được đánh giá"
    assert [a.id for a in v.actions] == ["retry"]
    backend.error = None
    assert not vm.press("retry")  # within the guard after the outcome
    clock.advance(vm.guard_s)
    assert vm.press("retry")
    runner.run_all()
    assert vm.screen == "thanks"
    assert backend.calls[0][3] == backend.calls[1][3]  # one rating, asked twice


def test_a_refusal_shows_the_error_then_idle(make: Make) -> None:
    vm, backend, runner, clock = make()
    backend.error = CommandFailed("rate", "forbidden", "not a rating device")
    end_ticket(vm, 12)
    vm.choose(3)
    runner.run_all()
    assert vm.view().title == "Không gửi được đánh giá"
    clock.advance(vm.error_s)
    vm.tick()
    assert vm.screen == "idle"


def test_disconnected_shows_the_banner_and_unreachable_without_sending(make: Make) -> None:
    vm, backend, runner, _ = make(connected=False)
    end_ticket(vm, 12)
    assert vm.view().banner.startswith("Mất kết nối")
    assert vm.choose(3)
    assert vm.screen == "unreachable" and runner.jobs == [] and backend.calls == []


# -- language and the headless one-step rate --------------------------------------------------------


def test_the_language_switch_and_its_reset_on_idle(make: Make) -> None:
    vm, _, _, clock = make()
    end_ticket(vm, 12)
    assert vm.set_language("en")
    v = vm.view()
    assert v.title == "Are you satisfied with the service?" and v.title2 == RATE_TITLE
    assert (v.levels[0].text, v.levels[0].text2) == ("Very satisfied", "Rất hài lòng")
    assert not vm.set_language("fr")  # type: ignore[arg-type]
    clock.advance(vm.window_s)
    vm.tick()
    clock.advance(vm.idle_lang_s)
    vm.tick()
    assert vm.screen == "idle" and vm.lang == "vi"


# -- English for the site's own levels, reasons and comments (``[rating] *_en``) --------------------

OWN_SCALE: dict[str, Any] = {
    "levels": ["Rất hài lòng", "Tạm được", "Chưa hài lòng"],
    "levels_en": ["Delighted", "Okay", ""],  # "": no English for this one
    "reasons": ["Thủ tục rườm rà", "Chờ lâu"],
    "reasons_en": ["Too much paperwork", "Waited too long"],
    "comments": ["Nên có thêm ghế chờ", "Cần niềm nở hơn"],
    "comments_en": ["More seats, please", ""],
}


def pairs(items: Any) -> list[tuple[str, str]]:
    return [(x.text, x.text2) for x in items]


def test_the_sites_own_english_is_shown_under_its_levels_reasons_and_comments(make: Make) -> None:
    vm, backend, runner, clock = make(OWN_SCALE)
    end_ticket(vm, 12)
    assert pairs(vm.view().levels) == [
        ("Rất hài lòng", "Delighted"),  # the site's English wins over the built-in "Very satisfied"
        ("Tạm được", "Okay"),
        ("Chưa hài lòng", ""),  # "" means none, not the built-in "Not yet satisfied"
    ]
    assert vm.choose(1)
    v = vm.view()
    assert pairs(v.reasons) == [("Thủ tục rườm rà", "Too much paperwork"), ("Chờ lâu", "Waited too long")]
    assert pairs(v.comments) == [("Nên có thêm ghế chờ", "More seats, please"), ("Cần niềm nở hơn", "")]
    assert vm.set_language("en")
    v = vm.view()
    assert pairs(v.reasons) == [("Too much paperwork", "Thủ tục rườm rà"), ("Waited too long", "Chờ lâu")]
    # without English, the Vietnamese stays the first line (never an empty button)
    assert pairs(v.comments) == [("More seats, please", "Nên có thêm ghế chờ"), ("Cần niềm nở hơn", "")]
    for step in (lambda: vm.toggle_reason(0), lambda: vm.toggle_comment(0), lambda: vm.press("send")):
        clock.advance(1.5)
        assert step()
    runner.run_all()
    assert backend.calls[0][:3] == (1, ("Thủ tục rườm rà",), "Nên có thêm ghế chờ")  # Vietnamese is sent


def test_in_english_the_sites_levels_come_first_and_a_level_without_english_stays_vietnamese(
    make: Make,
) -> None:
    vm, *_ = make(OWN_SCALE)
    end_ticket(vm, 12)
    vm.set_language("en")
    assert pairs(vm.view().levels) == [
        ("Delighted", "Rất hài lòng"), ("Okay", "Tạm được"), ("Chưa hài lòng", ""),
    ]  # fmt: skip


def test_without_the_english_lists_the_built_in_english_is_the_fallback(make: Make) -> None:
    vm, *_ = make({
        "levels": ["Rất hài lòng", "Bình thường", "Tạm được"],  # "Tạm được": not in the built-in table
        "reasons": ["Chờ lâu", "Giải quyết chậm"], "reasons_en": ["Waited too long", ""],
    })  # fmt: skip
    end_ticket(vm, 12)
    assert pairs(vm.view().levels) == [("Rất hài lòng", "Very satisfied"), ("Bình thường", "Neutral"),
                                       ("Tạm được", "")]  # fmt: skip
    vm.choose(1)
    v = vm.view()
    assert pairs(v.reasons) == [("Chờ lâu", "Waited too long"), ("Giải quyết chậm", "")]  # given: no fallback
    assert pairs(v.comments) == [  # not configured: today's three, with their English
        ("Cần hướng dẫn rõ hơn", "Explain more clearly"),
        ("Cần nhanh hơn", "Be quicker"),
        ("Cần niềm nở hơn", "Be friendlier"),
    ]


def test_rate_in_one_step_checks_its_arguments(make: Make) -> None:
    vm, backend, runner, _ = make()
    assert not vm.rate(3)  # nothing offered
    end_ticket(vm, 12)
    assert not vm.rate(4) and not vm.rate(1, ["Không có lý do này"])
    assert vm.rate(1, ["Chờ lâu"], "  Chờ hơi lâu  ")
    assert not vm.rate(1)  # in flight
    runner.run_all()
    assert backend.calls[0][:3] == (1, ("Chờ lâu",), "Chờ hơi lâu") and vm.screen == "thanks"

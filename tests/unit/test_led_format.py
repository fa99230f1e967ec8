"""What the counter agent and the board agent put on LED displays, from real payload shapes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from display_agents.led_format import board_lines, counter_display_text
from onestop.protocol import BoardStateMsg, CounterStateMsg


def ticket(number: str = "A012", status: str = "called") -> dict[str, Any]:
    """A ticket as the controller publishes it."""
    return {
        "id": f"t-site-20250102-{number}",
        "number": number,
        "service": "tuphap",
        "priority": False,
        "status": status,
        "issued_at": "2025-01-02T08:01:02.000+07:00",
        "called_at": "2025-01-02T08:10:00.000+07:00",
        "counter": "1",
    }


def counter_state(status: str = "open", serving: dict[str, Any] | None = None) -> dict[str, Any]:
    """A ``state/counter/1`` payload."""
    return {
        "counter": "1",
        "label": "Quầy 1",
        "status": status,
        "serving": serving,
        "officer": {"id": "cb001", "name": "Nguyễn Thị Lan"},
        "services": ["tuphap"],
        "seq": 42,
    }


BOARD: dict[str, Any] = {
    "calls": [
        {"number": "A012", "counter": "3", "counter_label": "Quầy 3", "service": "tuphap",
         "ts": "2025-01-02T08:12:00.000+07:00"},
        {"number": "B007", "counter": "2", "counter_label": "Quầy 2", "service": "datdai",
         "ts": "2025-01-02T08:11:00.000+07:00"},
        {"number": "A011", "counter": "1", "counter_label": "Quầy 1", "service": "tuphap",
         "ts": "2025-01-02T08:10:00.000+07:00"},
    ],
    "services": [
        {"service": "tuphap", "name": "Tư pháp - Hộ tịch", "waiting": 12, "est_wait_s": 600},
        {"service": "datdai", "name": "Đất đai", "waiting": 0, "est_wait_s": 0},
        {"service": "dkkd", "name": "Đăng ký kinh doanh", "waiting": 3, "est_wait_s": 1800},
    ],
    "seq": 77,
}  # fmt: skip


# -- counter display -------------------------------------------------------------------------------


def test_counter_shows_the_number_served() -> None:
    assert counter_display_text(counter_state(serving=ticket("A012"))) == "A012"


def test_counter_closed_idle_and_paused() -> None:
    assert counter_display_text(counter_state("closed")) == "----"
    assert counter_display_text(counter_state("open")) == ""
    assert counter_display_text(counter_state("paused")) == "----"
    assert counter_display_text(counter_state("paused", ticket("B003"))) == "B003"  # still serving
    assert counter_display_text(counter_state("closed"), closed="OFF", idle="-") == "OFF"
    assert counter_display_text(counter_state("open"), idle="- - ") == "- - "


def test_counter_accepts_the_protocol_model() -> None:
    msg = CounterStateMsg.model_validate(counter_state(serving=ticket("C100")))
    assert counter_display_text(msg) == "C100"


@pytest.mark.parametrize(
    ("number", "cols", "out"),
    [
        ("A012", 4, "A012"),
        ("AB0123", 4, "0123"),
        ("A0123", 4, "0123"),
        ("AB012", 4, "B012"),
        ("A12345", 4, "2345"),
    ],
)
def test_counter_number_too_long_loses_letters_first(number: str, cols: int, out: str) -> None:
    assert counter_display_text(counter_state(serving=ticket(number)), cols=cols) == out


def test_counter_rejects_a_malformed_payload() -> None:
    with pytest.raises(ValueError):
        counter_display_text({"counter": "1", "status": "open"})


# -- main board ------------------------------------------------------------------------------------


def test_board_lists_calls_newest_first_then_waiting() -> None:
    assert board_lines(BOARD, rows=6, cols=20) == [
        "A012 → 3",
        "B007 → 2",
        "A011 → 1",
        "Tư pháp - Hộ tịch 12",
        "Đất đai            0",
        "Đăng ký kinh doanh 3",
    ]


def test_board_for_an_ascii_board_is_folded() -> None:
    assert board_lines(BOARD, rows=5, cols=16, charset="ascii", counter="counter_label") == [
        "A012 -> Quay 3",
        "B007 -> Quay 2",
        "A011 -> Quay 1",
        "Tu phap - Ho  12",
        "Dat dai        0",
    ]
    assert all(line.isascii() for line in board_lines(BOARD, 8, 24, "ascii"))


def test_calls_take_the_rows_first_unless_limited() -> None:
    assert board_lines(BOARD, rows=2, cols=16) == ["A012 → 3", "B007 → 2"]
    assert board_lines(BOARD, rows=3, cols=16, max_calls=1, skip_empty=True) == [
        "A012 → 3",
        "Tư pháp - Hộ  12",
        "Đăng ký kinh   3",
    ]


def test_short_boards_squeeze_then_cut() -> None:
    assert board_lines(BOARD, rows=1, cols=6) == ["A012→3"]
    assert board_lines(BOARD, rows=1, cols=5, counter="counter_label") == ["A012→"]
    assert board_lines(BOARD, rows=4, cols=3, max_calls=0) == ["12", "Đ 0", "Đ 3", ""]
    assert board_lines(BOARD, rows=4, cols=2, max_calls=0)[0] == "12"


def test_empty_board_is_blank_rows() -> None:
    assert board_lines({"calls": [], "services": [], "seq": 1}, rows=3, cols=10) == ["", "", ""]


def test_board_accepts_the_protocol_model_and_a_custom_arrow() -> None:
    msg = BoardStateMsg.model_validate(BOARD)
    assert board_lines(msg, rows=1, cols=10, arrow=":")[0] == "A012 : 3"


def test_board_refuses_an_impossible_geometry() -> None:
    with pytest.raises(ValueError, match="0×10"):
        board_lines(BOARD, rows=0, cols=10)


@given(
    st.integers(1, 12),
    st.integers(1, 40),
    st.sampled_from(["utf-8", "ascii", "7seg"]),
    st.one_of(st.none(), st.integers(0, 12)),
)
def test_board_lines_always_fit(rows: int, cols: int, charset: str, max_calls: int | None) -> None:
    lines = board_lines(BOARD, rows, cols, charset, max_calls=max_calls)
    assert len(lines) == rows
    assert all(len(line) <= cols for line in lines)
    if rows >= 1 and cols >= 6 and max_calls != 0:
        assert lines[0].startswith("A012")


def test_a_call_at_a_booked_slot_is_marked_when_the_line_has_room() -> None:
    board = {**BOARD, "calls": [{**BOARD["calls"][0], "booked": True}, *BOARD["calls"][1:]]}
    assert board_lines(board, rows=3, cols=16) == ["A012 → 3     Hẹn", "B007 → 2", "A011 → 1"]
    assert board_lines(board, rows=1, cols=16, charset="ascii", counter="counter_label") == [
        "A012 -> Quay 3"  # no room for the mark: the call first
    ]
    assert board_lines(board, rows=1, cols=20, charset="ascii", counter="counter_label") == [
        "A012 -> Quay 3   HEN"
    ]
    assert board_lines(board, rows=1, cols=12, charset="7seg") == ["A012 - 3"]  # no letters for it
    assert board_lines(board, rows=1, cols=16, booked_mark="*") == ["A012 → 3       *"]
    assert board_lines(board, rows=1, cols=16, booked_mark="") == ["A012 → 3"]

"""Text shaping for LED displays: Vietnamese fold, the 7-segment font, fitting."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_drivers.display.text import (
    SEVEN_SEG_FONT,
    WarnOnce,
    clean,
    fit,
    fold_vietnamese,
    for_charset,
    scale_percent,
    to_ascii,
    to_seven_segment,
)

VIETNAMESE = "aàảãáạăằẳẵắặâầẩẫấậbcdđeèẻẽéẹêềểễếệghiìỉĩíịklmnoòỏõóọôồổỗốộơờởỡớợpqrstuùủũúụưừửữứựvxyỳỷỹýỵ"


def test_fold_examples() -> None:
    assert fold_vietnamese("Quầy 3") == "Quay 3"
    assert fold_vietnamese("Đất đai") == "Dat dai"
    assert fold_vietnamese("Tư pháp - Hộ tịch") == "Tu phap - Ho tich"
    assert fold_vietnamese("NGUYỄN THỊ LAN") == "NGUYEN THI LAN"


def test_fold_covers_the_whole_alphabet() -> None:
    folded = fold_vietnamese(VIETNAMESE + VIETNAMESE.upper())
    assert folded.isascii()
    assert set(folded.lower()) <= set("abcdeghiklmnopqrstuvxy")


def test_fold_accepts_decomposed_input() -> None:
    import unicodedata

    assert fold_vietnamese(unicodedata.normalize("NFD", "Quầy")) == "Quay"


def test_to_ascii_symbols_controls_and_leftovers() -> None:
    assert to_ascii("A012 → Quầy 3") == "A012 > Quay 3"
    assert to_ascii("a\x03b\tc") == "a b c"  # ETX and TAB can never end a frame early
    assert to_ascii("5 €") == "5 ?"
    assert to_ascii("5 €", replacement="") == "5 "


def test_seven_segment_substitution_is_reported() -> None:
    missed: list[str] = []
    assert to_seven_segment("Kđ12", on_unsupported=missed.append) == "-D12"
    assert missed == ["K"]
    assert to_seven_segment("quầy") == "QUAY"
    assert to_seven_segment("M→") == "--"  # no M; "→" folds to ">", which 7 segments cannot draw


def test_for_charset() -> None:
    assert for_charset("Quầy", "ascii") == "Quay"
    assert for_charset("Quầy", "utf-8") == "Quầy"
    assert for_charset("Quầy", "7seg") == "QUAY"
    assert for_charset("a\x02", "utf-8") == "a "


@pytest.mark.parametrize(
    ("text", "align", "out"),
    [
        ("A12", "left", "A12 "),
        ("A12", "right", " A12"),
        ("A1", "center", " A1 "),
        ("AB0123", "left", "AB01"),
        ("AB0123", "right", "0123"),
        ("AB0123", "center", "AB01"),
    ],
)
def test_fit(text: str, align: str, out: str) -> None:
    assert fit(text, 4, align) == out  # type: ignore[arg-type]


def test_scale_percent_rounds_half_up() -> None:
    assert [scale_percent(p, 7) for p in (0, 50, 100)] == [0, 4, 7]
    assert scale_percent(50, 15) == 8


def test_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    warn = WarnOnce(logging.getLogger("t"))
    with caplog.at_level(logging.WARNING):
        warn("k", "x %s", 1)
        warn("k", "x %s", 2)
        warn("j", "y")
    assert [r.getMessage() for r in caplog.records] == ["x 1", "y"]


@given(st.text())
def test_ascii_output_is_printable_ascii_and_stable(text: str) -> None:
    out = to_ascii(text)
    assert all(" " <= ch <= "~" for ch in out)
    assert to_ascii(out) == out


@given(st.text())
def test_seven_segment_output_is_always_drawable(text: str) -> None:
    assert set(to_seven_segment(text)) <= set(SEVEN_SEG_FONT)


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + " 0123456789"))
def test_fold_keeps_the_length_of_vietnamese_text(text: str) -> None:
    assert len(fold_vietnamese(text)) == len(clean(text))


@given(st.text(), st.integers(1, 40), st.sampled_from(["left", "right", "center"]))
def test_fit_is_always_exactly_cols(text: str, cols: int, align: str) -> None:
    assert len(fit(text, cols, align)) == cols  # type: ignore[arg-type]

"""onestop.text: counts and percentages as people read them."""

from __future__ import annotations

import pytest

from onestop.text import percent, plural


@pytest.mark.parametrize(
    ("n", "expected"), [(0, "0 devices"), (1, "1 device"), (2, "2 devices"), (21, "21 devices")]
)
def test_plural_agrees_with_the_count(n: int, expected: str) -> None:
    assert plural(n, "device") == expected


def test_plural_takes_an_irregular_form() -> None:
    assert (plural(1, "entry", "entries"), plural(3, "entry", "entries")) == ("1 entry", "3 entries")


def test_percent_uses_a_decimal_comma_in_vietnamese_and_a_dot_in_english() -> None:
    assert percent(0.9534) == "95,3 %"
    assert percent(0.9534, "en") == "95.3 %"
    assert percent(1.0, "vi") == "100,0 %"
    assert percent(0.5, "vi", digits=0) == "50 %"
    assert percent(None) == percent(None, "en") == "—"

"""Small text helpers for what people read: counts with the right English plural, and percentages
written the way each language writes them (docs/hub.md, "Numbers")."""

from __future__ import annotations

from typing import Literal


def plural(n: int, one: str, many: str | None = None) -> str:
    """``"1 device"``, ``"2 devices"``, ``"0 devices"``: the count and the noun it agrees with.

    ``many`` defaults to ``one + "s"``; give it for irregular nouns (``plural(n, "entry", "entries")``).
    """
    return f"{n} {one if n == 1 else (many if many is not None else one + 's')}"


def percent(fraction: float | None, lang: Literal["vi", "en"] = "vi", digits: int = 1) -> str:
    """A fraction (0.953) as a percentage for people: ``"95,3 %"`` in Vietnamese (decimal comma),
    ``"95.3 %"`` in English; ``"—"`` when there is none. Machine formats (CSV, JSON) keep plain numbers."""
    if fraction is None:
        return "—"
    text = f"{100 * fraction:.{digits}f}"
    if lang == "vi":
        text = text.replace(".", ",")
    return f"{text} %"

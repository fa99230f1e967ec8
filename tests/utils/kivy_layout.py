"""A layout checker for the Kivy touch screens (kiosk, rating terminal): what a citizen would see
wrong, as a list of problems (empty when the screen is right).

- **outside**: a text drawn (partly) outside the window;
- **clipped**: a text whose rendered texture is larger than its widget (cut, or spilling over);
- **overlap**: two texts drawn over each other;
- **small text**: a text whose largest size has a cap height under 3.5 mm (Vietnamese, the main
  line) or whose smallest size is under 2.0 mm (the English line), on the panel it is drawn on; a
  label that is only a second-language line under its first-language one (the builder sets
  ``second_line = True`` on it) has the second line's floor, 2.0 mm, as it would inside one label;
- **small target**: a touch target under 9 mm either way, or a main one (``main`` ids) under 15 mm
  tall.

Texts are Kivy ``Label``s with text; the drawn box is the texture centred in the widget (Kivy's
``Label`` draws it so). A text inside a button is checked against its button, not as an overlap.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from kiosk_app.shell.panel import CAP_EN_MM, CAP_VI_MM, MAIN_TARGET_MM, TARGET_MM, Panel

SLACK_PX = 1.5
_SIZE = re.compile(r"\[size=(\d+(?:\.\d+)?)\]")
_SPAN = re.compile(r"\[size=[^\]]*\].*?\[/size\]", re.DOTALL)
_MARKUP = re.compile(r"\[/?[a-z]+(?:=[^\]]*)?\]")


def _box(w: Any) -> tuple[float, float, float, float]:
    x, y = w.to_window(w.x, w.y)
    return x, y, x + w.width, y + w.height


def _drawn(lbl: Any) -> tuple[float, float, float, float]:
    """The texture's box, centred in the label as Kivy draws it."""
    x0, y0, x1, y1 = _box(lbl)
    tw, th = lbl.texture_size
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return cx - tw / 2, cy - th / 2, cx + tw / 2, cy + th / 2


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > SLACK_PX and h > SLACK_PX else 0.0


def _ancestors(w: Any) -> Any:
    """``w`` and its parents up to the window (Kivy's window is its own parent: stop there)."""
    node = w
    while node is not None:
        yield node
        parent = node.parent
        node = None if parent is node else parent


def _visible(w: Any) -> bool:
    for node in _ancestors(w):
        if getattr(node, "opacity", 1) == 0 or (getattr(node, "disabled", False) and node is w):
            return False
    return True


def _words(lbl: Any) -> str:
    return " ".join(_MARKUP.sub("", lbl.text).split())


def _sizes(lbl: Any) -> list[float]:
    """Every font size a label uses: its own and its markup's (only those around some text)."""
    sizes = [float(m.group(1)) for m in _SIZE.finditer(lbl.text)]
    # a span's text may hold other tags ([color], [b]): its text is drawn at the span's size
    bare = _SIZE.sub("", _SPAN.sub("", lbl.text))
    if _MARKUP.sub("", bare).strip() or not sizes:
        sizes.append(float(lbl.font_size))
    return sizes


def layout_problems(
    root: Any,
    window: tuple[float, float],
    panel: Panel,
    *,
    targets: dict[str, Any] | None = None,
    main: Iterable[str] = (),
) -> list[str]:
    """What is wrong with the screen under ``root`` (see the module's docstring). ``targets`` maps ids
    to touch targets (the builders' ``buttons``); ids in ``main`` must be main-button tall."""
    from kivy.uix.behaviors import ButtonBehavior  # type: ignore[import-untyped]
    from kivy.uix.label import Label  # type: ignore[import-untyped]

    problems: list[str] = []
    width, height = window
    labels = [w for w in root.walk() if isinstance(w, Label) and _words(w) and _visible(w)]
    for lbl in labels:
        name = _words(lbl)[:40]
        d = _drawn(lbl)
        if d[0] < -SLACK_PX or d[1] < -SLACK_PX or d[2] > width + SLACK_PX or d[3] > height + SLACK_PX:
            problems.append(f"outside: {name!r} drawn at {tuple(round(v) for v in d)}")
        tw, th = lbl.texture_size
        if tw > lbl.width + SLACK_PX or th > lbl.height + SLACK_PX:
            problems.append(
                f"clipped: {name!r} needs {tw:.0f}×{th:.0f} px in {lbl.width:.0f}×{lbl.height:.0f}"
            )
        sizes = _sizes(lbl)
        big, small = max(sizes), min(sizes)
        floor = CAP_EN_MM if getattr(lbl, "second_line", False) else CAP_VI_MM
        if panel.cap_mm(big) < floor - 0.05:
            problems.append(f"small text: {name!r} {panel.cap_mm(big):.1f} mm < {floor} mm")
        if panel.cap_mm(small) < CAP_EN_MM - 0.05:
            problems.append(f"small text: {name!r} second line {panel.cap_mm(small):.1f} mm < {CAP_EN_MM} mm")
    drawn = [(lbl, _drawn(lbl)) for lbl in labels]
    for i, (a, da) in enumerate(drawn):
        for b, db in drawn[i + 1 :]:
            if _overlap(da, db) and not (_inside(a, b) or _inside(b, a)):
                problems.append(f"overlap: {_words(a)[:30]!r} and {_words(b)[:30]!r}")
    for key, btn in (targets or {}).items():
        if not isinstance(btn, ButtonBehavior) or not _visible(btn) or btn.parent is None:
            continue
        w_mm, h_mm = panel.to_mm(btn.width), panel.to_mm(btn.height)
        if min(w_mm, h_mm) < TARGET_MM - 0.05:
            problems.append(f"small target: {key} {w_mm:.1f}×{h_mm:.1f} mm < {TARGET_MM} mm")
        if key in set(main) and h_mm < MAIN_TARGET_MM - 0.05:
            problems.append(f"small target: {key} {h_mm:.1f} mm tall < {MAIN_TARGET_MM} mm (a main button)")
    return problems


def _inside(inner: Any, outer: Any) -> bool:
    """``inner`` is ``outer`` or one of its descendants (a button's own label)."""
    return any(node is outer for node in _ancestors(inner))


def smallest(root: Any, panel: Panel, targets: dict[str, Any] | None = None) -> dict[str, float]:
    """The smallest text (cap height, mm) and touch target (mm) on a screen: for the docs' tables."""
    from kivy.uix.label import Label

    caps = [panel.cap_mm(min(_sizes(w))) for w in root.walk() if isinstance(w, Label) and _words(w)]
    sides = [panel.to_mm(min(b.size)) for b in (targets or {}).values() if b.parent is not None]
    return {
        "text_mm": round(min(caps), 1) if caps else 0.0,
        "target_mm": round(min(sides), 1) if sides else 0.0,
    }

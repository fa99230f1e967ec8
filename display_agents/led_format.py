"""What the counter agent and the main board agent put on LED displays. Pure: payload in, text out.

Payloads are the retained ``state/counter/{counter}`` and ``state/board`` messages (ARCHITECTURE.md
§3), as dicts or as :mod:`onestop.protocol` models. The text is shaped for the display's charset
(:mod:`device_drivers.display.text`), so widths are counted as the board will show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from device_drivers.display.text import ASCII, SEVEN_SEG, for_charset
from onestop.protocol import BoardStateMsg, CounterStateMsg

#: The arrow between a number and its counter on a board line, per charset (default: "→").
ARROWS = {ASCII: "->", SEVEN_SEG: "-"}
#: What ends the line of a call made at a citizen's booked slot, per charset (default: "Hẹn", as the
#: TV board's "Đặt lịch" mark; a 7-segment board has no letters for it).
BOOKED_MARKS = {ASCII: "HEN", SEVEN_SEG: ""}


def counter_display_text(
    state: CounterStateMsg | Mapping[str, Any],
    *,
    closed: str = "----",
    idle: str = "",
    paused: str = "----",
    cols: int | None = None,
) -> str:
    """The counter display's text: the number being served, else ``closed``/``paused``/``idle``.

    A paused counter still shows the ticket it is serving. With ``cols``, a number too long for the
    display loses its prefix letters first, then its leading digits ("AB0123" on 4 → "0123")."""
    msg = state if isinstance(state, CounterStateMsg) else CounterStateMsg.model_validate(state)
    if msg.status == "closed":
        return closed
    if msg.serving is None:
        return paused if msg.status == "paused" else idle
    number = msg.serving.number
    if cols is not None and len(number) > cols:
        digits = number.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        number = digits[len(digits) - cols :] if len(digits) >= cols else number[len(number) - cols :]
    return number


def _call_line(number: str, counter: str, arrow: str, cols: int) -> str:
    """``A012 → 3``; without spaces when that does not fit; then cut at the right."""
    for line in (f"{number} {arrow} {counter}", f"{number}{arrow}{counter}"):
        if len(line) <= cols:
            return line
    return f"{number}{arrow}{counter}"[:cols]


def _marked(line: str, mark: str, cols: int) -> str:
    """``line`` with ``mark`` right-aligned after it when both fit with a space between, else ``line``."""
    if not mark or len(line) + 1 + len(mark) > cols:
        return line
    return line.ljust(cols - len(mark) - 1) + " " + mark


def _cut_words(text: str, room: int) -> str:
    """``text`` cut to ``room`` characters, dropping a word cut in half when an earlier one ends."""
    if len(text) <= room:
        return text
    cut = text[:room]
    if text[room] != " " and not cut.endswith(" ") and " " in cut.strip():
        cut = cut[: cut.rstrip().rfind(" ")]
    return cut.rstrip()


def _service_line(name: str, waiting: int, cols: int) -> str:
    """The service name, cut (at a word when it can) to leave room for its right-aligned count."""
    count = str(waiting)
    room = cols - len(count) - 1
    if room < 1:
        return count[:cols]
    return _cut_words(name, room).ljust(room) + " " + count


def board_lines(
    state: BoardStateMsg | Mapping[str, Any],
    rows: int,
    cols: int,
    charset: str = "utf-8",
    *,
    max_calls: int | None = None,
    counter: Literal["counter", "counter_label"] = "counter",
    skip_empty: bool = False,
    arrow: str | None = None,
    booked_mark: str | None = None,
) -> list[str]:
    """Exactly ``rows`` lines of at most ``cols`` characters for a hall board.

    The last calls come first, newest first (``A012 → 3``; ``counter="counter_label"`` writes
    "Quầy 3" instead of "3"), at most ``max_calls`` of them (default: as many as fit). Rows left
    over list the services with how many wait (the name cut, at a word when it can, so that the
    count always shows, right-aligned), in the
    payload's order, without those nobody waits for when ``skip_empty``. Empty rows are ``""``.
    For ``ascii``/``7seg`` boards the text is folded ("Quầy" → "Quay", "→" → "->"). A call made at a
    citizen's booked slot (``booked``) ends with ``booked_mark`` (default :data:`BOOKED_MARKS`:
    "Hẹn", "HEN" on ``ascii``, nothing on ``7seg``), right-aligned, when the line has room for it."""
    if rows < 1 or cols < 1:
        raise ValueError(f"a board has at least one row and one column, not {rows}×{cols}")
    msg = state if isinstance(state, BoardStateMsg) else BoardStateMsg.model_validate(state)
    arrow_text = for_charset(arrow if arrow is not None else ARROWS.get(charset, "→"), charset)
    mark = for_charset(booked_mark if booked_mark is not None else BOOKED_MARKS.get(charset, "Hẹn"), charset)
    limit = rows if max_calls is None else max(0, min(max_calls, rows))
    out: list[str] = []
    for call in msg.calls[:limit]:
        number = for_charset(call.number, charset)
        where = for_charset(getattr(call, counter), charset)
        line = _call_line(number, where, arrow_text, cols)
        out.append(_marked(line, mark, cols) if call.booked else line)
    for svc in msg.services:
        if len(out) >= rows:
            break
        if skip_empty and svc.waiting == 0:
            continue
        out.append(_service_line(for_charset(svc.name, charset), svc.waiting, cols))
    return out + [""] * (rows - len(out))

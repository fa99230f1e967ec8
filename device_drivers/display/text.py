"""Text shaping for LED displays: Vietnamese → ASCII fold, the 7-segment font, fitting to a width.

Pure functions, no I/O. What a display can show depends on its *charset*:

- ``"ascii"``: tone marks are stripped and đ → d ("Quầy 3" → "Quay 3"), a few symbols get ASCII
  stand-ins ("→" → ">"), anything else that is not ASCII becomes ``?``;
- ``"7seg"``: the ASCII fold, upper case, then :data:`SEVEN_SEG_FONT`; a character the font cannot
  show becomes ``-`` (:data:`SEVEN_SEG_SUBSTITUTE`), logged once per display and character;
- any other name is a Python codec (``"utf-8"``, ``"cp1258"``): text passes through unchanged.

Every charset turns control characters into spaces first, so text can never break a frame.
"""

from __future__ import annotations

import codecs
import logging
import unicodedata
from collections.abc import Callable
from typing import Literal

Align = Literal["left", "right", "center"]

#: Stand-ins for symbols that agents may use, when the board only has ASCII.
ASCII_SYMBOLS: dict[str, str] = {
    "→": ">",
    "–": "-",
    "—": "-",
    "‘": "'",
    "’": "'",
    "“": '"',
    "”": '"',
    "…": "...",
    "·": ".",
    "\u00a0": " ",
}

#: Segment bitmaps, bit 0 = segment a (top), 1 = b (top right), 2 = c (bottom right),
#: 3 = d (bottom), 4 = e (bottom left), 5 = f (top left), 6 = g (middle), 7 = dp (unused here).
#: Letters that 7 segments cannot draw recognisably (K, M, V, W, X, Z) are absent on purpose.
SEVEN_SEG_FONT: dict[str, int] = {
    " ": 0x00,
    "-": 0x40,
    "_": 0x08,
    "0": 0x3F,
    "1": 0x06,
    "2": 0x5B,
    "3": 0x4F,
    "4": 0x66,
    "5": 0x6D,
    "6": 0x7D,
    "7": 0x07,
    "8": 0x7F,
    "9": 0x6F,
    "A": 0x77,
    "B": 0x7C,  # b
    "C": 0x39,
    "D": 0x5E,  # d
    "E": 0x79,
    "F": 0x71,
    "G": 0x3D,
    "H": 0x76,
    "I": 0x30,  # left segments, so that it differs from 1
    "J": 0x1E,
    "L": 0x38,
    "N": 0x54,  # n
    "O": 0x5C,  # o, so that it differs from 0
    "P": 0x73,
    "Q": 0x67,  # q
    "R": 0x50,  # r
    "S": 0x6D,  # same as 5
    "T": 0x78,  # t
    "U": 0x3E,
    "Y": 0x6E,  # y
}

#: What a 7-segment display shows instead of a character its font lacks.
SEVEN_SEG_SUBSTITUTE = "-"

SEVEN_SEG = "7seg"
ASCII = "ascii"


def check_charset(charset: str) -> str:
    """``charset`` if it is ``ascii``, ``7seg`` or a Python codec; ``ValueError`` otherwise."""
    if charset not in (ASCII, SEVEN_SEG):
        try:
            codecs.lookup(charset)
        except LookupError:
            raise ValueError(f"charset {charset!r} is not 'ascii', '7seg' or a known codec") from None
    return charset


def clean(text: str) -> str:
    """NFC, with control characters (which could end a frame early) turned into spaces."""
    text = unicodedata.normalize("NFC", text)
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def fold_vietnamese(text: str) -> str:
    """Strip Vietnamese tone and vowel marks and turn đ/Đ into d/D; other characters are kept."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", bare.replace("đ", "d").replace("Đ", "D"))


def to_ascii(text: str, replacement: str = "?") -> str:
    """Fold to printable ASCII: Vietnamese folded, known symbols replaced, the rest ``replacement``."""
    folded = fold_vietnamese(clean(text))
    out = []
    for ch in folded:
        if ch in ASCII_SYMBOLS:
            out.append(ASCII_SYMBOLS[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(replacement)
    return "".join(out)


def to_seven_segment(
    text: str,
    substitute: str = SEVEN_SEG_SUBSTITUTE,
    on_unsupported: Callable[[str], None] | None = None,
) -> str:
    """Upper-case ASCII that :data:`SEVEN_SEG_FONT` can draw; ``on_unsupported(ch)`` hears each miss."""
    folded = "".join(ASCII_SYMBOLS.get(ch, ch) for ch in fold_vietnamese(clean(text)))
    out = []
    for ch in folded.upper():
        if ch in SEVEN_SEG_FONT:
            out.append(ch)
        else:
            if on_unsupported is not None:
                on_unsupported(ch)
            out.append(substitute)
    return "".join(out)


def for_charset(text: str, charset: str, on_unsupported: Callable[[str], None] | None = None) -> str:
    """The text a display of this charset will show (see the module docstring)."""
    if charset == SEVEN_SEG:
        return to_seven_segment(text, on_unsupported=on_unsupported)
    if charset == ASCII:
        return to_ascii(text)
    return clean(text)


def fit(text: str, cols: int, align: Align = "left") -> str:
    """Exactly ``cols`` characters: padded with spaces, or cut.

    Left and centred text keeps its start when cut; right-aligned text keeps its end (a number's
    last digits matter most)."""
    if len(text) > cols:
        return text[len(text) - cols :] if align == "right" else text[:cols]
    if align == "right":
        return text.rjust(cols)
    if align == "center":
        return text.center(cols)
    return text.ljust(cols)


def scale_percent(percent: int, top: int) -> int:
    """``percent`` of ``top``, rounded half up (50 % of 7 is 4)."""
    return (percent * top + 50) // 100


class WarnOnce:
    """Logs a warning once per key, so a recurring problem is announced but never floods the log."""

    def __init__(self, logger: logging.Logger) -> None:
        self._log = logger
        self._seen: set[str] = set()

    def __call__(self, key: str, message: str, *args: object) -> None:
        """Warn with ``message % args`` unless ``key`` was warned about before."""
        if key not in self._seen:
            self._seen.add(key)
            self._log.warning(message, *args)

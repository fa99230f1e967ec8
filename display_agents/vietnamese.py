"""Vietnamese reading of ticket numbers and counters, for the hall voice call (DOMAIN.md "Tickets
and calling").

Number words follow the standard rules, with the two dialects the announcer offers:

- 1 after a tens word of 20 and above is ``mốt`` (21 "hai mươi mốt"); 11 is "mười một"; after
  ``linh``/``lẻ`` it stays ``một`` (101 "một trăm linh một").
- 5 after any tens word is ``lăm`` (15 "mười lăm", 25 "hai mươi lăm"); alone or after
  ``linh``/``lẻ`` it stays ``năm`` (105 "một trăm linh năm").
- 4 after ``mươi`` is ``tư`` in the north (24 "hai mươi tư") and ``bốn`` in the south (24 "hai
  mươi bốn"): Wiktionary marks this ``tư`` "chiefly Northern Vietnam, only in compounds"
  (https://en.wiktionary.org/wiki/tư). 14 is "mười bốn" and 104 "một trăm linh bốn" in both.
- A zero tens digit after hundreds is ``linh`` (north) / ``lẻ`` (south); a zero hundreds digit
  inside a larger number is read "không trăm" (1023 "một nghìn không trăm hai mươi ba").
- Thousand is ``nghìn`` (north) / ``ngàn`` (south); million is ``triệu``.

Everything returned is NFC. Nothing here does I/O.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

from onestop.errors import OnestopError

Dialect = Literal["north", "south"]
Mode = Literal["whole", "digits"]

#: The largest number :func:`number_words` reads.
MAX_NUMBER = 999_999_999

#: Digit names 0-9, as read one by one.
DIGITS: tuple[str, ...] = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")

#: The opening and the middle of the call, as written (and recorded) in one piece each.
INVITE = "Xin mời công dân có số thứ tự"
TO_COUNTER = "đến quầy số"

#: Every word :func:`number_words` can produce, in either dialect.
NUMBER_WORDS: frozenset[str] = frozenset(
    [*DIGITS, "mốt", "lăm", "tư", "mười", "mươi", "trăm", "nghìn", "ngàn", "triệu", "linh", "lẻ"]
)

#: How each ticket prefix letter is named aloud. Vietnamese has no F, J, W, Z: their usual
#: Vietnamese names are used. Đ is included for completeness (prefixes in site.toml are A-Z).
LETTER_NAMES: dict[str, str] = {
    "A": "a",
    "B": "bê",
    "C": "xê",
    "D": "dê",
    "Đ": "đê",
    "E": "e",
    "F": "ép",
    "G": "giê",
    "H": "hát",
    "I": "i",
    "J": "gi",
    "K": "ca",
    "L": "e-lờ",
    "M": "em-mờ",
    "N": "en-nờ",
    "O": "o",
    "P": "pê",
    "Q": "quy",
    "R": "e-rờ",
    "S": "ét-sì",
    "T": "tê",
    "U": "u",
    "V": "vê",
    "W": "vê kép",
    "X": "ích-xì",
    "Y": "i dài",
    "Z": "dét",
}

_TICKET = re.compile(r"([A-ZĐ]{0,2})([0-9]{1,12})")
_LAST_NUMBER = re.compile(r"([0-9]+)\D*$")


class NotReadable(OnestopError, ValueError):
    """A ticket number or counter that cannot be read out (no digits, unknown letter, too large)."""


def nfc(text: str) -> str:
    """``text`` in Unicode NFC."""
    return unicodedata.normalize("NFC", text)


def _check_dialect(dialect: str) -> None:
    if dialect not in ("north", "south"):
        raise NotReadable(f"unknown dialect {dialect!r}: expected 'north' or 'south'")


def _below_thousand(n: int, full: bool, dialect: str) -> list[str]:
    """Words of 0 < n < 1000; ``full`` reads a zero hundreds digit ("không trăm") and ``linh``."""
    hundreds, tens, units = n // 100, n // 10 % 10, n % 10
    out: list[str] = []
    if hundreds or full:
        out += [DIGITS[hundreds], "trăm"]
    if tens == 0:
        if units:
            if out:
                out.append("linh" if dialect == "north" else "lẻ")
            out.append(DIGITS[units])
        return out
    if tens == 1:
        out.append("mười")
    else:
        out += [DIGITS[tens], "mươi"]
    if units == 1 and tens >= 2:
        out.append("mốt")
    elif units == 4 and tens >= 2 and dialect == "north":
        out.append("tư")
    elif units == 5:
        out.append("lăm")
    elif units:
        out.append(DIGITS[units])
    return out


def number_words(n: int, dialect: Dialect | str = "north") -> list[str]:
    """The Vietnamese words of a whole number 0 ≤ n ≤ 999,999,999, one list item per word."""
    _check_dialect(dialect)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_NUMBER:
        raise NotReadable(f"cannot read {n!r}: expected a whole number from 0 to {MAX_NUMBER:,}")
    if n == 0:
        return [DIGITS[0]]
    thousand = "nghìn" if dialect == "north" else "ngàn"
    groups = [(n // 1_000_000, "triệu"), (n // 1000 % 1000, thousand), (n % 1000, "")]
    out: list[str] = []
    for value, unit in groups:
        if value == 0:
            continue
        out += _below_thousand(value, full=bool(out), dialect=dialect)
        if unit:
            out.append(unit)
    return out


def number_text(n: int, dialect: Dialect | str = "north") -> str:
    """:func:`number_words` joined with single spaces."""
    return " ".join(number_words(n, dialect))


def digit_words(s: str) -> list[str]:
    """Digit-by-digit reading of the digits in ``s`` ("A012" → không, một, hai); letters are skipped."""
    return [DIGITS[int(ch)] for ch in s if ch in "0123456789"]


def letter_name(ch: str) -> str:
    """How a ticket prefix letter is named aloud ("B" → "bê"); raises NotReadable for other characters."""
    key = nfc(ch).upper()
    try:
        return LETTER_NAMES[key]
    except KeyError:
        raise NotReadable(f"no Vietnamese name for the letter {ch!r}") from None


def split_ticket(number: str) -> tuple[str, str]:
    """Split a ticket number into its letter prefix and its digits ("a012" → ("A", "012"))."""
    text = nfc(number).strip().upper()
    m = _TICKET.fullmatch(text)
    if not m:
        raise NotReadable(
            f"cannot read ticket number {number!r}: expected up to two letters then digits, e.g. A012"
        )
    return m.group(1), m.group(2)


def ticket_words(number: str, mode: Mode | str, dialect: Dialect | str = "north") -> list[str]:
    """The spoken words of a ticket number's digits: one by one ("digits") or as a whole number."""
    _, digits = split_ticket(number)
    if mode == "digits":
        return digit_words(digits)
    if mode == "whole":
        value = int(digits)
        if value > MAX_NUMBER:
            raise NotReadable(f"ticket number {number!r} is too large to read as a whole number")
        return number_words(value, dialect)
    raise NotReadable(f"unknown mode {mode!r}: expected 'whole' or 'digits'")


def counter_number(counter: str) -> int:
    """The number a counter is called by: its id if numeric, else the last number in its label."""
    text = nfc(str(counter)).strip()
    m = _LAST_NUMBER.search(text)
    if not m:
        raise NotReadable(f"counter {counter!r} has no number to read out (expected e.g. '3' or 'Quầy 3')")
    value = int(m.group(1))
    if value > MAX_NUMBER:
        raise NotReadable(f"counter number {value} is too large to read out")
    return value


def call_sentence(
    number: str,
    counter_label_or_number: str,
    mode: Mode | str = "digits",
    dialect: Dialect | str = "north",
) -> str:
    """The call, once, as text: "Xin mời công dân có số thứ tự A không một hai đến quầy số ba".

    The prefix is written as its letters (it is spoken by its name); the counter is always read as
    a whole number.
    """
    _check_dialect(dialect)
    prefix, _ = split_ticket(number)
    for ch in prefix:
        letter_name(ch)
    words = ticket_words(number, mode, dialect)
    counter_words = number_words(counter_number(counter_label_or_number), dialect)
    parts = [INVITE, *([prefix] if prefix else []), *words, TO_COUNTER, *counter_words]
    return nfc(" ".join(parts))

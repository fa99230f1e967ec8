"""Vietnamese reading of numbers, letters and the call sentence (DOMAIN.md test vectors)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from display_agents.vietnamese import (
    DIGITS,
    INVITE,
    LETTER_NAMES,
    MAX_NUMBER,
    NUMBER_WORDS,
    TO_COUNTER,
    NotReadable,
    call_sentence,
    counter_number,
    digit_words,
    letter_name,
    number_text,
    number_words,
    split_ticket,
    ticket_words,
)
from onestop.errors import OnestopError

# (n, north, south): every vector of DOMAIN.md, plus the rules the brief spells out.
VECTORS = [
    (0, "không", "không"),
    (1, "một", "một"),
    (4, "bốn", "bốn"),
    (5, "năm", "năm"),
    (10, "mười", "mười"),
    (11, "mười một", "mười một"),
    (14, "mười bốn", "mười bốn"),
    (15, "mười lăm", "mười lăm"),
    (20, "hai mươi", "hai mươi"),
    (21, "hai mươi mốt", "hai mươi mốt"),
    (24, "hai mươi tư", "hai mươi bốn"),
    (25, "hai mươi lăm", "hai mươi lăm"),
    (31, "ba mươi mốt", "ba mươi mốt"),
    (44, "bốn mươi tư", "bốn mươi bốn"),
    (55, "năm mươi lăm", "năm mươi lăm"),
    (100, "một trăm", "một trăm"),
    (101, "một trăm linh một", "một trăm lẻ một"),
    (104, "một trăm linh bốn", "một trăm lẻ bốn"),
    (105, "một trăm linh năm", "một trăm lẻ năm"),
    (110, "một trăm mười", "một trăm mười"),
    (111, "một trăm mười một", "một trăm mười một"),
    (115, "một trăm mười lăm", "một trăm mười lăm"),
    (121, "một trăm hai mươi mốt", "một trăm hai mươi mốt"),
    (125, "một trăm hai mươi lăm", "một trăm hai mươi lăm"),
    (1000, "một nghìn", "một ngàn"),
    (1005, "một nghìn không trăm linh năm", "một ngàn không trăm lẻ năm"),
    (1010, "một nghìn không trăm mười", "một ngàn không trăm mười"),
    (1023, "một nghìn không trăm hai mươi ba", "một ngàn không trăm hai mươi ba"),
    (1100, "một nghìn một trăm", "một ngàn một trăm"),
    (2001, "hai nghìn không trăm linh một", "hai ngàn không trăm lẻ một"),
    (10_005, "mười nghìn không trăm linh năm", "mười ngàn không trăm lẻ năm"),
    (15_000, "mười lăm nghìn", "mười lăm ngàn"),
    (21_000, "hai mươi mốt nghìn", "hai mươi mốt ngàn"),
    (100_000, "một trăm nghìn", "một trăm ngàn"),
    (999_999, "chín trăm chín mươi chín nghìn chín trăm chín mươi chín", None),
    (1_000_000, "một triệu", "một triệu"),
    (1_000_023, "một triệu không trăm hai mươi ba", "một triệu không trăm hai mươi ba"),
    (2_005_000, "hai triệu không trăm linh năm nghìn", "hai triệu không trăm lẻ năm ngàn"),
]


@pytest.mark.parametrize(("n", "north", "south"), VECTORS)
def test_number_vectors_in_both_dialects(n: int, north: str, south: str | None) -> None:
    assert number_text(n, "north") == north
    assert number_words(n) == north.split()  # north is the default
    if south is not None:
        assert number_text(n, "south") == south


def test_num2words_mistake_is_not_ours() -> None:
    assert number_text(1023) != "một nghìn lẻ hai mươi ba"


@pytest.mark.parametrize("bad", [-1, MAX_NUMBER + 1, 1.5, True, "12"])
def test_numbers_out_of_range_are_refused(bad: object) -> None:
    with pytest.raises(NotReadable):
        number_words(bad)  # type: ignore[arg-type]


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(NotReadable, match="dialect"):
        number_words(5, "central")


def test_digit_words() -> None:
    assert digit_words("A012") == ["không", "một", "hai"]
    assert digit_words("0123456789") == list(DIGITS)
    assert DIGITS == ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín")


@pytest.mark.parametrize(
    ("ch", "name"),
    [
        ("A", "a"),
        ("B", "bê"),
        ("C", "xê"),
        ("D", "dê"),
        ("Đ", "đê"),
        ("E", "e"),
        ("G", "giê"),
        ("H", "hát"),
        ("K", "ca"),
        ("L", "e-lờ"),
        ("M", "em-mờ"),
        ("N", "en-nờ"),
        ("P", "pê"),
        ("Q", "quy"),
        ("R", "e-rờ"),
        ("S", "ét-sì"),
        ("T", "tê"),
        ("V", "vê"),
        ("X", "ích-xì"),
        ("Y", "i dài"),
        ("F", "ép"),
        ("J", "gi"),
        ("W", "vê kép"),
        ("Z", "dét"),
        ("b", "bê"),
    ],
)
def test_letter_names(ch: str, name: str) -> None:
    assert letter_name(ch) == name


def test_every_ascii_capital_has_a_name() -> None:
    assert set("ABCDEFGHIJKLMNOPQRSTUVWXYZ") <= set(LETTER_NAMES)
    for name in LETTER_NAMES.values():
        assert unicodedata.is_normalized("NFC", name)


@pytest.mark.parametrize("ch", ["1", "-", "Ä", ""])
def test_letters_without_a_name(ch: str) -> None:
    with pytest.raises(NotReadable):
        letter_name(ch)


def test_split_ticket() -> None:
    assert split_ticket("A012") == ("A", "012")
    assert split_ticket(" a012 ") == ("A", "012")
    assert split_ticket("AB007") == ("AB", "007")
    assert split_ticket("1012") == ("", "1012")


@pytest.mark.parametrize("bad", ["", "A", "012A", "ABC1", "A-12", "A 12", "A0123456789012"])
def test_unreadable_ticket_numbers(bad: str) -> None:
    with pytest.raises(NotReadable) as info:
        split_ticket(bad)
    assert isinstance(info.value, OnestopError) and isinstance(info.value, ValueError)


def test_ticket_words() -> None:
    assert ticket_words("A012", "digits") == ["không", "một", "hai"]
    assert ticket_words("A012", "whole") == ["mười", "hai"]
    assert ticket_words("A000", "whole") == ["không"]
    assert ticket_words("B024", "whole", "south") == ["hai", "mươi", "bốn"]
    with pytest.raises(NotReadable, match="mode"):
        ticket_words("A012", "loud")


@pytest.mark.parametrize(
    ("counter", "n"), [("3", 3), ("03", 3), ("Quầy 3", 3), ("Quầy số 12", 12), ("q-7", 7)]
)
def test_counter_number(counter: str, n: int) -> None:
    assert counter_number(counter) == n


def test_counter_without_a_number() -> None:
    with pytest.raises(NotReadable, match="no number"):
        counter_number("Quầy Tư pháp")


@pytest.mark.parametrize(
    ("number", "counter", "mode", "dialect", "sentence"),
    [
        ("A012", "3", "digits", "north", f"{INVITE} A không một hai {TO_COUNTER} ba"),
        ("A012", "3", "whole", "north", f"{INVITE} A mười hai {TO_COUNTER} ba"),
        ("A012", "Quầy 3", "whole", "south", f"{INVITE} A mười hai {TO_COUNTER} ba"),
        ("B024", "24", "whole", "north", f"{INVITE} B hai mươi tư {TO_COUNTER} hai mươi tư"),
        ("B024", "24", "whole", "south", f"{INVITE} B hai mươi bốn {TO_COUNTER} hai mươi bốn"),
        ("C101", "1", "whole", "north", f"{INVITE} C một trăm linh một {TO_COUNTER} một"),
        ("C101", "1", "whole", "south", f"{INVITE} C một trăm lẻ một {TO_COUNTER} một"),
        ("C101", "1", "digits", "south", f"{INVITE} C một không một {TO_COUNTER} một"),
        ("AB015", "15", "whole", "north", f"{INVITE} AB mười lăm {TO_COUNTER} mười lăm"),
        ("1023", "2", "whole", "north", f"{INVITE} một nghìn không trăm hai mươi ba {TO_COUNTER} hai"),
        ("1023", "2", "whole", "south", f"{INVITE} một ngàn không trăm hai mươi ba {TO_COUNTER} hai"),
    ],
)
def test_call_sentence(number: str, counter: str, mode: str, dialect: str, sentence: str) -> None:
    assert call_sentence(number, counter, mode, dialect) == sentence


def test_call_sentence_of_domain_md() -> None:
    assert (
        call_sentence("A012", "3", "digits", "north")
        == "Xin mời công dân có số thứ tự A không một hai đến quầy số ba"
    )


def test_call_sentence_is_nfc_even_from_decomposed_input() -> None:
    decomposed = unicodedata.normalize("NFD", "Quầy 3")
    out = call_sentence("A012", decomposed, "digits", "north")
    assert unicodedata.is_normalized("NFC", out)
    assert out.endswith("đến quầy số ba")


# -- properties ---------------------------------------------------------------------------------


def parse_north(words: list[str]) -> int:
    """Words of the northern reading back to the number (a deliberately naive reader)."""
    value = {w: i for i, w in enumerate(DIGITS)} | {"mốt": 1, "tư": 4, "lăm": 5}
    total, group, pending = 0, 0, 0
    for w in words:
        if w in value:
            pending = value[w]
        elif w == "trăm":
            group, pending = group + 100 * pending, 0
        elif w == "mươi":
            group, pending = group + 10 * pending, 0
        elif w == "mười":
            group += 10
        elif w == "linh":
            pass
        elif w in ("nghìn", "triệu"):
            total += (group + pending) * (1000 if w == "nghìn" else 1_000_000)
            group, pending = 0, 0
        else:
            raise ValueError(f"unexpected word {w!r}")
    return total + group + pending


numbers = st.integers(min_value=0, max_value=MAX_NUMBER) | st.integers(min_value=0, max_value=9999)


@given(numbers)
def test_north_round_trips(n: int) -> None:
    assert parse_north(number_words(n, "north")) == n


@given(numbers, st.sampled_from(["north", "south"]))
def test_only_known_words_single_spaces_nfc(n: int, dialect: str) -> None:
    words = number_words(n, dialect)
    assert words and set(words) <= NUMBER_WORDS
    text = number_text(n, dialect)
    assert "  " not in text and text == text.strip()
    assert unicodedata.is_normalized("NFC", text)


@given(numbers)
def test_word_rules_hold(n: int) -> None:
    words = number_words(n, "north")
    for before, w in zip(["<start>", *words[:-1]], words, strict=True):
        if w == "mốt":
            assert before == "mươi"  # 21, 31...: never after mười (11) or linh (101)
        if w == "tư":
            assert before == "mươi"
        if w == "lăm":
            assert before in ("mười", "mươi")
        if w in ("một", "năm"):
            assert before not in ("mươi", "mười") or (w == "một" and before == "mười")
        if w == "linh":
            assert before == "trăm"


@given(numbers)
def test_south_differs_from_north_only_by_its_words(n: int) -> None:
    north, south = number_words(n, "north"), number_words(n, "south")
    swap = {"tư": "bốn", "linh": "lẻ", "nghìn": "ngàn"}
    assert south == [swap.get(w, w) for w in north]


tickets = st.builds(
    lambda prefix, digits: prefix + digits,
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=2),
    st.text(alphabet="0123456789", min_size=1, max_size=5),
)


@given(
    tickets,
    st.integers(min_value=1, max_value=999),
    st.sampled_from(["whole", "digits"]),
    st.sampled_from(["north", "south"]),
)
def test_sentences_are_clean(ticket: str, counter: int, mode: str, dialect: str) -> None:
    text = call_sentence(ticket, f"Quầy {counter}", mode, dialect)
    assert unicodedata.is_normalized("NFC", text)
    assert "  " not in text and text == text.strip()
    assert text.startswith(INVITE + " ")
    prefix, _ = split_ticket(ticket)
    allowed = NUMBER_WORDS | set(INVITE.split()) | set(TO_COUNTER.split()) | ({prefix} if prefix else set())
    assert set(text.split()) <= allowed
    tail = text.split(TO_COUNTER + " ")[1].split()
    if dialect == "north":
        assert parse_north(tail) == counter

"""Classifying scanned and typed codes (docs/citizen-id.md "Classifying scans")."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onestop.citizen_id import CitizenCard, VneidCode
from onestop.scan_codes import (
    BookingCode,
    DossierCode,
    Unknown,
    classify,
    classify_typed,
    normalise_typed_code,
)

TODAY = date(2026, 12, 4)
CARD = "001052012345|011234567|Nguyễn Văn An|15031952|Nam|Hà Nội|10052021"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("000.00.12.H23-241204-0003", DossierCode("000.00.12.H23-241204-0003", "bare")),
        ("000.00.12.h23-241204-0003\r\n", DossierCode("000.00.12.H23-241204-0003", "bare")),
        (
            "https://dichvucong.hagiang.gov.vn/tra-cuu?maHoSo=000.00.12.H23-241204-0003",
            DossierCode("000.00.12.H23-241204-0003", "url"),
        ),
        (
            "http://motcua.example.vn/hs?x=1&mahoso=000.00.12.H23-241204-0003",
            DossierCode("000.00.12.H23-241204-0003", "url"),
        ),
        ("https://a.example.vn/?code=G22.29-250101-0042", DossierCode("G22.29-250101-0042", "url")),
        (
            "https://a.example.vn/ho-so/000.00.12.H23-241204-0003",
            DossierCode("000.00.12.H23-241204-0003", "url"),
        ),
        ("DL24120400017", BookingCode("DL24120400017")),
        ("dl2412040ABC", BookingCode("DL2412040ABC")),
    ],
)
def test_codes(text: str, expected: object) -> None:
    assert classify(text, today=TODAY) == expected


def test_card_and_vneid() -> None:
    card = classify(CARD, today=TODAY)
    assert isinstance(card, CitizenCard) and card.name == "Nguyễn Văn An"
    assert isinstance(classify("https://vneid.gov.vn/qr/abc", today=TODAY), VneidCode)
    assert isinstance(classify("Q" * 300, today=TODAY), VneidCode)  # a long opaque token


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("000.00.12.H23-241304-0003", "unknown"),  # month 13
        ("000.00.12.H23-241204-003", "unknown"),
        ("DL1234567", "unknown"),  # 7 after DL
        ("DL123456789012", "unknown"),  # 12 after DL
        ("https://example.vn/tra-cuu?maHoSo=abc", "unknown_url"),
        ("ftp://x/000.00.12.H23-241204-0003", "unknown"),
        ("001052012345|011234567|Nguyễn Văn An|15031952|Nữ|Hà Nội|10052021", "id_sex_mismatch"),
        ("x" * 9000, "too_long"),
    ],
)
def test_unknown(text: str, reason: str) -> None:
    out = classify(text, today=TODAY)
    assert isinstance(out, Unknown) and out.reason == reason and out.vi and out.en
    assert "Nguyễn" not in out.vi + out.en


def test_garbage_bytes() -> None:
    out = classify(bytes(range(256)) * 32, today=TODAY)
    assert isinstance(out, Unknown)


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_classify_never_raises(text: str | bytes) -> None:
    classify(text, today=TODAY)
    if isinstance(text, str):
        classify_typed(text)


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("dl 2412-0400-017", "DL24120400017"),
        ("  DL24120400017 ", "DL24120400017"),
        ("ＤＬ２４１２０４０００１７", "DL24120400017"),  # full-width
        ("000.00.12.h23-241204-0003", "000.00.12.H23-241204-0003"),
        ("000.00.12.H23 241204 0003", "000.00.12.H23-241204-0003"),
        ("000.00.12.H23 – 241204 – 0003", "000.00.12.H23-241204-0003"),
    ],
)
def test_normalise_typed(typed: str, canonical: str) -> None:
    assert normalise_typed_code(typed) == canonical


def test_classify_typed() -> None:
    assert classify_typed("dl-2412-0400-017") == BookingCode("DL24120400017")
    assert classify_typed("000.00.12.H23 241204 0003") == DossierCode("000.00.12.H23-241204-0003", "typed")
    assert isinstance(classify_typed("hello"), Unknown)
    assert isinstance(classify_typed("9" * 500), Unknown)

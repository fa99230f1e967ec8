"""The identity card QR parser on real-format vectors (synthetic people, the real layout)."""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest

from onestop.citizen_id import (
    MAX_TEXT,
    PROVINCE_CODES,
    CitizenCard,
    InvalidCard,
    NotSupported,
    UnknownFormat,
    age_on,
    parse_card,
    priority_by_age,
    recognise_vneid,
)

TODAY = date(2026, 12, 4)

#: A man born 1952 in Hà Nội (001), 4th digit 0 (1900s, male), card issued in 2021 with his old CMND.
AN = (
    "001052012345|011234567|Nguyễn Văn An|15031952|Nam|"
    "Số 12 ngõ 34 phố Hàng Bạc, Phường Hàng Bạc, Quận Hoàn Kiếm, Hà Nội|10052021"
)
#: A woman born 2005 in Hồ Chí Minh City (079), 4th digit 3 (2000s, female), no old CMND.
NGOC = (
    "079305001234||Trần Thị Bích Ngọc|22082005|Nữ|"
    "123 Lê Lợi, Phường Bến Thành, Quận 1, TP. Hồ Chí Minh|01072021"
)


def test_cccd_2021_layout() -> None:
    card = parse_card(AN, today=TODAY)
    assert card.id_number == "001052012345" and card.old_id == "011234567"
    assert card.name == "Nguyễn Văn An" and card.sex == "Nam"
    assert card.birth_date == date(1952, 3, 15) and card.issue_date == date(2021, 5, 10)
    assert card.address.startswith("Số 12 ngõ 34") and card.layout == "cccd-2021" and card.extra_fields == 0
    assert card.province_code == "001"


def test_empty_old_id_and_female_2000s() -> None:
    card = parse_card(NGOC, today=TODAY)
    assert card.old_id is None and card.sex == "Nữ" and card.birth_date.year == 2005


def test_nfd_input_becomes_nfc() -> None:
    nfd = unicodedata.normalize("NFD", NGOC)
    assert nfd != NGOC
    card = parse_card(nfd, today=TODAY)
    assert card.name == "Trần Thị Bích Ngọc" and unicodedata.is_normalized("NFC", card.name)
    assert unicodedata.is_normalized("NFC", card.address)


def test_bytes_scanner_line_end_and_bom() -> None:
    card = parse_card(("\ufeff" + AN + "\r\n").encode(), today=TODAY)
    assert card.id_number == "001052012345"


def test_extra_trailing_fields_are_counted_not_kept() -> None:
    text = AN + "|Nguyễn Văn Bố|Lê Thị Mẹ|"
    card = parse_card(text, today=TODAY)
    assert card.extra_fields == 3 and "Bố" not in repr(card)
    assert not any("Bố" in str(getattr(card, f)) for f in card.__dataclass_fields__)


def test_2024_card_order() -> None:
    # Thông tư 16/2024/TT-BCA lists: id; name; birth; sex; residence; issue date; CMND; cancelled id; parents.
    text = "046048000777|Lê Văn Bình|01021948|Nam|Thôn 3, xã Hương Thọ, thành phố Huế|15082024|191234567|"
    card = parse_card(text, today=TODAY)
    assert card.layout == "can-cuoc-2024" and card.old_id == "191234567" and card.name == "Lê Văn Bình"
    assert card.issue_date == date(2024, 8, 15) and card.extra_fields == 1
    six = parse_card("046048000777|Lê Văn Bình|01021948|Nam|Huế|15082024", today=TODAY)
    assert six.old_id is None and six.extra_fields == 0


def test_repr_masks_personal_data() -> None:
    card = parse_card(AN, today=TODAY)
    for text in (repr(card), str(card), f"{card}"):
        assert "012345" not in text and "Nguyễn" not in text and "1952" not in text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   \r\n", "empty"),
        ("001052012345|011234567|Nguyễn Văn An|15031952|Nam", "missing_fields"),
        ("001052012345|011234567|Nguyễn Văn An|15031952|Nam|Hà Nội", "missing_fields"),
        ("hello world", "not_a_card"),
        ("a|b|c", "not_a_card"),
        ("x" * (MAX_TEXT + 1), "too_long"),
        ("011234567|x|Nguyễn Văn An|15031952|Nam|Hà Nội|10052021", "old_cmnd"),
        ("https://dichvucong.hagiang.gov.vn/tra-cuu?maHoSo=000.00.12.H23-241204-0003", "not_a_card"),
        ("000.00.12.H23-241204-0003", "not_a_card"),
        ("DL24120400017", "not_a_card"),
    ],
)
def test_unknown_formats(text: str, code: str) -> None:
    with pytest.raises(UnknownFormat) as e:
        parse_card(text, today=TODAY)
    assert e.value.code == code and e.value.vi and e.value.en
    assert "Nguyễn" not in e.value.vi + e.value.en + str(e.value)


def test_eight_kb_garbage_and_binary() -> None:
    with pytest.raises(UnknownFormat) as e:
        parse_card(bytes(range(256)) * 32, today=TODAY)
    assert e.value.code in ("not_text", "too_long")
    with pytest.raises(UnknownFormat):
        parse_card("|" * 8192, today=TODAY)
    with pytest.raises(UnknownFormat) as e2:
        parse_card(b"\xff\xfe\x00garbage", today=TODAY)
    assert e2.value.code == "not_text"


def _swap(text: str, index: int, value: str) -> str:
    parts = text.split("|")
    parts[index] = value
    return "|".join(parts)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        (_swap(AN, 0, "00105201234"), "bad_id_number"),  # 11 digits
        (_swap(AN, 0, "00105201234X"), "bad_id_number"),
        (_swap(AN, 0, "003052012345"), "bad_province"),  # 003 is no province
        (_swap(AN, 0, "097052012345"), "bad_province"),
        (_swap(AN, 0, "001252012345"), "id_birth_mismatch"),  # 2 = 2000s, born 1952
        (_swap(AN, 0, "001053012345"), "id_birth_mismatch"),
        (_swap(AN, 0, "001152012345"), "id_sex_mismatch"),  # 1 = female 1900s, card says Nam
        (_swap(AN, 1, "01123456"), "bad_old_id"),
        (_swap(AN, 2, ""), "bad_name"),
        (_swap(AN, 2, "Nguyễn Văn 4n"), "bad_name"),
        (_swap(AN, 2, "A" * 101), "bad_name"),
        (_swap(AN, 3, "31021952"), "bad_date"),
        (_swap(AN, 3, "1503195"), "bad_date"),
        (_swap(AN, 3, "15031952x"), "bad_date"),
        (_swap(AN, 4, "M"), "bad_sex"),
        (_swap(AN, 5, "x" * 301), "bad_address"),
        (_swap(AN, 6, "10052031"), "future_date"),
        (_swap(AN, 6, "10051950"), "bad_date"),  # issued before birth
        (_swap(_swap(AN, 0, "001226012345"), 3, "01012126"), "future_date"),
    ],
)
def test_wrong_checks(text: str, code: str) -> None:
    with pytest.raises(InvalidCard) as e:
        parse_card(text, today=TODAY)
    assert e.value.code == code and e.value.vi and e.value.en


def test_century_digits() -> None:
    # 8/9 = 1800s, not plausible for a living person but the rule is the card's; 2/3 = 2000s.
    boy = parse_card("036210000001||Phạm Minh Khang|09092010|Nam|Nam Định|12122024", today=TODAY)
    assert boy.birth_date.year == 2010
    with pytest.raises(InvalidCard):
        parse_card("036210000001||Phạm Minh Khang|09092010|Nữ|Nam Định|12122024", today=TODAY)


def test_province_codes_are_the_63() -> None:
    assert len(PROVINCE_CODES) == 63 and "001" in PROVINCE_CODES and "096" in PROVINCE_CODES


def test_vneid_not_supported() -> None:
    assert recognise_vneid("https://vneid.gov.vn/verify?t=abc") is not None
    assert recognise_vneid("https://app.vneid.gov.vn/x") is not None
    assert recognise_vneid("https://evil-vneid.gov.vn.example.com/x") is None
    assert recognise_vneid("eyJhbGciOiJFUzI1NiJ9." + "A" * 200 + ".sig") is not None
    assert recognise_vneid(AN) is None
    with pytest.raises(NotSupported):
        parse_card("https://vneid.gov.vn/qr?d=1|2|3|4|5|6|7", today=TODAY)


def test_age_and_priority() -> None:
    card = parse_card(AN, today=TODAY)  # born 15 March 1952
    assert age_on(card, date(2027, 3, 14)) == 74 and age_on(card, date(2027, 3, 15)) == 75
    assert not priority_by_age(card, date(2027, 3, 14), 75)
    assert priority_by_age(card, date(2027, 3, 15), 75)
    assert not priority_by_age(card, date(2027, 3, 15), 0)  # 0: the rule is off
    leap = CitizenCard("001052012345", None, "A", date(1952, 2, 29), "Nam", "", date(2021, 1, 1))
    assert age_on(leap, date(2027, 2, 28)) == 74 and age_on(leap, date(2027, 3, 1)) == 75
    assert age_on(leap, date(1950, 1, 1)) == 0


def test_a_wedge_scanner_without_diacritics() -> None:
    # A HID keyboard-wedge scanner that cannot type Vietnamese sends the letters without their marks.
    card = parse_card("079305001234||Tran Thi Bich Ngoc|22082005|Nu|123 Le Loi, Quan 1|01072021", today=TODAY)
    assert card.sex == "Nữ" and card.name == "Tran Thi Bich Ngoc"

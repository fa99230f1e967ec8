"""Ticket rendering: content, hierarchy, width, Vietnamese text (glyphs, NFC, wrapping), the QR code."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

import pytest
import qrcode  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from PIL import Image
from pydantic import ValidationError

from device_drivers.printer import PROFILES
from kiosk_app.ticket_kiosk.ticket import (
    Block,
    TicketLayout,
    compose_ticket,
    format_ahead,
    format_wait,
    load_font,
    missing_glyphs,
    render_sample_ticket,
    ticket_status_url,
    wrap,
)
from tests.unit.sites import site

NOW = datetime(2026, 11, 23, 1, 5, tzinfo=UTC)  # 08:05 in Hà Nội

BASES = "aăâeêioôơuưy"
TONES = ["", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323"]  # huyền sắc hỏi ngã nặng
VIETNAMESE_LETTERS = (
    "".join(unicodedata.normalize("NFC", base + tone) for base in BASES + BASES.upper() for tone in TONES)
    + "đĐbcdghklmnpqrstvxBCDGHKLMNPQRSTVX"
)


def ticket(**kw: Any) -> dict[str, Any]:
    return {
        "id": "t-site-20261123-A-012",
        "number": "A012",
        "service": "tuphap",
        "priority": False,
        "status": "waiting",
        "issued_at": "2026-11-23T08:05:00+07:00",
        "called_at": None,
        "counter": None,
    } | kw


def compose(
    width: int = 576, layout: TicketLayout | None = None, **kw: Any
) -> tuple[Image.Image, list[Block]]:
    cfg = kw.pop("site", None) or site()
    args: dict[str, Any] = {
        "site": cfg,
        "service_name": "Tư pháp - Hộ tịch",
        "ahead": 4,
        "est_wait_s": 15 * 60,
        "layout": layout or TicketLayout(),
        "width_dots": width,
        "status_url": ticket_status_url(cfg, "t-site-20261123-A-012"),
        "now": NOW,
    }
    args.update(kw)
    t = args.pop("ticket", ticket())
    return compose_ticket(t, **args)


def texts(blocks: list[Block], kind: str) -> list[str]:
    return [b.text.replace("\u00a0", " ") for b in blocks if b.kind == kind]


def margins_are_white(img: Image.Image, margin: int) -> bool:
    left = img.crop((0, 0, margin, img.height)).convert("L")
    right = img.crop((img.width - margin, 0, img.width, img.height)).convert("L")
    return left.getextrema() == (255, 255) and right.getextrema() == (255, 255)


# -- the font ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bold", [False, True])
def test_bundled_font_has_every_vietnamese_letter(bold: bool) -> None:
    font = load_font(40, bold)
    assert missing_glyphs(VIETNAMESE_LETTERS + "PHIẾU SỐ THỨ TỰ ƯU TIÊN 0123456789 -:/.,!", font) == []


def test_missing_glyph_check_can_fail() -> None:
    assert missing_glyphs("Aㄱ中B", load_font(40)) == ["ㄱ", "中"]


# -- content -------------------------------------------------------------------------------------


def test_everything_a_ticket_says() -> None:
    img, blocks = compose(service_name_en="Justice - Civil status")
    assert texts(blocks, "header") == ["UBND XÃ THỬ", "Bộ phận Một cửa thử nghiệm"]
    assert texts(blocks, "title") == ["PHIẾU SỐ THỨ TỰ", "QUEUE TICKET"]
    assert texts(blocks, "number") == ["A012"]
    assert texts(blocks, "service") == ["Tư pháp - Hộ tịch", "Justice - Civil status"]
    assert texts(blocks, "ahead") == ["Trước bạn còn 4 người", "4 people ahead of you"]
    assert texts(blocks, "wait") == ["Thời gian chờ dự kiến: khoảng 15 phút", "Estimated wait: about 15 min"]
    assert texts(blocks, "time") == ["08:05 - 23/11/2026"]
    assert texts(blocks, "qr") == ["http://127.0.0.1:8080/t/t-site-20261123-A-012"]
    assert texts(blocks, "footer") == [
        "Vui lòng chờ đến lượt. Xin cảm ơn!",
        "Please wait for your number to be called. Thank you!",
    ]
    assert texts(blocks, "priority") == []
    kinds = [b.kind for b in blocks if b.kind != "rule"]
    order = ["header", "title", "number", "service", "ahead", "wait", "time", "qr", "footer"]
    assert [k for k in dict.fromkeys(kinds) if k in order] == order
    assert img.mode == "1"


def test_time_is_local_to_the_site() -> None:
    cfg = site(site={"id": "t-site", "name": "Một cửa", "agency": "UBND", "timezone": "Asia/Tokyo"})
    _, blocks = compose(site=cfg)
    assert texts(blocks, "time") == ["10:05 - 23/11/2026"]


def test_header_shows_the_address_and_can_be_replaced() -> None:
    cfg = site(site={"id": "t-site", "name": "Một cửa", "agency": "UBND", "address": "Số 1, đường Lê Lợi"})
    _, blocks = compose(site=cfg)
    assert texts(blocks, "header") == ["UBND", "Một cửa", "Số 1, đường Lê Lợi"]
    _, blocks = compose(layout=TicketLayout(header=["SỞ TƯ PHÁP"]))
    assert texts(blocks, "header") == ["SỞ TƯ PHÁP"]


def test_vietnamese_only_and_no_qr() -> None:
    _, blocks = compose(layout=TicketLayout(english=False, show_qr=False), service_name_en="Justice")
    assert texts(blocks, "title") == ["PHIẾU SỐ THỨ TỰ"]
    assert texts(blocks, "service") == ["Tư pháp - Hộ tịch"]
    assert texts(blocks, "footer") == ["Vui lòng chờ đến lượt. Xin cảm ơn!"]
    assert not [b for b in blocks if b.kind in ("qr", "caption")]


def test_priority_mark_is_a_black_box_with_white_text() -> None:
    img, blocks = compose(ticket=ticket(priority=True))
    (box,) = [b for b in blocks if b.kind == "priority"]
    assert box.text == "ƯU TIÊN / PRIORITY"
    assert texts(blocks, "priority_text") == ["ƯU TIÊN / PRIORITY"]
    region = img.crop(box.box).convert("L")
    black = region.histogram()[0] / (region.width * region.height)
    assert 0.6 < black < 0.98  # mostly ink, with the letters left white
    assert box.box[2] - box.box[0] == 576 - 2 * 16
    plain, _ = compose()
    assert img.height > plain.height


def test_the_number_dominates() -> None:
    for width in (384, 512, 576):
        _, blocks = compose(width=width, ticket=ticket(priority=True))
        (number,) = [b for b in blocks if b.kind == "number"]
        others = [b for b in blocks if b.kind not in ("number", "qr", "rule", "priority")]
        assert number.size >= 3 * max(b.size for b in others)
        height = number.box[3] - number.box[1]
        assert height >= 2 * max(b.box[3] - b.box[1] for b in others)
        assert number.box[0] >= 0 and number.box[2] <= width


def test_long_numbers_still_fit() -> None:
    for number in ("AB12345", "C1", "9999"):
        _, blocks = compose(width=384, ticket=ticket(number=number))
        (b,) = [b for b in blocks if b.kind == "number"]
        assert b.text == number and b.box[0] >= 12 and b.box[2] <= 384 - 12


@pytest.mark.parametrize(
    ("ahead", "expected"),
    [
        (0, ("Không có ai chờ trước bạn", "You are next")),
        (1, ("Trước bạn còn 1 người", "1 person ahead of you")),
        (12, ("Trước bạn còn 12 người", "12 people ahead of you")),
    ],
)
def test_people_ahead(ahead: int, expected: tuple[str, str]) -> None:
    assert format_ahead(ahead) == expected


@pytest.mark.parametrize(
    ("seconds", "vi", "en"),
    [
        (0, "dưới 1 phút", "under 1 minute"),
        (60, "dưới 1 phút", "under 1 minute"),
        (61, "khoảng 2 phút", "about 2 min"),
        (15 * 60, "khoảng 15 phút", "about 15 min"),
        (3600, "khoảng 1 giờ", "about 1 h"),
        (5400, "khoảng 1 giờ 30 phút", "about 1 h 30 min"),
    ],
)
def test_wait_wording(seconds: int, vi: str, en: str) -> None:
    got_vi, got_en = format_wait(seconds)
    assert got_vi.replace("\u00a0", " ") == f"Thời gian chờ dự kiến: {vi}"
    assert got_en == f"Estimated wait: {en}"


def test_qr_code_is_printed_module_for_module() -> None:
    url = "http://192.168.1.10:8080/t/hg-tthc-20261123-A-012"
    img, blocks = compose(status_url=url)
    (qr_block,) = [b for b in blocks if b.kind == "qr"]
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(url)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    x0, y0, x1, _ = qr_block.box
    module = (x1 - x0) // len(matrix)
    assert module >= 3
    read = [
        [
            img.getpixel((x0 + c * module + module // 2, y0 + r * module + module // 2)) == 0
            for c in range(len(matrix))
        ]
        for r in range(len(matrix))
    ]
    assert read == matrix
    quiet = img.crop((x1, y0, x1 + 4 * module, y0 + (x1 - x0))).convert("L")
    assert quiet.getextrema() == (255, 255)  # the quiet zone beside the code is blank


# -- width, wrapping and Unicode -------------------------------------------------------------------


@pytest.mark.parametrize("width", [384, 512, 576])
def test_exact_width_and_white_margins(width: int) -> None:
    long_name = (
        "Lao động - Thương binh và Xã hội, Bảo trợ xã hội và Chăm sóc trẻ em có hoàn cảnh đặc biệt khó khăn"
    )
    img, blocks = compose(width=width, service_name=long_name, ticket=ticket(priority=True))
    assert img.size[0] == width and img.mode == "1"
    margin = round(16 * width / 576)
    assert margins_are_white(img, margin)
    lines = texts(blocks, "service")
    assert len(lines) >= 2 and " ".join(lines) == long_name
    for b in blocks:
        assert margin <= b.box[0] and b.box[2] <= width - margin, b


def test_wrap_breaks_words_that_do_not_fit_and_keeps_no_break_spaces() -> None:
    font = load_font(30, True)
    assert all(font.getlength(line) <= 200 for line in wrap("Ư" * 40, font, 200))
    assert "".join(wrap("Ư" * 40, font, 200)) == "Ư" * 40
    assert wrap("dự\u00a0kiến dự\u00a0kiến", font, 150) == ["dự\u00a0kiến", "dự\u00a0kiến"]


def test_wrap_balances_lines() -> None:
    font = load_font(22)
    lines = wrap("Trung tâm Phục vụ hành chính công tỉnh Hà Giang", font, 500)
    assert lines == ["Trung tâm Phục vụ hành", "chính công tỉnh Hà Giang"]


def test_layout_is_strict_frozen_and_nfc() -> None:
    with pytest.raises(ValidationError):
        TicketLayout(titel="x")  # type: ignore[call-arg]
    layout = TicketLayout(
        footer=unicodedata.normalize("NFD", "Xin cảm ơn"), header=[unicodedata.normalize("NFD", "Sở")]
    )
    assert layout.footer == unicodedata.normalize("NFC", "Xin cảm ơn")
    assert layout.header == ["Sở"]
    with pytest.raises(ValidationError):
        layout.footer = "x"  # type: ignore[misc]


SERVICE_CHARS = hs.sampled_from(
    list(VIETNAMESE_LETTERS.lower() + VIETNAMESE_LETTERS + "     -,.()/0123456789")
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=hs.text(SERVICE_CHARS, min_size=1, max_size=200).filter(lambda s: s.strip() != ""),
    width=hs.sampled_from([384, 576]),
)
def test_any_vietnamese_service_name_fits_and_nfd_renders_like_nfc(name: str, width: int) -> None:
    nfc_img, blocks = compose(
        width=width, service_name=unicodedata.normalize("NFC", name), layout=TicketLayout(show_qr=False)
    )
    nfd_img, nfd_blocks = compose(
        width=width, service_name=unicodedata.normalize("NFD", name), layout=TicketLayout(show_qr=False)
    )
    assert nfd_blocks == blocks  # the same lines, in NFC, at the same places
    assert nfc_img.width == width
    assert nfd_img.tobytes() == nfc_img.tobytes()
    margin = round(16 * width / 576)
    assert margins_are_white(nfc_img, margin)
    for b in blocks:
        assert margin <= b.box[0] and b.box[2] <= width - margin
    assert "".join(texts(blocks, "service")).replace(" ", "") == "".join(
        unicodedata.normalize("NFC", name).split()
    )


def test_sample_ticket_for_each_profile() -> None:
    cfg = site()
    for name in ("generic-80", "TM-T88V", "generic-58"):
        img = render_sample_ticket(cfg, PROFILES[name], priority=True)
        assert img.width == PROFILES[name].width_dots
        assert 600 < img.height < 1400


def test_a_ticket_without_a_link_token_is_printed_without_a_qr_code() -> None:
    _img, blocks = compose(status_url=None)  # an older controller gave the ticket no token
    assert not [b for b in blocks if b.kind in ("qr", "caption")]
    assert texts(blocks, "title")  # the rest of the ticket is there

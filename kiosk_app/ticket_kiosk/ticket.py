"""Ticket rendering: a queue ticket as a 1-bit raster image at the printer's width (ARCHITECTURE.md §5).

Text is drawn with the bundled DejaVu Sans (every Vietnamese letter and tone mark), anti-aliased in
greyscale and then thresholded (never dithered), so letters come out clean on a thermal printer.
:func:`compose_ticket` computes where everything goes (a list of :class:`Block`, testable without
looking at pixels) and paints it; :func:`render_ticket` returns just the image.

Sizes in :class:`TicketLayout` are in dots for an 80 mm printer (576 dots) and scale with the width
(text not below 80 %), so the same layout suits 512-dot (TM-T88) and 384-dot (58 mm) printers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import qrcode  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

from kiosk_app.shell.assets import FONT_BOLD, FONT_REGULAR, font_path
from onestop.config import SiteConfig
from onestop.ticket_layout import TicketLayout, nfc

#: Width of the reference printer the layout sizes are given for (80 mm, 203 dpi).
REFERENCE_WIDTH = 576


@dataclass(frozen=True)
class Block:
    """One painted element: its kind, its box on the ticket (x0, y0, x1, y1) and what it shows."""

    #: header | title | number | service | priority (+ priority_text) | ahead | wait | time | qr | caption
    #: | footer | rule
    kind: str
    box: tuple[int, int, int, int]
    text: str = ""
    size: int = 0
    bold: bool = False


# ---------------------------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=128)
def load_font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    """The bundled DejaVu Sans at ``size`` dots (cached).

    Always Pillow's basic layout, never libraqm: text is NFC (precomposed Vietnamese letters need no
    shaping), and a ticket must come out the same on a kiosk whose Pillow was built without raqm.
    """
    path = str(font_path(FONT_BOLD if bold else FONT_REGULAR))
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def missing_glyphs(text: str, font: ImageFont.FreeTypeFont) -> list[str]:
    """The characters of ``text`` (NFC) that ``font`` would draw as its missing-glyph box (.notdef)."""
    notdef = _glyph(font, "\U000f0000")  # a private-use code point no font maps
    out: list[str] = []
    for ch in dict.fromkeys(nfc(text)):
        if ch.isspace() or unicodedata.category(ch).startswith("M"):
            continue
        if _glyph(font, ch) == notdef:
            out.append(ch)
    return out


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    """The size and pixels of one character as drawn."""
    left, top, right, bottom = (int(v) for v in font.getbbox(ch))
    img = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(img).text((1 - left, 1 - top), ch, font=font, fill=255)
    return img.size, img.tobytes()


# ---------------------------------------------------------------------------------------------
# Text helpers
# ---------------------------------------------------------------------------------------------


def _width(text: str, font: ImageFont.FreeTypeFont) -> int:
    if not text:
        return 0
    left, _, right, _ = font.getbbox(text)
    return int(right - min(left, 0))


def _clusters(word: str) -> list[str]:
    """A word split before each base character (combining marks stay with their letter)."""
    out: list[str] = []
    for ch in word:
        if out and unicodedata.combining(ch):
            out[-1] += ch
        else:
            out.append(ch)
    return out


#: Where lines may break: any white space except the no-break space (U+00A0), which keeps words together.
_BREAKS = re.compile(r"[^\S\u00a0]+")


def _greedy(text: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in _BREAKS.split(text.strip()):
        if not word:
            continue
        candidate = f"{line} {word}" if line else word
        if _width(candidate, font) <= max_width:
            line = candidate
            continue
        if line:
            lines.append(line)
            line = ""
        if _width(word, font) <= max_width:
            line = word
            continue
        for cluster in _clusters(word):
            if line and _width(line + cluster, font) > max_width:
                lines.append(line)
                line = ""
            line += cluster
    if line:
        lines.append(line)
    return lines


def wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int, *, balance: bool = True) -> list[str]:
    """Word wrap within ``max_width`` dots; a word too long for a line is broken between letters.

    With ``balance``, lines are made as even as possible for the same number of lines (no lone last word).
    """
    lines = _greedy(text, font, max_width)
    if not balance or len(lines) < 2:
        return lines
    lo, hi = 1, max_width
    while lo < hi:
        mid = (lo + hi) // 2
        if len(_greedy(text, font, mid)) <= len(lines):
            hi = mid
        else:
            lo = mid + 1
    return _greedy(text, font, lo)


def format_ahead(ahead: int) -> tuple[str, str]:
    """The people-ahead line in Vietnamese and English."""
    if ahead <= 0:
        return "Không có ai chờ trước bạn", "You are next"
    return f"Trước bạn còn {ahead} người", f"{ahead} {'person' if ahead == 1 else 'people'} ahead of you"


def _duration(seconds: int) -> tuple[str, str]:
    """A duration in whole minutes, in Vietnamese and English: "45 phút", "1 giờ", "1 giờ 30 phút"
    (never "1 giờ 0 phút"). No-break spaces keep it on one line."""
    minutes = max(0, -(-seconds // 60))
    h, m = divmod(minutes, 60)
    if not h:
        return f"{m}\u00a0phút", f"{m} min"
    if not m:
        return f"{h}\u00a0giờ", f"{h} h"
    return f"{h}\u00a0giờ\u00a0{m}\u00a0phút", f"{h} h {m} min"


def told_wait(
    est_wait_s: int, est_wait_range_s: Sequence[int] | None = None
) -> tuple[str, str, tuple[int, int]]:
    """What a citizen is told about the wait (Vietnamese, English, without a label) and the bounds in
    seconds that the words state (docs/kiosk.md, "Wait estimates"):

    - nobody or hardly anybody to wait for: "dưới 1 phút" / "dưới 5 phút" (0 up to that);
    - a narrow range (at most 4 minutes wide): one number, "khoảng 8 phút" (that number ± 2 minutes);
    - a wide one: "khoảng 10–20 phút", or "từ 45 phút đến 1 giờ 30 phút" from an hour and a half on.

    Without a range (a controller without wait ranges) the number alone: "khoảng 15 phút"."""
    minutes = max(0, -(-int(est_wait_s) // 60))
    if est_wait_range_s is None or len(est_wait_range_s) != 2:
        if minutes <= 1:
            return "dưới\u00a01\u00a0phút", "under 1 minute", (0, 60)
        vi, en = _duration(minutes * 60)
        return f"khoảng\u00a0{vi}", f"about {en}", (minutes * 60 - 120, minutes * 60 + 120)
    lo, hi = sorted((max(0, int(est_wait_range_s[0])), max(0, int(est_wait_range_s[1]))))
    hi_min = max(1, -(-hi // 60))
    if hi_min <= 1:
        return "dưới\u00a01\u00a0phút", "under 1 minute", (0, 60)
    if hi_min <= 5 or lo < 60:
        return f"dưới\u00a0{hi_min}\u00a0phút", f"under {hi_min} min", (0, hi_min * 60)
    if hi - lo <= 240:
        m = max(2, round(est_wait_s / 60))
        vi, en = _duration(m * 60)
        return f"khoảng\u00a0{vi}", f"about {en}", (m * 60 - 120, m * 60 + 120)
    lo_min = lo // 60
    if hi_min < 90:
        return (
            f"khoảng\u00a0{lo_min}–{hi_min}\u00a0phút",
            f"about {lo_min}–{hi_min} min",
            (lo_min * 60, hi_min * 60),
        )
    (lo_vi, lo_en), (hi_vi, hi_en) = _duration(lo_min * 60), _duration(hi_min * 60)
    return f"từ {lo_vi} đến {hi_vi}", f"{lo_en} to {hi_en}", (lo_min * 60, hi_min * 60)


def parse_wait_range(value: Any) -> tuple[int, int] | None:
    """``est_wait_range_s`` from a message: two whole seconds, low first; anything else is None
    (an older controller, or a malformed message: the number alone is told then)."""
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        and value[0] <= value[1]
    ):
        return int(value[0]), int(value[1])
    return None


def format_wait(est_wait_s: int, est_wait_range_s: Sequence[int] | None = None) -> tuple[str, str]:
    """The estimated-wait line in Vietnamese and English ("khoảng 10–20 phút"; see :func:`told_wait`)."""
    vi, en, _ = told_wait(est_wait_s, est_wait_range_s)
    # No-break spaces (U+00A0) keep "dự kiến" and "khoảng 15 phút" together when the line wraps.
    return f"Thời gian chờ dự\u00a0kiến: {vi}", f"Estimated wait: {en}"


def booking_time(ticket: dict[str, Any], site: SiteConfig) -> str:
    """``HH:MM`` (site time) of a booked ticket's slot start; ``""`` for a ticket without a booking."""
    booking = ticket.get("booking")
    if not isinstance(booking, dict):
        return ""
    try:
        return f"{datetime.fromisoformat(str(booking.get('slot_start'))).astimezone(site.site.tz):%H:%M}"
    except ValueError:
        return ""


def format_time(moment: datetime, site: SiteConfig) -> str:
    """``HH:MM - DD/MM/YYYY`` in the site's time zone."""
    local = moment.astimezone(site.site.tz)
    return local.strftime("%H:%M - %d/%m/%Y")


# ---------------------------------------------------------------------------------------------
# Composition
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Op:
    """One painting step: text at a point, a filled rectangle, or an image pasted at a point."""

    what: Literal["text", "rect", "image"]
    xy: tuple[float, float] = (0, 0)
    text: str = ""
    font: ImageFont.FreeTypeFont | None = None
    fill: int = 0
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    image: Image.Image | None = None

    def paint(self, canvas: Image.Image, draw: ImageDraw.ImageDraw) -> None:
        """Apply this step."""
        if self.what == "text":
            draw.text(self.xy, self.text, font=self.font, fill=self.fill)
        elif self.what == "rect":
            x0, y0, x1, y1 = self.box
            draw.rectangle((x0, y0, x1 - 1, y1 - 1), fill=self.fill)
        elif self.image is not None:
            canvas.paste(self.image, (int(self.xy[0]), int(self.xy[1])))


@dataclass(frozen=True)
class _Lines:
    font: ImageFont.FreeTypeFont
    bold: bool
    lines: list[str]
    pad: int  # room above the ascent for stacked Vietnamese marks on capitals (Ễ, Ỗ)
    pitch: int  # distance from one line's top to the next

    @property
    def height(self) -> int:
        return self.pitch * len(self.lines)


class _Composer:
    """Stacks elements from top to bottom, remembering blocks and how to paint them."""

    def __init__(self, width: int, scale: float, margin: int) -> None:
        self.width = width
        self.scale = scale
        self.margin = margin
        self.inner = width - 2 * margin
        self.y = margin
        self.blocks: list[Block] = []
        self.ops: list[_Op] = []

    def px(self, size: int) -> int:
        """A layout size scaled to this ticket's width."""
        return max(1, round(size * self.scale))

    def gap(self, size: int) -> None:
        """Vertical space."""
        self.y += self.px(size)

    def lines(self, text: str, size: int, bold: bool, max_width: int) -> _Lines:
        """``text`` wrapped at a scaled ``size``."""
        font = load_font(self.px(size), bold)
        ascent, descent = font.getmetrics()
        pad = round(font.size * 0.16)
        return _Lines(font, bold, wrap(nfc(text).strip(), font, max_width), pad, pad + ascent + descent)

    def place(
        self, kind: str, ls: _Lines, *, x0: int, x1: int, y: int, centre: bool = True, fill: int = 0
    ) -> int:
        """Paint wrapped lines between ``x0`` and ``x1`` from ``y`` down; return the y under them."""
        for line in ls.lines:
            w = _width(line, ls.font)
            x = x0 + (x1 - x0 - w) // 2 if centre else x0
            left = min(ls.font.getbbox(line)[0], 0)
            self.blocks.append(Block(kind, (x, y, x + w, y + ls.pitch), line, int(ls.font.size), ls.bold))
            self.ops.append(_Op("text", (x - left, y + ls.pad), line, ls.font, fill))
            y += ls.pitch
        return y

    def text(
        self, kind: str, text: str, size: int, *, bold: bool = False, fill: int = 0, inset: int = 0
    ) -> None:
        """Centred, wrapped text lines across the inner width (empty text: nothing)."""
        ls = self.lines(text, size, bold, self.inner - 2 * inset)
        self.y = self.place(kind, ls, x0=self.margin, x1=self.width - self.margin, y=self.y, fill=fill)

    def number(self, text: str, max_height: int) -> None:
        """The ticket number: the largest bold size whose ink fits the width and ``max_height``."""
        limit_h = self.px(max_height)

        def fits(size: int) -> bool:
            left, top, right, bottom = load_font(size, True).getbbox(text)
            return right - left <= self.inner and bottom - top <= limit_h

        lo, hi = 8, 16
        while fits(hi) and hi < 4096:
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        font = load_font(lo, True)
        left, top, right, bottom = font.getbbox(text)
        w, h = int(right - left), int(bottom - top)
        x = (self.width - w) // 2
        self.blocks.append(Block("number", (x, self.y, x + w, self.y + h), text, lo, True))
        self.ops.append(_Op("text", (x - left, self.y - top), text, font))
        self.y += h

    def rule(self, thickness: int = 2) -> None:
        """A horizontal line across the inner width."""
        t = self.px(thickness)
        box = (self.margin, self.y, self.width - self.margin, self.y + t)
        self.blocks.append(Block("rule", box))
        self.ops.append(_Op("rect", box=box))
        self.y += t

    def inverted(self, kind: str, lines: list[tuple[str, int]]) -> None:
        """White bold text on a black box across the inner width."""
        pad = self.px(8)
        top = self.y
        box_index = len(self.blocks)
        op_index = len(self.ops)
        self.y += pad
        for text, size in lines:
            self.text(kind + "_text", text, size, bold=True, fill=255, inset=pad)
        self.y += pad
        box = (self.margin, top, self.width - self.margin, self.y)
        self.blocks.insert(box_index, Block(kind, box, " / ".join(t for t, _ in lines if t)))
        self.ops.insert(op_index, _Op("rect", box=box))

    def qr_row(self, url: str, size: int, captions: list[tuple[str, int, bool]]) -> None:
        """The QR code, with its captions beside it (or under it when the ticket is narrow)."""
        qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
        qr.add_data(url)
        qr.make(fit=True)
        matrix = qr.get_matrix()
        modules = len(matrix)
        dots = max(3, self.px(size) // modules)
        side = modules * dots
        code = Image.new("L", (modules, modules), 255)
        code.putdata([0 if cell else 255 for row in matrix for cell in row])
        code = code.resize((side, side), Image.Resampling.NEAREST)
        quiet = 4 * dots  # the QR code's quiet zone, on the side facing the captions
        col_x0 = self.margin + side + quiet
        col_x1 = self.width - self.margin
        side_by_side = col_x1 - col_x0 >= self.px(200)
        x = self.margin if side_by_side else (self.width - side) // 2
        top = self.y
        self.blocks.append(Block("qr", (x, top, x + side, top + side), url))
        self.ops.append(_Op("image", (x, top), image=code))
        if side_by_side:
            sets = [self.lines(t, sz, b, col_x1 - col_x0) for t, sz, b in captions if t]
            height = sum(ls.height for ls in sets)
            y = top + max(0, (side - height) // 2)
            for ls in sets:
                y = self.place("caption", ls, x0=col_x0, x1=col_x1, y=y, centre=False)
            self.y = max(top + side, y)
        else:
            self.y = top + side + self.px(6)
            for t, sz, b in captions:
                self.text("caption", t, sz, bold=b)


# ---------------------------------------------------------------------------------------------
# The ticket
# ---------------------------------------------------------------------------------------------


def ticket_status_url(site: SiteConfig, token: str | None) -> str | None:
    """The ticket's status page, printed as a QR code: ``{hub.public_url}/t/{token}``, where ``token``
    is the unguessable link token the controller gave the ticket (never its sequential id), or
    ``{province.public_url}/t/{token}`` when the site set one (the province's public page, which a
    phone on 4G reaches). None when the ticket has no token (a controller older than ticket links):
    the ticket is printed without QR."""
    if not token:
        return None
    base = site.province.public_url or site.hub.public_url
    return f"{base.rstrip('/')}/t/{token}"


def header_lines(site: SiteConfig, layout: TicketLayout) -> list[str]:
    """The header: the layout's own lines, or the site's agency, name and address."""
    if layout.header is not None:
        return [nfc(h) for h in layout.header]
    return [nfc(t) for t in (site.site.agency, site.site.name, site.site.address) if t.strip()]


def compose_ticket(
    ticket: dict[str, Any],
    *,
    site: SiteConfig,
    service_name: str,
    ahead: int,
    est_wait_s: int,
    layout: TicketLayout,
    width_dots: int,
    status_url: str | None,
    now: datetime,
    service_name_en: str = "",
    est_wait_range_s: Sequence[int] | None = None,
) -> tuple[Image.Image, list[Block]]:
    """The ticket image (mode "1", exactly ``width_dots`` wide) and where each element is on it."""
    if width_dots < 128:
        raise ValueError(f"a ticket needs at least 128 dots of width, got {width_dots}")
    # Text shrinks with narrower paper, but not below 80 %: 58 mm tickets stay readable for elderly citizens.
    scale = max(width_dots / REFERENCE_WIDTH, min(0.8, width_dots / REFERENCE_WIDTH * 1.25))
    c = _Composer(width_dots, scale, max(0, round(layout.margin * scale)))
    en = layout.english

    for i, line in enumerate(header_lines(site, layout)):
        c.text("header", line, layout.header_size if i < 2 else layout.small_size, bold=i == 0)
    c.gap(10)
    c.rule()
    c.gap(12)
    c.text("title", layout.title, layout.title_size, bold=True)
    if en:
        c.text("title", layout.title_en, layout.small_size)
    c.gap(14)
    c.number(nfc(str(ticket["number"])), layout.number_height)
    c.gap(16)
    c.text("service", service_name, layout.service_size, bold=True)
    if en:
        c.text("service", service_name_en, layout.small_size)
    if ticket.get("priority"):
        c.gap(10)
        label = layout.priority_label
        if en and layout.priority_label_en:
            label = f"{label} / {layout.priority_label_en}"
        c.inverted("priority", [(label, layout.title_size)])
    booked = booking_time(ticket, site)
    if booked:  # a booked citizen: the slot's time, never the name (nor the booking code)
        c.gap(10)
        c.text("booking", f"Đặt lịch {booked}", layout.service_size, bold=True)
        if en:
            c.text("booking", f"Booked {booked}", layout.small_size)
    dossier = ticket.get("dossier")
    if isinstance(dossier, str) and dossier:  # a result pickup: the dossier code, for the clerk
        c.gap(10)
        c.text("dossier", f"Hồ sơ: {nfc(dossier)}", layout.info_size, bold=True)
        if en:
            c.text("dossier", "Result pickup", layout.small_size)
    c.gap(14)
    c.rule(1)
    c.gap(10)
    ahead_vi, ahead_en = format_ahead(ahead)
    wait_vi, wait_en = format_wait(est_wait_s, est_wait_range_s)
    c.text("ahead", ahead_vi, layout.info_size, bold=True)
    if en:
        c.text("ahead", ahead_en, layout.small_size)
    c.gap(4)
    c.text("wait", wait_vi, layout.info_size)
    if en:
        c.text("wait", wait_en, layout.small_size)
    c.gap(4)
    c.text("time", format_time(now, site), layout.info_size)
    if layout.show_qr and status_url:
        c.gap(14)
        captions = [(layout.qr_caption, layout.small_size, True)]
        if en:
            captions.append((layout.qr_caption_en, layout.small_size, False))
        c.qr_row(status_url, layout.qr_size, captions)
    c.gap(14)
    c.rule(1)
    c.gap(8)
    c.text("footer", layout.footer, layout.small_size, bold=True)
    if en:
        c.text("footer", layout.footer_en, layout.small_size)
    height = c.y + c.margin

    canvas = Image.new("L", (width_dots, height), 255)
    draw = ImageDraw.Draw(canvas)
    for op in c.ops:
        op.paint(canvas, draw)
    return canvas.point(lambda v: 255 if v >= 128 else 0, mode="1"), c.blocks


def render_ticket(
    ticket: dict[str, Any],
    *,
    site: SiteConfig,
    service_name: str,
    ahead: int,
    est_wait_s: int,
    layout: TicketLayout,
    width_dots: int,
    status_url: str | None,
    now: datetime,
    service_name_en: str = "",
    est_wait_range_s: Sequence[int] | None = None,
) -> Image.Image:
    """A queue ticket for a wire ``Ticket`` as a mode "1" image exactly ``width_dots`` wide."""
    image, _ = compose_ticket(
        ticket,
        site=site,
        service_name=service_name,
        ahead=ahead,
        est_wait_s=est_wait_s,
        layout=layout,
        width_dots=width_dots,
        status_url=status_url,
        now=now,
        service_name_en=service_name_en,
        est_wait_range_s=est_wait_range_s,
    )
    return image


#: The moment printed on sample tickets (a Monday morning in Hà Nội), so samples are reproducible.
SAMPLE_TIME = datetime.fromisoformat("2026-11-23T08:05:00+07:00")


#: The link token of sample tickets (a real one is 22 characters from the controller).
SAMPLE_TOKEN = "mau-phieu-khong-that-0"


def sample_ticket(site: SiteConfig, *, priority: bool = False) -> dict[str, Any]:
    """A wire ``Ticket`` for the site's first service, number 12."""
    service = site.services[0]
    return {
        "id": "20261123-" + service.id + "-012",
        "number": f"{service.prefix}{12:0{service.digits}d}",
        "service": service.id,
        "priority": priority,
        "status": "waiting",
        "issued_at": SAMPLE_TIME.isoformat(),
        "called_at": None,
        "counter": None,
    }


def render_sample_ticket(
    site: SiteConfig,
    profile: Any,
    *,
    layout: TicketLayout | None = None,
    priority: bool = False,
    now: datetime | None = None,
) -> Image.Image:
    """A sample ticket for a print test (``profile``: a printer profile or a width in dots)."""
    width = profile if isinstance(profile, int) else int(profile.width_dots)
    ticket = sample_ticket(site, priority=priority)
    service = site.service(ticket["service"])
    return render_ticket(
        ticket,
        site=site,
        service_name=service.name,
        service_name_en=service.name_en,
        ahead=4,
        est_wait_s=15 * 60,
        layout=layout or TicketLayout(),
        width_dots=width,
        status_url=ticket_status_url(site, SAMPLE_TOKEN),
        now=now or SAMPLE_TIME,
    )


__all__ = [
    "REFERENCE_WIDTH",
    "SAMPLE_TIME",
    "SAMPLE_TOKEN",
    "Block",
    "TicketLayout",
    "compose_ticket",
    "font_path",
    "format_ahead",
    "format_time",
    "format_wait",
    "header_lines",
    "load_font",
    "missing_glyphs",
    "nfc",
    "parse_wait_range",
    "render_sample_ticket",
    "render_ticket",
    "sample_ticket",
    "ticket_status_url",
    "told_wait",
    "wrap",
]

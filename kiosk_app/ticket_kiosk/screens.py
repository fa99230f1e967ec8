"""The kiosk's Kivy screens: thin widgets over :class:`~kiosk_app.ticket_kiosk.viewmodel.View`
(import via app.py).

Each change of the view-model rebuilds the screen from its :class:`View`; buttons only call the
view-model. Sizes are given for a 1080-pixel short side (a portrait 1080×1920 kiosk, or a landscape
1920×1080 one) and scale with the window. Text is Kivy's bundled Roboto, which has every Vietnamese
letter; the first language is large and bold, the second smaller underneath.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from kivy.core.text.markup import MarkupLabel  # type: ignore[import-untyped]
from kivy.uix.anchorlayout import AnchorLayout  # type: ignore[import-untyped]
from kivy.uix.boxlayout import BoxLayout  # type: ignore[import-untyped]
from kivy.uix.image import Image  # type: ignore[import-untyped]
from kivy.uix.widget import Widget  # type: ignore[import-untyped]

from kiosk_app.shell.assets import FONT_BOLD, font_path
from kiosk_app.shell.panel import CAP_EN_MM, CAP_VI_MM, PanelSizing, panel_for
from kiosk_app.shell.widgets import (
    ALERT,
    BANNER,
    BLUE,
    BLUE_TEXT_2,
    DISABLED,
    GREEN,
    GREY,
    HEADER,
    INK,
    MUTED,
    WHITE,
    BigButton,
    Panel,
    ViewApp,
    text,
)
from kiosk_app.shell.widgets import esc as _m
from kiosk_app.ticket_kiosk.viewmodel import Action, KioskViewModel, Lang, ServiceButton, View, Words
from onestop.config import KIOSK_ICONS as ICONS

#: A bold font with the arrows (◀ ▶) and every Vietnamese letter, for the page arrows.
ARROW_FONT = str(font_path(FONT_BOLD).resolve())
#: A panel lower than this (mm) shows one header line (the site's name) instead of two.
COMPACT_HEIGHT_MM = 120.0
#: A column of services is at least this wide (mm): narrower panels get fewer columns.
MIN_COLUMN_MM = 38.0
#: A line longer than this (characters) is a paragraph: not bold.
LONG_LINE = 120
#: The home screen's title between the page arrows (landscape): a little smaller than alone.
PAGED_TITLE = 52


class ScreenBuilder(PanelSizing):
    """Builds the widget tree of one :class:`View` for the panel it is drawn on.

    Sizes are designed for a 1080-pixel short side (``px``, scale ``s``) and never drawn under the
    millimetre floors of :mod:`kiosk_app.shell.panel` (``font``, ``target``): large screens keep the design,
    7" panels get text and buttons as large as the floors ask. Heights are measured from the text,
    so every screen is laid out to fit; services that do not fit are paged (``Trang 1/2``)."""

    def __init__(
        self, vm: KioskViewModel, width: float, height: float, *, edid: tuple[float, float, str] | None = None
    ) -> None:
        self.vm = vm
        self.w, self.h = width, height
        self.s = min(width, height) / 1080.0
        self.portrait = height >= width
        device = vm.cfg.device(vm.device_id) if hasattr(vm, "device_id") else None
        #: The physical panel: text and targets in millimetres (site.toml ``panel``, EDID, usual panels).
        self.panel = panel_for(device, width, height, edid=edid)
        #: A small panel (7" either way): the header shows the site's name only.
        self.compact = min(self.panel.height_mm, self.panel.width_mm) < COMPACT_HEIGHT_MM
        self.pad = self.px(36)
        self.sp = self.px(22)
        #: The widgets that trigger view-model calls, by id (``service:tuphap``, ``action:ok``, ``lang``).
        self.buttons: dict[str, BigButton] = {}
        #: The home screen's code entries are between the page arrows (a short landscape panel).
        self.entries_top = False
        self.page_room = 0.0

    # -- sizes -------------------------------------------------------------------------------
    def second(self, first_px: float, ratio: float) -> int:
        """The size of a second (smaller) line under text of ``first_px``."""
        return math.ceil(max(first_px * ratio, self.panel.font_for_cap(CAP_EN_MM)))

    @staticmethod
    def measure(
        markup: str, font_size: float, width: float | None, font_name: str | None = None
    ) -> tuple[float, float]:
        """The size of ``markup`` rendered at ``font_size`` wrapped to ``width`` (None: one line)."""
        kw: dict[str, Any] = {"font_name": font_name} if font_name else {}
        wrap = (max(1.0, width), None) if width else (None, None)
        lbl = MarkupLabel(text=markup, font_size=font_size, text_size=wrap, halign="center", **kw)
        lbl.refresh()
        tw, th = lbl.texture.size if lbl.texture is not None else (0, 0)
        return float(tw), float(th)

    def pair(self, first: str, second: str, size: float, ratio: float = 0.55, bold: bool = True) -> str:
        """Markup of a text and its smaller second-language line."""
        big = self.font(size)
        out = f"[b]{_m(first)}[/b]" if bold else _m(first)
        if second:
            out += f"\n[size={self.second(big, ratio)}]{_m(second)}[/size]"
        return out

    def label(self, first: str, second: str, size: float, *, ratio: float = 0.55, color: Any = INK,
              bold: bool = True, halign: str = "center") -> Widget:  # fmt: skip
        """A wrapping label of a text and its second-language line (one label: they never overlap)."""
        return text(self.pair(first, second, size, ratio, bold), self.font(size), color=color, halign=halign,
                    raw=True)  # fmt: skip

    def label_h(self, first: str, second: str, size: float, width: float, *, ratio: float = 0.55,
                bold: bool = True) -> float:  # fmt: skip
        """The height :meth:`label` takes at ``width``."""
        return self.measure(self.pair(first, second, size, ratio, bold), self.font(size), width)[
            1
        ] + 0.2 * self.font(size)

    def button_h(self, markup: str, width: float, least: float, font_name: str | None = None) -> float:
        """The height a :class:`BigButton` of ``width`` needs for ``markup`` (BigButton pads its text
        by 8 % and shrinks text over 94 % of its height), at least ``least``."""
        return max(least, self.measure(markup, 15, width * 0.84, font_name)[1] / 0.9 + 2)

    # -- parts -------------------------------------------------------------------------------
    def header(self, view: View) -> Widget:
        site = self.vm.cfg.site
        pad_x, pad_y = self.px(36), max(self.px(16), self.panel.mm(1.5))
        right: list[BigButton] = []
        if self.vm.speak is not None:  # read aloud (docs/kiosk.md): a speaker and "Nghe"
            # on a narrow panel the buttons go under the names: one line there, to save height
            sep = "  " if self.portrait and self.compact else "\n"
            markup = f"[b]{_m('Nghe đọc')}[/b]{sep}[size={self.second(self.font(34), 0.7)}]Listen[/size]"
            tw, th = self.measure(markup, self.font(34), None)
            bh = max(self.target(110), th / 0.88 + 4)
            icon = min(bh * 0.7, max(self.px(80), self.panel.mm(6)))
            btn = BigButton(
                bg=BANNER, color=INK, text=markup, font_size=self.font(34), size_hint=(None, None),
                size=(max(self.target(300), icon + self.px(44) + tw + 0.16 * bh + 8), bh), radius=bh / 2,
                pos_hint={"center_y": 0.5}, padding=(icon + self.px(34), 0, self.px(10), 0),
            )  # fmt: skip
            pic = Image(source=str(ICONS / "speaker_dark.png"), fit_mode="contain", size_hint=(None, None),
                        size=(icon, icon))  # fmt: skip
            btn.add_widget(pic)
            btn.bind(
                pos=lambda b, *_: setattr(b.children[0], "pos", (b.x + self.px(24), b.center_y - icon / 2))
            )
            btn.bind(on_press=lambda *_: self.vm.read_aloud())
            self.buttons["read_aloud"] = btn
            right.append(btn)
        if len(view.languages) > 1:
            other: Lang = "en" if view.lang == "vi" else "vi"
            label = {"en": "English", "vi": "Tiếng Việt"}[other]
            size = self.font(36)
            tw = self.measure(f"[b]{label}[/b]", size, None)[0]
            bh = self.target(100)
            btn = BigButton(
                bg=WHITE, color=HEADER, text=f"[b]{label}[/b]", font_size=size, size_hint=(None, None),
                size=(max(self.target(250), tw / 0.8 + self.px(20)), bh), radius=bh / 2,
                pos_hint={"center_y": 0.5},
            )  # fmt: skip
            btn.bind(on_press=lambda *_: self.vm.set_language(other))
            self.buttons["lang"] = btn
            right.append(btn)
        gap = self.px(20)
        full_w = self.w - 2 * pad_x
        names_w = full_w - sum(b.width + gap for b in right)
        # a small narrow panel with two buttons: the names over the whole width, the buttons under them
        stacked = self.compact and len(right) > 1 and names_w < full_w * 0.5
        if stacked:
            names_w = full_w
        parts = [(site.name, 36, True)] if self.compact or not site.agency else [
            (site.agency, 28, False), (site.name, 36, True)]  # fmt: skip
        names = BoxLayout(
            orientation="vertical", size_hint=(None, None), width=names_w, pos_hint={"center_y": 0.5}
        )
        names_h = 0.0
        for value, size, bold in parts:
            lbl = text(value, self.font(size), bold=bold, color=WHITE, halign="left")
            names.add_widget(lbl)
            markup = f"[b]{_m(value)}[/b]" if bold else _m(value)
            names_h += self.measure(markup, self.font(size), names_w)[1] + 0.2 * self.font(size)
        names.height = names_h
        buttons_h = max([b.height for b in right] or [0.0])
        if stacked:
            bar = Panel(bg=HEADER, orientation="vertical", size_hint_y=None, spacing=gap,
                        height=names_h + gap + buttons_h + 2 * pad_y)  # fmt: skip
            row = BoxLayout(orientation="horizontal", spacing=gap, size_hint_y=None, height=buttons_h)
            row.add_widget(Widget())
            for btn in right:
                row.add_widget(btn)
            bar.padding = (pad_x, pad_y)
            bar.add_widget(names)
            bar.add_widget(row)
            return bar
        tallest = max(names_h, buttons_h)
        bar = Panel(bg=HEADER, orientation="horizontal", size_hint_y=None, spacing=gap,
                    height=max(self.px(150), tallest + 2 * pad_y))  # fmt: skip
        bar.padding = (pad_x, pad_y)
        bar.add_widget(names)
        for btn in right:
            bar.add_widget(btn)
        return bar

    def banner(self, view: View) -> Widget | None:
        if not view.banner:
            return None
        forget = [a for a in view.entries if a.id == "forget"]
        if forget:  # a card in use: its banner, and the button that stops using it beside it
            return self.card_banner(view, forget[0])
        pad = (self.px(30), self.px(14))
        box = Panel(bg=BANNER, orientation="vertical", size_hint_y=None, padding=pad)
        box.add_widget(self.label(view.banner, view.banner2, 36, ratio=0.72))
        box.height = self.label_h(view.banner, view.banner2, 36, self.w - 2 * pad[0], ratio=0.72) + 2 * pad[1]
        return box

    def card_banner(self, view: View, forget: Action) -> Widget:
        """The banner of a card in use (initials and priority), with "Không dùng thẻ nữa" at its right."""
        pad = (self.px(30), self.px(14))
        inner = self.w - 2 * pad[0]
        btn_w = max(inner * 0.34, self.target(300))
        text_w = inner - btn_w - self.sp
        markup = self.action_markup(forget, 36)
        btn_h = self.button_h(markup, btn_w, self.target(100))
        text_h = self.label_h(view.banner, view.banner2, 36, text_w, ratio=0.72)
        box = Panel(bg=BANNER, orientation="horizontal", size_hint_y=None, padding=pad, spacing=self.sp,
                    height=max(text_h, btn_h) + 2 * pad[1])  # fmt: skip
        lbl = self.label(view.banner, view.banner2, 36, ratio=0.72)
        lbl.size_hint = (1, 1)
        box.add_widget(lbl)
        btn = BigButton(
            bg=GREY, color=WHITE, text=markup, size_hint=(None, 1), width=btn_w, radius=self.px(20)
        )
        btn.bind(on_press=lambda *_: self.vm.press(forget.id))
        self.buttons[f"action:{forget.id}"] = btn
        box.add_widget(btn)
        return box

    def titles(self, view: View, size: float = 62, color: Any = INK) -> list[Widget]:
        return [self.label(view.title, view.title2, size, color=color)]

    def titles_h(self, view: View, size: float, width: float) -> float:
        return self.label_h(view.title, view.title2, size, width)

    @staticmethod
    def line_groups(view: View, paired: bool) -> list[list[tuple[str, str]]]:
        """The lines one per row, or (``paired``: short of height) short lines two to a row."""
        if not paired:
            return [[line] for line in view.lines]
        groups: list[list[tuple[str, str]]] = []
        for line in view.lines:
            if len(line[0]) <= 40 and groups and len(groups[-1]) == 1 and len(groups[-1][0][0]) <= 40:
                groups[-1].append(line)
            else:
                groups.append([line])
        return groups

    @staticmethod
    def bold_line(line: tuple[str, str]) -> bool:
        """Lines are bold, but a long paragraph (a consent line): plain text reads better and is shorter."""
        return len(line[0]) <= LONG_LINE

    def lines(self, view: View, size: float = 40, paired: bool = False, width: float = 0) -> list[Widget]:
        out: list[Widget] = []
        for group in self.line_groups(view, paired):
            if len(group) == 1:
                out.append(self.label(*group[0], size, ratio=0.65, bold=self.bold_line(group[0])))
                continue
            half = (width - self.sp) / 2
            tallest = max(self.label_h(*line, size, half, ratio=0.65) for line in group)
            row = BoxLayout(orientation="horizontal", spacing=self.sp, size_hint_y=None, height=tallest)
            for line in group:
                row.add_widget(self.label(*line, size, ratio=0.65))
            out.append(row)
        return out

    def lines_h(self, view: View, size: float, width: float, paired: bool = False) -> float:
        groups = self.line_groups(view, paired)
        half = (width - self.sp) / 2
        total = 0.0
        for group in groups:
            w = width if len(group) == 1 else half
            total += max(
                self.label_h(*line, size, w, ratio=0.65, bold=self.bold_line(line)) for line in group
            )
        return total + self.sp * max(0, len(groups) - 1)

    def action_markup(self, a: Action, size: float = 50) -> str:
        big = self.font(size)
        label = f"[b][size={big}]{_m(a.text)}[/size][/b]"
        if a.text2:
            label += f"\n[size={self.second(big, 0.64)}]{_m(a.text2)}[/size]"
        return label

    def action(
        self, a: Action, height: float = 170, width: float | None = None, size: float = 50
    ) -> BigButton:
        color = (GREEN if a.id == "priority" else BLUE) if a.primary else GREY
        label = self.action_markup(a, size)
        least = self.target(height, main=a.primary)
        h = self.button_h(label, width or (self.w - 2 * self.pad), least)
        btn = BigButton(bg=color, color=WHITE, text=label, size_hint_y=None, height=h, radius=self.px(24))
        btn.bind(on_press=lambda *_: self.vm.press(a.id))
        self.buttons[f"action:{a.id}"] = btn
        return btn

    def actions(self, view: View, body: BoxLayout, heights: tuple[float, float] = (170, 170)) -> None:
        """The actions: stacked in portrait, side by side (main ones wider) in landscape."""
        acts = [a for a in view.actions]
        if not acts:
            return
        inner = self.w - 2 * self.pad
        if self.portrait or len(acts) == 1:
            for a in acts:
                body.add_widget(self.action(a, heights[0] if a.primary else heights[1], inner))
            return
        weights = [1.0 if a.primary else 0.7 for a in acts]
        unit = (inner - self.sp * (len(acts) - 1)) / sum(weights)
        made = [
            self.action(a, heights[0] if a.primary else heights[1], unit * k)
            for a, k in zip(acts, weights, strict=True)
        ]
        row = BoxLayout(orientation="horizontal", spacing=self.sp, size_hint_y=None,
                        height=max(b.height for b in made))  # fmt: skip
        for b, k in zip(made, weights, strict=True):
            b.size_hint = (k, 1)
            row.add_widget(b)
        body.add_widget(row)

    def actions_h(
        self,
        view: View,
        heights: tuple[float, float] = (170, 170),
        width: float | None = None,
        size: float = 50,
    ) -> float:
        acts = list(view.actions)
        if not acts:
            return 0.0
        inner = width or (self.w - 2 * self.pad)

        def one(a: Action, w: float) -> float:
            least = self.target(heights[0] if a.primary else heights[1], main=a.primary)
            return self.button_h(self.action_markup(a, size), w, least)

        if self.portrait or len(acts) == 1:
            return sum(one(a, inner) for a in acts) + self.sp * (len(acts) - 1)
        weights = [1.0 if a.primary else 0.7 for a in acts]
        unit = (inner - self.sp * (len(acts) - 1)) / sum(weights)
        return max(one(a, unit * k) for a, k in zip(acts, weights, strict=True))

    def service_markup(self, b: ServiceButton, font: float, k: float = 1.0) -> str:
        big = max(self.font(font) * k, self.panel.font_for_cap(CAP_VI_MM))
        big = math.ceil(big)
        out = f"[b][size={big}]{_m(b.name)}[/size][/b]"
        if b.name2:
            out += f"\n[size={self.second(big, 0.58)}]{_m(b.name2)}[/size]"
        hl = BLUE_TEXT_2 if b.enabled else "#2B3640"
        if b.status:
            out += f"\n[size={self.second(big, 0.78)}][color={hl}][b]{_m(b.status)}[/b][/color][/size]"
        if b.detail:
            out += f"\n[size={self.second(big, 0.66)}][color={hl}]{_m(b.detail)}[/color][/size]"
        return out

    def icon_side(self, width: float) -> float:
        """A service picture's side on a button of ``width``: smaller on narrow buttons."""
        return min(self.px(120), width * 0.14)

    def service_h(self, b: ServiceButton, font: float, width: float) -> float:
        """The height a service's button of ``width`` needs (its picture takes some of the width)."""
        text_w = width - ((self.icon_side(width) + self.px(40)) / 0.84 if b.icon else 0)
        return self.button_h(self.service_markup(b, font), text_w, self.target(120, main=True))

    def service(self, b: ServiceButton, font: float) -> BigButton:
        btn = BigButton(
            bg=BLUE if b.enabled else DISABLED,
            color=WHITE if b.enabled else INK,
            text=self.service_markup(b, font),
            radius=self.px(24),
        )
        btn.markup_at = lambda k: self.service_markup(b, font, k)  # never under the floors
        if b.icon:  # the service's picture (``icon`` in site.toml), left of the text
            pic = Image(source=str(ICONS / f"{b.icon}.png"), fit_mode="contain", size_hint=(None, None))
            btn.add_widget(pic)

            def place(w: Any, *_: Any) -> None:
                side = min(w.height * 0.6, self.icon_side(w.width))
                pic.size = (side, side)
                pic.pos = (w.x + self.px(20), w.center_y - side / 2)
                w.padding = (side + self.px(30), 0, self.px(10), 0)

            btn.bind(pos=place, size=place)
        btn.bind(on_press=lambda *_: self.vm.tap_service(b.id))
        self.buttons[f"service:{b.id}"] = btn
        return btn

    def number_font(self, view: View, size: float, width: float, height: float) -> int:
        """The number's font: the design size, smaller only to fit ``width`` × ``height``."""
        w100, h100 = self.measure(f"[b]{_m(view.number)}[/b]", 100, None)
        fit_w = 100 * width * 0.95 / max(1.0, w100)
        fit_h = 100 * height / max(1.0, h100 + 20)
        return int(min(self.px(size), fit_w, fit_h))

    def badge_h(self, view: View) -> float:
        return self.target(100) if view.priority else 0.0

    def number(self, view: View, font: float, color: Any = INK) -> list[Widget]:
        out: list[Widget] = [text(view.number, font, bold=True, color=color)]
        if view.priority:
            bh = self.badge_h(view)
            badge = AnchorLayout(size_hint_y=None, height=bh)
            en = "PRIORITY" if view.lang == "vi" else "ƯU TIÊN"
            first = "ƯU TIÊN" if view.lang == "vi" else "PRIORITY"
            size = self.font(46)
            tw = self.measure(f"[b]{first} · {en}[/b]", size, None)[0]
            side = (max(self.px(520), tw + self.px(40)), bh * 0.9)
            mark = Panel(bg=ALERT, size_hint=(None, None), size=side, radius=self.px(16))
            label = text(f"{first} · {en}", size, bold=True, color=WHITE)
            label.size_hint_y = 1
            mark.add_widget(label)
            badge.add_widget(mark)
            out.append(badge)
        return out

    # -- screens -----------------------------------------------------------------------------
    def build(self, view: View) -> Widget:
        root = BoxLayout(orientation="vertical")
        header = self.header(view)
        root.add_widget(header)
        # the ticket screens of a printer fault say it in their title: no banner to push the number off
        banner = self.banner(view) if view.screen not in ("paper_out", "printer_error") else None
        if banner is not None:
            root.add_widget(banner)
        body = BoxLayout(orientation="vertical", padding=self.pad, spacing=self.sp)
        #: The body's inner height: what the screen's content may take.
        self.inner_h = self.h - header.height - (banner.height if banner is not None else 0) - 2 * self.pad
        self.inner_w = self.w - 2 * self.pad
        getattr(self, f"_{view.screen}", self._message)(view, body)
        root.add_widget(body)
        return root

    def _home(self, view: View, body: BoxLayout) -> None:
        entries_h = self.entries_h(view)
        if entries_h:  # the code entries and the scan hint take the bottom of the screen
            self.inner_h -= entries_h + self.sp
        n = len(view.services)
        if self.portrait:
            design = 1 if n <= 5 else 2 if n <= 12 else 3
        else:
            design = 2 if n <= 6 else 3 if n <= 12 else 4

        def choose() -> tuple[tuple[int, float, list[Any], float, float], bool]:
            """The design's columns, or fewer when that needs fewer pages (a narrow panel: wider buttons
            wrap less); never columns narrower than MIN_COLUMN_MM. Also whether a row is cut."""
            best: tuple[int, float, list[Any], float, float] | None = None
            best_key: tuple[bool, int] | None = None
            for cols in range(design, 0, -1):
                if (
                    cols > 1
                    and self.panel.to_mm((self.inner_w - self.sp * (cols - 1)) / cols) < MIN_COLUMN_MM
                ):
                    continue
                font, pages, pager_h, top = self.service_pages(view, design, cols)
                # fewest pages whose rows all fit (a row too tall for a page is cut: more columns wrap more)
                cut = self.page_room > 0 and any(self.stack_h(p) > self.page_room for p in pages)
                if best_key is None or (cut, len(pages)) < best_key:
                    best, best_key = (cols, font, pages, pager_h, top), (cut, len(pages))
            assert best is not None and best_key is not None
            return best, best_key[0]

        best, cut = choose()
        if cut and entries_h and not self.portrait:
            # a short landscape panel: the entries go up between the page arrows, instead of the title
            self.inner_h += entries_h + self.sp
            entries_h, self.entries_top = 0.0, True
            best, cut = choose()
        cols, font, pages, pager_h, top = best
        self.vm.set_pages(len(pages), [[b.id for _, row in page for b in row] for page in pages])
        if view.pages != len(pages) or view.page >= len(pages):
            view = self.vm.view()
        if len(pages) > 1 and not self.portrait:
            body.add_widget(self.pager(view, top, title=True))
        else:
            for w in self.titles(view, 64):
                body.add_widget(w)
            if len(pages) > 1:
                page = view.actions[1]
                body.add_widget(
                    text(self.page_markup(page.text, page.text2), self.font(40), color=BLUE, raw=True)
                )
        grid = BoxLayout(orientation="vertical", spacing=self.sp)
        for need, row in pages[min(view.page, len(pages) - 1)]:
            line = BoxLayout(orientation="horizontal", spacing=self.sp, size_hint_y=need)
            for b in row:
                line.add_widget(self.service(b, font))
            for _ in range(cols - len(row)):
                line.add_widget(Widget())
            grid.add_widget(line)
        body.add_widget(grid)
        if len(pages) > 1 and self.portrait:
            body.add_widget(self.pager(view, pager_h))
        if entries_h:
            self.entries(view, body)

    # -- the code flows (kiosk_app/ticket_kiosk/flows.py) ----------------------------------
    @staticmethod
    def entry_actions(view: View) -> list[Action]:
        """The entries in the row under the services ("forget my card" is in the card's banner)."""
        return [a for a in view.entries if a.id != "forget"]

    def entries_row_h(self, view: View, width: float | None = None) -> float:
        """The height of the row of code entries ("Tôi có lịch hẹn", "Nhận kết quả") ``width`` wide."""
        acts = self.entry_actions(view)
        if not acts:
            return 0.0
        w = ((width or self.inner_w) - self.sp * (len(acts) - 1)) / len(acts)
        return max(self.button_h(self.action_markup(a, 44), w, self.target(110)) for a in acts)

    def entries_mid_w(self) -> float:
        """The width of the entries between the page arrows (``entries_top``)."""
        return (self.inner_w - 2 * self.sp) * 2.0 / 4.0

    def entries_row(self, view: View, width: float | None = None) -> BoxLayout:
        """The code entries side by side."""
        row = BoxLayout(orientation="horizontal", spacing=self.sp, size_hint_y=None,
                        height=self.entries_row_h(view, width))  # fmt: skip
        for a in self.entry_actions(view):
            btn = BigButton(bg=GREEN if a.primary else GREY, color=WHITE, text=self.action_markup(a, 44),
                            radius=self.px(24))  # fmt: skip
            btn.bind(on_press=lambda _b, key=a.id: self.vm.press(key))
            self.buttons[f"action:{a.id}"] = btn
            row.add_widget(btn)
        return row

    def show_hint(self, view: View) -> bool:
        """The scan hint is shown, but on a small landscape panel (the services need the height)."""
        return bool(view.hint[0]) and not (self.compact and not self.portrait)

    def entries_h(self, view: View) -> float:
        """What the entries and the scan hint take under the services (0: none)."""
        h = self.entries_row_h(view)
        if self.show_hint(view):
            h += self.label_h(*view.hint, 34, self.inner_w, ratio=0.75, bold=False) + (self.sp if h else 0)
        return h

    def entries(self, view: View, body: BoxLayout) -> None:
        """The scan hint, then the code entries side by side."""
        if self.show_hint(view):
            body.add_widget(self.label(*view.hint, 34, ratio=0.75, bold=False, color=BLUE))
        if self.entry_actions(view):
            body.add_widget(self.entries_row(view))

    def _flow_parts_h(self, view: View, width: float, title: float, line: float) -> float:
        h = self.titles_h(view, title, width)
        if view.lines:
            h += self.sp + self.lines_h(view, line, width)
        return h

    def _flow(self, view: View, body: BoxLayout) -> None:
        """A code-flow message: the title, its lines and the buttons; the text smaller (never under
        the floors) until it fits, and in landscape the buttons right of the text when short of height."""
        color = ALERT if view.screen in ("lookup_down", "scan_bad", "not_found") else INK
        title, line = 60.0, 42.0

        def stacked_h(t: float, ln: float) -> float:
            return self._flow_parts_h(view, self.inner_w, t, ln) + self.sp + self.actions_h(view, size=ln)

        while stacked_h(title, line) > self.inner_h and self.font(line * 0.92) < self.font(line):
            title, line = title * 0.92, line * 0.92
        if self.portrait or stacked_h(title, line) <= self.inner_h:
            body.add_widget(Widget(size_hint_y=0.2))
            for w in self.titles(view, title, color=color):
                body.add_widget(w)
            for w in self.lines(view, line):
                body.add_widget(w)
            body.add_widget(Widget())
            self.actions(view, body)
            return
        row = BoxLayout(orientation="horizontal", spacing=self.pad)
        for split in (0.62, 0.68, 0.74, 0.8):  # the text wider when it is long
            left_w = (self.inner_w - self.pad) * split
            right_w = self.inner_w - self.pad - left_w
            t, ln = 60.0, 42.0
            while self._flow_parts_h(view, left_w, t, ln) > self.inner_h and self.font(ln * 0.92) < self.font(
                ln
            ):
                t, ln = t * 0.92, ln * 0.92
            if self._flow_parts_h(view, left_w, t, ln) <= self.inner_h:
                break
        left = BoxLayout(orientation="vertical", spacing=self.sp, size_hint_x=split)
        left.add_widget(Widget())
        for w in self.titles(view, t, color=color):
            left.add_widget(w)
        for w in self.lines(view, ln):
            left.add_widget(w)
        left.add_widget(Widget())
        right = BoxLayout(orientation="vertical", spacing=self.sp, size_hint_x=1 - split)
        right.add_widget(Widget())
        for a in view.actions:
            right.add_widget(self.action(a, 150, right_w, min(ln, 44)))
        right.add_widget(Widget())
        row.add_widget(left)
        row.add_widget(right)
        body.add_widget(row)

    _lookup_home = _flow
    _looking = _flow
    _booking = _flow
    _booking_used = _flow
    _booking_cancelled = _flow
    _booking_early = _flow
    _booking_late = _flow
    _booking_other = _flow
    _dossier = _flow
    _dossier_status = _flow
    _not_found = _flow
    _lookup_down = _flow
    _scan_bad = _flow
    _consent = _flow

    def key_button(self, key: str, size: float) -> BigButton:
        """One key of the keypad: large, white on blue."""
        btn = BigButton(bg=BLUE, color=WHITE, text=f"[b]{_m(key)}[/b]", font_size=self.font(size),
                        radius=self.px(18))  # fmt: skip
        btn.bind(on_press=lambda *_: self.vm.press(f"key:{key}"))
        self.buttons[f"key:{key}"] = btn
        return btn

    def _keypad(self, view: View, body: BoxLayout) -> None:
        """The keypad: the title, the code typed so far in a box, the line under it (a hint or why the
        code is wrong), the keys, and the buttons (letters/digits, delete, look up, back)."""
        letters = len(view.keys) > 12
        cols = (7 if self.portrait else 6) if letters else 3
        rows = math.ceil(len(view.keys) / cols)
        entry_font = self.font(64)
        entry_h = max(self.target(110), entry_font * 1.6)
        split = 1.0 if self.portrait else 0.5
        left_w = self.inner_w if self.portrait else (self.inner_w - self.pad) * split
        half = (left_w - self.sp) / 2
        title, line = 52.0, 36.0

        def acts_h() -> float:  # two rows of two
            return 2 * max(self.button_h(self.action_markup(a, 40), half, self.target(110))
                           for a in view.actions) + self.sp  # fmt: skip

        def text_h() -> float:
            h = self.titles_h(view, title, left_w) + self.sp + entry_h
            return h + self.sp + self.lines_h(view, line, left_w)

        if not self.portrait:  # the left column: smaller text (never under the floors) until it fits
            while text_h() + acts_h() + 2 * self.sp > self.inner_h and self.font(line * 0.92) < self.font(
                line
            ):
                title, line = title * 0.92, line * 0.92
        keys_h = self.inner_h - text_h() - acts_h() - 3 * self.sp if self.portrait else self.inner_h
        key_h = min((keys_h - self.sp * (rows - 1)) / rows, self.target(150))
        key_h = max(key_h, self.target(0))
        key_font = min(60.0, key_h / self.s * 0.45) if self.s else 60.0

        left = (
            body if self.portrait else BoxLayout(orientation="vertical", spacing=self.sp, size_hint_x=split)
        )
        for w in self.titles(view, title):
            left.add_widget(w)
        box = Panel(bg=WHITE, orientation="vertical", size_hint_y=None, height=entry_h, radius=self.px(16))
        shown = view.entry + "▁" if len(view.entry) < 32 else view.entry
        entry = text(f"[font={ARROW_FONT}]{_m(shown)}[/font]", entry_font, color=INK, raw=True)
        entry.size_hint_y = 1
        box.add_widget(entry)
        left.add_widget(box)
        for w in self.lines(view, line):
            if view.error:
                w.color = ALERT
            left.add_widget(w)
        if not self.portrait:
            left.add_widget(Widget())
        grid = BoxLayout(orientation="vertical", spacing=self.sp, size_hint_y=None,
                         height=rows * key_h + self.sp * (rows - 1))  # fmt: skip
        for r in range(rows):
            line = BoxLayout(orientation="horizontal", spacing=self.sp)
            for key in view.keys[r * cols : (r + 1) * cols]:
                line.add_widget(self.key_button(key, key_font))
            for _ in range(cols - len(view.keys[r * cols : (r + 1) * cols])):
                line.add_widget(Widget())
            grid.add_widget(line)
        act_h = max(self.button_h(self.action_markup(a, 40), half, self.target(110)) for a in view.actions)
        acts = BoxLayout(
            orientation="vertical", spacing=self.sp, size_hint_y=None, height=2 * act_h + self.sp
        )
        for i in range(0, len(view.actions), 2):
            pair = BoxLayout(orientation="horizontal", spacing=self.sp)
            for a in view.actions[i : i + 2]:
                btn = self.action(a, 110, half, 40)
                btn.size_hint_y = 1
                pair.add_widget(btn)
            acts.add_widget(pair)
        if self.portrait:
            body.add_widget(Widget())
            body.add_widget(grid)
            body.add_widget(Widget())
            body.add_widget(acts)
            return
        left.add_widget(acts)
        row = BoxLayout(orientation="horizontal", spacing=self.pad)
        row.add_widget(left)
        right = BoxLayout(orientation="vertical", size_hint_x=1 - split)
        right.add_widget(Widget())
        right.add_widget(grid)
        right.add_widget(Widget())
        row.add_widget(right)
        body.add_widget(row)

    def service_pages(self, view: View, design: int, cols: int) -> tuple[float, list[Any], float, float]:
        """The services in ``cols`` columns: their font, pages of rows, the pager's height and (in
        landscape) the title row's height."""
        col_w = (self.inner_w - self.sp * (cols - 1)) / cols
        title_h = self.titles_h(view, 64, self.inner_w)
        avail = self.inner_h - title_h - self.sp
        # The design's size, else smaller down to the floor if that shows every service; else the
        # floor's size, paged.
        font = 56.0 if design == 1 else 46.0 if design == 2 else 38.0
        while True:
            rows = self.service_rows(view.services, cols, font, col_w)
            smaller = font * 0.9
            if self.stack_h(rows) <= avail or self.font(smaller) == self.font(font):
                break
            font = smaller
        pages = [rows] if self.stack_h(rows) <= avail else []
        pager_h = top = 0.0
        #: The height a page of rows has (0: one page, no paging).
        self.page_room = 0.0
        if not pages:
            pager = (
                Action("prev_page", "◀ Trang trước", "◀ Previous"),
                Action("next_page", "Trang sau ▶", "Next ▶"),
            )
            arrow_w = (
                (self.inner_w - self.sp) / 2
                if self.portrait
                else self.inner_w / (3.7 + 0.4 * self.entries_top)
            )
            pager_h = max(self.button_h(self.pager_markup(a), arrow_w, self.target(110)) for a in pager)
            if self.portrait:  # "Trang 1/2" under the title, the arrows in a row under the services
                page = Words("Trang 8/8", "Page 8 of 8").pick(view.lang)
                room = avail - self.page_h(*page, self.inner_w) - pager_h - 2 * self.sp
            else:  # the arrows either side of the title (landscape panels are short)
                mid_w = (self.inner_w - 2 * self.sp) * 1.6 / 3.6
                page = Words("Trang 8/8", "Page 8 of 8").pick(view.lang)
                top = max(pager_h, self.titles_h(view, PAGED_TITLE, mid_w) + self.page_h(*page, mid_w))
                if self.entries_top:  # the entries alone between the arrows (they say the page)
                    top = max(pager_h, self.entries_row_h(view, self.entries_mid_w()))
                room = self.inner_h - top - self.sp
            self.page_room = room
            for row in rows:  # whole rows, as many as fit, page after page
                if pages and self.stack_h([*pages[-1], row]) <= room:
                    pages[-1].append(row)
                else:
                    pages.append([row])
        return font, pages, pager_h, top

    def service_rows(
        self, services: Sequence[ServiceButton], cols: int, font: float, col_w: float
    ) -> list[tuple[float, list[ServiceButton]]]:
        """The services in rows of ``cols``, with the height each row needs."""
        rows = []
        for i in range(0, len(services), cols):
            row = list(services[i : i + cols])
            rows.append((max(self.service_h(b, font, col_w) for b in row), row))
        return rows

    def stack_h(self, rows: Sequence[tuple[float, Any]]) -> float:
        """The height of rows one under the other."""
        return sum(h for h, _ in rows) + self.sp * max(0, len(rows) - 1)

    def page_markup(self, first: str, second: str) -> str:
        """ "Trang 1/2" and "Page 1 of 2" on one line."""
        return f"[b]{_m(first)}[/b]   [size={self.second(self.font(40), 0.7)}]{_m(second)}[/size]"

    def page_h(self, first: str, second: str, width: float) -> float:
        return self.measure(self.page_markup(first, second), self.font(40), width)[1] + 0.2 * self.font(40)

    def pager_markup(self, a: Action) -> str:
        """An arrow button's text: the arrows (◀ ▶) from a font that has them, the words in Roboto."""

        def arrows(value: str) -> str:
            out = _m(value)
            for glyph in ("◀", "▶"):
                out = out.replace(glyph, f"[font={ARROW_FONT}]{glyph}[/font]")
            return out

        big = self.font(44)
        second = f"[size={self.second(big, 0.64)}]{arrows(a.text2)}[/size]"
        return f"[b][size={big}]{arrows(a.text)}[/size][/b]\n{second}"

    def pager(self, view: View, height: float, title: bool = False) -> Widget:
        """The arrows between pages of services, and "Trang 1/2" between them (under the screen's
        title when ``title``)."""
        row = BoxLayout(orientation="horizontal", spacing=self.sp, size_hint_y=None, height=height)
        for a in view.actions:
            if a.id == "page" and not title:
                continue  # under the title
            if a.id == "page":
                if title and self.entries_top:
                    mid = BoxLayout(orientation="vertical", size_hint_x=2.0)
                    mid.add_widget(Widget())
                    mid.add_widget(self.entries_row(view, self.entries_mid_w()))
                    mid.add_widget(Widget())
                    row.add_widget(mid)
                    continue
                mid = BoxLayout(orientation="vertical", size_hint_x=1.6 if title else 1)
                mid.add_widget(Widget())
                if title:
                    mid.add_widget(self.label(view.title, view.title2, PAGED_TITLE))
                mid.add_widget(text(self.page_markup(a.text, a.text2), self.font(40), color=BLUE, raw=True))
                mid.add_widget(Widget())
                row.add_widget(mid)
                continue
            btn = BigButton(bg=BLUE if a.primary else DISABLED, color=WHITE if a.primary else MUTED,
                            text=self.pager_markup(a), radius=self.px(24))  # fmt: skip
            if a.primary:
                btn.bind(on_press=lambda _b, key=a.id: self.vm.press(key))
                self.buttons[f"action:{a.id}"] = btn
            else:
                btn.disabled = True  # the first or last page: no further that way
            row.add_widget(btn)
        return row

    def _priority(self, view: View, body: BoxLayout) -> None:
        pad = self.px(24)

        def who_box(width: float) -> tuple[Widget, float]:
            who = Panel(bg=WHITE, orientation="vertical", size_hint_y=None, padding=pad, radius=self.px(16))
            who_h = 2 * pad
            for first, second in view.lines[1:]:
                who.add_widget(self.label(first, second, 40, ratio=0.7))
                who_h += self.label_h(first, second, 40, width - 2 * pad, ratio=0.7)
            who.height = who_h
            return who, who_h

        def heading(width: float) -> tuple[list[Widget], float]:
            out = self.titles(view, 60)
            h = self.titles_h(view, 60, width)
            if view.lines:
                first, second = view.lines[0]
                out.append(self.label(first, second, 50, ratio=0.64, color=BLUE))
                h += self.sp + self.label_h(first, second, 50, width, ratio=0.64)
            return out, h

        acts = self.actions_h(view, (230, 150))
        parts, head_h = heading(self.inner_w)
        who, who_h = who_box(self.inner_w)
        if self.portrait or head_h + who_h + acts + 3 * self.sp <= self.inner_h:
            for p in parts:
                body.add_widget(p)
            body.add_widget(who)
        else:  # a short landscape panel: the question left, who has priority right, the answers under
            left_w = (self.inner_w - self.pad) * 0.45
            right_w = self.inner_w - self.pad - left_w
            parts, head_h = heading(left_w)
            who, who_h = who_box(right_w)
            row = BoxLayout(
                orientation="horizontal", spacing=self.pad, size_hint_y=None, height=max(head_h, who_h)
            )
            left = BoxLayout(orientation="vertical", spacing=self.sp, size_hint_x=0.45)
            for p in parts:
                left.add_widget(p)
            left.add_widget(Widget())
            right = BoxLayout(orientation="vertical", size_hint_x=0.55)
            right.add_widget(who)
            right.add_widget(Widget())
            row.add_widget(left)
            row.add_widget(right)
            body.add_widget(row)
        body.add_widget(Widget())
        self.actions(view, body, (230, 150))

    def _printing(self, view: View, body: BoxLayout) -> None:
        body.add_widget(Widget())
        for w in self.titles(view, 64):
            body.add_widget(w)
        if view.number:
            left = self.inner_h - self.titles_h(view, 64, self.inner_w) - self.badge_h(view) - 3 * self.sp
            for w in self.number(view, self.number_font(view, 300, self.inner_w, left)):
                body.add_widget(w)
        body.add_widget(Widget())

    def _columns(self, body: BoxLayout, split: float) -> tuple[BoxLayout, BoxLayout, float, float]:
        """Landscape: two columns (the number left, the rest right); their widths."""
        row = BoxLayout(orientation="horizontal", spacing=self.pad)
        left_w = (self.inner_w - self.pad) * split
        right_w = (self.inner_w - self.pad) * (1 - split)
        left = BoxLayout(orientation="vertical", spacing=self.sp, size_hint_x=split)
        right = BoxLayout(orientation="vertical", spacing=self.sp, size_hint_x=1 - split)
        row.add_widget(left)
        row.add_widget(right)
        body.add_widget(row)
        return left, right, left_w, right_w

    def _ticket_screen(self, view: View, body: BoxLayout, *, title: float, color: Any, boxed: bool,
                       line_size: float) -> None:  # fmt: skip
        action_left = paired = False
        box_pad = self.px(10) if boxed else 0.0
        #: The number is at least this large (twice the lines and the button), else the lines make room.
        least = 2 * self.font(line_size)

        def number_at(col_w: float, rest: float) -> int:
            room = self.inner_h - rest - self.titles_h(view, title, col_w) - self.badge_h(view) - 2 * self.sp
            return self.number_font(view, 340 if boxed else 330, col_w - 2 * box_pad, room - 2 * box_pad)

        if self.portrait:
            left = right = body
            col_w = right_w = self.inner_w
            for paired in (False, True):
                acts = self.actions_h(view, size=line_size)
                rest = self.lines_h(view, line_size, col_w, paired) + acts + 3 * self.sp
                font = number_at(col_w, rest)
                if font >= least:
                    break
        else:
            # the number left, the lines and the button right; short of height, a wider right
            # column, then the button under the number, then short lines two to a row
            tries = [(k, left_act, pair) for pair in (False, True) for left_act in (False, True)
                     for k in (0.44, 0.38, 0.32)]  # fmt: skip
            for split, action_left, paired in tries:
                col_w = (self.inner_w - self.pad) * split
                right_w = self.inner_w - self.pad - col_w
                acts = self.actions_h(view, width=col_w if action_left else right_w, size=line_size)
                right_h = self.lines_h(view, line_size, right_w, paired) + (
                    0 if action_left else acts + self.sp
                )
                font = number_at(col_w, acts + self.sp if action_left else 0.0)
                if right_h <= self.inner_h and font >= least:
                    break
            left, right, col_w, right_w = self._columns(body, split)
        left.add_widget(self.label(view.title, view.title2, title, color=color))
        parts = self.number(view, font)
        if boxed:
            box = Panel(
                bg=BANNER, orientation="vertical", size_hint_y=None, radius=self.px(24), padding=box_pad
            )
            for w in parts:
                box.add_widget(w)
            box.bind(minimum_height=box.setter("height"))
            left.add_widget(box)
        else:
            for w in parts:
                left.add_widget(w)
        if left is not right:
            left.add_widget(Widget())
        for w in self.lines(view, line_size, paired, right_w):
            right.add_widget(w)
        right.add_widget(Widget())
        for a in view.actions:
            (left if action_left else right).add_widget(
                self.action(a, 170, col_w if action_left else right_w, line_size)
            )

    def _done(self, view: View, body: BoxLayout) -> None:
        self._ticket_screen(view, body, title=64, color=INK, boxed=False, line_size=44)

    def _paper_out(self, view: View, body: BoxLayout) -> None:
        self._ticket_screen(view, body, title=58, color=ALERT, boxed=True, line_size=40)

    _printer_error = _paper_out

    def _message(self, view: View, body: BoxLayout) -> None:
        body.add_widget(Widget(size_hint_y=0.3))
        color = ALERT if view.screen in ("unreachable", "error") else INK
        for w in self.titles(view, 60, color=color):
            body.add_widget(w)
        body.add_widget(Widget(size_hint_y=None, height=self.px(20)))
        for w in self.lines(view, 42):
            body.add_widget(w)
        body.add_widget(Widget())
        self.actions(view, body)


class KioskApp(ViewApp):
    """The full-screen kiosk."""

    title = "onestop kiosk"
    builder = ScreenBuilder

"""The kiosk's Kivy screens: thin widgets over :class:`~kiosk_app.viewmodel.View` (import via app.py).

Each change of the view-model rebuilds the screen from its :class:`View`; buttons only call the
view-model. Sizes are given for a 1080-pixel short side (a portrait 1080×1920 kiosk, or a landscape
1920×1080 one) and scale with the window. Text is Kivy's bundled Roboto, which has every Vietnamese
letter; the first language is large and bold, the second smaller underneath.
"""

from __future__ import annotations

from typing import Any

from kivy.uix.anchorlayout import AnchorLayout  # type: ignore[import-untyped]
from kivy.uix.boxlayout import BoxLayout  # type: ignore[import-untyped]
from kivy.uix.gridlayout import GridLayout  # type: ignore[import-untyped]
from kivy.uix.image import Image  # type: ignore[import-untyped]
from kivy.uix.widget import Widget  # type: ignore[import-untyped]

from kiosk_app.viewmodel import Action, KioskViewModel, Lang, ServiceButton, View
from kiosk_app.widgets import (
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
from kiosk_app.widgets import esc as _m
from onestop.config import KIOSK_ICONS as ICONS


class ScreenBuilder:
    """Builds the widget tree of one :class:`View` at a scale ``s`` (1.0 for a 1080-pixel short side)."""

    def __init__(self, vm: KioskViewModel, width: float, height: float) -> None:
        self.vm = vm
        self.w, self.h = width, height
        self.s = min(width, height) / 1080.0
        self.portrait = height >= width
        #: The widgets that trigger view-model calls, by id (``service:tuphap``, ``action:ok``, ``lang``).
        self.buttons: dict[str, BigButton] = {}

    def px(self, v: float) -> float:
        """A design size scaled to the window."""
        return v * self.s

    # -- parts -------------------------------------------------------------------------------
    def header(self, view: View) -> Widget:
        site = self.vm.cfg.site
        bar = Panel(bg=HEADER, orientation="horizontal", size_hint_y=None, height=self.px(150))
        bar.padding = (self.px(36), self.px(16))
        names = BoxLayout(orientation="vertical")
        names.add_widget(text(site.agency, self.px(28), color=WHITE, halign="left"))
        names.add_widget(text(site.name, self.px(36), bold=True, color=WHITE, halign="left"))
        bar.add_widget(names)
        if self.vm.speak is not None:  # read aloud (docs/kiosk.md): a speaker and "Nghe"
            btn = BigButton(
                bg=BANNER, color=INK, text=f"[b]{_m('Nghe đọc')}[/b]\n[size={int(self.px(24))}]Listen[/size]",
                font_size=self.px(34), size_hint=(None, None), size=(self.px(300), self.px(110)),
                radius=self.px(55), pos_hint={"center_y": 0.5}, padding=(self.px(110), 0, self.px(10), 0),
            )  # fmt: skip
            btn.add_widget(Image(source=str(ICONS / "speaker_dark.png"), fit_mode="contain",
                                 size_hint=(None, None), size=(self.px(80), self.px(80))))  # fmt: skip
            btn.bind(
                pos=lambda b, *_: setattr(b.children[0], "pos", (b.x + self.px(24), b.center_y - self.px(40)))
            )
            btn.bind(on_press=lambda *_: self.vm.read_aloud())
            self.buttons["read_aloud"] = btn
            bar.add_widget(btn)
        if len(view.languages) > 1:
            other: Lang = "en" if view.lang == "vi" else "vi"
            label = {"en": "English", "vi": "Tiếng Việt"}[other]
            btn = BigButton(
                bg=WHITE, color=HEADER, text=f"[b]{label}[/b]", font_size=self.px(36),
                size_hint=(None, None), size=(self.px(250), self.px(100)), radius=self.px(50),
                pos_hint={"center_y": 0.5},
            )  # fmt: skip
            btn.bind(on_press=lambda *_: self.vm.set_language(other))
            self.buttons["lang"] = btn
            bar.add_widget(btn)
        return bar

    def banner(self, view: View) -> Widget | None:
        if not view.banner:
            return None
        box = Panel(bg=BANNER, orientation="vertical", size_hint_y=None, padding=(self.px(30), self.px(14)))
        box.add_widget(text(view.banner, self.px(36), bold=True))
        box.add_widget(text(view.banner2, self.px(26), color=MUTED))
        box.bind(minimum_height=box.setter("height"))
        return box

    def titles(self, view: View, size: float = 62, color: Any = INK) -> list[Widget]:
        out: list[Widget] = [text(view.title, self.px(size), bold=True, color=color)]
        if view.title2:
            out.append(text(view.title2, self.px(size * 0.55), color=MUTED))
        return out

    def lines(self, view: View, size: float = 40) -> list[Widget]:
        out: list[Widget] = []
        for first, second in view.lines:
            out.append(text(first, self.px(size), bold=True))
            if second:
                out.append(text(second, self.px(size * 0.65), color=MUTED))
        return out

    def action(self, a: Action, height: float = 170) -> BigButton:
        color = (GREEN if a.id == "priority" else BLUE) if a.primary else GREY
        label = f"[b][size={int(self.px(50))}]{_m(a.text)}[/size][/b]"
        if a.text2:
            label += f"\n[size={int(self.px(32))}]{_m(a.text2)}[/size]"
        btn = BigButton(bg=color, color=WHITE, text=label, size_hint_y=None, height=self.px(height),
                        radius=self.px(24))  # fmt: skip
        btn.bind(on_press=lambda *_: self.vm.press(a.id))
        self.buttons[f"action:{a.id}"] = btn
        return btn

    def service(self, b: ServiceButton, font: float) -> BigButton:
        px = self.px

        def markup(k: float) -> str:
            size = lambda f: int(px(f * k))  # noqa: E731
            out = f"[b][size={size(font)}]{_m(b.name)}[/size][/b]"
            if b.name2:
                out += f"\n[size={size(font * 0.58)}]{_m(b.name2)}[/size]"
            hl = BLUE_TEXT_2 if b.enabled else "#2B3640"
            if b.status:
                out += f"\n[size={size(font * 0.78)}][color={hl}][b]{_m(b.status)}[/b][/color][/size]"
            if b.detail:
                out += f"\n[size={size(font * 0.66)}][color={hl}]{_m(b.detail)}[/color][/size]"
            return out

        btn = BigButton(
            bg=BLUE if b.enabled else DISABLED,
            color=WHITE if b.enabled else INK,
            text=markup(1.0),
            radius=self.px(24),
        )
        btn.markup_at = markup
        if b.icon:  # the service's picture (``icon`` in site.toml), left of the text
            pic = Image(source=str(ICONS / f"{b.icon}.png"), fit_mode="contain", size_hint=(None, None))
            btn.add_widget(pic)

            def place(w: Any, *_: Any) -> None:
                side = min(w.height * 0.6, self.px(120))
                pic.size = (side, side)
                pic.pos = (w.x + self.px(20), w.center_y - side / 2)
                w.padding = (side + self.px(30), 0, self.px(10), 0)

            btn.bind(pos=place, size=place)
        btn.bind(on_press=lambda *_: self.vm.tap_service(b.id))
        self.buttons[f"service:{b.id}"] = btn
        return btn

    def number(self, view: View, size: float = 300, color: Any = INK) -> list[Widget]:
        out: list[Widget] = [text(view.number, self.px(size), bold=True, color=color)]
        if view.priority:
            badge = AnchorLayout(size_hint_y=None, height=self.px(100))
            mark = Panel(
                bg=ALERT, size_hint=(None, None), size=(self.px(520), self.px(90)), radius=self.px(16)
            )
            en = "PRIORITY" if view.lang == "vi" else "ƯU TIÊN"
            first = "ƯU TIÊN" if view.lang == "vi" else "PRIORITY"
            label = text(f"{first} · {en}", self.px(46), bold=True, color=WHITE)
            label.size_hint_y = 1
            mark.add_widget(label)
            badge.add_widget(mark)
            out.append(badge)
        return out

    # -- screens -----------------------------------------------------------------------------
    def build(self, view: View) -> Widget:
        root = BoxLayout(orientation="vertical")
        root.add_widget(self.header(view))
        banner = self.banner(view)
        if banner is not None:
            root.add_widget(banner)
        body = BoxLayout(orientation="vertical", padding=self.px(36), spacing=self.px(22))
        getattr(self, f"_{view.screen}", self._message)(view, body)
        root.add_widget(body)
        return root

    def _home(self, view: View, body: BoxLayout) -> None:
        for w in self.titles(view, 64):
            body.add_widget(w)
        n = len(view.services)
        if self.portrait:
            cols = 1 if n <= 5 else 2 if n <= 12 else 3
        else:
            cols = 2 if n <= 6 else 3 if n <= 12 else 4
        rows = -(-n // cols)
        font = 56 if cols == 1 else 46 if cols == 2 else 38
        grid = GridLayout(cols=cols, spacing=self.px(22), rows=rows)
        for b in view.services:
            grid.add_widget(self.service(b, font))
        for _ in range(rows * cols - n):
            grid.add_widget(Widget())
        body.add_widget(grid)

    def _priority(self, view: View, body: BoxLayout) -> None:
        for w in self.titles(view, 60):
            body.add_widget(w)
        if view.lines:
            first, second = view.lines[0]
            body.add_widget(text(first, self.px(50), bold=True, color=BLUE))
            if second:
                body.add_widget(text(second, self.px(32), color=MUTED))
        who = Panel(
            bg=WHITE, orientation="vertical", size_hint_y=None, padding=self.px(24), radius=self.px(16)
        )
        for first, second in view.lines[1:]:
            who.add_widget(text(first, self.px(40), bold=True))
            who.add_widget(text(second, self.px(28), color=MUTED))
        who.bind(minimum_height=who.setter("height"))
        body.add_widget(who)
        body.add_widget(Widget())
        for a in view.actions:
            body.add_widget(self.action(a, 230 if a.primary else 150))

    def _printing(self, view: View, body: BoxLayout) -> None:
        body.add_widget(Widget())
        for w in self.titles(view, 64):
            body.add_widget(w)
        if view.number:
            for w in self.number(view):
                body.add_widget(w)
        body.add_widget(Widget())

    def _done(self, view: View, body: BoxLayout) -> None:
        for w in self.titles(view, 64):
            body.add_widget(w)
        for w in self.number(view, 330):
            body.add_widget(w)
        for w in self.lines(view, 44):
            body.add_widget(w)
        body.add_widget(Widget())
        for a in view.actions:
            body.add_widget(self.action(a))

    def _paper_out(self, view: View, body: BoxLayout) -> None:
        for w in self.titles(view, 58, color=ALERT):
            body.add_widget(w)
        box = Panel(
            bg=BANNER, orientation="vertical", size_hint_y=None, radius=self.px(24), padding=self.px(10)
        )
        for w in self.number(view, 340):
            box.add_widget(w)
        box.bind(minimum_height=box.setter("height"))
        body.add_widget(box)
        for w in self.lines(view, 40):
            body.add_widget(w)
        body.add_widget(Widget())
        for a in view.actions:
            body.add_widget(self.action(a))

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
        for a in view.actions:
            body.add_widget(self.action(a))


class KioskApp(ViewApp):
    """The full-screen kiosk."""

    title = "onestop kiosk"
    builder = ScreenBuilder

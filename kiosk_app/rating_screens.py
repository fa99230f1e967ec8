"""The rating terminal's Kivy screens: thin widgets over :class:`~kiosk_app.rating_viewmodel.RatingView`
(import via app.py).

Rating terminals are landscape tablets (1280×800 is typical: a 10-inch screen on the counter, facing
the citizen); sizes are given for an 800-pixel short side and scale with the window. Each change of
the view-model rebuilds the screen from its view; buttons only call the view-model. The level
buttons are very large, coloured from green to red, each with a drawn face (smiling to frowning) so
that a citizen who reads little still understands them.
"""

from __future__ import annotations

from typing import Any

from kivy.graphics import Color, Ellipse, Line  # type: ignore[import-untyped]
from kivy.properties import ListProperty  # type: ignore[import-untyped]
from kivy.uix.anchorlayout import AnchorLayout  # type: ignore[import-untyped]
from kivy.uix.behaviors import ButtonBehavior  # type: ignore[import-untyped]
from kivy.uix.boxlayout import BoxLayout  # type: ignore[import-untyped]
from kivy.uix.gridlayout import GridLayout  # type: ignore[import-untyped]
from kivy.uix.image import Image  # type: ignore[import-untyped]
from kivy.uix.label import Label  # type: ignore[import-untyped]
from kivy.uix.widget import Widget  # type: ignore[import-untyped]
from kivy.utils import get_color_from_hex  # type: ignore[import-untyped]

from kiosk_app.rating_viewmodel import Choice, Level, Officer, RatingView, RatingViewModel
from kiosk_app.viewmodel import Action, Lang
from kiosk_app.widgets import (
    ALERT,
    BANNER,
    BLUE,
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

FACE = get_color_from_hex("#FFF3C4")
FACE_INK = get_color_from_hex("#1E1E1E")
SELECTED = get_color_from_hex("#0B4C9C")


class Face(Widget):
    """A drawn face: ``mood`` 1.0 smiles, 0.5 is neutral, 0.0 frowns."""

    def __init__(self, mood: float, **kw: Any) -> None:
        super().__init__(**kw)
        self.mood = mood
        self.bind(pos=self._draw, size=self._draw)

    def _draw(self, *_: Any) -> None:
        self.canvas.clear()
        d = min(self.width, self.height)
        if d <= 1:
            return
        cx, cy = self.center
        r = d / 2
        w = max(2.0, d * 0.05)
        with self.canvas:
            Color(*FACE)
            Ellipse(pos=(cx - r, cy - r), size=(d, d))
            Color(*FACE_INK)
            Line(circle=(cx, cy, r - w / 2), width=w / 2)
            eye = d * 0.11
            for dx in (-0.2, 0.2):
                Ellipse(pos=(cx + dx * d - eye / 2, cy + 0.12 * d - eye / 2), size=(eye, eye))
            bend = (self.mood - 0.5) * 2 * d * 0.13  # >0: the corners go up (a smile)
            points: list[float] = []
            for i in range(21):
                t = -1 + i / 10
                points += [cx + t * d * 0.24, cy - 0.2 * d + bend * (t * t - 0.5)]
            Line(points=points, width=w * 0.8, cap="round", joint="round")


class Tile(ButtonBehavior, Panel):
    """A large coloured touch area holding other widgets (a face and a label); darker while pressed."""

    base = ListProperty([0, 0, 0, 1])

    def __init__(self, bg: Any, radius: float = 24, **kw: Any) -> None:
        super().__init__(bg=bg, radius=radius, **kw)
        self.base = list(bg)
        self.bind(state=self._press)

    def _press(self, *_: Any) -> None:
        r, g, b, a = self.base
        k = 0.72 if self.state == "down" else 1.0
        self.bg = [r * k, g * k, b * k, a]


class RatingScreenBuilder:
    """Builds the widget tree of one :class:`RatingView` at a scale ``s`` (1.0: an 800-pixel short side)."""

    def __init__(self, vm: RatingViewModel, width: float, height: float) -> None:
        self.vm = vm
        self.w, self.h = width, height
        self.s = min(width, height) / 800.0
        #: The widgets that trigger view-model calls, by id (``level:3``, ``reason:0``, ``action:send``).
        self.buttons: dict[str, Widget] = {}
        self._faces: list[Widget] = []  # the level buttons' face holders (one size for all)

    def px(self, v: float) -> float:
        """A design size scaled to the window."""
        return v * self.s

    # -- parts -------------------------------------------------------------------------------
    def header(self, view: RatingView) -> Widget:
        site = self.vm.cfg.site
        bar = Panel(bg=HEADER, orientation="horizontal", size_hint_y=None, height=self.px(104))
        bar.padding = (self.px(28), self.px(10))
        bar.spacing = self.px(20)
        names = BoxLayout(orientation="vertical")
        names.add_widget(text(site.agency, self.px(22), color=WHITE, halign="left"))
        names.add_widget(text(site.name, self.px(28), bold=True, color=WHITE, halign="left"))
        bar.add_widget(names)
        counter = Label(
            text=f"[b]{_m(view.counter_label.upper())}[/b]", markup=True, font_size=self.px(48),
            color=WHITE, size_hint_x=None, width=self.px(240),
        )  # fmt: skip
        bar.add_widget(counter)
        if len(view.languages) > 1:
            other: Lang = "en" if view.lang == "vi" else "vi"
            label = {"en": "English", "vi": "Tiếng Việt"}[other]
            btn = BigButton(
                bg=WHITE, color=HEADER, text=f"[b]{label}[/b]", font_size=self.px(30),
                size_hint=(None, None), size=(self.px(210), self.px(76)), radius=self.px(38),
                pos_hint={"center_y": 0.5},
            )  # fmt: skip
            btn.bind(on_press=lambda *_: self.vm.set_language(other))
            self.buttons["lang"] = btn
            bar.add_widget(btn)
        return bar

    def banner(self, view: RatingView) -> Widget | None:
        if not view.banner:
            return None
        box = Panel(bg=BANNER, orientation="vertical", size_hint_y=None, padding=(self.px(24), self.px(8)))
        box.add_widget(text(view.banner, self.px(28), bold=True))
        box.add_widget(text(view.banner2, self.px(20), color=MUTED))
        box.bind(minimum_height=box.setter("height"))
        return box

    def titles(self, view: RatingView, size: float, color: Any = INK, halign: str = "center") -> list[Widget]:
        out: list[Widget] = [text(view.title, self.px(size), bold=True, color=color, halign=halign)]
        if view.title2:
            out.append(text(view.title2, self.px(size * 0.6), color=MUTED, halign=halign))
        return out

    def lines(self, view: RatingView, size: float, halign: str = "center") -> list[Widget]:
        out: list[Widget] = []
        for first, second in view.lines:
            out.append(text(first, self.px(size), bold=True, halign=halign))
            if second:
                out.append(text(second, self.px(size * 0.65), color=MUTED, halign=halign))
        return out

    def portrait(self, officer: Officer, size: float) -> Widget:
        """The officer's photo, or a circle with the initial of the given name."""
        box = AnchorLayout(size_hint=(None, None), size=(self.px(size), self.px(size)))
        if officer.photo:
            box.add_widget(Image(source=officer.photo, fit_mode="contain"))
            return box
        disc = Widget()

        def draw(*_: Any) -> None:
            disc.canvas.clear()
            with disc.canvas:
                Color(*BLUE)
                Ellipse(pos=disc.pos, size=disc.size)

        disc.bind(pos=draw, size=draw)
        box.add_widget(disc)
        box.add_widget(
            Label(text=f"[b]{_m(officer.initials)}[/b]", markup=True, font_size=self.px(size * 0.45))
        )
        return box

    def officer_card(self, officer: Officer, photo: float, name: float, halign: str = "center") -> Widget:
        card = BoxLayout(orientation="vertical", size_hint_y=None, spacing=self.px(10))
        holder = AnchorLayout(size_hint_y=None, height=self.px(photo), anchor_x=halign)
        holder.add_widget(self.portrait(officer, photo))
        card.add_widget(holder)
        card.add_widget(text(officer.name, self.px(name), bold=True, halign=halign))
        if officer.title:
            card.add_widget(text(officer.title, self.px(name * 0.7), color=MUTED, halign=halign))
        card.bind(minimum_height=card.setter("height"))
        return card

    def action(self, a: Action, height: float = 120) -> BigButton:
        color = (GREEN if a.id in ("send", "retry") else BLUE) if a.primary else GREY
        label = f"[b][size={int(self.px(40))}]{_m(a.text)}[/size][/b]"
        if a.text2:
            label += f"\n[size={int(self.px(24))}]{_m(a.text2)}[/size]"
        btn = BigButton(bg=color, color=WHITE, text=label, size_hint_y=None, height=self.px(height),
                        radius=self.px(20))  # fmt: skip
        btn.bind(on_press=lambda *_: self.vm.press(a.id))
        self.buttons[f"action:{a.id}"] = btn
        return btn

    def level(self, lv: Level, busy: bool) -> Tile:
        """A level button: a face, the level in the chosen language (46 px) and in the other (28 px).

        A site's own texts can be long ("Rất không hài lòng", or its ``levels_en``) and five tiles are
        narrow: each text gets smaller until its longest word fits the tile's width (a word is never
        broken), the words take the height they need, and the face shrinks to the room that is left."""
        tile = Tile(get_color_from_hex(lv.colour), radius=self.px(28), orientation="vertical",
                    padding=(self.px(12), self.px(22)), spacing=self.px(8))  # fmt: skip
        holder = AnchorLayout()
        holder.add_widget(Face(lv.mood, size_hint=(None, None), size=(self.px(190), self.px(190))))
        self._faces.append(holder)
        holder.bind(size=self._fit_faces)
        tile.add_widget(holder)
        label = Label(markup=True, color=WHITE, halign="center", valign="middle", size_hint_y=None,
                      height=self.px(130))  # fmt: skip

        def fit(*_: Any) -> None:
            width = max(1.0, label.width)
            big = _fitting(lv.text, self.px(46), width, bold=True)
            words = f"[b][size={int(big)}]{_m(lv.text)}[/size][/b]"
            if lv.text2:
                small = min(_fitting(lv.text2, self.px(28), width), big * 0.8)
                words += f"\n[size={int(small)}]{_m(lv.text2)}[/size]"
            label.text_size = (width, None)
            label.text = words
            label.texture_update()
            label.height = max(self.px(130), label.texture_size[1])

        label.bind(width=fit)
        tile.add_widget(label)
        if busy:
            tile.opacity = 0.55
        tile.bind(on_press=lambda *_: self.vm.choose(lv.score))
        self.buttons[f"level:{lv.score}"] = tile
        return tile

    def _fit_faces(self, *_: Any) -> None:
        """Every face of the row at one size: 190 px, or the room the tile with the most words leaves."""
        side = min([self.px(190)] + [min(h.size) for h in self._faces])
        for holder in self._faces:
            holder.children[0].size = (side, side)

    def toggle(self, c: Choice, key: str, size: float, height: float) -> BigButton:
        """A reason or comment toggle: white with a blue frame and an empty mark, or blue and marked.

        Reasons may be picked together and have a square box that is ticked; a citizen picks one
        ready-made comment at most, so comments have a round radio mark with a dot."""
        first = f"[b][size={int(self.px(size))}]{_m(c.text)}[/size][/b]"
        if c.text2:
            first += f"\n[size={int(self.px(size * 0.62))}]{_m(c.text2)}[/size]"
        btn = BigButton(
            bg=SELECTED if c.selected else WHITE, color=WHITE if c.selected else INK, text=first,
            size_hint_y=None, height=self.px(height), radius=self.px(18),
        )  # fmt: skip
        kind, _, index = key.partition(":")
        btn.mark = "check" if kind == "reason" else "radio"
        box = _checkbox(btn, c.selected, self.px(size * 1.1), radio=btn.mark == "radio")
        btn.bind(pos=box, size=box)
        call = self.vm.toggle_reason if kind == "reason" else self.vm.toggle_comment
        btn.bind(on_press=lambda *_: call(int(index)))
        self.buttons[key] = btn
        return btn

    # -- screens -----------------------------------------------------------------------------
    def build(self, view: RatingView) -> Widget:
        root = BoxLayout(orientation="vertical")
        root.add_widget(self.header(view))
        banner = self.banner(view)
        if banner is not None:
            root.add_widget(banner)
        body = BoxLayout(orientation="vertical", padding=self.px(28), spacing=self.px(16))
        getattr(self, f"_{view.screen}", self._message)(view, body)
        root.add_widget(body)
        return root

    def _idle(self, view: RatingView, body: BoxLayout) -> None:
        if view.officer is None:
            body.add_widget(Widget())
            for w in self.titles(view, 64):
                body.add_widget(w)
            body.add_widget(Widget(size_hint_y=None, height=self.px(24)))
            for w in self.lines(view, 40):
                body.add_widget(w)
            body.add_widget(Widget())
            return
        row = BoxLayout(orientation="horizontal", spacing=self.px(40))
        left = AnchorLayout(size_hint_x=0.42)
        left.add_widget(self.officer_card(view.officer, 300, 42))
        row.add_widget(left)
        right = BoxLayout(orientation="vertical", spacing=self.px(12))
        right.add_widget(Widget())
        for w in self.titles(view, 54, halign="left"):
            right.add_widget(w)
        right.add_widget(Widget(size_hint_y=None, height=self.px(20)))
        if view.number:
            first, second = view.lines[0]
            label = first.replace(view.number, "").strip()
            right.add_widget(text(label, self.px(40), bold=True, halign="left"))
            right.add_widget(text(view.number, self.px(150), bold=True, color=BLUE, halign="left"))
            if second:
                right.add_widget(text(second, self.px(26), color=MUTED, halign="left"))
        else:
            for w in self.lines(view, 38, halign="left"):
                right.add_widget(w)
        right.add_widget(Widget())
        row.add_widget(right)
        body.add_widget(row)

    def _rate(self, view: RatingView, body: BoxLayout) -> None:
        top = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=self.px(24))
        if view.officer is not None:
            top.add_widget(self.portrait(view.officer, 150))
        words = BoxLayout(orientation="vertical")
        for w in self.titles(view, 44, halign="left"):
            words.add_widget(w)
        if view.officer is not None:
            who = view.officer.name + (f" — {view.officer.title}" if view.officer.title else "")
            words.add_widget(text(who, self.px(30), color=BLUE, bold=True, halign="left"))
        for first, _second in view.lines:
            words.add_widget(text(first, self.px(28), halign="left"))
        top.add_widget(words)
        top.height = self.px(170)
        body.add_widget(top)
        row = GridLayout(rows=1, spacing=self.px(22))
        for lv in view.levels:
            row.add_widget(self.level(lv, view.busy))
        body.add_widget(row)

    def _reasons(self, view: RatingView, body: BoxLayout) -> None:
        body.padding = (self.px(24), self.px(14))
        body.spacing = self.px(10)
        for w in self.titles(view, 40):
            body.add_widget(w)
        for first, _second in view.lines:
            body.add_widget(text(first, self.px(24), color=MUTED))
        cols = 2 if len(view.reasons) > 2 else 1
        grid = GridLayout(cols=cols, spacing=self.px(14), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        for c in view.reasons:
            grid.add_widget(self.toggle(c, f"reason:{c.index}", 36, 104))
        body.add_widget(grid)
        if view.comments:
            first, second = view.comment_title
            label = f"[b]{_m(first)}[/b]" + (
                f"  [size={int(self.px(20))}]{_m(second)}[/size]" if second else ""
            )
            note = text("", self.px(26), color=MUTED)
            note.text = label
            body.add_widget(note)
            row = GridLayout(rows=1, spacing=self.px(12), size_hint_y=None, height=self.px(84))
            for c in view.comments:
                row.add_widget(self.toggle(c, f"comment:{c.index}", 26, 84))
            body.add_widget(row)
        body.add_widget(Widget())
        buttons = BoxLayout(spacing=self.px(20), size_hint_y=None, height=self.px(104))
        for a in view.actions:
            btn = self.action(a, 104)
            btn.size_hint_x = 2 if a.primary else 1
            buttons.add_widget(btn)
        body.add_widget(buttons)

    def _thanks(self, view: RatingView, body: BoxLayout) -> None:
        body.add_widget(Widget(size_hint_y=0.2))
        face = AnchorLayout(size_hint_y=None, height=self.px(230))
        face.add_widget(Face(1.0, size_hint=(None, None), size=(self.px(220), self.px(220))))
        body.add_widget(face)
        for w in self.titles(view, 64, color=GREEN):
            body.add_widget(w)
        for w in self.lines(view, 34):
            body.add_widget(w)
        body.add_widget(Widget(size_hint_y=0.3))

    def _message(self, view: RatingView, body: BoxLayout) -> None:
        body.add_widget(Widget(size_hint_y=0.3))
        for w in self.titles(view, 54, color=ALERT):
            body.add_widget(w)
        body.add_widget(Widget(size_hint_y=None, height=self.px(16)))
        for w in self.lines(view, 38):
            body.add_widget(w)
        body.add_widget(Widget())
        for a in view.actions:
            holder = AnchorLayout(size_hint_y=None, height=self.px(120))
            btn = self.action(a, 120)
            btn.size_hint_x = 0.5
            holder.add_widget(btn)
            body.add_widget(holder)


def _fitting(words: str, size: float, width: float, *, bold: bool = False) -> float:
    """The font size, at most ``size``, at which the longest word of ``words`` fits in ``width``
    (Kivy would break a longer word in the middle); never below 40 % of ``size``."""
    from kivy.core.text import Label as CoreLabel  # type: ignore[import-untyped]

    core = CoreLabel(font_size=size, bold=bold)
    widest = max((core.get_extents(w)[0] for w in words.split()), default=0)
    if widest <= width:
        return size
    return max(size * 0.4, size * width / widest * 0.97)


def _checkbox(btn: Widget, ticked: bool, side: float, *, radio: bool = False) -> Any:
    """Draw a check box (or, with ``radio``, a round one-of-many mark) at the left of ``btn``, kept in
    place when it moves; return the redraw."""

    def draw(*_: Any) -> None:
        btn.canvas.after.clear()
        x = btn.x + side * 0.45
        y = btn.center_y - side / 2
        with btn.canvas.after:
            Color(*(WHITE if ticked else BLUE))
            if radio:
                Line(circle=(x + side / 2, y + side / 2, side / 2), width=max(1.5, side * 0.07))
                if ticked:
                    Ellipse(pos=(x + side * 0.25, y + side * 0.25), size=(side * 0.5, side * 0.5))
            else:
                Line(rounded_rectangle=(x, y, side, side, side * 0.15), width=max(1.5, side * 0.07))
            if ticked and not radio:
                Line(
                    points=[x + side * 0.2, y + side * 0.5, x + side * 0.42, y + side * 0.25,
                            x + side * 0.82, y + side * 0.78],
                    width=max(2.0, side * 0.09), cap="round", joint="round",
                )  # fmt: skip
        pad = side * 1.8
        btn.padding = (pad, 0, side * 0.4, 0)
        btn.text_size = (max(1, btn.width - pad - side * 0.4), None)

    return draw


class RatingApp(ViewApp):
    """The full-screen rating terminal."""

    title = "onestop rating"
    builder = RatingScreenBuilder

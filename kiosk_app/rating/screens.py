"""The rating terminal's Kivy screens: thin widgets over :class:`~kiosk_app.rating.viewmodel.RatingView`
(import via app.py).

Rating terminals are mostly landscape tablets (1280×800 is typical: a 10-inch screen on the counter,
facing the citizen), but 7" panels and portrait mounts are common: sizes are given for an 800-pixel
short side, scale with the window and never fall under the millimetre floors of the panel
(:mod:`kiosk_app.shell.panel`, docs/rating.md "Panels"); the layout follows the panel. Each change of
the view-model rebuilds the screen from its view; buttons only call the view-model. The level
buttons are very large, coloured from green to red, each with a drawn face (smiling to frowning) so
that a citizen who reads little still understands them.
"""

from __future__ import annotations

import math
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

from kiosk_app.rating.viewmodel import Choice, Level, Officer, RatingView, RatingViewModel
from kiosk_app.shell.panel import PanelSizing, panel_for, read_edid
from kiosk_app.shell.widgets import (
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
from kiosk_app.shell.widgets import esc as _m
from kiosk_app.shell.words import Action, Lang

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


class RatingScreenBuilder(PanelSizing):
    """Builds the widget tree of one :class:`RatingView` for the window's panel.

    Design sizes are pixels of a 1280×800 10" tablet (``px()`` scales them with the window's short
    side); :meth:`font` and :meth:`target` never let them fall under the millimetre floors of
    :mod:`kiosk_app.shell.panel` on the panel they are drawn on. The layout follows the panel: portrait
    panels stack the level buttons; panels less than 110 mm tall (the 7" ones) and portrait 7"
    panels keep only the counter and the language in the header of the rating screens, and 7"
    landscape panels put the reasons and the comments side by side."""

    #: Read the display's EDID for the panel's size (the app on a real display; never in tests).
    use_edid = False

    def __init__(self, vm: RatingViewModel, width: float, height: float) -> None:
        self.vm = vm
        self.w, self.h = width, height
        self.s = min(width, height) / 800.0
        device = vm.cfg.device(vm.device_id)
        self.panel = panel_for(device, width, height, edid=_edid() if self.use_edid else None)
        self.portrait = height > width
        #: A 7" panel: the rating screens save height (a short header, reasons beside comments).
        self.tight = self.panel.height_mm < 110 or (self.portrait and self.panel.height_mm < 200)
        #: The second lines are English (the view is in Vietnamese), else Vietnamese.
        self.en2 = True
        #: The widgets that trigger view-model calls, by id (``level:3``, ``reason:0``, ``action:send``).
        self.buttons: dict[str, Widget] = {}
        self._faces: list[Widget] = []  # the level buttons' face holders (one size for all)
        self._lang_below: BigButton | None = None  # the language button, in the bottom row

    def font2(self, v: float) -> int:
        """A second line's font size (English under Vietnamese, or Vietnamese under English)."""
        return self.font(v, en=self.en2)

    def second(self, value: str, v: float, halign: str = "center", color: Any = MUTED) -> Label:
        """A label that is a second line on its own (the checker gives English its 2.0 mm floor)."""
        lbl = text(value, self.font2(v), color=color, halign=halign)
        lbl.second_line = self.en2
        return lbl

    # -- parts -------------------------------------------------------------------------------
    def header(self, view: RatingView, compact: bool = False) -> Widget:
        """The site's agency and name, the counter and the language button; ``compact``: only the
        last two (a 7" panel's rating screens). Its height follows its words (a long site name may
        wrap, it is never cut)."""
        site = self.vm.cfg.site
        pad = (self.px(28), self.px(10))
        bar = Panel(bg=HEADER, orientation="vertical", size_hint_y=None, padding=pad, spacing=self.px(6))
        counter = Label(
            text=f"[b]{_m(view.counter_label.upper())}[/b]", markup=True, font_size=self.font(48),
            color=WHITE, size_hint=(None, None), halign="left", valign="middle",
        )  # fmt: skip
        counter.bind(texture_size=lambda *_: setattr(counter, "size", counter.texture_size))
        counter.texture_update()
        counter.size = counter.texture_size
        row = BoxLayout(orientation="horizontal", spacing=self.px(20), size_hint_y=None)
        parts: list[Widget] = []
        names = BoxLayout(orientation="vertical", size_hint_y=None)
        if not compact:
            names.add_widget(text(site.agency, self.font(22), color=WHITE, halign="left"))
            names.add_widget(text(site.name, self.font(28), bold=True, color=WHITE, halign="left"))
            names.bind(minimum_height=names.setter("height"))
        lang = self.language(view)
        if compact or self.portrait:
            row.add_widget(AnchorLayout(anchor_x="left", size_hint_x=1))
            row.children[0].add_widget(counter)
            if not compact:
                bar.add_widget(names)
                parts.append(names)
        else:
            row.add_widget(names)
            row.add_widget(AnchorLayout(size_hint_x=None, width=counter.width))
            row.children[0].add_widget(counter)
        if lang is not None:
            holder = AnchorLayout(size_hint_x=None, width=lang.width)
            holder.add_widget(lang)
            row.add_widget(holder)
        bar.add_widget(row)
        parts.append(row)

        def fit(*_: Any) -> None:
            row.height = max([counter.height, lang.height if lang is not None else 0]
                             + ([names.height] if names.parent is row else []))  # fmt: skip
            bar.height = sum(p.height for p in parts) + bar.spacing * (len(parts) - 1) + 2 * pad[1]

        names.bind(height=fit)
        counter.bind(height=fit)
        fit()
        return bar

    def language(self, view: RatingView, below: bool = False) -> BigButton | None:
        """The button to the other language, or None (one language); ``below``: in the bottom row
        of buttons (a screen without header), red with white words."""
        if len(view.languages) <= 1:
            return None
        other: Lang = "en" if view.lang == "vi" else "vi"
        label = {"en": "English", "vi": "Tiếng Việt"}[other]
        size = self.font(30)
        height = self.target(76)
        width = max(self.px(210), _extent(label, size, bold=True) + height * 0.8)
        btn = BigButton(
            bg=HEADER if below else WHITE, color=WHITE if below else HEADER, text=f"[b]{label}[/b]",
            font_size=size, size_hint=(None, None), size=(width, height), radius=height / 2,
        )  # fmt: skip
        if below:
            btn.size_hint_y = 1  # as tall as Send
        btn.bind(on_press=lambda *_: self.vm.set_language(other))
        self.buttons["lang"] = btn
        return btn

    def banner(self, view: RatingView) -> Widget | None:
        if not view.banner:
            return None
        box = Panel(bg=BANNER, orientation="vertical", size_hint_y=None, padding=(self.px(24), self.px(8)))
        if self.tight or view.screen == "reasons":  # short of height: both languages run on
            box.padding = (self.px(24), self.px(4))
            both = text("", self.font(28), bold=True)
            both.text = f"[b]{_m(view.banner)}[/b]" + (
                f"  [size={self.font2(20)}]{_m(view.banner2)}[/size]" if view.banner2 else ""
            )
            box.add_widget(both)
        else:
            box.add_widget(text(view.banner, self.font(28), bold=True))
            box.add_widget(self.second(view.banner2, 20))
        box.bind(minimum_height=box.setter("height"))
        return box

    def titles(self, view: RatingView, size: float, color: Any = INK, halign: str = "center") -> list[Widget]:
        out: list[Widget] = [text(view.title, self.font(size), bold=True, color=color, halign=halign)]
        if view.title2:
            out.append(self.second(view.title2, size * 0.6, halign=halign))
        return out

    def lines(self, view: RatingView, size: float, halign: str = "center") -> list[Widget]:
        out: list[Widget] = []
        for first, second in view.lines:
            out.append(text(first, self.font(size), bold=True, halign=halign))
            if second:
                out.append(self.second(second, size * 0.65, halign=halign))
        return out

    def portrait_of(self, officer: Officer, side: float) -> Widget:
        """The officer's photo, or a circle with the initial of the given name (``side`` px)."""
        box = AnchorLayout(size_hint=(None, None), size=(side, side))
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
            Label(text=f"[b]{_m(officer.initials)}[/b]", markup=True, font_size=math.ceil(side * 0.45))
        )
        return box

    def officer_card(self, officer: Officer, photo: float, name: float, halign: str = "center") -> Widget:
        card = BoxLayout(orientation="vertical", size_hint_y=None, spacing=self.px(10))
        holder = AnchorLayout(size_hint_y=None, height=photo, anchor_x=halign)
        holder.add_widget(self.portrait_of(officer, photo))
        card.add_widget(holder)
        card.add_widget(text(officer.name, self.font(name), bold=True, halign=halign))
        if officer.title:
            card.add_widget(text(officer.title, self.font(name * 0.7), color=MUTED, halign=halign))
        card.bind(minimum_height=card.setter("height"))
        return card

    def action(self, a: Action, height: float = 120, main: bool = False) -> BigButton:
        color = (GREEN if a.id in ("send", "retry") else BLUE) if a.primary else GREY
        label = f"[b][size={self.font(40)}]{_m(a.text)}[/size][/b]"
        if a.text2:
            label += f"\n[size={self.font2(24)}]{_m(a.text2)}[/size]"
        low = self.target(height, main)
        btn = BigButton(bg=color, color=WHITE, text=label, size_hint_y=None, height=low,
                        radius=self.px(20))  # fmt: skip
        _grow(btn, low, self.px(12))
        btn.bind(on_press=lambda *_: self.vm.press(a.id))
        self.buttons[f"action:{a.id}"] = btn
        return btn

    def level(self, lv: Level, busy: bool, across: bool) -> Tile:
        """A level button: a face, the level in the chosen language (46 px) and in the other (28 px);
        ``across``: the face at the left of the words (stacked buttons), else above them.

        A site's own texts can be long ("Rất không hài lòng", or its ``levels_en``) and five tiles are
        narrow: each text gets smaller (never under the floor: :meth:`level_columns` chose tiles wide
        enough) until its longest word fits the tile's width (a word is never broken), the words take
        the height they need, and the face shrinks to the room that is left."""
        pad = (self.px(12), self.px(22)) if not across else (self.px(22), self.px(10))
        tile = Tile(get_color_from_hex(lv.colour), radius=self.px(28),
                    orientation="horizontal" if across else "vertical",
                    padding=pad, spacing=self.px(16) if across else self.px(8))  # fmt: skip
        holder = AnchorLayout(size_hint_x=0.3 if across else 1)
        holder.add_widget(Face(lv.mood, size_hint=(None, None), size=(self.px(190), self.px(190))))
        self._faces.append(holder)
        holder.bind(size=self._fit_faces)
        tile.add_widget(holder)
        label = Label(markup=True, color=WHITE, halign="left" if across else "center", valign="middle",
                      size_hint_y=1 if across else None, height=self.px(130))  # fmt: skip
        first_floor = self.font(0)
        second_floor = self.font2(0)

        def fit(*_: Any) -> None:
            width = max(1.0, label.width)
            big = max(first_floor, _fitting(lv.text, self.font(46), width, bold=True))
            words = f"[b][size={math.ceil(big)}]{_m(lv.text)}[/size][/b]"
            if lv.text2:
                small = min(_fitting(lv.text2, self.font2(28), width), big * 0.8)
                words += f"\n[size={math.ceil(max(second_floor, small))}]{_m(lv.text2)}[/size]"
            label.text_size = (width, None)
            label.text = words
            label.texture_update()
            if not across:
                label.height = max(self.px(130), label.texture_size[1])

        label.bind(width=fit)
        tile.add_widget(label)
        if busy:
            tile.opacity = 0.55
        tile.bind(on_press=lambda *_: self.vm.choose(lv.score))
        self.buttons[f"level:{lv.score}"] = tile
        return tile

    def level_columns(self, levels: tuple[Level, ...], width: float) -> int:
        """How many level buttons side by side: all of them in landscape when every word fits a tile
        at its smallest size, else half of them (two rows); one (stacked) in portrait."""
        n = len(levels)
        if self.portrait or n <= 1:
            return 1
        for cols in (n, (n + 1) // 2):
            room = (width - (cols - 1) * self.px(22)) / cols - 2 * self.px(12)
            if all(
                _extent_words(lv.text, self.font(0), bold=True) <= room
                and _extent_words(lv.text2, self.font2(0)) <= room
                for lv in levels
            ):
                return cols
        return 1

    def _fit_faces(self, *_: Any) -> None:
        """Every face of the row at one size: 190 px, or the room the tile with the most words leaves."""
        side = min([self.px(190)] + [min(h.size) for h in self._faces])
        for holder in self._faces:
            holder.children[0].size = (side, side)

    def toggle(self, c: Choice, key: str, size: float, height: float) -> BigButton:
        """A reason or comment toggle: white with a blue frame and an empty mark, or blue and marked.

        Reasons may be picked together and have a square box that is ticked; a citizen picks one
        ready-made comment at most, so comments have a round radio mark with a dot. The caller sizes
        it to its words with :func:`_same_height` (at least a touch target)."""
        first = f"[b][size={self.font(size)}]{_m(c.text)}[/size][/b]"
        if c.text2:
            first += f"\n[size={self.font2(size * 0.62)}]{_m(c.text2)}[/size]"
        low = self.target(height)
        btn = BigButton(
            bg=SELECTED if c.selected else WHITE, color=WHITE if c.selected else INK, text=first,
            size_hint_y=None, height=low, radius=self.px(18),
        )  # fmt: skip
        kind, _, index = key.partition(":")
        btn.mark = "check" if kind == "reason" else "radio"
        box = _checkbox(btn, c.selected, self.font(size) * 0.9, radio=btn.mark == "radio")
        btn.bind(pos=box, size=box)
        call = self.vm.toggle_reason if kind == "reason" else self.vm.toggle_comment
        btn.bind(on_press=lambda *_: call(int(index)))
        self.buttons[key] = btn
        return btn

    # -- screens -----------------------------------------------------------------------------
    def build(self, view: RatingView) -> Widget:
        self.en2 = view.lang == "vi"
        root = BoxLayout(orientation="vertical")
        self._lang_below = None
        if self.tight and not self.portrait and view.screen == "reasons" and view.comments:
            self._lang_below = self.language(view, below=True)  # no header: every millimetre for the choices
        else:
            root.add_widget(self.header(view, compact=self.tight and view.screen in ("rate", "reasons")))
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
        halign = "center" if self.portrait else "left"
        words = BoxLayout(orientation="vertical", spacing=self.px(12), size_hint_y=None)
        for w in self.titles(view, 54, halign=halign):
            words.add_widget(w)
        words.add_widget(Widget(size_hint_y=None, height=self.px(20)))
        if view.number:
            first, second = view.lines[0]
            label = first.replace(view.number, "").strip()
            words.add_widget(text(label, self.font(40), bold=True, halign=halign))
            big = self.px(150) * (0.7 if view.banner and self.tight else 1.0)
            words.add_widget(text(view.number, big, bold=True, color=BLUE, halign=halign))
            if second:
                words.add_widget(self.second(second, 26, halign=halign))
        else:
            for w in self.lines(view, 38, halign=halign):
                words.add_widget(w)
        words.bind(minimum_height=words.setter("height"))
        if self.portrait:
            photo = min(self.px(300), self.w * 0.45) * (0.7 if view.banner else 1.0)
            body.add_widget(Widget())
            body.add_widget(self.officer_card(view.officer, photo, 42))
            body.add_widget(words)
            body.add_widget(Widget())
            return
        row = BoxLayout(orientation="horizontal", spacing=self.px(40))
        left = AnchorLayout(size_hint_x=0.42)
        photo = min(self.px(300), self.w * 0.3, self.h * 0.38) * (0.8 if view.banner else 1.0)
        left.add_widget(self.officer_card(view.officer, photo, 42))
        row.add_widget(left)
        right = AnchorLayout(anchor_y="center")
        right.add_widget(words)
        row.add_widget(right)
        body.add_widget(row)

    def _rate(self, view: RatingView, body: BoxLayout) -> None:
        if self.tight:
            body.padding = (self.px(20), self.px(14))
            body.spacing = self.px(12)
        top = BoxLayout(orientation="horizontal", size_hint_y=None, spacing=self.px(24))
        side = min(self.px(150), self.w * 0.2)
        photo = view.officer is not None and not (self.tight and self.portrait)  # 7" portrait: the words
        if not photo:
            side = 0
        if photo and view.officer is not None:
            holder = AnchorLayout(size_hint_x=None, width=side, anchor_y="top")
            holder.add_widget(self.portrait_of(view.officer, side))
            top.add_widget(holder)
        words = BoxLayout(orientation="vertical", size_hint_y=None)
        for w in self.titles(view, 44, halign="left"):
            words.add_widget(w)
        if view.officer is not None:
            who = view.officer.name + (f" — {view.officer.title}" if view.officer.title else "")
            words.add_widget(text(who, self.font(30), color=BLUE, bold=True, halign="left"))
        for first, _second in view.lines:
            words.add_widget(text(first, self.font(28), halign="left"))
        words.bind(minimum_height=words.setter("height"))
        top.add_widget(words)
        words.bind(height=lambda *_: setattr(top, "height", max(words.height, side)))
        top.height = side
        body.add_widget(top)
        inner = self.w - 2 * body.padding[0]
        cols = self.level_columns(view.levels, inner)
        if cols == 1:
            body.add_widget(self.stack([self.level(lv, view.busy, across=True) for lv in view.levels]))
            return
        rows = -(-len(view.levels) // cols)
        grid = GridLayout(cols=cols, rows=rows, spacing=self.px(22))
        for lv in view.levels:
            grid.add_widget(self.level(lv, view.busy, across=False))
        body.add_widget(grid)

    def stack(self, tiles: list[Tile]) -> Widget:
        """Stacked level buttons: each as tall as its words need (at least a main button), and the
        room that is left shared out equally."""
        box = BoxLayout(orientation="vertical", spacing=self.px(16))
        low = self.target(0, main=True)

        def need(tile: Tile) -> float:
            label = tile.children[0]
            return max(low, label.texture_size[1] + tile.padding[1] + tile.padding[3])

        def fit(*_: Any) -> None:
            needs = [need(t) for t in tiles]
            spare = box.height - sum(needs) - box.spacing * (len(tiles) - 1)
            extra = max(0.0, spare / len(tiles))
            for tile, n in zip(tiles, needs, strict=True):
                tile.height = n + extra

        for tile in tiles:
            tile.size_hint_y = None
            tile.children[0].bind(texture_size=fit)
            box.add_widget(tile)
        box.bind(height=fit)
        return box

    def _reasons(self, view: RatingView, body: BoxLayout) -> None:
        body.padding = (self.px(24), self.px(14))
        body.spacing = self.px(10)
        #: A 7" landscape panel: reasons beside comments, the language button beside Send.
        side = self.tight and not self.portrait and bool(view.comments)
        if side:
            body.padding = (self.px(20), self.px(10))
            body.spacing = self.px(8)
        if side:  # the question and its English on one line
            both = text("", self.font(40), bold=True)
            both.text = f"[b]{_m(view.title)}[/b]" + (
                f"  [size={self.font2(24)}]{_m(view.title2)}[/size]" if view.title2 else ""
            )
            body.add_widget(both)
        else:
            for w in self.titles(view, 40):
                body.add_widget(w)
        for first, _second in () if view.banner else view.lines:  # the hint gives way to the banner
            body.add_widget(text(first, self.font(24), color=MUTED))
        # one column beside the comments, and on a 7" portrait panel (two would break the words)
        cols = 1 if side or (self.tight and self.portrait) or len(view.reasons) <= 2 else 2
        grid = GridLayout(cols=cols, spacing=self.px(10) if side else self.px(14), size_hint_y=None)
        grid.bind(minimum_height=grid.setter("height"))
        reasons = [self.toggle(c, f"reason:{c.index}", 36, 104) for c in view.reasons]
        for btn in reasons:
            grid.add_widget(btn)
        low = self.target(84 if view.banner else 104)  # a banner takes some of the height
        _same_height(reasons, low, self.px(3) if self.tight else self.px(8))
        choices: BoxLayout = body
        if side:
            pair = BoxLayout(orientation="horizontal", spacing=self.px(20), size_hint_y=None)
            left = BoxLayout(orientation="vertical", size_hint_y=None)
            left.add_widget(grid)
            right = BoxLayout(orientation="vertical", size_hint_y=None, spacing=self.px(8))
            for col in (left, right):
                col.bind(minimum_height=col.setter("height"))
                col.bind(height=lambda *_: setattr(pair, "height", max(left.height, right.height)))
                pair.add_widget(col)
            body.add_widget(pair)
            choices = right
        else:
            body.add_widget(grid)
        if view.comments:
            first, second = view.comment_title
            label = f"[b]{_m(first)}[/b]"
            if second:
                label += f"  [size={self.font2(20)}]{_m(second)}[/size]"
            note = text("", self.font(26), color=MUTED)
            note.text = label
            choices.add_widget(note)
            across = not side and self.comments_fit(view.comments, self.w - 2 * self.px(24))
            line = GridLayout(cols=len(view.comments) if across else 1, spacing=self.px(10), size_hint_y=None)
            line.bind(minimum_height=line.setter("height"))
            comments = [self.toggle(c, f"comment:{c.index}", 26, 84) for c in view.comments]
            for btn in comments:
                line.add_widget(btn)
            _same_height(comments, self.target(84), self.px(3) if self.tight else self.px(8))
            choices.add_widget(line)
        body.add_widget(Widget())
        buttons = BoxLayout(spacing=self.px(20), size_hint_y=None, height=self.target(104, main=True))
        actions = [self.action(a, 104, main=True) for a in view.actions]
        for a, btn in zip(view.actions, actions, strict=True):
            btn.size_hint_x = 2 if a.primary else 1
            btn.bind(height=lambda *_: setattr(buttons, "height", max(b.height for b in actions)))
            buttons.add_widget(btn)
        if self._lang_below is not None:
            buttons.add_widget(self._lang_below)
        body.add_widget(buttons)

    def comments_fit(self, comments: tuple[Choice, ...], width: float) -> bool:
        """The ready-made comments fit side by side: each one's words on at most two lines."""
        room = (width - (len(comments) - 1) * self.px(12)) / len(comments)
        room -= self.font(26) * 0.9 * 2.2 + self.px(20)  # the radio mark and the margins
        return all(
            _extent(c.text, self.font(26), bold=True) <= 2 * room * 0.9
            and _extent_words(c.text, self.font(26), bold=True) <= room
            and _extent(c.text2, self.font2(26 * 0.62)) <= room
            for c in comments
        )

    def _thanks(self, view: RatingView, body: BoxLayout) -> None:
        body.add_widget(Widget(size_hint_y=0.2))
        side = min(self.px(220), self.h * 0.25)
        face = AnchorLayout(size_hint_y=None, height=side + self.px(10))
        face.add_widget(Face(1.0, size_hint=(None, None), size=(side, side)))
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
            btn = self.action(a, 120)
            btn.size_hint_x = 0.9 if self.portrait else 0.5
            holder = AnchorLayout(size_hint_y=None, height=btn.height)
            btn.bind(height=holder.setter("height"))
            holder.add_widget(btn)
            body.add_widget(holder)


def _edid() -> tuple[float, float, str] | None:
    """The connected display's size from its EDID, read once per process."""
    if not _EDID:
        _EDID.append(read_edid())
    return _EDID[0]


_EDID: list[tuple[float, float, str] | None] = []


def _extent(words: str, size: float, *, bold: bool = False) -> float:
    """The width (px) of ``words`` on one line at ``size``."""
    from kivy.core.text import Label as CoreLabel  # type: ignore[import-untyped]

    return float(CoreLabel(font_size=size, bold=bold).get_extents(words)[0]) if words else 0.0


def _extent_words(words: str, size: float, *, bold: bool = False) -> float:
    """The width (px) of the longest word of ``words`` at ``size``."""
    return max((_extent(w, size, bold=bold) for w in words.split()), default=0.0)


def _same_height(btns: list[BigButton], low: float, pad: float) -> None:
    """Keep ``btns`` (a grid's toggles) one height: at least ``low``, and the words of the one with
    the most of them and ``pad`` around them."""

    def fit(*_: Any) -> None:
        height = max([low] + [b.texture_size[1] + 2 * pad for b in btns])
        for b in btns:
            b.height = height

    for b in btns:
        b.bind(texture_size=fit)


def _grow(btn: BigButton, low: float, pad: float) -> None:
    """Keep ``btn`` at least ``low`` tall and as tall as its (wrapped) words and ``pad`` around them."""
    btn.bind(texture_size=lambda *_: setattr(btn, "height", max(low, btn.texture_size[1] + 2 * pad)))


def _fitting(words: str, size: float, width: float, *, bold: bool = False) -> float:
    """The font size, at most ``size``, at which the longest word of ``words`` fits in ``width``
    (Kivy would break a longer word in the middle); never below 40 % of ``size``."""
    widest = _extent_words(words, size, bold=bold)
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

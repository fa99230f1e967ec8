"""Widgets and colours shared by the kiosk's and the rating terminal's Kivy screens (import via app.py).

Big flat buttons whose text shrinks until it fits, wrapping labels whose height follows their text,
coloured panels, and one high-contrast palette. Text is Kivy's bundled Roboto, which has every
Vietnamese letter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kivy.app import App  # type: ignore[import-untyped]
from kivy.clock import Clock  # type: ignore[import-untyped]
from kivy.core.window import Window  # type: ignore[import-untyped]
from kivy.graphics import Color, Rectangle, RoundedRectangle  # type: ignore[import-untyped]
from kivy.properties import ListProperty  # type: ignore[import-untyped]
from kivy.uix.behaviors import ButtonBehavior  # type: ignore[import-untyped]
from kivy.uix.boxlayout import BoxLayout  # type: ignore[import-untyped]
from kivy.uix.label import Label  # type: ignore[import-untyped]
from kivy.uix.widget import Widget  # type: ignore[import-untyped]
from kivy.utils import escape_markup, get_color_from_hex  # type: ignore[import-untyped]

# -- colours (high contrast: dark text on light, white on dark blue) --------------------------------
BG = get_color_from_hex("#F4F6F8")
INK = get_color_from_hex("#102030")
MUTED = get_color_from_hex("#3C4A57")
HEADER = get_color_from_hex("#A8201A")
BLUE = get_color_from_hex("#0B4C9C")
BLUE_TEXT_2 = "#FFE27A"  # second lines and waiting counts on blue buttons
GREEN = get_color_from_hex("#1B6E3A")
GREY = get_color_from_hex("#5B6770")
DISABLED = get_color_from_hex("#D5DADF")
BANNER = get_color_from_hex("#FFC928")
ALERT = get_color_from_hex("#B3261E")
WHITE = (1, 1, 1, 1)


def esc(text: str) -> str:
    """Escape Kivy markup characters in ``text``."""
    return str(escape_markup(text))


class Panel(BoxLayout):
    """A box with a flat (optionally rounded) background colour."""

    bg = ListProperty([0, 0, 0, 0])

    def __init__(self, bg: Any = (0, 0, 0, 0), radius: float = 0, **kw: Any) -> None:
        super().__init__(**kw)
        self.bg = list(bg)
        with self.canvas.before:
            self._color = Color(*self.bg)
            self._rect = RoundedRectangle(radius=[radius]) if radius else Rectangle()
        self.bind(pos=self._redraw, size=self._redraw, bg=self._recolor)

    def _redraw(self, *_: Any) -> None:
        self._rect.pos, self._rect.size = self.pos, self.size

    def _recolor(self, *_: Any) -> None:
        self._color.rgba = self.bg


class BigButton(ButtonBehavior, Label):
    """A large, rounded, flat-coloured touch button with markup text (several sizes in one button)."""

    bg = ListProperty(list(BLUE))
    #: The selection mark a toggle draws: "check" (many may be picked), "radio" (one), or "".
    mark = ""

    def __init__(self, bg: Any = BLUE, radius: float = 20, **kw: Any) -> None:
        kw.setdefault("markup", True)
        kw.setdefault("halign", "center")
        kw.setdefault("valign", "middle")
        super().__init__(**kw)
        self.bg = list(bg)
        with self.canvas.before:
            self._color = Color(*self.bg)
            self._rect = RoundedRectangle(radius=[radius])
        self.bind(pos=self._redraw, size=self._redraw, bg=self._recolor, state=self._recolor)

    def _redraw(self, *_: Any) -> None:
        self._rect.pos, self._rect.size = self.pos, self.size
        pad = min(self.width, self.height) * 0.08
        self.text_size = (max(1, self.width - 2 * pad), None)
        self.shrink()

    #: Builds the markup text at a scale (1.0 = the design size); set for buttons that shrink to fit.
    markup_at: Callable[[float], str] | None = None
    _scale = 1.0

    def shrink(self, *_: Any) -> None:
        """Make the text smaller (down to 55 %) until it fits the button: nothing is ever cut off."""
        if self.markup_at is None or self.height <= 1:
            return
        self._scale = 1.0
        self.text = self.markup_at(self._scale)
        self.texture_update()
        while self.texture_size[1] > self.height * 0.94 and self._scale > 0.55:
            self._scale *= 0.92
            self.text = self.markup_at(self._scale)
            self.texture_update()

    def _recolor(self, *_: Any) -> None:
        r, g, b, a = self.bg
        k = 0.75 if self.state == "down" else 1.0  # a visible press
        self._color.rgba = (r * k, g * k, b * k, a)


def text(
    value: str,
    size: float,
    *,
    bold: bool = False,
    color: Any = INK,
    halign: str = "center",
    raw: bool = False,
) -> Label:
    """A wrapping label whose height follows its text (``raw``: ``value`` is markup already)."""
    body = value if raw else esc(value)
    lbl = Label(
        text=f"[b]{body}[/b]" if bold else body,
        markup=True,
        font_size=size,
        color=color,
        halign=halign,
        valign="middle",
        size_hint_y=None,
    )

    def fit(*_: Any) -> None:
        lbl.text_size = (lbl.width, None)

    lbl.bind(width=fit, texture_size=lambda *_: setattr(lbl, "height", lbl.texture_size[1] + size * 0.2))
    return lbl


class ViewApp(App):
    """A full-screen app whose one root box is rebuilt from its view-model's view on every change.

    Subclasses name their screen builder: a class taking ``(vm, width, height)`` whose ``build(view)``
    returns the screen's widget tree and whose ``buttons`` maps ids to the screen's buttons."""

    builder: Any = None

    def __init__(self, vm: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.vm = vm
        self.screen: Any = None
        self._pending = False
        self.renders = 0

    def build(self) -> Widget:
        """The root widget; subscribes to the view-model and starts its ticker (idle, timeouts)."""
        Window.clearcolor = BG
        self.root_box = BoxLayout()
        self.vm.subscribe(self._changed)
        Window.bind(on_touch_down=self._touched, size=lambda *_: self.render())
        Clock.schedule_interval(lambda _dt: self.vm.tick(), 0.5)
        self.render()
        return self.root_box

    def _touched(self, *_: Any) -> bool:
        self.vm.touch()
        return False  # let the touch reach the buttons

    def _changed(self) -> None:
        # From any thread: Clock.schedule_once is safe to call off the main thread.
        if not self._pending:
            self._pending = True
            Clock.schedule_once(lambda _dt: self.render(), 0)

    def render(self) -> None:
        """Rebuild the screen from the current view."""
        self._pending = False
        view = self.vm.view()
        self.screen = self.builder(self.vm, Window.width, Window.height)
        self.root_box.clear_widgets()
        self.root_box.add_widget(self.screen.build(view))
        self.renders += 1

    def button(self, key: str) -> Any:
        """A button of the current screen by id (``service:tuphap``, ``level:3``, ``action:ok``, ``lang``)."""
        assert self.screen is not None
        return self.screen.buttons[key]

"""The real Kivy rating terminal under a private Xvfb: a ticket ends, a touch on "Rất hài lòng" records
one rating, and a second touch records nothing; a site's own levels and their English fit the buttons.

Skipped only when Xvfb cannot be started (the session's ``xdisplay``, shared with the kiosk's
widget test: Kivy has one window per process).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from kiosk_app.rating.device import RatingDevice
from kiosk_app.rating.screenshots import DemoBackend, scenario
from kiosk_app.rating.viewmodel import RatingViewModel
from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.protocol import Topics
from queue_controller.service import Controller
from tests.conftest import SiteFactory
from tests.integration.conftest import DeviceFactory
from tests.utils.kivy import pump_until, touch
from tests.utils.site import SITE

pytestmark = pytest.mark.integration


def test_touching_a_level_records_one_rating(
    xdisplay: str, site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], controller: Controller,
    device: DeviceFactory, mqtt: Any,
) -> None:  # fmt: skip
    topics = Topics("t-site")
    hub = mqtt("hub")
    hub.subscribe(topics.events)
    t = [0.0]
    cfg = site_cfg.model_copy(update={"broker": site_cfg.broker.model_copy(update={"port": broker.port})})
    terminal = RatingDevice(cfg, "rate-1", credentials["rate-1"], clock=lambda: t[0], health_s=3600)
    terminal.start()
    from kiosk_app.rating.app import RATING_SIZE, build_rating_app
    from kiosk_app.shell.app import configure

    configure(fullscreen=False, size=RATING_SIZE)
    from kivy.core.window import Window  # type: ignore[import-untyped]

    app = build_rating_app(terminal.vm)
    app._run_prepare()
    Window.size = RATING_SIZE  # the window may exist already (the kiosk's test), at another size
    vm = terminal.vm
    try:
        kiosk, counter = device("kiosk-1"), device("counter-1")
        counter.request("open", {"officer": "cb001"})
        kiosk.request("issue", {"service": "tuphap"})
        counter.request("call_next")
        finished = counter.request("finish")["ticket"]
        from kivy.uix.label import Label  # type: ignore[import-untyped]

        def shown() -> str:
            return " ".join(w.text for w in app.root.walk() if isinstance(w, Label))

        pump_until(lambda: vm.screen == "rate" and "level:3" in app.screen.buttons, "the levels")
        text = shown()
        assert "Rất hài lòng" in text and "Không hài lòng" in text and finished["number"] in text
        touch(app, "level:3")
        pump_until(lambda: vm.screen == "thanks", "the thanks screen")
        ev = hub.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "rating.recorded").json()
        rating = ev["data"]["rating"]
        assert (rating["ticket"], rating["score"], rating["officer"]) == (finished["id"], 3, "cb001")
        pump_until(lambda: "Cảm ơn ông/bà đã đánh giá!" in shown(), "the thanks on screen")
        # a second touch where the buttons were: nothing (and back to idle after the thanks)
        t[0] += 2
        from kivy.tests.common import UnitTestTouch  # type: ignore[import-untyped]

        tt = UnitTestTouch(Window.width / 6, Window.height / 3)
        tt.touch_down()
        tt.touch_up()
        t[0] += vm.thanks_s
        pump_until(lambda: vm.screen == "idle", "idle after the thanks (Kivy's ticker)")
        counter.request("pause")  # a barrier: every earlier event has arrived once this one has
        hub.inbox.wait_for(topics.events, lambda m: m.json()["type"] == "counter.paused")
        recorded = [m for m in hub.inbox.messages(topics.events) if m.json()["type"] == "rating.recorded"]
        assert len(recorded) == 1 and len(vm.sent) == 1
    finally:
        app.stop()
        terminal.stop()


#: A five-level scale with the site's own English, some of it long ("" = no English for that level).
FIVE_LEVELS: dict[str, Any] = {
    "levels": ["Rất hài lòng", "Hài lòng", "Bình thường", "Chưa hài lòng", "Rất không hài lòng"],
    "levels_en": ["Very satisfied with the officer", "Satisfied", "Neither satisfied nor dissatisfied", "",
                  "Very dissatisfied"],
    "satisfied_min": 3,
}  # fmt: skip


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_the_sites_own_english_fits_on_five_level_buttons(
    xdisplay: str, site_factory: SiteFactory, lang: str
) -> None:
    """Every level button shows the site's English (``levels_en``), whole words only, inside the button,
    and the faces (all one size) stay above the words."""
    cfg = site_factory({"rating": {**SITE["rating"], **FIVE_LEVELS}})
    backend = DemoBackend()
    vm = RatingViewModel(cfg, "rate-1", backend, clock=lambda: 1000.0, runner=lambda job: job(), guard_s=0)
    from kiosk_app.rating.app import RATING_SIZE, build_rating_app
    from kiosk_app.shell.app import configure

    configure(fullscreen=False, size=RATING_SIZE)
    from kivy.core.text import Label as CoreLabel  # type: ignore[import-untyped]
    from kivy.core.window import Window  # type: ignore[import-untyped]
    from kivy.uix.label import Label  # type: ignore[import-untyped]

    from kiosk_app.rating.screens import Face

    app = build_rating_app(vm)
    app._run_prepare()
    Window.size = RATING_SIZE
    try:
        scenario("levels-en" if lang == "en" else "levels", vm, backend)
        pump_until(lambda: "level:1" in app.screen.buttons, "the level buttons")
        settled(app)
        tiles = [app.screen.buttons[f"level:{score}"] for score in (5, 4, 3, 2, 1)]
        faces = []
        for tile, vi, en in zip(tiles, FIVE_LEVELS["levels"], FIVE_LEVELS["levels_en"], strict=True):
            (label,) = [w for w in tile.walk(restrict=True) if isinstance(w, Label)]
            (face,) = [w for w in tile.walk(restrict=True) if isinstance(w, Face)]
            first, second = (vi, en) if lang == "vi" or not en else (en, vi)
            shown = re.sub(r"\[[^\]]*\]", "", label.text)
            assert shown == (f"{first}\n{second}" if second else first), shown
            sizes = [int(s) for s in re.findall(r"\[size=(\d+)\]", label.text)]
            for line, size, bold in zip(shown.split("\n"), sizes, (True, False), strict=False):
                for word in line.split():  # a word wider than the button would be broken in two
                    assert CoreLabel(font_size=size, bold=bold).get_extents(word)[0] <= label.width, word
            assert label.texture_size[1] <= label.height + 1, f"{first}: the words overflow their box"
            assert tile.y <= label.y and label.top <= tile.top, f"{first}: the words leave the button"
            assert label.top <= face.y + 1 and face.top <= tile.top, f"{first}: the face covers the words"
            faces.append(tuple(face.size))
        assert len(set(faces)) == 1 and faces[0][0] > 80, faces  # one face size, still a big one
    finally:
        app.stop()


def settled(app: Any) -> None:
    """Pump Kivy's event loop until two frames in a row lay the screen out the same (bounded)."""
    last: list[Any] = [None]

    def same() -> bool:
        now = [(w.x, w.y, w.width, w.height) for w in app.root.walk()]
        done, last[0] = now == last[0], now
        return done

    pump_until(same, "a settled layout")


def test_a_comment_looks_like_one_choice_and_reasons_like_many(xdisplay: str, site_cfg: SiteConfig) -> None:
    """Reasons have ticked square boxes (several may be chosen); the ready-made comments have round
    radio marks, and choosing a second comment moves the dot: the screen shows what the rule is."""
    backend = DemoBackend()
    vm = RatingViewModel(
        site_cfg, "rate-1", backend, clock=lambda: 1000.0, runner=lambda job: job(), guard_s=0
    )
    from kiosk_app.rating.app import RATING_SIZE, build_rating_app
    from kiosk_app.shell.app import configure

    configure(fullscreen=False, size=RATING_SIZE)
    from kivy.core.window import Window  # type: ignore[import-untyped]
    from kivy.graphics import Ellipse  # type: ignore[import-untyped]
    from kivy.uix.label import Label  # type: ignore[import-untyped]

    app = build_rating_app(vm)
    app._run_prepare()
    Window.size = RATING_SIZE
    try:
        scenario("reasons", vm, backend)
        pump_until(lambda: "comment:1" in app.screen.buttons, "the reasons screen")
        shown = " ".join(w.text for w in app.root.walk() if isinstance(w, Label))
        assert "chọn một" in shown
        buttons = app.screen.buttons
        reasons = [b for k, b in buttons.items() if k.startswith("reason:")]
        comments = [b for k, b in buttons.items() if k.startswith("comment:")]
        assert reasons and comments
        assert {b.mark for b in reasons} == {"check"} and {b.mark for b in comments} == {"radio"}

        def dots(btn: Any) -> int:
            return sum(isinstance(i, Ellipse) for i in btn.canvas.after.children)

        assert [dots(b) for b in comments] == [0] * len(comments)
        touch(app, "comment:0")
        pump_until(lambda: dots(app.screen.buttons["comment:0"]) == 1, "a dot on the first comment")
        touch(app, "comment:1")
        pump_until(lambda: dots(app.screen.buttons["comment:1"]) == 1, "the dot on the second comment")
        comments = [b for k, b in app.screen.buttons.items() if k.startswith("comment:")]
        assert sum(dots(b) for b in comments) == 1, "two comments look chosen at once"
        reason_dots = [dots(b) for k, b in app.screen.buttons.items() if k.startswith("reason:")]
        assert reason_dots == [0] * len(reason_dots), "a reason's box is drawn as a radio mark"
    finally:
        app.stop()

"""The simulated LED display's two faces, the shared shaping rules, and the backend registry."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from device_drivers.display import (
    BACKENDS,
    ENV_BACKEND,
    DisplayClosed,
    DisplayConfigError,
    DisplayNotFound,
    DisplayUnsupported,
    LedDisplay,
    make_display,
    open_display,
    register_backend,
)
from device_drivers.display.sim import SimDisplay, panel, reset_panels
from onestop.config import Hardware


@pytest.fixture(autouse=True)
def _fresh_panels() -> Iterator[None]:
    reset_panels()
    yield
    reset_panels()


def test_default_is_a_sim() -> None:
    d = open_display(None)
    assert isinstance(d, SimDisplay)
    assert (d.info.rows, d.info.cols, d.info.charset) == (1, 16, "utf-8")


def test_test_face_shows_lines_blink_and_history() -> None:
    ticks = iter([10.0, 11.0, 12.0, 13.0])
    d = SimDisplay({"rows": 2, "cols": 8})
    d.panel.clock = lambda: next(ticks)
    with d:
        d.show_number("A012", blink=True)
        assert d.panel.text == ["A012", ""]
        assert d.panel.blink is True
        d.show(["Quầy 3", "B007"])
    assert d.panel.lines == ["Quầy 3  ", "B007    "]
    assert [(u.ts, u.op, u.blink) for u in d.panel.history] == [
        (10.0, "open", False),
        (11.0, "show", True),
        (12.0, "show", False),
        (13.0, "close", False),
    ]
    assert d.panel.history[1].lines == ("A012    ", "        ")
    d.panel.reset()
    assert d.panel.history == [] and d.panel.text == ["", ""]


def test_sim_shapes_like_the_board_it_pretends_to_be() -> None:
    with SimDisplay({"cols": 4, "charset": "7seg"}) as d:
        d.show_number("Kđ12")
        assert d.panel.lines == ["-D12"]
    with SimDisplay({"cols": 6, "charset": "ascii", "align": "right"}) as d:
        d.show_number("Quầy 3")
        assert d.panel.lines == ["Quay 3"]
        d.show_number("A1")
        assert d.panel.lines == ["    A1"]


def test_clear_blanks_and_stops_blinking() -> None:
    with SimDisplay({"rows": 2, "cols": 4}) as d:
        d.show(["A", "B"], blink=True)
        d.clear()
        assert d.panel.text == ["", ""] and d.panel.blink is False


def test_extra_rows_are_dropped_and_announced_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), SimDisplay({"rows": 1, "cols": 4}) as d:
        d.show(["A", "B"])
        d.show(["C", "D"])
        assert d.panel.text == ["C"]
    assert sum("extra lines are dropped" in r.getMessage() for r in caplog.records) == 1


def test_no_blink_and_no_brightness_are_explicit(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), SimDisplay({"blink": False, "brightness": False}) as d:
        d.show_number("A1", blink=True)
        assert d.panel.blink is False
        with pytest.raises(DisplayUnsupported):
            d.set_brightness(50)
    assert any("cannot blink" in r.getMessage() for r in caplog.records)


def test_brightness_is_a_percentage() -> None:
    with SimDisplay() as d:
        d.set_brightness(30)
        assert d.panel.brightness == 30
        with pytest.raises(ValueError):
            d.set_brightness(101)


def test_closed_display_refuses_work_and_reopens() -> None:
    d = SimDisplay()
    with pytest.raises(DisplayClosed):
        d.show_number("A1")
    d.open()
    d.open()  # idempotent
    d.close()
    d.close()
    with pytest.raises(DisplayClosed):
        d.clear()
    with d:
        d.show_number("A2")
    assert d.panel.text == ["A2"]


def test_show_wants_a_list() -> None:
    with SimDisplay() as d, pytest.raises(TypeError, match="show_number"):
        d.show("A012")


def test_wait_for_sees_an_update_from_another_thread() -> None:
    d = open_display({"backend": "sim", "name": "counter-9", "cols": 4})
    go = threading.Event()

    def agent() -> None:
        go.wait(2)
        d.show_number("C003", blink=True)

    t = threading.Thread(target=agent)
    t.start()
    face = panel("counter-9")
    assert face.text == [""]
    go.set()
    assert face.wait_for(lambda p: p.text == ["C003"] and p.blink, timeout=2)
    t.join(2)
    assert not face.wait_for(lambda p: p.text == ["never"], timeout=0.01)


def test_named_panels_are_shared_and_unknown_ones_are_a_key_error() -> None:
    a = make_display(Hardware(backend="sim", name="board-1", rows=2, cols=8))
    assert isinstance(a, SimDisplay)
    assert panel("board-1") is a.panel
    with pytest.raises(KeyError):
        panel("board-2")


def test_render_png(tmp_path: Path) -> None:
    from PIL import Image

    with SimDisplay({"rows": 2, "cols": 8}) as d:
        d.show(["A012 → 3", "Quầy 1"], blink=True)
        out = d.panel.render_png(tmp_path / "board.png")
    with Image.open(out) as img:
        assert img.size[0] > img.size[1] > 0
        assert img.getbbox() is not None  # something was drawn


# -- the registry ----------------------------------------------------------------------------------


def test_unknown_backend_lists_the_known_ones() -> None:
    with pytest.raises(DisplayConfigError, match="unknown backend 'ledmatrix'; known: ascii, modbus, sim"):
        make_display({"backend": "ledmatrix"})


def test_hardware_table_from_site_config() -> None:
    d = make_display(Hardware(backend="modbus", port="/dev/ttyUSB0", slave=3))
    assert (d.info.backend, d.info.rows, d.info.cols, d.info.charset) == ("modbus", 1, 4, "7seg")
    assert not d.is_open  # make_display checks the table; it does not touch the port


@pytest.mark.parametrize("backend", ["modbus", "ascii"])
def test_missing_port_is_display_not_found_at_open_time(backend: str, tmp_path: Path) -> None:
    d = make_display({"backend": backend, "port": str(tmp_path / "ttyUSB9")})
    with pytest.raises(DisplayNotFound, match="ttyUSB9") as e:
        d.open()
    assert isinstance(e.value, OSError) and e.value.errno == 2
    assert not d.is_open


def test_env_var_replaces_a_backend_by_a_sim_of_the_same_geometry(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(ENV_BACKEND, "sim")
    with caplog.at_level(logging.WARNING):
        d = open_display({"backend": "modbus", "port": "/dev/none", "profile": "text-card"})
    assert isinstance(d, SimDisplay)
    assert (d.info.rows, d.info.cols, d.info.charset) == (2, 16, "ascii")
    assert any("simulating the modbus display" in r.getMessage() for r in caplog.records)
    monkeypatch.setenv(ENV_BACKEND, "modbus")
    with pytest.raises(DisplayConfigError, match="only 'sim'"):
        make_display({"backend": "sim"})


def test_register_a_vendor_backend() -> None:
    def vendor(params: dict[str, object]) -> LedDisplay:
        return SimDisplay({"cols": int(str(params["width"]))})

    register_backend("vendor-x", vendor)
    try:
        assert make_display({"backend": "vendor-x", "width": 5}).info.cols == 5
    finally:
        del BACKENDS["vendor-x"]


def test_package_imports_without_pyserial() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['serial'] = None\n"
        "from device_drivers.display import make_display, DisplayUnsupported\n"
        "d = make_display({'backend': 'modbus', 'port': '/dev/x'})\n"
        "try:\n    d.open()\nexcept DisplayUnsupported as e:\n    print('ok', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True)
    assert out.stdout.startswith("ok serial display backends need pyserial")

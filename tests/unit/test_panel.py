"""Physical panel sizes: site.toml, EDID, the usual panels, and the millimetre arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from kiosk_app.shell.panel import CAP_VI_MM, Panel, edid_size_mm, panel_for, read_edid
from onestop.config import DeviceConfig


def _edid(dtd_mm: tuple[int, int] | None, basic_cm: tuple[int, int] = (0, 0)) -> bytes:
    b = bytearray(128)
    b[:8] = b"\x00\xff\xff\xff\xff\xff\xff\x00"
    b[21], b[22] = basic_cm
    if dtd_mm is not None:
        w, h = dtd_mm
        b[54], b[55] = 0x01, 0x1D  # a pixel clock: a detailed timing descriptor
        b[66], b[67], b[68] = w & 0xFF, h & 0xFF, (w >> 8) << 4 | (h >> 8)
    return bytes(b)


def test_edid_gives_millimetres_or_centimetres_or_nothing() -> None:
    assert edid_size_mm(_edid((155, 86))) == (155.0, 86.0)
    assert edid_size_mm(_edid((476, 268))) == (476.0, 268.0)
    assert edid_size_mm(_edid((1210, 680))) == (1210.0, 680.0)  # above 255: the upper nibbles
    assert edid_size_mm(_edid(None, (48, 27))) == (480.0, 270.0)
    assert edid_size_mm(_edid(None)) is None  # a projector states no size
    assert edid_size_mm(b"junk" * 40) is None and edid_size_mm(b"") is None


def test_edid_is_read_from_the_connected_drm_connector(tmp_path: Path) -> None:
    for name, status, edid in (
        ("card0-HDMI-A-1", "disconnected", _edid((600, 340))),
        ("card0-HDMI-A-2", "connected", _edid((155, 86))),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "status").write_text(status + "\n")
        (tmp_path / name / "edid").write_bytes(edid)
    assert read_edid([tmp_path]) == (155.0, 86.0, "EDID of card0-HDMI-A-2")
    assert read_edid([tmp_path / "nothing"]) is None


def test_the_size_comes_from_site_toml_then_edid_then_the_usual_panel() -> None:
    kiosk = DeviceConfig.model_validate(
        {"id": "k", "role": "kiosk", "panel": {"width_mm": 155, "height_mm": 86}}
    )
    p = panel_for(kiosk, 480, 800)  # mounted in portrait: the printed size is turned
    assert (p.width_mm, p.height_mm) == (86, 155) and "site.toml" in p.source
    by_diag = DeviceConfig.model_validate({"id": "k", "role": "kiosk", "panel": {"diagonal_in": 10.1}})
    assert round(panel_for(by_diag, 1280, 800).width_mm) == 218
    plain = DeviceConfig.model_validate({"id": "k", "role": "kiosk"})
    assert panel_for(plain, 800, 480, edid=(155.0, 86.0, "EDID of x")).source == "EDID of x"
    touch = panel_for(plain, 800, 480)
    assert "Touch Display" in touch.source and round(touch.px_per_mm, 2) == 5.19
    odd = panel_for(plain, 1000, 700)
    assert "21.5" in odd.source


def test_millimetres_and_cap_heights() -> None:
    p = Panel(800, 480, 154.2, 85.9, "test")
    assert p.mm(10) == pytest.approx(51.9, abs=0.1)
    assert p.cap_mm(p.font_for_cap(CAP_VI_MM)) == pytest.approx(CAP_VI_MM)
    assert p.font_for_cap(CAP_VI_MM) == pytest.approx(25.5, abs=0.2)  # 3.5 mm letters on a 7" panel


@pytest.mark.parametrize(
    "panel",
    [{"width_mm": 155}, {"diagonal_in": 7, "width_mm": 155, "height_mm": 86}, {}, {"diagonal_in": 0.5}],
)
def test_a_wrong_panel_table_is_refused(panel: dict) -> None:
    with pytest.raises(ValidationError):
        DeviceConfig.model_validate({"id": "k", "role": "kiosk", "panel": panel})

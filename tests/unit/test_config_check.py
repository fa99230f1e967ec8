"""``onestop config check``: a valid file, and warnings about what counter displays cannot show."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from onestop.cli import main
from onestop.config import SiteConfig, load
from onestop.config_check import FAIL, OK, WARN, check_config, display_problems

SiteFactory = Callable[..., SiteConfig]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"

SEVEN_SEG = {"backend": "sim", "rows": 1, "cols": 4, "charset": "7seg", "align": "right"}


def test_the_example_site_warns_about_k_and_m_on_seven_segments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", "--config", str(EXAMPLE)]) == 0  # warnings do not fail
    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith(f"{WARN} service")]
    assert len(warnings) == 2
    k = next(w for w in warnings if '"tainguyen"' in w)
    assert 'prefix "K"' in k and "counter-4, counter-10" in k and '"-001"' in k
    m = next(w for w in warnings if '"yte"' in w)
    assert 'prefix "M"' in m and "counter-8" in m
    assert out[-1] == f"{WARN} usable, with 2 warnings"


def test_a_site_whose_prefixes_all_show_is_well(site_factory: SiteFactory) -> None:
    cfg = site_factory(
        {"devices": [{"id": "counter-1", "role": "counter", "counter": "1", "display": SEVEN_SEG}]}
    )
    assert display_problems(cfg) == ([], [])
    assert [mark for mark, _ in check_config(cfg)] == [OK, OK]


def test_unreadable_letters_and_long_numbers_warn(site_factory: SiteFactory) -> None:
    services = [
        {"id": "tuphap", "name": "Tư pháp", "prefix": "W", "digits": 3},
        {"id": "datdai", "name": "Đất đai", "prefix": "AB", "digits": 3},
        {"id": "dkkd", "name": "Kinh doanh", "prefix": "C", "digits": 4},
    ]
    counters = [
        {"id": "1", "label": "Quầy 1", "services": ["tuphap", "datdai"]},
        {"id": "2", "label": "Quầy 2", "services": ["dkkd"]},
    ]
    wide = {"backend": "sim", "rows": 1, "cols": 8, "charset": "ascii"}
    devices = [
        {"id": "counter-1", "role": "counter", "counter": "1", "display": SEVEN_SEG},
        {"id": "counter-2", "role": "counter", "counter": "2", "display": SEVEN_SEG},
        {"id": "counter-2b", "role": "counter", "counter": "2", "display": wide},  # 8 columns: fits
        {"id": "counter-1b", "role": "counter", "counter": "1", "display": wide},  # ascii draws W
    ]
    cfg = site_factory({"services": services, "counters": counters, "devices": devices})
    warnings, problems = display_problems(cfg)
    assert problems == []
    assert len(warnings) == 3
    assert any('prefix "W"' in w and "counter-1 shows W001" in w and '"-001"' in w for w in warnings)
    assert any('"datdai"' in w and "AB001, 5 characters" in w and "counter-1," in w for w in warnings)
    assert any('"dkkd"' in w and "C0001" in w and "counter-2," in w for w in warnings)
    assert not any("counter-1b" in w or "counter-2b" in w for w in warnings)


def test_a_display_the_driver_refuses_fails(
    site_factory: SiteFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = {"backend": "sim", "cols": 4, "charset": "no-such-charset"}
    cfg = site_factory({"devices": [{"id": "counter-1", "role": "counter", "counter": "1", "display": bad}]})
    marks = [mark for mark, _ in check_config(cfg)]
    assert FAIL in marks
    assert main(["config", "check", "--config", cfg.source]) == 1
    assert "no-such-charset" in capsys.readouterr().out


def test_an_invalid_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('prefix = "A"', 'prefix = "a"'), "utf-8")
    assert main(["config", "check", "--config", str(bad)]) == 2
    assert "prefix" in capsys.readouterr().err
    assert load(EXAMPLE)  # the example itself stays valid


def test_site_check_shows_the_same_warnings() -> None:
    from provisioning.check import check_site

    lines = check_site(load(EXAMPLE)).lines
    assert sum(1 for mark, text in lines if mark == WARN and 'prefix "K"' in text) == 1
    assert sum(1 for mark, text in lines if mark == WARN and 'prefix "M"' in text) == 1

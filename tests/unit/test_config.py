"""site.toml validation: every mistake names the file, the key path and what was expected."""

from __future__ import annotations

import copy
import unicodedata
from pathlib import Path

import pytest

from onestop import config
from onestop.errors import ConfigError
from tests.unit.sites import BASE

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        config.parse(data, "site.toml")
    return e.value.problems


def mutated(**edits: object) -> dict:
    data = copy.deepcopy(BASE)
    for path, value in edits.items():
        node = data
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is KeyError:
            del node[last]
        else:
            node[int(last) if last.isdigit() else last] = value
    return data


def test_the_example_site_is_a_realistic_centre() -> None:
    cfg = config.load(EXAMPLE)
    assert len(cfg.services) >= 8 and len(cfg.counters) >= 12 and len(cfg.officers) >= 12
    assert {d.role for d in cfg.devices} == {"kiosk", "counter", "rating", "board", "announcer"}
    assert all(unicodedata.is_normalized("NFC", s.name) for s in cfg.services)
    assert cfg.data_dir == EXAMPLE.parent / "var"


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({"site__id": "Hà Giang"}, "site.id: expected lowercase letters, digits and '-' only"),
        ({"site__day_starts": "5am"}, "site.day_starts: expected a local time as HH:MM (24 h), got '5am'"),
        ({"site__timezone": "Asia/Hanoi"}, "site.timezone: expected an IANA time zone"),
        ({"site__agency": KeyError}, "site.agency: is required"),
        (
            {"services__1__prefix": "b"},
            'services[2] (id "datdai").prefix: expected one or two capital letters',
        ),
        (
            {"services__0__digits": 9},
            'services[1] (id "tuphap").digits: Input should be less than or equal to 5',
        ),
        ({"services__2__hours": ["11:30-07:00"]}, "range '11:30-07:00' ends before it starts"),
        ({"services__2__days": ["monday"]}, "days[1]: expected 'mon', 'tue'"),
        ({"counters__0__policy": "random"}, "counters[1] (id \"1\").policy: expected 'fifo' or 'ordered'"),
        ({"devices__0__role": "printer"}, 'devices[1] (id "kiosk-1").role: expected'),
        ({"devices__0__colour": "red"}, 'devices[1] (id "kiosk-1").colour: unknown key'),
        ({"officers__0__id": "cb/1"}, "expected 1-40 letters, digits, '-' or '_'"),
    ],
)
def test_field_errors_name_the_key_and_the_expectation(edits: dict, expected: str) -> None:
    found = problems(mutated(**edits))
    assert any(expected in p for p in found), found


@pytest.mark.parametrize(
    ("edits", "expected"),
    [
        ({"services__1__prefix": "A"}, '"A" is already the prefix of service "tuphap"'),
        ({"services__2__daily_limit": 1000}, "does not fit in 3 digits"),
        (
            {"counters__0__services": ["tuphap", "ghost"]},
            'counters (id "1").services: unknown service "ghost"',
        ),
        ({"devices__2__counter": "9"}, 'devices (id "counter-1").counter: unknown counter "9"'),
        ({"devices__2__counter": None}, "a counter device must name its counter"),
        ({"devices__0__id": "controller"}, "is reserved"),
        ({"devices__0__id": "monitor"}, "is reserved"),
        ({"devices__1__services": ["nope"]}, 'unknown service "nope"'),
        ({"devices__1__counters": ["1"]}, "counters: only announcers have a zone of counters"),
        ({"devices__1__counters": ["99"]}, 'counters: unknown counter "99"'),
        ({"devices__2__panel": {"diagonal_in": 7}}, "panel: only kiosks and rating terminals"),
        ({"devices__1__id": "kiosk-1"}, 'devices: id "kiosk-1" is used twice'),
        ({"rating": {"levels": ["Tốt", "Kém"], "satisfied_min": 3}}, "above the best score 2"),
    ],
)
def test_cross_references_are_checked(edits: dict, expected: str) -> None:
    found = problems(mutated(**edits))
    assert any(expected in p for p in found), found


def test_all_problems_are_reported_at_once() -> None:
    found = problems(mutated(site__day_starts="x", services__0__prefix="1", devices__0__role="toaster"))
    assert len(found) == 3


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        config.load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('[site]\nid = "x"\nname = \n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid TOML: .*line 3"):
        config.load(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('[site]\nname = "Tư pháp"\n'.encode("utf-16"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(latin)


def test_text_is_normalised_to_nfc() -> None:
    data = mutated(services__0__name=unicodedata.normalize("NFD", "Tư pháp - Hộ tịch"))
    cfg = config.parse(data)
    assert cfg.service("tuphap").name == unicodedata.normalize("NFC", "Tư pháp - Hộ tịch")


def test_rating_scale_maps_scores_to_levels() -> None:
    cfg = config.parse(copy.deepcopy(BASE))
    assert [cfg.rating.level_of(s) for s in (3, 2, 1)] == ["Rất hài lòng", "Hài lòng", "Không hài lòng"]
    assert cfg.rating.score_of(0) == 3


# -- [rating]: English for the site's own levels, reasons and ready-made comments -------------------


def rated(**rating: object) -> dict:
    """BASE with this ``[rating]`` table (BASE has none: the default scale and reasons)."""
    return {**copy.deepcopy(BASE), "rating": rating}


def test_rating_english_lists_and_comments_are_read_in_nfc() -> None:
    data = rated(
        levels=["Rất hài lòng", "Hài lòng", "Chưa hài lòng"],
        levels_en=["Very satisfied", "", unicodedata.normalize("NFD", " Not satisfied yet ")],
        reasons=["Thái độ", "Chờ lâu"],
        reasons_en=["Attitude", "Waiting"],
        comments=[unicodedata.normalize("NFD", "Cần giải thích rõ hơn"), "Cần lịch sự hơn"],
        comments_en=["Explain better", ""],
    )
    r = config.parse(data).rating
    assert r.levels_en == ["Very satisfied", "", "Not satisfied yet"]
    assert r.reasons_en == ["Attitude", "Waiting"]
    assert r.comments == ["Cần giải thích rõ hơn", "Cần lịch sự hơn"]
    assert all(unicodedata.is_normalized("NFC", c) for c in r.comments)
    assert r.comments_en == ["Explain better", ""]


def test_rating_english_and_comments_are_optional_with_todays_defaults() -> None:
    r = config.parse(copy.deepcopy(BASE)).rating
    assert r.levels_en is None and r.reasons_en is None and r.comments_en is None
    assert r.comments == ["Cần hướng dẫn rõ hơn", "Cần nhanh hơn", "Cần niềm nở hơn"]
    assert config.parse(rated(comments=[])).rating.comments == []  # no ready-made comments at all


@pytest.mark.parametrize(
    ("rating", "expected"),
    [
        (
            {"levels": ["Tốt", "Được", "Kém"], "levels_en": ["Good", "Fair"]},
            'rating.levels_en: expected 3 text(s), one for each of rating.levels in the same order ("" for '
            "no English), got 2",
        ),
        (
            {"reasons": ["Chờ lâu", "Khác"], "reasons_en": ["Long wait", "Other", "More"]},
            "rating.reasons_en: expected 2 text(s), one for each of rating.reasons in the same order",
        ),
        (
            {"comments_en": ["Be quicker"]},
            "rating.comments_en: expected 3 text(s), one for each of rating.comments (the default) in",
        ),
        (
            {"comments": ["Nhanh hơn"], "comments_en": []},
            "rating.comments_en: expected 1 text(s), one for each of rating.comments in the same order",
        ),
        ({"levels_en": "Very satisfied"}, "rating.levels_en: expected a list [ ... ]"),
        ({"reasons_en": ["Attitude", 2, "", "Other"]}, "rating.reasons_en[2]: expected a text in quotes"),
        ({"comments": ["Nhanh hơn", ""]}, "rating.comments[2]: expected a text, not an empty one, got ''"),
        (
            {"comments": ["Cần nhanh hơn nữa"], "comment_max": 10},
            "rating.comments[1]: expected at most rating.comment_max = 10 characters, got 17",
        ),
    ],
)
def test_rating_english_lists_must_match_their_lists(rating: dict, expected: str) -> None:
    found = problems(rated(**rating))
    assert any(expected in p for p in found), found


def test_a_rating_english_error_names_the_file(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    text = EXAMPLE.read_text(encoding="utf-8")
    good = 'levels_en = ["Very satisfied", "Satisfied", "Not satisfied"]'
    assert good in text  # the example shows the key
    site.write_text(text.replace(good, 'levels_en = ["Very satisfied"]'), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        config.load(site)
    assert f"{site}: rating.levels_en: expected 3 text(s), one for each of rating.levels" in str(e.value)
    assert e.value.one_line().startswith(f"{site}: rating.levels_en: expected 3 text(s)")


def test_traffic_twins_give_the_simulator_accounts_of_its_own(site_cfg: config.SiteConfig) -> None:
    """``onestop up --traffic``: one connection per account, so the simulator plays twin devices."""
    from onestop.simulate import with_twins

    cfg = with_twins(site_cfg)
    twins = {d.id: d for d in cfg.devices if d.id.startswith("sim-")}
    simulated = [d for d in site_cfg.devices if d.role in ("kiosk", "counter", "rating")]
    assert set(twins) == {f"sim-{d.id}" for d in simulated}
    for d in simulated:
        twin = twins[f"sim-{d.id}"]
        assert (twin.role, twin.counter, twin.services) == (d.role, d.counter, d.services)
        assert (twin.printer, twin.keys, twin.display, twin.audio) == (None, None, None, None)
    assert with_twins(cfg).devices == cfg.devices  # applied twice: no twin of a twin


def _with_hub(**hub: object) -> dict:
    data = copy.deepcopy(BASE)
    data["hub"] = {**data.get("hub", {}), **hub}
    return data


def test_hub_https_settings_are_checked_with_clear_errors() -> None:
    ok = config.parse(
        _with_hub(listen="127.0.0.1:8080", tls_listen="0.0.0.0:8443", public_url="https://192.168.1.10:8443"),
        "site.toml",
    )
    assert ok.hub.tls_cert == "hub/hub.crt" and ok.hub.tls_key == "hub/hub.key"
    assert problems(_with_hub(tls_listen="0.0.0.0:8443", public_url="http://192.168.1.10:8080")) == [
        "hub.public_url: expected https://… when hub.tls_listen is set (the ticket QR code and the TV boards "
        "use it), got 'http://192.168.1.10:8080'"
    ]
    assert problems(_with_hub(public_url="https://192.168.1.10:8443")) == [
        "hub.tls_listen: required when hub.public_url is https:// (e.g. '0.0.0.0:8443')"
    ]
    assert problems(_with_hub(tls_listen="8443", public_url="https://h:8443")) == [
        "hub.tls_listen: expected HOST:PORT such as '0.0.0.0:8443', got '8443'"
    ]
    assert problems(
        _with_hub(listen="0.0.0.0:8443", tls_listen="0.0.0.0:8443", public_url="https://h:8443")
    ) == ["hub.tls_listen: must differ from hub.listen (one port cannot be both HTTP and HTTPS)"]
    assert problems(_with_hub(public_url="ftp://h")) == [
        "hub.public_url: expected http://HOST:PORT or https://HOST:PORT, got 'ftp://h'"
    ]


def test_a_counter_has_an_english_label() -> None:
    data = mutated(counters__1__label_en="Desk B")
    cfg = config.parse(data, "site.toml")
    first, second = cfg.counters[0], cfg.counters[1]
    assert first.label.startswith("Quầy ") and first.english_label == "Counter " + first.label.split()[1]
    assert second.english_label == "Desk B"
    other = config.parse(mutated(counters__0__label="Bàn hướng dẫn"), "site.toml").counters[0]
    assert other.english_label == "Bàn hướng dẫn"  # not a "Quầy N": kept as it is


def test_the_commune_example_runs_on_one_small_machine() -> None:
    cfg = config.load(EXAMPLE.parent / "commune.toml")
    assert len(cfg.counters) == 3 and cfg.site.name.startswith("Trung tâm Phục vụ hành chính công xã")
    assert {d.role for d in cfg.devices} >= {"kiosk", "counter", "announcer"}
    assert cfg.data_dir == EXAMPLE.parent / "var-commune"  # not the provincial example's var/
    provincial = config.load(EXAMPLE)
    assert provincial.site.id == "tq-tthc" and "Tuyên Quang" in provincial.site.name

"""``onestop provision site check`` on the README's demo: a site that ``onestop up`` has run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from onestop.cli import main
from onestop.config import SiteConfig, load
from onestop.credentials import secret_path
from onestop.simulate import with_twins
from onestop.up import demo_broker
from provisioning.check import FAIL, WARN, check_site, demo_layout

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SiteConfig:
    """A copy of examples/site.toml whose files `onestop up` has written (its private broker's)."""
    monkeypatch.delenv("ONESTOP_BACKEND_TOKEN", raising=False)
    shutil.copy(EXAMPLE, tmp_path / "site.toml")
    cfg = load(tmp_path / "site.toml")
    demo_broker(cfg, 41883).write_files()
    return cfg


def _check(cfg: SiteConfig, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["provision", "site", "check", "--config", cfg.source])
    return code, capsys.readouterr().out


def test_a_demo_run_by_up_passes(demo: SiteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo_layout(demo) is not None
    result = check_site(demo)
    assert result.ok, result.render()
    assert not [text for mark, text in result.lines if mark == FAIL]
    warned = [text for mark, text in result.lines if mark == WARN]
    assert any("a demo run by `onestop up`" in text for text in warned)
    code, out = _check(demo, capsys)
    assert code == 0, out
    assert "✓ demo broker config: loopback only (port 41883), no anonymous" in out
    assert "✓ every account has a secret, and the password file matches them (26)" in out
    assert "pki" not in out  # no certificate is looked for


def test_a_demo_run_with_traffic_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make up` runs `up --traffic`: the broker also has the simulator's twin accounts."""
    monkeypatch.delenv("ONESTOP_BACKEND_TOKEN", raising=False)
    shutil.copy(EXAMPLE, tmp_path / "site.toml")
    cfg = load(tmp_path / "site.toml")
    demo_broker(with_twins(cfg), 41883).write_files()
    code, out = _check(cfg, capsys)
    assert code == 0, out
    assert "the demo ran with --traffic" in out


def test_a_broken_demo_fails(demo: SiteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    secret_path(demo, "kiosk-01").unlink()
    code, out = _check(demo, capsys)
    assert code == 1
    assert out.startswith("✗ NOT OK: no secret file for kiosk-01")
    assert "run `onestop up` again" in out


def test_a_demo_broker_open_to_anonymous_clients_fails(
    demo: SiteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = demo_layout(demo)
    assert conf is not None
    text = conf.broker_conf.read_text(encoding="utf-8")
    conf.broker_conf.write_text(text.replace("allow_anonymous false", "allow_anonymous true"), "utf-8")
    code, out = _check(demo, capsys)
    assert code == 1 and "allows anonymous clients" in out


def test_a_site_neither_provisioned_nor_run_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ONESTOP_BACKEND_TOKEN", raising=False)
    shutil.copy(EXAMPLE, tmp_path / "site.toml")
    cfg = load(tmp_path / "site.toml")
    assert demo_layout(cfg) is None
    code, out = _check(cfg, capsys)
    assert code == 1 and "onestop provision site init" in out


def test_up_files_only_writes_what_the_check_and_mosquitto_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ONESTOP_BACKEND_TOKEN", raising=False)
    shutil.copy(EXAMPLE, tmp_path / "site.toml")
    site = str(tmp_path / "site.toml")
    assert main(["up", "--config", site, "--files-only", "--port", "41999"]) in (0, None)
    printed = capsys.readouterr().out
    conf = tmp_path / "var" / "broker" / "mosquitto.conf"
    assert f"mosquitto -c {conf}" in printed
    assert "listener 41999 127.0.0.1" in conf.read_text(encoding="utf-8").splitlines()
    code, out = _check(load(site), capsys)
    assert code == 0, out

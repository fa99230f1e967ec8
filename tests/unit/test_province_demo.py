"""The pieces of `onestop province demo` that need no process: its site files, its one-line refusal
without PostgreSQL, and the two options it gives `onestop up`."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

import province.cluster
from onestop import config
from onestop.cli import build_parser
from onestop.errors import OnestopError
from onestop.toml_text import dumps
from onestop.up import _conf_extra, _plan, demo_broker
from province import demo
from tests.conftest import SiteFactory


def test_each_demo_site_is_a_valid_site_that_forwards_to_the_province(tmp_path: Path) -> None:
    seen = set()
    for k, spec in enumerate(demo.SITES):
        data = demo.site_toml(
            spec, broker_port=41000 + k, hub_port=42000 + k, backend_url=f"http://127.0.0.1:4300{k}/api/v1",
            token_env=demo._token_env(spec.id),
        )  # fmt: skip
        path = tmp_path / spec.id / "site.toml"
        path.parent.mkdir()
        path.write_text(dumps(data), encoding="utf-8")
        cfg = config.load(path)  # the checks `onestop up` makes
        assert cfg.site.id == spec.id and cfg.site.id not in seen
        seen.add(cfg.site.id)
        assert unicodedata.is_normalized("NFC", cfg.site.name) and "Trung tâm" in cfg.site.name
        assert cfg.backend is not None and cfg.backend.url == f"http://127.0.0.1:4300{k}/api/v1"
        assert cfg.backend.token_env == demo._token_env(spec.id)
        assert (cfg.broker.host, cfg.broker.port) == ("127.0.0.1", 41000 + k)
        assert cfg.hub.listen == f"127.0.0.1:{42000 + k}"
        assert cfg.data_dir == path.parent / "var"
    assert len({demo._token_env(s.id) for s in demo.SITES}) == len(demo.SITES)


def test_without_postgresql_the_demo_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def missing() -> Path:
        raise province.cluster.PostgresNotFound()

    monkeypatch.setattr(province.cluster, "server_bindir", missing)
    args = build_parser().parse_args(["province", "demo", "--dir", str(tmp_path / "d")])
    assert args.run(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("onestop province demo: PostgreSQL is not installed")
    assert not (tmp_path / "d").exists(), "nothing started, nothing written"


def test_up_can_forward_to_a_back_end_that_runs_already(
    site_factory: SiteFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = site_factory({"backend": {"url": "http://127.0.0.1:9/api/v1", "token_env": "T_DEMO"}})
    cfg.data_dir.mkdir(parents=True)
    monkeypatch.setenv("T_DEMO", "a-token-of-this-test")  # up would set it for its reference back end

    def children(*extra: str) -> dict[str, list[str]]:
        args = build_parser().parse_args(["up", "--config", cfg.source, *extra])
        return {c.name: c.argv for c in _plan(args, cfg, 41999)}

    assert "backend" in children(), "a loopback back end is the reference one, started by up"
    external = children("--no-reference-backend")
    assert "backend" not in external
    assert "--backend-url" not in external["hub"], "the hub forwards to [backend] url as written"


def test_up_appends_a_bridge_to_its_broker_conf(site_factory: SiteFactory, tmp_path: Path) -> None:
    cfg = site_factory()
    bridge = tmp_path / "onestop-bridge.conf"
    bridge.write_text("connection onestop-province\naddress 127.0.0.1:8883\n", encoding="utf-8")
    args = build_parser().parse_args(["up", "--config", cfg.source, "--broker-conf-extra", str(bridge)])
    b = demo_broker(cfg, 41998, _conf_extra(args))
    b.write_files()
    conf = b.conf_path.read_text(encoding="utf-8")
    assert conf.rstrip().endswith("connection onestop-province\naddress 127.0.0.1:8883")
    assert "listener 41998" in conf
    args = build_parser().parse_args(
        ["up", "--config", cfg.source, "--broker-conf-extra", str(tmp_path / "no")]
    )
    with pytest.raises(OnestopError, match=r"--broker-conf-extra .*/no: "):
        _conf_extra(args)


def test_a_second_demo_in_the_same_directory_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import fcntl

    d = tmp_path / "d"
    d.mkdir()
    with open(d / "demo.lock", "a+") as held:  # the first demo's lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        args = build_parser().parse_args(["province", "demo", "--dir", str(d)])
        assert args.run(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"another demo runs in {d}: stop it first" in err
    assert sorted(p.name for p in d.iterdir()) == ["demo.lock"], "nothing else started or written"

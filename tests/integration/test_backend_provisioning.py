"""A hub installed from its generated units forwards: the back end's token is provisioned, stored
0600, handed to the hub as a systemd credential, and ``site check`` says whether the back end answers
and accepts it. The back end is the reference one (``onestop.fake_backend``) on a loopback port."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub_api.backends import BackendConfigError, read_token
from hub_api.forwarder import Forwarder
from hub_api.store import HubStore
from onestop.cli import main
from onestop.config import load
from onestop.fake_backend import BackendServer, FakeBackend
from provisioning.site import init_site
from tests.utils.outbox import fill_outbox

pytestmark = pytest.mark.integration

TOKEN = "tq-tthc-0d5c1f2ab9e47c"


@pytest.fixture
def backend() -> Iterator[BackendServer]:
    server = BackendServer(FakeBackend(TOKEN)).start()
    yield server
    server.stop()


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "from-the-province.txt"
    path.write_text(TOKEN + "\n")
    return path


def _init(tmp_path: Path, *extra: str) -> Path:
    d = tmp_path / "site"
    argv = ["provision", "site", "init", "--dir", str(d), "--site-id", "tq-tthc",
            "--lan-host", "192.168.1.10", "--broker-user", "nobody", *extra]  # fmt: skip
    assert main(argv) == 0
    return d / "site.toml"


def _check(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    monkeypatch.delenv("ONESTOP_BACKEND_TOKEN", raising=False)  # the check reads the stored token
    capsys.readouterr()
    code = main(["provision", "site", "check", "--config", str(config)])
    return code, capsys.readouterr().out


def test_site_init_stores_the_token_and_the_hub_unit_loads_it(
    tmp_path: Path, backend: BackendServer, token_file: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = _init(
        tmp_path, "--backend-url", backend.url + "/onestop", "--backend-token-file", str(token_file)
    )
    cfg = load(config)
    assert cfg.backend is not None and cfg.backend.url == backend.url + "/onestop"
    stored = config.parent / "secrets" / "backend.token"
    assert stored.read_text().strip() == TOKEN and stat.S_IMODE(stored.stat().st_mode) == 0o600
    hub = (config.parent / "systemd" / "onestop-hub.service").read_text()
    assert f"LoadCredential=backend-token:{stored}" in hub
    assert TOKEN not in hub  # the unit names the file, never the token
    assert "LoadCredential" not in (config.parent / "systemd" / "onestop-controller.service").read_text()

    code, out = _check(config, capsys, monkeypatch)
    assert code == 0, out
    assert f"✓ back end {backend.url}/onestop is reachable and accepts the token" in out
    assert backend.backend.records("queue-records") == []  # the check stored nothing


def test_the_hub_reads_the_token_from_its_credential_and_forwards(
    tmp_path: Path, backend: BackendServer, token_file: Path
) -> None:
    config = _init(tmp_path, "--backend-url", backend.url, "--backend-token-file", str(token_file))
    cfg = load(config)
    assert cfg.backend is not None
    creds = tmp_path / "credentials"  # what systemd makes of LoadCredential=backend-token:...
    creds.mkdir()
    (creds / "backend-token").write_bytes((config.parent / "secrets" / "backend.token").read_bytes())
    environ = {"CREDENTIALS_DIRECTORY": str(creds)}
    assert read_token(cfg.backend, environ) == TOKEN
    with pytest.raises(BackendConfigError, match="provision backend set"):
        read_token(cfg.backend, {})

    db = tmp_path / "hub.db"
    HubStore(db).close()
    fill_outbox(db, queue=3)
    fwd = Forwarder(cfg.site.id, cfg.backend, db, environ=environ)
    fwd.start()
    try:
        assert backend.backend.wait_for(lambda: len(backend.backend.records("queue-records")) == 3, 20)
    finally:
        fwd.stop()


def test_site_check_says_when_the_back_end_refuses_the_token_or_is_down(
    tmp_path: Path, backend: BackendServer,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    wrong = tmp_path / "old-token.txt"
    wrong.write_text("tq-tthc-revoked-token-1\n")
    config = _init(tmp_path, "--backend-url", backend.url, "--backend-token-file", str(wrong))
    code, out = _check(config, capsys, monkeypatch)
    assert code == 1 and f"✗ back end {backend.url}/queue-records refuses the token" in out, out

    # A later `backend set` with the right token, read from standard input.
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(TOKEN + "\n"))
    assert main(["provision", "backend", "set", "--config", str(config), "--backend-token-file", "-"]) == 0
    assert _check(config, capsys, monkeypatch)[0] == 0

    backend.stop()  # the province's server is down: the site works on, records wait
    code, out = _check(config, capsys, monkeypatch)
    assert code == 0 and f"! back end {backend.url}/queue-records is not reachable now" in out, out


def test_backend_set_refuses_what_is_not_a_token_or_a_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    init_site(tmp_path / "site", site_id="tq-tthc", broker_user="nobody")
    config = tmp_path / "site" / "site.toml"
    placeholder = tmp_path / "token.txt"
    placeholder.write_text("changeme\n")
    base = ["provision", "backend", "set", "--config", str(config)]
    assert (
        main([*base, "--backend-url", "https://motcua.example.vn", "--backend-token-file", str(placeholder)])
        == 2
    )
    assert "a placeholder ('changeme')" in capsys.readouterr().err
    assert main([*base, "--backend-url", "motcua.example.vn"]) == 2
    assert "expected http(s)://" in capsys.readouterr().err
    assert main([*base, "--backend-token-file", str(tmp_path / "missing.txt")]) == 2
    assert "missing.txt: No such file or directory" in capsys.readouterr().err
    code, out = _check(config, capsys, monkeypatch)  # no back end configured: nothing said about one
    assert code == 0 and "back end" not in out

"""Per-account secret files."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from onestop.config import SiteConfig
from onestop.credentials import (
    PASSWORD_ENV,
    SecretNotFound,
    ensure_credentials,
    generate_secret,
    read_secret,
    secret_path,
    secrets_dir,
)
from onestop.errors import OnestopError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generated_secrets_are_long_and_distinct() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b
    assert len(a) == 32


def test_every_account_gets_a_private_secret_file(site_cfg: SiteConfig) -> None:
    creds = ensure_credentials(site_cfg)
    expected = ["controller", "hub", "monitor", *(d.id for d in site_cfg.devices)]
    assert list(creds) == expected
    assert len(set(creds.values())) == len(expected)
    assert _mode(secrets_dir(site_cfg)) == 0o700
    for account, password in creds.items():
        path = secret_path(site_cfg, account)
        assert _mode(path) == 0o600
        assert path.read_text(encoding="utf-8").strip() == password
    assert not [p for p in secrets_dir(site_cfg).iterdir() if p.suffix != ".secret"]  # no temp files


def test_existing_secrets_are_kept(site_cfg: SiteConfig) -> None:
    first = ensure_credentials(site_cfg)
    secret_path(site_cfg, "kiosk-1").unlink()
    second = ensure_credentials(site_cfg)
    assert second["kiosk-1"] != first["kiosk-1"]
    assert {k: v for k, v in second.items() if k != "kiosk-1"} == {
        k: v for k, v in first.items() if k != "kiosk-1"
    }


def test_a_secret_written_by_hand_is_used(site_cfg: SiteConfig) -> None:
    secrets_dir(site_cfg).mkdir(parents=True)
    secret_path(site_cfg, "board-1").write_text("chosen-by-technician\n", encoding="utf-8")
    assert ensure_credentials(site_cfg)["board-1"] == "chosen-by-technician"
    assert read_secret(site_cfg, "board-1") == "chosen-by-technician"


def test_read_secret_reads_the_file(site_cfg: SiteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    creds = ensure_credentials(site_cfg)
    assert read_secret(site_cfg, "counter-2") == creds["counter-2"]


def test_missing_secret_names_the_file(site_cfg: SiteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(SecretNotFound) as info:
        read_secret(site_cfg, "kiosk-1")
    assert isinstance(info.value, OnestopError)
    assert isinstance(info.value, FileNotFoundError)
    assert str(secret_path(site_cfg, "kiosk-1")) in str(info.value)
    assert info.value.filename == str(secret_path(site_cfg, "kiosk-1"))


def test_environment_password_comes_first(site_cfg: SiteConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_credentials(site_cfg)
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert read_secret(site_cfg, "kiosk-1") == "from-env"


def test_concurrent_creation_agrees_on_one_password(
    site_cfg: SiteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    results: list[dict[str, str]] = []
    start = threading.Barrier(8)

    def create() -> None:
        start.wait()
        results.append(ensure_credentials(site_cfg))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8
    assert all(r == results[0] for r in results)
    assert read_secret(site_cfg, "kiosk-1") == results[0]["kiosk-1"]


def test_environment_password_is_not_used_for_other_accounts(
    site_cfg: SiteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a process running several accounts (onestop agents, the simulator) reads each one's file
    creds = ensure_credentials(site_cfg)
    monkeypatch.setenv(PASSWORD_ENV, "from-env")
    assert read_secret(site_cfg, "counter-2", own=False) == creds["counter-2"]
    assert read_secret(site_cfg, "counter-2") == "from-env"

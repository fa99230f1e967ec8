"""Small things people see on a terminal: `hub_api.tokens add` and Kivy's libmtdev notice."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from hub_api.tokens import TokenStore, main
from kiosk_app.shell.app import quiet_mtdev
from onestop.config import load

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


def test_tokens_add_says_what_it_printed_and_bare_prints_the_token_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site.toml"
    shutil.copy(EXAMPLE, site)
    assert main(["--config", str(site), "add", "--name", "truong-bo-phan", "--role", "manager"]) == 0
    out = capsys.readouterr().out
    assert "API token 'truong-bo-phan' (role manager)" in out and "shown once" in out
    assert "Authorization: Bearer" in out and "/dashboard" in out
    [value] = [w for w in out.split() if w.startswith("ostk_")]
    store = TokenStore.for_site(load(site))
    found = store.check(value)
    assert found is not None and (found.name, found.role) == ("truong-bo-phan", "manager")

    assert main(["--config", str(site), "add", "--name", "prometheus", "--role", "viewer", "--bare"]) == 0
    bare = capsys.readouterr().out
    assert bare.count("\n") == 1 and bare.strip().startswith("ostk_") and " " not in bare.strip()


def test_a_missing_libmtdev_is_one_info_line_not_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    quiet_mtdev()
    quiet_mtdev()  # idempotent: one filter
    kivy_log = logging.getLogger("kivy")
    with caplog.at_level(logging.DEBUG, logger="kivy"):
        try:
            raise OSError("libmtdev.so.1: cannot open shared object file")
        except OSError:
            kivy_log.exception("Input: MTDev is not supported by your version of linux")
        kivy_log.error("something else")
    mtdev, other = caplog.records
    assert (mtdev.levelno, mtdev.exc_info, mtdev.exc_text) == (logging.INFO, None, None)
    assert "libmtdev" in mtdev.getMessage() and "Traceback" not in caplog.text
    assert other.levelno == logging.ERROR

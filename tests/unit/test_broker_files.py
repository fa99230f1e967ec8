"""The files the private broker is run from: password hashes, ACL, mosquitto.conf."""

from __future__ import annotations

import base64
import hashlib
import re
import socket
from pathlib import Path

import pytest

from onestop import broker
from onestop.broker import (
    MosquittoNotFound,
    find_mosquitto,
    free_port,
    hash_password,
    render_acl,
    render_conf,
    render_password_file,
)
from onestop.config import SiteConfig
from onestop.errors import OnestopError
from onestop.protocol import Topics, acl_rules

HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")


def test_hash_has_the_mosquitto_2_format() -> None:
    m = HASH_RE.match(hash_password("mật khẩu"))
    assert m is not None
    assert m.group(1) == "101"
    assert len(base64.b64decode(m.group(2))) == 12
    assert len(base64.b64decode(m.group(3))) == 64


def test_hash_is_pbkdf2_sha512_of_the_utf8_password() -> None:
    salt = bytes(range(12))
    m = HASH_RE.match(hash_password("mật khẩu", salt=salt, iterations=7))
    assert m is not None
    assert m.group(1) == "7"
    expected = hashlib.pbkdf2_hmac("sha512", "mật khẩu".encode(), salt, 7, 64)
    assert base64.b64decode(m.group(3)) == expected


def test_hash_matches_mosquitto_passwd() -> None:
    # Produced by `mosquitto_passwd -b pw alice secret` (Mosquitto 2.0.11).
    line = (
        "$7$101$h7wwr8STXu8XtHLK$njxXKcfaAliYM+VvL1jRV/Fk/yoDDePp7LbbMYLP6IvJ4JJGzF7u/W38b68wlal29uTYU"
        "+7TkW0kBmNBHa/Amw=="
    )
    assert hash_password("secret", salt=base64.b64decode("h7wwr8STXu8XtHLK")) == line


def test_hash_is_deterministic_with_a_salt_and_salted_without() -> None:
    salt = b"0123456789ab"
    assert hash_password("pw", salt=salt) == hash_password("pw", salt=salt)
    assert hash_password("pw", salt=salt) != hash_password("pw2", salt=salt)
    assert hash_password("pw") != hash_password("pw")


def test_hash_refuses_zero_iterations() -> None:
    with pytest.raises(ValueError):
        hash_password("pw", iterations=0)


def test_password_file_has_one_line_per_account() -> None:
    text = render_password_file({"controller": "a", "kiosk-1": "b"})
    lines = text.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["controller", "kiosk-1"]
    assert all(HASH_RE.match(line.split(":", 1)[1]) for line in lines)
    assert text.endswith("\n")


@pytest.mark.parametrize("name", ["", "a:b", "a b", "a\nb"])
def test_password_file_refuses_names_it_cannot_hold(name: str) -> None:
    with pytest.raises(ValueError):
        render_password_file({name: "pw"})


def _parse_acl(text: str) -> dict[str, list[tuple[str, str]]]:
    users: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "user":
            current = users.setdefault(words[1], [])
        else:
            assert words[0] == "topic" and len(words) == 3, line
            current.append((words[1], words[2]))
    return users


def test_acl_lists_every_account_with_the_protocol_rules(site_cfg: SiteConfig) -> None:
    users = _parse_acl(render_acl(site_cfg))
    topics = Topics(site_cfg.site.id)
    services = {"controller": "controller", "hub": "hub", "monitor": "monitor"}
    expected = services | {d.id: d.role for d in site_cfg.devices}
    assert set(users) == set(expected)
    for account, role in expected.items():
        assert users[account] == [(r.access, r.topic) for r in acl_rules(topics, account, role)]


def test_acl_gives_a_device_its_own_prefix_only(site_cfg: SiteConfig) -> None:
    users = _parse_acl(render_acl(site_cfg))
    topics = Topics(site_cfg.site.id)
    writes = [t for access, t in users["kiosk-1"] if access in ("write", "readwrite")]
    assert writes == [topics.dev_prefix("kiosk-1")]


def test_acl_lets_the_monitor_read_everything_and_write_nothing(site_cfg: SiteConfig) -> None:
    users = _parse_acl(render_acl(site_cfg))
    t = Topics(site_cfg.site.id)
    # ... except citizen notes, which are for the hub alone (docs/privacy.md).
    assert users["monitor"] == [("deny", t.all_citizen), ("read", t.everything)]


def test_conf_has_the_security_settings(tmp_path: Path) -> None:
    conf = render_conf(
        host="127.0.0.1",
        port=18830,
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        log_path=tmp_path / "mosquitto.log",
    )
    lines = conf.splitlines()
    assert lines.index("per_listener_settings false") < lines.index("listener 18830 127.0.0.1")
    for line in (
        "allow_anonymous false",
        f"password_file {tmp_path / 'passwd'}",
        f"acl_file {tmp_path / 'acl'}",
        f"log_dest file {tmp_path / 'mosquitto.log'}",
        "max_packet_size 65536",
        "max_queued_messages 100000",
        "use_username_as_clientid true",  # a device cannot take the controller's or hub's client id
    ):
        assert line in lines
    assert not any(line.startswith(("persistence", "user ")) for line in lines)


def test_conf_persistence_and_user_are_optional(tmp_path: Path) -> None:
    conf = render_conf(
        host="0.0.0.0",
        port=1883,
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
        log_path=tmp_path / "log",
        persistence_dir=tmp_path / "data",
        user="onestop",
    )
    lines = conf.splitlines()
    assert "persistence true" in lines
    assert f"persistence_location {tmp_path / 'data'}/" in lines
    assert "autosave_interval 60" in lines
    assert "user onestop" in lines


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


def test_missing_mosquitto_is_a_named_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker.shutil, "which", lambda _name: None)
    monkeypatch.setattr(broker, "MOSQUITTO_PATHS", ("/nonexistent/mosquitto",))
    with pytest.raises(MosquittoNotFound) as info:
        find_mosquitto()
    assert isinstance(info.value, OnestopError)
    assert isinstance(info.value, FileNotFoundError)
    assert "make up" in str(info.value)
    assert "sudo apt install mosquitto" in str(info.value)

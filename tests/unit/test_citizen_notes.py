"""The hub's encrypted citizen notes: accepted only from kiosks, sealed per day, gone at day close."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub_api.citizen_notes import MAX_PAYLOAD, BadNote, CitizenNotes, forget_all_notes, parse_note
from onestop import config
from tests.utils.site import site_data

NAME = "Nguyễn Văn An"


@pytest.fixture
def cfg(tmp_path: Path) -> config.SiteConfig:
    data = site_data(
        {"citizen_id": {"enabled": True, "prefill_name": True}, "storage": {"dir": str(tmp_path)}}
    )
    return config.parse(data)


def notes_at(cfg: config.SiteConfig, tmp_path: Path, when: list[datetime]) -> CitizenNotes:
    return CitizenNotes(cfg, tmp_path / "citizen-notes.db", clock=lambda: when[0])


def note(ticket: str = "20261204-A001", name: str = NAME) -> bytes:
    return json.dumps({"ticket_id": ticket, "name": name}).encode()


def test_sealed_at_rest_and_read_back(cfg: config.SiteConfig, tmp_path: Path) -> None:
    now = [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)]  # 10:00 in Hà Nội
    n = notes_at(cfg, tmp_path, now)
    assert n.receive("kiosk-1", note())
    assert n.name_for("20261204-A001") == NAME and n.name_for("20261204-A002") is None
    raw = (tmp_path / "citizen-notes.db").read_bytes()
    assert NAME.encode() not in raw and "Nguyễn".encode() not in raw
    key = tmp_path / "secrets" / "citizen" / "2026-12-04.key"
    assert key.is_file() and key.stat().st_mode & 0o077 == 0
    n.close()


def test_ticket_id_is_bound(cfg: config.SiteConfig, tmp_path: Path) -> None:
    now = [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)]
    n = notes_at(cfg, tmp_path, now)
    n.receive("kiosk-1", note("T1", "Lê Thị Bình"))
    n.receive("kiosk-1", note("T2", "Trần Văn Cường"))
    # Move T1's sealed name onto T2: decryption fails (associated data), nothing wrong is shown.
    n.db.execute("UPDATE notes SET sealed = (SELECT sealed FROM notes WHERE ticket='T1'), "
                 "nonce = (SELECT nonce FROM notes WHERE ticket='T1') WHERE ticket='T2'")  # fmt: skip
    assert n.name_for("T2") is None and n.name_for("T1") == "Lê Thị Bình"
    n.close()


def test_only_kiosks_and_well_formed(
    cfg: config.SiteConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    n = notes_at(cfg, tmp_path, [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)])
    with caplog.at_level(logging.INFO):
        assert not n.receive("counter-1", note())
        assert not n.receive("nobody", note())
        assert not n.receive("kiosk-1", b"not json " + NAME.encode())
        assert not n.receive(
            "kiosk-1", json.dumps({"ticket_id": "T1", "name": NAME, "id": "001052012345"}).encode()
        )
        assert not n.receive("kiosk-1", b"x" * (MAX_PAYLOAD + 1))
    assert n.count() == 0 and n.stats["dropped"] == 5
    assert "counter-1" in caplog.text and "Nguyễn" not in caplog.text and "001052012345" not in caplog.text
    n.close()


@pytest.mark.parametrize(
    "payload",
    [
        {"ticket_id": "T1", "name": ""},
        {"ticket_id": "T1", "name": "A" * 101},
        {"ticket_id": "T 1", "name": NAME},
        {"ticket_id": "T" * 65, "name": NAME},
        {"ticket_id": 1, "name": NAME},
        {"ticket_id": "T1", "name": ["x"]},
        {"ticket_id": "T1"},
        [],
    ],
)
def test_bad_notes(payload: object) -> None:
    with pytest.raises(BadNote):
        parse_note(json.dumps(payload).encode())


def test_name_is_normalised() -> None:
    import unicodedata

    assert parse_note(note("T1", unicodedata.normalize("NFD", "  Nguyễn\tVăn\nAn "))) == ("T1", NAME)


def test_day_close_deletes_rows_and_key(cfg: config.SiteConfig, tmp_path: Path) -> None:
    now = [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)]
    n = notes_at(cfg, tmp_path, now)
    n.receive("kiosk-1", note())
    key_dir = tmp_path / "secrets" / "citizen"
    n.on_events([{"seq": 9, "type": "day.closed", "data": {"day": "2026-12-04", "issued": 1, "expired": 0}}])
    assert n.count() == 0 and not list(key_dir.iterdir()) and n.name_for("20261204-A001") is None
    n.close()
    assert NAME.encode() not in (tmp_path / "citizen-notes.db").read_bytes()


def test_a_day_that_ended_while_the_hub_was_down(cfg: config.SiteConfig, tmp_path: Path) -> None:
    now = [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)]
    n = notes_at(cfg, tmp_path, now)
    n.receive("kiosk-1", note())
    n.close()
    now[0] = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
    n = notes_at(cfg, tmp_path, now)
    n.purge_past()
    assert n.count() == 0 and not (tmp_path / "secrets" / "citizen" / "2026-12-04.key").exists()
    n.close()


def test_turned_off_forgets_everything(cfg: config.SiteConfig, tmp_path: Path) -> None:
    n = notes_at(cfg, tmp_path, [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)])
    n.receive("kiosk-1", note())
    n.close()
    forget_all_notes(cfg, tmp_path / "citizen-notes.db")
    assert not (tmp_path / "citizen-notes.db").exists()
    assert not list((tmp_path / "secrets" / "citizen").iterdir())


def test_a_failing_disk_loses_the_note_only(cfg: config.SiteConfig, tmp_path: Path) -> None:
    n = notes_at(cfg, tmp_path, [datetime(2026, 12, 4, 3, 0, tzinfo=UTC)])
    n.db.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only or full disk
    assert not n.receive("kiosk-1", note()) and n.stats["dropped"] == 1
    assert n.name_for("20261204-A001") is None
    n.close()


def test_the_hub_takes_notes_only_when_the_site_prefills_names(tmp_path: Path) -> None:
    from hub_api.app import Hub

    def opened(citizen_id: dict[str, object]) -> Hub:
        data = site_data({"citizen_id": citizen_id, "storage": {"dir": str(tmp_path)}})
        return Hub.open(config.parse(data), "pw", db_path=tmp_path / "hub.db")

    on = opened({"enabled": True, "prefill_name": True})
    assert on.notes is not None and on.ingest is not None
    assert ("onestop/v1/t-site/dev/+/citizen", 0) in on.ingest.mqtt.settings.subscriptions
    on.notes.put("T1", NAME)
    on.stop()
    assert (tmp_path / "citizen-notes.db").exists()
    off = opened({"enabled": True, "priority_age": 75})
    assert off.notes is None and off.ingest is not None
    assert not any("citizen" in topic for topic, _qos in off.ingest.mqtt.settings.subscriptions)
    off.stop()
    # Turned off: what an earlier run kept is deleted at the next start.
    assert not (tmp_path / "citizen-notes.db").exists()
    assert not list((tmp_path / "secrets" / "citizen").iterdir())

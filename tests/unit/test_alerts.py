"""The centre manager's alert list from device health: an announcer that dropped calls unheard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub_api.alerts import compute_alerts


def _announcer(health: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "announcer-hall", "role": "announcer", "configured": True, "counter": None, "online": True,
        "version": None, "status_ts": None, "last_seen": None, "printer": None, "health": health,
    }  # fmt: skip


def _alerts(health: dict[str, Any]) -> list[Any]:
    now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    return compute_alerts([_announcer(health)], now, broker_connected=True, controller_online=True)


def test_an_announcer_that_dropped_calls_is_an_alert() -> None:
    calls = {"submitted": 40, "announced": 37, "dropped": 3, "replaced": 1, "joined": 9}
    (alert,) = _alerts({"audio": "ok", "ts": "2026-12-04T08:59:00Z", "calls": calls})
    assert (alert.severity, alert.kind, alert.device) == ("warning", "voice_dropped", "announcer-hall")
    assert "bỏ qua 3 lượt gọi" in alert.message and "dropped 3 calls unheard" in alert.message_en


def test_an_announcer_that_kept_up_or_says_nonsense_is_not() -> None:
    assert _alerts({"audio": "ok", "calls": {"dropped": 0, "replaced": 4}}) == []
    assert _alerts({"audio": "ok"}) == []  # an older announcer without figures
    assert _alerts({"audio": "ok", "calls": {"dropped": "many"}}) == []
    assert _alerts({"audio": "ok", "calls": ["x"]}) == []


def _on(dev_id: str, version: str | None) -> dict[str, Any]:
    return {"id": dev_id, "role": "counter", "configured": True, "online": True, "version": version,
            "status_ts": None, "last_seen": None, "printer": None, "health": {}}  # fmt: skip


def test_devices_off_the_published_release_are_flagged_one_by_one_or_counted() -> None:
    now = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)

    def outdated(devices: list[dict[str, Any]], published: str | None) -> list[tuple[str | None, str]]:
        alerts = compute_alerts(
            devices, now, broker_connected=True, controller_online=True, published=published
        )
        return [(a.device, a.message_en) for a in alerts if a.kind == "device_outdated"]

    fleet = [_on("counter-1", "9.0.1"), _on("counter-2", "9.0.2"), _on("counter-3", None)]
    assert outdated(fleet, None) == []  # nothing published: nothing to compare with
    assert outdated(fleet, "9.0.2") == [
        ("counter-1", "Device counter-1 runs 9.0.1, not the published release 9.0.2")
    ]
    many = [_on(f"counter-{i}", "9.0.1") for i in range(1, 8)]
    assert outdated(many, "9.0.2") == [
        (
            None,
            "7 devices are not on the published release 9.0.2 "
            "(counter-1, counter-2, counter-3, counter-4, counter-5, …)",
        )
    ]

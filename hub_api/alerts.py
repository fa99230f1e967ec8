"""Device health and the centre manager's alert list: plain functions of what the hub has seen.

Alerts (``critical`` first, then ``warning``):

- ``hub_disconnected`` (critical): the hub has lost the broker; nothing below is current.
- ``controller_offline`` (critical, at once): the queue controller's presence says offline.
- ``device_offline`` (critical for a kiosk, warning otherwise): a device of ``site.toml`` has been
  offline for more than ``offline_after_s`` (a restart of a few seconds is not an alert).
- ``device_never_seen`` (warning): a device of ``site.toml`` has never connected since the hub's
  database was created.
- ``printer`` (``paper_low``: warning; ``paper_out``, ``error``, ``offline``: critical): a kiosk's
  printer, from its health message.
- ``voice_dropped`` (warning): an announcer's health says it dropped calls unheard (hundreds
  waited: docs/voice.md "When calls pile up") since it started; those citizens heard nothing.
- ``backend_backlog`` (warning): the forwarder fails to deliver, or records wait longer than
  ``backlog_after_s`` / more than ``backlog_records`` (only when the hub has a forwarder).
- ``controller_health`` (critical): one per condition of the controller's health
  (``dev/controller/health``) that is not ``"ok"`` (e.g. ``store``: ``rewound``), with its detail.
- ``device_outdated`` (warning): an online device of ``site.toml`` runs another version than the
  release the hub publishes (docs/operations.md, "Updating the fleet"): its update failed its health
  check and was rolled back, or it has not taken it yet. More than ``OUTDATED_EACH`` such devices
  make one alert that counts them (right after a release is published, every device is behind).
- ``controller_rewound`` (critical): the hub saw the controller's event log go back (lost data), for
  ``REWIND_ALERT_S`` after it last saw it (docs/operations.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from onestop.config import SiteConfig
from onestop.protocol import CONTROLLER_ID, HUB_ID

#: A configured device offline for longer than this is an alert.
OFFLINE_AFTER_S = 120.0
#: More outbox records than this waiting for the back end is an alert.
BACKLOG_RECORDS = 500
#: A rewind of the controller's log stays on the alert list this long after the hub last saw it.
REWIND_ALERT_S = 24 * 3600.0

_CONDITION_VI = {
    "store": "kho dữ liệu",
    "clock": "đồng hồ",
}

_PRINTER_VI = {
    "paper_low": ("warning", "Máy in sắp hết giấy", "Printer paper low"),
    "paper_out": ("critical", "Máy in hết giấy", "Printer out of paper"),
    "error": ("critical", "Máy in báo lỗi", "Printer error"),
    "offline": ("critical", "Mất kết nối máy in", "Printer offline"),
}


@dataclass(frozen=True)
class Alert:
    """One problem for the centre manager, Vietnamese first."""

    severity: str
    kind: str
    device: str | None
    message: str
    message_en: str
    since: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        return asdict(self)


def _health(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("health")
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def device_list(cfg: SiteConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every device of ``site.toml`` (seen or not), then anything else seen (the controller, the hub,
    unknown ids), with presence, last sighting and health."""
    seen = {r["id"]: r for r in rows}
    out: list[dict[str, Any]] = []

    def entry(dev_id: str, role: str | None, counter: str | None, configured: bool) -> dict[str, Any]:
        r = seen.get(dev_id, {})
        health = _health(r)
        online = r.get("online")
        return {
            "id": dev_id,
            "role": r.get("role") or role or "",
            "configured": configured,
            "counter": counter,
            "online": None if online is None else bool(online),
            "version": r.get("version") or None,
            "status_ts": r.get("status_ts") or None,
            "last_seen": r.get("last_seen") or None,
            "printer": health.get("printer") if isinstance(health.get("printer"), str) else None,
            "health": health,
        }

    for d in cfg.devices:
        out.append(entry(d.id, d.role, d.counter, True))
    known = {d.id for d in cfg.devices}
    for dev_id in sorted(seen):
        if dev_id not in known:
            role = "controller" if dev_id == CONTROLLER_ID else "hub" if dev_id == HUB_ID else None
            out.append(entry(dev_id, role, None, False))
    return out


#: More devices than this off the published release make one alert, not one each (a fresh release).
OUTDATED_EACH = 3


def _outdated(devices: list[dict[str, Any]], published: str | None) -> list[Alert]:
    """``device_outdated``: one per device, or one for all when there are many."""
    if not devices or published is None:
        return []
    if len(devices) <= OUTDATED_EACH:
        return [
            Alert(
                "warning",
                "device_outdated",
                d["id"],
                f"Thiết bị {d['id']} chạy phiên bản {d['version']}, chưa lên bản {published}",
                f"Device {d['id']} runs {d['version']}, not the published release {published}",
                d["status_ts"],
            )
            for d in devices
        ]
    ids = ", ".join(d["id"] for d in devices[:5]) + (", …" if len(devices) > 5 else "")
    return [
        Alert(
            "warning",
            "device_outdated",
            None,
            f"{len(devices)} thiết bị chưa lên bản {published} ({ids})",
            f"{len(devices)} devices are not on the published release {published} ({ids})",
        )
    ]


def compute_alerts(
    devices: list[dict[str, Any]],
    now: datetime,
    *,
    broker_connected: bool,
    controller_online: bool | None,
    forwarder: dict[str, Any] | None = None,
    offline_after_s: float = OFFLINE_AFTER_S,
    backlog_records: int = BACKLOG_RECORDS,
    rewind: dict[str, Any] | None = None,
    published: str | None = None,
) -> list[Alert]:
    """The alert list, most severe first, from :func:`device_list` and the hub's own state."""
    out: list[Alert] = []
    if not broker_connected:
        out.append(
            Alert(
                "critical",
                "hub_disconnected",
                HUB_ID,
                "Máy chủ mất kết nối với hệ thống hàng đợi",
                "The hub has lost the message broker",
            )
        )
    ctl = next((d for d in devices if d["id"] == CONTROLLER_ID), None)
    if controller_online is False or (
        controller_online is None and ctl is not None and ctl["online"] is False
    ):
        out.append(
            Alert(
                "critical",
                "controller_offline",
                CONTROLLER_ID,
                "Bộ điều khiển hàng đợi ngừng hoạt động",
                "The queue controller is offline",
                ctl["last_seen"] if ctl else None,
            )
        )
    conditions = (ctl or {}).get("health", {}).get("conditions")
    for name, cond in sorted(conditions.items()) if isinstance(conditions, dict) else []:
        if not isinstance(cond, dict) or cond.get("state", "ok") == "ok":
            continue
        state, detail = str(cond.get("state")), str(cond.get("detail") or "")
        extra = f": {detail}" if detail else ""
        out.append(
            Alert(
                "critical",
                "controller_health",
                CONTROLLER_ID,
                f"Bộ điều khiển hàng đợi báo lỗi {_CONDITION_VI.get(name, name)} ({state}){extra}",
                f"Queue controller condition {name}: {state}{extra}",
                cond.get("since"),
            )
        )
    if rewind is not None and isinstance(rewind.get("at"), str):
        age = (now - datetime.fromisoformat(rewind["at"])).total_seconds()
        if age < REWIND_ALERT_S:
            detail = str(rewind.get("detail") or "")
            out.append(
                Alert(
                    "critical",
                    "controller_rewound",
                    CONTROLLER_ID,
                    f"Bộ điều khiển hàng đợi đã mất dữ liệu: {detail}",
                    f"Queue controller lost data: {detail}",
                    rewind["at"],
                )
            )
    outdated: list[dict[str, Any]] = []
    for d in devices:
        if not d["configured"]:
            continue
        if d["online"] is None:
            out.append(
                Alert(
                    "warning",
                    "device_never_seen",
                    d["id"],
                    f"Thiết bị {d['id']} chưa từng kết nối",
                    f"Device {d['id']} has never connected",
                )
            )
            continue
        if d["online"] is False:
            since = d["last_seen"]
            away = (now - datetime.fromisoformat(since)).total_seconds() if since else None
            if away is None or away > offline_after_s:
                sev = "critical" if d["role"] == "kiosk" else "warning"
                mins = f" ({int(away // 60)} phút)" if away is not None else ""
                out.append(
                    Alert(
                        sev,
                        "device_offline",
                        d["id"],
                        f"Thiết bị {d['id']} mất kết nối{mins}",
                        f"Device {d['id']} is offline",
                        since,
                    )
                )
            continue
        if published is not None and d["version"] and d["version"] != published:
            outdated.append(d)
        if d["printer"] in _PRINTER_VI:
            sev, vi, en = _PRINTER_VI[d["printer"]]
            detail = d["health"].get("detail")
            extra = f": {detail}" if isinstance(detail, str) and detail else ""
            out.append(
                Alert(
                    sev,
                    "printer",
                    d["id"],
                    f"{vi} — {d['id']}{extra}",
                    f"{en} — {d['id']}",
                    d["health"].get("ts"),
                )
            )
        calls = d["health"].get("calls") if d["role"] == "announcer" else None
        dropped = calls.get("dropped") if isinstance(calls, dict) else None
        if isinstance(dropped, int) and not isinstance(dropped, bool) and dropped > 0:
            out.append(
                Alert(
                    "warning",
                    "voice_dropped",
                    d["id"],
                    f"Loa gọi số đã bỏ qua {dropped} lượt gọi không kịp đọc — {d['id']}",
                    f"The announcer dropped {dropped} calls unheard — {d['id']}",
                    d["health"].get("ts"),
                )
            )
    out += _outdated(outdated, published)
    if forwarder is not None:
        for stream, st in (forwarder.get("streams") or {}).items():
            pending = st.get("pending") or 0
            failures = st.get("consecutive_failures") or 0
            if failures > 0 or pending > backlog_records:
                out.append(
                    Alert(
                        "warning",
                        "backend_backlog",
                        None,
                        f"Chưa gửi được {pending} bản ghi ({stream}) lên hệ thống một cửa điện tử",
                        f"{pending} {stream} records not yet delivered to the back end"
                        + (f": {st.get('last_error')}" if st.get("last_error") else ""),
                        st.get("last_failure"),
                    )
                )
        if forwarder.get("error"):
            out.append(
                Alert(
                    "warning",
                    "backend_backlog",
                    None,
                    "Chưa cấu hình được việc gửi dữ liệu lên hệ thống",
                    f"Forwarder not running: {forwarder['error']}",
                )
            )
    out.sort(key=lambda a: 0 if a.severity == "critical" else 1)
    return out

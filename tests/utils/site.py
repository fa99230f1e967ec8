"""A small, complete ``site.toml`` for tests, written to disk and loaded like a real one."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from onestop import config
from onestop.toml_text import dumps as to_toml

#: The test site: 3 services (A/B/C), 3 counters (one ``ordered``), 3 officers, one device of each
#: role plus three counters. Services have no opening hours, so tests pass at any time of day.
SITE: dict[str, Any] = {
    "site": {
        "id": "t-site",
        "name": "Bộ phận Một cửa thử nghiệm",
        "agency": "UBND XÃ THỬ NGHIỆM",
        "timezone": "Asia/Ho_Chi_Minh",
        "day_starts": "05:00",
    },
    "broker": {"host": "127.0.0.1", "port": 1883},
    "hub": {"listen": "127.0.0.1:8080", "public_url": "http://127.0.0.1:8080"},
    "services": [
        {"id": "tuphap", "name": "Tư pháp - Hộ tịch", "prefix": "A", "digits": 3, "avg_service_min": 5},
        {"id": "datdai", "name": "Đất đai", "prefix": "B", "digits": 3, "avg_service_min": 10},
        {"id": "dkkd", "name": "Đăng ký kinh doanh", "prefix": "C", "digits": 3, "daily_limit": 50},
    ],
    "counters": [
        {"id": "1", "label": "Quầy 1", "services": ["tuphap"], "policy": "fifo"},
        {"id": "2", "label": "Quầy 2", "services": ["datdai", "tuphap"], "policy": "ordered"},
        {"id": "3", "label": "Quầy 3", "services": ["dkkd", "datdai"], "policy": "fifo"},
    ],
    "officers": [
        {"id": "cb001", "name": "Nguyễn Thị Lan"},
        {"id": "cb002", "name": "Trần Văn Hùng"},
        {"id": "cb003", "name": "Lê Thị Thu Hà"},
    ],
    "devices": [
        {"id": "kiosk-1", "role": "kiosk", "printer": {"backend": "sim", "profile": "TM-T88V"}},
        {"id": "counter-1", "role": "counter", "counter": "1"},
        {"id": "counter-2", "role": "counter", "counter": "2"},
        {"id": "counter-3", "role": "counter", "counter": "3"},
        {"id": "rate-1", "role": "rating", "counter": "1"},
        {"id": "board-1", "role": "board"},
        {"id": "announcer-1", "role": "announcer"},
    ],
    "rating": {
        "levels": ["Rất hài lòng", "Hài lòng", "Không hài lòng"],
        "satisfied_min": 2,
        "reasons": ["Thái độ phục vụ", "Chờ lâu", "Khác"],
    },
    # Tests drive devices far faster than people do: no device is rate-limited here, except in the
    # tests of the limits themselves (tests/integration/test_fair_share.py sets its own).
    "limits": {
        **{role: {"burst": 1_000_000, "per_minute": 1_000_000} for role in ("kiosk", "counter", "rating")},
        "backlog": 5000,
    },
}


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` applied: tables merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def site_data(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """A fresh copy of :data:`SITE` with ``overrides`` applied (see :func:`merged`)."""
    return merged(SITE, overrides or {})


def write_site(
    directory: Path,
    overrides: dict[str, Any] | None = None,
    *,
    extra: str = "",
    name: str = "site.toml",
) -> Path:
    """Write a site file into ``directory`` (data under ``directory/var``) and return its path."""
    data = site_data({"storage": {"dir": str(directory / "var")}})
    data = merged(data, overrides or {})
    path = directory / name
    path.write_text(to_toml(data) + (f"\n{extra}\n" if extra else ""), encoding="utf-8")
    return path


def make_site(
    directory: Path,
    overrides: dict[str, Any] | None = None,
    *,
    extra: str = "",
    name: str = "site.toml",
) -> config.SiteConfig:
    """Write a site file with :func:`write_site` and load it with :func:`onestop.config.load`."""
    return config.load(write_site(directory, overrides, extra=extra, name=name))

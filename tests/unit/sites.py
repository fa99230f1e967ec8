"""Small in-memory site configurations for engine tests."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from onestop import config

VN = ZoneInfo("Asia/Ho_Chi_Minh")

BASE: dict[str, Any] = {
    "site": {
        "id": "t-site",
        "name": "Bộ phận Một cửa thử nghiệm",
        "agency": "UBND XÃ THỬ",
        "day_starts": "05:00",
    },
    "services": [
        {"id": "tuphap", "name": "Tư pháp - Hộ tịch", "prefix": "A", "digits": 3, "avg_service_min": 5},
        {"id": "datdai", "name": "Đất đai", "prefix": "B", "digits": 3, "avg_service_min": 10},
        {
            "id": "dkkd",
            "name": "Đăng ký kinh doanh",
            "prefix": "C",
            "digits": 3,
            "daily_limit": 3,
            "hours": ["07:00-11:30", "13:30-17:00"],
            "days": ["mon", "tue", "wed", "thu", "fri"],
        },
    ],
    "counters": [
        {"id": "1", "label": "Quầy 1", "services": ["tuphap", "datdai"], "policy": "fifo"},
        {"id": "2", "label": "Quầy 2", "services": ["datdai", "tuphap"], "policy": "ordered"},
        {"id": "3", "label": "Quầy 3", "services": ["dkkd"]},
    ],
    "officers": [{"id": "cb1", "name": "Nguyễn Thị Lan"}, {"id": "cb2", "name": "Trần Văn Hùng"}],
    "devices": [
        {"id": "kiosk-1", "role": "kiosk"},
        {"id": "kiosk-land", "role": "kiosk", "services": ["datdai"]},
        {"id": "counter-1", "role": "counter", "counter": "1"},
        {"id": "counter-2", "role": "counter", "counter": "2"},
        {"id": "counter-3", "role": "counter", "counter": "3"},
        {"id": "rate-1", "role": "rating", "counter": "1"},
        {"id": "board-1", "role": "board"},
    ],
}

# Monday 2026-11-23, 08:00 in Hà Nội: every service is open.
MONDAY_8AM = datetime(2026, 11, 23, 8, 0, tzinfo=VN)


def site(**overrides: Any) -> config.SiteConfig:
    """A valid config; keyword arguments replace whole top-level sections."""
    data = copy.deepcopy(BASE)
    data.update(overrides)
    return config.parse(data, "test-site.toml")

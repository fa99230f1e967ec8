"""A province of many centres for dashboard tests and screenshots: registered sites, a year of rollups
(``day_queue``/``day_ratings``, as ingestion writes them), officers and each centre's live state as
the live view writes it (``site_live``). Deterministic (a seeded RNG).

The rollups are written directly, as ``bench/province.py`` does for its year of history: ingestion
itself (records → rollups) is tested in test_province.py, and the live view in
test_province_bridge.py; here they are the dashboard's input.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from province import figures, reports

PROVINCIAL = ("hg-tthc", "Trung tâm Phục vụ hành chính công tỉnh Tuyên Quang")
PLACES = [
    "xã Phương Thiện",
    "xã Phương Độ",
    "xã Ngọc Đường",
    "phường Quang Trung",
    "phường Nguyễn Trãi",
    "phường Trần Phú",
    "phường Minh Khai",
    "xã Đạo Đức",
    "xã Thuận Hòa",
    "xã Tùng Bá",
    "xã Minh Tân",
    "xã Thanh Thủy",
    "xã Phú Linh",
    "xã Kim Thạch",
    "xã Tân Quang",
    "xã Đồng Văn",
    "xã Lũng Cú",
    "xã Sà Phìn",
    "xã Phố Bảng",
    "xã Mèo Vạc",
    "xã Pải Lủng",
    "xã Khâu Vai",
    "xã Yên Minh",
    "xã Mậu Duệ",
    "xã Du Già",
    "xã Quản Bạ",
    "xã Tam Sơn",
    "xã Cán Tỷ",
    "xã Bắc Mê",
    "xã Yên Phú",
    "xã Hoàng Su Phì",
    "xã Thông Nguyên",
    "xã Xín Mần",
    "xã Cốc Pài",
    "xã Bắc Quang",
    "xã Việt Quang",
    "xã Hùng An",
    "xã Quang Bình",
    "xã Yên Bình",
    "xã Vị Xuyên",
    "xã Việt Lâm",
    "xã Bạch Ngọc",
]
SERVICES = [
    ("tuphap", "Tư pháp - Hộ tịch"), ("datdai", "Đất đai"), ("dkkd", "Đăng ký kinh doanh"),
    ("laodong", "Lao động - Thương binh và Xã hội"),
    ("xaydung", "Xây dựng, Giao thông vận tải và Quy hoạch kiến trúc"),
]  # fmt: skip
FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Vũ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Giàng",
]
MIDDLE = ["Thị", "Văn", "Minh", "Đức", "Thu", "Quang"]
GIVEN = [
    "Lan",
    "Hùng",
    "Hà",
    "Tuấn",
    "Mai",
    "Anh",
    "Hồng",
    "Nam",
    "Ngọc",
    "Vinh",
    "Hạnh",
    "Long",
    "Thảo",
    "Dũng",
    "Hương",
    "Sơn",
    "Trang",
    "Khánh",
    "Linh",
    "Phúc",
]


def officer_name(i: int) -> str:
    """A distinct name for each of the first 280 people."""
    return f"{FAMILY[(i // 20) % len(FAMILY)]} {MIDDLE[i % len(MIDDLE)]} {GIVEN[i % len(GIVEN)]}"


def centre_ids(n: int) -> list[tuple[str, str]]:
    """The provincial centre, then communes and wards: ``n`` (id, name) pairs."""
    out = [PROVINCIAL]
    i = 0
    while len(out) < n:
        place = PLACES[i % len(PLACES)]
        suffix = f" {i // len(PLACES) + 1}" if i >= len(PLACES) else ""
        out.append((f"hg-{i + 1:03d}", f"Bộ phận Một cửa {place}{suffix}"))
        i += 1
    return out[:n]


def seed(
    dsn: str, day: date, centres: int = 100, *, seed_value: int = 14, months: int = 12
) -> dict[str, Any]:
    """Write the province; returns what was written (sites, officers who moved, centres down)."""
    rng = random.Random(seed_value)
    sites = centre_ids(centres)
    first = figures.add_months(figures.month_start(day), -(months - 1))
    q_rows: list[tuple[Any, ...]] = []
    r_rows: list[tuple[Any, ...]] = []
    officers: list[tuple[str, str, str, str]] = []
    people = 0
    live: list[tuple[Any, ...]] = []
    now = datetime.now(reports.VN)
    down: list[str] = []
    for idx, (sid, _name) in enumerate(sites):
        big = idx == 0
        quality = rng.uniform(0.86, 0.995)  # this centre's share satisfied
        slow = rng.uniform(0.5, 1.6)  # this centre's waits, relative
        staff = [f"cb{idx:03d}{k}" for k in range(4 if big else 2)]
        for o in staff:
            officers.append((sid, o, o, officer_name(people)))
            people += 1
        days = [figures.add_months(first, m) for m in range(months)] + [day]
        for d in days:
            scale = 30 if d != day else 1
            for s_i, (svc, _svc_name) in enumerate(SERVICES[: 5 if big else 3]):
                n = int(rng.randint(20, 60) * (4 if big else 1) * scale / 10) + 1
                officer = staff[s_i % len(staff)]
                mean = 60 * rng.uniform(5, 16) * slow
                within = int(n * max(0.0, min(1.0, 1.25 - mean / 1200)))
                done = n - n // 12
                q_rows.append(
                    (sid, d, svc, officer, n, done, n // 12, 0, n, mean * n, within, done, 420.0 * done)
                )
                rated = max(1, n // 2)
                sat = min(rated, int(rated * rng.uniform(quality - 0.03, quality + 0.03) + 0.5))
                very = int(sat * 0.7)
                r_rows.append((sid, d, svc, officer, 3, very, very))
                r_rows.append((sid, d, svc, officer, 2, sat - very, sat - very))
                if rated - sat:
                    r_rows.append((sid, d, svc, officer, 1, rated - sat, 0))
        counters = {str(c): {"status": "open" if c <= (5 if big else 2) - (idx % 3 == 1) else "closed"}
                    for c in range(1, (7 if big else 3) + 1)}  # fmt: skip
        services = {
            svc: {"service": svc, "name": nm, "open": True, "waiting": rng.randint(0, 25 if big else 6),
                  "est_wait_s": rng.randint(60, 1500)}
            for svc, nm in SERVICES[: 5 if big else 3]
        }  # fmt: skip
        devices: dict[str, Any] = {"kiosk-1": {"status": {"online": True}, "health": {"printer": "ok"}}}
        if idx % 17 == 5:
            devices["kiosk-1"]["health"]["printer"] = "paper_low"
        if idx % 23 == 7:
            devices["board-1"] = {"status": {"online": False}}
        link, since = "up", now - timedelta(hours=3)
        if idx % 31 == 4:
            link, since = "down", now.replace(hour=9, minute=12, second=0, microsecond=0)
            if since > now:
                since -= timedelta(days=1)
            down.append(sid)
        doc = {"counters": counters, "services": services, "board": None, "devices": devices}
        live.append((sid, Jsonb(doc),
                     link, since, since if link == "down" else now))  # fmt: skip
    # Officers who moved: the second officer of centres 2..4 is the same person as one of centre 1.
    moved = []
    for j in range(2, min(5, len(sites))):
        sid = sites[j][0]
        person = f"cb000{j - 2}"
        officers = [(s, o, person if (s == sid and o.endswith("1")) else p, nm) for s, o, p, nm in officers]
        moved.append((sid, person))
    names = {o: nm for s, o, _p, nm in officers if s == sites[0][0]}
    officers = [(s, o, p, names.get(p, nm)) for s, o, p, nm in officers]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT ensure_month_partitions(%s, %s)", (first, day))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO sites (id, name, token_sha256) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                [(sid, name, f"seed-{sid}") for sid, name in sites],
            )
            cur.executemany("INSERT INTO day_queue VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", q_rows)
            cur.executemany("INSERT INTO day_ratings VALUES (%s,%s,%s,%s,%s,%s,%s)", r_rows)
            # The monthly rollups, as ingest writes them with the day ones (what migration 0006 does).
            cur.execute(
                """INSERT INTO month_queue
                   SELECT site, date_trunc('month', day)::date, sum(n), sum(done), sum(skipped), sum(expired),
                          sum(wait_n), sum(wait_sum_s), sum(within_15), sum(service_n), sum(service_sum_s)
                   FROM day_queue GROUP BY 1, 2
                   ON CONFLICT DO NOTHING"""
            )
            cur.execute(
                """INSERT INTO month_ratings
                   SELECT site, date_trunc('month', day)::date, score, sum(n), sum(satisfied)
                   FROM day_ratings GROUP BY 1, 2, 3
                   ON CONFLICT DO NOTHING"""
            )
            cur.executemany(
                "INSERT INTO officers (site, officer, person, name) VALUES (%s,%s,%s,%s) "
                "ON CONFLICT (site, officer) DO UPDATE SET person = EXCLUDED.person, name = EXCLUDED.name",
                officers,
            )
            cur.executemany(
                "INSERT INTO site_live (site, state, link, link_since, last_seen) VALUES (%s,%s,%s,%s,%s)",
                live,
            )
    return {"sites": sites, "moved": moved, "down": down}

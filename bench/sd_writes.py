"""``python -m bench sd_writes``: what each role writes to its storage in a busy day, and how long an SD
card lasts at that rate.

It runs ``onestop up`` on ``examples/site.toml`` (12 counters, 2 kiosks, rating terminals; broker,
controller, hub, agents, kiosks and rating terminals each its own process) from a copy in a temporary
folder, twice for the same wall-clock window:

1. **idle**: the site open, nobody coming: what the processes write per real second on their own
   (heartbeats, health, timers, checkpoints);
2. **busy**: ``--traffic --speed S``: simulated citizens at 0.9 of what the open counters can serve,
   ``S`` simulated seconds per real second.

For every process it reads ``/proc/PID/io`` at the start and the end of the window: ``write_bytes``
(bytes of page cache the process dirtied: what reaches the storage, in 4 KiB pages, before the
storage's own amplification) and ``wchar`` (every ``write()``, sockets included: an upper bound, not
disk). Each process's standard output is a log file here (``/proc/PID/fd/1``); on a site it goes to
the journal instead, so the log's growth is reported apart and taken out of the process's own writes.
With ``strace`` available it also counts the ``fsync``/``fdatasync`` calls of the controller and the
hub in the busy window (``--no-fsync`` to skip: tracing slows them down).

A busy day is extrapolated as ``idle rate × 86,400 s + (busy − idle) per ticket × the day's tickets``
(1,000 for the example's 12 counters by default, ``--day-tickets``): time-driven writes follow the
wall clock, traffic-driven writes follow the tickets. The controller, the hub and the broker share
the hub machine's card and are added up. The SD card's life then follows from its endurance
(:data:`CARDS`, :data:`WRITE_AMPLIFICATION`; docs/operations.md, "SD cards").
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import BenchError, machine_info
from bench.site_memory import descendants, part_of
from onestop.broker import free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "site.toml"
#: The example's opening hours: 07:00–11:30 and 13:30–17:00.
OPEN_HOURS = 8.0
#: A busy day of the example site (12 counters at 0.9 of what they can serve for 8 hours: ~1,000).
DAY_TICKETS = 1000
#: The processes that share the hub machine's card.
HUB_MACHINE = ("controller", "hub", "broker")
DAY_S = 86_400
KIB = 1024
#: Roles reported, by the part name of their process (bench.site_memory.part_of).
ROLES = {
    "onestop controller": "controller",
    "onestop hub": "hub",
    "onestop agents": "agents",
    "onestop kiosk": "kiosk",
    "onestop rating": "rating",
    "mosquitto": "broker",
}
#: SD cards: capacity, the programme/erase cycles of their flash, and the write amplification assumed
#: for small random writes (SQLite pages, journal blocks) on a card without a real FTL cache.
CARDS: list[dict[str, str | int]] = [
    {"card": "16 GB TLC, 1000 P/E", "gb": 16, "pe_cycles": 1000},
    {"card": "32 GB TLC, 1000 P/E", "gb": 32, "pe_cycles": 1000},
    {"card": "32 GB TLC, 3000 P/E", "gb": 32, "pe_cycles": 3000},
]
WRITE_AMPLIFICATION = 10.0
#: journald stores a log line with its fields and index: about this many bytes on disk per byte of text.
JOURNAL_OVERHEAD = 3.0


def io_counters(pid: int) -> dict[str, int] | None:
    """``/proc/PID/io`` as a dict, or None when the process is gone or unreadable."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return None
    return {k: int(v) for k, v in re.findall(r"^(\w+): (\d+)$", text, re.MULTILINE)}


def stdout_file(pid: int) -> Path | None:
    """The regular file a process's standard output goes to (its log under ``onestop up``)."""
    try:
        target = os.readlink(f"/proc/{pid}/fd/1")
    except OSError:
        return None
    path = Path(target)
    return path if path.is_file() else None


def _size(path: Path | None) -> int:
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def _data_files(data: Path) -> dict[str, int]:
    """Sizes of the data folder's files (databases, WAL, broker persistence), logs aside."""
    out = {}
    for p in data.rglob("*"):
        if p.is_file() and "logs" not in p.relative_to(data).parts:
            out[str(p.relative_to(data))] = _size(p)
    return out


def _wait_http(url: str, deadline: float, proc: subprocess.Popen[bytes]) -> None:
    import urllib.request

    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"onestop up exited with {proc.returncode} before {url} answered")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)  # polling a child process's port: there is no event to wait on


def _strace(pids: list[int], out: Path) -> subprocess.Popen[bytes] | None:
    strace = shutil.which("strace")
    if strace is None or not pids:
        return None
    argv = [strace, "-f", "-qq", "-e", "trace=fsync,fdatasync,sync_file_range,syncfs", "-o", str(out)]
    for pid in pids:
        argv += ["-p", str(pid)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _count_syncs(out: Path, pid_role: dict[int, str]) -> dict[str, int]:
    """fsync-family calls per role from an ``strace -f -o`` file (lines start with the thread id)."""
    counts: dict[str, int] = {}
    threads: dict[int, str] = {}
    for pid, role in pid_role.items():
        for task in Path(f"/proc/{pid}/task").glob("*") if Path(f"/proc/{pid}/task").exists() else []:
            threads[int(task.name)] = role
    try:
        lines = out.read_text(errors="replace").splitlines()
    except OSError:
        return counts
    for line in lines:
        m = re.match(r"^(\d+)\s+(fsync|fdatasync|sync_file_range|syncfs)\(", line)
        if m:
            role = threads.get(int(m.group(1)), "?")
            counts[role] = counts.get(role, 0) + 1
    return counts


def measure(
    site: Path, data: Path, window_s: float, *, speed: float | None, settle_s: float, fsync: bool
) -> dict[str, Any]:
    """Run the site (with traffic at ``speed`` when given) and measure one window."""
    hub_port = free_port()
    argv = [
        sys.executable,
        "-m",
        "onestop",
        "up",
        "--config",
        str(site),
        "--quiet",
        "--port",
        str(free_port()),
    ]
    if speed is not None:
        argv += ["--traffic", "--speed", str(speed)]
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[1])}
    env.pop("DISPLAY", None)  # kiosks and rating terminals headless, as under systemd on a real site
    env.pop("WAYLAND_DISPLAY", None)
    text = site.read_text(encoding="utf-8")
    site.write_text(re.sub(r'(?m)^listen = "[^"]*"', f'listen = "127.0.0.1:{hub_port}"', text, count=1))
    up_log = data.parent / ("up-busy.log" if speed else "up-idle.log")
    up = subprocess.Popen(
        argv,
        stdout=open(up_log, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    tracer: subprocess.Popen[bytes] | None = None
    trace_out = data.parent / "strace.txt"
    try:
        _wait_http(f"http://127.0.0.1:{hub_port}/healthz", time.monotonic() + 90, up)
        time.sleep(settle_s)  # the measurement's schedule: every part past its start-up writes
        pids = {p: part_of(p) for p in descendants(up.pid) if p != up.pid}
        pid_role = {p: ROLES[part] for p, part in pids.items() if part in ROLES}
        if fsync and speed is not None:
            tracer = _strace([p for p, r in pid_role.items() if r in ("controller", "hub")], trace_out)
            time.sleep(1.0)  # strace attaches: a schedule, not a wait for an event
        start = {p: io_counters(p) for p in pid_role}
        logs = {p: stdout_file(p) for p in pid_role}
        log_start = {p: _size(f) for p, f in logs.items()}
        files_start = _data_files(data)
        issued_start = _issued(data) if speed is not None else None
        t0 = time.monotonic()
        time.sleep(window_s)  # the measured window
        elapsed = time.monotonic() - t0
        issued_end = _issued(data) if speed is not None else None
        end = {p: io_counters(p) for p in pid_role}
        log_end = {p: _size(f) for p, f in logs.items()}
        files_end = _data_files(data)
        syncs: dict[str, int] = {}
        if tracer is not None:
            syncs = _count_syncs(trace_out, pid_role)  # threads are listed while the processes live
            tracer.send_signal(signal.SIGINT)
            tracer.wait(20)
            syncs = _count_syncs(trace_out, pid_role) or syncs
        if up.poll() is not None:
            raise BenchError(f"onestop up exited with {up.returncode}; see {up_log}")
    finally:
        if tracer is not None and tracer.poll() is None:
            tracer.kill()
            tracer.wait(5)
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
                up.wait(5)
    roles: dict[str, dict[str, int]] = {}
    for p, role in pid_role.items():
        a, b = start[p], end[p]
        r = roles.setdefault(role, {"processes": 0, "write_bytes": 0, "wchar": 0, "log_bytes": 0, "gone": 0})
        r["processes"] += 1
        if a is None or b is None:
            r["gone"] += 1
            continue
        r["write_bytes"] += b["write_bytes"] - a["write_bytes"]
        r["wchar"] += b["wchar"] - a["wchar"]
        r["log_bytes"] += log_end[p] - log_start[p]
    for role, n in syncs.items():
        if role in roles:
            roles[role]["fsyncs"] = n
    growth = {k: files_end.get(k, 0) - files_start.get(k, 0) for k in sorted({*files_start, *files_end})}
    return {
        "window_s": round(elapsed, 1),
        "speed": speed,
        "roles": roles,
        "tickets": (issued_end - issued_start)
        if issued_start is not None and issued_end is not None
        else None,
        "data_file_growth": {k: v for k, v in growth.items() if v},
    }


def _issued(data: Path) -> int | None:
    """Tickets issued in the busy run (the whole run), from the controller's database."""
    import sqlite3

    db = data / "controller.db"
    if not db.exists():
        return None
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM events WHERE type = 'ticket.issued'").fetchone()[0])
    except sqlite3.Error:
        return None


def _prepare(tmp: Path, name: str) -> tuple[Path, Path]:
    folder = tmp / name
    folder.mkdir()
    site = folder / "site.toml"
    site.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    return site, folder / "var"


def _per_day(idle: dict[str, Any], busy: dict[str, Any], key: str, role: str) -> tuple[float, float] | None:
    """``(bytes a day without traffic, bytes per ticket)`` of one process of ``role``: its idle rate
    over a whole day, and the busy window's extra over the idle rate, per ticket issued in it."""
    i, b = idle["roles"].get(role), busy["roles"].get(role)
    if i is None or b is None or not i["processes"] or not b["processes"] or not busy["tickets"]:
        return None
    idle_rate = i[key] / i["processes"] / idle["window_s"]
    extra = b[key] / b["processes"] - idle_rate * busy["window_s"]
    return idle_rate * DAY_S, max(0.0, extra) / busy["tickets"]


def card_life(bytes_per_day: float) -> dict[str, float | str]:
    """Years each card of :data:`CARDS` lasts at ``bytes_per_day`` of the suite's writes (the OS's own
    writes not counted), with :data:`WRITE_AMPLIFICATION`: ``{card: years}``."""
    out: dict[str, float | str] = {}
    for card in CARDS:
        endurance = float(card["gb"]) * 1e9 * float(card["pe_cycles"])
        flash_per_day = bytes_per_day * WRITE_AMPLIFICATION
        years = endurance / flash_per_day / 365 if flash_per_day else float("inf")
        out[str(card["card"])] = round(years, 1) if years < 1000 else ">1000"
    return out


def run(
    window_s: float = 60.0,
    speed: float = 60.0,
    settle_s: float = 10.0,
    fsync: bool = True,
    day_tickets: int = DAY_TICKETS,
) -> dict[str, Any]:
    """Measure an idle and a busy window of the example site and extrapolate a day per role."""
    tmp = Path(tempfile.mkdtemp(prefix="onestop-sd-writes-"))
    try:
        site, data = _prepare(tmp, "idle")
        idle = measure(site, data, window_s, speed=None, settle_s=settle_s, fsync=False)
        site, data = _prepare(tmp, "busy")
        busy = measure(site, data, window_s, speed=speed, settle_s=settle_s, fsync=fsync)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    per_day: dict[str, dict[str, Any]] = {}
    day_bytes: dict[str, float] = {}
    for role in sorted({*idle["roles"], *busy["roles"]}):
        data_b = _per_day(idle, busy, "write_bytes", role)
        log_b = _per_day(idle, busy, "log_bytes", role) or (0.0, 0.0)
        if data_b is None:
            continue
        # The log went to a file here (counted in write_bytes); on a site it goes to the journal.
        own_idle, own_ticket = max(0.0, data_b[0] - log_b[0]), max(0.0, data_b[1] - log_b[1])
        log_day = log_b[0] + log_b[1] * day_tickets
        own_day = own_idle + own_ticket * day_tickets
        day_bytes[role] = own_day + log_day * JOURNAL_OVERHEAD
        per_day[role] = {
            "idle_mib_per_day": round(own_idle / KIB / KIB, 2),
            "kib_per_ticket": round(own_ticket / KIB, 1),
            "busy_day_mib": round(own_day / KIB / KIB, 2),
            "log_text_mib": round(log_day / KIB / KIB, 3),
            "with_journal_mib": round(day_bytes[role] / KIB / KIB, 2),
            "sd_card_years": card_life(day_bytes[role]),
        }
    hub_machine = sum(day_bytes.get(r, 0.0) for r in HUB_MACHINE)
    sim_s = busy["window_s"] * speed
    tickets = busy.get("tickets")
    return {
        "benchmark": "sd_writes",
        "site": "examples/site.toml",
        "window_s": window_s,
        "speed": speed,
        "open_hours": OPEN_HOURS,
        "simulated_s": round(sim_s),
        "tickets_in_busy_window": tickets,
        "tickets_per_day_at_this_pace": round(tickets / sim_s * OPEN_HOURS * 3600) if tickets else None,
        "day_tickets": day_tickets,
        "write_amplification_assumed": WRITE_AMPLIFICATION,
        "cards": [
            {**c, "endurance_tb": round(float(c["gb"]) * float(c["pe_cycles"]) / 1000, 1)} for c in CARDS
        ],
        "journal_overhead_assumed": JOURNAL_OVERHEAD,
        "per_process_per_day": per_day,
        "hub_machine_per_day": {
            "roles": list(HUB_MACHINE),
            "mib": round(hub_machine / KIB / KIB, 1),
            "sd_card_years": card_life(hub_machine),
        },
        "idle": idle,
        "busy": busy,
        "machine": machine_info(),
    }

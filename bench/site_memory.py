"""``python -m bench site_memory``: the memory of a whole commune site on one machine.

It runs ``onestop up --config examples/commune.toml`` (broker, controller, hub, agents, kiosk and
rating processes, monitor) from a copy in a temporary folder, opens the hub's ``/board`` in Chromium
(the hall TV on HDMI), lets it settle, and sums the proportional set size (PSS, from
``/proc/PID/smaps_rollup``: shared pages divided among their users, so the sum is what the processes
really take) of every process of the site, grouped by part. The floor, measured in the same run, is
a bare Python interpreter: every Python part costs at least that.
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
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import BenchError, machine_info
from onestop.broker import free_port

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "commune.toml"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1920,1080",
]
MIB = 1024 * 1024


def pss_bytes(pid: int) -> int | None:
    """The PSS of a process in bytes, or None when it is gone or unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    m = re.search(r"^Pss:\s+(\d+) kB", text, re.MULTILINE)
    return int(m.group(1)) * 1024 if m else None


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid: int) -> list[int]:
    """A process and all its descendants."""
    kids, out, todo = _children(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def part_of(pid: int) -> str:
    """Which part of the site a process is: its ``onestop`` command, mosquitto, chromium, …"""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    args = [a.decode(errors="replace") for a in argv if a]
    if not args:
        return "other"
    exe = os.path.basename(args[0])
    if "chrom" in exe:
        return "chromium"
    if exe.startswith("mosquitto"):
        return "mosquitto"
    if "onestop" in args:
        i = args.index("onestop")
        rest = [a for a in args[i + 1 : i + 3] if not a.startswith("-")]
        return "onestop " + " ".join(rest[:1]) if rest else "onestop"
    return exe


def _wait_http(url: str, deadline: float, proc: subprocess.Popen[bytes]) -> None:
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
    raise BenchError(f"{url} did not answer in time")


def _floor_python() -> int:
    """PSS of a bare Python interpreter, measured now."""
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        time.sleep(1.0)  # let it finish starting (a measurement schedule, not a wait for an event)
        return pss_bytes(p.pid) or 0
    finally:
        assert p.stdin is not None
        p.stdin.close()
        p.wait(10)


def run(settle_s: float = 20.0, board: bool = True) -> dict[str, Any]:
    """Run the commune site (and its board in Chromium), measure, stop everything."""
    tmp = Path(tempfile.mkdtemp(prefix="onestop-site-memory-"))
    hub_port = free_port()
    site = tmp / "site.toml"
    site.write_text(
        EXAMPLE.read_text(encoding="utf-8").replace(
            'listen = "0.0.0.0:8080"', f'listen = "127.0.0.1:{hub_port}"'
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE.parents[1])}
    env.pop("DISPLAY", None)  # kiosk and rating terminals run headless, as on a site with no screens
    up = subprocess.Popen(
        [sys.executable, "-m", "onestop", "up", "--config", str(site), "--quiet", "--port", str(free_port())],
        stdout=open(tmp / "up.log", "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    chrome: subprocess.Popen[bytes] | None = None
    try:
        url = f"http://127.0.0.1:{hub_port}"
        _wait_http(url + "/healthz", time.monotonic() + 60, up)
        if board:
            if not os.path.exists(CHROMIUM):
                raise BenchError(f"no Chromium at {CHROMIUM}")
            chrome = subprocess.Popen(
                [
                    CHROMIUM,
                    "--headless=new",
                    *CHROMIUM_ARGS,
                    f"--user-data-dir={tmp / 'chromium'}",
                    url + "/board",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        time.sleep(settle_s)  # the measurement's schedule: let every part reach its steady state
        floor = _floor_python()
        pids = descendants(up.pid) + (descendants(chrome.pid) if chrome else [])
        parts: dict[str, dict[str, int]] = {}
        for pid in pids:
            pss = pss_bytes(pid)
            if pss is None:
                continue
            part = parts.setdefault(part_of(pid), {"processes": 0, "pss": 0})
            part["processes"] += 1
            part["pss"] += pss
        if up.poll() is not None:
            raise BenchError(f"onestop up exited with {up.returncode}; see {tmp / 'up.log'}")
    finally:
        for p in (chrome, up):
            if p is not None and p.poll() is None:
                os.killpg(p.pid, signal.SIGINT if p is up else signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(v["pss"] for v in parts.values())
    chromium = parts.get("chromium", {}).get("pss", 0)
    return {
        "benchmark": "site_memory",
        "site": "examples/commune.toml",
        "settle_s": settle_s,
        "total_pss_mib": round(total / MIB, 1),
        "suite_pss_mib": round((total - chromium) / MIB, 1),
        "chromium_pss_mib": round(chromium / MIB, 1),
        "floor_python_pss_mib": round(floor / MIB, 1),
        "parts": {
            k: {"processes": v["processes"], "pss_mib": round(v["pss"] / MIB, 1)}
            for k, v in sorted(parts.items(), key=lambda kv: -kv[1]["pss"])
        },
        "machine": machine_info(),
    }

"""The parts of a chaos day: its plan, its generated site, supervised child processes, small helpers."""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import base_site, stop_process
from onestop.config import SiteConfig
from onestop.credentials import PASSWORD_ENV

LOOPBACK = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
TOKEN_ENV = "ONESTOP_CHAOS_BACKEND_TOKEN"
SERVICES = [
    ("tuphap", "Tư pháp - Hộ tịch"),
    ("datdai", "Đất đai"),
    ("dkkd", "Đăng ký kinh doanh"),
    ("xaydung", "Xây dựng"),
    ("laodong", "Lao động - Thương binh và Xã hội"),
    ("yte", "Y tế"),
]
#: The kiosk account that floods the controller.
FLOOD_DEVICE = "kiosk-flood"
REASONS = ["Thái độ phục vụ", "Hướng dẫn chưa rõ", "Chờ lâu", "Khác"]
LEVELS = ["Rất hài lòng", "Hài lòng", "Không hài lòng"]


class ChaosError(RuntimeError):
    """The chaos day could not be run (not a finding: a finding is a violation in the summary)."""


@dataclass
class ChaosPlan:
    """How big the day is and how many faults of each kind it gets."""

    tickets: int
    seed: int
    issue_rate: float
    controller_kills: int
    broker_restarts: int
    hub_kills: int
    backend_outages: int
    backend_kills: int
    device_drops: int
    counters: int = 50
    kiosks: int = 5
    raters: int = 5
    #: Stop waiting for the day after this long (the summary then says it did not finish).
    time_limit_s: float = 1800.0
    #: Bound of each wait of the final phase (hub caught up, forwarder drained, displays read).
    settle_s: float = 120.0
    backlog_cap: int = 300
    #: A device asks again (same id) when no answer came in this time.
    retry_s: float = 2.0
    #: Longest pause between a kill and the restart.
    controller_down_s: float = 1.5
    broker_down_s: float = 1.0
    hub_down_s: float = 2.5
    backend_kill_down_s: float = 3.0
    #: Cross a business-day boundary (``[site] day_starts``) once, at about half the tickets.
    boundary: bool = True
    #: Share of the tickets issued before the boundary when it falls where the plan expects it (more
    #: when the whole minute falls later, see ``ChaosDay._place_boundary``).
    boundary_share: float = 0.5
    #: The boundary is never closer than this to the start of the load (``day_starts`` is a whole
    #: minute, so it falls between this and a minute later).
    boundary_min_s: float = 5.0
    #: The controller, the hub and the devices start in this time (it is added to the lead).
    startup_s: float = 2.0
    #: Counters call nobody in the last seconds before the boundary (the evening), so that tickets
    #: still wait when the day closes and are expired by the reset; kiosks keep issuing.
    lull_s: float = 2.0
    #: Faults placed in time around the boundary, in addition to the random schedule: the
    #: controller is SIGKILLed before it, about when the reset is decided, and after it.
    boundary_controller_kills: int = 3
    boundary_hub_kills: int = 1
    boundary_broker_restarts: int = 0
    boundary_backend_outage: bool = True
    boundary_device_drops: int = 1
    #: A device tells its user a command failed when no answer came in this time; every command
    #: carries the matching deadline (docs/protocol.md "Deadlines"). None: devices retry forever.
    give_up_s: float | None = 5.0
    #: The controller frozen by SIGSTOP this long (longer than ``give_up_s``), then SIGCONT; 0: never.
    stall_s: float = 8.0
    #: The controller's clock stepped with libfaketime (its ``[queue] clock_hold_s`` is ``clock_hold_s``):
    #: ``clock_back_s`` back just after ``day_starts``, held past ``clock_hold_s`` and undone; and
    #: ``clock_forward_s`` forward for ``clock_forward_for_s`` (less than the hold) and back.
    clock_steps: bool = True
    clock_hold_s: float = 3.0
    clock_back_s: float = 120.0
    clock_forward_s: float = 86400.0
    clock_forward_for_s: float = 1.5
    #: A kiosk account floods the controller for this long (``issue`` and forbidden ``call_next``
    #: commands, ``flood_window`` in flight at once); 0: no flood.
    flood_s: float = 4.0
    flood_window: int = 200
    #: The most tickets the flooder may take: its share, ``flood_share_per_s`` a second of flood plus
    #: ``flood_share_burst`` (the controller's per-device limit, with room).
    flood_share_per_s: float = 10.0
    flood_share_burst: int = 30
    probabilities: dict[str, float] = field(
        default_factory=lambda: {
            "skip": 0.05,
            "finish": 0.08,
            "recall": 0.03,
            "transfer": 0.02,
            "pause": 0.01,
            "rate": 0.7,
            "callback": 0.3,
        }
    )


def full_plan(seed: int, tickets: int = 20_000) -> ChaosPlan:
    """The full day: 20,000 tickets, 24 controller kills, 6 broker restarts, and the rest."""
    return ChaosPlan(
        tickets=tickets,
        seed=seed,
        issue_rate=120.0,
        controller_kills=24,
        broker_restarts=6,
        hub_kills=6,
        backend_outages=6,
        backend_kills=3,
        device_drops=30,
        boundary_min_s=60.0,
        lull_s=3.0,
        boundary_broker_restarts=1,
        boundary_device_drops=3,
        give_up_s=15.0,
        stall_s=60.0,
        clock_hold_s=20.0,
        clock_forward_for_s=10.0,
        flood_s=20.0,
    )


def short_plan(seed: int, tickets: int = 600) -> ChaosPlan:
    """The short day of ``make test``: every kind of fault at least once, in well under 2 minutes."""
    return ChaosPlan(
        tickets=tickets,
        seed=seed,
        issue_rate=30.0,
        controller_kills=3,
        broker_restarts=2,
        hub_kills=1,
        backend_outages=2,
        backend_kills=1,
        device_drops=3,
        time_limit_s=75.0,
        settle_s=30.0,
        backlog_cap=120,
        controller_down_s=1.0,
        broker_down_s=0.5,
        hub_down_s=1.0,
        backend_kill_down_s=1.5,
    )


# -- the business-day boundary -------------------------------------------------------------------


@dataclass
class Boundary:
    """Where the day's business-day boundary falls: a whole minute of wall time (``day_starts`` has
    minute granularity and every time zone in use has a whole-minute offset)."""

    #: The instant (Unix time) at which the new business day starts.
    epoch: float
    #: ``day_starts`` as written to site.toml (site-local HH:MM of ``epoch``).
    day_starts: str
    #: Tickets issued before it (the rest only after it, so the day cannot end before it).
    before: int


def plan_boundary(plan: ChaosPlan, now: float) -> float:
    """The instant of the boundary: the whole minute nearest to the moment when ``boundary_share`` of
    the tickets would be issued at the plan's rate, but at least ``startup_s + boundary_min_s`` away.

    A run that is slower or faster than expected does not move it: before it the kiosks issue at
    most the share of the tickets planned for the old day (spread over the time left), after it the
    rest, so the day neither ends before the boundary nor lacks load at it."""
    lead = plan.startup_s
    earliest = now + lead + plan.boundary_min_s
    ideal = now + lead + plan.boundary_share * plan.tickets / plan.issue_rate
    nearest = round(ideal / 60.0) * 60.0
    return nearest if nearest >= earliest else math.ceil(earliest / 60.0) * 60.0


@dataclass(order=True)
class PlacedFault:
    """A fault placed in time around the boundary."""

    #: Seconds from the boundary (negative: before it).
    offset: float
    #: controller | hub | broker | devices | backend
    target: str
    #: How long the process stays down (None: the plan's random pause).
    down_s: float | None = None


def boundary_schedule(plan: ChaosPlan, rng: random.Random) -> tuple[str, list[PlacedFault]]:
    """The faults placed around the boundary, in time order, and how the reset is to be met.

    Half of the seeds take the controller down **across** the boundary (killed 0.2-0.8 s before it,
    restarted 0.2-0.8 s after it: a power cut at night; the restarted controller decides the reset
    from what is on disk), then kill it again 1-2 s after the boundary (while it starts, restores and
    resets, or just after) and 2.5-4.5 s after it. The other half let a **running** controller decide
    the reset: killed 0.3-2.5 s before the boundary (back before it), 0-0.4 s after it (about when the
    reset batch is committed and published) and 1.5-4 s after it. Then: the hub killed within 3 s of
    it, the back end down across it, device connections dropped (and the broker restarted, in the
    full day)."""
    mode = rng.choice(["across", "running"])
    out: list[PlacedFault] = []
    if mode == "across":
        before = rng.uniform(0.2, 0.8)
        kills = [
            PlacedFault(-before, "controller", before + rng.uniform(0.2, 0.8)),
            PlacedFault(rng.uniform(1.0, 2.0), "controller"),
            PlacedFault(rng.uniform(2.5, 4.5), "controller"),
        ]
    else:
        before = rng.uniform(0.3, 2.5)
        kills = [
            PlacedFault(-before, "controller", rng.uniform(0.0, min(plan.controller_down_s, before - 0.1))),
            PlacedFault(rng.uniform(0.0, 0.4), "controller"),
            PlacedFault(rng.uniform(1.5, 4.0), "controller"),
        ]
    while len(kills) < plan.boundary_controller_kills:
        kills.append(PlacedFault(rng.uniform(-6.0, 6.0), "controller"))
    out += kills[: plan.boundary_controller_kills]
    out += [PlacedFault(rng.uniform(-3.0, 3.0), "hub") for _ in range(plan.boundary_hub_kills)]
    out += [PlacedFault(rng.uniform(-5.0, 5.0), "broker") for _ in range(plan.boundary_broker_restarts)]
    out += [PlacedFault(rng.uniform(-2.0, 2.0), "devices") for _ in range(plan.boundary_device_drops)]
    if plan.boundary_backend_outage:
        out.append(PlacedFault(-rng.uniform(1.0, 3.0), "backend"))
    return mode, sorted(out)


# -- the site file -----------------------------------------------------------------------------


def site_data(plan: ChaosPlan, root: Path, backend_port: int, hub_port: int) -> dict[str, Any]:
    """The generated site: 6 services, ``plan.counters`` counters (1-3 services each), the kiosks and
    the rating terminals (``rate-k`` bound to counter ``k``), and a ``[backend]`` on loopback."""
    data = base_site("chaos-day")
    data["hub"] = {"listen": f"{LOOPBACK}:{hub_port}", "public_url": f"http://{LOOPBACK}:{hub_port}"}
    data["storage"] = {"dir": str(root / "var")}
    data["services"] = [
        {"id": sid, "name": name, "prefix": chr(ord("A") + i), "digits": 5, "avg_service_min": 6}
        for i, (sid, name) in enumerate(SERVICES)
    ]
    n = len(SERVICES)
    data["counters"] = []
    for i in range(plan.counters):
        served = [SERVICES[i % n][0]]
        if i % 2:
            served.append(SERVICES[(i + 1) % n][0])
        if i % 5 == 0:
            served.append(SERVICES[(i + 3) % n][0])
        data["counters"].append(
            {
                "id": str(i + 1),
                "label": f"Quầy {i + 1}",
                "services": served,
                "policy": "ordered" if i % 4 == 3 else "fifo",
            }
        )
    data["officers"] = [{"id": f"cb{i + 1:03d}", "name": f"Cán bộ số {i + 1}"} for i in range(plan.counters)]
    data["queue"] = {"clock_hold_s": plan.clock_hold_s}
    if "limits" in SiteConfig.model_fields:
        data["limits"] = {**data.get("limits", {}), **role_limits(plan)}
    data["devices"] = (
        [{"id": f"kiosk-{i + 1:02d}", "role": "kiosk"} for i in range(plan.kiosks)]
        + ([{"id": FLOOD_DEVICE, "role": "kiosk"}] if plan.flood_s > 0 else [])
        + [{"id": f"counter-{i + 1}", "role": "counter", "counter": str(i + 1)} for i in range(plan.counters)]
        + [{"id": f"rate-{i + 1}", "role": "rating", "counter": str(i + 1)} for i in range(plan.raters)]
    )
    data["rating"] = {"levels": LEVELS, "satisfied_min": 2, "reasons": REASONS}
    data["backend"] = {
        "url": f"http://{LOOPBACK}:{backend_port}/onestop",
        "token_env": TOKEN_ENV,
        "batch_size": 100,
        "timeout_s": 2.0,
        "backoff_base_s": 0.05,
        "backoff_max_s": 1.0,
    }
    return data


def role_limits(plan: ChaosPlan) -> dict[str, dict[str, float]]:
    """The site's ``[limits]``: each kiosk may issue twice its part of the day's rate (the flooding
    kiosk too: that is its share), counters and rating terminals far more than they need."""
    return {
        "kiosk": {"burst": 20, "per_minute": round(120 * plan.issue_rate / plan.kiosks)},
        "counter": {"burst": 30, "per_minute": 1200},
        "rating": {"burst": 10, "per_minute": 600},
    }


def flood_share(plan: ChaosPlan, kiosk: dict[str, float] | None, flood_s: float) -> int:
    """The most tickets the flooding kiosk may take in ``flood_s`` seconds of flood: a kiosk's burst
    and its rate over the flood and the time its last commands may still be decided (``give_up_s``).
    Without ``kiosk`` limits (a controller without them), the plan's figures."""
    tail = flood_s + (plan.give_up_s or 0.0) + 1.0
    if kiosk is None:
        return round(plan.flood_share_per_s * tail) + plan.flood_share_burst
    return int(kiosk["burst"] + kiosk["per_minute"] / 60.0 * tail)


# -- child processes -----------------------------------------------------------------------------


class Child:
    """One child process of the site (controller, hub or back end), restartable, supervised."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.log = log
        self.env = env
        self.lock = threading.RLock()
        self.proc: subprocess.Popen[bytes] | None = None
        #: False while a fault keeps it down on purpose (and after the final stop).
        self.should_run = False
        self.starts = 0
        #: Unix time of the last start.
        self.started_at = 0.0
        self.unexpected: list[dict[str, Any]] = []

    def start(self) -> None:
        """Start it (it must not be running)."""
        with self.lock:
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=self.env
                )
            self.should_run = True
            self.starts += 1
            self.started_at = time.time()

    def kill(self) -> None:
        """SIGKILL, as a power cut would; it stays down until :meth:`start`."""
        with self.lock:
            self.should_run = False
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM (SIGKILL if it does not exit in time); return its exit status."""
        with self.lock:
            self.should_run = False
            proc = self.proc
            if proc is None:
                return None
            stop_process(proc, timeout)
            return proc.returncode

    def supervise(self) -> None:
        """Restart it if it died without being told to (and remember that it did)."""
        with self.lock:
            if self.should_run and self.proc is not None and self.proc.poll() is not None:
                self.unexpected.append({"name": self.name, "status": self.proc.returncode, "at": time.time()})
                self.start()

    @property
    def pid(self) -> int | None:
        """Its pid while it runs."""
        with self.lock:
            return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


def child_env() -> dict[str, str]:
    """The environment of the site's processes: no device password, the repository importable."""
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return env


def find_libfaketime() -> str | None:
    """The path of libfaketime's multi-threaded library (Debian package ``libfaketime``), or None."""
    for pattern in ("/usr/lib/*/faketime/libfaketimeMT.so.1", "/usr/lib/faketime/libfaketimeMT.so.1",
                    "/usr/local/lib/faketime/libfaketimeMT.so.1"):  # fmt: skip
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return str(found[0])
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["dpkg", "-L", "libfaketime"], capture_output=True, text=True, timeout=10)
        for line in out.stdout.splitlines():
            if line.endswith("/libfaketimeMT.so.1"):
                return line
    return None


def faked_env(env: dict[str, str], lib: str, offset_file: Path) -> dict[str, str]:
    """``env`` with libfaketime preloaded: the wall clock offset by what ``offset_file`` says (read at
    every call, so the harness steps the clock of the running process), the monotonic clocks real."""
    out = dict(env)
    out["LD_PRELOAD"] = lib
    out["FAKETIME_TIMESTAMP_FILE"] = str(offset_file)
    out["FAKETIME_NO_CACHE"] = "1"
    out["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
    return out


def http_json(
    method: str, url: str, doc: dict[str, Any] | None = None, timeout: float = 5.0
) -> dict[str, Any]:
    """One JSON request to the reference back end's control API; its JSON answer."""
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        out: dict[str, Any] = json.loads(resp.read())
        return out


def poll(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        with contextlib.suppress(Exception):
            if predicate():
                return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(interval)


def log_lines(path: Path) -> list[str]:
    """The lines of a log file (none if it does not exist)."""
    try:
        return path.read_text("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def log_tail(path: Path, n: int = 30) -> str:
    """The last ``n`` lines of a log file."""
    return "\n".join(log_lines(path)[-n:])


def count_errors(path: Path) -> dict[str, int]:
    """How many ERROR, CRITICAL and Traceback lines a log file has."""
    out: Counter[str] = Counter()
    for line in log_lines(path):
        for word in ("CRITICAL", "ERROR", "Traceback"):
            if word in line:
                out[word] += 1
    return dict(out)


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """Live processes whose command line mentions ``text`` (read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = next(
                (ln for ln in (entry / "status").read_text().splitlines() if ln.startswith("State:")), ""
            )
        except OSError:
            continue
        if text in cmdline and "zombie" not in state:
            found.append((int(entry.name), cmdline.strip()))
    return found

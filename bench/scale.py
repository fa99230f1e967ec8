"""scale: one large site (500 counters, 50 kiosks) under load, with latency probes and memory budgets.

Processes, each on its own: Mosquitto, ``onestop controller``, ``onestop hub`` (ingesting the whole
event stream into its SQLite store), one real ``onestop counter`` agent, the load generators of
:mod:`bench.throughput` (raw paho clients in one selector loop per process) and one probe process.

- **Load**: every counter but the probes and the agent runs ``open`` once, then ``call_next`` /
  ``finish``; the 50 kiosks ``issue`` round-robin over 6 services. First a **flood**: each device keeps
  a bounded window of commands in flight, so ``durable_per_s`` (commands answered in the measured
  window; the controller commits before it replies) is the site's capacity, and the latencies are
  mostly the queue in front of a saturated controller (Little's law: in flight / rate). Then, on a
  fresh site, the same devices **paced** at ``paced_share`` of that capacity (each device one command
  every ``n_devices / rate`` seconds): the latencies of a busy site that keeps up (``paced``).
- **Probes**: ``probes`` counters of their own service (pre-filled with tickets by a probe kiosk, so
  that every probe call calls somebody) send one ``call_next`` every ``probe_interval`` seconds,
  paced, not flooding. For each call: publish → reply, publish → the counter's retained state shows
  the number (the counter LED), publish → the hall board (``state/board``, what the LED main board
  agent shows and the hub relays to TV boards) lists it. The board keeps the newest 10 calls, so a
  probe call pushed out by 10 newer calls of the same controller batch never shows: it is counted in
  ``board_missed``, not guessed.
- **Counter agent**: ``onestop counter --device counter-agent`` with a serial keypad on a real
  pseudo-terminal; the bench presses its "next" key every ``agent_press_s`` seconds during the run, so
  the agent sends real commands and follows its counter's state (it blinks on the state's ``calls``;
  no counter agent reads the site's event stream).
- **Memory**: VmRSS of every process from ``/proc/PID/status`` every 0.25 s (max and end of the run),
  and VmHWM (the kernel's peak). Budgets for Raspberry Pi-class devices: controller ≤ 60 MB and hub
  ≤ 150 MB under this load, a counter agent ≤ 40 MB after it has handled calls.
- **Hub**: how far behind the controller's event log it is when the load stops, how long it takes to
  catch up, and the response times of ``/api/dashboard`` and ``/api/state`` polled during the load.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import multiprocessing as mp
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import tty
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from bench import throughput
from bench.common import (
    LOOPBACK,
    BenchError,
    BenchSite,
    cpu_seconds,
    machine_info,
    summary_ms,
    wait_until,
)
from bench.throughput import SETUP_S, _Device, _Load, _receive, _split_devices
from hub_api.tokens import admin_token_path
from onestop.credentials import PASSWORD_ENV
from onestop.protocol import MONITOR_ID

NAME = "scale"
#: Resident memory budgets (MB) for Raspberry Pi-class hardware.
BUDGETS_MB = {"controller": 60.0, "counter_agent": 40.0, "hub": 150.0}
PROBE_SERVICE = ("mau", "Dịch vụ đo độ trễ", "Y")
PROBE_KIOSK = "kiosk-probe"
AGENT_DEVICE = "counter-agent"
RSS_EVERY_S = 0.25
#: The RSS of every process is also kept as a series, one value this often (seconds).
SERIES_EVERY_S = 2.0
HUB_START_S = 60.0
CATCH_UP_S = 120.0
HUB_POLL_S = 2.0


# -- memory ------------------------------------------------------------------------------------
def proc_status_kb(pid: int | None, key: str) -> int | None:
    """A ``kB`` field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``); None when the process is gone."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


class RssSampler:
    """Samples the RSS of named processes in a thread: max, last value and sample count per name."""

    def __init__(self, every_s: float = RSS_EVERY_S) -> None:
        self.every_s = every_s
        self.pids: dict[str, int] = {}
        self.max_kb: dict[str, int] = {}
        self.last_kb: dict[str, int] = {}
        self.samples: dict[str, int] = {}
        self.hwm_kb: dict[str, int] = {}
        self.first_kb: dict[str, int] = {}
        self.before_load_kb: dict[str, int] = {}
        self.series: dict[str, list[float]] = {}
        self._t0 = time.monotonic()
        self._next_series = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, name: str, pid: int | None) -> None:
        """Sample ``pid`` under ``name`` from now on."""
        if pid is not None:
            with self._lock:
                self.pids[name] = pid

    def start(self) -> None:
        """Start sampling."""
        self._thread.start()

    def sample(self) -> None:
        """Take one sample of every process now."""
        with self._lock:
            pids = dict(self.pids)
        now = time.monotonic() - self._t0
        keep = now >= self._next_series
        if keep:
            self._next_series = now + SERIES_EVERY_S
        for name, pid in pids.items():
            kb, hwm = proc_status_kb(pid, "VmRSS"), proc_status_kb(pid, "VmHWM")
            if kb is None:
                continue
            with self._lock:
                if hwm is not None:
                    self.hwm_kb[name] = hwm
                self.first_kb.setdefault(name, kb)
                if keep:
                    self.series.setdefault(name, []).append(round(kb / 1024, 1))
                self.max_kb[name] = max(kb, self.max_kb.get(name, 0))
                self.last_kb[name] = kb
                self.samples[name] = self.samples.get(name, 0) + 1

    def mark_before_load(self) -> None:
        """Sample now and keep the values as the RSS before the load (everything set up, idle)."""
        self.sample()
        with self._lock:
            self.before_load_kb = dict(self.last_kb)

    def stop(self) -> None:
        """Take a last sample and stop."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def report(self) -> dict[str, dict[str, Any]]:
        """Per process: pid, RSS (MB) at the first sample (just started), before the load (all set up),
        its max and its end, the kernel's peak (VmHWM at the last sample, MB), the samples and a series
        (one value every ``SERIES_EVERY_S``, from the start of the site)."""
        with self._lock:
            return {
                name: {
                    "pid": pid,
                    "rss_first_mb": _mb(self.first_kb.get(name)),
                    "rss_before_load_mb": _mb(self.before_load_kb.get(name)),
                    "rss_max_mb": _mb(self.max_kb.get(name)),
                    "rss_end_mb": _mb(self.last_kb.get(name)),
                    "hwm_mb": _mb(self.hwm_kb.get(name)),
                    "samples": self.samples.get(name, 0),
                    "series_mb": self.series.get(name, []),
                }
                for name, pid in self.pids.items()
            }


# -- the site ----------------------------------------------------------------------------------
def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Layout:
    """Which counters do what: load, probes and the agent's counter."""

    load: list[str]
    probes: list[str]
    agent: str
    services: list[str] = field(default_factory=list)


def site_data(
    counters: int, kiosks: int, services: int, probes: int, keypad_port: str, hub_port: int
) -> tuple[dict[str, Any], Layout]:
    """The throughput site of ``counters`` counters and ``kiosks`` kiosks, with the last ``probes + 1``
    counters moved to the probe service (the very last one run by the counter agent on a serial
    keypad at ``keypad_port``), a probe kiosk and a board device."""
    if counters < probes + 2:
        raise ValueError("counters must be at least probes + 2")
    data = throughput.site_data(counters, kiosks, services)
    data["hub"] = {"listen": f"{LOOPBACK}:{hub_port}", "public_url": f"http://{LOOPBACK}:{hub_port}"}
    sid, name, prefix = PROBE_SERVICE
    data["services"].append({"id": sid, "name": name, "prefix": prefix, "digits": 5, "avg_service_min": 6})
    ids = [c["id"] for c in data["counters"]]
    layout = Layout(
        load=ids[: counters - probes - 1],
        probes=ids[counters - probes - 1 : -1],
        agent=ids[-1],
        services=[s["id"] for s in data["services"] if s["id"] != sid],
    )
    for c in data["counters"]:
        if c["id"] in layout.probes or c["id"] == layout.agent:
            c["services"] = [sid]
    devices = [d for d in data["devices"] if d.get("counter") != layout.agent]
    officer = f"cb{int(layout.agent):03d}"
    devices += [
        {
            "id": AGENT_DEVICE,
            "role": "counter",
            "counter": layout.agent,
            "keys": {"backend": "serial", "port": keypad_port, "officer": officer, "guard_s": 0.2},
        },
        {"id": PROBE_KIOSK, "role": "kiosk", "services": [sid]},
        {"id": "board-probe", "role": "board"},
    ]
    data["devices"] = devices
    return data, layout


# -- the probe process -------------------------------------------------------------------------
class _Probe(_Load):
    """Probe counters calling at a steady pace, a kiosk that pre-fills their service, and a board
    watcher; in one selector loop like the load."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.interval: float = spec["interval"]
        self.counter_of: dict[str, str] = spec["counter_of"]
        self.next_due: dict[str, float] = {}
        self.calls: dict[tuple[str, str], tuple[int, int]] = {}
        self.board_seen: dict[tuple[str, str], int] = {}
        self.state_seen: dict[tuple[str, str], int] = {}
        self.null_calls = 0
        self.refused: dict[str, int] = {}
        self.board_messages = 0
        self.issued = 0

    def connect(self) -> None:
        """Connect, open the probe counters and issue ``prefill`` tickets of the probe service."""
        super().connect()
        kiosk = next(d for d in self.devices if d.role == "kiosk")
        left = int(self.spec["prefill"])
        deadline = time.monotonic() + SETUP_S
        while left or kiosk.sent:
            if time.monotonic() > deadline:
                raise BenchError("could not pre-fill the probe service")
            while left and len(kiosk.sent) < kiosk.window:
                self._send(kiosk, "issue", b'{"service":"%s"}' % self.spec["service"].encode())
                left -= 1
            self.pump(0.05)

    def _on_connect(self, c: paho.Client, dev: _Device, _f: Any, reason: Any, _p: Any) -> None:
        if dev.role != "board":
            super()._on_connect(c, dev, _f, reason, _p)
            return
        if reason.is_failure:
            raise BenchError(f"{dev.id}: the broker refused the connection: {reason}")
        topics = [(self.topics.board, 1)] + [(self.topics.counter_state(c_), 1) for c_ in self.spec["probes"]]
        c.subscribe(topics)

    def fill(self, dev: _Device) -> None:
        """Nothing: probes are paced by :meth:`pump`, not by their replies."""

    def pump(self, timeout: float) -> None:
        """Read what arrived, then send the probe calls that are due."""
        super().pump(min(timeout, 0.005))
        if not self.sending:
            return
        now = time.monotonic()
        probes = [d for d in self.devices if d.role == "counter"]
        for i, dev in enumerate(probes):
            due = self.next_due.setdefault(dev.id, now + i * self.interval / len(probes))
            if not dev.sent and now >= due:
                self._send(dev, "call_next", b"{}")
                self.next_due[dev.id] = max(due + self.interval, now)

    def _on_message(self, _c: paho.Client, dev: _Device, msg: paho.MQTTMessage) -> None:
        t = time.monotonic_ns()
        data = json.loads(msg.payload)
        if dev.role == "board":
            if msg.topic == self.topics.board:
                self.board_messages += 1
                for call in data.get("calls") or []:
                    self.board_seen.setdefault((str(call.get("counter")), str(call.get("number"))), t)
            elif data.get("serving"):
                self.state_seen.setdefault((str(data.get("counter")), str(data["serving"]["number"])), t)
            return
        sent = dev.sent.pop(str(data.get("id")).encode(), None)
        if sent is None:
            self.totals["duplicate_replies"] += 1
            return
        t_sent, op = sent
        ok = bool(data.get("ok"))
        if op == "open":
            self.setup_replies += 1
            if not ok:
                self.setup_errors.append(str(data.get("error")))
        elif op == "issue":
            self.issued += int(ok)
        elif not ok:
            code = str((data.get("error") or {}).get("code"))
            self.refused[code] = self.refused.get(code, 0) + 1
        elif (data.get("result") or {}).get("ticket") is None:
            self.null_calls += 1
        elif self.m0 <= t_sent < self.m1:
            number = str(data["result"]["ticket"]["number"])
            self.calls[(self.counter_of[dev.id], number)] = (t_sent, t)

    def result(self) -> dict[str, Any]:
        """Latency lists (ms) of the calls made in the measured window, and the counts."""
        reply, board, state = [], [], []
        for key, (t_sent, t_reply) in self.calls.items():
            reply.append((t_reply - t_sent) / 1e6)
            if key in self.board_seen:
                board.append((self.board_seen[key] - t_sent) / 1e6)
            if key in self.state_seen:
                state.append((self.state_seen[key] - t_sent) / 1e6)
        return {
            "calls": len(self.calls),
            "reply_ms": reply,
            "board_ms": board,
            "counter_state_ms": state,
            "board_missed": len(self.calls) - len(board),
            "counter_state_missed": len(self.calls) - len(state),
            "null_calls": self.null_calls,
            "refused": self.refused,
            "board_messages": self.board_messages,
            "prefilled": self.issued,
        }


def _serve(load: _Load, conn: Connection, result: Callable[[], dict[str, Any]]) -> None:
    """A load process: set up, say ready, run the schedule it is sent, report ``result()``."""
    try:
        load.connect()
        conn.send(("ready", len(load.devices)))
        if not conn.poll(SETUP_S):
            raise BenchError("no schedule from the parent")
        t_begin, m0, m1 = conn.recv()
        cpu0 = sum(os.times()[:2])
        load.run(t_begin, m0, m1)
        conn.send(("done", {**result(), "cpu_s": sum(os.times()[:2]) - cpu0}))
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        load.close()
        conn.close()


def probe_worker(conn: Connection, spec: dict[str, Any]) -> None:
    """Entry point of the probe process."""
    probe = _Probe(spec)
    _serve(probe, conn, probe.result)


class _Paced(_Load):
    """The load of :mod:`bench.throughput` at a fixed offered rate: each device sends its next command
    every ``period`` seconds (staggered), never more than its window in flight."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__(spec)
        self.period: float = spec["period"]
        self.heap: list[tuple[float, int]] = []

    def fill(self, dev: _Device) -> None:
        """Nothing: commands are sent on schedule by :meth:`pump`."""

    def pump(self, timeout: float) -> None:
        """Read what arrived, then send the commands that are due."""
        super().pump(min(timeout, 0.005))
        if not self.sending:
            return
        now = time.monotonic()
        if not self.heap and self.devices:
            n = len(self.devices)
            self.heap = [(now + i * self.period / n, i) for i in range(n)]
            heapq.heapify(self.heap)
        while self.heap and self.heap[0][0] <= now:
            due, i = heapq.heappop(self.heap)
            dev = self.devices[i]
            if len(dev.sent) < dev.window:  # the same command sequence as the throughput load
                if dev.role == "kiosk":
                    service = self.services[dev.seq % len(self.services)]
                    self._send(dev, "issue", b'{"service":"%s"}' % service.encode())
                else:
                    self._send(dev, "call_next" if dev.seq % 2 == 0 else "finish", b"{}")
            heapq.heappush(self.heap, (max(due + self.period, now - self.period), i))


def paced_worker(conn: Connection, spec: dict[str, Any]) -> None:
    """Entry point of a paced load process (the throughput worker's protocol and result)."""
    load = _Paced(spec)

    def result() -> dict[str, Any]:
        return {
            "counts": {op: dict(c) for op, c in load.counts.items()},
            "latencies_ms": load.latencies,
            "totals": dict(load.totals),
            "clients": len(load.devices),
        }

    _serve(load, conn, result)


# -- the hub and the agent as processes ---------------------------------------------------------
def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}


def start_hub(site: BenchSite, port: int) -> subprocess.Popen[bytes]:
    """``onestop hub`` on ``port``, returned once ``/healthz`` says it is connected to the broker."""
    argv = [
        sys.executable, "-m", "onestop", "hub", "--config", str(site.site_path),
        "--broker", f"{site.host}:{site.port}", "--db", str(site.dir / "hub.db"),
        "--listen", f"{LOOPBACK}:{port}", "--log-level", "WARNING",
    ]  # fmt: skip
    with open(site.dir / "hub.log", "ab") as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=_env()
        )
    site.adopt(proc)
    deadline = time.monotonic() + HUB_START_S
    while True:
        if proc.poll() is not None:
            raise BenchError(f"the hub exited while starting ({proc.returncode}); see {site.dir}/hub.log")
        with contextlib.suppress(OSError, ValueError):
            if http_json(port, "/healthz").get("broker_connected"):
                return proc
        if time.monotonic() > deadline:
            raise BenchError(f"the hub did not come up in {HUB_START_S:.0f} s")
        time.sleep(0.1)


def start_agent(site: BenchSite) -> subprocess.Popen[bytes]:
    """``onestop counter --device counter-agent`` (its keypad is the pseudo-terminal of the site file),
    returned once it has said it is online."""
    online = threading.Event()

    def seen(msg: paho.MQTTMessage) -> None:
        with contextlib.suppress(ValueError, AttributeError):
            if json.loads(msg.payload).get("online"):
                online.set()

    watcher = site.client(
        MONITOR_ID, subscriptions=[(site.topics.dev_status(AGENT_DEVICE), 1)], on_message=seen
    )
    try:
        argv = [
            sys.executable, "-m", "onestop", "counter", "--config", str(site.site_path),
            "--broker", f"{site.host}:{site.port}", "--device", AGENT_DEVICE, "--log-level", "WARNING",
        ]  # fmt: skip
        with open(site.dir / "agent.log", "ab") as out:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=_env()
            )
        site.adopt(proc)
        deadline = time.monotonic() + HUB_START_S
        while not online.wait(0.05):
            if proc.poll() is not None:
                raise BenchError(f"the counter agent exited while starting; see {site.dir}/agent.log")
            if time.monotonic() > deadline:
                raise BenchError(f"the counter agent did not come online in {HUB_START_S:.0f} s")
    finally:
        watcher.stop()
    return proc


def http_json(port: int, path: str, token: str | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """GET a JSON document from the hub."""
    req = urllib.request.Request(f"http://{LOOPBACK}:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        doc: dict[str, Any] = json.loads(r.read())
        return doc


def controller_last_seq(db: Path) -> int:
    """The last event seq the controller has committed (read-only look at its database)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return int(con.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])
    finally:
        con.close()


class AgentWatch:
    """Counts the distinct tickets the agent's counter has served (from its retained state)."""

    def __init__(self, site: BenchSite, counter: str) -> None:
        self.numbers: list[str] = []
        self.changed = threading.Event()
        self.client = site.client(
            MONITOR_ID, subscriptions=[(site.topics.counter_state(counter), 1)], on_message=self._on
        )

    def _on(self, msg: paho.MQTTMessage) -> None:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            serving = json.loads(msg.payload).get("serving")
            if serving and (not self.numbers or self.numbers[-1] != serving["number"]):
                self.numbers.append(serving["number"])
                self.changed.set()

    def stop(self) -> None:
        """Disconnect."""
        self.client.stop()


class HubPoller:
    """Polls ``/api/dashboard`` and ``/api/state`` during the load, as a dashboard and a board page do."""

    def __init__(self, port: int, token: str, every_s: float = HUB_POLL_S) -> None:
        self.port, self.token, self.every_s = port, token, every_s
        self.times: dict[str, list[float]] = {"/api/dashboard": [], "/api/state": []}
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-poller", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(60)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            for path, times in self.times.items():
                t0 = time.perf_counter()
                try:
                    http_json(self.port, path, self.token)
                except (OSError, ValueError) as exc:
                    self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                times.append((time.perf_counter() - t0) * 1000)

    def report(self) -> dict[str, Any]:
        """Response times per path (ms) and the errors."""
        out: dict[str, Any] = {p: summary_ms(t) if t else None for p, t in self.times.items()}
        out["errors"] = self.errors[:5]
        out["error_count"] = len(self.errors)
        return out


# -- the run -----------------------------------------------------------------------------------
def run(
    counters: int = 500,
    kiosks: int = 50,
    services: int = 6,
    *,
    duration: float = 20.0,
    warmup: float = 5.0,
    processes: int = 2,
    kiosk_window: int = 8,
    counter_window: int = 2,
    probes: int = 20,
    probe_interval: float = 0.5,
    agent_press_s: float = 1.0,
    paced_share: float = 0.5,
) -> dict[str, Any]:
    """Saturate the site (every load device keeps its window full) for ``warmup + duration`` seconds;
    then, unless ``paced_share`` is 0, run a fresh site at that share of the measured capacity (an
    offered rate, not a flood), where latencies are not just the queue of a saturated controller."""
    kw: dict[str, Any] = dict(
        duration=duration, warmup=warmup, processes=processes, kiosk_window=kiosk_window,
        counter_window=counter_window, probes=probes, probe_interval=probe_interval,
        agent_press_s=agent_press_s,
    )  # fmt: skip
    result = _phase(counters, kiosks, services, rate=None, **kw)
    if paced_share > 0:
        rate = round(result["durable_per_s"] * paced_share, 1)
        paced = _phase(counters, kiosks, services, rate=max(rate, 1.0), **kw)
        result["paced"] = {
            k: paced[k]
            for k in (
                "offered_per_s", "durable_per_s", "n", "errors", "latency_under_load", "call_latency",
                "memory", "cpu_share_in_window", "budgets", "hub", "counter_agent", "elapsed_s",
            )
        }  # fmt: skip
        result["paced"]["share_of_capacity"] = paced_share
        for name, b in result["budgets"].items():
            other = paced["budgets"][name]
            if (other["peak_mb"] or 0) > (b["peak_mb"] or 0):
                result["budgets"][name] = {**other, "phase": "paced"}
        result["pass"] = all(b["pass"] for b in result["budgets"].values())
        result["elapsed_s"] = round(result["elapsed_s"] + paced["elapsed_s"], 2)
    return result


def _phase(
    counters: int,
    kiosks: int,
    services: int,
    *,
    rate: float | None,
    duration: float,
    warmup: float,
    processes: int,
    kiosk_window: int,
    counter_window: int,
    probes: int,
    probe_interval: float,
    agent_press_s: float,
) -> dict[str, Any]:
    """One run on a fresh site: a flood (``rate`` None) or ``rate`` commands/s offered in total."""
    if duration <= 0 or warmup < 0 or processes < 1 or probes < 1 or probe_interval <= 0:
        raise ValueError("duration > 0, warmup >= 0, processes >= 1, probes >= 1, probe_interval > 0")
    started = time.monotonic()
    master, slave = os.openpty()
    tty.setraw(slave)
    hub_port = free_port()
    data, layout = site_data(counters, kiosks, services, probes, os.ttyname(slave), hub_port)
    prefill = math.ceil(probes * (warmup + duration + 5) / probe_interval * 1.2) + 50
    ctx = mp.get_context("spawn")
    rss = RssSampler()
    workers: list[tuple[Any, Connection]] = []
    poller: HubPoller | None = None
    watch: AgentWatch | None = None
    try:
        with BenchSite(data) as site:
            rss.watch("broker", site.broker.pid)
            rss.start()
            rss.watch("controller", site.start_controller())
            hub = start_hub(site, hub_port)
            rss.watch("hub", hub.pid)
            agent = start_agent(site)
            rss.watch("counter_agent", agent.pid)
            watch = AgentWatch(site, layout.agent)
            load_data = {**data, "devices": [d for d in data["devices"] if d.get("counter") in layout.load]}
            load_data["devices"] += [
                d for d in data["devices"] if d["role"] == "kiosk" and d["id"] != PROBE_KIOSK
            ]
            specs = _split_devices(site, load_data, processes, layout.services, kiosk_window, counter_window)
            for spec in specs:  # each device once every ``period``: ``rate`` commands/s in all
                spec["period"] = len(load_data["devices"]) / rate if rate else None
            specs.append(_probe_spec(site, data, layout, probe_interval, prefill))
            load_target = paced_worker if rate else throughput.load_worker
            for i, spec in enumerate(specs):
                target = probe_worker if i == len(specs) - 1 else load_target
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=target, args=(child, spec), daemon=True)
                proc.start()
                child.close()
                workers.append((proc, parent))
                rss.watch("probe" if target is probe_worker else f"load_generator_{i + 1}", proc.pid)
            for proc, conn in workers:
                msg = _receive(conn, proc, SETUP_S * 2, site)
                if msg[0] != "ready":
                    raise BenchError(f"a load process failed to set up: {msg[1]}")
            token = admin_token_path(site.cfg).read_text().strip()
            poller = HubPoller(hub_port, token)
            rss.mark_before_load()
            t_begin = time.monotonic() + 0.1
            m0, m1 = t_begin + warmup, t_begin + warmup + duration
            for _proc, conn in workers:
                conn.send((t_begin, m0, m1))
            poller.start()
            presses = _press_keys(master, t_begin, m1, agent_press_s)
            wait_until(m0)
            cpu0 = {n: cpu_seconds(p) for n, p in rss.pids.items()}
            wait_until(m1)
            cpu1 = {n: cpu_seconds(p) for n, p in rss.pids.items()}
            poller.stop()
            hub_lag = _hub_lag(site, hub_port)
            results = []
            for proc, conn in workers:
                msg = _receive(conn, proc, throughput.DRAIN_S + 30, site)
                if msg[0] != "done":
                    raise BenchError(f"a load process failed: {msg[1]}")
                results.append(msg[1])
            site.check_controller()
            if agent.poll() is not None:
                raise BenchError(f"the counter agent exited ({agent.returncode}); see {site.dir}/agent.log")
            hub_lag.update(_catch_up(site, hub_port))
            rss.stop()
            agent_calls = len(watch.numbers)
            memory = rss.report()
            watch.stop()  # before the broker stops with the site
            watch = None
            cpu = {
                n: round(b - a, 2)
                for n, a in cpu0.items()
                if a is not None and (b := cpu1.get(n)) is not None
            }
    finally:
        rss.stop()
        if watch is not None:
            watch.stop()
        if poller is not None:
            poller.stop()
        for proc, conn in workers:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()
        for fd in (master, slave):
            with contextlib.suppress(OSError):
                os.close(fd)
    probe, load_results = results[-1], results[:-1]
    load = throughput._report(
        load_results,
        counters=len(layout.load),
        kiosks=kiosks,
        services=services,
        duration=duration,
        warmup=warmup,
        processes=processes,
        kiosk_window=kiosk_window,
        counter_window=counter_window,
        controller_cpu=None,
        broker_cpu=None,
        elapsed=0.0,
    )
    return _report(
        load, probe, memory, cpu, hub_lag, poller.report() if poller else {},
        counters=counters, kiosks=kiosks, services=services, layout=layout, duration=duration,
        warmup=warmup, probe_interval=probe_interval, presses=presses, agent_calls=agent_calls,
        elapsed=time.monotonic() - started, rate=rate,
    )  # fmt: skip


def _probe_spec(
    site: BenchSite, data: dict[str, Any], layout: Layout, interval: float, prefill: int
) -> dict[str, Any]:
    devices: list[tuple[str, str, str, str | None]] = []
    counter_of = {}
    for d in data["devices"]:
        if d.get("counter") in layout.probes:
            devices.append((d["id"], "counter", site.passwords[d["id"]], f"cb{int(d['counter']):03d}"))
            counter_of[d["id"]] = d["counter"]
        elif d["id"] in (PROBE_KIOSK, "board-probe"):
            devices.append((d["id"], d["role"], site.passwords[d["id"]], None))
    return {
        "host": site.host,
        "port": site.port,
        "site": site.cfg.site.id,
        "services": [PROBE_SERVICE[0]],
        "service": PROBE_SERVICE[0],
        "kiosk_window": 24,
        "counter_window": 1,
        "devices": devices,
        "counter_of": counter_of,
        "probes": layout.probes,
        "interval": interval,
        "prefill": prefill,
    }


def _press_keys(master: int, t_begin: float, m1: float, every_s: float) -> list[float]:
    """Press the agent's "next" key (code ``1``) every ``every_s`` from ``t_begin`` to ``m1``, in a thread."""
    presses: list[float] = []

    def press() -> None:
        t = t_begin
        while t < m1:
            wait_until(t)
            with contextlib.suppress(OSError):
                os.write(master, b"1")
                presses.append(time.monotonic())
            t += every_s

    threading.Thread(target=press, name="agent-keys", daemon=True).start()
    return presses


def _hub_lag(site: BenchSite, port: int) -> dict[str, Any]:
    """How many events the hub is behind the controller at the end of the window."""
    ctl = controller_last_seq(site.dir / "controller.db")
    hub = int(http_json(port, "/healthz")["last_seq"])
    return {"controller_last_seq_at_end": ctl, "hub_last_seq_at_end": hub, "lag_events_at_end": ctl - hub}


def _catch_up(site: BenchSite, port: int) -> dict[str, Any]:
    """Once the load has stopped: how long the hub takes to store every event the controller has."""
    t0 = time.monotonic()
    target = controller_last_seq(site.dir / "controller.db")
    while time.monotonic() - t0 < CATCH_UP_S:
        if int(http_json(port, "/healthz")["last_seq"]) >= target:
            return {"caught_up_s": round(time.monotonic() - t0, 2), "final_seq": target}
        time.sleep(0.1)
    return {"caught_up_s": None, "final_seq": target}


def _budgets(memory: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, limit in BUDGETS_MB.items():
        m = memory.get(name) or {}
        peak = max((v for v in (m.get("rss_max_mb"), m.get("hwm_mb")) if v is not None), default=None)
        out[name] = {"limit_mb": limit, "peak_mb": peak, "pass": peak is not None and peak <= limit}
    return out


def _report(
    load: dict[str, Any],
    probe: dict[str, Any],
    memory: dict[str, dict[str, Any]],
    cpu: dict[str, float],
    hub_lag: dict[str, Any],
    hub_api: dict[str, Any],
    **kw: Any,
) -> dict[str, Any]:
    layout: Layout = kw["layout"]
    budgets = _budgets(memory)
    duration = kw["duration"]
    return {
        "name": NAME,
        "unit": "commands/s",
        "load": "flood: every load device keeps its window full" if kw["rate"] is None else "paced",
        "offered_per_s": kw["rate"],
        "durable_per_s": load["durable_per_s"],
        "n": load["n"],
        "window_s": duration,
        "warmup_s": kw["warmup"],
        "errors": load["errors"],
        "by_op": load["by_op"],
        "latency_under_load": load["latency_under_load"],
        "totals": load["totals"],
        "call_latency": {
            "probe_counters": len(layout.probes),
            "interval_s": kw["probe_interval"],
            "calls": probe["calls"],
            "reply": summary_ms(probe["reply_ms"]) if probe["reply_ms"] else None,
            "counter_state": summary_ms(probe["counter_state_ms"]) if probe["counter_state_ms"] else None,
            "board": summary_ms(probe["board_ms"]) if probe["board_ms"] else None,
            "board_missed": probe["board_missed"],
            "counter_state_missed": probe["counter_state_missed"],
            "null_calls": probe["null_calls"],
            "refused": probe["refused"],
            "board_messages": probe["board_messages"],
            "what": "call_next publish -> reply / counter state shows the number / state/board lists it",
        },
        "memory": memory,
        "cpu_s_in_window": cpu,
        "cpu_share_in_window": {n: round(c / duration, 3) for n, c in cpu.items()},
        "budgets": budgets,
        "hub": {**hub_lag, "api_under_load": hub_api},
        "counter_agent": {
            "device": AGENT_DEVICE,
            "key_presses": len(kw["presses"]),
            "tickets_called": kw["agent_calls"],
            "reads": "its counter's state (not the event stream)",
        },
        "site": {
            "counters": kw["counters"],
            "load_counters": len(layout.load),
            "probe_counters": len(layout.probes),
            "agent_counter": layout.agent,
            "kiosks": kw["kiosks"],
            "services": kw["services"],
            "load_generator": load["load_generator"],
            "kiosk_window": load["site"]["kiosk_window"],
            "counter_window": load["site"]["counter_window"],
        },
        "pass": all(b["pass"] for b in budgets.values()),
        "elapsed_s": round(kw["elapsed"], 2),
        "machine": machine_info(),
    }

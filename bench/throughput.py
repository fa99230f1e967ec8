"""throughput: durable commands per second with a whole large site working at once.

A generated site of 200 counters and 20 kiosks (a handful of services, each counter serving one or two).
Every device is its own MQTT connection (its account may publish only on its own topic) with a bounded
window of commands in flight: kiosks ``issue``, counters ``open`` once and then ``call_next`` /
``finish`` in a loop. A command is durable once the controller answered it, ``ok`` or refused: the
controller commits before it replies. The count is taken over a fixed window after a warm-up.

The load generator drives the raw paho clients from one selector loop per process (no thread per
client), spread over ``processes`` processes so that it can use the second core.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import selectors
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.common import BenchError, BenchSite, base_site, cpu_seconds, machine_info, summary_ms, wait_until
from onestop.protocol import Topics

NAME = "throughput"
TARGET_PER_S = 1000.0
SERVICE_NAMES = [
    ("tuphap", "Tư pháp - Hộ tịch"),
    ("datdai", "Đất đai"),
    ("dkkd", "Đăng ký kinh doanh"),
    ("xaydung", "Xây dựng"),
    ("laodong", "Lao động - Thương binh và Xã hội"),
    ("giaothong", "Giao thông vận tải"),
    ("tainguyen", "Tài nguyên - Môi trường"),
    ("yte", "Y tế"),
]
#: How long devices may take to connect, subscribe and open their counters.
SETUP_S = 60.0
#: After the window, how long the generator waits for the replies still in flight.
DRAIN_S = 10.0


def site_data(counters: int, kiosks: int, services: int) -> dict[str, Any]:
    """A site of ``services`` services, ``counters`` counters (1-2 services each, one device and one
    officer each) and ``kiosks`` kiosks offering every service."""
    if not 1 <= services <= len(SERVICE_NAMES):
        raise ValueError(f"services must be 1..{len(SERVICE_NAMES)}")
    data = base_site("bench-throughput")
    svc = SERVICE_NAMES[:services]
    data["services"] = [
        {"id": sid, "name": name, "prefix": chr(ord("A") + i), "digits": 5, "avg_service_min": 6}
        for i, (sid, name) in enumerate(svc)
    ]
    data["counters"] = []
    for i in range(counters):
        served = [svc[i % services][0]]
        if i % 2 and services > 1:
            served.append(svc[(i + 1) % services][0])
        data["counters"].append(
            {"id": str(i + 1), "label": f"Quầy {i + 1}", "services": served, "policy": "fifo"}
        )
    data["officers"] = [{"id": f"cb{i + 1:03d}", "name": f"Cán bộ {i + 1}"} for i in range(counters)]
    data["devices"] = [{"id": f"kiosk-{i + 1:02d}", "role": "kiosk"} for i in range(kiosks)] + [
        {"id": f"counter-{i + 1}", "role": "counter", "counter": str(i + 1)} for i in range(counters)
    ]
    return data


def run(
    counters: int = 200,
    kiosks: int = 20,
    services: int = 6,
    *,
    duration: float = 10.0,
    warmup: float = 3.0,
    processes: int = 2,
    kiosk_window: int = 24,
    counter_window: int = 4,
) -> dict[str, Any]:
    """Run the load for ``warmup + duration`` seconds and return the result of the measured window."""
    if duration <= 0 or warmup < 0 or processes < 1 or kiosk_window < 1 or counter_window < 1:
        raise ValueError("duration > 0, warmup >= 0, processes, kiosk_window and counter_window >= 1")
    started = time.monotonic()
    data = site_data(counters, kiosks, services)
    service_ids = [s["id"] for s in data["services"]]
    ctx = mp.get_context("spawn")
    with BenchSite(data) as site:
        controller_pid = site.start_controller()
        specs = _split_devices(site, data, processes, service_ids, kiosk_window, counter_window)
        workers: list[tuple[Any, Connection]] = []
        try:
            for spec in specs:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=load_worker, args=(child, spec), daemon=True)
                proc.start()
                child.close()
                workers.append((proc, parent))
            for proc, conn in workers:
                msg = _receive(conn, proc, SETUP_S, site)
                if msg[0] != "ready":
                    raise BenchError(f"a load process failed to set up: {msg[1]}")
            t_begin = time.monotonic() + 0.1
            m0, m1 = t_begin + warmup, t_begin + warmup + duration
            for _proc, conn in workers:
                conn.send((t_begin, m0, m1))
            wait_until(m0)
            cpu_ctl0, cpu_broker0 = cpu_seconds(controller_pid), cpu_seconds(site.broker.pid)
            wait_until(m1)
            cpu_ctl1, cpu_broker1 = cpu_seconds(controller_pid), cpu_seconds(site.broker.pid)
            results = []
            for proc, conn in workers:
                msg = _receive(conn, proc, DRAIN_S + 30, site)
                if msg[0] != "done":
                    raise BenchError(f"a load process failed: {msg[1]}")
                results.append(msg[1])
            site.check_controller()
        finally:
            for proc, conn in workers:
                proc.join(5)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
                conn.close()
    return _report(
        results,
        counters=counters,
        kiosks=kiosks,
        services=services,
        duration=duration,
        warmup=warmup,
        processes=processes,
        kiosk_window=kiosk_window,
        counter_window=counter_window,
        controller_cpu=_diff(cpu_ctl0, cpu_ctl1),
        broker_cpu=_diff(cpu_broker0, cpu_broker1),
        elapsed=time.monotonic() - started,
    )


def _diff(a: float | None, b: float | None) -> float | None:
    return round(b - a, 3) if a is not None and b is not None else None


def _receive(conn: Connection, proc: Any, timeout: float, site: BenchSite) -> tuple[str, Any]:
    """The next message of a load process, or :class:`BenchError` when it dies or stays silent."""
    deadline = time.monotonic() + timeout
    while not conn.poll(0.2):
        site.check_controller()
        if not proc.is_alive():
            raise BenchError(f"a load process exited ({proc.exitcode})")
        if time.monotonic() > deadline:
            raise BenchError(f"a load process said nothing in {timeout:.0f} s")
    msg: tuple[str, Any] = conn.recv()
    return msg


def _split_devices(
    site: BenchSite,
    data: dict[str, Any],
    processes: int,
    service_ids: list[str],
    kiosk_window: int,
    counter_window: int,
) -> list[dict[str, Any]]:
    """Deal the devices round-robin over the load processes."""
    specs: list[dict[str, Any]] = [
        {
            "host": site.host,
            "port": site.port,
            "site": site.cfg.site.id,
            "services": service_ids,
            "kiosk_window": kiosk_window,
            "counter_window": counter_window,
            "devices": [],
        }
        for _ in range(processes)
    ]
    for i, dev in enumerate(data["devices"]):
        officer = f"cb{int(dev['counter']):03d}" if dev["role"] == "counter" else None
        specs[i % processes]["devices"].append((dev["id"], dev["role"], site.passwords[dev["id"]], officer))
    return specs


def _report(results: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    by_code: Counter[str] = Counter()
    by_op: dict[str, Counter[str]] = {}
    latencies: list[float] = []
    totals: Counter[str] = Counter()
    gen_cpu = []
    for r in results:
        for op, codes in r["counts"].items():
            by_op.setdefault(op, Counter()).update(codes)
            by_code.update(codes)
        latencies.extend(r["latencies_ms"])
        totals.update(r["totals"])
        gen_cpu.append(r["cpu_s"])
    durable = sum(by_code.values())
    duration = kw["duration"]
    rate = durable / duration
    ctl_cpu = kw["controller_cpu"]
    return {
        "name": NAME,
        "n": durable,
        "unit": "commands/s",
        "durable_per_s": round(rate, 1),
        "window_s": duration,
        "warmup_s": kw["warmup"],
        "errors": {code: n for code, n in sorted(by_code.items()) if code != "ok"},
        "by_code": dict(sorted(by_code.items())),
        "by_op": {op: dict(sorted(c.items())) for op, c in sorted(by_op.items())},
        "latency_under_load": summary_ms(latencies) if latencies else None,
        "totals": dict(totals),
        "controller_cpu_s": ctl_cpu,
        "controller_cpu_share": round(ctl_cpu / duration, 3) if ctl_cpu is not None else None,
        "controller_cpu_ms_per_command": round(ctl_cpu / durable * 1000, 3) if ctl_cpu and durable else None,
        "broker_cpu_s": kw["broker_cpu"],
        "load_generator": {
            "processes": kw["processes"],
            "cpu_s_per_process": [round(c, 3) for c in gen_cpu],
            "clients": sum(r["clients"] for r in results),
            "driver": "raw paho clients, one selector loop per process, no thread per client",
            "subscriptions": "each device subscribes to its own reply topic only",
        },
        "site": {
            "counters": kw["counters"],
            "kiosks": kw["kiosks"],
            "services": kw["services"],
            "kiosk_window": kw["kiosk_window"],
            "counter_window": kw["counter_window"],
            "counter_loop": "open once, then call_next, finish, call_next, ...",
        },
        "target": {"durable_per_s_min": TARGET_PER_S},
        "pass": rate >= TARGET_PER_S,
        "elapsed_s": round(kw["elapsed"], 2),
        "machine": machine_info(),
    }


# -- the load process -------------------------------------------------------------------------


@dataclass
class _Device:
    id: str
    role: str
    officer: str | None
    cmd_topic: str
    client: paho.Client
    window: int
    ready: bool = False
    seq: int = 0
    sent: dict[bytes, tuple[int, str]] = field(default_factory=dict)


class _Load:
    """Every device of one load process, driven from one selector loop."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.topics = Topics(spec["site"])
        self.services: list[str] = spec["services"]
        self.sel = selectors.DefaultSelector()
        self.devices: list[_Device] = []
        self.dirty: list[_Device] = []
        self.sending = False
        self.m0 = self.m1 = 0
        self.counts: dict[str, Counter[str]] = {}
        self.latencies: list[float] = []
        self.totals: Counter[str] = Counter()
        self.setup_replies = 0
        self.setup_errors: list[str] = []

    # -- set-up ------------------------------------------------------------------------------
    def connect(self) -> None:
        for dev_id, role, password, officer in self.spec["devices"]:
            c = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{dev_id}-bench-{os.getpid()}",
                protocol=MQTTProtocolVersion.MQTTv5,
            )
            c.username_pw_set(dev_id, password)
            c.max_inflight_messages_set(1000)
            window = self.spec["kiosk_window"] if role == "kiosk" else self.spec["counter_window"]
            dev = _Device(dev_id, role, officer, self.topics.dev_cmd(dev_id), c, window)
            c.user_data_set(dev)
            c.on_connect = self._on_connect
            c.on_subscribe = self._on_subscribe
            c.on_message = self._on_message
            c.connect(self.spec["host"], self.spec["port"], keepalive=60)
            sock = c.socket()
            if sock is None:
                raise BenchError(f"{dev_id}: no socket after connect")
            self.sel.register(sock, selectors.EVENT_READ, dev)
            self.devices.append(dev)
        self.pump_until(lambda: all(d.ready for d in self.devices), SETUP_S, "connect")
        counters = [d for d in self.devices if d.role == "counter"]
        for d in counters:
            self._send(d, "open", b'{"officer":"%s"}' % d.officer.encode() if d.officer else b"{}")
        self.pump_until(lambda: self.setup_replies == len(counters), SETUP_S, "open the counters")
        if self.setup_errors:
            raise BenchError(f"open refused: {Counter(self.setup_errors)}")

    def _on_connect(self, c: paho.Client, dev: _Device, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            raise BenchError(f"{dev.id}: the broker refused the connection: {reason}")
        c.subscribe(self.topics.dev_reply(dev.id), qos=1)

    def _on_subscribe(self, _c: paho.Client, dev: _Device, _mid: int, reasons: list[Any], _p: Any) -> None:
        if reasons[0].is_failure:
            raise BenchError(f"{dev.id} may not subscribe to its reply topic: {reasons[0]}")
        dev.ready = True

    # -- the loop ----------------------------------------------------------------------------
    def pump(self, timeout: float) -> None:
        """Read what arrived, then refill the windows of the devices that got replies."""
        for key, _mask in self.sel.select(timeout):
            c = key.data.client
            c.loop_read()
            if c.want_write():
                c.loop_write()
        dirty, self.dirty = self.dirty, []
        if self.sending:
            for dev in dirty:
                self.fill(dev)

    def pump_until(self, done: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        last_misc = time.monotonic()
        while not done():
            if time.monotonic() > deadline:
                raise BenchError(f"could not {what} in {timeout:.0f} s")
            self.pump(0.05)
            if time.monotonic() - last_misc > 1.0:
                last_misc = time.monotonic()
                for d in self.devices:
                    d.client.loop_misc()

    def run(self, t_begin: float, m0: float, m1: float) -> None:
        self.m0, self.m1 = int(m0 * 1e9), int(m1 * 1e9)
        wait_until(t_begin)
        self.sending = True
        for dev in self.devices:
            self.fill(dev)
        self.pump_until(lambda: time.monotonic() >= m1, m1 - time.monotonic() + 5, "run the load")
        self.sending = False
        with contextlib.suppress(BenchError):
            self.pump_until(lambda: all(not d.sent for d in self.devices), DRAIN_S, "drain")
        self.totals["unanswered_at_end"] = sum(len(d.sent) for d in self.devices)

    def fill(self, dev: _Device) -> None:
        while len(dev.sent) < dev.window:
            if dev.role == "kiosk":
                service = self.services[dev.seq % len(self.services)]
                self._send(dev, "issue", b'{"service":"%s"}' % service.encode())
            else:
                self._send(dev, "call_next" if dev.seq % 2 == 0 else "finish", b"{}")

    def _send(self, dev: _Device, op: str, args: bytes) -> None:
        dev.seq += 1
        cid = b"%d" % dev.seq
        dev.sent[cid] = (time.monotonic_ns(), op)
        dev.client.publish(
            dev.cmd_topic, b'{"id":"%s","op":"%s","args":%s}' % (cid, op.encode(), args), qos=1
        )
        self.totals["sent"] += 1

    def _on_message(self, _c: paho.Client, dev: _Device, msg: paho.MQTTMessage) -> None:
        t = time.monotonic_ns()
        payload = bytes(msg.payload)
        # The controller writes {"id":"...","ok":...} compactly, id first.
        end = payload.find(b'"', 7)
        cid = payload[7:end]
        sent = dev.sent.pop(cid, None)
        if sent is None:
            self.totals["duplicate_replies"] += 1
            return
        t_sent, op = sent
        self.totals["answered"] += 1
        if payload.startswith(b'"ok":true', end + 2):
            code = "ok"
        else:
            code = str(json.loads(payload).get("error", {}).get("code", "?"))
        if op == "open":
            self.setup_replies += 1
            if code != "ok":
                self.setup_errors.append(code)
        elif self.m0 <= t < self.m1:
            self.counts.setdefault(op, Counter())[code] += 1
            self.latencies.append((t - t_sent) / 1e6)
        self.dirty.append(dev)

    def close(self) -> None:
        for d in self.devices:
            with contextlib.suppress(Exception):
                d.client.disconnect()
                if d.client.want_write():
                    d.client.loop_write()
        self.sel.close()


def load_worker(conn: Connection, spec: dict[str, Any]) -> None:
    """Entry point of one load process: set up, say ready, run the schedule it is sent, report."""
    load = _Load(spec)
    try:
        load.connect()
        conn.send(("ready", len(load.devices)))
        if not conn.poll(SETUP_S):
            raise BenchError("no schedule from the parent")
        t_begin, m0, m1 = conn.recv()
        cpu0 = sum(os.times()[:2])
        load.run(t_begin, m0, m1)
        cpu = sum(os.times()[:2]) - cpu0
        conn.send(
            (
                "done",
                {
                    "counts": {op: dict(c) for op, c in load.counts.items()},
                    "latencies_ms": load.latencies,
                    "totals": dict(load.totals),
                    "cpu_s": cpu,
                    "clients": len(load.devices),
                },
            )
        )
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        load.close()
        conn.close()

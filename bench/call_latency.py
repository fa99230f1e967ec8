"""call_latency: from a counter's ``call_next`` leaving the device to the ``state/board`` update arriving.

One counter calls, one call at a time (closed loop), with the queue stocked beforehand by a kiosk, so
every call calls somebody. The board update that belongs to a call is the one whose ``calls[0]`` is the
number the reply named. The controller runs as its own process (``python -m onestop controller``).

Beside it, on the same broker, the bare-broker floor: a client publishes (QoS 1), an echo client in
its own process republishes each message (QoS 1) on another topic, a subscriber receives it. The ratio
of the two says what the controller adds over two broker hops.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from functools import partial
from typing import Any

import paho.mqtt.client as paho

from bench._echo import PASSWORD_ENV as ECHO_PASSWORD_ENV
from bench.common import BenchError, BenchSite, base_site, cpu_seconds, machine_info, summary_ms
from onestop.device import DeviceClient
from onestop.mqtt import MqttClient
from onestop.protocol import CONTROLLER_ID, MONITOR_ID

NAME = "call_latency"
TARGET_RATIO_P50 = 3.0
KIOSK = "kiosk-01"
COUNTER = "counter-1"
COUNTER_ID = "1"
BOARD = "board-1"
PROBE = "probe-1"
OFFICER = "cb001"
#: Longest wait for any one reply or board update before the benchmark gives up.
STEP_TIMEOUT_S = 10.0
ISSUE_WINDOW = 64


def site_data() -> dict[str, Any]:
    """One service, one counter, a kiosk, a board, and a probe device for the floor."""
    data = base_site("bench-latency")
    data["services"] = [{"id": "tuphap", "name": "Tư pháp - Hộ tịch", "prefix": "A", "digits": 5}]
    data["counters"] = [{"id": COUNTER_ID, "label": "Quầy 1", "services": ["tuphap"], "policy": "fifo"}]
    data["officers"] = [{"id": OFFICER, "name": "Nguyễn Thị Lan"}]
    data["devices"] = [
        {"id": KIOSK, "role": "kiosk"},
        {"id": COUNTER, "role": "counter", "counter": COUNTER_ID},
        {"id": BOARD, "role": "board"},
        {"id": PROBE, "role": "board"},
    ]
    return data


def run(
    n: int = 2000,
    warmup: int = 100,
    *,
    echo_process: bool = True,
    device_nodelay: bool = False,
    max_seconds: float = 600.0,
) -> dict[str, Any]:
    """Measure ``n`` calls (after ``warmup`` unmeasured ones) and ``n`` floor round trips; return the result.

    ``device_nodelay`` sets TCP_NODELAY on the sockets of the benchmark's own clients (the counter, the
    board, the floor's publisher and subscriber): an experiment that takes the devices' Nagle delay
    out of the figure, leaving the controller's own cost. The controller is never changed.
    """
    if n < 1 or warmup < 0:
        raise ValueError("n must be >= 1 and warmup >= 0")
    started = time.monotonic()
    deadline = started + max_seconds
    with BenchSite(site_data()) as site:
        # The floor first, before the controller starts: its echo uses the controller's account
        # (the only one that may write another device's reply), and the broker binds client ids to
        # accounts, so the two cannot be connected at once.
        floor = measure_floor(
            site, n, warmup, echo_process=echo_process, nodelay=device_nodelay, deadline=deadline
        )
        pid = site.start_controller()
        issue_tickets(site, n + warmup, deadline=deadline)
        cpu0 = cpu_seconds(pid)
        calls, replies = measure_calls(site, n, warmup, nodelay=device_nodelay, deadline=deadline)
        cpu1 = cpu_seconds(pid)
        site.check_controller()
    call = summary_ms(calls)
    floor_s = summary_ms(floor)
    ratio_p50 = call["p50_ms"] / floor_s["p50_ms"]
    ratio_p99 = call["p99_ms"] / floor_s["p99_ms"]
    return {
        "name": NAME,
        "n": n,
        "warmup": warmup,
        "unit": "ms",
        **{k: v for k, v in call.items() if k != "count"},
        "reply": summary_ms(replies),
        "floor": floor_s,
        "ratio_p50": round(ratio_p50, 3),
        "ratio_p99": round(ratio_p99, 3),
        "target": {"ratio_p50_max": TARGET_RATIO_P50},
        "pass": ratio_p50 <= TARGET_RATIO_P50,
        "controller_cpu_s_per_call": (
            round((cpu1 - cpu0) / (n + warmup) * 1000, 3) if cpu0 is not None and cpu1 is not None else None
        ),
        "setup": {
            "controller": "separate process (python -m onestop controller), SQLite on disk",
            "floor_echo": "separate process (python -m bench._echo)" if echo_process else "in-process thread",
            "call_path": f"{COUNTER} cmd -> controller -> retained state/board -> {BOARD}",
            "floor_path": (
                f"{PROBE} publish QoS 1 -> echo ({CONTROLLER_ID}) republish QoS 1 -> {MONITOR_ID} "
                f"(reading {PROBE}'s reply)"
            ),
            "device_tcp_nodelay": device_nodelay,
            "loop": "closed: one call (or probe) in flight at a time",
            "order": "floor first (the controller not yet started), then the calls, on the same broker",
            "reply": "figures of the call_next reply as the counter device saw it (beside the board)",
        },
        "elapsed_s": round(time.monotonic() - started, 2),
        "machine": machine_info(),
    }


# -- the floor --------------------------------------------------------------------------------


def measure_floor(
    site: BenchSite, n: int, warmup: int, *, echo_process: bool, nodelay: bool, deadline: float
) -> list[float]:
    """Round trips publisher -> echo -> subscriber, one at a time; milliseconds of the last ``n``."""
    t_in, t_out = site.topics.dev_health(PROBE), site.topics.dev_reply(PROBE)
    got: dict[int, int] = {}
    cond = threading.Condition()

    def on_message(msg: paho.MQTTMessage) -> None:
        t = time.perf_counter_ns()
        seq = int(json.loads(msg.payload)["id"])
        with cond:
            got[seq] = t
            cond.notify_all()

    # Two connections, as before; one account has one connection, so the reader is the monitor.
    sub = site.client(MONITOR_ID, subscriptions=[(t_out, 1)], on_message=on_message)
    pub = site.client(PROBE)
    if nodelay:
        set_nodelay(sub.paho, pub.paho)
    echo: MqttClient | None = None
    proc: subprocess.Popen[bytes] | None = None
    try:
        if echo_process:
            proc = start_echo(site, t_in, t_out)
        else:

            def republish(msg: paho.MQTTMessage) -> None:
                assert echo is not None
                echo.publish(t_out, msg.payload, qos=1)

            echo = site.client(CONTROLLER_ID, subscriptions=[(t_in, 1)], on_message=republish)
        out: list[float] = []
        for i in range(warmup + n):
            _check_deadline(deadline)
            payload = b'{"id":"%d","op":"probe","args":{}}' % i
            t0 = time.perf_counter_ns()
            pub.publish(t_in, payload, qos=1)
            with cond:
                if not cond.wait_for(partial(got.__contains__, i), STEP_TIMEOUT_S):
                    raise BenchError(f"floor: message {i} did not come back in {STEP_TIMEOUT_S} s")
                t1 = got.pop(i)
            if i >= warmup:
                out.append((t1 - t0) / 1e6)
        return out
    finally:
        if echo is not None:
            echo.stop()
        pub.stop()
        sub.stop()
        if proc is not None:
            _stop_echo(proc)


def start_echo(site: BenchSite, t_in: str, t_out: str) -> subprocess.Popen[bytes]:
    """Start the echo process and return once it is subscribed."""
    env = {**os.environ, ECHO_PASSWORD_ENV: site.passwords[CONTROLLER_ID]}
    argv = [
        sys.executable, "-m", "bench._echo", "--host", site.host, "--port", str(site.port),
        "--user", CONTROLLER_ID, "--in", t_in, "--out", t_out, "--max-seconds", "900",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    site.adopt(proc)
    stdout = proc.stdout
    assert stdout is not None
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(30.0)
    if not line or line[0].strip() != b"ready":
        raise BenchError(f"the echo process did not get ready: {line[0] if line else b'(no answer)'!r}")
    return proc


def _stop_echo(proc: subprocess.Popen[bytes]) -> None:
    """Close its stdin (it then disconnects and exits); the site kills it if it does not."""
    if proc.stdin is not None:
        proc.stdin.close()
    try:
        proc.wait(5.0)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the calls --------------------------------------------------------------------------------


def issue_tickets(site: BenchSite, count: int, *, deadline: float) -> list[str]:
    """Issue ``count`` tickets through the kiosk, ``ISSUE_WINDOW`` in flight; return their numbers."""
    reply_topic = site.topics.dev_reply(KIOSK)
    cond = threading.Condition()
    outstanding: set[str] = set()
    numbers: list[str] = []
    errors: list[str] = []

    def on_message(msg: paho.MQTTMessage) -> None:
        reply = json.loads(msg.payload)
        with cond:
            if reply["id"] not in outstanding:
                return
            outstanding.discard(reply["id"])
            if reply.get("ok"):
                numbers.append(reply["result"]["ticket"]["number"])
            else:
                errors.append(reply["error"]["code"])
            cond.notify_all()

    kiosk = site.client(KIOSK, subscriptions=[(reply_topic, 1)], on_message=on_message)
    try:
        cmd_topic = site.topics.dev_cmd(KIOSK)
        for i in range(count):
            _check_deadline(deadline)
            cid = f"issue-{i}"
            with cond:
                if not cond.wait_for(lambda: len(outstanding) < ISSUE_WINDOW, STEP_TIMEOUT_S):
                    raise BenchError(f"issue: no reply in {STEP_TIMEOUT_S} s ({site.log_tail(5)})")
                outstanding.add(cid)
            kiosk.publish(cmd_topic, {"id": cid, "op": "issue", "args": {"service": "tuphap"}})
        with cond:
            if not cond.wait_for(lambda: not outstanding, STEP_TIMEOUT_S):
                raise BenchError(f"issue: {len(outstanding)} replies missing after {STEP_TIMEOUT_S} s")
    finally:
        kiosk.stop()
    if errors:
        raise BenchError(f"issue refused {len(errors)} times: {sorted(set(errors))}")
    return numbers


def measure_calls(
    site: BenchSite, n: int, warmup: int, *, nodelay: bool, deadline: float
) -> tuple[list[float], list[float]]:
    """``warmup + n`` closed-loop calls; milliseconds to the board update and to the reply, last ``n``."""
    seen: dict[str, int] = {}
    cond = threading.Condition()

    def on_board(msg: paho.MQTTMessage) -> None:
        t = time.perf_counter_ns()
        if msg.topic != site.topics.board:
            return
        calls = json.loads(msg.payload).get("calls") or []
        if calls:
            with cond:
                seen.setdefault(calls[0]["number"], t)
                cond.notify_all()

    board = DeviceClient(
        site.cfg.site.id,
        BOARD,
        "board",
        password=site.passwords[BOARD],
        extra_subscriptions=[(site.topics.board, 1)],
        on_message=on_board,
        host=site.host,
        port=site.port,
    )
    counter = DeviceClient(
        site.cfg.site.id, COUNTER, "counter", password=site.passwords[COUNTER], host=site.host, port=site.port
    )
    board.start()
    try:
        counter.start()
        try:
            if nodelay:
                set_nodelay(board.mqtt.paho, counter.mqtt.paho)
            counter.request("open", {"officer": OFFICER}, timeout=STEP_TIMEOUT_S, retries=0)
            to_board: list[float] = []
            to_reply: list[float] = []
            for i in range(warmup + n):
                _check_deadline(deadline)
                t0 = time.perf_counter_ns()
                result = counter.request("call_next", timeout=STEP_TIMEOUT_S, retries=0)
                t_reply = time.perf_counter_ns()
                ticket = result.get("ticket")
                if not ticket:
                    raise BenchError(f"call {i}: nobody was waiting (the queue was not stocked)")
                number = ticket["number"]
                with cond:
                    if not cond.wait_for(partial(seen.__contains__, number), STEP_TIMEOUT_S):
                        raise BenchError(f"call {i}: no board update for {number} in {STEP_TIMEOUT_S} s")
                    t_board = seen.pop(number)
                if i >= warmup:
                    to_board.append((t_board - t0) / 1e6)
                    to_reply.append((t_reply - t0) / 1e6)
            return to_board, to_reply
        finally:
            counter.stop()
    finally:
        board.stop()


def set_nodelay(*clients: paho.Client) -> None:
    """Turn Nagle's algorithm off on the connected sockets of these clients."""
    for c in clients:
        sock = c.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


def _check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise BenchError("the benchmark ran out of time")

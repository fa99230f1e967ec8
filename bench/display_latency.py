"""Latency of a call reaching the hall: the counter's LED frame on its serial port, and the voice WAV.

For each call a counter device publishes ``call_next`` (t0). Measured on one monotonic clock, in one
process: the ``ticket.called`` event reaching an independent subscriber (t_event); the first Modbus
frame carrying the new number arriving at the far end of a real pseudo-terminal, where a fake
display answers like a real one (t_led); the announcer's finished WAV starting to play on the
simulated speaker (t_wav). Figures are given from t0 (press to hall) and from t_event.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import tty
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as paho

from bench.common import LOOPBACK, BenchError, BenchSite, base_site, cpu_seconds, summary_ms
from device_drivers.display import make_display
from device_drivers.display.checksums import crc16_modbus
from device_drivers.keys.sim import SimKeypad
from display_agents.announcer_agent import AnnouncerAgent
from display_agents.counter_agent import CounterAgent
from display_agents.keys_logic import KeyRules
from onestop.device import DeviceClient
from onestop.protocol import MONITOR_ID

NAME = "display_latency"
#: The device whose commands the benchmark sends for counter 1 (the agent runs as counter-1).
CLERK = "clerk-1"


class FakeModbusDisplay:
    """The far end of the counter display's serial line: reads RTU frames, answers, timestamps them."""

    def __init__(self, fd: int, slave: int = 1) -> None:
        self.fd = fd
        self.slave = slave
        self.frames: list[tuple[float, bytes]] = []
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-display", daemon=True)

    def start(self) -> FakeModbusDisplay:
        """Start answering."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering."""
        self._stop.set()
        self._thread.join(2)

    def text_frames_after(self, t0: float) -> list[tuple[float, str]]:
        """(arrival, text) of every 0x10 frame after ``t0``."""
        with self.cond:
            return [(t, _text(f)) for t, f in self.frames if t >= t0 and f[1] == 0x10]

    def _run(self) -> None:
        buf = bytearray()
        os.set_blocking(self.fd, False)
        while not self._stop.is_set():
            try:
                chunk = os.read(self.fd, 512)
            except BlockingIOError:
                self._stop.wait(0.0005)
                continue
            except OSError:
                return
            now = time.monotonic()
            buf += chunk
            while len(buf) >= 8:
                size = 9 + buf[6] if buf[1] == 0x10 else 8
                if len(buf) < size:
                    break
                frame, buf = bytes(buf[:size]), buf[size:]
                with self.cond:
                    self.frames.append((now, frame))
                    self.cond.notify_all()
                answer = frame[:6]  # 0x10 answers address..quantity; 0x06 echoes address..value
                os.write(self.fd, answer + crc16_modbus(answer).to_bytes(2, "little"))


def _text(frame: bytes) -> str:
    """The ASCII text of a write-registers frame of the ``counter-ascii`` profile."""
    data = frame[7:-2]
    return "".join(chr(data[i + 1]) for i in range(0, len(data), 2) if data[i + 1]).strip()


@contextlib.contextmanager
def _stopping(agents: list[Any]) -> Iterator[None]:
    """Stop ``agents`` (newest first) before the site and its broker go away."""
    try:
        yield
    finally:
        for a in reversed(agents):
            a.stop()


def site_data(port_path: str) -> dict[str, Any]:
    """One service, one counter whose display is Modbus on ``port_path``, a kiosk and an announcer."""
    data = base_site("bench-display")
    data["services"] = [{"id": "tuphap", "name": "Tư pháp - Hộ tịch", "prefix": "A", "digits": 3}]
    data["counters"] = [{"id": "1", "label": "Quầy 1", "services": ["tuphap"]}]
    data["devices"] = [
        {"id": "kiosk-1", "role": "kiosk"},
        {"id": "counter-1", "role": "counter", "counter": "1",
         "display": {"backend": "modbus", "port": port_path, "baudrate": 115200, "profile": "counter-ascii",
                     "timeout": 0.5}},
        {"id": "announcer-1", "role": "announcer", "audio": {"backend": "sim"}},
        # The benchmark's clerk sends the calls of counter 1 on a connection of its own: counter-1's
        # account is the agent's, and one account has one connection.
        {"id": CLERK, "role": "counter", "counter": "1"},
    ]  # fmt: skip
    return data


def run(n: int = 200) -> dict[str, Any]:
    """Measure ``n`` calls; return the JSON-ready result."""
    master, slave_fd = os.openpty()
    tty.setraw(slave_fd)
    fake = FakeModbusDisplay(master).start()
    events: dict[str, float] = {}
    ev_cond = threading.Condition()
    agents: list[Any] = []
    try:
        with BenchSite(site_data(os.ttyname(slave_fd))) as site, _stopping(agents):
            ctl_pid = site.start_controller()
            cfg = site.cfg.model_copy(
                update={"broker": site.cfg.broker.model_copy(update={"port": site.port})}
            )

            def on_event(msg: paho.MQTTMessage) -> None:
                ev = json.loads(msg.payload)
                if ev.get("type") == "ticket.called":
                    with ev_cond:
                        events[ev["data"]["ticket"]["number"]] = time.monotonic()
                        ev_cond.notify_all()

            agents.append(
                site.client(MONITOR_ID, subscriptions=[(site.topics.events, 1)], on_message=on_event)
            )
            led = make_display(cfg.device("counter-1").display)
            keys = SimKeypad()
            password = site.passwords["counter-1"]
            counter = CounterAgent(
                cfg, "counter-1", password, keypad=keys, display=led, rules=KeyRules(guard_s=0)
            )
            announcer = AnnouncerAgent(cfg, "announcer-1", site.passwords["announcer-1"])
            for a in (counter, announcer):
                a.start()
                agents.append(a)
            clerk = DeviceClient(cfg.site.id, CLERK, "counter", host=LOOPBACK, port=site.port,
                                 password=site.passwords[CLERK])  # fmt: skip
            kiosk = DeviceClient(cfg.site.id, "kiosk-1", "kiosk", host=LOOPBACK, port=site.port,
                                 password=site.passwords["kiosk-1"])  # fmt: skip
            clerk.start()
            kiosk.start()
            agents += [clerk, kiosk]
            for _ in range(n + 10):
                kiosk.send("issue", {"service": "tuphap"})
            kiosk.request("issue", {"service": "tuphap"})
            clerk.request("open")
            audio = announcer.audio
            led_press, led_event, wav_press, wav_event, build = [], [], [], [], []
            cpu0 = cpu_seconds(ctl_pid)
            for i in range(n):
                played_before = len(audio.played)  # type: ignore[attr-defined]
                t0 = time.monotonic()
                number = clerk.request("call_next")["ticket"]["number"]

                def heard(number: str = number) -> bool:
                    return number in events

                with ev_cond:
                    if not ev_cond.wait_for(heard, 10):
                        raise BenchError(f"no ticket.called event for {number}")
                    t_event = events[number]

                def shown(number: str = number, t0: float = t0) -> bool:
                    return any(txt == number for _, txt in fake.text_frames_after(t0))

                with fake.cond:
                    if not fake.cond.wait_for(shown, 10):
                        raise BenchError(f"the LED never showed {number}")
                t_led = next(t for t, txt in fake.text_frames_after(t0) if txt == number)
                if not audio.wait_played(played_before + 1, timeout=20):  # type: ignore[attr-defined]
                    raise BenchError(f"no announcement for {number}")
                clip = audio.played[played_before]  # type: ignore[attr-defined]
                led_press.append((t_led - t0) * 1000)
                led_event.append((t_led - t_event) * 1000)
                wav_press.append((clip.started - t0) * 1000)
                wav_event.append((clip.started - t_event) * 1000)
                if i % 50 == 0:
                    t = time.perf_counter()
                    announcer.builder.build_call(f"B{i:03d}", "1", "digits", "north", 2)  # never built before
                    build.append((time.perf_counter() - t) * 1000)
            cpu1 = cpu_seconds(ctl_pid)
    finally:
        fake.stop()
        os.close(master)
        os.close(slave_fd)
    return {
        "name": NAME,
        "n": n,
        "unit": "ms",
        "led_from_press": summary_ms(led_press),
        "led_from_event": summary_ms(led_event),
        "wav_ready_from_press": summary_ms(wav_press),
        "wav_ready_from_event": summary_ms(wav_event),
        "wav_build_uncached_ms": summary_ms(build),
        "controller_cpu_ms_per_call": round((cpu1 - cpu0) / n * 1000, 3)
        if cpu0 is not None and cpu1
        else None,
        "setup": {
            "led": "counter agent → Modbus RTU 0x10 frame (counter-ascii, 115200 baud) on a real pty; a fake "
            "display answers each frame",
            "voice": "announcer agent → chime + sentence ×2 joined into one WAV (espeak-ng vi clips) → sim "
            "speaker; 'ready' = the WAV starts playing",
            "clock": "one process, time.monotonic",
            "note": "the LED can be ahead of the event: the controller publishes the counter's state first",
        },
    }

"""The counter agent: a clerk's call keys and the counter's LED display, as one device.

``onestop counter --config site.toml --device counter-1``. Keys become protocol commands for the
counter bound to the device in ``site.toml``; the display follows the counter's retained state and
blinks when a number is called (recalls included). One command at a time: a press while the
previous command is still on its way is ignored, so a clerk can never call two citizens at once.

The agent reads only its own counter's state (and its replies), never the site's event stream: the
state's ``calls`` grows by one on every call and recall of the counter, and the display blinks when
it changes (:class:`CallWatch`, the rule is in docs/protocol.md, "Counter state").
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqttc

from device_drivers.display import LedDisplay, make_display
from device_drivers.keys import KeyEvent, Keypad, open_keypad
from display_agents.keys_logic import KeyInterpreter, KeyRules
from display_agents.led_format import counter_display_text
from onestop import sdnotify
from onestop.config import SiteConfig
from onestop.device import CommandFailed, DeviceClient, NoReply
from onestop.protocol import Topics, iso

log = logging.getLogger("onestop.counter")

#: What the counter display shows while the counter is closed (or before its state is known).
CLOSED_TEXT = "----"

#: Key action → protocol op (``pause`` toggles, ``next`` opens a closed counter first).
OPS = {"next": "call_next", "recall": "recall", "skip": "skip", "finish": "finish", "transfer": "transfer"}


class CallWatch:
    """Decides, state after state, whether the counter has called (or recalled) a number.

    It compares the ``calls`` of each counter state with the last one seen. The first state seen
    only sets the baseline: it says how many calls there were before the agent started, not that
    one just happened (the broker's retained copy, or the controller republishing after a restart).
    After that, any change is a call (not only a greater value: a replaced site database starts
    lower): a reconnect keeps the memory, so calls made while the agent was offline blink once it is
    back. A controller restart republishes the same ``calls``: no blink. A state without ``calls``
    (an older controller) never blinks."""

    def __init__(self) -> None:
        self.seen: int | None = None

    def feed(self, state: Mapping[str, Any]) -> bool:
        """Take one counter state; True when it shows a call the agent has not seen yet."""
        calls = state.get("calls")
        if not isinstance(calls, int) or isinstance(calls, bool):
            return False
        called = self.seen is not None and calls != self.seen
        self.seen = calls
        return called


class CounterAgent:
    """``start()``, then ``stop()``. Hardware comes from the device's ``keys`` and ``display`` tables
    unless given (tests pass simulators)."""

    def __init__(
        self,
        cfg: SiteConfig,
        device_id: str,
        password: str,
        *,
        keypad: Keypad | None = None,
        display: LedDisplay | None = None,
        blink_s: float = 5.0,
        rules: KeyRules | None = None,
    ) -> None:
        dev = cfg.device(device_id)
        if dev.role != "counter" or dev.counter is None:
            raise ValueError(f"{device_id} is a {dev.role} device, not a counter")
        self.cfg = cfg
        self.device_id = device_id
        self.counter = dev.counter
        params = dev.keys.params if dev.keys else {}
        self.officer: str | None = params.get("officer")
        self.transfer_to: str | None = params.get("transfer_to")
        rules = rules or KeyRules(
            debounce_s=float(params.get("debounce_s", 0.03)),
            hold_s=float(params.get("hold_s", 1.2)),
            guard_s=float(params.get("guard_s", 1.5)),
        )
        self.keys = KeyInterpreter(rules)
        self.keypad = keypad or open_keypad(dev.keys.backend if dev.keys else "sim", params)
        self.display = display or make_display(
            dev.display.model_dump() if dev.display else {"backend": "sim"}
        )
        self.blink_s = blink_s
        topics = Topics(cfg.site.id)
        self._topic_state = topics.counter_state(self.counter)
        self.client = DeviceClient(
            cfg.site.id,
            device_id,
            "counter",
            host=cfg.broker.host,
            port=cfg.broker.port,
            password=password,
            tls_ca=cfg.broker_ca,
            # Its own counter's state only: the event stream would bring every call of the site.
            extra_subscriptions=[(self._topic_state, 1)],
            on_message=self._on_message,
        )
        self.state: dict[str, Any] | None = None
        self.calls = CallWatch()
        self._actions: queue.Queue[str | None] = queue.Queue()
        self._keys_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._blink_until = 0.0
        self._threads: list[threading.Thread] = []
        self.busy = False
        self._busy_lock = threading.Lock()
        self.idle = threading.Event()  # set each time a command has been answered (for tests)
        self.sent: list[str] = []  # ops sent, in order (for the operator log and tests)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Open the hardware, connect, and start acting on keys."""
        self.display.open()
        self.display.show_number(CLOSED_TEXT)
        self.keypad.open(self._on_key)
        for target, name in ((self._run_actions, "actions"), (self._run_timers, "timers")):
            th = threading.Thread(target=target, name=f"{self.device_id}-{name}", daemon=True)
            th.start()
            self._threads.append(th)
        self.client.start(wait=connect_timeout)
        self._health()

    def stop(self) -> None:
        """Stop acting, release the hardware and disconnect."""
        self._stopping.set()
        self._actions.put(None)
        self._wake.set()
        for th in self._threads:
            th.join(5)
        self.keypad.close()
        self.client.stop()
        self.display.close()

    # -- keys ------------------------------------------------------------------------------
    def _on_key(self, ev: KeyEvent) -> None:
        with self._keys_lock:
            actions = self.keys.feed(ev)
        for a in actions:
            self._submit(a)
        self._wake.set()  # a key went down: the timer thread must watch for a hold

    def _submit(self, action: str) -> None:
        with self._busy_lock:
            if self.busy:
                log.info("%s: %s ignored, the previous command is still on its way", self.device_id, action)
                return
            self.busy = True
        self._actions.put(action)

    def _run_timers(self) -> None:
        watchdog = sdnotify.Watchdog.from_env()  # None unless systemd asked for pings
        while not self._stopping.is_set():
            if watchdog:
                watchdog.ping()
            with self._keys_lock:
                deadline = self.keys.next_deadline()
            now = time.monotonic()
            waits = [d - now for d in (deadline, self._blink_until or None) if d is not None]
            self._wake.wait(max(0.0, min(waits)) if waits else 1.0)
            self._wake.clear()
            now = time.monotonic()
            with self._keys_lock:
                due = self.keys.poll(now)
            for a in due:
                self._submit(a)
            if self._blink_until and now >= self._blink_until:
                self._blink_until = 0.0
                self._render(blink=False)

    def _run_actions(self) -> None:
        while True:
            action = self._actions.get()
            if action is None:
                return
            try:
                self._act(action)
            except CommandFailed as exc:
                log.warning("%s: %s refused: %s", self.device_id, action, exc)
            except NoReply as exc:
                log.error("%s: %s: %s", self.device_id, action, exc)
            finally:
                with self._busy_lock:
                    self.busy = False
                self.idle.set()

    def _act(self, action: str) -> None:
        status = (self.state or {}).get("status", "closed")
        if action == "pause":
            self._send("resume" if status == "paused" else "pause")
            return
        if action == "next":
            if status == "closed":
                self._send("open", {"officer": self.officer} if self.officer else {})
            elif status == "paused":
                self._send("resume")
        if action == "transfer":
            if not self.transfer_to:
                log.warning("%s: the transfer key has no target (set keys.transfer_to)", self.device_id)
                return
            self._send("transfer", {"service": self.transfer_to})
            return
        self._send(OPS[action])

    def _send(self, op: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        self.sent.append(op)
        return self.client.request(op, args or {}, timeout=5.0, retries=2)

    # -- display ---------------------------------------------------------------------------
    def _on_message(self, msg: mqttc.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if msg.topic != self._topic_state or not isinstance(data, dict):
            return
        self.state = data
        if self.calls.feed(data):
            self._blink_until = time.monotonic() + self.blink_s
            self._render(blink=True)
            self._wake.set()
        else:
            self._render(blink=bool(self._blink_until))

    def _render(self, blink: bool) -> None:
        text = counter_display_text(self.state, closed=CLOSED_TEXT) if self.state else CLOSED_TEXT
        try:
            self.display.show_number(text, blink=blink)
        except Exception as exc:  # a display fault must not stop the keys
            log.error("%s: display failed: %s", self.device_id, exc)
            self._health(display=f"error: {exc}")

    def _health(self, display: str = "ok") -> None:
        payload = {"keys": "ok", "display": display, "ts": iso(datetime.now(UTC))}
        self.client.mqtt.publish(self.client.topics.dev_health(self.device_id), payload, retain=True)

"""The LED main board of the hall: ``onestop board --config site.toml --device board-hall``.

It shows the last calls (number and counter) and, on rows left over, the waiting count per
service, from the controller's retained ``state/board``.

The display is driven by a thread of its own (the MQTT network thread only hands it the latest
state), so a display that hangs never stalls the broker connection; that thread beats the agent's
:class:`~onestop.sdnotify.Heartbeat`, so under systemd a hung display stops the watchdog pings.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqttc

from device_drivers.display import LedDisplay, make_display
from display_agents.led_format import board_lines
from onestop import sdnotify
from onestop.config import SiteConfig
from onestop.device import DeviceClient
from onestop.protocol import iso

log = logging.getLogger("onestop.board")


class BoardAgent:
    """``start()``, then ``stop()``."""

    def __init__(
        self, cfg: SiteConfig, device_id: str, password: str, *, display: LedDisplay | None = None,
        liveness: sdnotify.Liveness | None = None,
    ) -> None:  # fmt: skip
        dev = cfg.device(device_id)
        if dev.role != "board":
            raise ValueError(f"{device_id} is a {dev.role} device, not a board")
        self.device_id = device_id
        default = {"backend": "sim", "rows": 6, "cols": 16, "charset": "ascii"}
        self.display = display or make_display(dev.display.model_dump() if dev.display else default)
        self.client = DeviceClient(
            cfg.site.id, device_id, "board", host=cfg.broker.host, port=cfg.broker.port, password=password,
            tls_ca=cfg.broker_ca, on_message=self._on_message,
        )  # fmt: skip
        self.topic = self.client.topics.board
        self.client.mqtt.settings.subscriptions.append((self.topic, 1))
        #: The process's watchdog pings: sent only while the display loop makes progress.
        self.liveness = liveness or sdnotify.Liveness.from_env()
        self._latest: dict[str, Any] | None = None
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._heartbeat: sdnotify.Heartbeat | None = None

    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Open the display, start the display loop and connect."""
        self.display.open()
        self._stopping.clear()
        self._heartbeat = self.liveness.heartbeat(f"{self.device_id} display loop")
        self._thread = threading.Thread(
            target=self._run, args=(self._heartbeat,), name="board-display", daemon=True
        )
        self._thread.start()
        self.client.start(wait=connect_timeout)
        self.client.mqtt.publish(
            self.client.topics.dev_health(self.device_id),
            {"display": "ok", "ts": iso(datetime.now(UTC))},
            retain=True,
        )

    def stop(self) -> None:
        """Disconnect, end the display loop and close the display."""
        self.client.stop()
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._heartbeat is not None:
            self._heartbeat.close()
            self._heartbeat = None
        self.display.close()

    def _on_message(self, msg: mqttc.MQTTMessage) -> None:
        if msg.topic != self.topic:
            return
        try:
            state = json.loads(msg.payload)
        except ValueError as exc:
            log.error("%s: cannot read the board state: %s", self.device_id, exc)
            return
        self._latest = state  # only the latest counts: a slow display skips the states in between
        self._changed.set()

    def _run(self, heartbeat: sdnotify.Heartbeat) -> None:
        """The display loop: show each new state; beat on every turn, idle ones included."""
        while not self._stopping.is_set():
            if not heartbeat.wait(self._changed, None):
                continue
            self._changed.clear()
            state = self._latest
            if self._stopping.is_set() or state is None:
                continue
            try:
                i = self.display.info
                self.display.show(board_lines(state, i.rows, i.cols, i.charset))
            except Exception as exc:  # a bad payload or a display fault must not stop the agent
                log.error("%s: cannot show the board: %s", self.device_id, exc)
            heartbeat.beat()

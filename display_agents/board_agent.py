"""The LED main board of the hall: ``onestop board --config site.toml --device board-hall``.

It shows the last calls (number and counter) and, on rows left over, the waiting count per
service, from the controller's retained ``state/board``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import paho.mqtt.client as mqttc

from device_drivers.display import LedDisplay, make_display
from display_agents.led_format import board_lines
from onestop.config import SiteConfig
from onestop.device import DeviceClient
from onestop.protocol import iso

log = logging.getLogger("onestop.board")


class BoardAgent:
    """``start()``, then ``stop()``."""

    def __init__(
        self, cfg: SiteConfig, device_id: str, password: str, *, display: LedDisplay | None = None
    ) -> None:
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

    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Open the display and connect."""
        self.display.open()
        self.client.start(wait=connect_timeout)
        self.client.mqtt.publish(
            self.client.topics.dev_health(self.device_id),
            {"display": "ok", "ts": iso(datetime.now(UTC))},
            retain=True,
        )

    def stop(self) -> None:
        """Disconnect and close the display."""
        self.client.stop()
        self.display.close()

    def _on_message(self, msg: mqttc.MQTTMessage) -> None:
        if msg.topic != self.topic:
            return
        try:
            state = json.loads(msg.payload)
            i = self.display.info
            lines = board_lines(state, i.rows, i.cols, i.charset)
            self.display.show(lines)
        except Exception as exc:  # a bad payload or a display fault must not stop the agent
            log.error("%s: cannot show the board: %s", self.device_id, exc)

"""The rating terminal's shell: the MQTT device, its subscriptions and its health.

:class:`RatingDevice` is the :class:`~kiosk_app.rating.viewmodel.RatingBackend` of the view-model:
it sends ``rate`` through :class:`~onestop.device.DeviceClient` (retries keep the command id, so a
lost reply never records a second rating). It feeds the view-model its counter's retained
``state/counter/{id}`` and the ``events`` stream (a device may read both), and publishes a small
retained health message (``{"screen": "ok", "showing": "idle", "ts": ...}``) on start and every
``[kiosk] health_s`` seconds. Presence is the device client's retained status with its Last Will.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho

from kiosk_app.rating.viewmodel import RatingViewModel
from onestop.config import SiteConfig
from onestop.device import DeviceClient, NoReply
from onestop.protocol import Topics, iso

log = logging.getLogger("onestop.rating")


class RatingDevice:
    """One rating terminal: ``start()``, use :attr:`vm`, ``stop()``."""

    def __init__(
        self,
        cfg: SiteConfig,
        device_id: str,
        password: str,
        *,
        host: str | None = None,
        port: int | None = None,
        request_timeout_s: float = 3.0,
        retries: int = 1,
        clock: Callable[[], float] = time.monotonic,
        guard_s: float = 1.0,
        health_s: float | None = None,
    ) -> None:
        dev = cfg.device(device_id)
        if dev.role != "rating" or dev.counter is None:
            raise ValueError(f"{device_id} is a {dev.role} device, not a rating terminal of a counter")
        self.cfg = cfg
        self.device_id = device_id
        self.request_timeout_s = request_timeout_s
        self.retries = retries
        self.health_s = float(health_s if health_s is not None else cfg.kiosk.health_s)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        topics = Topics(cfg.site.id)
        self._state_topic = topics.counter_state(dev.counter)
        self._events_topic = topics.events
        self.client = DeviceClient(
            cfg.site.id,
            device_id,
            "rating",
            host=host or cfg.broker.host,
            port=port or cfg.broker.port,
            password=password,
            keepalive=cfg.broker.keepalive_s,
            tls_ca=cfg.broker_ca,
            extra_subscriptions=[(self._state_topic, 1), (self._events_topic, 1)],
            on_message=self._on_message,
        )
        self.vm = RatingViewModel(
            cfg, device_id, self, clock=clock, connected=self.connected, guard_s=guard_s
        )
        #: The latest health message published.
        self.health: dict[str, Any] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Connect (and keep reconnecting), publish health now and every ``health_s`` seconds."""
        self.client.mqtt.on_connect_hooks.append(lambda _session: self._connected())
        self.client.start(wait=connect_timeout)
        paho_client = self.client.mqtt.paho
        on_disconnect = paho_client.on_disconnect

        def disconnected(*args: Any) -> None:
            if on_disconnect is not None:
                on_disconnect(*args)
            self.vm.check_connection()

        paho_client.on_disconnect = disconnected
        th = threading.Thread(target=self._health_loop, name=f"{self.device_id}-health", daemon=True)
        th.start()
        self._threads.append(th)

    def stop(self) -> None:
        """Stop the health loop and disconnect (saying offline)."""
        self._stop.set()
        for th in self._threads:
            th.join(5)
        self.client.stop()

    def connected(self) -> bool:
        """True while the broker connection is up."""
        return self.client.mqtt.connected.is_set()

    def _connected(self) -> None:
        self.vm.check_connection()
        self.publish_health()

    # -- the backend of the view-model -----------------------------------------------------
    def rate(
        self, score: int, reasons: Sequence[str], comment: str, command_id: str, ticket: str | None = None
    ) -> dict[str, Any]:
        """Send ``rate`` and return its result (same command id on every retry)."""
        if not self.connected():
            raise NoReply("rate: not connected to the broker")
        args: dict[str, Any] = {"score": score}
        if ticket:
            args["ticket"] = ticket  # the controller refuses it if another visit ended since
        if reasons:
            args["reasons"] = list(reasons)
        if comment:
            args["comment"] = comment
        return self.client.request(
            "rate", args, timeout=self.request_timeout_s, retries=self.retries, command_id=command_id
        )

    # -- health ----------------------------------------------------------------------------
    def publish_health(self) -> dict[str, Any]:
        """Publish ``{"screen": "ok", "showing", "ts"}`` on the retained ``dev/{id}/health`` topic."""
        payload: dict[str, Any] = {"screen": "ok", "showing": self.vm.screen, "ts": iso(datetime.now(UTC))}
        self.health = payload
        if self.connected():
            self.client.mqtt.publish(self.client.topics.dev_health(self.device_id), payload, retain=True)
        return payload

    def _health_loop(self) -> None:
        while not self._stop.wait(self.health_s):
            try:
                self.publish_health()
            except Exception:
                log.exception("%s: health failed", self.device_id)

    # -- MQTT ------------------------------------------------------------------------------
    def _on_message(self, msg: paho.MQTTMessage) -> None:
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if msg.topic == self._state_topic:
            self.vm.on_counter_state(data)
        elif msg.topic == self._events_topic:
            self.vm.on_event(data)

"""The voice announcer: ``onestop announcer --config site.toml --device announcer-hall``.

On every live ``ticket.called`` event (recalls too) it queues a call: a chime, then "Xin mời công
dân có số thứ tự … đến quầy số …", said ``[announcer] repeat`` times, never overlapping another.
When calls pile up they are joined (``[announcer] join_max``) and said once each, and none is
dropped unheard unless hundreds wait (docs/voice.md); an announcer with ``counters`` says only the
calls of its zone. What it did is in its health message (``calls``: announced, joined, replaced,
dropped), which the dashboard turns into an alert when a call was dropped. Events older than
``max_age_s`` (a backlog delivered after a reconnect) are not announced: a call heard minutes
late sends a citizen to a counter that has moved on.

Under systemd the watchdog pings vouch for the player thread (:attr:`AnnouncerAgent.liveness`): a
call stuck in the audio output longer than its length plus the watchdog interval stops them, and
systemd restarts the announcer.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqttc

from device_drivers.audio import open_audio
from display_agents.announcer_cli import call_builder
from display_agents.call_queue import CallQueue, CallRequest, call_from_event
from onestop import sdnotify
from onestop.config import SiteConfig
from onestop.device import DeviceClient
from onestop.protocol import iso

log = logging.getLogger("onestop.announcer")


class AnnouncerAgent:
    """``start()``, then ``stop()``."""

    def __init__(
        self, cfg: SiteConfig, device_id: str, password: str, *, max_age_s: float = 60.0,
        liveness: sdnotify.Liveness | None = None,
    ) -> None:  # fmt: skip
        dev = cfg.device(device_id)
        if dev.role != "announcer":
            raise ValueError(f"{device_id} is a {dev.role} device, not an announcer")
        self.cfg = cfg
        self.device_id = device_id
        self.max_age_s = max_age_s
        self.builder = call_builder(cfg)
        self.audio = open_audio(dev.audio, data_dir=cfg.data_dir)
        self.labels = {c.id: c.label for c in cfg.counters}
        a = cfg.announcer
        self.zone = set(dev.counters) if dev.counters is not None else None
        self.queue = CallQueue(
            lambda r: self.builder.build_call(r.number, r.counter, a.mode, a.dialect, a.repeat).wav,
            self.audio,
            say=lambda rs, chime: (
                self.builder.build_joined(
                    [(r.number, r.counter) for r in rs], a.mode, a.dialect, chime=chime
                ).wav
            ),
            join_max=a.join_max,
            repeat=a.repeat,
            quiet_s=a.quiet_s,
            on_drop=lambda _r: self._health("ok"),
        )
        self.client = DeviceClient(
            cfg.site.id,
            device_id,
            "announcer",
            host=cfg.broker.host,
            port=cfg.broker.port,
            password=password,
            tls_ca=cfg.broker_ca,
            on_message=self._on_message,
        )
        self.client_topics_events = self.client.topics.events
        self.client.mqtt.settings.subscriptions.append((self.client_topics_events, 1))
        self.skipped_old = 0
        #: The process's watchdog pings: sent only while the player thread makes progress.
        self.liveness = liveness or sdnotify.Liveness.from_env()

    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Prepare the clips (generated once), start the player, connect."""
        self.builder.library.prepare()
        if self.builder.fast is not None:
            self.builder.fast.prepare()
        if self.queue.heartbeat is None:
            self.queue.heartbeat = self.liveness.heartbeat(f"{self.device_id} player")
        self.queue.start()
        self.client.start(wait=connect_timeout)
        self._health("ok")

    def stop(self) -> None:
        """Disconnect and let the call being played finish."""
        self.client.stop()
        self.queue.stop()
        if self.queue.heartbeat is not None:
            self.queue.heartbeat.close()
            self.queue.heartbeat = None

    def _on_message(self, msg: mqttc.MQTTMessage) -> None:
        if msg.topic != self.client_topics_events:
            return
        try:
            event: dict[str, Any] = json.loads(msg.payload)
        except ValueError:
            return
        req: CallRequest | None = call_from_event(event, self.labels)
        if req is None:
            return
        if self.zone is not None and event["data"]["ticket"]["counter"] not in self.zone:
            return  # another speaker's zone
        try:
            age = (datetime.now(UTC) - datetime.fromisoformat(event["ts"])).total_seconds()
        except (KeyError, TypeError, ValueError):
            age = 0.0
        if age > self.max_age_s:
            self.skipped_old += 1
            log.info("not announcing %s: %.0f s old", req.describe(), age)
            return
        self.queue.submit(req)

    def _health(self, audio: str) -> None:
        payload = {"audio": audio, "ts": iso(datetime.now(UTC)), "calls": self.queue.stats.as_dict()}
        self.client.mqtt.publish(self.client.topics.dev_health(self.device_id), payload, retain=True)

"""Queue events as readable lines: what ``onestop up`` prints, and ``onestop monitor``."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import paho.mqtt.client as paho

from onestop.cli import load_config, wait_for_signal
from onestop.config import SiteConfig
from onestop.credentials import read_secret
from onestop.mqtt import MqttClient, MqttSettings
from onestop.protocol import MONITOR_ID, Topics


def describe(cfg: SiteConfig, event: dict[str, Any]) -> str | None:
    """One line for one event (None for events not worth a line)."""
    kind, data = event.get("type", ""), event.get("data", {})
    t = data.get("ticket") or {}
    try:
        ts = datetime.fromisoformat(event["ts"]).astimezone(cfg.site.tz).strftime("%H:%M:%S")
    except (KeyError, ValueError):
        ts = "--:--:--"
    head = f"{ts} #{event.get('seq', '?'):<6}"

    def service_name(sid: str) -> str:
        try:
            return cfg.service(sid).name
        except KeyError:
            return sid

    def counter_label(cid: str | None) -> str:
        try:
            return cfg.counter(cid or "").label
        except KeyError:
            return str(cid)

    if kind == "ticket.issued":
        prio = " ƯU TIÊN" if t.get("priority") else ""
        wait = round(data.get("est_wait_s", 0) / 60)
        ahead = data.get("ahead", 0)
        name = service_name(t["service"])
        return f"{head} issued     {t['number']:<6}{prio} {name} ({ahead} ahead, ~{wait} min)"
    if kind == "ticket.called":
        again = "recalled  " if data.get("recall") else "called    "
        return f"{head} {again} {t['number']:<6} → {counter_label(t.get('counter'))}"
    if kind in ("ticket.done", "ticket.skipped", "ticket.expired"):
        word = kind.split(".")[1]
        return f"{head} {word:<10} {t['number']:<6}"
    if kind == "ticket.transferred":
        return f"{head} transferred {t['number']:<6} → {service_name(t['service'])}"
    if kind.startswith("counter."):
        c = data.get("counter", {})
        officer = (c.get("officer") or {}).get("name", "")
        return f"{head} {kind.split('.')[1]:<10} {c.get('label', '')} {officer}".rstrip()
    if kind == "rating.recorded":
        r = data.get("rating", {})
        return (
            f"{head} rated      {r.get('number', '')}: {r.get('level', '')} ({r.get('officer_name') or '-'})"
        )
    if kind == "day.closed":
        return (
            f"{head} day closed {data.get('day')}: {data.get('issued')} issued, {data.get('expired')} expired"
        )
    return None


class Monitor:
    """Subscribes to the event stream and hands each readable line to ``out``."""

    def __init__(self, cfg: SiteConfig, out: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.out = out or (lambda line: print(line, flush=True))
        self.topics = Topics(cfg.site.id)
        self.count = 0
        self._lock = threading.Lock()
        self.mqtt = MqttClient(
            MqttSettings(
                host=cfg.broker.host,
                port=cfg.broker.port,
                # Its own read-only account: the broker binds client ids to accounts, so a
                # connection as `hub` would take over (and drop) the real hub's.
                username=MONITOR_ID,
                password=read_secret(cfg, MONITOR_ID),
                subscriptions=[(self.topics.events, 1)],
            ),
            on_message=self._on_message,
        )

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        try:
            line = describe(self.cfg, json.loads(msg.payload))
        except (ValueError, KeyError, TypeError):
            return
        if line:
            with self._lock:
                self.count += 1
                self.out(line)

    def start(self) -> None:
        """Connect and start printing."""
        self.mqtt.start(wait=10)

    def stop(self) -> None:
        """Disconnect."""
        self.mqtt.stop()


def run_monitor(args: argparse.Namespace) -> int:
    """``onestop monitor``."""
    cfg = load_config(args)
    mon = Monitor(cfg)
    mon.start()
    print(f"watching {mon.topics.events} (Ctrl-C stops)", file=sys.stderr)
    wait_for_signal()
    mon.stop()
    return 0

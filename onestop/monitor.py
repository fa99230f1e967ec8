"""Queue events as readable lines: what ``onestop up`` prints, and ``onestop monitor``."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from onestop.broker import demo_broker_address
from onestop.cli import load_config
from onestop.config import SiteConfig
from onestop.credentials import read_secret, secret_path
from onestop.errors import OnestopError
from onestop.mqtt import BrokerUnreachable, MqttClient, MqttSettings
from onestop.process import wait_for_signal
from onestop.protocol import CONTROLLER_ID, MONITOR_ID, Topics


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


#: How long the monitor waits, once subscribed, for the retained presence of the site's controller.
PRESENCE_WAIT_S = 3.0


class Monitor:
    """Subscribes to the event stream and hands each readable line to ``out``.

    It also reads the retained presence of the site's controller (``dev/controller/status``, kept by
    the broker since the controller first ran): :attr:`site_seen` is set when it arrives, the proof
    that the broker is this site's."""

    def __init__(self, cfg: SiteConfig, out: Callable[[str], None] | None = None) -> None:
        self.cfg = cfg
        self.out = out or (lambda line: print(line, flush=True))
        self.topics = Topics(cfg.site.id)
        self.count = 0
        self.site_seen = threading.Event()
        self._presence = self.topics.dev_status(CONTROLLER_ID)
        self._lock = threading.Lock()
        self.mqtt = MqttClient(
            MqttSettings(
                host=cfg.broker.host,
                port=cfg.broker.port,
                # Its own read-only account: the broker binds client ids to accounts, so a
                # connection as `hub` would take over (and drop) the real hub's.
                username=MONITOR_ID,
                password=read_secret(cfg, MONITOR_ID),
                subscriptions=[(self.topics.events, 1), (self._presence, 1)],
            ),
            on_message=self._on_message,
        )

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if msg.topic == self._presence:
            self.site_seen.set()
            return
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


def find_site_broker(cfg: SiteConfig) -> tuple[str, int, str]:
    """Where the site's broker should be, and why there: the broker ``onestop up`` started last for
    this site (its port is in ``{[storage] dir}/broker/mosquitto.conf``), else ``[broker]``."""
    found = demo_broker_address(cfg)
    if found is not None:
        host, port, conf = found
        return host, port, f"where `onestop up` last ran its broker, {conf}"
    return cfg.broker.host, cfg.broker.port, f"[broker] of {cfg.source}"


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return True
    except OSError:
        return False


def printing_marker(cfg: SiteConfig) -> Path:
    """The file that says an ``onestop up`` of this site prints its events (as the `monitor`)."""
    return cfg.data_dir / "up-prints-events.json"


def _up_printing(cfg: SiteConfig) -> int | None:
    """The pid of a running ``onestop up`` of this site that prints its events, if any."""
    try:
        pid = int(json.loads(printing_marker(cfg).read_text())["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no marker, a broken one, or a stale one (that up was killed)
    return pid


def open_monitor(
    cfg: SiteConfig, *, explicit: bool, out: Callable[[str], None] | None = None, warn: Callable[[str], None]
) -> Monitor:
    """A started :class:`Monitor` on the site's broker, or an :class:`OnestopError` that says why not.

    Without ``explicit`` (no ``--broker``) the broker is looked for with :func:`find_site_broker`, and
    it must prove to be this site's (the retained presence of its controller): a foreign broker that
    happens to listen there is never watched. With ``explicit`` that proof is only a warning."""
    if explicit:
        host, port, why = cfg.broker.host, cfg.broker.port, "--broker"
    else:
        host, port, why = find_site_broker(cfg)
        cfg = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"host": host, "port": port})})
    site, where = cfg.site.id, f"{host}:{port}"
    pid = _up_printing(cfg)
    if pid is not None:
        raise OnestopError(
            f"`onestop up` (pid {pid}) already prints site {site}'s events in its terminal, as the site's "
            "one `monitor` connection (the broker lets one connection per account: a second would drop "
            'it); read them there, or restart it with --quiet (make up UPARGS="--traffic --quiet") '
            "and watch here"
        )
    hint = "is `make up` (or the site's Mosquitto) running? give --broker HOST:PORT"
    if not _listening(host, port):
        raise OnestopError(f"no broker of site {site} at {where} ({why}); {hint}")
    mon = Monitor(cfg, out)
    try:
        mon.start()
    except BrokerUnreachable as exc:
        mon.stop()
        reason = str(exc).rpartition(": ")[2]
        if reason in ("Bad user name or password", "Not authorized"):
            raise OnestopError(
                f"the broker at {where} ({why}) refuses site {site}'s monitor account ({reason}): it is "
                f"not this site's broker, or it was started before {secret_path(cfg, MONITOR_ID)} "
                f"changed; {hint}"
            ) from None
        raise OnestopError(f"no broker of site {site} answers at {where} ({why}: {reason}); {hint}") from None
    if not mon.site_seen.wait(PRESENCE_WAIT_S):
        text = (
            f"the broker at {where} ({why}) has no trace of site {site}: no presence of its controller "
            "(this is not the site's broker, or its controller never ran against it)"
        )
        if not explicit:
            mon.stop()
            raise OnestopError(f"{text}; {hint}, to watch it anyway")
        warn(f"warning: {text}")
    return mon


def run_monitor(args: argparse.Namespace) -> int:
    """``onestop monitor``: the events of the site's broker (see :func:`open_monitor`)."""
    cfg = load_config(args)
    mon = open_monitor(cfg, explicit=bool(args.broker), warn=lambda line: print(line, file=sys.stderr))
    where = f"{mon.mqtt.settings.host}:{mon.mqtt.settings.port}"
    print(f"watching {mon.topics.events} on {where} (Ctrl-C stops)", file=sys.stderr, flush=True)
    wait_for_signal()
    mon.stop()
    return 0

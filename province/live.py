"""The live view: every centre's state as its bridge last said, kept in PostgreSQL for every node.

One node at a time (the holder of an advisory lock, :mod:`province.leader`) subscribes to the
province broker as the ``province`` account and folds what the sites' bridges carry into one
document per centre: its counters, services, board and devices, plus the link's state
(``bridge/state``: ``1`` up, ``0`` down, the bridge's Last Will) and when the centre was last heard
from. Changed centres are written every ``flush_s``; every node serves the view from the table, so
a dashboard behind a load balancer sees the same thing whichever node answers.

A site is untrusted input: topics outside the protocol, payloads that are not JSON objects, or too
large, are counted and dropped; they never stop the view.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import paho.mqtt.client as mqttc
import psycopg
from psycopg.types.json import Jsonb

from onestop.mqtt import MqttClient, MqttSettings
from onestop.protocol import PROTOCOL_VERSION, ROOT_PREFIX
from province.leader import lead

log = logging.getLogger("onestop.province.live")

LIVE_KEY = 0x6F6E6573_6C697665
MAX_PAYLOAD = 64 * 1024
MAX_ITEMS = 2000  # counters, services or devices kept per centre
SUBSCRIPTIONS = [
    (f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/+/state/#", 1),
    (f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/+/dev/+/status", 1),
    (f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/+/dev/+/health", 1),
    (f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/+/bridge/state", 1),
    (f"{ROOT_PREFIX}/{PROTOCOL_VERSION}/+/events", 0),
]


def _now() -> datetime:
    return datetime.now(UTC)


class Centre:
    """One centre's live document, folded from its messages."""

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"counters": {}, "services": {}, "board": None, "devices": {}}
        self.link = "unknown"
        self.link_since: datetime | None = None
        self.last_seen: datetime | None = None

    def apply(self, parts: list[str], payload: bytes, now: datetime) -> bool:
        """Fold one message (topic parts after the site id); False when it was not understood."""
        if parts == ["bridge", "state"]:
            link = {b"1": "up", b"0": "down"}.get(payload.strip())
            if link is None:
                return False
            if link != self.link:
                self.link, self.link_since = link, now
            if link == "up":
                self.last_seen = now
            return True
        self.last_seen = now
        if self.link != "up":
            self.link, self.link_since = "up", now  # a message came through: the link works
        if parts == ["events"]:
            return True
        if not payload:  # a retained message cleared
            return self._clear(parts)
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(doc, dict):
            return False
        match parts:
            case ["state", "counter", cid]:
                return self._put("counters", cid, doc)
            case ["state", "service", sid]:
                return self._put("services", sid, doc)
            case ["state", "board"]:
                self.state["board"] = doc
                return True
            case ["dev", device, ("status" | "health") as kind]:
                entry = self.state["devices"].get(device)
                if entry is None:
                    if len(self.state["devices"]) >= MAX_ITEMS:
                        return False
                    entry = self.state["devices"][device] = {}
                entry[kind] = doc
                return True
        return False

    def _put(self, kind: str, key: str, doc: dict[str, Any]) -> bool:
        items = self.state[kind]
        if key not in items and len(items) >= MAX_ITEMS:
            return False
        items[key] = doc
        return True

    def _clear(self, parts: list[str]) -> bool:
        match parts:
            case ["state", "counter", cid]:
                self.state["counters"].pop(cid, None)
            case ["state", "service", sid]:
                self.state["services"].pop(sid, None)
            case ["dev", device, _]:
                self.state["devices"].pop(device, None)
            case _:
                return False
        return True


class LiveView:
    """The leader's subscriber and writer; ``start()``, ``stop()``."""

    def __init__(self, dsn: str, mqtt: MqttSettings, *, flush_s: float = 0.5, poll_s: float = 2.0) -> None:
        self.dsn = dsn
        self.settings = mqtt
        self.settings.subscriptions = list(SUBSCRIPTIONS)
        self.flush_s = flush_s
        self.poll_s = poll_s
        self.centres: dict[str, Centre] = {}
        self.dirty: set[str] = set()
        self.dropped = 0
        self.leader = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.flushed = threading.Condition()
        self.flushes = 0

    def start(self) -> LiveView:
        self._thread = threading.Thread(target=self._run, name="province-live", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _set_leader(self, leader: bool) -> None:
        self.leader = leader

    def _run(self) -> None:
        lead(self.dsn, LIVE_KEY, "the live view", self._job, self._stop, poll_s=self.poll_s,
             on_change=self._set_leader)  # fmt: skip

    def _job(self, still_leader: Callable[[], None]) -> None:
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            self._load(conn)
            client = MqttClient(self.settings, self.on_message)
            client.start(wait=None)
            try:
                while not self._stop.wait(self.flush_s):
                    still_leader()
                    self.flush(conn)
                self.flush(conn)
            finally:
                client.stop()

    def _load(self, conn: psycopg.Connection) -> None:
        """Start from what the previous leader wrote (links and last-seen times survive a takeover)."""
        rows = conn.execute("SELECT site, state, link, link_since, last_seen FROM site_live").fetchall()
        with self._lock:
            for site, state, link, since, seen in rows:
                c = Centre()
                if isinstance(state, dict):
                    c.state.update(state)
                c.link, c.link_since, c.last_seen = link, since, seen
                self.centres[site] = c

    def on_message(self, msg: mqttc.MQTTMessage) -> None:
        parts = msg.topic.split("/")
        ok = len(parts) >= 4 and parts[0] == ROOT_PREFIX and parts[1] == PROTOCOL_VERSION
        ok = ok and len(msg.payload) <= MAX_PAYLOAD
        if ok:
            site = parts[2]
            with self._lock:
                centre = self.centres.get(site)
                if centre is None:
                    centre = self.centres[site] = Centre()
                ok = centre.apply(parts[3:], bytes(msg.payload), _now())
                self.dirty.add(site)
        if not ok:
            self.dropped += 1
            log.debug("dropped a message on %s (%d bytes)", msg.topic[:120], len(msg.payload))

    def flush(self, conn: psycopg.Connection) -> int:
        """Write the centres that changed since the last flush."""
        with self._lock:
            rows = [
                (s, Jsonb(c.state), c.link, c.link_since, c.last_seen)
                for s in sorted(self.dirty)
                if (c := self.centres.get(s)) is not None
            ]
            self.dirty.clear()
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    """INSERT INTO site_live (site, state, link, link_since, last_seen, updated_at)
                       VALUES (%s, %s, %s, %s, %s, now())
                       ON CONFLICT (site) DO UPDATE SET state = EXCLUDED.state, link = EXCLUDED.link,
                           link_since = EXCLUDED.link_since, last_seen = EXCLUDED.last_seen,
                           updated_at = now()""",
                    rows,
                )
        with self.flushed:
            self.flushes += 1
            self.flushed.notify_all()
        return len(rows)


def summary(
    site: str, name: str | None, row: tuple[Any, ...] | None, now: float | None = None
) -> dict[str, Any]:
    """What the dashboard shows of one centre, from its ``site_live`` row (or None: never heard)."""
    state, link, link_since, last_seen = row if row else ({}, "unknown", None, None)
    counters = (state or {}).get("counters", {}) or {}
    services = (state or {}).get("services", {}) or {}
    devices = (state or {}).get("devices", {}) or {}
    alerts = []
    for dev, entry in sorted(devices.items()):
        status = entry.get("status") or {}
        health = entry.get("health") or {}
        if status.get("online") is False:
            alerts.append({"device": dev, "alert": "offline"})
        elif isinstance(health.get("printer"), str) and health["printer"] != "ok":
            alerts.append({"device": dev, "alert": f"printer {health['printer']}"})
    return {
        "site": site,
        "name": name or site,
        "link": link,
        "link_since": link_since.isoformat() if link_since else None,
        "last_seen": last_seen.isoformat() if last_seen else None,
        "waiting": sum(int(s.get("waiting") or 0) for s in services.values() if isinstance(s, dict)),
        "counters_open": sum(
            1 for c in counters.values() if isinstance(c, dict) and c.get("status") == "open"
        ),
        "counters": len(counters),
        "device_alerts": alerts,
        "checked_at": time.time() if now is None else now,
    }

"""The hub's consumer of the controller's event stream, device presence and retained states.

It connects as ``hub`` with a persistent session, applies events strictly in ``seq`` order, and
asks the controller to ``replay`` whatever it has not seen: at every (re)connect (catch-up after a
hub restart) and whenever an event arrives ahead of the next expected one (a gap).

It also watches for a controller whose log went back (a lost ``-wal``, an older backup): an event at a
seq the hub holds but with other content, a live state or a replay whose ``seq`` is below the hub's,
or a ``controller.rewound`` event. Each is logged once (critical) and noted for the
``controller_rewound`` alert. Events that a replay skips over (it starts above the seq asked for) are
lost in the controller's log for good: the hub notes the gap and goes on after it.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqttc

from hub_api.live import LiveState
from hub_api.store import HubStore
from onestop import sdnotify
from onestop.config import SiteConfig
from onestop.mqtt import MqttClient, MqttSettings, Received
from onestop.protocol import CONTROLLER_ID, HUB_ID, Topics, iso

log = logging.getLogger("onestop.hub.ingest")

#: Events whose application writes outbox records for the back end.
OUTBOX_EVENTS = frozenset({"ticket.done", "ticket.skipped", "ticket.expired", "rating.recorded"})
#: At most this many messages are taken from the queue (and their events stored) at once.
BATCH_MAX = 1000
#: A replay that got no answer in this time is asked again.
REPLAY_TIMEOUT_S = 5.0
#: Events waiting in memory (queued, or held after a gap) beyond this many are dropped on arrival
#: and fetched again by replay once the hub has caught up: the controller's log is the source, so
#: nothing is lost, and a stalled disk cannot make the hub's memory grow without bound.
EVENTS_HELD_MAX = 20_000


class Ingest:
    """Consumes the site's MQTT traffic into the hub's store and live state: ``start()``, ``stop()``."""

    def __init__(
        self,
        cfg: SiteConfig,
        password: str,
        store: HubStore,
        live: LiveState,
        *,
        host: str | None = None,
        port: int | None = None,
        client_id: str = HUB_ID,
        liveness: sdnotify.Liveness | None = None,
        on_citizen: Callable[[str, bytes], object] | None = None,
    ) -> None:
        self.cfg = cfg
        #: Takes each citizen note ``(device, payload)`` (hub_api.citizen_notes); None: not subscribed.
        self.on_citizen = on_citizen
        #: The hub's watchdog pings, sent from this loop while it (and the forwarder) make progress.
        self.liveness = liveness or sdnotify.Liveness.from_env()
        self._heartbeat: sdnotify.Heartbeat | None = None
        self.store = store
        self.live = live
        self.topics = t = Topics(cfg.site.id)
        self.mqtt = MqttClient(
            MqttSettings(
                host=host or cfg.broker.host,
                port=port or cfg.broker.port,
                username=HUB_ID,
                password=password,
                client_id=client_id,
                keepalive=cfg.broker.keepalive_s,
                session_expiry_s=7 * 24 * 3600,
                role="hub",
                site=cfg.site.id,
                subscriptions=[
                    (t.dev_reply(HUB_ID), 1),
                    (t.events, 1),
                    (t.all_status, 1),
                    (t.all_health, 1),
                    (t.state_all, 1),
                    (t.all_lookup, 1),
                    # QoS 0: a note is never queued for the hub's session while it is offline, so
                    # the broker never writes a name into its persistence file (docs/privacy.md).
                    *([(t.all_citizen, 0)] if on_citizen is not None else []),
                ],
            ),
            on_message=self._receive,
        )
        self._q: queue.Queue[Received | str | None] = queue.Queue()
        self._ahead: dict[int, dict[str, Any]] = {}
        self._replay_id: str | None = None
        self._replay_sent = 0.0
        self._worker: threading.Thread | None = None
        self.applied = threading.Condition()
        #: Called (in the ingest thread) after events that wrote outbox records are stored.
        self.on_outbox: list[Callable[[], None]] = []
        #: Kiosks' back-end lookups go here, from the network thread (hub_api.lookup); None: dropped.
        self.on_lookup: Callable[[str, bytes], None] | None = None
        self._lookup_suffix = "/lookup"
        #: Called (in the ingest thread) with each run of events once stored, in seq order.
        self.on_events: list[Callable[[list[dict[str, Any]]], None]] = []
        self.stats = {"events": 0, "replays": 0, "gaps": 0, "bad": 0, "shed": 0}
        self._shed_logged = 0.0
        self._shed_since_replay = False
        self._state_prefix = self.topics.root + "/state/"
        self._replay_from = 0
        self._rewinds_logged: set[str] = set()

    def start(self, connect_timeout: float | None = 10.0) -> None:
        """Start consuming (catch-up first)."""
        self._heartbeat = self.liveness.heartbeat("hub ingest loop")
        self._worker = threading.Thread(
            target=self._run, args=(self._heartbeat,), name="hub-ingest", daemon=True
        )
        self._worker.start()
        self.mqtt.on_connect_hooks.append(lambda _s: self._q.put("catch-up"))
        self.mqtt.start(wait=connect_timeout)

    def stop(self) -> None:
        """Stop consuming and disconnect."""
        if self._worker is not None:
            self._q.put(None)
            self._worker.join(10)
            self._worker = None
        if self._heartbeat is not None:
            self._heartbeat.close()
            self._heartbeat = None
        self.mqtt.stop()

    def wait_for_seq(self, seq: int, timeout: float) -> bool:
        """Block until events up to ``seq`` are stored (for tests and tools)."""
        with self.applied:
            return self.applied.wait_for(lambda: self.store.last_seq >= seq, timeout)

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds, checked after each batch of events and each health
        message stored (for tests and tools)."""
        with self.applied:
            return self.applied.wait_for(predicate, timeout)

    def _receive(self, msg: mqttc.MQTTMessage) -> None:
        """paho's callback (network thread). Retained states go straight to the live state (the
        hall's boards never wait for the hub's disk); the rest is queued for the worker, except an
        event when the worker is ``EVENTS_HELD_MAX`` messages behind (replay brings it back)."""
        topic = msg.topic
        if topic.startswith(self._state_prefix):
            self._state(topic, bytes(msg.payload), bool(msg.retain))
            return
        if topic.endswith(self._lookup_suffix):  # never waits behind the event store's disk
            if self.on_lookup is not None:
                self.on_lookup(topic, bytes(msg.payload))
            return
        if topic == self.topics.events and self._q.qsize() >= EVENTS_HELD_MAX:
            self._shed()
            return
        self._q.put(Received.of(msg))

    def _state(self, topic: str, payload: bytes, retained: bool = False) -> None:
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            self.stats["bad"] += 1
            log.warning("unreadable state on %s", topic)
            return
        parts = topic[len(self._state_prefix) :].split("/")
        kind, key = parts[0], parts[1] if len(parts) > 1 else ""
        seq = data.get("seq")
        if not retained and isinstance(seq, int) and seq < self.store.last_seq:
            # A live state carries the controller's last seq, and comes before the events it counts.
            self._rewound(
                "state",
                f"the controller publishes states at seq {seq}, below the hub's {self.store.last_seq}",
            )
        if kind in ("board", "counter", "service"):
            self.live.update(kind, key, data)

    def _rewound(self, how: str, detail: str) -> None:
        """The controller's log went back: log once per way it showed, note it for the alert."""
        self.stats["rewinds"] = self.stats.get("rewinds", 0) + 1
        if how not in self._rewinds_logged:
            self._rewinds_logged.add(how)
            log.critical("CONTROLLER LOG REWOUND: %s", detail)
        self.store.note_rewind(detail, iso(datetime.now(UTC)))

    def _shed(self) -> None:
        self._shed_since_replay = True  # the worker asks for a replay once it has caught up
        self.stats["shed"] += 1
        now = time.monotonic()
        if now - self._shed_logged > 10.0:
            self._shed_logged = now
            log.warning(
                "the hub is %d+ messages behind (slow disk?): events are left to the replay that "
                "follows (%d so far)",
                EVENTS_HELD_MAX,
                self.stats["shed"],
            )

    # -- worker ----------------------------------------------------------------------------
    def _run(self, heartbeat: sdnotify.Heartbeat) -> None:
        while True:
            heartbeat.beat()  # pings systemd's watchdog while every loop of the hub makes progress
            try:
                first = self._q.get(timeout=heartbeat.timeout(1.0))
            except queue.Empty:
                first = ""
            # Take everything waiting: its events are stored in one transaction (one fsync), so the
            # hub keeps up with the controller instead of queueing a backlog in memory.
            batch, stop = [first], first is None
            while not stop and len(batch) < BATCH_MAX:
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    break
                stop = item is None
                batch.append(item)
            for item in batch:
                try:
                    if item == "catch-up":
                        self._request_replay(force=True)
                    elif isinstance(item, Received):
                        self._handle(item)
                except Exception:
                    log.exception("ingest failed on %r", getattr(item, "topic", item))
            try:
                self._flush()
                if self._replay_id and time.monotonic() - self._replay_sent > REPLAY_TIMEOUT_S:
                    log.warning("replay %s got no answer; asking again", self._replay_id)
                    self._request_replay(force=True)
            except Exception:
                log.exception("ingest failed to store a batch of events")
            if stop:
                return

    def _handle(self, msg: Received) -> None:
        topic, payload = msg.topic, msg.payload
        if self.on_citizen is not None and topic.endswith("/citizen"):
            where = self.topics.parse_dev(topic)
            if where is not None and where[1] == "citizen":
                self.on_citizen(where[0], bytes(payload))  # checked there; the payload is never logged
                with self.applied:
                    self.applied.notify_all()
                return
        try:
            data = json.loads(payload) if payload else {}
        except ValueError:
            self.stats["bad"] += 1
            log.warning("unreadable payload on %s", topic)
            return
        if not isinstance(data, dict):
            self.stats["bad"] += 1
            return
        t = self.topics
        if topic == t.events:
            self._event(data)
        elif topic == t.dev_reply(HUB_ID):
            self._reply(data)
        else:
            where = t.parse_dev(topic)
            if where is None:
                return
            device, kind = where
            now = iso(datetime.now(UTC))
            if kind == "status":
                self.store.device_status(device, data, now)
                if device == CONTROLLER_ID:
                    self.live.set_controller(bool(data.get("online")))
            elif kind == "health":
                self.store.device_health(device, data, now)
                with self.applied:
                    self.applied.notify_all()

    def _event(self, ev: dict[str, Any]) -> None:
        seq = ev.get("seq")
        if not isinstance(seq, int) or "type" not in ev or "ts" not in ev:
            self.stats["bad"] += 1
            log.warning("event without seq, type or ts dropped")
            return
        if seq <= self.store.last_seq:
            if self.store.same_event(ev) is False:
                self._rewound(
                    "event",
                    f"event {seq} ({ev.get('type')}) differs from the one the hub stored: the controller "
                    "reuses seqs (its store lost data)",
                )
            return
        if ev.get("type") == "controller.rewound":
            d = ev.get("data") or {}
            self._rewound(
                "accepted",
                f"the operator accepted the controller's lost data: its store was at seq "
                f"{d.get('store_seq')}, the site had seen {d.get('seen_seq')}",
            )
        if len(self._ahead) >= EVENTS_HELD_MAX and seq not in self._ahead:
            self._shed()  # after a gap that replay has not filled yet: it will bring this one too
            return
        self._ahead[seq] = ev  # stored by _flush() with the rest of the batch

    def _flush(self) -> None:
        """Store the buffered events that follow on, in one transaction; ask for any that are missing."""
        self._drain()
        if self._ahead and self._replay_id is None:
            self.stats["gaps"] += 1
            self._request_replay()
        elif self._shed_since_replay and self._replay_id is None and self._q.qsize() < EVENTS_HELD_MAX // 2:
            # Events were dropped and maybe no later one comes to reveal the gap: ask from here.
            self._shed_since_replay = False
            self._request_replay()

    def _reply(self, r: dict[str, Any]) -> None:
        if r.get("id") != self._replay_id:
            return
        self._replay_id = None
        if not r.get("ok"):
            log.error("replay refused: %s", r.get("error"))
            return
        result = r.get("result") or {}
        before = self.store.last_seq
        got = [e for e in result.get("events") or [] if isinstance(e, dict) and isinstance(e.get("seq"), int)]
        for ev in got:
            if ev["seq"] > self.store.last_seq:
                self._ahead.setdefault(ev["seq"], ev)
        first = min((e["seq"] for e in got), default=None)
        asked = self._replay_from
        if first is not None and asked == self.store.last_seq + 1 and first > asked:
            # The controller's log has no events from where the hub asked up to its first one: an
            # accepted rewind jumped over them. Waiting for them would wait forever.
            self._rewound(
                "gap",
                f"events {asked}..{first - 1} are not in the controller's log (lost): skipped",
            )
            self.store.skip_to(first - 1)
        self._drain()
        ctl_last = result.get("last_seq")
        if isinstance(ctl_last, int):
            bogus = sorted(s for s in self._ahead if s > ctl_last)
            if bogus:
                # Events the controller says it never wrote: forged, or its database was restored
                # from an older backup. Waiting for them would wait forever.
                log.error(
                    "dropping events %s..%s: the controller's log ends at %d", bogus[0], bogus[-1], ctl_last
                )
                for seq in bogus:
                    del self._ahead[seq]
            if ctl_last < self.store.last_seq:
                self._rewound(
                    "replay",
                    f"the controller's log ends at seq {ctl_last}, behind the hub's {self.store.last_seq} "
                    "(its store lost data, or was restored from an older backup)",
                )
        progressed = self.store.last_seq > before
        if result.get("more") or (self._ahead and progressed):
            self._request_replay()

    def _drain(self) -> None:
        run: list[dict[str, Any]] = []
        nxt = self.store.last_seq + 1
        while nxt in self._ahead:
            run.append(self._ahead.pop(nxt))
            nxt += 1
        for stale in [s for s in self._ahead if s <= self.store.last_seq]:
            del self._ahead[stale]
        if run:
            self.stats["events"] += self.store.apply(run)
            with self.applied:
                self.applied.notify_all()
            if any(e["type"] in OUTBOX_EVENTS for e in run):
                for hook in self.on_outbox:
                    hook()
            for events_hook in self.on_events:
                events_hook(run)

    def _request_replay(self, force: bool = False) -> None:
        if self._replay_id is not None and not force:
            return
        self._replay_id = f"replay-{uuid.uuid4().hex[:12]}"
        self._replay_from = self.store.last_seq + 1
        self._replay_sent = time.monotonic()
        self.stats["replays"] += 1
        cmd = {
            "id": self._replay_id,
            "op": "replay",
            "args": {"from_seq": self._replay_from, "limit": 1000},
        }
        self.mqtt.publish(self.topics.dev_cmd(HUB_ID), cmd)

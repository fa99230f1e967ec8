"""The controller: the MQTT shell over the queue engine.

One worker thread owns the engine and the store. Messages arrive from paho's network thread into a
queue; the worker takes them in batches, decides each one, commits the whole batch in one SQLite
transaction, and only then acknowledges the commands to the broker (manual PUBACK), replies, and
publishes events and retained states. A crash at any point therefore loses nothing: an unacknowledged
command is redelivered by the broker to the controller's persistent session, and an answered one is
answered again, identically, from the store.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from onestop import sdnotify
from onestop.clock import Clock, SystemClock
from onestop.config import SiteConfig
from onestop.mqtt import MqttClient, MqttSettings, PayloadTooLarge, Received
from onestop.protocol import (
    CONTROLLER_ID,
    HUB_ID,
    MAX_PUBLISH_BYTES,
    ProtocolError,
    Topics,
    dumps,
    error_reply,
    iso,
    ok_reply,
    parse_command,
)
from onestop.ticket_links import TicketLinks, new_key
from queue_controller.engine import Engine, business_day
from queue_controller.health import Health
from queue_controller.model import Decision
from queue_controller.store import Pending, Store

log = logging.getLogger("onestop.controller")

BATCH_MAX = 500
REPLAY_MAX = 1000
#: A replay reply carries at most this many bytes of events (the hub asks again from ``next_seq``).
REPLAY_BYTES = MAX_PUBLISH_BYTES - 8 * 1024
#: Command replies are kept this long for idempotency (devices retry within minutes).
REPLY_RETENTION = timedelta(days=2)


@dataclass
class _Republish:
    """A request to the worker to publish every retained state again (after a reconnect)."""


class Controller:
    """The queue controller process: ``start()``, then ``stop()``."""

    def __init__(
        self,
        cfg: SiteConfig,
        password: str,
        *,
        db_path: str | Path | None = None,
        clock: Clock | None = None,
        host: str | None = None,
        port: int | None = None,
        tick_s: float = 1.0,
        fatal: Callable[[str], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.topics = Topics(cfg.site.id)
        self.db_path = Path(db_path) if db_path else cfg.data_dir / "controller.db"
        self.tick_s = tick_s
        self.fatal = fatal or _exit_process
        self.presence: dict[str, bool] = {}
        self.presence_changed = threading.Condition()
        self.mqtt = MqttClient(
            MqttSettings(
                host=host or cfg.broker.host,
                port=port or cfg.broker.port,
                username=CONTROLLER_ID,
                password=password,
                keepalive=cfg.broker.keepalive_s,
                session_expiry_s=7 * 24 * 3600,
                manual_ack=True,
                role="controller",
                site=cfg.site.id,
                subscriptions=[(self.topics.all_cmd, 1), (self.topics.all_status, 1)],
            ),
            on_message=self._enqueue,
        )
        self._inbox: list[Received | _Republish] = []
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._store: Store | None = None
        self.engine: Engine | None = None
        self._last_prune = self.clock.now()
        self._reload_after_batch = False
        self.stats = {"commands": 0, "batches": 0, "bad_payloads": 0, "duplicates": 0}
        #: The controller's own conditions (clock, store, devices), retained on dev/controller/health.
        self.health = Health()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, connect_timeout: float = 10.0) -> None:
        """Open the store, restore the engine, connect, and publish every retained state."""
        self._store = Store(self.db_path)
        self._restore()
        self.mqtt.on_connect_hooks.append(lambda _session: self._inbox.append(_Republish()))
        # The worker owns the connection: it reads, decides, commits and publishes in one thread,
        # with no hand-off per message (see docs/controller.md).
        self.mqtt.start(threaded=False)
        self._stopping.clear()
        self._worker = threading.Thread(target=self._run, name="controller-worker", daemon=True)
        self._worker.start()
        self.mqtt.wait_connected(connect_timeout)

    def _restore(self) -> None:
        """Build the engine from what is on disk."""
        assert self._store is not None
        self.engine = Engine(self.cfg, self.clock)
        self.engine.ticket_token = TicketLinks(self._store.secret("ticket_links", new_key)).token
        loaded = self._store.load(business_day(self.cfg, self.clock.now()))
        self.engine.restore(loaded.meta, loaded.tickets, loaded.counters, loaded.services)
        waiting = sum(s.waiting for s in self.engine.services.values())
        log.info(
            "store %s: last event seq %d, %d tickets waiting, day %s",
            self.db_path,
            loaded.last_seq,
            waiting,
            self.engine.day,
        )

    def stop(self) -> None:
        """Finish the batch at hand, disconnect and close the store."""
        if self._worker is not None:
            self._stopping.set()
            self._worker.join(10)
            self._worker = None
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- input -----------------------------------------------------------------------------
    def _enqueue(self, msg: paho.MQTTMessage) -> None:
        # called by paho inside poll(), in the worker thread
        self._inbox.append(Received.of(msg))

    def _run(self) -> None:
        watchdog = sdnotify.Watchdog.from_env()  # None unless systemd asked for pings
        try:
            while not self._stopping.is_set():
                if watchdog:
                    watchdog.ping()
                self.mqtt.poll(0.0 if self._inbox else min(self.tick_s, 0.2))
                batch, self._inbox = self._inbox[:BATCH_MAX], self._inbox[BATCH_MAX:]
                try:
                    self._process(batch)
                except Exception as exc:  # the store failed: the engine is ahead of the disk
                    log.critical("cannot persist decisions (%s); stopping so that nothing is lost", exc)
                    self.fatal(str(exc))
                    return
        finally:
            self.mqtt.stop()

    # -- one batch -------------------------------------------------------------------------
    def _process(self, batch: list[Received | _Republish]) -> None:
        assert self.engine is not None and self._store is not None
        engine, store = self.engine, self._store
        pending: list[Pending] = []
        tick = engine.tick()
        if tick.changed:
            pending.append(Pending(tick))
        replies: list[tuple[str, dict[str, Any]]] = []
        answered: dict[tuple[str, str], dict[str, Any]] = {}
        hub_queries: list[tuple[str, str, dict[str, Any]]] = []
        acks: list[tuple[int, int]] = []
        republish = False
        for msg in batch:
            if isinstance(msg, _Republish):
                republish = True
                continue
            acks.append((msg.mid, msg.qos))
            where = self.topics.parse_dev(msg.topic)
            if where is None:
                continue
            device, kind = where
            if kind == "status":
                self._presence(device, msg.payload, msg.retain)
            elif kind == "cmd":
                self._command(device, msg.payload, pending, replies, answered, hub_queries)
        now = self.clock.now()
        events: list[dict[str, Any]] = []
        if pending:
            counters: set[str] = set()
            services: set[str] = set()
            board = False
            for p in pending:
                counters |= p.decision.counters
                services |= p.decision.services
                board = board or p.decision.board
            events = store.commit(
                pending,
                engine.meta(),
                {c: engine.counters[c].record() for c in counters},
                {s: engine.services[s].record() for s in services},
                iso(now),
            )
        else:
            counters, services, board = set(), set(), False
        for cid, op, args in hub_queries:
            replies.append((HUB_ID, self._hub_command(cid, op, args)))
        # What the hall sees first (the board, the counters), then the events, then the replies: the
        # contract orders nothing across topics, and a citizen watches the board, not the clerk.
        if republish:
            counters = {c.id for c in self.cfg.counters}
            services = {s.id for s in self.cfg.services}
            board = True
        self._publish_states(counters, services, board)
        if self.health.changed or republish:
            self.health.changed = False
            self._send(self.topics.dev_health(CONTROLLER_ID), self.health.payload(now), True)
        for ev in events:
            self._send(self.topics.events, ev)
        for device, reply in replies:
            self._send(self.topics.dev_reply(device), reply)
        # Last: a command is acknowledged to the broker only once it is stored and answered. Dying
        # before this line means the broker redelivers it, and the store answers it again, identically.
        for mid, qos in acks:
            self.mqtt.ack(mid, qos)
        self.stats["batches"] += 1
        if self._reload_after_batch:
            self._reload_after_batch = False
            self._restore()
            self._publish_states({c.id for c in self.cfg.counters}, {s.id for s in self.cfg.services}, True)
        if now - self._last_prune > timedelta(hours=1):
            self._last_prune = now
            dropped = store.prune_commands(iso(now - REPLY_RETENTION))
            if dropped:
                log.info("forgot %d command replies older than %s", dropped, REPLY_RETENTION)

    def _command(
        self,
        device: str,
        payload: bytes,
        pending: list[Pending],
        replies: list[tuple[str, dict[str, Any]]],
        answered: dict[tuple[str, str], dict[str, Any]],
        hub_queries: list[tuple[str, str, dict[str, Any]]],
    ) -> None:
        assert self.engine is not None and self._store is not None
        try:
            cmd = parse_command(payload)
        except ProtocolError as exc:
            self.stats["bad_payloads"] += 1
            if exc.command_id is None:
                log.warning("dropped a malformed command from %s: %s", device, exc)
                return
            log.warning("bad_request to %s (%s): %s", device, exc.command_id, exc)
            cid = exc.command_id
            prior = answered.get((device, cid)) or self._store.find_reply(device, cid)
            reply = prior or error_reply(cid, "bad_request", str(exc))
            if prior is None:
                pending.append(Pending(Decision(), device, cid, reply))
                answered[(device, cid)] = reply
            replies.append((device, reply))
            return
        key = (device, cmd.id)
        prior = answered.get(key) or self._store.find_reply(device, cmd.id)
        if prior is not None:
            self.stats["duplicates"] += 1
            replies.append((device, prior))
            return
        if device == HUB_ID:
            # Answered after this batch is committed: a replay must include (and its last_seq count)
            # the events that this batch publishes before its replies.
            hub_queries.append((cmd.id, cmd.op, cmd.args))
            return
        self.stats["commands"] += 1
        try:
            decision = self.engine.handle(device, cmd.op, cmd.args)
        except Exception:
            # A bug must not take the site down: answer, and rebuild the engine from the disk.
            log.exception("engine failed on %s %s from %s", cmd.op, cmd.id, device)
            reply = error_reply(cmd.id, "bad_request", "internal error; see the controller log")
            replies.append((device, reply))
            self._reload_after_batch = True
            return
        if decision.error is not None:
            reply = error_reply(cmd.id, decision.error.code, decision.error.message)
            log.info("%s %s from %s refused: %s", cmd.op, cmd.id, device, decision.error.code)
        else:
            reply = ok_reply(cmd.id, decision.result or {})
        pending.append(Pending(decision, device, cmd.id, reply))
        answered[key] = reply
        replies.append((device, reply))

    def _hub_command(self, command_id: str, op: str, args: dict[str, Any]) -> dict[str, Any]:
        assert self._store is not None
        if op != "replay":
            return error_reply(command_id, "forbidden", f"the hub may not send {op!r}")
        from_seq, limit = args.get("from_seq"), args.get("limit", REPLAY_MAX)
        if not isinstance(from_seq, int) or isinstance(from_seq, bool) or from_seq < 1:
            return error_reply(command_id, "bad_request", "args.from_seq: expected a whole number >= 1")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            return error_reply(command_id, "bad_request", "args.limit: expected a whole number >= 1")
        events = self._store.events(from_seq, min(limit, REPLAY_MAX))
        # Page by size too: the reply must fit in one MQTT packet.
        size, kept = 0, list[dict[str, Any]]()
        for ev in events:
            size += len(dumps(ev)) + 1
            if size > REPLAY_BYTES and kept:
                break
            kept.append(ev)
        next_seq = kept[-1]["seq"] + 1 if kept else from_seq
        result = {"events": kept, "last_seq": self._store.last_seq, "next_seq": next_seq}
        result["more"] = next_seq <= self._store.last_seq
        return ok_reply(command_id, result)

    def _presence(self, device: str, payload: bytes, retained: bool) -> None:
        if device in (CONTROLLER_ID,):
            return
        try:
            online = bool(json.loads(payload).get("online"))
        except (ValueError, AttributeError):
            log.warning("unreadable status from %s", device)
            return
        known = device == HUB_ID or device in {d.id for d in self.cfg.devices}
        if not known:
            log.warning("status from unknown device %s (not in site.toml)", device)
            return
        if self.presence.get(device) != online:
            with self.presence_changed:
                self.presence[device] = online
                self.presence_changed.notify_all()
            log.info(
                "device %s is %s%s",
                device,
                "online" if online else "offline",
                " (retained)" if retained else "",
            )

    def _publish_states(self, counters: set[str], services: set[str], board: bool) -> None:
        assert self.engine is not None and self._store is not None
        seq = self._store.last_seq
        if board:
            self._send(self.topics.board, {**self.engine.board_state(), "seq": seq}, True)
        for cid in sorted(counters):
            self._send(self.topics.counter_state(cid), {**self.engine.counter_state(cid), "seq": seq}, True)
        for sid in sorted(services):
            self._send(self.topics.service_state(sid), {**self.engine.service_state(sid), "seq": seq}, True)

    def _send(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        try:
            self.mqtt.publish(topic, payload, qos=1, retain=retain)
        except PayloadTooLarge as exc:  # never poison the connection; say it loudly instead
            log.error("not published: %s", exc)


def _exit_process(reason: str) -> None:
    """Stop the whole process at once: a supervisor restarts it from what is on disk."""
    logging.shutdown()
    os._exit(70)

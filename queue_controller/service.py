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
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho

from onestop import sdnotify
from onestop.clock import Clock, GuardedClock
from onestop.config import SiteConfig
from onestop.mqtt import MqttClient, MqttSettings, PayloadTooLarge, Received
from onestop.protocol import (
    CONTROLLER_ID,
    HUB_ID,
    MAX_PUBLISH_BYTES,
    UNSTORED_ERRORS,
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
from queue_controller.limits import DeviceWatch, FairInbox, RateLimiter
from queue_controller.metrics import INVALID_OP, METRICS_INTERVAL_S, CommandMetrics, result_of
from queue_controller.model import Decision
from queue_controller.rewind import SiteCheck, compare
from queue_controller.store import Pending, Store

log = logging.getLogger("onestop.controller")

BATCH_MAX = 500
#: While a flood is being dropped, read up to this many more times (each up to ~1000 messages)
#: before deciding the batch at hand.
CATCH_UP_POLLS = 50
REPLAY_MAX = 1000
#: Unstored refusals remembered for the retries of the same try (a flood's worth; see _refusal).
REFUSALS_KEPT = 20_000
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
        monotonic: Callable[[], float] = time.monotonic,
        accept_rewind: bool = False,
        time_scale: float = 1.0,
        metrics_s: float = METRICS_INTERVAL_S,
    ) -> None:
        self.cfg = cfg
        #: Demo only (``onestop up --traffic``): see :attr:`queue_controller.engine.Engine.time_scale`.
        self.time_scale = time_scale
        self.clock: Clock = clock or GuardedClock(
            step_s=cfg.queue.clock_step_s, hold_s=cfg.queue.clock_hold_s
        )
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
        # One queue per device, taken round-robin: a flooding device cannot delay the others.
        self._inbox: FairInbox[Received | _Republish] = FairInbox(cfg.limits.backlog)
        #: Each device's share (``[limits]``), on a monotonic clock (tests inject one).
        self.limiter = RateLimiter(cfg, monotonic, exempt=(HUB_ID,))
        self.watch = DeviceWatch(monotonic)
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._store: Store | None = None
        self.engine: Engine | None = None
        self._last_prune = self.clock.now()
        self._reload_after_batch = False
        #: Refusals that are not stored, kept for the copies of the same try (see _refusal).
        self._refused: dict[tuple[str, str, datetime | None], tuple[dict[str, Any], datetime]] = {}
        #: ``unavailable`` refusals of this batch, to be stored before they are published.
        self._unsaved: list[tuple[str, str, str, dict[str, Any], str]] = []
        #: The newest instant the store holds (its last event): a clock behind it is not trusted.
        self._store_ts: datetime | None = None
        self.stats = {
            "commands": 0,
            "batches": 0,
            "bad_payloads": 0,
            "duplicates": 0,
            "rate_limited": 0,
            "dropped": 0,
            "expired": 0,
        }
        #: The controller's own conditions (clock, store, devices), retained on dev/controller/health.
        self.health = Health()
        #: Commands answered and their latency, published in the health message (queue_controller/metrics.py)
        #: at least every ``metrics_s`` seconds.
        self.metrics = CommandMetrics()
        self.metrics_s = metrics_s
        self._health_next = 0.0  # time.monotonic() when the health is published again at the latest
        #: The commands answered in the batch at hand (op, reply), and when the batch was taken.
        self._handled: list[tuple[str, dict[str, Any]]] = []
        self._batch_t0 = 0.0
        #: Set while the controller does not serve yet: reading what the site saw, or rewound.
        self._check: SiteCheck | None = None
        self._accept_rewind = accept_rewind
        self._published_seq = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, connect_timeout: float = 10.0) -> None:
        """Open the store, restore the engine, connect, and publish every retained state."""
        self._store = Store(self.db_path)
        self._restore()
        # The refusals a device may still send copies of (a crash must not turn them into decisions).
        for device, cid, deadline, reply, until in self._store.refusals(iso(self.clock.now())):
            key = (device, cid, datetime.fromisoformat(deadline))
            self._refused[key] = (reply, datetime.fromisoformat(until))
        # Nothing is served (and no retained state overwritten) before the store is compared with
        # what the site saw: see queue_controller/rewind.py.
        self._check = SiteCheck(self._accept_rewind)
        self.mqtt.on_connect_hooks.append(self._check_on_connect)
        self.mqtt.on_connect_hooks.append(lambda _session: self._republish_soon())
        # The worker owns the connection: it reads, decides, commits and publishes in one thread,
        # with no hand-off per message (see docs/controller.md).
        self.mqtt.start(threaded=False)
        self.mqtt.paho.message_callback_add(self.topics.state_all, self._check_message)
        self.mqtt.paho.message_callback_add(self._check_topic, self._check_message)
        self._stopping.clear()
        self._worker = threading.Thread(target=self._run, name="controller-worker", daemon=True)
        self._worker.start()
        self.mqtt.wait_connected(connect_timeout)

    def _restore(self) -> None:
        """Build the engine from what is on disk."""
        assert self._store is not None
        self.engine = Engine(self.cfg, self.clock, time_scale=self.time_scale)
        self.engine.ticket_token = TicketLinks(self._store.secret("ticket_links", new_key)).token
        loaded = self._store.load(business_day(self.cfg, self.clock.now()))
        self.engine.restore(
            loaded.meta, loaded.tickets, loaded.counters, loaded.services, loaded.booking_codes
        )
        last = self._store.events(loaded.last_seq, 1) if loaded.last_seq else []
        self._store_ts = datetime.fromisoformat(last[0]["ts"]) if last else None
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

    def _republish_soon(self) -> None:
        self._inbox.put("", _Republish())  # key "": no device publishes under an empty id

    def publish_health_soon(self) -> None:
        """Publish every retained state, and the health with the figures so far, at the next batch
        (thread-safe; for tools and tests, which need not wait for the periodic publication)."""
        self._republish_soon()

    def _health_due(self, republish: bool) -> bool:
        """Whether the health message goes out in this batch: it changed, everything is republished,
        or the figures (queue_controller/metrics.py) are due."""
        return self.health.changed or republish or time.monotonic() >= self._health_next

    def _publish_health(self, now: datetime) -> None:
        self.health.changed = False
        self._health_next = time.monotonic() + self.metrics_s
        payload = self.health.payload(now)
        payload["metrics"] = self.metrics.payload()
        self._send(self.topics.dev_health(CONTROLLER_ID), payload, True)

    def _count_handled(self) -> None:
        """After a batch's replies are handed to the broker: count its commands and their latency."""
        if self._handled:
            elapsed = time.monotonic() - self._batch_t0
            for op, reply in self._handled:
                self.metrics.handled(op, result_of(reply), elapsed)
            self._handled.clear()

    # -- input -----------------------------------------------------------------------------
    def _enqueue(self, msg: paho.MQTTMessage) -> None:
        # called by paho inside poll(), in the worker thread; {root}/dev/{device}/{kind}: keyed by device
        if not self._inbox.put(_inbox_key(msg.topic), Received.of(msg)):
            # Over the device's backlog: dropped unread, and acknowledged so that the broker does not
            # send it again (paho tracks nothing for manual acks; Mosquitto matches PUBACKs by id).
            self.stats["dropped"] += 1
            self.mqtt.ack(msg.mid, msg.qos)

    def _run(self) -> None:
        watchdog = sdnotify.Watchdog.from_env()  # None unless systemd asked for pings
        try:
            while not self._stopping.is_set():
                if watchdog:
                    watchdog.ping()
                dropped = self.stats["dropped"]
                self.mqtt.poll(0.0 if self._inbox else min(self.tick_s, 0.2))
                # A device over its backlog is dropped unread, which is cheap: catch up with the
                # socket, so that what other devices sent behind a flood is taken in this batch.
                for _ in range(CATCH_UP_POLLS):
                    if self.stats["dropped"] == dropped:
                        break
                    dropped = self.stats["dropped"]
                    self.mqtt.poll(0.0)
                batch = self._inbox.take(BATCH_MAX)
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
        self._batch_t0 = time.monotonic()
        self._handled.clear()
        if self._check is not None:  # not serving yet: the site check, or a rewound store
            self._unchecked(batch)
            return
        engine, store = self.engine, self._store
        pending: list[Pending] = []
        trusted = self._check_clock()
        tick = engine.tick() if trusted else None
        if tick is not None and tick.changed:
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
                self._command(device, msg.payload, pending, replies, answered, hub_queries, trusted)
        now = self.clock.now()
        if engine.day_behind is not None:
            self.health.set(
                "day",
                "clock_behind",
                f"the clock says business day {engine.day_behind} but day {engine.day} is already open; "
                f"numbering goes on in {engine.day} (a closed day is never reopened)",
                now,
            )
        else:
            self.health.ok("day", now)
        self._review_devices(now)
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
            self._handled.append((op, replies[-1][1]))
        # What the hall sees first (the board, the counters), then the events, then the replies: the
        # contract orders nothing across topics, and a citizen watches the board, not the clerk.
        if republish:
            counters = {c.id for c in self.cfg.counters}
            services = {s.id for s in self.cfg.services}
            board = True
        self._publish_states(counters, services, board)
        if self._health_due(republish):
            self._publish_health(now)
        for ev in events:
            self._send(self.topics.events, ev)
        self._save_refusals()
        for device, reply in replies:
            self._send(self.topics.dev_reply(device), reply)
        self._count_handled()
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
            store.prune_refusals(iso(now))
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
        trusted: bool = True,
    ) -> None:
        assert self.engine is not None and self._store is not None
        try:
            cmd = parse_command(payload)
        except ProtocolError as exc:
            self.stats["bad_payloads"] += 1
            loud = self.watch.note(device, "bad_request")
            if exc.command_id is None:
                if loud:
                    log.warning("dropped a malformed command from %s: %s", device, exc)
                return
            if loud:
                log.warning("bad_request to %s (%s): %s", device, exc.command_id, exc)
            cid = exc.command_id
            # Not stored (UNSTORED_ERRORS): the same bytes are refused again, identically.
            prior = answered.get((device, cid)) or self._store.find_reply(device, cid)
            reply = prior or self._stamped(error_reply(cid, "bad_request", str(exc)))
            if prior is None:
                self._handled.append((INVALID_OP, reply))
            answered[(device, cid)] = reply
            replies.append((device, reply))
            return
        key = (device, cmd.id)
        prior = (
            answered.get(key)
            or self._refused.get((device, cmd.id, cmd.deadline), (None,))[0]
            or self._store.find_reply(device, cmd.id)
        )
        if prior is not None:
            self.stats["duplicates"] += 1
            replies.append((device, prior))
            return
        if device == HUB_ID:
            # Answered after this batch is committed: a replay must include (and its last_seq count)
            # the events that this batch publishes before its replies.
            hub_queries.append((cmd.id, cmd.op, cmd.args))
            return
        if cmd.deadline is not None and self.clock.now() > cmd.deadline:
            # The device has told its user that this command failed: it must never take effect.
            self.stats["expired"] += 1
            log.info("%s %s from %s expired at %s: not done", cmd.op, cmd.id, device, iso(cmd.deadline))
            reply = error_reply(cmd.id, "expired", "the device gave up on this command")
            replies.append((device, self._stamped(reply)))
            self._handled.append((cmd.op, reply))
            return
        if not trusted:
            reply = error_reply(cmd.id, "unavailable", self.health.detail_of("clock"))
            refusal = self._refusal(device, cmd.id, cmd.deadline, self._stamped(reply), durable=True)
            replies.append((device, refusal))
            self._handled.append((cmd.op, reply))
            return
        if not self.limiter.allow(device):
            # Nothing done, nothing stored: the device may send the same id again later.
            self.stats["rate_limited"] += 1
            if self.watch.note(device, "rate_limited"):
                log.info("%s %s from %s refused: rate_limited", cmd.op, cmd.id, device)
            reply = self._stamped(error_reply(cmd.id, "rate_limited", self.limiter.refusal(device)))
            self._refusal(device, cmd.id, cmd.deadline, reply)
            answered[key] = reply
            replies.append((device, reply))
            self._handled.append((cmd.op, reply))
            return
        self.stats["commands"] += 1
        try:
            decision = self.engine.handle(device, cmd.op, cmd.args)
        except Exception:
            # A bug must not take the site down: answer, and rebuild the engine from the disk.
            log.exception("engine failed on %s %s from %s", cmd.op, cmd.id, device)
            reply = error_reply(cmd.id, "bad_request", "internal error; see the controller log")
            replies.append((device, reply))
            self._handled.append((cmd.op, reply))
            self._reload_after_batch = True
            return
        by = {"device": device, "id": cmd.id}
        for _kind, _ts, data in decision.events:
            data["command"] = by  # which command caused it (docs/protocol.md "Events")
        if decision.error is not None:
            code = decision.error.code
            reply = error_reply(cmd.id, code, decision.error.message)
            if self.watch.note(device, code):
                log.info("%s %s from %s refused: %s", cmd.op, cmd.id, device, code)
            if code in UNSTORED_ERRORS:
                # A refusal that changed nothing is not kept one row per command: a flood of them
                # must not fill the disk, and a retry is decided again, the same way.
                if decision.changed:  # the clock's own work (a new day) is still persisted
                    pending.append(Pending(decision))
                answered[key] = reply
                replies.append((device, reply))
                self._handled.append((cmd.op, reply))
                return
        else:
            reply = ok_reply(cmd.id, decision.result or {})
        self._stamped(reply)
        pending.append(Pending(decision, device, cmd.id, reply))
        answered[key] = reply
        replies.append((device, reply))
        self._handled.append((cmd.op, reply))

    def _refusal(
        self,
        device: str,
        command_id: str,
        deadline: datetime | None,
        reply: dict[str, Any],
        *,
        durable: bool = False,
    ) -> dict[str, Any]:
        """Remember a refusal that decides nothing (``rate_limited``, ``unavailable``) for the copies of
        the same try: a device retries with the same id and the same deadline, and once it has shown
        "busy" for the first answer, a later copy must not be decided for real. A new try (the
        citizen's "try again") has a new deadline and is decided afresh. Kept in memory until the
        deadline has passed, at most REFUSALS_KEPT. With ``durable`` (``unavailable``: rare) it is
        also stored before it is published, for a copy that arrives after a crash and a restart (a
        ``rate_limited`` one is not: a flood would cost a commit per batch). A command without a
        deadline is decided afresh."""
        if deadline is None:  # without a deadline the copies of one try cannot be told from a new try
            return reply
        now = self.clock.now()
        refused = self._refused
        if len(refused) >= REFUSALS_KEPT:
            for k in [k for k, (_r, until) in refused.items() if until < now]:
                del refused[k]
            for k in list(refused)[: max(0, len(refused) - REFUSALS_KEPT // 2)]:
                del refused[k]
        until = deadline + timedelta(seconds=120)
        refused[(device, command_id, deadline)] = (reply, until)
        if durable:
            self._unsaved.append((device, command_id, deadline.isoformat(), reply, until.isoformat()))
        return reply

    def _save_refusals(self) -> None:
        """Store this batch's durable refusals before they are published (best effort: a store that
        cannot write, a full disk, leaves them in memory, which serves until a restart)."""
        if not self._unsaved or self._store is None:
            return
        rows, self._unsaved = self._unsaved, []
        try:
            self._store.add_refusals(rows)
        except sqlite3.Error as exc:
            log.warning("%d refusals not stored (%s): kept in memory only", len(rows), exc)

    def _stamped(self, reply: dict[str, Any]) -> dict[str, Any]:
        """Add ``ts``, the controller's time of the decision: devices learn from it how far their
        clock is from the controller's (docs/protocol.md "Deadlines"). It is stored with the reply,
        so a repeated command gets the very same reply."""
        reply["ts"] = iso(self.clock.now())
        return reply

    def _check_clock(self) -> bool:
        """Update the ``clock`` health condition; False while the clock cannot be trusted to decide.

        A clock behind the newest instant in the store (a Raspberry Pi without a real-time clock,
        booted before NTP answered) would date decisions before ones already made: the controller
        answers ``unavailable`` until the clock has caught up, taking each step of the system clock at
        once meanwhile (the step that NTP makes is the one it waits for)."""
        guard = self.clock if isinstance(self.clock, GuardedClock) else None
        now = self.clock.now()
        slack = timedelta(seconds=self.cfg.queue.clock_step_s)
        if self._store_ts is not None and now < self._store_ts - slack:
            if guard is not None:
                guard.trust_wall()
                now = guard.now()
            if now < self._store_ts - slack:
                behind = (self._store_ts - now).total_seconds()
                self.health.set(
                    "clock",
                    "behind_store",
                    f"the clock is {behind:.0f} s behind the newest decision on disk "
                    f"({iso(self._store_ts)}); waiting for the time to be synchronised",
                    now,
                )
                return False
        self._store_ts = None  # caught up: from now on the guard watches the clock
        if guard is not None and guard.state != "ok":
            self.health.set("clock", guard.state, guard.detail, now)
        else:
            self.health.ok("clock", now)
        return True

    def _review_devices(self, now: datetime) -> None:
        """Warn about misbehaving devices (once a minute each) and keep the ``devices`` condition."""
        for device, n in self._inbox.pop_dropped().items():
            self.watch.note(device, "dropped", n)
        warnings, changed = self.watch.review()
        for w in warnings:
            log.warning('misbehaving device %s; see docs/operations.md "Misbehaving devices"', w.line())
        if changed:
            if self.watch.misbehaving:
                self.health.set("devices", "misbehaving", self.watch.detail(), now)
            else:
                self.health.ok("devices", now)

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

    # -- the start-up check against what the site saw (queue_controller/rewind.py) ----------------
    @property
    def _check_topic(self) -> str:
        return f"{self.topics.root}/dev/{CONTROLLER_ID}/check"

    def _check_on_connect(self, _session: bool) -> None:
        chk = self._check
        if chk is None or chk.verdict is not None:
            return
        client = self.mqtt.paho
        client.subscribe([(self.topics.state_all, 1), (self._check_topic, 1)])
        client.publish(self._check_topic, chk.token.encode(), qos=1)
        chk.subscribed_at = time.monotonic()

    def _check_message(self, _client: Any, _userdata: Any, msg: paho.MQTTMessage) -> None:
        # paho's callback for state/# and the marker, in the worker thread (inside poll())
        chk = self._check
        if chk is None or chk.verdict is not None:
            return
        self.mqtt.ack(msg.mid, msg.qos)  # manual acks: an unacknowledged one would hold up the rest
        if msg.topic == self._check_topic:
            chk.marker_back = chk.marker_back or bytes(msg.payload) == chk.token.encode()
            return
        parts = msg.topic[len(self.topics.root) + len("/state/") :].split("/")
        chk.seen.add(parts[0], parts[1] if len(parts) > 1 else "", bytes(msg.payload))

    def _unchecked(self, batch: list[Received | _Republish]) -> None:
        """Before serving: hold the inbox until the check is done; while rewound, refuse commands
        with ``unavailable`` (not stored) and publish nothing but the controller's health."""
        assert self._check is not None and self._store is not None and self.engine is not None
        chk, now = self._check, self.clock.now()
        if chk.verdict is None:
            # Held commands are acknowledged now: the broker sends a client only so many unacknowledged
            # messages, and a full window would hold back the retained states and the end marker that
            # the check waits for (every start then took the whole timeout). A crash before they are
            # decided loses them from the broker, not from the devices: they retry with the same id and
            # deadline, and report a failure if nobody answers in time; nothing of them was done.
            for i, m in enumerate(batch):
                if isinstance(m, Received) and m.qos:
                    self.mqtt.ack(m.mid, m.qos)
                    batch[i] = m._replace(qos=0)  # acknowledged once only
            chk.held.extend(batch)
            if not chk.finished():
                return
            if not chk.marker_back:
                log.warning("site check: the end marker did not come back; deciding on what arrived")
            store = self._store
            issued = {sid: (s.issued, s.last_issued) for sid, s in self.engine.services.items()}
            chk.verdict = compare(chk.seen, store.last_seq, self.engine.day.isoformat(), issued)
            self.mqtt.paho.unsubscribe([self.topics.state_all, self._check_topic])
            if not chk.verdict.rewound:
                log.info("site check: %s", chk.verdict.detail)
                if store.meta_value("accept_rewind") is not None:
                    log.warning("an accept-rewind decision is recorded but the store is not rewound: ignored")
                    store.drop_accept_request()
                self._serve(chk.held)
                return
            log.critical(
                "REWOUND STORE: %s; refusing every command (error unavailable) until the operator "
                "decides: `onestop controller accept-rewind --config ...`",
                chk.verdict.detail,
            )
            self.health.set("store", "rewound", chk.verdict.detail, now)
            batch, chk.held = chk.held, []
        accepted = chk.accept
        if not accepted and time.monotonic() >= chk.next_poll:  # the operator's decision, once a second
            chk.next_poll = time.monotonic() + 1.0
            accepted = self._store.accept_request() is not None
        if accepted:
            self._accept(now)
            return
        replies: list[tuple[str, dict[str, Any]]] = []
        republish = False
        for msg in batch:
            if isinstance(msg, _Republish):
                republish = True
                continue
            self.mqtt.ack(msg.mid, msg.qos)
            where = self.topics.parse_dev(msg.topic)
            if where is None:
                continue
            device, kind = where
            if kind == "status":
                self._presence(device, msg.payload, msg.retain)
                continue
            if kind != "cmd":
                continue
            try:
                cmd = parse_command(msg.payload)
            except ProtocolError as exc:
                if exc.command_id is not None:
                    replies.append((device, error_reply(exc.command_id, "unavailable", REWOUND_MESSAGE)))
                    self._handled.append((INVALID_OP, replies[-1][1]))
                continue
            if device == HUB_ID:  # a replay reads the store: the hub sees how far it is behind
                replies.append((device, self._hub_command(cmd.id, cmd.op, cmd.args)))
            else:
                reply = error_reply(cmd.id, "unavailable", REWOUND_MESSAGE)
                replies.append((device, self._refusal(device, cmd.id, cmd.deadline, reply, durable=True)))
            self._handled.append((cmd.op, replies[-1][1]))
        if self._health_due(republish):
            self._publish_health(now)
        self._save_refusals()
        for device, reply in replies:
            self._send(self.topics.dev_reply(device), reply)
        self._count_handled()

    def _serve(self, held: list[Received | _Republish]) -> None:
        """Start serving: what arrived during the check is processed first, in order."""
        self._check = None
        by_key: dict[str, list[Received | _Republish]] = {}
        for m in held:
            by_key.setdefault("" if isinstance(m, _Republish) else _inbox_key(m.topic), []).append(m)
        by_key.setdefault("", []).append(_Republish())
        for key, items in by_key.items():
            self._inbox.put_front(key, items)

    def _accept(self, now: Any) -> None:
        """The operator accepted the rewound store: continue after what the site saw."""
        assert self._check is not None and self._check.verdict is not None
        assert self._store is not None and self.engine is not None
        verdict, store, engine = self._check.verdict, self._store, self.engine
        was = store.last_seq
        tick = engine.tick()  # a day that ended while the store was away ends first
        raised = []
        for sid, seen in sorted(self._check.seen.services.items()):
            # The business day may have moved on in tick(): what the hall saw of the day now open.
            svc = engine.services.get(sid)
            if svc is not None and seen.day in (None, engine.day.isoformat()) and seen.issued > svc.issued:
                svc.issued, svc.last_issued = seen.issued, seen.last_issued
                raised.append(f"{sid} after {seen.last_issued}")
        note = {
            "at": iso(now),
            "store_seq": was,
            "seen_seq": verdict.floor,
            "numbers": {sid: n for sid, (n, _last) in verdict.numbers.items()},
            "by": "--accept-rewind" if self._check.accept else "accept-rewind",
        }
        # The first event after the jump says what happened (docs/protocol.md, "Events").
        pending = [Pending(Decision(events=[("controller.rewound", iso(now), note)]))]
        if tick.changed:
            pending.append(Pending(tick))
        events = store.commit(
            pending,
            engine.meta(),
            {c: engine.counters[c].record() for c in tick.counters},
            {s.id: s.record() for s in engine.services.values()},
            iso(now),
            rewind=(verdict.floor, note),
        )
        done = f"rewind accepted: events continue after seq {verdict.floor} (the store was at {was})" + (
            f"; numbering continues {', '.join(raised)}" if raised else ""
        )
        log.warning("%s", done)
        self.health.ok("store", now, done)
        for ev in events:
            self._send(self.topics.events, ev)
        self._serve([])

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
        # The retained states always carry the last seq published (a batch of ratings changes no
        # state: the board says it), so that a rewound store is found at the next start.
        board = board or (seq > self._published_seq and not counters and not services)
        self._published_seq = seq
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


#: What a device is told while the controller refuses to serve from a rewound store.
REWOUND_MESSAGE = "the queue controller lost data and waits for the operator (docs/operations.md)"
#: Exit status after the disk filled up (EX_IOERR); 70 (EX_SOFTWARE) for any other store failure.
EXIT_DISK_FULL = 74


def _inbox_key(topic: str) -> str:
    """The fair inbox's key of a message: its device for ``{root}/dev/{device}/{kind}``, else ""."""
    parts = topic.rsplit("/", 2)
    return parts[-2] if len(parts) == 3 else ""


def _exit_process(reason: str) -> None:
    """Stop the whole process at once: a supervisor restarts it from what is on disk."""
    logging.shutdown()
    os._exit(EXIT_DISK_FULL if reason.startswith("disk full") else 70)

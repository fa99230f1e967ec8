"""The simulated devices of a chaos day: kiosks, counters and rating terminals in one process.

``python -m bench.chaos_day.load SPEC.json`` connects one raw paho client per device (each its own broker
account, as on a real site) and drives them all from one selector loop (no thread per client, as in
``bench/throughput.py``). Like real devices they hold no queue state of their own and retry every
command with the *same* id, forever, until it is answered: after a timeout and at once after every
reconnect. Kiosk ``issue`` commands carry an MQTT 5 message expiry, as ``DeviceClient(expire=True)``.

It talks to the orchestrator over its standard streams, one JSON document per line: it prints
``{"progress": {...}}`` a few times a second and ``{"done": {...}}`` at the end, and it reads
``{"drop": n}`` (close ``n`` device sockets abruptly, without an MQTT DISCONNECT) and ``{"stop": true}``.
What it saw (every ticket it was given, every rating, every reply that changed for the same command
id) goes to the results file named in the spec, for the checks of :mod:`bench.chaos_day.checks`.

**The business-day boundary** (``spec["boundary"]``): the site's day starts anew at a known instant
during the day. The kiosks issue ``before`` tickets before it (spread over the time until then, the
last ``lull_s`` seconds at the day's rate) and the rest only after it, so that the day cannot end
before the boundary however fast it runs. In the last ``lull_s`` seconds half of the counters call
nobody (the evening): tickets still wait when the day closes, and the reset expires them, while the
other counters are serving when it comes. Like real devices they are not told what the reset did;
they find out as real ones do:

- a counter that the reset closed gets ``counter_closed`` on its next key and opens again; the
  ticket it was serving was ended by the reset (``no_current_ticket`` says the same), and its final
  status in the devices' view is ``ended_unseen`` (the checks require ``done`` by the reset);
- tickets that the devices last saw waiting when the new day began were expired by the reset (the
  domain rule; the checks compare it with the store); skipped tickets of the old day are not called
  back on the new one (numbers restart, ``call`` is by today's number);
- refusals are all recorded with what the device believed when it sent the command (``view``: the
  command whose reply it last acted on; ``ticket``: the ticket concerned), so that the checks can
  tell those the boundary makes legitimate from any other.
"""

from __future__ import annotations

import contextlib
import hashlib
import heapq
import json
import os
import random
import selectors
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from onestop.protocol import UNSTORED_ERRORS, Topics

#: How often the progress line is printed.
PROGRESS_S = 0.2
#: Keepalive of the device connections (paho pings; the broker drops a silent client after 1.5x).
KEEPALIVE_S = 30
#: A device reports a command failed this long after its deadline (``onestop.device.DEADLINE_GRACE_S``).
GRACE_S = 1.0
#: Answers that a device shows its user as a failure of the command (with no answer at all).
USER_FAILURES = frozenset({"expired", "unavailable", "rate_limited"})


@dataclass
class Cmd:
    """One command of one device, in flight until its first reply."""

    cid: str
    op: str
    payload: bytes
    on_reply: Callable[[Dev, Cmd, dict[str, Any]], None]
    expire: bool = False
    created: float = 0.0
    last_sent: float = 0.0
    sends: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    #: When the device gives up on it (monotonic): no answer by then and it tells its user it failed.
    give_up: float = float("inf")
    #: Wall-clock time of the first try (the controller's clock is learnt from the reply to it).
    first_sent_wall: float = 0.0


def day_of(ticket_id: str) -> str:
    """The business day (``YYYYMMDD``) in a ticket id."""
    return ticket_id.split("-", 1)[0]


@dataclass
class Dev:
    """One simulated device and its connection."""

    id: str
    role: str
    password: str
    counter: str | None = None
    officer: str | None = None
    services: list[str] = field(default_factory=list)
    client: paho.Client | None = None
    sock: Any = None
    ready: bool = False
    connected_once: bool = False
    next_connect: float = 0.0
    connect_failures: int = 0
    inflight: dict[str, Cmd] = field(default_factory=dict)
    seq: int = 0
    # counters
    opened: bool = False
    paused: bool = False
    serving: dict[str, Any] | None = None
    blocked_by_rating: bool = False
    want_next: bool = False
    timer_due: bool = False
    #: The command whose (successful) reply the counter's view of itself rests on.
    view: str | None = None
    #: This counter's clerk calls nobody in the evening lull (half of them do).
    evening: bool = False


class Load:
    """Every simulated device of the day, driven from one selector loop."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.rng = random.Random(spec["seed"])
        self.topics = Topics(spec["site"])
        self.sel = selectors.DefaultSelector()
        self.devices: list[Dev] = []
        self.by_id: dict[str, Dev] = {}
        self.timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_seq = 0
        self.tickets_target: int = spec["tickets"]
        self.issue_rate: float = spec["issue_rate"]
        self.backlog_cap: int = spec["backlog_cap"]
        self.retry_s: float = spec["retry_s"]
        self.service_s: float = spec["service_s"]
        self.services: list[str] = spec["services"]
        self.rater_of: dict[str, str] = {}  # counter id -> rating device id
        self.started = 0.0
        self.stop_requested = False
        # what the devices were told
        self.issued: dict[str, dict[str, Any]] = {}  # ticket id -> {cid, device, number, service, priority}
        self.issue_cmds = 0
        self.status: dict[str, str] = {}  # ticket id -> status as the devices saw it
        self.waiting: set[str] = set()
        self.first_called: set[str] = set()
        self.callbacks: list[dict[str, Any]] = []
        self.called_back: set[str] = set()
        self.holder: dict[str, str] = {}  # ticket id -> the counter device that called it last
        self.ratings: dict[str, str] = {}  # rate command id -> rated ticket id
        self.reply_digest: dict[tuple[str, str], str] = {}
        self.reply_changed: list[dict[str, Any]] = []
        self.view_mismatch: list[dict[str, Any]] = []
        self.refusals: list[dict[str, Any]] = []
        self.latencies_ms: list[float] = []
        self.stats: Counter[str] = Counter()
        self.ops: Counter[str] = Counter()
        self._stdin_buf = b""
        # the business-day boundary
        self.boundary: dict[str, Any] | None = spec.get("boundary")
        self.day: str | None = self.boundary["day1"] if self.boundary else None
        self.new_day_seen = False  # the boundary has passed: the devices act on the new day
        self.saw_day2 = False  # a ticket of the new day came back
        self.expired: set[str] = set()  # tickets the reset expired, as the devices infer it
        self.ended_unseen: list[dict[str, Any]] = []  # tickets a counter lost to the reset
        self.boundary_calls: list[dict[str, Any]] = []  # a callback number that meant today's ticket
        self.started_wall = 0.0
        # devices that give up (docs/protocol.md "Deadlines")
        #: A device tells its user a command failed when no answer came in this time (None: never).
        self.give_up_s: float | None = spec.get("give_up_s")
        #: The controller's clock minus ours (seconds), learnt from the ``ts`` of quick replies.
        self.offset = 0.0
        #: Every command a device reported to its user as failed: no answer in time (``no_reply``),
        #: or an answer ``expired``, ``unavailable`` or ``rate_limited``. None may ever take effect.
        self.failed: list[dict[str, Any]] = []
        #: The orchestrator keeps the day from ending while its last faults run.
        self.held = bool(spec.get("held"))
        # the flooding device (a kiosk account gone wild)
        self.flood_id: str | None = spec.get("flood_device")
        self.flood_until = 0.0
        self.flood_window = int(spec.get("flood_window", 200))
        self.flood_issued: dict[str, dict[str, Any]] = {}
        self.flood_ops: Counter[str] = Counter()
        self.flood_replies: Counter[str] = Counter()
        #: (start, end) monotonic of each flood, and the other devices' figures in and out of them.
        self.flood_windows: list[tuple[float, float]] = []
        #: (sent, failed, seconds to the answer or the give-up) of every command of the other devices
        self.others_done: list[tuple[float, bool, float]] = []

    # -- set-up ------------------------------------------------------------------------------
    def build(self) -> None:
        """Create a paho client per device (not connected yet)."""
        for d in self.spec["devices"]:
            dev = Dev(
                id=d["id"],
                role=d["role"],
                password=d["password"],
                counter=d.get("counter"),
                officer=d.get("officer"),
                services=list(d.get("services") or []),
            )
            if dev.role == "rating" and dev.counter is not None:
                self.rater_of[dev.counter] = dev.id
            dev.evening = dev.role == "counter" and self.rng.random() < 0.5
            c = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=f"{dev.id}-chaos-{os.getpid()}",
                protocol=MQTTProtocolVersion.MQTTv5,
            )
            c.username_pw_set(dev.id, dev.password)
            c.max_inflight_messages_set(1000)
            c.will_set(self.topics.dev_status(dev.id), self._status(dev, False), qos=1, retain=True)
            c.user_data_set(dev)
            c.on_connect = self._on_connect
            c.on_subscribe = self._on_subscribe
            c.on_message = self._on_message
            c.on_disconnect = self._on_disconnect
            c.on_socket_open = self._on_socket_open
            c.on_socket_close = self._on_socket_close
            dev.client = c
            self.devices.append(dev)
            self.by_id[dev.id] = dev
        os.set_blocking(sys.stdin.fileno(), False)
        self.sel.register(sys.stdin.fileno(), selectors.EVENT_READ, None)

    def _status(self, dev: Dev, online: bool) -> bytes:
        return json.dumps({"online": online, "role": dev.role, "version": "chaos", "ts": _now_iso()}).encode()

    # -- connections -------------------------------------------------------------------------
    def _connect(self, dev: Dev) -> None:
        assert dev.client is not None
        try:
            if dev.connected_once:
                dev.client.reconnect()
            else:
                dev.client.connect(self.spec["host"], self.spec["port"], KEEPALIVE_S, clean_start=True)
                dev.connected_once = True
        except OSError:
            dev.connect_failures += 1
            self.stats["connect_failures"] += 1
            delay = min(1.0, 0.05 * 2 ** min(dev.connect_failures, 5)) * self.rng.uniform(0.5, 1.5)
            dev.next_connect = time.monotonic() + delay
            return
        self.stats["connects"] += 1

    def _on_socket_open(self, _c: paho.Client, dev: Dev, sock: Any) -> None:
        """paho opened a socket for ``dev``: watch it."""
        dev.sock = sock
        self.sel.register(sock, selectors.EVENT_READ, dev)

    def _on_socket_close(self, _c: paho.Client, dev: Dev, sock: Any) -> None:
        """paho is about to close ``dev``'s socket: stop watching it before its fd can be reused."""
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(sock)
        if dev.sock is sock:
            dev.sock = None

    def _on_connect(self, c: paho.Client, dev: Dev, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self.stats["connect_refused"] += 1
            return  # the broker closes the socket; we reconnect
        c.subscribe(self.topics.dev_reply(dev.id), qos=1)

    def _on_subscribe(self, c: paho.Client, dev: Dev, _mid: int, reasons: list[Any], _props: Any) -> None:
        if reasons and reasons[0].is_failure:
            raise RuntimeError(f"{dev.id} may not subscribe to its reply topic: {reasons[0]}")
        dev.ready = True
        dev.connect_failures = 0
        c.publish(self.topics.dev_status(dev.id), self._status(dev, True), qos=1, retain=True)
        # A device that reconnects asks again at once, with the same ids (the flooder sends each of
        # its commands once: it floods with new ones).
        for cmd in dev.inflight.values():
            if dev.id != self.flood_id or not cmd.sends:
                self._publish(dev, cmd, resend=cmd.sends > 0)

    def _on_disconnect(self, _c: paho.Client, dev: Dev, _flags: Any, _reason: Any, _props: Any) -> None:
        if dev.ready:
            self.stats["disconnects"] += 1
        dev.ready = False
        dev.next_connect = time.monotonic() + self.rng.uniform(0.05, 0.3)

    def drop(self, n: int) -> list[str]:
        """Close ``n`` random connected devices' sockets abruptly (RST, no MQTT DISCONNECT)."""
        live = [d for d in self.devices if d.ready and d.client is not None and d.client.socket() is not None]
        victims = self.rng.sample(live, min(n, len(live)))
        for dev in victims:
            assert dev.client is not None
            sock = dev.client.socket()
            if not isinstance(sock, socket.socket):
                continue
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            self.stats["dropped"] += 1
        return [d.id for d in victims]

    # -- commands ----------------------------------------------------------------------------
    def send(
        self,
        dev: Dev,
        op: str,
        args: dict[str, Any],
        on_reply: Callable[[Dev, Cmd, dict[str, Any]], None],
        *,
        expire: bool = False,
        **meta: Any,
    ) -> Cmd:
        """Queue a new command (a fresh id) and publish it when the device is connected."""
        dev.seq += 1
        cid = f"{dev.id}.{dev.seq}.{self.rng.getrandbits(32):08x}"
        if dev.role == "counter":  # what the clerk believed when pressing the key
            meta.setdefault("view", dev.view)
            meta.setdefault("serving", dev.serving["id"] if dev.serving else None)
        doc: dict[str, Any] = {"id": cid, "op": op, "args": args}
        created = time.monotonic()
        give_up = float("inf")
        if self.give_up_s is not None:
            # The instant the device gives up, in the controller's clock as the device estimates it;
            # it reports the failure 1 s later (onestop.device.DEADLINE_GRACE_S).
            doc["deadline"] = _iso(time.time() + self.offset + self.give_up_s)
            give_up = created + self.give_up_s + GRACE_S
        payload = json.dumps(doc, ensure_ascii=False).encode()
        cmd = Cmd(cid, op, payload, on_reply, expire, created, meta=meta, give_up=give_up)
        dev.inflight[cid] = cmd
        self.ops[op] += 1
        if dev.ready:
            self._publish(dev, cmd)
        return cmd

    def _publish(self, dev: Dev, cmd: Cmd, resend: bool = True) -> None:
        assert dev.client is not None
        props = None
        if cmd.expire:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = int(self.retry_s) + 1
        dev.client.publish(self.topics.dev_cmd(dev.id), cmd.payload, qos=1, properties=props)
        if cmd.sends and resend:
            self.stats["retries"] += 1
        if not cmd.sends:
            cmd.first_sent_wall = time.time()
        cmd.sends += 1
        cmd.last_sent = time.monotonic()

    def _on_message(self, _c: paho.Client, dev: Dev, msg: paho.MQTTMessage) -> None:
        try:
            reply = json.loads(msg.payload)
            cid = str(reply["id"])
        except (ValueError, KeyError, TypeError):
            self.stats["unreadable_replies"] += 1
            return
        code = (reply.get("error") or {}).get("code") if isinstance(reply.get("error"), dict) else None
        if code in UNSTORED_ERRORS:
            # Not stored: a copy of the same command may be refused again in other words, or done
            # (which the checks find as a changed reply and, once reported failed, as an effect).
            digest = "a refusal that is not stored"
        else:
            digest = hashlib.sha1(json.dumps(reply, sort_keys=True).encode()).hexdigest()
        key = (dev.id, cid)
        seen = self.reply_digest.get(key)
        if seen is None:
            self.reply_digest[key] = digest
        elif seen != digest:
            self.reply_changed.append({"device": dev.id, "id": cid, "reply": reply})
        cmd = dev.inflight.pop(cid, None)
        if cmd is None:
            self.stats["duplicate_replies"] += 1
            return
        took = time.monotonic() - cmd.created
        self._learn_offset(cmd, reply, took)
        self.latencies_ms.append(took * 1000)
        self.stats["answered"] += 1
        if dev.id == self.flood_id:
            self.flood_replies[(reply.get("error") or {}).get("code") or "ok"] += 1
            cmd.on_reply(dev, cmd, reply)
            return
        self._other(cmd, failed=False, took=took)
        if not reply.get("ok"):
            err = reply.get("error") or {}
            if err.get("code") in USER_FAILURES:
                self._failed(dev, cmd, str(err.get("code")))
            self.refusals.append(
                {
                    "device": dev.id,
                    "id": cid,
                    "op": cmd.op,
                    "code": err.get("code"),
                    "message": err.get("message"),
                    **cmd.meta,
                }
            )
        cmd.on_reply(dev, cmd, reply)

    def _learn_offset(self, cmd: Cmd, reply: dict[str, Any], took: float) -> None:
        """The controller's clock from a reply to a first try that came back quickly (as
        ``DeviceClient`` does: the reply was stamped about half a round trip before it came)."""
        ts = reply.get("ts")
        if cmd.sends != 1 or not isinstance(ts, str) or took > 0.5:
            return
        with contextlib.suppress(ValueError):
            self.offset = datetime.fromisoformat(ts).timestamp() - (cmd.first_sent_wall + took / 2)

    def _failed(self, dev: Dev, cmd: Cmd, why: str) -> None:
        """The device tells its user that ``cmd`` failed: it must never take effect."""
        self.failed.append(
            {"device": dev.id, "id": cmd.cid, "op": cmd.op, "why": why, "sends": cmd.sends,
             "after_s": round(time.monotonic() - cmd.created, 3)}
        )  # fmt: skip
        self.stats[f"failed_{why}"] += 1

    def give_up_stale(self, now: float) -> None:
        """Give up on every command whose time is over: the device reports it failed and goes on as
        if it had never been sent (a clerk presses the key again, a citizen taps again)."""
        for dev in self.devices:
            for cmd in [c for c in dev.inflight.values() if c.give_up <= now]:
                del dev.inflight[cmd.cid]
                if dev.id == self.flood_id:
                    self.flood_replies["no_reply"] += 1
                    continue
                self._failed(dev, cmd, "no_reply")
                self._other(cmd, failed=True, took=now - cmd.created)
                cmd.on_reply(dev, cmd, {"id": cmd.cid, "ok": False, "error": {"code": "no_reply"}})

    def _other(self, cmd: Cmd, *, failed: bool, took: float) -> None:
        """Note how a command of a device other than the flooder ended (sorted out at the end)."""
        self.others_done.append((cmd.created, failed, took))

    def others_figures(self) -> dict[str, dict[str, float]]:
        """The other devices' commands, by when they were sent: during a flood, in as long a time
        just before it (the baseline), or at any other time of the day."""
        count: dict[str, Counter[str]] = {k: Counter() for k in ("flood", "before", "calm")}
        latency: dict[str, list[float]] = {k: [] for k in count}
        for t, failed, took in self.others_done:
            if any(a <= t < b for a, b in self.flood_windows):
                key = "flood"
            elif any(2 * a - b <= t < a for a, b in self.flood_windows):
                key = "before"
            else:
                key = "calm"
            count[key]["commands"] += 1
            count[key]["failed"] += failed
            if not failed:
                latency[key].append(took * 1000)
        return {
            k: {
                "commands": c["commands"],
                "failed": c["failed"],
                "latency_ms_p50": _pct(latency[k], 0.5),
                "latency_ms_p99": _pct(latency[k], 0.99),
            }
            for k, c in count.items()
        }

    # -- the flooding device -------------------------------------------------------------------
    def flood(self, seconds: float) -> None:
        """The flooding kiosk sends ``issue`` and forbidden ``call_next`` commands as fast as its
        window lets it, for ``seconds``."""
        now = time.monotonic()
        self.flood_until = now + seconds
        self.flood_windows.append((now, self.flood_until))

    def fill_flood(self) -> None:
        """Keep the flooder's window full while its flood lasts."""
        if self.flood_id is None or not self.flood_until:
            return
        dev = self.by_id[self.flood_id]
        if time.monotonic() >= self.flood_until:
            self.flood_until = 0.0
            return
        while len(dev.inflight) < self.flood_window:
            if self.rng.random() < 0.5:
                self.flood_ops["issue"] += 1
                args = {"service": self.rng.choice(self.services)}
                self.send(dev, "issue", args, self._flood_issued)
            else:
                self.flood_ops["call_next"] += 1
                self.send(dev, "call_next", {}, lambda *_: None)

    def _flood_issued(self, dev: Dev, cmd: Cmd, reply: dict[str, Any]) -> None:
        if not reply.get("ok"):
            return
        t = reply["result"]["ticket"]
        tid = t["id"]
        self._seen_ticket(tid)
        if tid in self.issued or tid in self.flood_issued:
            self.view_mismatch.append({"what": "ticket issued twice", "ticket": tid, "ids": [cmd.cid]})
            return
        self.flood_issued[tid] = {
            "cid": cmd.cid,
            "device": dev.id,
            "number": t["number"],
            "service": t["service"],
            "priority": t["priority"],
        }
        if tid not in self.status:  # the counters serve the flooder's citizens too
            self._waits(tid)

    # -- kiosks ------------------------------------------------------------------------------
    def fill_kiosks(self) -> None:
        """Start new ``issue`` commands within the rate, the backlog cap and the kiosks' windows."""
        if self.stop_requested:
            return
        allowed = self.allowed()
        window = self.spec["kiosk_window"]
        kiosks = [d for d in self.devices if d.role == "kiosk" and d.id != self.flood_id]
        self.rng.shuffle(kiosks)
        for dev in kiosks:
            while self.issue_cmds < allowed and len(dev.inflight) < window:
                if len(self.issued) - len(self.first_called) - len(self.expired) >= self.backlog_cap:
                    return
                args: dict[str, Any] = {"service": self.rng.choice(self.services)}
                if self.rng.random() < 0.1:
                    args["priority"] = True
                self.issue_cmds += 1
                self.send(dev, "issue", args, self._issued, expire=True)

    def allowed(self) -> int:
        """How many ``issue`` commands may have been started by now."""
        b = self.boundary
        if b is None:
            elapsed = time.monotonic() - self.started
            return min(self.tickets_target, int(self.issue_rate * elapsed) + 1)
        now, at, before = time.time(), b["epoch"], b["before"]
        if now >= at:  # the new day: the rest, spread over the last faults (catching up if behind)
            rate = b.get("after_rate") or self.issue_rate
            return min(self.tickets_target, before + int(rate * (now - at)) + 1)
        # Before the boundary: ``before`` tickets by then, the last ``lull_s`` seconds at the day's
        # rate (so that tickets wait when the day closes), the rest spread over the time until then.
        start, lull = self.started_wall, b["lull_s"]
        evening_at, evening_n = at - lull, before - self.issue_rate * lull
        if evening_at <= start or evening_n <= 0:
            due = before * (now - start) / max(at - start, 1e-3)
        elif now < evening_at:
            due = evening_n * (now - start) / (evening_at - start)
        else:
            due = evening_n + self.issue_rate * (now - evening_at)
        return min(before, int(due) + 1)

    def in_lull(self) -> bool:
        """True in the last ``lull_s`` seconds before the boundary (the counters call nobody)."""
        b = self.boundary
        return b is not None and b["epoch"] - b["lull_s"] <= time.time() < b["epoch"]

    def _seen_ticket(self, tid: str) -> None:
        """A ticket id came back: note when the new business day shows."""
        if self.boundary is not None and day_of(tid) >= self.boundary["day2"]:
            self.saw_day2 = True
            self.new_day()

    def new_day(self) -> None:
        """The boundary has passed: what the devices last saw waiting of the old day was expired by
        the reset, and nobody calls yesterday's skipped numbers back."""
        if self.new_day_seen or self.boundary is None:
            return
        self.new_day_seen = True
        self.day = self.boundary["day2"]
        for tid in list(self.waiting):
            if day_of(tid) < self.day:
                self._gone(tid)
        self.callbacks = [c for c in self.callbacks if day_of(c["ticket"]) >= self.day]

    def _gone(self, tid: str) -> None:
        """A ticket of the old day was waiting when the day closed: the reset expired it."""
        self.waiting.discard(tid)
        self.status[tid] = "expired"
        self.expired.add(tid)

    def _waits(self, tid: str) -> None:
        """A ticket waits (issued, or transferred): unless its day is over."""
        if self.day is not None and self.new_day_seen and day_of(tid) < self.day:
            self._gone(tid)
        else:
            self.status[tid] = "waiting"
            self.waiting.add(tid)

    def _issued(self, dev: Dev, cmd: Cmd, reply: dict[str, Any]) -> None:
        if not reply.get("ok"):
            self.issue_cmds -= 1  # refused: nothing was issued, try another
            return
        t = reply["result"]["ticket"]
        tid = t["id"]
        self._seen_ticket(tid)
        if tid in self.issued:
            self.view_mismatch.append({"what": "ticket issued twice", "ticket": tid, "ids": [cmd.cid]})
            return
        self.issued[tid] = {
            "cid": cmd.cid,
            "device": dev.id,
            "number": t["number"],
            "service": t["service"],
            "priority": t["priority"],
        }
        if tid not in self.status:  # a counter may have called it before this reply came
            self._waits(tid)

    # -- counters ----------------------------------------------------------------------------
    def counter_next(self, dev: Dev) -> None:
        """Decide and send a counter's next command (one at a time, as a clerk presses keys)."""
        dev.timer_due = False
        if dev.inflight or self.stop_requested:
            return
        if dev.blocked_by_rating:
            dev.want_next = True
            return
        rng = self.rng
        if not dev.opened:
            self.send(dev, "open", {"officer": dev.officer} if dev.officer else {}, self._counter_reply)
            return
        if dev.paused:
            self.send(dev, "resume", {}, self._counter_reply)
            return
        lull = dev.evening and self.in_lull()
        if lull and dev.serving is None:  # the evening: nobody more is called before the day closes
            assert self.boundary is not None
            wake = self.boundary["epoch"] - time.time() + rng.uniform(0.05, 0.5)
            self._later(dev, max(0.0, wake))
            return
        if dev.serving is None:
            mine = [c for c in self.callbacks if c["service"] in dev.services]
            if mine and rng.random() < 0.5:
                cb = mine[0]
                self.callbacks.remove(cb)
                self.called_back.add(cb["ticket"])
                self.send(dev, "call", {"number": cb["number"]}, self._counter_reply, ticket=cb["ticket"])
                return
            self.send(dev, "call_next", {}, self._counter_reply)
            return
        r = rng.random()
        p = self.spec["p"]
        if r < p["skip"]:
            self.send(dev, "skip", {}, self._counter_reply)
        elif (r := r - p["skip"]) < p["finish"]:
            self.send(dev, "finish", {}, self._counter_reply)
        elif (r := r - p["finish"]) < p["recall"]:
            self.send(dev, "recall", {}, self._counter_reply)
        elif (r := r - p["recall"]) < p["transfer"] and len(self.services) > 1:
            to = rng.choice([s for s in self.services if s != dev.serving["service"]])
            self.send(dev, "transfer", {"service": to, "front": rng.random() < 0.3}, self._counter_reply)
        elif r - p["transfer"] < p["pause"]:
            self.send(dev, "pause", {}, self._counter_reply)
        elif lull:
            self.send(dev, "finish", {}, self._counter_reply)
        else:
            self.send(dev, "call_next", {}, self._counter_reply)

    def _later(self, dev: Dev, delay: float) -> None:
        if not dev.timer_due:
            dev.timer_due = True
            self.at(time.monotonic() + delay, lambda: self.counter_next(dev))

    def _mismatch(self, dev: Dev, what: str, **detail: Any) -> None:
        self.view_mismatch.append({"device": dev.id, "what": what, **detail})

    def _ended(self, dev: Dev, status: str) -> None:
        t = dev.serving
        assert t is not None
        self.status[t["id"]] = status
        dev.serving = None
        if status == "done" and dev.counter in self.rater_of and self.rng.random() < self.spec["p"]["rate"]:
            dev.blocked_by_rating = True
            rater = self.by_id[self.rater_of[dev.counter]]
            self.at(time.monotonic() + self.rng.uniform(0.01, 0.2), lambda: self._rate(rater, dev, t["id"]))

    def _called(self, dev: Dev, t: dict[str, Any]) -> None:
        tid = t["id"]
        before = self.status.get(tid)
        # None: the kiosk's reply is still on its way. "called": fine if its holder's transfer reply is.
        holder = self.by_id.get(self.holder.get(tid, ""))
        transferring = holder is not None and any(c.op == "transfer" for c in holder.inflight.values())
        # "expired": the devices inferred that the reset expired it, but this call was decided before
        # the day closed and its reply comes late (the reset then ended the call).
        late = before == "expired" and self.day is not None and day_of(tid) < self.day
        if (
            before not in (None, "waiting", "skipped")
            and not (before == "called" and transferring)
            and not late
        ):
            self._mismatch(dev, "called a ticket that was not waiting or skipped", ticket=tid, status=before)
        self._seen_ticket(tid)
        self.waiting.discard(tid)
        self.expired.discard(tid)
        self.first_called.add(tid)
        self.status[tid] = "called"
        self.holder[tid] = dev.id
        dev.serving = t

    def _counter_reply(self, dev: Dev, cmd: Cmd, reply: dict[str, Any]) -> None:
        op = cmd.op
        if not reply.get("ok"):
            code = (reply.get("error") or {}).get("code")
            if code in ("counter_closed", "no_current_ticket") and dev.serving is not None:
                # The counter lost its ticket without being told how (the reset closed the counter
                # and ended it): the checks say whether that was legitimate.
                tid = dev.serving["id"]
                self.status[tid] = "ended_unseen"
                self.ended_unseen.append({"device": dev.id, "ticket": tid, "id": cmd.cid, "code": code})
                dev.serving = None
            if code == "counter_closed":
                dev.opened = dev.paused = False
            self._later(dev, 0.2)
            return
        dev.view = cmd.cid
        result = reply.get("result") or {}
        if op == "open":
            dev.opened, dev.paused = True, False
            self._later(dev, 0.0)
        elif op in ("call_next", "call"):
            if dev.serving is not None:
                self._ended(dev, "done")
            t = result.get("ticket")
            if t is None:
                self._later(dev, self.rng.uniform(0.5, 1.5))
                return
            wanted = cmd.meta.get("ticket")
            if op == "call" and t["id"] != wanted:
                if wanted is not None and day_of(t["id"]) > day_of(wanted):
                    # A callback of yesterday's number decided on the new day: today's ticket of that
                    # number was called (a number means today's ticket). The checks verify it.
                    self.boundary_calls.append(
                        {"device": dev.id, "id": cmd.cid, "wanted": wanted, "got": t["id"]}
                    )
                else:
                    self._mismatch(dev, "call returned another ticket", ticket=t["id"], wanted=wanted)
            self._called(dev, t)
            self._later(dev, min(self.rng.expovariate(1 / self.service_s), 2.5 * self.service_s))
        elif op == "finish":
            self._ended(dev, "done")
            self._later(dev, 0.0)
        elif op == "skip":
            t = dev.serving
            self._ended(dev, "skipped")
            if (
                t is not None
                and t["id"] not in self.called_back
                and (self.day is None or day_of(t["id"]) >= self.day)
                and self.rng.random() < self.spec["p"]["callback"]
            ):
                self.callbacks.append({"ticket": t["id"], "number": t["number"], "service": t["service"]})
            self._later(dev, 0.0)
        elif op == "recall":
            self._later(dev, self.rng.expovariate(2 / self.service_s))
        elif op == "transfer":
            t = result["ticket"]
            # Replies of different devices can arrive out of order: another counter may already have
            # called the transferred ticket (and even finished it) before this reply came.
            if self.holder.get(t["id"]) == dev.id:
                self.first_called.discard(t["id"])
                self._waits(t["id"])
            dev.serving = None
            self._later(dev, 0.0)
        elif op == "pause":
            dev.paused = True
            self._later(dev, self.rng.uniform(0.1, 0.5))
        elif op == "resume":
            dev.paused = False
            self._later(dev, 0.0)

    # -- rating terminals ----------------------------------------------------------------------
    def _rate(self, rater: Dev, counter: Dev, ticket: str) -> None:
        reasons = self.spec["reasons"]
        args: dict[str, Any] = {"score": self.rng.randint(1, self.spec["levels"])}
        if reasons and self.rng.random() < 0.4:
            args["reasons"] = self.rng.sample(reasons, self.rng.randint(1, len(reasons)))
        if self.rng.random() < 0.2:
            args["comment"] = self.rng.choice(["Cán bộ nhiệt tình", "Chờ hơi lâu", "Rất tốt, cảm ơn!"])
        self.send(rater, "rate", args, self._rated, counter=counter.id, ticket=ticket)

    def _rated(self, dev: Dev, cmd: Cmd, reply: dict[str, Any]) -> None:
        counter = self.by_id[cmd.meta["counter"]]
        if reply.get("ok"):
            got = reply["result"]["rating"]["ticket"]
            self.ratings[cmd.cid] = got
            if got != cmd.meta["ticket"]:
                self._mismatch(dev, "rated another ticket", ticket=got, wanted=cmd.meta["ticket"])
        counter.blocked_by_rating = False
        if counter.want_next:
            counter.want_next = False
            self._later(counter, 0.0)

    # -- the loop ----------------------------------------------------------------------------
    def at(self, when: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` at ``when`` (monotonic)."""
        self._timer_seq += 1
        heapq.heappush(self.timers, (when, self._timer_seq, fn))

    def done(self) -> bool:
        """The day is over: every ticket issued, called and ended, and nothing in flight."""
        if len(self.issued) < self.tickets_target or self.waiting or self.held or self.flood_until:
            return False
        if self.boundary is not None and not (self.new_day_seen and self.saw_day2):
            return False  # the day crosses the boundary: it is not over before a ticket of the new day
        return all(not d.inflight and d.serving is None and not d.blocked_by_rating for d in self.devices)

    def run(self, emit: Callable[[dict[str, Any]], None]) -> None:
        """Connect every device, run the day, and return once it is over (or a stop was asked)."""
        self.started = time.monotonic()
        self.started_wall = time.time()
        for dev in self.devices:
            self._connect(dev)
        for dev in self.devices:
            if dev.role == "counter":
                self._later(dev, self.rng.uniform(0.0, 0.5))
        last_progress = last_misc = last_retry = 0.0
        while not self.stop_requested:
            now = time.monotonic()
            timeout = 0.05
            if self.timers:
                timeout = max(0.0, min(timeout, self.timers[0][0] - now))
            for key, _mask in self.sel.select(timeout):
                dev = key.data
                if dev is None:
                    self._read_control()
                    continue
                c = dev.client
                if c is None or c.socket() is not key.fileobj:
                    continue
                c.loop_read()
            if self.boundary is not None and not self.new_day_seen and time.time() >= self.boundary["epoch"]:
                self.new_day()
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()
            self.fill_kiosks()
            self.fill_flood()
            for dev in self.devices:
                c = dev.client
                assert c is not None
                if c.socket() is None:
                    if now >= dev.next_connect:
                        self._connect(dev)
                elif c.want_write():
                    c.loop_write()
            if now - last_retry >= 0.25:
                last_retry = now
                self.give_up_stale(now)
                for dev in self.devices:
                    if dev.ready and dev.id != self.flood_id:
                        for cmd in list(dev.inflight.values()):
                            if now - cmd.last_sent >= self.retry_s:
                                self._publish(dev, cmd)
            if now - last_misc >= 1.0:
                last_misc = now
                for dev in self.devices:
                    if dev.client is not None and dev.client.socket() is not None:
                        dev.client.loop_misc()
            if now - last_progress >= PROGRESS_S:
                last_progress = now
                emit({"progress": self.progress()})
            if self.done():
                break

    def _read_control(self) -> None:
        try:
            chunk = os.read(sys.stdin.fileno(), 65536)
        except BlockingIOError:
            return
        if not chunk:  # the orchestrator went away
            self.stop_requested = True
            return
        self._stdin_buf += chunk
        while b"\n" in self._stdin_buf:
            line, self._stdin_buf = self._stdin_buf.split(b"\n", 1)
            if not line.strip():
                continue
            msg = json.loads(line)
            if "drop" in msg:
                self.drop(int(msg["drop"]))
            if "flood" in msg:
                self.flood(float(msg["flood"]))
            if "hold" in msg:
                self.held = bool(msg["hold"])
            if msg.get("stop"):
                self.stop_requested = True

    def progress(self) -> dict[str, Any]:
        """Figures for the orchestrator (its fault schedule follows ``issued``)."""
        inflight = sum(len(d.inflight) for d in self.devices)
        ended = sum(1 for s in self.status.values() if s in ("done", "skipped"))
        return {
            "issued": len(self.issued),
            "target": self.tickets_target,
            "waiting": len(self.waiting),
            "ended": ended,
            "ratings": len(self.ratings),
            "inflight": inflight,
            "ready": sum(1 for d in self.devices if d.ready),
            "retries": self.stats["retries"],
            "new_day": self.new_day_seen,
            "elapsed_s": round(time.monotonic() - self.started, 3),
        }

    def close(self) -> None:
        """Say offline and disconnect every device cleanly."""
        for dev in self.devices:
            c = dev.client
            if c is None or not dev.ready:
                continue
            with contextlib.suppress(Exception):
                c.publish(self.topics.dev_status(dev.id), self._status(dev, False), qos=1, retain=True)
                c.loop_write()
                c.disconnect()
                c.loop_write()
        self.sel.close()

    def results(self) -> dict[str, Any]:
        """Everything the checks need from the devices' side."""
        lat = sorted(self.latencies_ms)

        def pct(q: float) -> float:
            return round(lat[min(len(lat) - 1, int(len(lat) * q))], 1) if lat else 0.0

        return {
            "issued": self.issued,
            "ratings": self.ratings,
            "final_status": self.status,
            "reply_changed": self.reply_changed,
            "view_mismatch": self.view_mismatch,
            "refusals": self.refusals,
            "ended_unseen": self.ended_unseen,
            "boundary_calls": self.boundary_calls,
            "inferred_expired": sorted(self.expired),
            "failed": self.failed,
            "flood": {
                "device": self.flood_id,
                "windows_s": [round(b - a, 3) for a, b in self.flood_windows],
                "issued": self.flood_issued,
                "sent": dict(self.flood_ops),
                "replies": dict(self.flood_replies),
                "others": self.others_figures(),
            },
            "stats": dict(self.stats),
            "ops": dict(self.ops),
            "latency_ms": {
                "count": len(lat),
                "p50": pct(0.5),
                "p99": pct(0.99),
                "max": round(lat[-1], 1) if lat else 0.0,
            },
            "completed": self.done(),
            "elapsed_s": round(time.monotonic() - self.started, 3),
        }


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(len(s) * q))], 1) if s else 0.0


def _iso(at: float) -> str:
    """Unix time as ISO 8601 with offset, to the millisecond (as ``onestop.protocol.iso``)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())


def main(argv: list[str]) -> int:
    """Entry point: ``python -m bench.chaos_day.load SPEC.json``."""
    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)

    def emit(doc: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()

    load = Load(spec)
    load.build()
    try:
        load.run(emit)
    finally:
        res = load.results()
        with open(spec["results"], "w", encoding="utf-8") as f:
            json.dump(res, f, ensure_ascii=False)
        load.close()
    emit({"done": {"completed": res["completed"], "progress": load.progress()}})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

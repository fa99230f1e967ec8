"""The device side of the protocol: a device identity that sends commands and waits for replies.

Kiosks, counter agents, rating terminals and the traffic simulator all talk to the controller
through :class:`DeviceClient`. A command keeps its id across retries (a reconnect, a timeout), so
the controller's idempotency turns "did it arrive?" into a safe question: ask again.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as paho

from onestop.errors import OnestopError
from onestop.mqtt import MqttClient, MqttSettings
from onestop.protocol import Topics, iso

log = logging.getLogger(__name__)


#: How long a device waits beyond a command's deadline before it reports the command as failed: room
#: for the error in its estimate of the controller's clock and for the last reply on its way.
DEADLINE_GRACE_S = 1.0
#: Replies that took longer than this to come back say too little about the controller's clock.
OFFSET_MAX_RTT_S = 0.5


class CommandFailed(OnestopError):
    """The controller refused a command; ``code`` is the protocol error code."""

    def __init__(self, op: str, code: str, message: str) -> None:
        super().__init__(f"{op}: {code}: {message}")
        self.op = op
        self.code = code
        self.message = message


class NoReply(OnestopError, TimeoutError):
    """No reply came in time (the controller or the broker is unreachable)."""


class DeviceClient:
    """One device identity: presence, state subscriptions, and request/reply commands."""

    def __init__(
        self,
        site: str,
        device_id: str,
        role: str,
        *,
        host: str,
        port: int,
        password: str,
        extra_subscriptions: list[tuple[str, int]] | None = None,
        on_message: Callable[[paho.MQTTMessage], None] | None = None,
        keepalive: int = 15,
        tls_ca: str | None = None,
    ) -> None:
        self.topics = Topics(site)
        self.device_id = device_id
        self._pending: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        #: When the first try of each pending command left: (monotonic, wall clock).
        self._sent: dict[str, tuple[float, datetime]] = {}
        #: The controller's clock minus ours, learnt from replies (docs/protocol.md "Deadlines").
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self._user_handler = on_message
        #: Where answers to this device come: the controller's replies, and for a kiosk the hub's
        #: answers to its back-end lookups (docs/backend.md "Lookups"). Each is matched by its id.
        self._reply_topics = {self.topics.dev_reply(device_id)}
        if role == "kiosk":
            self._reply_topics.add(self.topics.dev_lookup_reply(device_id))
        subs = [*((t, 1) for t in sorted(self._reply_topics)), *(extra_subscriptions or [])]
        self.mqtt = MqttClient(
            MqttSettings(
                host=host,
                port=port,
                username=device_id,
                password=password,
                client_id=f"{device_id}-{uuid.uuid4().hex[:8]}",
                keepalive=keepalive,
                role=role,
                site=site,
                subscriptions=subs,
                tls_ca=tls_ca,
            ),
            on_message=self._on_message,
        )

    def start(self, wait: float | None = 10.0) -> None:
        """Connect (and keep reconnecting)."""
        self.mqtt.start(wait=wait)

    def stop(self) -> None:
        """Disconnect, saying offline."""
        self.mqtt.stop()

    def send(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        command_id: str | None = None,
        *,
        expiry_s: int | None = None,
        deadline: datetime | None = None,
    ) -> str:
        """Publish a command without waiting; return its id. With ``expiry_s`` the broker drops the
        command if the controller has not taken it by then; with ``deadline`` (the controller's
        time) the controller refuses it after then (see :meth:`request`)."""
        cid = command_id or uuid.uuid4().hex
        cmd: dict[str, Any] = {"id": cid, "op": op, "args": args or {}}
        if deadline is not None:
            cmd["deadline"] = iso(deadline)
        self.mqtt.publish(self.topics.dev_cmd(self.device_id), cmd, expiry_s=expiry_s)
        return cid

    def controller_now(self) -> datetime:
        """This device's estimate of the controller's clock (its own clock, corrected by what the
        controller's replies said)."""
        return datetime.now(UTC) + self._offset

    def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        command_id: str | None = None,
        expire: bool = True,
    ) -> dict[str, Any]:
        """Send a command and return its result; raise :class:`CommandFailed` when refused and
        :class:`NoReply` when no answer came after ``retries`` more tries with the same id.

        Every command carries a deadline: the instant, in the controller's clock, at which this call
        gives up. The controller refuses it after then (``expired``), and this call waits
        :data:`DEADLINE_GRACE_S` beyond it before raising :class:`NoReply`, so a command that the
        device reports as failed never takes effect later: a kiosk does not print a ticket for a
        citizen who was told the system is busy and left, and a clerk's unanswered "call next" does
        not call anybody a minute later. With ``expire`` (the default) the broker also drops the
        command when the controller has not taken it by then."""
        cid = command_id or uuid.uuid4().hex
        total = timeout * (retries + 1)
        deadline = self.controller_now() + timedelta(seconds=total)
        give_up = time.monotonic() + total + DEADLINE_GRACE_S

        def send(attempt: int, sent: float) -> None:
            left = max(1, int(give_up - sent) + 1)
            if attempt == 0:  # only a first try's reply says when it was decided
                with self._lock:
                    self._sent[cid] = (sent, datetime.now(UTC))
            self.send(op, args, cid, expiry_s=left if expire else None, deadline=deadline)

        try:
            reply = self._exchange(
                cid, send, timeout, retries, give_up, f"{op}: no reply from the controller"
            )
        finally:
            with self._lock:
                self._sent.pop(cid, None)
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise CommandFailed(op, str(err.get("code", "?")), str(err.get("message", "")))
        return dict(reply.get("result") or {})

    def ask(
        self, topic: str, payload: dict[str, Any], *, timeout: float, retries: int = 0, expire: bool = True
    ) -> dict[str, Any]:
        """Publish ``payload`` (it carries its ``id``) on ``topic`` and return the reply with that id
        from any of this device's reply topics (a kiosk's lookups: docs/backend.md "Lookups"). With
        ``retries`` the same payload is sent again after each ``timeout`` (the answerer is idempotent
        per id, so a reply lost in a reconnect is simply asked again); :class:`NoReply` when none
        came. With ``expire`` the broker drops a message not delivered by the time this call gives up.
        A publish refused by the client (not started) is :class:`NoReply` too: the caller falls back."""
        cid = str(payload["id"])
        give_up = time.monotonic() + timeout * (retries + 1)

        def send(_attempt: int, sent: float) -> None:
            left = max(1, int(give_up - sent) + 1)
            try:
                self.mqtt.publish(topic, payload, expiry_s=left if expire else None)
            except (RuntimeError, ValueError) as exc:
                raise NoReply(f"{topic}: cannot publish: {exc}") from exc

        return self._exchange(cid, send, timeout, retries, give_up, f"{topic}: no reply")

    def _exchange(
        self,
        cid: str,
        send: Callable[[int, float], None],
        timeout: float,
        retries: int,
        give_up: float,
        what: str,
    ) -> dict[str, Any]:
        """Send (``send(attempt, monotonic_now)``) and wait for the reply with id ``cid``: each try
        waits ``timeout``, the last one until ``give_up``; :class:`NoReply` when none came."""
        done = threading.Event()
        box: list[dict[str, Any]] = []
        start = time.monotonic()
        with self._lock:
            self._pending[cid] = (done, box)
        try:
            for attempt in range(retries + 1):
                sent = time.monotonic()
                send(attempt, sent)
                wait = timeout if attempt < retries else max(0.0, give_up - sent)
                if done.wait(wait):
                    return box[0]
            raise NoReply(f"{what} in {time.monotonic() - start:.0f} s")
        finally:
            with self._lock:
                self._pending.pop(cid, None)

    def _learn_offset(self, cid: str, reply: dict[str, Any]) -> None:
        """Estimate the controller's clock from a reply's ``ts`` (NTP's reasoning: the reply was
        stamped half a round trip before it arrived); only quick round trips are trusted."""
        sent = self._sent.get(cid)
        ts = reply.get("ts")
        if sent is None or not isinstance(ts, str):
            return
        rtt = time.monotonic() - sent[0]
        if rtt > OFFSET_MAX_RTT_S:
            return
        try:
            theirs = datetime.fromisoformat(ts)
        except ValueError:
            return
        if theirs.tzinfo is None:
            return
        offset = theirs - (sent[1] + timedelta(seconds=rtt / 2))
        if abs((offset - self._offset).total_seconds()) > 1.0:
            log.info(
                "%s: the controller's clock is %+.3f s from ours", self.device_id, offset.total_seconds()
            )
        self._offset = offset

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if msg.topic in self._reply_topics:
            try:
                reply = json.loads(msg.payload)
                cid = reply["id"]
            except (ValueError, KeyError, TypeError):
                log.warning("%s: unreadable reply %r", self.device_id, msg.payload[:80])
                return
            with self._lock:
                waiter = self._pending.get(cid)
                if waiter is not None and isinstance(reply, dict):
                    self._learn_offset(cid, reply)
            if waiter is not None and not waiter[0].is_set():
                waiter[1].append(reply)
                waiter[0].set()
            return
        if self._user_handler is not None:
            self._user_handler(msg)

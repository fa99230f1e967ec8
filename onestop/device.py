"""The device side of the protocol: a device identity that sends commands and waits for replies.

Kiosks, counter agents, rating terminals and the traffic simulator all talk to the controller
through :class:`DeviceClient`. A command keeps its id across retries (a reconnect, a timeout), so
the controller's idempotency turns "did it arrive?" into a safe question: ask again.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho

from onestop.errors import OnestopError
from onestop.mqtt import MqttClient, MqttSettings
from onestop.protocol import Topics

log = logging.getLogger(__name__)


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
        self._lock = threading.Lock()
        self._user_handler = on_message
        subs = [(self.topics.dev_reply(device_id), 1), *(extra_subscriptions or [])]
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
    ) -> str:
        """Publish a command without waiting; return its id. With ``expiry_s`` the broker drops the
        command if the controller has not taken it by then (see :meth:`request`)."""
        cid = command_id or uuid.uuid4().hex
        cmd = {"id": cid, "op": op, "args": args or {}}
        self.mqtt.publish(self.topics.dev_cmd(self.device_id), cmd, expiry_s=expiry_s)
        return cid

    def request(
        self,
        op: str,
        args: dict[str, Any] | None = None,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        command_id: str | None = None,
        expire: bool = False,
    ) -> dict[str, Any]:
        """Send a command and return its result; raise :class:`CommandFailed` when refused and
        :class:`NoReply` when no answer came after ``retries`` more tries with the same id.

        With ``expire`` a command that the controller has not taken when this call gives up is
        dropped by the broker instead of being run later: a kiosk's ``issue`` must not print a
        ticket minutes later for a citizen who was told the system is busy and has left."""
        cid = command_id or uuid.uuid4().hex
        done = threading.Event()
        box: list[dict[str, Any]] = []
        with self._lock:
            self._pending[cid] = (done, box)
        try:
            for attempt in range(retries + 1):
                left = int(timeout * (retries + 1 - attempt)) + 1
                self.send(op, args, cid, expiry_s=left if expire else None)
                if done.wait(timeout):
                    break
            else:
                raise NoReply(f"{op}: no reply from the controller in {timeout * (retries + 1):.0f} s")
        finally:
            with self._lock:
                self._pending.pop(cid, None)
        reply = box[0]
        if not reply.get("ok"):
            err = reply.get("error") or {}
            raise CommandFailed(op, str(err.get("code", "?")), str(err.get("message", "")))
        return dict(reply.get("result") or {})

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if msg.topic == self.topics.dev_reply(self.device_id):
            try:
                reply = json.loads(msg.payload)
                cid = reply["id"]
            except (ValueError, KeyError, TypeError):
                log.warning("%s: unreadable reply %r", self.device_id, msg.payload[:80])
                return
            with self._lock:
                waiter = self._pending.get(cid)
            if waiter is not None and not waiter[0].is_set():
                waiter[1].append(reply)
                waiter[0].set()
            return
        if self._user_handler is not None:
            self._user_handler(msg)

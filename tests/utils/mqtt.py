"""A small MQTT v5 test client (paho-mqtt 2) whose every wait is on an event with a timeout."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from onestop.protocol import dumps

DEFAULT_TIMEOUT = 5.0


def topic_matches(topic_filter: str, topic: str) -> bool:
    """True when ``topic`` matches the MQTT filter ``topic_filter`` (``+`` and ``#`` wildcards)."""
    want, have = topic_filter.split("/"), topic.split("/")
    for i, level in enumerate(want):
        if level == "#":
            return True
        if i >= len(have) or (level != "+" and level != have[i]):
            return False
    return len(want) == len(have)


@dataclass(frozen=True)
class Received:
    """One message as the client received it."""

    topic: str
    payload: bytes
    retain: bool
    qos: int
    at: float  # time.monotonic() on arrival

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.payload)


class Inbox:
    """Every message a client received, in arrival order, with waits built on a condition."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._messages: list[Received] = []

    def add(self, msg: Received) -> None:
        """Record a message and wake the waiters."""
        with self._cond:
            self._messages.append(msg)
            self._cond.notify_all()

    def messages(self, topic_filter: str = "#") -> list[Received]:
        """The messages received so far on topics matching ``topic_filter``."""
        with self._cond:
            return [m for m in self._messages if topic_matches(topic_filter, m.topic)]

    def payloads(self, topic_filter: str = "#") -> list[bytes]:
        """The payloads received so far on topics matching ``topic_filter``."""
        return [m.payload for m in self.messages(topic_filter)]

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._cond:
            self._messages.clear()

    def wait_for(
        self,
        topic_filter: str,
        predicate: Callable[[Received], bool] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Received:
        """The first message (already received or yet to come) matching the filter and predicate."""

        checked = 0  # each message is looked at once, however many arrive while waiting

        def find() -> Received | None:
            nonlocal checked
            for m in self._messages[checked:]:
                checked += 1
                if topic_matches(topic_filter, m.topic) and (predicate is None or predicate(m)):
                    return m
            return None

        with self._cond:
            found = self._cond.wait_for(find, timeout)
            if found is None:
                seen = ", ".join(f"{m.topic}={m.payload[:40]!r}" for m in self._messages[-10:])
                raise TimeoutError(f"no message on {topic_filter} within {timeout} s; last seen: {seen}")
            return found


class ConnectRefused(ConnectionError):
    """The broker refused the connection; ``reason`` is its CONNACK reason code."""

    def __init__(self, account: str | None, reason: ReasonCode | None) -> None:
        what = f"{reason} (0x{reason.value:02x})" if reason is not None else "connection closed"
        super().__init__(f"broker refused {account!r}: {what}")
        self.reason = reason


def _encode(payload: bytes | str | dict[str, Any]) -> bytes:
    if isinstance(payload, bytes):
        return payload
    if isinstance(payload, str):
        return payload.encode("utf-8")
    return dumps(payload)


class TestClient:
    """One MQTT v5 connection with an :class:`Inbox`, acknowledgements kept by packet id."""

    __test__ = False  # not a pytest test class

    def __init__(self, account: str | None, password: str | None, *, client_id: str | None = None) -> None:
        self.account = account
        self.inbox = Inbox()
        self._cond = threading.Condition()
        self._connack: ReasonCode | None = None
        self._connected = False
        self._disconnects = 0
        self._acks: dict[int, ReasonCode] = {}
        self._subacks: dict[int, list[ReasonCode]] = {}
        cid = client_id or f"{account or 'anon'}-{uuid.uuid4().hex[:8]}"
        self.paho = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=cid,
            protocol=paho.MQTTv5,
            reconnect_on_failure=False,
        )
        if account is not None:
            self.paho.username_pw_set(account, password)
        self.paho.on_connect = self._on_connect
        self.paho.on_disconnect = self._on_disconnect
        self.paho.on_message = self._on_message
        self.paho.on_publish = self._on_publish
        self.paho.on_subscribe = self._on_subscribe

    # -- paho callbacks (network thread) -----------------------------------------------------
    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._connack = reason
            self._connected = not reason.is_failure
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, _reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._connected = False
            self._disconnects += 1
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self.inbox.add(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos, time.monotonic()))

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._cond:
            self._acks[mid] = reason
            self._cond.notify_all()

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any) -> None:
        with self._cond:
            self._subacks[mid] = list(reasons)
            self._cond.notify_all()

    # -- API -------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """True between a successful CONNACK and the connection's loss."""
        with self._cond:
            return self._connected

    def connect(
        self,
        host: str,
        port: int,
        *,
        clean_start: bool = True,
        session_expiry_s: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> TestClient:
        """Connect and wait for the CONNACK; raise :class:`ConnectRefused` when refused."""
        props = None
        if session_expiry_s is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = session_expiry_s
        with self._cond:
            self._connack = None
            seen = self._disconnects
        self.paho.connect(host, port, keepalive=30, clean_start=clean_start, properties=props)
        self.paho.loop_start()
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._connack is not None or self._disconnects > seen, timeout
            ):
                raise TimeoutError(f"no CONNACK for {self.account!r} within {timeout} s")
            reason = self._connack
        if reason is None or reason.is_failure:
            self.close()
            raise ConnectRefused(self.account, reason)
        return self

    def subscribe(self, *topics: str, qos: int = 1, timeout: float = DEFAULT_TIMEOUT) -> list[ReasonCode]:
        """Subscribe to ``topics`` in one SUBSCRIBE and return the SUBACK reason codes."""
        rc, mid = self.paho.subscribe([(t, qos) for t in topics])
        if rc != paho.MQTT_ERR_SUCCESS or mid is None:
            raise ConnectionError(f"subscribe failed: {paho.error_string(rc)}")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._subacks, timeout):
                raise TimeoutError(f"no SUBACK within {timeout} s for {topics}")
            return self._subacks.pop(mid)

    def publish(
        self,
        topic: str,
        payload: bytes | str | dict[str, Any] = b"",
        *,
        qos: int = 1,
        retain: bool = False,
    ) -> paho.MQTTMessageInfo:
        """Publish and return paho's message info (see :meth:`wait_ack` for the PUBACK)."""
        return self.paho.publish(topic, _encode(payload), qos=qos, retain=retain)

    def wait_ack(self, info: paho.MQTTMessageInfo, timeout: float = DEFAULT_TIMEOUT) -> ReasonCode:
        """The PUBACK reason code of a QoS 1 publish (0x87 Not authorized when the ACL denies it)."""
        with self._cond:
            if not self._cond.wait_for(lambda: info.mid in self._acks, timeout):
                raise TimeoutError(f"no PUBACK for message {info.mid} within {timeout} s")
            return self._acks.pop(info.mid)

    def publish_acked(
        self,
        topic: str,
        payload: bytes | str | dict[str, Any] = b"",
        *,
        retain: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> ReasonCode:
        """Publish at QoS 1 and wait for the broker's PUBACK reason code."""
        return self.wait_ack(self.publish(topic, payload, qos=1, retain=retain), timeout)

    def wait_disconnected(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until the connection is lost (e.g. the broker was killed)."""
        with self._cond:
            if not self._cond.wait_for(lambda: not self._connected, timeout):
                raise TimeoutError(f"{self.account!r} still connected after {timeout} s")

    def close(self) -> None:
        """Disconnect cleanly (if connected) and stop the network thread."""
        if self.connected:
            self.paho.disconnect()
        self.paho.loop_stop()


def connect(
    host: str,
    port: int,
    account: str | None,
    password: str | None,
    *,
    client_id: str | None = None,
    clean_start: bool = True,
    session_expiry_s: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> TestClient:
    """A connected :class:`TestClient`; raises :class:`ConnectRefused` when the broker says no."""
    client = TestClient(account, password, client_id=client_id)
    return client.connect(
        host, port, clean_start=clean_start, session_expiry_s=session_expiry_s, timeout=timeout
    )

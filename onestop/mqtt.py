"""A small lifecycle wrapper over paho-mqtt 2 shared by every process of the suite.

Constructors only store settings; :meth:`MqttClient.start` connects (and keeps reconnecting), the
declared subscriptions are (re)made in one place on every connect, and :meth:`MqttClient.stop`
undoes exactly what ``start`` did. Presence follows the contract: a retained ``online`` status on
connect and a retained ``offline`` Last Will.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import paho.mqtt.client as mqttc
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from onestop import __version__
from onestop.errors import OnestopError
from onestop.protocol import MAX_PUBLISH_BYTES, Topics, dumps, iso

log = logging.getLogger(__name__)

MessageHandler = Callable[[mqttc.MQTTMessage], None]


class Received(NamedTuple):
    """What a consumer keeps of a received message while it waits in a queue of its own.

    paho's ``MQTTMessage`` carries an MQTT 5 ``Properties`` object (about thirty small lists and
    tuples) and a ``threading.Condition``: some 5 KB a message. Under a flood hundreds of messages
    wait (the controller's next batch, the hub's ingest queue); keeping paho's objects cost the
    controller 15-20 MB of RSS on a 500-counter site. These five fields cost about 200 bytes."""

    topic: str
    payload: bytes
    mid: int = 0
    qos: int = 0
    retain: bool = False

    @classmethod
    def of(cls, msg: mqttc.MQTTMessage) -> Received:
        """The fields of a paho message."""
        return cls(msg.topic, bytes(msg.payload), msg.mid, msg.qos, bool(msg.retain))


class PayloadTooLarge(OnestopError, ValueError):
    """A payload the broker would refuse (it would drop the connection, and paho would resend it)."""


class BrokerUnreachable(OnestopError, ConnectionError):
    """The broker could not be reached or refused the connection."""


@dataclass
class MqttSettings:
    """How to reach the broker as one account."""

    host: str
    port: int
    username: str
    password: str
    client_id: str = ""
    keepalive: int = 15
    #: Keep the session (subscriptions and queued QoS 1 messages) this long while disconnected.
    session_expiry_s: int = 0
    #: Acknowledge QoS 1 messages only when the application calls :meth:`MqttClient.ack`.
    manual_ack: bool = False
    role: str = ""
    site: str = ""
    subscriptions: list[tuple[str, int]] = field(default_factory=list)
    #: Connect over TLS (1.2 or later), trusting only this CA file; None connects over plain TCP.
    tls_ca: str | None = None


def _no_delay(_client: mqttc.Client, _userdata: Any, sock: Any) -> None:
    """Turn Nagle's algorithm off: a command and its reply are small packets that must go at once
    (with Nagle plus delayed ACKs every exchange waited ~40 ms)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def tls_context(ca_file: str) -> ssl.SSLContext:
    """A client TLS context that trusts only ``ca_file``, checks the host name and needs TLS 1.2+."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def status_payload(online: bool, role: str) -> bytes:
    """The retained presence payload of the contract."""
    return dumps({"online": online, "role": role, "version": __version__, "ts": iso(datetime.now(UTC))})


class MqttClient:
    """One MQTT connection with presence, declared subscriptions and automatic reconnects."""

    def __init__(self, settings: MqttSettings, on_message: MessageHandler | None = None) -> None:
        self.settings = settings
        self.on_message = on_message
        self.connected = threading.Event()
        self.on_connect_hooks: list[Callable[[bool], None]] = []
        self._refused: str | None = None
        self._stopping = False
        self._answered = threading.Event()  # connected, or refused for good
        self._threaded = True
        self._gave_up = False
        self._idle = threading.Event()  # never set: an interruptible wait
        self._next_attempt = 0.0
        self._backoff = 0.5
        self._sub_mid: int | None = None
        self._session_present = False
        self._client: mqttc.Client | None = None
        self._topics = Topics(settings.site) if settings.site else None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self, wait: float | None = 10.0, *, threaded: bool = True) -> None:
        """Connect and keep reconnecting; with ``wait``, block until connected or raise
        :class:`BrokerUnreachable` (a wrong password is reported at once).

        ``threaded=False`` leaves the network to the caller: it must call :meth:`poll` in a loop
        from one thread, which then also does every publish. That saves a thread hand-off per
        message (the controller's hot path); ``wait`` is then ignored."""
        s = self.settings
        c = mqttc.Client(
            CallbackAPIVersion.VERSION2,
            client_id=s.client_id or s.username,
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        c.username_pw_set(s.username, s.password)
        if s.tls_ca:
            c.tls_set_context(tls_context(s.tls_ca))
        c.max_inflight_messages_set(1000)
        c.max_queued_messages_set(0)
        c.reconnect_delay_set(min_delay=1, max_delay=15)
        if s.manual_ack:
            c.manual_ack_set(True)
        if self._topics and s.role:
            c.will_set(self._topics.dev_status(s.username), status_payload(False, s.role), qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        props = Properties(PacketTypes.CONNECT)
        if s.session_expiry_s:
            props.SessionExpiryInterval = s.session_expiry_s
        c.on_socket_open = _no_delay
        self._client = c
        self._stopping = False
        self._threaded = threaded
        c.connect_async(s.host, s.port, s.keepalive, clean_start=not s.session_expiry_s, properties=props)
        if not threaded:
            self._next_attempt = 0.0
            self._backoff = 0.5
            return
        c.loop_start()
        if wait is not None:
            self.wait_connected(wait)

    def poll(self, timeout: float) -> None:
        """Drive the network once (``threaded=False``): (re)connect when due, read everything that
        has arrived, write what is queued, keep the connection alive. Blocks at most ``timeout``."""
        c = self._client
        if c is None or self._gave_up:
            self._idle.wait(timeout)
            return
        if c.socket() is None:
            now = time.monotonic()
            if now < self._next_attempt:
                self._idle.wait(min(timeout, self._next_attempt - now))
                return
            try:
                c.reconnect()
                self._backoff = 0.5
            except OSError as exc:
                self._backoff = min(self._backoff * 2, 15.0)
                self._next_attempt = now + self._backoff
                self._refused = self._refused or str(exc)
                log.warning("broker %s:%s unreachable (%s); retrying in %.0f s", self.settings.host,
                            self.settings.port, exc, self._backoff)  # fmt: skip
                return
        rc = c.loop(timeout)
        if rc == mqttc.MQTT_ERR_SUCCESS:
            sock = c.socket()
            for _ in range(1000):  # drain a burst before the caller processes it
                if sock is None or not select.select([sock], [], [], 0)[0]:
                    break
                if c.loop_read() != mqttc.MQTT_ERR_SUCCESS:
                    break
            if c.want_write():
                c.loop_write()
        if c.socket() is None and not self._stopping:
            self._next_attempt = time.monotonic() + self._backoff

    def wait_connected(self, timeout: float) -> None:
        """Block until connected; raise :class:`BrokerUnreachable` on refusal or timeout."""
        self._answered.wait(timeout)
        if self.connected.is_set():
            return
        s = self.settings
        why = self._refused or "no answer"
        raise BrokerUnreachable(f"cannot connect to the broker at {s.host}:{s.port} as {s.username!r}: {why}")

    def stop(self) -> None:
        """Say offline (for a clean stop the Will is not sent), disconnect and stop the network loop."""
        c = self._client
        if c is None:
            return
        if self.connected.is_set() and self._topics and self.settings.role:
            info = c.publish(
                self._topics.dev_status(self.settings.username),
                status_payload(False, self.settings.role),
                qos=1,
                retain=True,
            )
            if self._threaded:
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(2.0)
            else:
                deadline = time.monotonic() + 2.0
                while not info.is_published() and c.socket() is not None and time.monotonic() < deadline:
                    c.loop(0.05)
        self._stopping = True
        c.disconnect()
        if self._threaded:
            c.loop_stop()
        self._client = None
        self.connected.clear()

    # -- use -------------------------------------------------------------------------------
    def publish(
        self, topic: str, payload: Any, qos: int = 1, retain: bool = False, *, expiry_s: int | None = None
    ) -> mqttc.MQTTMessageInfo:
        """Publish ``payload`` (bytes, or anything :func:`~onestop.protocol.dumps` accepts).

        ``expiry_s`` sets MQTT 5's Message Expiry Interval: the broker drops the message if it has
        not been delivered by then (e.g. queued for a controller that is down), on its own clock."""
        if self._client is None:
            raise RuntimeError("publish before start()")
        data = payload if isinstance(payload, bytes) else dumps(payload)
        if len(data) > MAX_PUBLISH_BYTES:
            raise PayloadTooLarge(f"{topic}: {len(data)} bytes is over the {MAX_PUBLISH_BYTES} byte limit")
        props = None
        if expiry_s is not None:
            props = Properties(PacketTypes.PUBLISH)
            props.MessageExpiryInterval = max(1, int(expiry_s))
        return self._client.publish(topic, data, qos=qos, retain=retain, properties=props)

    def ack(self, mid: int, qos: int) -> None:
        """Acknowledge a message received with manual acks (after it is safely stored)."""
        if self._client is not None and qos > 0:
            self._client.ack(mid, qos)

    @property
    def paho(self) -> mqttc.Client:
        """The underlying paho client (for tests and benchmarks)."""
        if self._client is None:
            raise RuntimeError("not started")
        return self._client

    # -- paho callbacks ------------------------------------------------------------------
    def _on_connect(self, client: mqttc.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            log.error("broker refused %s: %s", self.settings.username, reason)
            if str(reason) in ("Bad user name or password", "Not authorized"):
                client.disconnect()  # do not hammer the broker with a wrong password
                self._gave_up = True
                self._answered.set()
            return
        self._refused = None
        self._session_present = bool(getattr(flags, "session_present", False))
        if self.settings.subscriptions:
            # "Connected" means subscribed: set once the broker has acknowledged the SUBSCRIBE, so
            # that nobody publishes to us in the gap between CONNACK and SUBACK.
            _rc, self._sub_mid = client.subscribe(list(self.settings.subscriptions))
        else:
            self._ready(client)

    def _on_subscribe(self, client: mqttc.Client, _u: Any, mid: int, reasons: list[Any], _p: Any) -> None:
        if mid != self._sub_mid:
            return
        for (topic, _qos), rc in zip(self.settings.subscriptions, reasons, strict=False):
            if rc.is_failure:
                log.error("%s may not subscribe to %s: %s", self.settings.username, topic, rc)
        self._ready(client)

    def _ready(self, client: mqttc.Client) -> None:
        if self._topics and self.settings.role:
            client.publish(
                self._topics.dev_status(self.settings.username),
                status_payload(True, self.settings.role),
                qos=1,
                retain=True,
            )
        self.connected.set()
        self._answered.set()
        session = self._session_present
        log.info("connected to %s:%s as %s", self.settings.host, self.settings.port, self.settings.username)
        for hook in self.on_connect_hooks:
            hook(session)

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if self.connected.is_set() and not self._stopping:
            log.warning("disconnected from the broker (%s); reconnecting", reason)
        self.connected.clear()

    def _on_message(self, _c: Any, _u: Any, msg: mqttc.MQTTMessage) -> None:
        if self.on_message is None:
            return
        try:
            self.on_message(msg)
        except Exception:  # a handler bug must not kill the network thread
            log.exception("message handler failed on %s", msg.topic)

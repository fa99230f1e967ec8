"""Web keypads: counter devices that the hub plays on behalf of a clerk's browser (the soft caller).

A ``[[devices]]`` entry with ``role = "counter"`` and ``keys = { backend = "web" }`` has no hardware:
the hub connects as that device, with that device's own broker account, and sends the commands the
clerk's page asks for. The broker ACL and the controller see an ordinary counter device, so a web
keypad can do exactly what a hardware keypad of that counter can do, and nothing more.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from onestop.config import DeviceConfig, SiteConfig
from onestop.credentials import SecretNotFound, ensure_pin, read_pin, secret_path
from onestop.device import DeviceClient

log = logging.getLogger("onestop.hub.caller")

#: The ``keys`` backend name that marks a counter device as a web keypad.
WEB_BACKEND = "web"
#: How long the hub waits for each try of a command, and how many more tries it makes (same id).
REQUEST_TIMEOUT_S = 3.0
REQUEST_RETRIES = 1


def web_keypad_devices(cfg: SiteConfig) -> dict[str, DeviceConfig]:
    """The web keypad of each counter that has one (the first listed, when several are)."""
    out: dict[str, DeviceConfig] = {}
    for d in cfg.devices_with_role("counter"):
        if d.keys is not None and d.keys.backend == WEB_BACKEND and d.counter is not None:
            if d.counter in out:
                log.warning("counter %s has several web keypads; %s is used", d.counter, out[d.counter].id)
                continue
            out[d.counter] = d
    return out


def _device_password(cfg: SiteConfig, device_id: str) -> str:
    """The device's own password, from its secret file (never ``$ONESTOP_MQTT_PASSWORD``: that is the
    hub's own password when it is set)."""
    path = secret_path(cfg, device_id)
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = ""
    if not value:
        raise SecretNotFound(device_id, path)
    return value


@dataclass
class WebKeypad:
    """One web keypad: its device, its MQTT identity (None when it could not be set up) and a lock
    that makes one counter's commands go one at a time."""

    device: DeviceConfig
    client: DeviceClient | None
    problem: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def counter(self) -> str:
        """The counter this keypad acts for."""
        assert self.device.counter is not None
        return self.device.counter


class KeypadUnavailable(RuntimeError):
    """The web keypad has no broker identity (its password is missing)."""


class WebKeypads:
    """Every web keypad of the site: ``start()`` with the hub, ``stop()`` with it."""

    def __init__(self, cfg: SiteConfig, *, host: str | None = None, port: int | None = None) -> None:
        self.cfg = cfg
        self.keypads: dict[str, WebKeypad] = {}
        for counter, d in web_keypad_devices(cfg).items():
            ensure_pin(cfg, d.id)
            try:
                password = _device_password(cfg, d.id)
            except SecretNotFound as exc:
                log.error("web keypad %s of counter %s cannot connect: %s", d.id, counter, exc)
                self.keypads[counter] = WebKeypad(d, None, problem=str(exc))
                continue
            client = DeviceClient(
                cfg.site.id,
                d.id,
                "counter",
                host=host or cfg.broker.host,
                port=port or cfg.broker.port,
                password=password,
                keepalive=cfg.broker.keepalive_s,
            )
            self.keypads[counter] = WebKeypad(d, client)

    def get(self, counter: str) -> WebKeypad | None:
        """The web keypad of ``counter``, if it has one."""
        return self.keypads.get(counter)

    def pin(self, counter: str) -> str:
        """The current PIN of ``counter``'s web keypad (read from its file, so a new PIN applies at once)."""
        return read_pin(self.cfg, self.keypads[counter].device.id)

    def start(self) -> None:
        """Connect every web keypad (in the background; they keep reconnecting)."""
        for kp in self.keypads.values():
            if kp.client is not None:
                kp.client.start(wait=None)

    def stop(self) -> None:
        """Disconnect every web keypad (each says offline)."""
        for kp in self.keypads.values():
            if kp.client is not None:
                kp.client.stop()

    def request(self, counter: str, op: str, args: dict[str, Any], command_id: str | None) -> dict[str, Any]:
        """Send one command as ``counter``'s web keypad and return the controller's result; raises
        :class:`~onestop.device.CommandFailed`, :class:`~onestop.device.NoReply` or
        :class:`KeypadUnavailable`."""
        kp = self.keypads[counter]
        if kp.client is None:
            raise KeypadUnavailable(kp.problem)
        with kp.lock:
            return kp.client.request(
                op, args, timeout=REQUEST_TIMEOUT_S, retries=REQUEST_RETRIES, command_id=command_id
            )

"""Fixtures for integration tests: a controller (in-process or as a real process) and devices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, sync_playwright

from onestop.broker import Broker
from onestop.config import SiteConfig
from onestop.device import DeviceClient
from queue_controller.service import Controller
from tests.utils.web import CHROMIUM, CHROMIUM_ARGS, HubServer

DeviceFactory = Callable[[str], DeviceClient]


@pytest.fixture(scope="session")
def xdisplay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private X display with the Kivy environment, for widget tests; skips when Xvfb cannot
    start. Session-wide: Kivy's one window per process stays bound to the display it opened on."""
    from kiosk_app.shell.xvfb import XvfbUnavailable
    from tests.utils.kivy import kivy_environment

    with ExitStack() as stack:
        try:
            display = stack.enter_context(kivy_environment(tmp_path_factory.mktemp("kivy-home")))
        except XvfbUnavailable as exc:
            pytest.skip(f"cannot start Xvfb: {exc}")
        yield display


@pytest.fixture
def controller(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path
) -> Iterator[Controller]:
    """An in-process controller on the test broker, with its database in ``tmp_path``."""
    ctl = Controller(
        site_cfg,
        credentials["controller"],
        db_path=tmp_path / "controller.db",
        host=broker.host,
        port=broker.port,
        tick_s=0.2,
        fatal=lambda reason: pytest.fail(f"controller stopped: {reason}"),
    )
    ctl.start()
    yield ctl
    ctl.stop()


@pytest.fixture
def device(site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str]) -> Iterator[DeviceFactory]:
    """``device(id)``: a connected :class:`DeviceClient` for a device of the test site."""
    made: list[DeviceClient] = []

    def make(device_id: str, **kw: Any) -> DeviceClient:
        role = site_cfg.device(device_id).role
        c = DeviceClient(
            site_cfg.site.id,
            device_id,
            role,
            host=broker.host,
            port=broker.port,
            password=credentials[device_id],
            **kw,
        )
        c.start()
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


class ControllerProcess:
    """``onestop controller`` as a real child process, to be killed and restarted."""

    def __init__(self, cfg: SiteConfig, broker: Broker, db: Path, log: Path) -> None:
        self.argv = [
            sys.executable, "-m", "onestop", "controller",
            "--config", cfg.source, "--broker", f"{broker.host}:{broker.port}", "--db", str(db),
        ]  # fmt: skip
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)


@pytest.fixture
def controller_process(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path
) -> Iterator[ControllerProcess]:
    """A controller child process (not started: call ``start()``)."""
    cp = ControllerProcess(site_cfg, broker, tmp_path / "controller.db", tmp_path / "controller.log")
    env_before = os.environ.get("ONESTOP_MQTT_PASSWORD")
    yield cp
    cp.stop()
    assert env_before == os.environ.get("ONESTOP_MQTT_PASSWORD")


@pytest.fixture
def hub_server(
    site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path
) -> Iterator[HubServer]:
    """A started hub served over HTTP on a loopback port (same port and database across restarts)."""
    srv = HubServer(
        site_cfg,
        credentials["hub"],
        broker_host=broker.host,
        broker_port=broker.port,
        db_path=tmp_path / "hub.db",
    )
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium (Debian's), once per module."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def hub(site_cfg: SiteConfig, broker: Broker, credentials: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """A started hub on the test broker (its ingest connected as ``hub``), stopped after the test."""
    from hub_api.app import Hub

    db = tmp_path / "hub.db"
    h = Hub.open(site_cfg, credentials["hub"], db_path=db, host=broker.host, port=broker.port)
    h.start()
    assert h.ingest is not None
    h.ingest.mqtt.wait_connected(10)
    yield h
    h.stop()

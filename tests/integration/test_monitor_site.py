"""``onestop monitor`` without ``--broker`` finds the site's running broker (the one ``onestop up``
started, whose port is in its ``mosquitto.conf``), or says clearly that it cannot; it never watches a
foreign broker that happens to listen there. Real Mosquitto brokers, started by the tests."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from onestop.broker import Broker, _run_as, free_port
from onestop.cli import main
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from onestop.errors import OnestopError
from onestop.monitor import open_monitor, printing_marker
from onestop.mqtt import status_payload
from onestop.protocol import Topics, iso
from onestop.up import demo_broker
from tests.utils.mqtt import connect

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def up_broker(site_cfg: SiteConfig) -> Iterator[Broker]:
    """The site's broker as `onestop up` runs it (files in [storage] dir/broker, a free port)."""
    b = demo_broker(site_cfg, free_port())
    b.start()
    try:
        yield b
    finally:
        b.stop()


def _controller_was_here(cfg: SiteConfig, b: Broker) -> None:
    """The retained presence a controller leaves on its site's broker."""
    ctl = connect(b.host, b.port, "controller", ensure_credentials(cfg)["controller"])
    try:
        topic = Topics(cfg.site.id).dev_status("controller")
        assert not ctl.publish_acked(topic, status_payload(True, "controller"), retain=True).is_failure
    finally:
        ctl.close()


def _monitor(cfg: SiteConfig, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["monitor", "--config", cfg.source, *extra])
    return code, capsys.readouterr().err


class _Reader:
    """Lines of a child's pipe, with a timeout."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise TimeoutError(f"no line with {text!r}; saw {seen}") from None
            seen.append(line)
            if text in line:
                return line


def test_the_monitor_command_finds_the_broker_up_started(site_cfg: SiteConfig, up_broker: Broker) -> None:
    _controller_was_here(site_cfg, up_broker)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "onestop", "monitor", "--config", site_cfg.source],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out, err = _Reader(proc.stdout), _Reader(proc.stderr)
        err.wait_for(f"watching onestop/v1/t-site/events on 127.0.0.1:{up_broker.port}")
        ctl = connect(
            up_broker.host, up_broker.port, "controller", ensure_credentials(site_cfg)["controller"]
        )
        event = {"type": "day.closed", "seq": 7, "ts": iso(datetime.now(UTC)),
                 "data": {"day": "2026-12-04", "issued": 12, "expired": 1}}  # fmt: skip
        ctl.publish_acked(Topics("t-site").events, json.dumps(event))
        ctl.close()
        assert "day closed 2026-12-04: 12 issued, 1 expired" in out.wait_for("day closed")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0


def test_no_running_up_is_said_clearly(site_cfg: SiteConfig, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    demo_broker(site_cfg, port).write_files()  # `up` ran once, then stopped
    code, err = _monitor(site_cfg, capsys)
    assert code == 2
    assert f"no broker of site t-site at 127.0.0.1:{port}" in err
    assert "is `make up`" in err and "give --broker" in err


def test_a_broker_that_refuses_the_sites_account_is_said_clearly(
    site_cfg: SiteConfig, site_factory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other_cfg = site_factory(
        {
            "site": {"id": "other-site", "name": "Khác", "agency": "UBND"},
            "storage": {"dir": str(tmp_path / "o")},
        },
        name="other.toml",
    )
    with Broker(other_cfg, tmp_path / "other-broker") as other:
        demo_broker(site_cfg, other.port).write_files()  # its port, since taken by another site
        code, err = _monitor(site_cfg, capsys)
        assert code == 2
        assert f"the broker at 127.0.0.1:{other.port}" in err
        assert "refuses site t-site's monitor account (Not authorized)" in err
        code, err = _monitor(site_cfg, capsys, "--broker", f"127.0.0.1:{other.port}")
        assert code == 2 and "refuses site t-site's monitor account" in err


class AnonymousBroker(Broker):
    """A foreign Mosquitto that lets anybody in (as a system broker on 1883 often does)."""

    def _write_conf(self, port: int) -> None:
        lines = [f"listener {port} 127.0.0.1", "allow_anonymous true", f"log_dest file {self.log_path}",
                 "log_type all"]  # fmt: skip
        if (user := _run_as()) is not None:
            lines.append(f"user {user}")
        self.conf_path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_foreign_broker_that_lets_anybody_in_is_never_watched(
    site_cfg: SiteConfig, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with AnonymousBroker(site_cfg, tmp_path / "foreign") as foreign:
        demo_broker(site_cfg, foreign.port).write_files()
        code, err = _monitor(site_cfg, capsys)
        assert code == 2
        assert f"the broker at 127.0.0.1:{foreign.port}" in err and "has no trace of site t-site" in err
        # Named on purpose with --broker: watched, with a warning.
        warnings: list[str] = []
        live = site_cfg.model_copy(
            update={"broker": site_cfg.broker.model_copy(update={"port": foreign.port})}
        )
        mon = open_monitor(live, explicit=True, warn=warnings.append)
        mon.stop()
        assert len(warnings) == 1 and "has no trace of site t-site" in warnings[0]


def test_the_sites_own_broker_is_watched_in_process(site_cfg: SiteConfig, up_broker: Broker) -> None:
    _controller_was_here(site_cfg, up_broker)
    mon = open_monitor(site_cfg, explicit=False, warn=pytest.fail)
    try:
        assert (mon.mqtt.settings.host, mon.mqtt.settings.port) == ("127.0.0.1", up_broker.port)
        assert mon.site_seen.is_set()
    finally:
        mon.stop()


def test_a_missing_site_broker_is_an_error_not_a_hang(site_cfg: SiteConfig) -> None:
    with pytest.raises(OnestopError, match="no broker of site t-site"):
        live = site_cfg.model_copy(
            update={"broker": site_cfg.broker.model_copy(update={"port": free_port()})}
        )
        open_monitor(live, explicit=False, warn=pytest.fail)


def test_a_monitor_never_drops_the_one_that_onestop_up_prints_with(
    site_cfg: SiteConfig, up_broker: Broker
) -> None:
    """`make up` prints the events through the site's one `monitor` connection: a second monitor
    would take the connection over and the two would drop each other every second. It says so."""
    _controller_was_here(site_cfg, up_broker)
    marker = printing_marker(site_cfg)
    marker.write_text(json.dumps({"pid": os.getpid(), "port": up_broker.port}))  # a live `up`
    with pytest.raises(OnestopError, match=r"already prints site t-site's events.*--quiet"):
        open_monitor(site_cfg, explicit=False, warn=pytest.fail)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    marker.write_text(json.dumps({"pid": int(dead.stdout), "port": up_broker.port}))  # an `up` killed
    mon = open_monitor(site_cfg, explicit=False, warn=pytest.fail)
    mon.stop()

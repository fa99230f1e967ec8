"""Lost data is detected, not hidden: a rewound store, a corrupt file, a full disk (issue 11, point 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hub_api.app import Hub, create_app
from hub_api.routers.devices import alerts_of
from onestop.config import SiteConfig
from onestop.device import CommandFailed, NoReply
from queue_controller.service import Controller
from tests.integration.conftest import ControllerProcess, DeviceFactory
from tests.utils.web import HubServer

pytestmark = pytest.mark.integration


def _run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONESTOP_MQTT_PASSWORD": "unused"}  # the database is opened first
    return subprocess.run(
        [sys.executable, "-m", "onestop", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def _until(cond: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Wait (bounded) until ``cond()`` is truthy; return it."""
    deadline, tick = time.monotonic() + timeout, threading.Event()
    while not (got := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        tick.wait(0.05)
    return got


def _store_condition(hub: Hub) -> dict[str, Any] | None:
    """The controller's ``store`` health condition, as the hub stored it."""
    rows = hub.store.query("SELECT health FROM devices WHERE id = 'controller'")
    if not rows or not rows[0]["health"]:
        return None
    cond: dict[str, Any] | None = json.loads(rows[0]["health"]).get("conditions", {}).get("store")
    return cond


def test_a_lost_wal_is_refused_until_the_operator_accepts_then_numbering_goes_on(
    controller_process: ControllerProcess,
    device: DeviceFactory,
    hub_server: HubServer,
    site_cfg: SiteConfig,
    tmp_path: Path,
) -> None:
    db = tmp_path / "controller.db"
    kiosk = device("kiosk-1")
    hub = hub_server.hub
    assert hub is not None and hub.ingest is not None
    # A first run, stopped cleanly: its events are checkpointed into controller.db.
    controller_process.start()
    for _ in range(3):
        kiosk.request("issue", {"service": "tuphap"}, timeout=15)
    assert controller_process.stop() == 0
    # A second run, killed: what it did lives only in controller.db-wal (far below the autocheckpoint).
    controller_process.start()
    numbers = [
        kiosk.request("issue", {"service": "tuphap"}, timeout=15)["ticket"]["number"] for _ in range(3)
    ]
    assert numbers == ["A004", "A005", "A006"]
    assert hub.ingest.wait_for_seq(6, 10)
    controller_process.kill()
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink()

    # Restart: the store is back at seq 3; the site saw 6. It refuses, says why, and keeps states.
    controller_process.start()
    cond = _until(
        lambda: (c := _store_condition(hub)) is not None and c["state"] == "rewound" and c,
        "the controller's store condition",
    )
    assert "event seq 3" in cond["detail"] and "seq 6" in cond["detail"], cond
    with pytest.raises(CommandFailed) as refused:
        kiosk.request("issue", {"service": "tuphap"}, timeout=10)
    assert refused.value.code == "unavailable"
    log = (tmp_path / "controller.log").read_text()
    assert "CRITICAL" in log and "REWOUND STORE" in log
    alerts = {a.kind: a for a in alerts_of(hub)}
    assert alerts["controller_health"].severity == "critical"
    assert hub.live.services["tuphap"]["last_issued"] == "A006"  # nothing overwritten

    # The operator decides, while it runs: numbering continues after what the hall saw.
    done = _run_cli("controller", "accept-rewind", "--config", str(site_cfg.source), "--db", str(db))
    assert done.returncode == 0, done.stderr
    _until(lambda: (c := _store_condition(hub)) is not None and c["state"] == "ok", "the condition to clear")
    after = kiosk.request("issue", {"service": "tuphap"}, timeout=10)["ticket"]
    assert after["number"] == "A007"  # never A004 again
    # The hub took the new events (seq above the jump), alerts, and the citizen's page answers.
    assert hub.ingest.wait_for_seq(8, 10)
    status = TestClient(create_app(hub)).get(f"/api/tickets/{after['token']}/status")
    assert status.status_code == 200, status.text
    kinds = {a.kind for a in alerts_of(hub)}
    assert "controller_rewound" in kinds and "controller_health" not in kinds


def test_a_corrupt_database_gives_one_line_and_status_2(site_cfg: SiteConfig, tmp_path: Path) -> None:
    db = tmp_path / "junk.db"
    db.write_bytes(b"this is not a database" * 500)
    out = _run_cli("controller", "--config", str(site_cfg.source), "--db", str(db))
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert lines[-1] == (
        f"onestop controller: {db} is not a usable database (file is not a database); "
        "restore it from a backup or move it away"
    ), out.stderr
    assert "Traceback" not in out.stderr


def test_a_full_disk_at_commit_says_disk_full_and_stops(
    site_cfg: SiteConfig, broker, credentials: dict[str, str], device: DeviceFactory, tmp_path: Path
) -> None:
    """SQLITE_FULL simulated with ``PRAGMA max_page_count`` (the same error path as a full disk)."""
    reasons: list[str] = []
    stopped = threading.Event()
    ctl = Controller(
        site_cfg,
        credentials["controller"],
        db_path=tmp_path / "controller.db",
        host=broker.host,
        port=broker.port,
        tick_s=0.2,
        fatal=lambda reason: (reasons.append(reason), stopped.set()),
    )
    ctl.start()
    try:
        kiosk = device("kiosk-1")
        kiosk.request("issue", {"service": "tuphap"}, timeout=10)
        assert ctl._store is not None
        pages = ctl._store.db.execute("PRAGMA page_count").fetchone()[0]
        ctl._store.db.execute(f"PRAGMA max_page_count={pages}")
        with pytest.raises(NoReply):
            for _ in range(200):  # until a commit needs a new page
                kiosk.request("issue", {"service": "tuphap", "priority": True}, timeout=2, retries=0)
        assert stopped.wait(10)
        assert reasons[0].startswith("disk full: cannot write"), reasons
    finally:
        ctl.stop()

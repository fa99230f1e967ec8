"""A power cut on the data partition: the controller's and the hub's SQLite stores, and a file written
with :func:`onestop.durable.atomic_write`, keep everything they acknowledged.

A child process runs the controller's real engine and store and the hub's real store on one data
folder: it issues tickets, commits each decision (the controller's shell replies only after that),
applies the events to the hub's store, rewrites a small file atomically, and prints an
acknowledgement after each round. The test kills it with SIGKILL in mid-stream, then rebuilds the
folder as a disk would hold it after a power cut: from what was fsynced and nothing else
(tests/utils/powercut.c, preloaded: the page cache is lost, the names are those of the folder's last
fsync). Both stores must open on that image (the controller's runs ``quick_check``), pass
``integrity_check``, and hold every acknowledged ticket and event, gapless.

What this cannot show: a card that acknowledges a flush it has not done (cheap SD cards may), torn
writes inside one 4 KiB page, or ext4's own journal; a power cut is stricter here than ext4 with
``data=ordered`` in one way only (a never-synced file is empty), kinder in none.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.utils import powercut

pytestmark = pytest.mark.integration

WORKLOAD = r"""
import json, sys
from pathlib import Path
from onestop.clock import ManualClock
from onestop.durable import atomic_write
from queue_controller.engine import Engine
from queue_controller.store import Pending, Store
from hub_api.store import HubStore
from tests.unit.sites import MONDAY_8AM, site

data = Path(sys.argv[1])
cfg = site()
eng = Engine(cfg, ManualClock(MONDAY_8AM))
store = Store(data / "controller.db")
hub = HubStore(data / "hub.db")
ops = [("kiosk-1", "issue", {"service": "tuphap"}), ("kiosk-1", "issue", {"service": "datdai"}),
       ("counter-1", "call_next", {})]
steps = [("counter-1", "open", {"officer": "cb1"})] + ops * 100000
for i, (device, op, args) in enumerate(steps):
    d = eng.handle(device, op, args)
    reply = {"id": f"c{i}", "ok": True}
    events = store.commit(
        [Pending(d, device, f"c{i}", reply)], eng.meta(),
        {c: eng.counters[c].record() for c in d.counters},
        {s: eng.services[s].record() for s in d.services},
        "2026-11-23T08:00:00.000+07:00",
    )
    assert events, (op, d)
    hub.apply(events)
    atomic_write(data / "settings.toml", f"version = {i}\n".encode(), mode=0o600)
    (data / "careless.toml").write_text(f"version = {i}\n")  # no fsync: the control
    issued = [e["data"]["ticket"]["id"] for e in events if e["type"] == "ticket.issued"]
    ack = {"round": i, "ticket": issued[0] if issued else None, "seq": events[-1]["seq"]}
    print(json.dumps(ack), flush=True)
"""


@pytest.fixture(scope="module")
def preload(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lib = powercut.build(tmp_path_factory.mktemp("powercut"))
    if lib is None:
        pytest.skip("no C compiler to build the power-cut library")
    return lib


def _run_and_cut(preload: Path, data: Path, shadow: Path, rounds: int) -> list[dict[str, object]]:
    """Run the workload until ``rounds`` acknowledgements, then SIGKILL it; return what it acknowledged."""
    env = {**os.environ, "LD_PRELOAD": str(preload), "POWERCUT_SHADOW": str(shadow)}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKLOAD, str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    acks: list[dict[str, object]] = []
    enough = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            acks.append(json.loads(line))
            if len(acks) >= rounds:
                enough.set()
        enough.set()  # the workload ended (a crash): the test sees too few acknowledgements

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert enough.wait(120)
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: it is committing the next rounds
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    reader.join(10)
    assert len(acks) >= rounds, proc.stderr.read().decode() if proc.stderr else ""
    return acks


def test_a_power_cut_loses_nothing_the_stores_acknowledged(preload: Path, tmp_path: Path) -> None:
    data, shadow, after = tmp_path / "data", tmp_path / "shadow", tmp_path / "after-the-cut"
    data.mkdir()
    shadow.mkdir()
    acks = _run_and_cut(preload, data, shadow, rounds=150)
    kept = powercut.image(data, shadow, after)
    assert {"controller.db", "hub.db", "settings.toml"} <= set(kept), kept

    from queue_controller.store import Store

    store = Store(after / "controller.db")  # quick_check at opening
    try:
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tickets = {r[0] for r in store.db.execute("SELECT id FROM tickets")}
        seqs = [r[0] for r in store.db.execute("SELECT seq FROM events ORDER BY seq")]
    finally:
        store.close()
    acked = {str(a["ticket"]) for a in acks if a["ticket"]}
    assert acked <= tickets, f"{len(acked - tickets)} acknowledged tickets lost"
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= int(str(acks[-1]["seq"]))

    hub = sqlite3.connect(after / "hub.db")
    try:
        assert hub.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        hub_seqs = [r[0] for r in hub.execute("SELECT seq FROM events ORDER BY seq")]
        last = int(hub.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()[0])
    finally:
        hub.close()
    assert hub_seqs == list(range(1, len(hub_seqs) + 1)) and last == len(hub_seqs) >= int(
        str(acks[-1]["seq"])
    )

    # The atomically written file holds the last acknowledged version or a later one, never a part.
    version = int((after / "settings.toml").read_text().split("=")[1])
    assert version >= int(str(acks[-1]["round"]))


def test_the_power_cut_catches_a_write_without_fsync(preload: Path, tmp_path: Path) -> None:
    """The check can fail: a file written without fsync (the workload's control) does not survive
    with its acknowledged content."""
    data, shadow, after = tmp_path / "data", tmp_path / "shadow", tmp_path / "after-the-cut"
    data.mkdir()
    shadow.mkdir()
    acks = _run_and_cut(preload, data, shadow, rounds=20)
    powercut.image(data, shadow, after)
    careless = after / "careless.toml"
    assert not careless.exists() or careless.read_text() != f"version = {acks[-1]['round']}\n"

"""`onestop province demo` as a newcomer runs it: PostgreSQL, the province broker, two nodes, the
onward system and three whole simulated sites, all real processes; Ctrl-C leaves nothing behind."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from province.cluster import PrivateCluster

pytestmark = pytest.mark.integration

SITES = {"tq-tthc", "tq-xa-tan-trao", "tq-phuong-minh-xuan"}


class Output:
    """A child's stdout, line by line, waited on with timeouts."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        out = proc.stdout
        assert out is not None

        def pump() -> None:
            for line in out:
                self.q.put(line)
            self.q.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        rx = re.compile(pattern)
        for line in self.seen:
            if m := rx.search(line):
                return m
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {pattern!r} within {timeout} s:\n" + "".join(self.seen[-40:])
                ) from None
            if line is None:
                raise AssertionError(f"output ended without {pattern!r}:\n" + "".join(self.seen[-40:]))
            self.seen.append(line)
            if m := rx.search(line):
                return m


def poll(what: str, check: Callable[[], Any], timeout: float) -> Any:
    """``check()`` until it returns something true; polling from outside, there is no event to wait on."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (httpx.HTTPError, psycopg.Error) as exc:
            last = exc
        pause.wait(0.5)
    raise AssertionError(f"{what}: not within {timeout} s; last: {last!r}")


def processes_under(directory: Path) -> list[str]:
    """The command lines of running processes that name ``directory`` (stray demo processes)."""
    needle = str(directory).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if needle in cmdline:
            found.append(entry.name + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def log_tails(root: Path, lines: int = 8) -> str:
    """The end of every log of the demo, for a failure's message."""
    out = []
    for log in sorted([*root.glob("logs/*.log"), *root.glob("sites/*/var/logs/*.log")]):
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        out.append(f"== {log.relative_to(root)}\n" + "\n".join(tail))
    return "\n".join(out)


@pytest.fixture
def demo_dir() -> Iterator[Path]:
    """Under /tmp, not pytest's tmp_path: that one is private to root, and the cluster runs as postgres."""
    d = Path(tempfile.mkdtemp(prefix="onestop-provdemo-")) / "demo"
    d.parent.chmod(0o755)  # mkdtemp's is private to its owner
    yield d
    for line in processes_under(d.parent):  # only if the test failed before Ctrl-C worked
        os.kill(int(line.split(":", 1)[0]), signal.SIGKILL)
    if (d / "pg").exists():
        PrivateCluster(d / "pg").stop("immediate")
    shutil.rmtree(d.parent, ignore_errors=True)


@pytest.mark.timeout(300)
def test_the_demo_province_runs_three_bridged_sites_that_forward_and_stops_cleanly(demo_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "onestop", "province", "demo", "--dir", str(demo_dir), "--speed", "300"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,  # Ctrl-C reaches only the demo, as in a terminal
    )  # fmt: skip
    out = Output(proc)
    try:
        out.wait_for("Ctrl-C stops everything", timeout=180)
        viewer = out.wait_for(r"viewer\s+(\S+)", 1).group(1)
        manager, centre = out.wait_for(r"manager\s+(\S+)\s+\(centre manager: (\S+) only\)", 1).groups()
        node = out.wait_for(r"(http://127\.0\.0\.1:\d+)/api/v1/live", 1).group(1)
        dsn = out.wait_for(r"database\s+(host=\S+ port=\d+ user=\S+ dbname=\S+)", 1).group(1)
        onward = out.wait_for(r"onward\s+(http://127\.0\.0\.1:\d+)/", 1).group(1)
        for sid in SITES:
            out.wait_for(rf"{sid}\s+hub http://127\.0\.0\.1:\d+/\s+→ node-[12]", 1)

        def live(token: str) -> list[dict[str, Any]]:
            r = httpx.get(f"{node}/api/v1/live", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            r.raise_for_status()
            return r.json()["centres"]  # type: ignore[no-any-return]

        def all_up() -> list[dict[str, Any]] | None:
            centres = live(viewer)
            ok = {c["site"] for c in centres if c["link"] == "up" and c["counters"] > 0 and c["last_seen"]}
            return centres if ok == SITES else None

        centres = poll("every site bridged, its counters and queues in the live view", all_up, 120)
        assert all(isinstance(c["waiting"], int) and c["waiting"] >= 0 for c in centres), centres
        assert [c["site"] for c in live(manager)] == [centre], "a centre manager sees only their centre"

        def counts() -> dict[str, int]:
            with psycopg.connect(dsn, connect_timeout=5) as conn:
                rows = conn.execute("SELECT site, count(*) FROM queue_records GROUP BY site").fetchall()
            return {r[0]: r[1] for r in rows}

        first = counts()
        latest: dict[str, int] = {}

        def grown() -> bool:
            latest.update(counts())
            return latest.keys() == SITES and sum(latest.values()) > sum(first.values())

        try:
            poll("every site's queue records forwarded to the province, and more coming", grown, 120)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nfirst {first}, latest {latest}") from None
        onward_records = poll(
            "records forwarded onward", lambda: httpx.get(f"{onward}/_stats", timeout=5).json()["records"], 60
        )
        assert onward_records > 0
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_tails(demo_dir)}") from None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        rc = proc.wait(120)
    out.wait_for("^stopped\\.", timeout=5)
    assert rc == 0, "".join(out.seen[-40:])
    assert processes_under(demo_dir) == [], "every child of the demo stopped"
    assert (demo_dir / "logs" / "node-1.log").stat().st_size > 0
    assert (demo_dir / "sites" / "tq-tthc" / "var" / "logs" / "hub.log").exists()

"""`onestop up` and the CLI as a newcomer meets them: real processes, real broker, real output."""

from __future__ import annotations

import http.server
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from onestop.broker import free_port
from onestop.config import SiteConfig
from tests.conftest import SiteFactory

pytestmark = pytest.mark.integration


def onestop(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onestop", *args], capture_output=True, text=True, timeout=60
    )


def test_an_invalid_site_file_stops_every_process_with_a_one_line_reason(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text(
        '[site]\nid = "Bad Id"\nname = "X"\nagency = "Y"\n[[services]]\nid = "a"\nname = "A"\n', "utf-8"
    )
    for command in ("controller", "up", "simulate", "monitor"):
        r = onestop(command, "--config", str(bad))
        assert r.returncode == 2, (command, r.stderr)
        first = r.stderr.splitlines()[0]
        assert first.startswith(f"onestop {command}: {bad}: ") and "(and 1 more)" in first
        assert "site.id: expected lowercase letters" in r.stderr and "services[1]" in r.stderr
    r = onestop("controller", "--config", str(tmp_path / "nope.toml"))
    assert r.returncode == 2 and r.stderr.strip().endswith("file not found (pass --config PATH)")


def test_a_wrong_password_is_a_clear_error(site_cfg: SiteConfig, broker, tmp_path: Path) -> None:
    env = {**os.environ, "ONESTOP_MQTT_PASSWORD": "wrong"}
    r = subprocess.run(
        [sys.executable, "-m", "onestop", "controller", "--config", site_cfg.source,
         "--broker", f"{broker.host}:{broker.port}", "--db", str(tmp_path / "c.db")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert r.returncode == 2
    assert re.search(r"cannot connect to the broker at .* as 'controller': Not authorized", r.stderr)


def wait_http_json(url: str, ok: Callable[[dict], bool], timeout: float = 20) -> dict:
    """GET ``url`` until ``ok(json)``; the hub needs a moment to start and to catch up."""
    deadline = time.monotonic() + timeout
    last: object = None
    stop = threading.Event()
    while time.monotonic() < deadline:
        try:
            last = httpx.get(url, timeout=2).json()
            if ok(last):  # type: ignore[arg-type]
                return last  # type: ignore[return-value]
        except httpx.HTTPError as exc:
            last = exc
        stop.wait(0.2)  # polling an HTTP endpoint from outside: there is no event to wait on
    raise AssertionError(f"{url} never satisfied the check; last answer: {last!r}")


class Lines:
    """The stdout of a child process, line by line, waited on with timeouts."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        out = proc.stdout
        threading.Thread(
            target=lambda: [self.q.put(x) for x in out] and self.q.put(None), daemon=True
        ).start()

    def wait_for(self, pattern: str, timeout: float = 30) -> str:
        rx = re.compile(pattern)
        for line in self.seen:
            if rx.search(line):
                return line
        while True:
            line = self.q.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"output ended without {pattern!r}:\n" + "".join(self.seen[-30:]))
            self.seen.append(line)
            if rx.search(line):
                return line


def test_up_with_traffic_shows_tickets_issued_and_called_then_stops_cleanly(site_cfg: SiteConfig) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"  # and no display: the kiosk runs headless
    proc = subprocess.Popen(
        [sys.executable, "-m", "onestop", "up", "--config", site_cfg.source, "--port", str(port),
         "--traffic", "--speed", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,  # its own process group, as in a terminal
    )  # fmt: skip
    out = Lines(proc)
    try:
        out.wait_for(rf"broker\s+mqtt://127\.0\.0\.1:{port}")
        out.wait_for("Ctrl-C stops everything")
        pids = [int(m) for line in out.seen for m in re.findall(r"pid (\d+)", line)]
        # broker, controller, hub, agents, kiosk-1 and rate-1 (headless), traffic
        assert len(pids) == 7, out.seen
        kiosk_url = re.search(r"kiosk-1\s+curl .* (http://\S+)/tap", out.wait_for(r"kiosk-1\s+curl")).group(1)
        rate_url = re.search(r"rate-1\s+curl .* (http://\S+)/rate", out.wait_for(r"rate-1\s+curl")).group(1)
        hub_url = re.search(r"hub\s+(http://\S+)/healthz", out.wait_for(r"hub\s+http://")).group(1)
        out.wait_for(r"opened\s+Quầy 1")
        out.wait_for(r"issued\s+[ABC]\d{3}")
        out.wait_for(r"called\s+[ABC]\d{3}\s+→ Quầy \d")
        health = wait_http_json(f"{hub_url}/healthz", lambda h: h["last_seq"] > 0)
        assert health["broker_connected"] and health["controller_online"]
        wait_http_json(f"{kiosk_url}/screen", lambda v: v["screen"] == "home")  # the kiosk has started
        tap = httpx.post(f"{kiosk_url}/tap", json={"service": "tuphap"}, timeout=30)
        assert tap.status_code == 200 and tap.json()["screen"] == "done", tap.text
        assert re.fullmatch(r"A\d{3}", tap.json()["number"])
        screen = wait_http_json(f"{rate_url}/screen", lambda v: v["counter_label"] == "Quầy 1")
        assert screen["screen"] in ("idle", "rate", "reasons", "thanks")  # the terminal follows counter 1
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
        rc = proc.wait(30)
    out.wait_for("stopped.")
    assert rc == 0
    for pid in pids:  # nothing left behind
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    db = Path(site_cfg.source).parent / "var" / "controller.db"
    assert db.exists() and db.stat().st_size > 0
    # The clients were stopped before the broker: none of them lost it on the way out.
    logs = Path(site_cfg.source).parent / "var" / "logs"
    lost = {p.name for p in logs.glob("*.log") if "disconnected from the broker" in p.read_text()}
    assert lost == set(), f"lost the broker while stopping: {sorted(lost)}"


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize("when", ["at-once", "children-started"])
def test_ctrl_c_while_starting_leaves_nothing_running(site_cfg: SiteConfig, when: str) -> None:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "onestop",
        "up",
        "--config",
        site_cfg.source,
        "--port",
        str(port),
        "--traffic",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    out = Lines(proc)
    if when == "children-started":
        out.wait_for("Ctrl-C stops everything")  # every child runs; the monitor is still connecting
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    assert _processes_mentioning(str(Path(site_cfg.source).parent)) == []


def test_up_never_forwards_to_a_stranger_on_the_back_ends_port(site_factory: SiteFactory) -> None:
    """[backend] url's port is taken by something else: `up` starts the reference back end on a free
    port and the hub forwards there; the stranger receives nothing (no records, no token)."""
    seen: list[str] = []

    class Stranger(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(f"{self.path} {self.headers.get('Authorization')}")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    stranger = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stranger)
    threading.Thread(target=stranger.serve_forever, daemon=True).start()
    taken = stranger.server_address[1]
    cfg = site_factory({"backend": {"url": f"http://127.0.0.1:{taken}/onestop", "batch_size": 5}})
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "onestop", "up", "--config", cfg.source, "--port", str(free_port()),
         "--traffic", "--speed", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )  # fmt: skip
    out = Lines(proc)
    try:
        moved = out.wait_for(rf"port {taken} is taken; the reference back end uses (\d+)")
        port = int(re.search(r"uses (\d+)", moved).group(1))  # type: ignore[union-attr]
        assert port != taken
        out.wait_for(rf"back end\s+http://127\.0\.0\.1:{port}/onestop")
        # The banner shows codes to type at a kiosk, and the reference back end knows them.
        line = out.wait_for(r"booking now \(\w+\)\s+DL\w+")
        code = line.split()[-1]
        looked = wait_http_json(f"http://127.0.0.1:{port}/_lookups", lambda s: s["bookings"] > 0, timeout=30)
        assert code in looked["samples"].values()
        stats = wait_http_json(f"http://127.0.0.1:{port}/_stats", lambda s: s["records"] > 0, timeout=90)
        assert stats["by_status"].get("401", 0) == 0  # the hub has the token the back end was given
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        stranger.shutdown()
    assert seen == [], f"the stranger on {taken} received {seen[:3]}"

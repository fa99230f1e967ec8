"""``onestop up``: a whole site on one machine, on simulated hardware.

It starts a private Mosquitto with a generated configuration (per-account passwords and the ACL of
the protocol), then every process of the suite as a child, prints what runs where, restarts a child
that dies (as systemd does on a real site), prints the queue events, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from onestop.broker import Broker, free_port
from onestop.cli import load_config
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from onestop.monitor import Monitor
from queue_controller.engine import Engine

log = logging.getLogger("onestop.up")


@dataclass
class Child:
    """A supervised process."""

    name: str
    argv: list[str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started: float = 0.0
    out: IO[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start (or restart) the process, appending its output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.out = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.proc = subprocess.Popen(
            self.argv, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started = time.monotonic()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.out is not None:
            self.out.close()
            self.out = None


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _closed_services(cfg: SiteConfig) -> list[str]:
    from onestop.clock import SystemClock

    eng = Engine(cfg, SystemClock())
    return [s.id for s in cfg.services if not eng.services[s.id].open]


def run_up(args: argparse.Namespace) -> int:
    """Run the site until Ctrl-C."""
    cfg = load_config(args)
    data = cfg.data_dir
    data.mkdir(parents=True, exist_ok=True)
    ensure_credentials(cfg)
    host = cfg.broker.host
    port = args.port or cfg.broker.port
    if not _port_free(host, port):
        wanted, port = port, free_port(host)
        print(f"port {wanted} is taken (another broker?); this site's broker uses {port} instead")
    broker = Broker(cfg, data / "broker", host=host, port=port, persistence=True)
    broker.start()
    site_args = ["--config", str(Path(args.config).resolve()), "--broker", f"{host}:{broker.port}"]
    py = [sys.executable, "-m", "onestop"]
    logs = data / "logs"
    ctl_args = [*py, "controller", *site_args]
    closed = _closed_services(cfg) if args.traffic else []
    if closed:
        ctl_args.append("--ignore-hours")
    hub_host, _, hub_port = cfg.hub.listen.rpartition(":")
    hub_host = "127.0.0.1" if hub_host in ("0.0.0.0", "") else hub_host
    if not _port_free(hub_host, int(hub_port)):
        wanted, hub_port = hub_port, str(free_port(hub_host))
        print(f"port {wanted} is taken; this site's hub uses {hub_port} instead")
    hub_url = f"http://{hub_host}:{hub_port}"
    children = [
        Child("controller", ctl_args, logs / "controller.log"),
        Child("hub", [*py, "hub", *site_args, "--listen", f"{hub_host}:{hub_port}"], logs / "hub.log"),
    ]
    children.append(Child("agents", [*py, "agents", *site_args, "--sim-only"], logs / "agents.log"))
    if args.traffic:
        children.append(
            Child("traffic", [*py, "simulate", *site_args, "--speed", str(args.speed)], logs / "traffic.log")
        )
    for c in children:
        c.start()

    print()
    print(f"  onestop site {cfg.site.id} — {cfg.site.name}")
    print(f"  broker      mqtt://{host}:{broker.port}   (pid {broker.pid}, log {broker.log_path})")
    for c in children:
        assert c.proc is not None
        print(f"  {c.name:<11} pid {c.proc.pid:<7} log {c.log_path}")
    print(f"  data        {data}   (controller.db, hub.db, secrets/, broker/)")
    print(f"  hub         {hub_url}/healthz   {hub_url}/api/state   {hub_url}/docs")
    print(f"  watch       onestop monitor --config {args.config} --broker {host}:{broker.port}")
    if closed:
        print(f"  note        {len(closed)} service(s) are closed at this hour; the demo ignores hours")
    if args.traffic:
        speed = f"{args.speed:.0f}"
        print(f"  traffic     simulated citizens and clerks at {speed}x (1 s = {speed} simulated s)")
    print("  Ctrl-C stops everything.\n")

    monitor = None
    if not args.quiet:
        cfg_live = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"port": broker.port})})
        monitor = Monitor(cfg_live)
        monitor.start()

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            for c in children:
                assert c.proc is not None
                rc = c.proc.poll()
                if rc is None:
                    continue
                c.restarts += 1
                delay = min(30, 2 ** min(c.restarts, 5)) if time.monotonic() - c.started < 10 else 1
                print(f"!! {c.name} exited with status {rc}; restarting in {delay} s (see {c.log_path})")
                if stop.wait(delay):
                    break
                c.start()
    finally:
        print("\nstopping …")
        if monitor is not None:
            monitor.stop()
        for c in reversed(children):
            c.stop()
        broker.stop()
        print("stopped.")
    return 0

"""``onestop up``: a whole site on one machine, on simulated hardware.

It starts a private Mosquitto with a generated configuration (per-account passwords and the ACL of
the protocol), then every process of the suite as a child, prints what runs where, restarts a child
that dies (as systemd does on a real site), prints the queue events, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

from onestop.broker import Broker, demo_broker_dir, free_port
from onestop.cli import load_config
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials, secrets_dir
from onestop.monitor import Monitor, printing_marker
from onestop.simulate import TWINS_ENV, is_twin
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
    #: What it serves, when other children are told where it is (the reference back end).
    url: str = ""

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
    """Run the site until Ctrl-C. Whatever was started is stopped again, even when Ctrl-C comes
    while the site is still starting (the children run in their own sessions and would not see it)."""
    if args.files_only:
        return _files_only(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.traffic:
        # The simulator plays twin accounts (see onestop.simulate.with_twins): set for this process
        # before the site file is read, and inherited by every child.
        os.environ[TWINS_ENV] = "1"
    cfg = load_config(args)
    host = cfg.broker.host
    port = args.port or cfg.broker.port
    if not _port_free(host, port):
        wanted, port = port, free_port(host)
        print(f"port {wanted} is taken (another broker?); this site's broker uses {port} instead")
    broker = demo_broker(cfg, port)
    children: list[Child] = []
    monitor: Monitor | None = None
    try:
        broker.start()
        children = _plan(args, cfg, broker.port)
        for c in children:
            if stop.is_set():
                break
            c.start()
        if not stop.is_set():
            _print_tour(args, cfg, broker, children)
        if not args.quiet and not stop.is_set():
            cfg_live = cfg.model_copy(update={"broker": cfg.broker.model_copy(update={"port": broker.port})})
            monitor = Monitor(cfg_live)
            monitor.start()
            # `onestop monitor` reads this: a second `monitor` connection would drop this one.
            printing_marker(cfg).write_text(json.dumps({"pid": os.getpid(), "port": broker.port}))
        _supervise(children, stop)
    finally:
        printing_marker(cfg).unlink(missing_ok=True)
        print("\nstopping …")
        if monitor is not None:
            monitor.stop()
        for c in reversed(children):
            c.stop()
        broker.stop()
        print("stopped.")
    return 0


def _files_only(args: argparse.Namespace) -> int:
    """``up --files-only``: the secrets and the broker's files, for a site run process by process."""
    cfg = load_config(args)
    if args.traffic:  # the simulator's twin accounts, as `up --traffic` gives the broker
        from onestop.simulate import with_twins

        cfg = with_twins(cfg)
    host = cfg.broker.host
    port = args.port or cfg.broker.port
    broker = demo_broker(cfg, port)
    broker.write_files()
    print(f"wrote the secrets ({secrets_dir(cfg)}) and the broker's files ({broker.directory})")
    print(f"start the broker: mosquitto -c {broker.conf_path}   (it listens on {host}:{port})")
    if not _port_free(host, port):
        print(f"note: {host}:{port} is taken now; give another --port")
    return 0


def demo_broker(cfg: SiteConfig, port: int) -> Broker:
    """The site's private broker as ``up`` runs it, not started: the data folder and every account's
    secret exist; the broker's files go to :func:`~onestop.broker.demo_broker_dir` (its
    ``mosquitto.conf`` names the port of the last start, which ``onestop monitor`` and
    ``onestop provision site check`` read). ``write_files()`` writes them without starting it."""
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_credentials(cfg)
    # Its own session, like the children: Ctrl-C reaches only this process, which stops the
    # clients first (each says offline) and the broker last.
    return Broker(
        cfg, demo_broker_dir(cfg), host=cfg.broker.host, port=port, persistence=True, own_session=True
    )


def _plan(args: argparse.Namespace, cfg: SiteConfig, broker_port: int) -> list[Child]:
    """The processes of the site, not started."""
    host = cfg.broker.host
    site_args = ["--config", str(Path(args.config).resolve()), "--broker", f"{host}:{broker_port}"]
    py = [sys.executable, "-m", "onestop"]
    logs = cfg.data_dir / "logs"
    ctl_args = [*py, "controller", *site_args]
    # Asked for (`up --ignore-hours`, to try the site by hand after hours), or a simulated day that
    # would otherwise stand still. The controller's own default stays: a real site keeps its hours.
    if args.ignore_hours or (args.traffic and _closed_services(cfg)):
        ctl_args.append("--ignore-hours")
    # The simulated day runs `speed` times faster than life: so may its devices, and its waits and
    # services last `speed` times longer than the clock says, for the estimates and the figures alike.
    scale = ["--time-scale", str(args.speed)] if args.traffic else []
    if args.traffic:
        ctl_args += ["--limits-scale", str(max(1.0, args.speed)), *scale]
    hub_host, _, hub_port = cfg.hub.listen.rpartition(":")
    hub_host = "127.0.0.1" if hub_host in ("0.0.0.0", "") else hub_host
    if not _port_free(hub_host, int(hub_port)):
        wanted, hub_port = hub_port, str(free_port(hub_host))
        print(f"port {wanted} is taken; this site's hub uses {hub_port} instead")
    children = [
        Child("controller", ctl_args, logs / "controller.log"),
        Child(
            "hub", [*py, "hub", *site_args, "--listen", f"{hub_host}:{hub_port}", *scale], logs / "hub.log"
        ),
        Child("agents", [*py, "agents", *site_args, "--sim-only"], logs / "agents.log"),
    ]
    backend = _reference_backend(cfg, py, logs)
    if backend is not None:
        children.insert(1, backend)  # before the hub, which forwards to it
        if backend.url != cfg.backend.url:  # type: ignore[union-attr]
            next(c for c in children if c.name == "hub").argv += ["--backend-url", backend.url]
    children += _kiosks(cfg, py, site_args, logs)
    children += _rating_terminals(cfg, py, site_args, logs)
    if args.traffic:
        sim_args = [*py, "simulate", *site_args, "--speed", str(args.speed)]
        children.append(Child("traffic", sim_args, logs / "traffic.log"))
    return children


def _kiosks(cfg: SiteConfig, py: list[str], site_args: list[str], logs: Path) -> list[Child]:
    """A kiosk process per kiosk whose printer is simulated: a small window when there is a display,
    headless otherwise; either way driven over HTTP on a loopback port (``POST /tap``)."""
    out: list[Child] = []
    windowed = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    for dev in cfg.devices_with_role("kiosk"):
        if (dev.printer is not None and dev.printer.backend != "sim") or is_twin(cfg, dev.id):
            continue
        argv = [*py, "kiosk", "run", *site_args, "--device", dev.id, "--listen", f"127.0.0.1:{free_port()}"]
        argv += ["--windowed", "--size", "540x960"] if windowed else ["--headless"]
        out.append(Child(dev.id, argv, logs / f"{dev.id}.log"))
    return out


def _rating_terminals(cfg: SiteConfig, py: list[str], site_args: list[str], logs: Path) -> list[Child]:
    """A headless rating terminal per rating device, driven over HTTP on a loopback port
    (``POST /rate``). It follows its counter and offers the levels when a ticket ends; a rating
    sent by the traffic simulator (as its twin, sim-{id}) closes the offer like a press would."""
    out: list[Child] = []
    for dev in cfg.devices_with_role("rating"):
        if dev.counter is None or is_twin(cfg, dev.id):  # the traffic simulator plays a twin
            continue
        argv = [*py, "rating", "run", *site_args, "--device", dev.id, "--headless"]
        argv += ["--listen", f"127.0.0.1:{free_port()}"]
        out.append(Child(dev.id, argv, logs / f"{dev.id}.log"))
    return out


def _print_tour(args: argparse.Namespace, cfg: SiteConfig, broker: Broker, children: list[Child]) -> None:
    host = cfg.broker.host
    hub = next(c for c in children if c.name == "hub")
    hub_url = "http://" + hub.argv[hub.argv.index("--listen") + 1]
    print()
    print(f"  onestop site {cfg.site.id} — {cfg.site.name}")
    print(f"  broker      mqtt://{host}:{broker.port}   (pid {broker.pid}, log {broker.log_path})")
    for c in children:
        assert c.proc is not None
        print(f"  {c.name:<11} pid {c.proc.pid:<7} log {c.log_path}")
    print(f"  data        {cfg.data_dir}   (controller.db, hub.db, secrets/, broker/)")
    print(f"  hub         {hub_url}/healthz   {hub_url}/api/state   {hub_url}/docs")
    for c in children:
        if c.name == "backend" and c.url:
            base = urlsplit(c.url)._replace(path="", query="", fragment="").geturl()
            print(f"  back end    {c.url}   (reference: {base}/_stats   {base}/_records   {base}/_lookups)")
            _print_samples(cfg)
    watch = f"onestop monitor --config {args.config}"  # it finds this broker (demo_broker_address)
    if not args.quiet:  # the events print below, through the site's one `monitor` connection
        watch += "   (after `up --quiet`: one monitor at a time)"
    print(f"  watch       {watch}")
    for c in children:
        if "kiosk" in c.argv and "--listen" in c.argv:
            url = "http://" + c.argv[c.argv.index("--listen") + 1]
            print(
                f'  {c.name:<11} curl -s -X POST {url}/tap -d \'{{"service": "..."}}\'   (GET {url}/screen)'
            )
        elif "rating" in c.argv and "--listen" in c.argv:
            url = "http://" + c.argv[c.argv.index("--listen") + 1]
            # waits up to 30 s for the counter to finish a ticket: there is nothing to rate before
            body = '{"score": 3, "wait_s": 30}'
            print(f"  {c.name:<11} curl -s -X POST {url}/rate -d '{body}'   (GET {url}/screen)")
    if "--ignore-hours" in children[0].argv:
        print("  note        opening hours are ignored: every service issues tickets at any hour")
    elif closed := _closed_services(cfg):
        print(
            f"  note        closed at this hour: {', '.join(closed)} (the kiosk says so); "
            "`onestop up --ignore-hours` (`make up UPARGS=--ignore-hours`) runs the site as if open"
        )
    if args.traffic:
        speed = f"{args.speed:.0f}"
        print(f"  traffic     simulated citizens and clerks at {speed}x (1 s = {speed} simulated s)")
        print("              waits and service times (board, kiosk, dashboard) are in simulated time")
    print("  Ctrl-C stops everything.\n", flush=True)


def _print_samples(cfg: SiteConfig) -> None:
    """A few codes the reference back end knows, to type at a demo kiosk (all in the samples file)."""
    path = lookup_samples_path(cfg)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]
    except OSError:
        return
    print(f"  lookups     codes to type at a kiosk (all in {path}):")
    for ln in lines[:8]:
        print(f"              {ln}")


def _reference_backend(cfg: SiteConfig, py: list[str], logs: Path) -> Child | None:
    """``onestop fake-backend`` when ``[backend] url`` points to loopback, with a token for this run.

    The token is put in the environment under ``[backend] token_env`` (unless it is set already), so
    that every child (the hub's forwarder, the reference back end) inherits the same one."""
    if cfg.backend is None:
        return None
    url = urlsplit(cfg.backend.url)
    if url.scheme != "http" or url.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    port = url.port or 80
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    moved = cfg.backend.url
    if not _port_free(url.hostname, port):
        # Something else listens there: never forward the demo's records and token to a stranger.
        wanted, port = port, free_port(url.hostname)
        moved = url._replace(netloc=f"{host}:{port}").geturl()
        print(f"port {wanted} is taken; the reference back end uses {port}, and the hub forwards there")
    os.environ.setdefault(cfg.backend.token_env, secrets.token_urlsafe(24))
    lookups = write_demo_lookups(cfg)
    argv = [*py, "fake-backend", f"--listen={host}:{port}", "--token-env", cfg.backend.token_env,
            "--db", str(cfg.data_dir / "fake-backend.db"), "--lookups", str(lookups)]  # fmt: skip
    return Child("backend", argv, logs / "backend.log", url=moved)


def write_demo_lookups(cfg: SiteConfig) -> Path:
    """Generate today's bookings and dossiers for the reference back end: the fixtures in
    ``{data}/lookups.json``, and the codes worth typing at a kiosk in ``{data}/lookup-samples.txt``."""
    from onestop.fake_lookups import generate_day

    book = generate_day(cfg)
    path = cfg.data_dir / "lookups.json"
    path.write_text(json.dumps(book.to_doc(), ensure_ascii=False, indent=1), encoding="utf-8")
    lookup_samples_path(cfg).write_text(book.samples_text(), encoding="utf-8")
    return path


def lookup_samples_path(cfg: SiteConfig) -> Path:
    """Where ``up`` writes the sample booking and dossier codes of the reference back end."""
    return cfg.data_dir / "lookup-samples.txt"


def _supervise(children: list[Child], stop: threading.Event) -> None:
    """Restart a child that dies (later and later if it keeps dying at once) until ``stop``."""
    while not stop.wait(0.5):
        for c in children:
            if c.proc is None:
                continue
            rc = c.proc.poll()
            if rc is None:
                continue
            c.restarts += 1
            delay = min(30, 2 ** min(c.restarts, 5)) if time.monotonic() - c.started < 10 else 1
            print(f"!! {c.name} exited with status {rc}; restarting in {delay} s (see {c.log_path})")
            if stop.wait(delay):
                return
            c.start()

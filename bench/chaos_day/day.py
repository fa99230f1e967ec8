"""A chaos day: a whole site under load while a fault injector breaks it, then checks that nothing
was lost, doubled or shown wrong.

The site is real: a private Mosquitto with persistence, ``onestop controller``, ``onestop hub`` (with
its forwarder) and ``onestop fake-backend`` as child processes, and 50 counters, 5 kiosks and 5
rating terminals simulated by :mod:`bench.chaos_day.load` (one process, one MQTT connection per device).
While the day runs, the injector (seeded: the same seed gives the same schedule) kills the controller
with SIGKILL and restarts it, restarts the broker (cleanly, or SIGKILL: a killed Mosquitto loses what
arrived since its last save), kills the hub, takes the back end down (503, answers held past the
forwarder's timeout, 500s, SIGKILL of its process) for long stretches, and drops device connections.
Faults are placed at random points of the day's progress (tickets issued), so every fault lands
inside the day whatever the machine's speed.

The day crosses one business-day boundary, for real (no clock is faked): when the site is up, the
harness picks a whole minute (``plan_boundary``: about half-way through the day's tickets, at least
``boundary_min_s`` after the devices start) and writes it as ``[site] day_starts`` before the controller
and the hub start. The devices issue half the tickets before it and the rest only after it, so the day
can neither end before the boundary nor run out of load at it. More faults are placed in time around
it (``boundary_schedule``: the controller SIGKILLed before it, about when the reset is committed and
after it; the hub killed, the back end down across it, device connections dropped); a fault that
targets a process waits for the one under way on the same process to end (one lock per process).

Afterwards everything is stopped and :mod:`bench.chaos_day.checks` reads the databases read-only.
``run_day(short_plan(seed))`` is what ``make test`` runs; ``python -m bench chaos`` runs
``full_plan``. ``python -m bench.chaos_day [--short] [--seed N]`` runs either and prints the summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from bench.chaos_day.checks import check_all
from bench.chaos_day.parts import (
    FLOOD_DEVICE,
    LEVELS,
    LOOPBACK,
    REASONS,
    REPO,
    TOKEN_ENV,
    Boundary,
    ChaosError,
    ChaosPlan,
    Child,
    PlacedFault,
    boundary_schedule,
    child_env,
    count_errors,
    faked_env,
    find_libfaketime,
    flood_share,
    full_plan,
    http_json,
    log_lines,
    log_tail,
    plan_boundary,
    poll,
    processes_mentioning,
    short_plan,
    site_data,
)
from onestop import config
from onestop.broker import Broker, free_port
from onestop.config import SiteConfig
from onestop.credentials import ensure_credentials
from onestop.protocol import MONITOR_ID, Topics
from onestop.toml_text import dumps as to_toml
from queue_controller.engine import business_day

__all__ = ["ChaosDay", "ChaosPlan", "full_plan", "processes_mentioning", "run_day", "short_plan"]


# -- the day ---------------------------------------------------------------------------------------


class ChaosDay:
    """One chaos day in a directory: set up, run with faults, settle, stop, check."""

    def __init__(self, plan: ChaosPlan, root: Path, *, say: Callable[[str], None] | None = None) -> None:
        self.plan = plan
        self.root = root
        self.say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        self.rng = random.Random(plan.seed)
        self.backend_port = free_port(LOOPBACK)
        self.hub_port = free_port(LOOPBACK)
        self.site_path = root / "site.toml"
        self.site = site_data(plan, root, self.backend_port, self.hub_port)
        self.site_path.write_text(to_toml(self.site), "utf-8")
        self.cfg: SiteConfig = config.load(self.site_path)
        self.topics = Topics(self.cfg.site.id)
        self.broker = Broker(self.cfg, root / "broker", host=LOOPBACK, persistence=True)
        self.broker_lock = threading.RLock()
        self.broker_should_run = False
        self.broker_unexpected: list[dict[str, Any]] = []
        self.passwords: dict[str, str] = {}
        self.env = child_env()
        self.env[TOKEN_ENV] = secrets.token_urlsafe(24)
        self.children: list[Child] = []
        self.load: subprocess.Popen[bytes] | None = None
        self.progress: dict[str, Any] = {"issued": 0}
        self.progress_cv = threading.Condition()
        self.load_done = threading.Event()
        self.stopping = threading.Event()
        self.faults: Counter[str] = Counter()
        #: (seconds since the start, kind, placed around the boundary)
        self.fault_log: list[tuple[float, str, bool]] = []
        #: One lock per process that faults target: a kill and its restart are never interleaved with
        #: another fault on the same process.
        self.fault_locks = {k: threading.Lock() for k in ("controller", "broker", "hub", "backend")}
        self.boundary: Boundary | None = None
        self.boundary_mode = ""
        #: (killed, started again), Unix time, of every controller kill
        self.controller_down: list[tuple[float, float]] = []
        self.days: tuple[str, str] = ("", "")
        self.injector_errors: list[str] = []
        self.backend_totals: Counter[str] = Counter()
        self.backend_conflicts = 0
        self.t0 = time.monotonic()
        self.t0_wall = time.time()
        self._load_in: IO[bytes] | None = None
        self._load_lock = threading.Lock()
        #: libfaketime's offset for the controller (``+N``/``-N`` seconds), read at every clock call.
        self.clock_file = root / "faketime.txt"
        #: (Unix time, offset written) of every clock step and undo.
        self.clock_log: list[tuple[float, int]] = []
        #: (stopped, continued), Unix time, of every SIGSTOP stall of the controller.
        self.stalls: list[tuple[float, float]] = []
        #: The day's last faults (clock steps, stall, flood) are planned: the devices wait for them.
        self.late = plan.clock_steps or plan.stall_s > 0 or plan.flood_s > 0

    # -- processes ---------------------------------------------------------------------------
    def _child(
        self, name: str, *args: str, module: str = "onestop", env: dict[str, str] | None = None
    ) -> Child:
        argv = [sys.executable, "-m", module, name, *args]
        c = Child(name, argv, self.root / f"{name}.log", env or self.env)
        self.children.append(c)
        return c

    def setup(self) -> None:
        """Start the broker, the back end, the controller, the hub and the devices."""
        with self.broker_lock:
            self.broker.start()
            self.broker_should_run = True
        self.passwords = ensure_credentials(self.cfg)
        broker_at = f"{LOOPBACK}:{self.broker.port}"
        cfg_arg = ["--config", str(self.site_path)]
        self.backend = self._child(
            "fake-backend",
            "--listen", f"{LOOPBACK}:{self.backend_port}", "--token-env", TOKEN_ENV,
            "--db", str(self.root / "backend.db"), "--log-level", "WARNING",
        )  # fmt: skip
        ctl_args = (*cfg_arg, "--broker", broker_at, "--db", str(self.root / "controller.db"))
        if self.plan.clock_steps:
            # The controller's wall clock is libfaketime's, stepped by the harness (_clock_faults).
            lib = find_libfaketime()
            if lib is None:
                raise ChaosError(
                    "libfaketime not found: install the Debian package faketime (bootstrap --test)"
                )
            self._set_clock(0)
            env = faked_env(self.env, lib, self.clock_file)
            self.controller = self._child("controller", *ctl_args, module="bench.chaos_day.faked", env=env)
        else:
            self.controller = self._child("controller", *ctl_args)
        self.hub = self._child(
            "hub", *cfg_arg, "--broker", broker_at, "--listen", f"{LOOPBACK}:{self.hub_port}",
            "--db", str(self.root / "hub.db"), "--log-level", "WARNING",
        )  # fmt: skip
        self.backend.start()
        if not poll(lambda: bool(self._backend_stats()), 30):
            raise ChaosError(f"the reference back end did not start:\n{log_tail(self.backend.log)}")
        if self.plan.boundary:
            self._place_boundary()
        self.controller.start()
        self.hub.start()
        self._start_load()

    def _place_boundary(self) -> None:
        """Pick the boundary and write it to site.toml as ``day_starts`` (before the controller and the
        hub read it)."""
        at = plan_boundary(self.plan, time.time())
        local = datetime.fromtimestamp(at, self.cfg.site.tz)
        self.site["site"]["day_starts"] = f"{local:%H:%M}"
        self.site_path.write_text(to_toml(self.site), "utf-8")
        self.cfg = config.load(self.site_path)
        d1, d2 = business_day(self.cfg, local - timedelta(seconds=1)), business_day(self.cfg, local)
        if d2 - d1 != timedelta(days=1):
            raise ChaosError(f"day_starts {local:%H:%M} does not start a new day at {local.isoformat()}")
        # About ``boundary_share`` of the tickets before it when it falls where the plan expects it;
        # when the whole minute falls later, more of them (up to 80 %), so that the time spent waiting
        # for the minute carries load and faults and the new day is not longer than it must be.
        plan = self.plan
        wait = at - time.time() - plan.startup_s
        after_s = (1 - plan.boundary_share) * plan.tickets / plan.issue_rate
        share = min(0.8, max(0.3, wait / max(wait + after_s, 1e-3)))
        before = round(share * plan.tickets)
        self.boundary = Boundary(epoch=at, day_starts=f"{local:%H:%M}", before=before)
        self.days = (f"{d1:%Y%m%d}", f"{d2:%Y%m%d}")
        self.say(
            f"chaos: the business day {d2} starts at {local.isoformat()} (day_starts {local:%H:%M}), "
            f"in {at - time.time():.1f} s, after {before} tickets"
        )

    def _start_load(self) -> None:
        devices = []
        for d in self.cfg.devices:
            entry: dict[str, Any] = {"id": d.id, "role": d.role, "password": self.passwords[d.id]}
            if d.counter is not None:
                entry["counter"] = d.counter
            if d.role == "counter":
                assert d.counter is not None
                entry["officer"] = f"cb{int(d.counter):03d}"
                entry["services"] = list(self.cfg.counter(d.counter).services)
            devices.append(entry)
        plan = self.plan
        spec = {
            "host": LOOPBACK,
            "port": self.broker.port,
            "site": self.cfg.site.id,
            "seed": self.rng.getrandbits(64),
            "tickets": plan.tickets,
            "issue_rate": plan.issue_rate,
            "backlog_cap": plan.backlog_cap,
            "retry_s": plan.retry_s,
            "service_s": max(0.05, 0.8 * plan.counters / plan.issue_rate),
            "kiosk_window": 3,
            "services": [s.id for s in self.cfg.services],
            "devices": devices,
            "p": plan.probabilities,
            "reasons": REASONS,
            "levels": len(LEVELS),
            "results": str(self.root / "devices.json"),
            "give_up_s": plan.give_up_s,
            "flood_device": FLOOD_DEVICE if plan.flood_s > 0 else None,
            "flood_window": plan.flood_window,
            "held": self.late,
        }
        if self.boundary is not None:
            # The new day's tickets are spread over the last faults (which begin 5 s after the
            # boundary), so that the stall and the flood meet citizens at the kiosks.
            after = plan.tickets - self.boundary.before
            spec["boundary"] = {
                "epoch": self.boundary.epoch,
                "before": self.boundary.before,
                "lull_s": plan.lull_s,
                "day1": self.days[0],
                "day2": self.days[1],
                "after_rate": min(plan.issue_rate, after / (5.0 + self._late_s())) if self.late else None,
            }
        spec_path = self.root / "load-spec.json"
        spec_path.write_text(json.dumps(spec), "utf-8")
        with open(self.root / "load.log", "ab") as err:
            self.load = subprocess.Popen(
                [sys.executable, "-m", "bench.chaos_day.load", str(spec_path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                env=self.env,
                cwd=str(REPO),
            )
        self._load_in = self.load.stdin
        threading.Thread(target=self._read_load, name="chaos-load-reader", daemon=True).start()

    def _read_load(self) -> None:
        assert self.load is not None and self.load.stdout is not None
        for line in self.load.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.progress_cv:
                if "progress" in msg:
                    self.progress = msg["progress"]
                if "done" in msg:
                    self.progress = msg["done"]["progress"]
                    self.load_done.set()
                self.progress_cv.notify_all()
        with self.progress_cv:
            self.load_done.set()
            self.progress_cv.notify_all()

    def _tell_load(self, doc: dict[str, Any]) -> None:
        with self._load_lock:
            if self._load_in is not None:
                with contextlib.suppress(OSError, ValueError):
                    self._load_in.write(json.dumps(doc).encode() + b"\n")
                    self._load_in.flush()

    def _backend_stats(self) -> dict[str, Any]:
        return http_json("GET", f"http://{LOOPBACK}:{self.backend_port}/_stats", timeout=3)

    def _backend_control(self, doc: dict[str, Any]) -> None:
        http_json("POST", f"http://{LOOPBACK}:{self.backend_port}/_control", doc, timeout=5)

    def _keep_backend_stats(self) -> None:
        """Add the back end's in-memory counters to the totals before its process goes away."""
        with contextlib.suppress(Exception):
            st = self._backend_stats()
            self.backend_totals["requests"] += st["requests"]
            for status, n in st["by_status"].items():
                self.backend_totals[f"http_{status}"] += n
            self.backend_totals["held_total"] += st["held_total"]
            self.backend_conflicts += st["conflicts"]

    # -- the fault injector --------------------------------------------------------------------
    def _note(self, kind: str, planned: bool = False) -> None:
        self.faults[kind] += 1
        self.fault_log.append((round(time.monotonic() - self.t0, 3), kind, planned))

    def _wait_issued(self, fraction: float) -> bool:
        """Block until ``fraction`` of the day's tickets are issued; False when the day is stopping."""
        target = fraction * self.plan.tickets
        with self.progress_cv:
            while not self.stopping.is_set() and not self.load_done.is_set():
                if self.progress.get("issued", 0) >= target:
                    return True
                self.progress_cv.wait(0.5)
        return False

    def _pause(self, rng: random.Random, longest: float) -> None:
        """Wait a random moment (a scheduled moment, not a wait for an outcome)."""
        threading.Event().wait(rng.uniform(0.0, longest))

    def _points(self, rng: random.Random, n: int, lo: float = 0.03, hi: float = 0.95) -> list[float]:
        return sorted(rng.uniform(lo, hi) for _ in range(n))

    def _run_injector(self, name: str, body: Callable[[random.Random], None], rng: random.Random) -> None:
        try:
            body(rng)
        except Exception as exc:
            self.injector_errors.append(f"{name}: {type(exc).__name__}: {exc}")
            self.say(f"chaos: the {name} injector failed: {exc!r}")

    def _kill_controller(
        self, rng: random.Random, planned: bool = False, down_s: float | None = None
    ) -> None:
        with self.fault_locks["controller"]:
            self.controller.kill()
            killed = time.time()
            self._note("controller_sigkill", planned)
            if down_s is None:
                self._pause(rng, self.plan.controller_down_s)
            else:
                threading.Event().wait(down_s)
            self.controller.start()
            self.controller_down.append((killed, time.time()))

    def _kill_controllers(self, rng: random.Random) -> None:
        for at in self._points(rng, self.plan.controller_kills):
            if not self._wait_issued(at):
                return
            self._pause(rng, 0.3)
            if self.boundary is not None:
                # The placed kills own the seconds around the boundary: one of the random ones there
                # could hold the controller down across the placed "before" kill.
                edge = self.boundary.epoch
                if edge - 3.0 <= time.time() < edge + 4.5 and not self._wait_until(edge + 4.5):
                    return
            self._kill_controller(rng)

    def _restart_broker(self, rng: random.Random, kind: str, planned: bool = False) -> None:
        with self.fault_locks["broker"]:
            with self.broker_lock:
                self.broker_should_run = False
                if kind == "clean":
                    self.broker.stop()
                else:
                    self.broker.kill()
            self._note(f"broker_{kind}_restart", planned)
            self._pause(rng, self.plan.broker_down_s)
            with self.broker_lock:
                self.broker.start()
                self.broker_should_run = True

    def _restart_brokers(self, rng: random.Random) -> None:
        kinds = ["clean", "sigkill"] * self.plan.broker_restarts
        kinds = kinds[: self.plan.broker_restarts]
        rng.shuffle(kinds)
        for at, kind in zip(self._points(rng, self.plan.broker_restarts), kinds, strict=True):
            if not self._wait_issued(at):
                return
            self._pause(rng, 0.3)
            self._restart_broker(rng, kind)

    def _kill_hub(self, rng: random.Random, planned: bool = False) -> None:
        with self.fault_locks["hub"]:
            self.hub.kill()
            self._note("hub_sigkill", planned)
            self._pause(rng, self.plan.hub_down_s)
            self.hub.start()

    def _kill_hubs(self, rng: random.Random) -> None:
        for at in self._points(rng, self.plan.hub_kills):
            if not self._wait_issued(at):
                return
            self._pause(rng, 0.3)
            self._kill_hub(rng)

    def _drop(self, rng: random.Random, planned: bool = False) -> None:
        n = rng.randint(1, 5)
        self._tell_load({"drop": n})
        self.faults["device_connections_dropped"] += n
        self._note("device_drop", planned)

    def _drop_devices(self, rng: random.Random) -> None:
        for at in self._points(rng, self.plan.device_drops):
            if not self._wait_issued(at):
                return
            self._drop(rng)

    # -- clock steps, a stall, a flood ----------------------------------------------------------
    def _set_clock(self, offset_s: int) -> None:
        """Step the controller's wall clock to ``offset_s`` from the real time (libfaketime reads the
        file at every call: the running process sees the step at once)."""
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(f"{offset_s:+d}\n", "utf-8")
        os.replace(tmp, self.clock_file)
        self.clock_log.append((time.time(), offset_s))

    def _late_s(self) -> float:
        """About how long the last faults take (see :meth:`_late_faults`)."""
        p = self.plan
        clock = 2 * (p.clock_hold_s + 2.0) + p.clock_forward_for_s + 2.0 if p.clock_steps else 0.0
        flood = p.flood_s + 1.5 if p.flood_s > 0 else 0.0
        return 3.0 + clock + flood + p.stall_s

    def _late_faults(self, rng: random.Random) -> None:
        """Just after the boundary (half-way through the day without one), the controller's lock
        held throughout, in order: its clock stepped back ``clock_back_s`` (taken as the time after
        ``clock_hold_s``, then undone), forward ``clock_forward_s`` for less than the hold and back;
        a flooding kiosk (after the clock steps: the seconds before it are the others' baseline); a
        SIGSTOP stall longer than the devices' patience. The devices keep the day going until these
        are over."""
        plan = self.plan
        try:
            if self.boundary is not None:
                if not self._wait_until(self.boundary.epoch + 5.0):
                    return
            elif not self._wait_issued(0.5):
                return
            with self.fault_locks["controller"]:
                wait = self.stopping.wait
                # A controller that starts during a step finds its clock behind its store and waits
                # (answers "unavailable"): let it get going first, to meet the step running.
                self._wait_until(self.controller.started_at + 3.0)
                if plan.clock_steps:
                    self._set_clock(-round(plan.clock_back_s))
                    self._note("clock_back_step")
                    wait(plan.clock_hold_s + 2.0)
                    self._set_clock(0)
                    wait(plan.clock_hold_s + 2.0)
                    self._set_clock(round(plan.clock_forward_s))
                    self._note("clock_forward_step")
                    wait(plan.clock_forward_for_s)
                    self._set_clock(0)
                    wait(2.0)
                if plan.flood_s > 0:
                    self._tell_load({"flood": plan.flood_s})
                    self._note("flood")
                    wait(plan.flood_s + rng.uniform(1.0, 2.0))
                if plan.stall_s > 0:
                    self._stall(plan.stall_s)
        finally:
            self._tell_load({"hold": False})

    def _stall(self, seconds: float) -> None:
        """SIGSTOP the controller for ``seconds``, then SIGCONT (its lock held by the caller)."""
        proc = self.controller.proc
        if proc is None or proc.poll() is not None:
            return
        stopped = time.time()
        os.kill(proc.pid, signal.SIGSTOP)
        self._note("controller_sigstop")
        try:
            self.stopping.wait(seconds)
        finally:
            with contextlib.suppress(OSError):
                os.kill(proc.pid, signal.SIGCONT)
            self.stalls.append((stopped, time.time()))

    # -- around the boundary ------------------------------------------------------------------
    def _wait_until(self, wall: float) -> bool:
        """Sleep until the instant ``wall`` (Unix time, a scheduled moment); False when the day stops."""
        while not self.stopping.is_set():
            left = wall - time.time()
            if left <= 0:
                return True
            self.stopping.wait(min(left, 0.5))
        return False

    def _boundary_faults(self, rng: random.Random) -> None:
        """The faults of ``boundary_schedule``: one thread per target, each in time order."""
        assert self.boundary is not None
        at = self.boundary.epoch
        self.boundary_mode, schedule = boundary_schedule(self.plan, rng)
        by_kind: dict[str, list[PlacedFault]] = {}
        for fault in schedule:
            by_kind.setdefault(fault.target, []).append(fault)
        threads = []
        for kind, faults in by_kind.items():
            sub = random.Random(rng.getrandbits(64))
            th = threading.Thread(
                target=self._run_injector,
                args=(f"boundary-{kind}", lambda r, k=kind, f=faults: self._at_boundary(r, k, f, at), sub),
                name=f"chaos-boundary-{kind}",
                daemon=True,
            )
            th.start()
            threads.append(th)
        for th in threads:
            th.join()

    def _at_boundary(self, rng: random.Random, kind: str, faults: list[PlacedFault], at: float) -> None:
        for fault in faults:
            if not self._wait_until(at + fault.offset):
                return
            if kind == "controller":
                self._kill_controller(rng, planned=True, down_s=fault.down_s)
            elif kind == "hub":
                self._kill_hub(rng, planned=True)
            elif kind == "broker":
                self._restart_broker(rng, rng.choice(["clean", "sigkill"]), planned=True)
            elif kind == "devices":
                self._drop(rng, planned=True)
            elif kind == "backend":
                self._backend_outage_across(rng, at)

    def _backend_outage_across(self, rng: random.Random, at: float) -> None:
        """The back end down from now until 2-6 s after the boundary: the reset's records wait in the
        outbox. Skipped if a random outage still holds it 2 s after the boundary (it is down anyway)."""
        lock = self.fault_locks["backend"]
        if not lock.acquire(timeout=max(0.0, at + 2.0 - time.time())):
            return
        try:
            self._backend_control({"mode": "down"})
            self._note("backend_down", planned=True)
            self._wait_until(at + rng.uniform(2.0, 6.0))
        finally:
            with contextlib.suppress(Exception):
                self._backend_control({"mode": "up"})
            lock.release()

    def _break_backend(self, rng: random.Random) -> None:
        """Long stretches without a back end: 503s, answers held past the timeout (the batch is
        stored, the answer lost), 500s, and its process killed (connection refused)."""
        kinds = ["down", "timeout", "fail"] * self.plan.backend_outages
        kinds = kinds[: self.plan.backend_outages] + ["sigkill"] * self.plan.backend_kills
        rng.shuffle(kinds)
        slot = 0.9 / max(1, len(kinds))
        for i, kind in enumerate(kinds):
            lo = 0.04 + i * slot
            start = lo + rng.uniform(0.0, 0.3 * slot)
            end = start + rng.uniform(0.4, 0.65) * slot
            if not self._wait_issued(start):
                return
            with self.fault_locks["backend"]:
                self._backend_fault(rng, kind, end)

    def _backend_fault(self, rng: random.Random, kind: str, end: float) -> None:
        """One random back-end fault, until ``end`` of the day's progress (the back end's lock held)."""
        try:
            if kind == "sigkill":
                self._keep_backend_stats()
                self.backend.kill()
                self._note("backend_sigkill")
                self._pause(rng, self.plan.backend_kill_down_s)
                if rng.random() < 0.5:
                    self._wait_issued(end)  # a long stretch without its process
                self.backend.start()
                if not poll(lambda: bool(self._backend_stats()), 30):
                    raise ChaosError("the reference back end did not come back")
                return
            if kind == "down":
                self._backend_control({"mode": "down"})
            elif kind == "timeout":
                self._backend_control({"mode": "timeout", "rate": 1.0, "hold_s": 30, "store": True})
            else:
                self._backend_control({"mode": "fail", "rate": 0.7, "status": 500})
            self._note(f"backend_{kind}")
            self._wait_issued(end)
        finally:
            if kind != "sigkill":
                with contextlib.suppress(Exception):
                    self._backend_control({"mode": "up"})

    # -- running ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """The whole day; returns the summary (violations are in it, not raised)."""
        timings: dict[str, float] = {}
        t = time.monotonic()
        self.say(f"chaos: seed {self.plan.seed}, {self.plan.tickets} tickets, site in {self.root}")
        self.setup()
        timings["setup_s"] = time.monotonic() - t
        t = time.monotonic()
        injectors = {
            "controller": self._kill_controllers,
            "broker": self._restart_brokers,
            "hub": self._kill_hubs,
            "backend": self._break_backend,
            "devices": self._drop_devices,
        }
        if self.boundary is not None:
            injectors["boundary"] = self._boundary_faults
        if self.late:
            injectors["late"] = self._late_faults
        threads = []
        for name, body in injectors.items():
            rng = random.Random(self.rng.getrandbits(64))
            th = threading.Thread(
                target=self._run_injector, args=(name, body, rng), name=f"chaos-{name}", daemon=True
            )
            th.start()
            threads.append(th)
        deadline = time.monotonic() + self.plan.time_limit_s
        if self.boundary is not None:  # the time until the boundary is not the day's to spend
            deadline += max(0.0, self.boundary.epoch - time.time())
        last_say = 0.0
        while not self.load_done.wait(0.5):
            self._supervise()
            if time.monotonic() > deadline:
                self.say("chaos: time limit reached; stopping the devices")
                self._tell_load({"stop": True})
                break
            if time.monotonic() - last_say > 10:
                last_say = time.monotonic()
                self.say(f"chaos: {json.dumps(self.progress)} faults {dict(self.faults)}")
        self.stopping.set()
        with self.progress_cv:
            self.progress_cv.notify_all()
        for th in threads:
            th.join(60)
        self._supervise()
        timings["day_s"] = time.monotonic() - t
        t = time.monotonic()
        if self.load is not None:
            try:
                self.load.wait(30)
            except subprocess.TimeoutExpired:
                self.load.kill()
                self.load.wait()
        settled = self.settle()
        timings["settle_s"] = time.monotonic() - t
        t = time.monotonic()
        retained = self.read_displays()
        timings["displays_s"] = time.monotonic() - t
        t = time.monotonic()
        exits = self.stop_all()
        timings["stop_s"] = time.monotonic() - t
        t = time.monotonic()
        summary = self.check(retained, settled, exits)
        timings["checks_s"] = time.monotonic() - t
        summary["timings"] = {k: round(v, 2) for k, v in timings.items()}
        summary["duration_s"] = round(time.monotonic() - self.t0, 2)
        return summary

    def _supervise(self) -> None:
        for c in self.children:
            c.supervise()
        with self.broker_lock:
            if self.broker_should_run and not self.broker.running:
                self.broker_unexpected.append({"name": "broker", "at": time.time()})
                self.broker.start()

    def _last_seq(self, name: str, sql: str) -> int:
        with contextlib.closing(
            sqlite3.connect(f"file:{self.root / name}?mode=ro", uri=True, timeout=5)
        ) as db:
            row = db.execute(sql).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _drained(self) -> bool:
        with contextlib.closing(sqlite3.connect(f"file:{self.root / 'hub.db'}?mode=ro", uri=True)) as db:
            for stream, delivered, inflight in db.execute(
                "SELECT stream, delivered, inflight_key FROM forwarder"
            ).fetchall():
                (top,) = db.execute(
                    "SELECT COALESCE(MAX(id), 0) FROM outbox WHERE stream = ?", (stream,)
                ).fetchone()
                if inflight is not None or delivered < top:
                    return False
        return True

    def settle(self) -> dict[str, bool]:
        """After the day: the back end up, the hub caught up with the controller, the outbox drained."""
        for c in self.children:
            c.supervise()
        with contextlib.suppress(Exception):
            self._backend_control({"mode": "up"})
        s = self.plan.settle_s
        ctl_sql = "SELECT MAX(seq) FROM events"
        hub_sql = "SELECT value FROM meta WHERE key = 'last_seq'"
        caught_up = poll(
            lambda: self._last_seq("hub.db", hub_sql) >= self._last_seq("controller.db", ctl_sql) > 0, s
        )
        drained = caught_up and poll(self._drained, s)
        if not (caught_up and drained):
            self.say(f"chaos: did not settle (hub caught up: {caught_up}, outbox drained: {drained})")
        return {"hub_caught_up": caught_up, "outbox_drained": drained}

    def read_displays(self) -> dict[str, dict[str, Any]]:
        """What a display that connects now is shown: every retained state of the site."""
        want = {self.topics.board}
        want |= {self.topics.counter_state(c.id) for c in self.cfg.counters}
        want |= {self.topics.service_state(s.id) for s in self.cfg.services}
        got: dict[str, dict[str, Any]] = {}
        complete = threading.Event()

        def on_connect(c: paho.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
            if not reason.is_failure:
                c.subscribe(self.topics.state_all, qos=1)

        def on_message(_c: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
            if msg.retain and msg.topic in want:
                got[msg.topic] = json.loads(msg.payload)
                if len(got) == len(want):
                    complete.set()

        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"chaos-display-{os.getpid()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        # The read-only observer account: a client of the hub's account would take the hub's
        # connection over (the broker binds client ids to accounts).
        c.username_pw_set(MONITOR_ID, self.passwords[MONITOR_ID])
        c.on_connect = on_connect
        c.on_message = on_message
        c.connect(LOOPBACK, self.broker.port, 30, clean_start=True)
        c.loop_start()
        try:
            complete.wait(self.plan.settle_s)
        finally:
            c.disconnect()
            c.loop_stop()
        return dict(got)

    def stop_all(self) -> dict[str, int | None]:
        """Stop the devices, the hub, the controller, the back end and the broker (also on error)."""
        self.stopping.set()
        exits: dict[str, int | None] = {}
        if self.load is not None and self.load.poll() is None:
            self._tell_load({"stop": True})
            try:
                self.load.wait(10)
            except subprocess.TimeoutExpired:
                self.load.kill()
                self.load.wait()
        if self.load is not None:
            for stream in (self.load.stdin, self.load.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._keep_backend_stats()
        for c in reversed(self.children):
            exits[c.name] = c.stop()
        with self.broker_lock:
            self.broker_should_run = False
            self.broker.stop()
        return exits

    def check(
        self, retained: dict[str, dict[str, Any]], settled: dict[str, bool], exits: dict[str, Any]
    ) -> dict[str, Any]:
        """Read everything back and build the summary."""
        results_path = self.root / "devices.json"
        devices = json.loads(results_path.read_text("utf-8")) if results_path.exists() else None
        if devices is None:
            raise ChaosError(f"the simulated devices left no results:\n{log_tail(self.root / 'load.log')}")
        for line in log_lines(self.backend.log):
            if "repeated with different records" in line:
                self.backend_conflicts += 1
        v, figures = check_all(
            self.cfg,
            controller_db=self.root / "controller.db",
            hub_db=self.root / "hub.db",
            backend_db=self.root / "backend.db",
            devices=devices,
            retained=retained,
            backend_conflicts=self.backend_conflicts,
            boundary=(
                {"epoch": self.boundary.epoch, "day1": self.days[0], "day2": self.days[1]}
                if self.boundary is not None
                else None
            ),
            clock_back_s=self.plan.clock_back_s + 5.0 if self.faults["clock_back_step"] else 0.0,
            flood_share=(
                flood_share(
                    self.plan, self.site.get("limits", {}).get("kiosk"), sum(devices["flood"]["windows_s"])
                )
                if self.plan.flood_s > 0
                else None
            ),
        )
        ctl_log = log_lines(self.controller.log)
        steps_logged = sum("clock step" in ln for ln in ctl_log)
        if self.faults["clock_back_step"] + self.faults["clock_forward_step"] and not steps_logged:
            v.add("clock_step_not_logged", {"steps": self.clock_log})
        if self.boundary is not None:
            figures["boundary"].update(self._boundary_figures(figures["boundary"]))
        if not devices["completed"]:
            v.add("day_not_completed", devices.get("elapsed_s"))
        for name, ok in settled.items():
            if not ok:
                v.add("did_not_settle", name)
        for c in self.children:
            for u in c.unexpected:
                v.add("unexpected_exit", u)
        for u in self.broker_unexpected:
            v.add("unexpected_exit", u)
        for name, status in exits.items():
            if status not in (0, None, -signal.SIGTERM):  # uvicorn re-raises SIGTERM after a clean stop
                v.add("unclean_final_stop", {"name": name, "status": status})
        for err in self.injector_errors:
            v.add("injector_error", err)
        starts = {c.name: c.starts for c in self.children}
        return {
            "name": "chaos",
            "seed": self.plan.seed,
            "plan": {k: val for k, val in asdict(self.plan).items() if k != "probabilities"},
            "faults": dict(sorted(self.faults.items())),
            "process_starts": starts,
            "fault_timeline_s": [[t, kind] for t, kind, _planned in self.fault_log],
            "clock_steps": {
                "offsets_s": [[round(t - self.t0_wall, 3), off] for t, off in self.clock_log],
                "controller_log_lines": steps_logged,
                # the controller took a step as the time (after clock_hold_s), and then found its
                # clock in a business day before the one open (it numbers on in the open day)
                "taken": sum("taking it as the new time" in ln for ln in ctl_log),
                "day_behind_alarms": sum("health day: clock_behind" in ln for ln in ctl_log),
                "clock_hold_s": self.plan.clock_hold_s,
            },
            "stalls_s": [[round(a - self.t0_wall, 3), round(b - a, 3)] for a, b in self.stalls],
            **figures,
            "devices": {
                "commands": devices["ops"],
                "stats": devices["stats"],
                "latency_ms": devices["latency_ms"],
                "day_s": devices["elapsed_s"],
            },
            "backend_http": dict(sorted(self.backend_totals.items())),
            "log_errors": {c.name: count_errors(c.log) for c in self.children},
            # The finding of tests/chaos/test_replay_last_seq.py, as the hub's log shows it.
            "hub_replay_false_alarms": {
                "log_behind_the_hubs": sum("is behind the hub's" in ln for ln in log_lines(self.hub.log)),
                "dropping_events": sum("dropping events" in ln for ln in log_lines(self.hub.log)),
            },
            "violations": v.counts,
            "violations_total": v.total,
            "violation_examples": v.examples,
            "site_dir": str(self.root),
        }

    def _boundary_figures(self, checked: dict[str, Any]) -> dict[str, Any]:
        """When the boundary and the reset happened in the day's time, and the faults near them."""
        assert self.boundary is not None
        at_s = self.boundary.epoch - self.t0_wall  # the boundary in seconds since the start
        reset_s = None
        if checked.get("reset_at"):
            reset_s = datetime.fromisoformat(checked["reset_at"]).timestamp() - self.t0_wall
        near: list[dict[str, Any]] = [
            {"at_s": round(t - at_s, 3), "kind": kind, "placed": planned}
            for t, kind, planned in self.fault_log
            if abs(t - at_s) <= 10.0
        ]
        return {
            "day_starts": self.boundary.day_starts,
            "timezone": self.cfg.site.timezone,
            "at_s": round(at_s, 3),
            "reset_at_s": round(reset_s, 3) if reset_s is not None else None,
            "tickets_planned_before": self.boundary.before,
            # "across": the controller was down when the boundary came (the reset was decided by the
            # restarted controller, from the disk); "running": a running controller decided it.
            "controller_mode": self.boundary_mode,
            "controller_down_at_boundary": any(a <= self.boundary.epoch < b for a, b in self.controller_down),
            "faults_within_10s": near,
            "faults_within_10s_by_kind": dict(sorted(Counter(f["kind"] for f in near).items())),
            "controller_kills_before": sum(
                1 for f in near if f["kind"] == "controller_sigkill" and f["at_s"] < 0
            ),
            "controller_kills_after": sum(
                1 for f in near if f["kind"] == "controller_sigkill" and f["at_s"] >= 0
            ),
        }

    def kill_everything(self) -> None:
        """Last resort on error: SIGKILL whatever still runs."""
        self.stopping.set()
        if self.load is not None and self.load.poll() is None:
            self.load.kill()
            self.load.wait()
        for c in self.children:
            c.kill()
        with self.broker_lock:
            self.broker_should_run = False
            self.broker.kill()


def run_day(
    plan: ChaosPlan,
    root: Path | None = None,
    *,
    keep: bool = False,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run a chaos day in ``root`` (a new temporary folder by default) and return its summary.

    Every process it started is stopped, also on error; the summary's ``orphans`` lists any process
    still mentioning the folder afterwards (there must be none). A temporary folder is removed unless
    ``keep`` or a violation was found."""
    own = root is None
    root = Path(tempfile.mkdtemp(prefix="onestop-chaos-")) if root is None else root
    root.mkdir(parents=True, exist_ok=True)
    day = ChaosDay(plan, root, say=say)
    summary: dict[str, Any] | None = None
    try:
        summary = day.run()
    finally:
        day.kill_everything()
        orphans = processes_mentioning(str(root))
        if summary is not None:
            summary["orphans"] = orphans
            if orphans:
                summary["violations"]["orphan_processes"] = len(orphans)
                summary["violations_total"] += len(orphans)
        for pid, _cmd in orphans:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        if own and not keep and summary is not None and summary["violations_total"] == 0:
            shutil.rmtree(root, ignore_errors=True)
    return summary

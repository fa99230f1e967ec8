"""Simulated citizens and clerks: traffic through the site's real kiosk and counter accounts.

Used by ``onestop up --traffic`` so that a newcomer sees the queue move, and by benchmarks. Every
action is a real protocol command through the broker; nothing here touches the controller directly.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import paho.mqtt.client as paho

from onestop.cli import load_config
from onestop.config import DeviceConfig, SiteConfig
from onestop.credentials import read_secret
from onestop.device import CommandFailed, DeviceClient, NoReply
from onestop.process import wait_for_signal
from onestop.protocol import Topics

log = logging.getLogger("onestop.simulate")

#: Set by ``onestop up --traffic`` for itself and its children: the site then has a *twin* account
#: per kiosk, counter and rating terminal, which the simulator plays. The broker binds client ids to
#: accounts (one connection per account), so the simulator cannot share an account with the device
#: process that ``up`` runs for it (the kiosk window, the counter agent, the rating terminal).
TWINS_ENV = "ONESTOP_TRAFFIC_TWINS"
TWIN_PREFIX = "sim-"
_TWIN_ROLES = ("kiosk", "counter", "rating")


def twin_id(device_id: str) -> str:
    """The account the simulator plays for ``device_id`` when the site has twins."""
    return TWIN_PREFIX + device_id


def _simulated(dev: DeviceConfig) -> bool:
    # A web keypad is its clerk's browser (the hub plays that device): not simulated.
    return dev.role in _TWIN_ROLES and not (dev.keys is not None and dev.keys.backend == "web")


def with_twins(cfg: SiteConfig) -> SiteConfig:
    """``cfg`` plus a twin device (same role, counter and services, no hardware) per simulated
    device; a site that has them already is returned unchanged."""
    ids = {d.id for d in cfg.devices}
    twins = [
        d.model_copy(
            update={"id": twin_id(d.id), "printer": None, "keys": None, "display": None, "audio": None}
        )
        for d in cfg.devices
        if _simulated(d) and not d.id.startswith(TWIN_PREFIX) and twin_id(d.id) not in ids
    ]
    return cfg.model_copy(update={"devices": [*cfg.devices, *twins]}) if twins else cfg


def twins_wanted() -> bool:
    """True in the processes of ``onestop up --traffic``."""
    return bool(os.environ.get(TWINS_ENV))


def is_twin(cfg: SiteConfig, device_id: str) -> bool:
    """True for a twin account added by :func:`with_twins`."""
    real = device_id.removeprefix(TWIN_PREFIX)
    return real != device_id and twins_wanted() and any(d.id == real for d in cfg.devices)


@dataclass
class Traffic:
    """Knobs of the simulated day."""

    speed: float = 60.0  # simulated seconds per real second
    load: float = 0.9  # arrivals as a share of what the open counters can serve
    priority_share: float = 0.1
    no_show_share: float = 0.05
    transfer_share: float = 0.03
    rating_share: float = 0.85
    #: Citizens who come with a booking (when the site takes bookings: ``[bookings] enabled``). They
    #: arrive around their slot: :attr:`booked_arrival_min` minutes from its start (simulated).
    booked_share: float = 0.3
    booked_arrival_min: tuple[float, float] = (-30.0, 20.0)
    #: Citizens who come for a result (when the site has ``[dossiers] service``).
    pickup_share: float = 0.1
    #: A counter or rating terminal that a person used is left alone this long (simulated seconds)
    #: after their last action; a counter a person opened stays theirs until it is closed.
    leave_alone_s: float = 600.0
    #: ... and at least this long in real seconds: a person acts at a person's pace at any speed.
    leave_alone_min_real_s: float = 30.0
    #: A simulated citizen reaches the rating terminal this many simulated seconds after the end of
    #: the visit (a person tapping the terminal is faster, and the visit is theirs to rate).
    rating_delay_s: tuple[float, float] = (10.0, 40.0)


class Watch:
    """What the simulation sees of the site: each counter's state, and who acts on it.

    Fed with the ``events`` stream (each event caused by a command names the device behind it) and
    the retained ``state/counter/+``. Any device the simulation does not play is a person: the soft
    caller of a counter (the hub's web keypad), a rating terminal tapped by hand, a curl line. A
    counter a person opened (or acted on while it was open) is theirs until it is closed; any other
    action of a person keeps the simulation away for :attr:`quiet_s` real seconds after it."""

    def __init__(
        self, own: set[str], planned: dict[str, str | None], quiet_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.own = own  # the accounts the simulation plays (filled as it connects them)
        self.planned = planned  # counter -> the officer the simulation puts there
        self.quiet_s = quiet_s
        self.clock = clock
        self.lock = threading.Lock()
        self.states: dict[str, dict[str, Any]] = {}
        self.taken: set[str] = set()  # counters a person opened, until closed
        self.touched: dict[str, float] = {}  # counter -> when a person last acted on it
        self.rated: dict[str, float] = {}  # counter -> when a person last rated there
        self.seen_states = threading.Event()  # every counter's retained state has arrived

    # -- what the actors ask -----------------------------------------------------------------
    def counter_left_alone(self, counter: str) -> bool:
        """True while a person uses ``counter``: the simulated clerk sends nothing for it."""
        with self.lock:
            recent = self.clock() - self.touched.get(counter, float("-inf")) < self.quiet_s
            return counter in self.taken or recent

    def rater_left_alone(self, counter: str) -> bool:
        """True while a person uses the rating terminal of ``counter``."""
        with self.lock:
            return self.clock() - self.rated.get(counter, float("-inf")) < self.quiet_s

    def state(self, counter: str) -> dict[str, Any]:
        """The counter's latest state (``{}`` before any)."""
        with self.lock:
            return dict(self.states.get(counter) or {})

    def officer_at(self, officer: str) -> str | None:
        """The counter (open or paused) where ``officer`` works now."""
        with self.lock:
            for cid, st in self.states.items():
                if st.get("status") != "closed" and (st.get("officer") or {}).get("id") == officer:
                    return cid
        return None

    # -- what the broker tells -----------------------------------------------------------------
    def on_message(self, msg: paho.MQTTMessage) -> None:
        """A message of the watch's subscriptions."""
        try:
            data = json.loads(msg.payload)
        except ValueError:
            return
        if not isinstance(data, dict):
            return
        if msg.topic.rpartition("/")[0].endswith("/state/counter"):
            self.on_counter_state(data, retained=bool(msg.retain))
        else:
            self.on_event(data)

    def on_counter_state(self, st: dict[str, Any], *, retained: bool = False) -> None:
        cid = st.get("counter")
        if not isinstance(cid, str):
            return
        with self.lock:
            fresh = cid not in self.states
            self.states[cid] = st
            if fresh and retained and st.get("status") != "closed":
                # Open before the simulation started: its own from a former run has the officer
                # the simulation puts there; another officer is a person's (the soft caller).
                officer = (st.get("officer") or {}).get("id")
                if officer != self.planned.get(cid, officer):
                    self.taken.add(cid)
            if st.get("status") == "closed":
                self.taken.discard(cid)
            if self.planned and all(c in self.states for c in self.planned):
                self.seen_states.set()

    def on_event(self, e: dict[str, Any]) -> None:
        kind, data = e.get("type"), e.get("data")
        if not isinstance(kind, str) or not isinstance(data, dict):
            return
        device = (data.get("command") or {}).get("device")
        counter_st = data.get("counter") if kind.startswith("counter.") else None
        if isinstance(counter_st, dict):
            self.on_counter_state(counter_st)
        if device is None or device in self.own:
            return  # the clock's work, or the simulation's own
        now = self.clock()
        with self.lock:
            if kind == "rating.recorded":
                counter = (data.get("rating") or {}).get("counter")
                if isinstance(counter, str):
                    self.rated[counter] = now
                return
            if isinstance(counter_st, dict):
                counter = counter_st.get("counter")
            else:
                counter = data.get("from_counter") or (data.get("ticket") or {}).get("counter")
            if not isinstance(counter, str):
                return  # a ticket issued at a kiosk: nobody's counter
            self.touched[counter] = now
            status = counter_st.get("status") if isinstance(counter_st, dict) else "open"
            if status == "closed":
                self.taken.discard(counter)
            else:
                self.taken.add(counter)
        log.info("%s acted on counter %s (%s): the simulation leaves it alone", device, counter, kind)


@dataclass
class Desk:
    """A simulated clerk: the counter device it plays, its rating terminal and its officer."""

    counter: str
    client: DeviceClient
    rater: DeviceClient | None
    officer: str | None
    #: Set while the clerk stands aside for a person (it sends nothing for its counter then).
    aside: threading.Event = field(default_factory=threading.Event)


class Simulation:
    """Kiosk and counter actors, one thread each, until :meth:`stop`. They leave alone what a person
    uses meanwhile (see :class:`Watch`)."""

    def __init__(self, cfg: SiteConfig, traffic: Traffic, seed: int | None = None) -> None:
        self.cfg = cfg
        self.t = traffic
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.clients: dict[str, DeviceClient] = {}
        self.threads: list[threading.Thread] = []
        self.issued = 0
        self.called = 0
        self.booked = 0
        self.pickups = 0
        self._code_base = self.rng.randrange(10**4)  # booking codes of two runs in a day differ
        self.desks: dict[str, Desk] = {}
        quiet = max(traffic.leave_alone_s / traffic.speed, traffic.leave_alone_min_real_s)
        self.watch = Watch(set(), {}, quiet)

    def _client(self, device_id: str, role: str, *, watch: bool = False) -> DeviceClient:
        # The twin's account when the site has one: the device's own is its process's.
        ids = {d.id for d in self.cfg.devices}
        account = twin_id(device_id) if twin_id(device_id) in ids else device_id
        topics = Topics(self.cfg.site.id)
        self.watch.own.add(account)
        c = DeviceClient(
            self.cfg.site.id,
            account,
            role,
            host=self.cfg.broker.host,
            port=self.cfg.broker.port,
            password=read_secret(self.cfg, account, own=False),  # many accounts in one process
            extra_subscriptions=[(topics.events, 1), (topics.counter_state("+"), 1)] if watch else None,
            on_message=self.watch.on_message if watch else None,
        )
        c.start(wait=10)
        self.clients[account] = c
        return c

    def start(self) -> None:
        """Connect every simulated device and start the actors."""
        real = [d for d in self.cfg.devices if not is_twin(self.cfg, d.id)]
        kiosks = [d for d in real if d.role == "kiosk"]
        # A web keypad is its clerk's browser (the hub plays that device): not simulated here.
        counters = [d for d in real if d.role == "counter" and _simulated(d)]
        raters = {d.counter: d for d in real if d.role == "rating"}
        officers = [o.id for o in self.cfg.officers]
        for i, dev in enumerate(counters):
            assert dev.counter is not None
            # One officer, one counter (the engine refuses an officer open elsewhere).
            self.watch.planned[dev.counter] = officers[i] if i < len(officers) else None
        for i, dev in enumerate(counters):
            assert dev.counter is not None
            client = self._client(dev.id, "counter", watch=i == 0)
            if i == 0:  # what is open already, and by whom, before a clerk opens anything
                self.watch.seen_states.wait(5)
            rater = self._client(raters[dev.counter].id, "rating") if dev.counter in raters else None
            desk = Desk(dev.counter, client, rater, self.watch.planned[dev.counter])
            self.desks[dev.counter] = desk
            self._spawn(f"sim-{dev.id}", lambda d=desk: self._clerk(d))
        # Arrivals: enough to keep the open counters about `load` busy.
        capacity = sum(
            1 / self.cfg.service(c.services[0]).avg_service_min / 60 for c in self.cfg.counters
        )  # citizens per simulated second
        rate = max(capacity * self.t.load, 1e-3) / max(1, len(kiosks))
        for dev in kiosks:
            client = self._client(dev.id, "kiosk")
            offered = dev.services or [s.id for s in self.cfg.services]
            self._spawn(f"sim-{dev.id}", lambda c=client, s=offered: self._kiosk(c, s, rate))

    def _spawn(self, name: str, target: object) -> None:
        th = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        th.start()
        self.threads.append(th)

    def _wait(self, sim_seconds: float) -> bool:
        """Wait ``sim_seconds`` of simulated time; False once stopping."""
        return not self.stopping.wait(sim_seconds / self.t.speed)

    def citizen(self, services: list[str], now: datetime) -> dict[str, Any]:
        """The ``issue`` args of the next simulated citizen at a kiosk offering ``services``: a walk-in,
        a booked citizen arriving around the slot, or a result pickup with a dossier code."""
        args: dict[str, Any] = {"service": self.rng.choice(services)}
        returns = self.cfg.dossiers.service
        roll = self.rng.random()
        n = self.issued + 1
        if returns in services and roll < self.t.pickup_share:
            day = f"{now:%y%m%d}"
            return {"service": returns, "dossier": f"000.00.{n % 100:02d}.H23-{day}-{n % 10000:04d}"}
        if self.cfg.bookings.enabled and roll < self.t.pickup_share + self.t.booked_share:
            # The slot starts this many simulated minutes before the arrival (negative: after it);
            # on the site's clock a simulated minute lasts 60 / speed seconds.
            early_late = self.rng.uniform(*self.t.booked_arrival_min)
            start = now - timedelta(seconds=early_late * 60 / self.t.speed)
            start = start.replace(microsecond=0)
            args["booking"] = {
                "code": f"DL{now:%y%m%d}{(self._code_base + n) % 10**4:04d}",  # DL + 10 digits
                "slot_start": start.isoformat(),
                "slot_end": (start + timedelta(seconds=15 * 60 / self.t.speed)).isoformat(),
            }
            return args
        args["priority"] = self.rng.random() < self.t.priority_share
        return args

    def _kiosk(self, client: DeviceClient, services: list[str], rate: float) -> None:
        while self._wait(self.rng.expovariate(rate)):
            args = self.citizen(services, datetime.now().astimezone(self.cfg.site.tz))
            try:
                client.request("issue", args)
                self.issued += 1
                self.booked += "booking" in args
                self.pickups += "dossier" in args
            except CommandFailed as exc:
                if exc.code not in ("service_closed", "daily_limit", "booking_early", "booking_late"):
                    log.warning("%s: %s", client.device_id, exc)
            except NoReply as exc:
                log.warning("%s: %s", client.device_id, exc)

    def _ready(self, desk: Desk) -> bool:
        """Open (or resume) the desk's counter when it is not open; False when it could not."""
        st = self.watch.state(desk.counter)
        if st.get("status") == "open":
            return True
        if st.get("status") == "paused":
            desk.client.request("resume")
            return True
        officer = desk.officer
        if officer is not None and self.watch.officer_at(officer) not in (None, desk.counter):
            # A person moved the officer elsewhere: another who works nowhere, or none.
            free = [o.id for o in self.cfg.officers if self.watch.officer_at(o.id) is None]
            planned = set(self.watch.planned.values())
            officer = next((o for o in free if o not in planned), free[0] if free else None)
        try:
            desk.client.request("open", {"officer": officer} if officer else {})
        except CommandFailed as exc:
            log.info("%s: cannot open: %s", desk.client.device_id, exc)
            return False
        return True

    def _clerk(self, desk: Desk) -> None:
        client, cid, alone = desk.client, desk.client.device_id, self.watch.counter_left_alone
        while not self.stopping.is_set():
            if alone(desk.counter):
                desk.aside.set()  # a person works at this counter: hands off until they are done
                self._wait(30)
                continue
            desk.aside.clear()
            try:
                if not self._ready(desk):
                    self._wait(30)
                    continue
                ticket = client.request("call_next")["ticket"]
                if ticket is None:
                    self._wait(30)
                    continue
                self.called += 1
                svc = self.cfg.service(ticket["service"])
                if self.rng.random() < self.t.no_show_share:
                    self._wait(60)
                    if not alone(desk.counter):
                        client.request("skip")
                    continue
                if not self._wait(self.rng.expovariate(1 / (svc.avg_service_min * 60))):
                    return
                if alone(desk.counter):
                    continue  # the person who took the counter meanwhile decides about this visit
                if self.rng.random() < self.t.transfer_share:
                    other = self.rng.choice(self.cfg.services).id
                    client.request("transfer", {"service": other})
                    continue
                client.request("finish")
                if desk.rater is not None and self.rng.random() < self.t.rating_share:
                    self._rate(desk, desk.rater, ticket["id"])
            except CommandFailed as exc:
                log.info("%s: %s", cid, exc)
                self._wait(30)
            except NoReply as exc:
                log.warning("%s: %s", cid, exc)

    def _rate(self, desk: Desk, rater: DeviceClient, ticket: str) -> None:
        """The citizen of ``ticket`` rates the visit, unless a person uses the terminal."""
        if not self._wait(self.rng.uniform(*self.t.rating_delay_s)):
            return
        if self.watch.rater_left_alone(desk.counter):
            return
        score = self.rng.choices([3, 2, 1], weights=[75, 21, 4])[0]
        try:
            rater.request("rate", {"score": score, "ticket": ticket})
        except CommandFailed as exc:  # rated by hand already, or the next visit ended meanwhile
            log.info("%s: %s", rater.device_id, exc)

    def stop(self) -> None:
        """Stop the actors and disconnect."""
        self.stopping.set()
        for th in self.threads:
            th.join(5)
        for c in self.clients.values():
            c.stop()


def run_simulate(args: argparse.Namespace) -> int:
    """``onestop simulate``."""
    cfg = load_config(args)
    traffic = Traffic(speed=args.speed, booked_share=args.booked_share, pickup_share=args.pickup_share)
    sim = Simulation(cfg, traffic, seed=args.seed)
    sim.start()
    played = [d for d in cfg.devices if not is_twin(cfg, d.id)]
    log.info(
        "simulating %d kiosks and %d counters at %.0fx",
        sum(d.role == "kiosk" for d in played),
        sum(d.role == "counter" for d in played),
        args.speed,
    )
    if args.duration:
        sim.stopping.wait(args.duration)
    else:
        wait_for_signal()
    sim.stop()
    log.info(
        "issued %d tickets (%d booked, %d result pickups), called %d",
        sim.issued,
        sim.booked,
        sim.pickups,
        sim.called,
    )
    return 0

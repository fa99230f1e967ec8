"""Simulated citizens and clerks: traffic through the site's real kiosk and counter accounts.

Used by ``onestop up --traffic`` so that a newcomer sees the queue move, and by benchmarks. Every
action is a real protocol command through the broker; nothing here touches the controller directly.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import threading
from dataclasses import dataclass

from onestop.cli import load_config, wait_for_signal
from onestop.config import DeviceConfig, SiteConfig
from onestop.credentials import read_secret
from onestop.device import CommandFailed, DeviceClient, NoReply

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


class Simulation:
    """Kiosk and counter actors, one thread each, until :meth:`stop`."""

    def __init__(self, cfg: SiteConfig, traffic: Traffic, seed: int | None = None) -> None:
        self.cfg = cfg
        self.t = traffic
        self.rng = random.Random(seed)
        self.stopping = threading.Event()
        self.clients: dict[str, DeviceClient] = {}
        self.threads: list[threading.Thread] = []
        self.issued = 0
        self.called = 0

    def _client(self, device_id: str, role: str) -> DeviceClient:
        # The twin's account when the site has one: the device's own is its process's.
        ids = {d.id for d in self.cfg.devices}
        account = twin_id(device_id) if twin_id(device_id) in ids else device_id
        c = DeviceClient(
            self.cfg.site.id,
            account,
            role,
            host=self.cfg.broker.host,
            port=self.cfg.broker.port,
            password=read_secret(self.cfg, account, own=False),  # many accounts in one process
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
            client = self._client(dev.id, "counter")
            rater = self._client(raters[dev.counter].id, "rating") if dev.counter in raters else None
            # One officer, one counter (the engine refuses an officer open elsewhere).
            officer = officers[i] if i < len(officers) else None
            self._spawn(f"sim-{dev.id}", lambda c=client, r=rater, o=officer: self._clerk(c, r, o))
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

    def _kiosk(self, client: DeviceClient, services: list[str], rate: float) -> None:
        while self._wait(self.rng.expovariate(rate)):
            sid = self.rng.choice(services)
            try:
                client.request(
                    "issue", {"service": sid, "priority": self.rng.random() < self.t.priority_share}
                )
                self.issued += 1
            except CommandFailed as exc:
                if exc.code not in ("service_closed", "daily_limit"):
                    log.warning("%s: %s", client.device_id, exc)
            except NoReply as exc:
                log.warning("%s: %s", client.device_id, exc)

    def _clerk(self, client: DeviceClient, rater: DeviceClient | None, officer: str | None) -> None:
        cid = client.device_id
        try:
            client.request("open", {"officer": officer} if officer else {})
        except (CommandFailed, NoReply) as exc:
            log.warning("%s: cannot open: %s", cid, exc)
            return
        while not self.stopping.is_set():
            try:
                ticket = client.request("call_next")["ticket"]
                if ticket is None:
                    self._wait(30)
                    continue
                self.called += 1
                svc = self.cfg.service(ticket["service"])
                if self.rng.random() < self.t.no_show_share:
                    self._wait(60)
                    client.request("skip")
                    continue
                if not self._wait(self.rng.expovariate(1 / (svc.avg_service_min * 60))):
                    return
                if self.rng.random() < self.t.transfer_share:
                    other = self.rng.choice(self.cfg.services).id
                    client.request("transfer", {"service": other})
                    continue
                client.request("finish")
                if rater is not None and self.rng.random() < self.t.rating_share:
                    score = self.rng.choices([3, 2, 1], weights=[75, 21, 4])[0]
                    rater.request("rate", {"score": score})
            except CommandFailed as exc:
                log.info("%s: %s", cid, exc)
                self._wait(30)
            except NoReply as exc:
                log.warning("%s: %s", cid, exc)

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
    sim = Simulation(cfg, Traffic(speed=args.speed), seed=args.seed)
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
    log.info("issued %d tickets, called %d", sim.issued, sim.called)
    return 0

"""The province's chaos: three sites forwarding and bridging to a province tier while it is broken.

Real parts throughout: a private PostgreSQL, two ``onestop province serve`` node processes (with
onward forwarding and the live view), the province broker, each site's own Mosquitto bridged to it
over TLS, each site's real outbox forwarder (:class:`hub_api.forwarder.Forwarder`) fed with ticket
endings and ratings as the day goes, and the reference back end as the onward national system.

Faults, while the sites keep producing:

- the province's PostgreSQL crashes (``pg_ctl -m immediate``) and comes back;
- a node is SIGKILLed (mid-batch, and while it leads the onward forwarding or the live view) and
  started again;
- every site's link is down for a stretch (the province broker stopped): "an hour" compressed;
- the onward system is down for most of the day ("a day" compressed) and answers slowly after.

Checks afterwards (violations counted, 0 to pass): every record of every site's outbox is stored
at the province exactly once; every record reached the onward system exactly once and no key
carried different records; each site's broker kept accepting publishes during every fault (a
site never waits for the province); the live view shows every site's link up again with the state
it published last.

``python -m bench.chaos_day.province [--short]``; ``make test`` runs the short day
(tests/chaos/test_province_chaos.py).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from hub_api.forwarder import Backoff, Forwarder
from hub_api.store import HubStore
from onestop.broker import Broker, free_port
from onestop.config import BackendSection, SiteConfig
from onestop.credentials import ensure_credentials
from onestop.fake_backend import BackendServer, FakeBackend
from province import bridge, migrations
from province.bridge import ProvinceBroker
from province.cluster import PrivateCluster
from province.store import Store
from tests.utils.mqtt import TestClient, connect
from tests.utils.outbox import fill_outbox, outbox
from tests.utils.province import ProvinceNode
from tests.utils.site import make_site

ONWARD_TOKEN = "onward-chaos-tok-1"
TOKEN_ENV = "ONESTOP_CHAOS_PROVINCE_TOKEN"


@dataclass
class ProvincePlan:
    seed: int
    sites: int = 3
    rounds: int = 12  # production rounds; a fault happens between some of them
    per_round: int = 60  # queue records per site per round (plus ratings, a third of that)
    pg_crashes: int = 1
    node_kills: int = 2
    link_outages: int = 1
    link_down_s: float = 4.0  # "an hour", compressed
    onward_down_rounds: int = 8  # "a day", compressed: the onward system is down this many rounds

    @classmethod
    def short(cls, seed: int) -> ProvincePlan:
        return cls(seed=seed, rounds=8, per_round=30, link_down_s=2.0, onward_down_rounds=5)


@dataclass
class Site:
    cfg: SiteConfig
    broker: Broker
    hub_db: Path
    forwarder: Forwarder
    publisher: TestClient
    published_state: dict[str, Any] = field(default_factory=dict)
    publish_failures: int = 0


class ProvinceChaos:
    def __init__(self, plan: ProvincePlan, root: Path, say: Any = print) -> None:
        self.plan = plan
        self.root = root
        self.say = say
        self.rng = random.Random(plan.seed)
        self.faults: list[str] = []
        self.sites: list[Site] = []
        self.nodes: list[ProvinceNode] = []

    # -- set-up ------------------------------------------------------------------------------------
    def setup(self) -> None:
        self.pg = PrivateCluster()
        self.pg.start()
        self.dsn = self.pg.dsn()
        migrations.migrate(self.dsn)
        self.onward = BackendServer(FakeBackend(ONWARD_TOKEN)).start()
        self.broker_dir = bridge.init_broker_dir(self.root / "province-broker", "chaos", ["127.0.0.1"])
        self.pbroker = ProvinceBroker(self.broker_dir, tls_port=free_port(), persistence=True)
        self.pbroker.start()
        store = Store(self.dsn, max_size=1)
        store.open()
        self.viewer = store.add_token("chaos-viewer", "viewer")
        tokens = {}
        for k in range(self.plan.sites):
            sid = f"site-{k + 1}"
            tokens[sid] = store.add_site(sid, f"Trung tâm {k + 1}")
        store.close()
        assert self.pbroker._tls is not None
        for name in ("n1", "n2"):
            self.nodes.append(self._node(name).start())
        for k in range(self.plan.sites):
            sid = f"site-{k + 1}"
            sdir = self.root / sid
            sdir.mkdir(parents=True)
            cfg = make_site(sdir, {"site": {"id": sid}})
            bundle = bridge.add_site(self.broker_dir, sid, "127.0.0.1", self.pbroker._tls.port,
                                     cafile=sdir / "bundle" / "province-ca.crt")  # fmt: skip
            bundle.write(sdir / "bundle")
            broker = Broker(cfg, sdir / "broker", persistence=True, extra_conf=bundle.conf)
            broker.start()
            hub_db = sdir / "hub.db"
            HubStore(hub_db).close()
            node = self.nodes[k % 2]
            backend = BackendSection(
                url=f"{node.url}/api/v1", token_env=TOKEN_ENV, timeout_s=5, batch_size=50
            )
            fwd = Forwarder(sid, backend, hub_db, backoff=Backoff(0.05, 0.5), idle_poll_s=0.1,
                            environ={TOKEN_ENV: tokens[sid]})  # fmt: skip
            fwd.start()
            pub = connect(broker.host, broker.port, "controller", ensure_credentials(cfg)["controller"])
            self.sites.append(Site(cfg, broker, hub_db, fwd, pub))
        self.pbroker.reload_files()

    def _node(self, name: str) -> ProvinceNode:
        extra = ["--onward-url", self.onward.url, "--onward-batch", "40",
                 "--live-broker", f"127.0.0.1:{self.pbroker.port}",
                 "--live-password-file", str(self.broker_dir.service_password)]  # fmt: skip
        return ProvinceNode(self.dsn, name, extra=extra, env={"ONESTOP_ONWARD_TOKEN": ONWARD_TOKEN},
                            log_path=self.root / f"{name}.log")  # fmt: skip

    # -- the day -----------------------------------------------------------------------------------
    def produce(self, rnd: int) -> None:
        """One round at every site: tickets end (outbox grows), states change (published)."""
        for s in self.sites:
            fill_outbox(s.hub_db, queue=self.plan.per_round, ratings=self.plan.per_round // 3)
            root = bridge.site_prefix(s.cfg.site.id)
            state = {"service": "tuphap", "waiting": self.rng.randrange(0, 40), "seq": rnd}
            try:
                s.publisher.publish_acked(f"{root}/state/service/tuphap", state, retain=True, timeout=5)
                event = {"seq": rnd, "type": "round", "ts": "x", "data": {}}
                s.publisher.publish_acked(f"{root}/events", event, timeout=5)
                s.published_state = state
            except Exception:  # a site must keep accepting its own publishes whatever the province does
                s.publish_failures += 1

    def run(self) -> dict[str, Any]:
        p = self.plan
        rounds = list(range(1, p.rounds + 1))
        fault_rounds = self.rng.sample(
            rounds[1:-1], k=min(len(rounds) - 2, p.pg_crashes + p.node_kills + p.link_outages)
        )
        kinds = ["pg"] * p.pg_crashes + ["node"] * p.node_kills + ["link"] * p.link_outages
        self.rng.shuffle(kinds)
        schedule = dict(zip(fault_rounds, kinds, strict=False))
        self.onward.backend.control({"mode": "down"})
        self.faults.append("onward down")
        t0 = time.monotonic()
        for rnd in rounds:
            self.produce(rnd)
            if rnd == p.onward_down_rounds:
                self.onward.backend.control({"mode": "up"})
                self.onward.backend.control({"mode": "slow", "ms": 50})
                self.faults.append(f"round {rnd}: onward back (slow)")
            kind = schedule.get(rnd)
            if kind == "pg":
                self.pg.stop("immediate")
                self.produce(rnd * 100)  # the sites go on while the database is down
                self.pg.start()
                self.faults.append(f"round {rnd}: PostgreSQL crashed and restarted")
            elif kind == "node":
                victim = self.rng.choice(self.nodes)
                victim.kill()
                self.produce(rnd * 100)
                victim.start()
                self.faults.append(f"round {rnd}: node {victim.name} SIGKILLed and restarted")
            elif kind == "link":
                self.pbroker.stop()
                self.produce(rnd * 100)
                threading.Event().wait(p.link_down_s)
                self.pbroker.start()
                self.faults.append(f"round {rnd}: every site's link down {p.link_down_s:g} s")
        self.onward.backend.control({"mode": "up"})
        self.say(f"day done in {time.monotonic() - t0:.0f} s; settling")
        return self.settle()

    # -- afterwards --------------------------------------------------------------------------------
    def settle(self, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        drained = all(s.forwarder.wait_drained(max(1.0, deadline - time.monotonic())) for s in self.sites)
        expected = sum(len(outbox(s.hub_db, st)) for s in self.sites for st in ("queue-records", "ratings"))
        pause = threading.Event()
        while time.monotonic() < deadline and len(self.onward.backend.records()) < expected:
            pause.wait(0.2)
        live_ok = False
        while time.monotonic() < deadline:
            live_ok = self._live_matches()
            if live_ok:
                break
            pause.wait(0.3)
        return self.check(drained, live_ok)

    def _live_matches(self) -> bool:
        try:
            auth = {"Authorization": f"Bearer {self.viewer}"}
            r = httpx.get(f"{self.nodes[0].url}/api/v1/live", headers=auth, timeout=5)
        except httpx.HTTPError:
            return False
        if r.status_code != 200:
            return False
        by = {c["site"]: c for c in r.json()["centres"]}
        return all(
            by.get(s.cfg.site.id, {}).get("link") == "up"
            and by[s.cfg.site.id]["waiting"] == s.published_state.get("waiting")
            for s in self.sites
        )

    def check(self, drained: bool, live_ok: bool) -> dict[str, Any]:
        violations: dict[str, int] = {}
        with psycopg.connect(self.dsn) as conn:
            for s in self.sites:
                sid = s.cfg.site.id
                for stream, table in (("queue-records", "queue_records"), ("ratings", "ratings")):
                    want = sorted(r["ticket_id"] for _, r in outbox(s.hub_db, stream))
                    got = sorted(
                        r[0] for r in conn.execute(f"SELECT ticket_id FROM {table} WHERE site = %s", (sid,))
                    )
                    missing = len(set(want) - set(got))
                    doubled = len(got) - len(set(got))
                    extra = len(set(got) - set(want))
                    violations[f"{sid}/{stream}: missing at the province"] = missing
                    violations[f"{sid}/{stream}: doubled at the province"] = doubled
                    violations[f"{sid}/{stream}: unknown at the province"] = extra
            pending = conn.execute("SELECT count(*) FROM onward_outbox WHERE delivered_at IS NULL").fetchone()
        onward = self.onward.backend.records()
        keys = [(r["site"], r["stream"], r["record"]["ticket_id"]) for r in onward]
        expected = {(s.cfg.site.id, st, r["ticket_id"]) for s in self.sites
                    for st in ("queue-records", "ratings") for _, r in outbox(s.hub_db, st)}  # fmt: skip
        violations["onward: missing"] = len(expected - set(keys))
        violations["onward: doubled"] = len(keys) - len(set(keys))
        violations["onward: a key resent with other records"] = self.onward.backend.conflicts
        violations["onward: still pending at the province"] = pending[0] if pending else 0
        violations["sites: a local publish failed during a fault"] = sum(
            s.publish_failures for s in self.sites
        )
        violations["forwarders did not drain"] = 0 if drained else 1
        violations["live view did not recover"] = 0 if live_ok else 1
        total = sum(violations.values())
        return {
            "benchmark": "chaos_province",
            "seed": self.plan.seed,
            "faults": self.faults,
            "records": len(expected),
            "onward_batches": len(self.onward.backend.batches()),
            "violations": {k: v for k, v in violations.items() if v} or {},
            "violations_total": total,
            "checks": len(violations),
            "pass": total == 0,
        }

    def stop(self) -> None:
        for s in self.sites:
            s.forwarder.stop()
            s.publisher.close()
            s.broker.stop()
        for n in self.nodes:
            n.stop()
        self.pbroker.stop()
        self.onward.stop()
        self.pg.remove()


def run_province_day(plan: ProvincePlan, root: Path, say: Any = print) -> dict[str, Any]:
    day = ProvinceChaos(plan, root, say)
    try:
        day.setup()
        return day.run()
    finally:
        day.stop()


def main() -> None:  # pragma: no cover
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    plan = ProvincePlan.short(seed) if args.short else ProvincePlan(seed)
    with tempfile.TemporaryDirectory(prefix="onestop-chaos-province-") as d:
        print(json.dumps(run_province_day(plan, Path(d)), indent=2, ensure_ascii=False))


if __name__ == "__main__":  # pragma: no cover
    main()

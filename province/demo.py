"""``onestop province demo``: a whole province on one machine, with three simulated sites.

Every part is real and runs as a child of this process (``make up-province``):

- a private PostgreSQL (:class:`~province.cluster.PrivateCluster`) in the demo directory, migrated,
  with the three centres registered and a token for a province viewer and for one centre's manager;
- the province broker (:class:`~province.bridge.ProvinceBroker`, TLS for the sites' bridges);
- the reference back end (``onestop fake-backend``) as the onward national system;
- two province nodes (``onestop province serve``) forwarding onward, one of them keeping the live
  view (whichever holds the lock);
- three sites, each a whole ``onestop up --traffic`` site: its own broker bridged to the province
  broker, its hub forwarding to one of the nodes with its own token.

The supervision is ``onestop up``'s (:class:`~onestop.up.Child`, restarted when it dies); Ctrl-C
stops the sites first, then the nodes, the onward system, the province broker and PostgreSQL. The
logs are in ``{dir}/logs`` (and each site's own in ``{dir}/sites/{id}/var/logs``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onestop.broker import free_port
from onestop.errors import OnestopError
from onestop.toml_text import dumps as to_toml
from onestop.up import Child, _supervise

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ONWARD_TOKEN_ENV = "ONESTOP_ONWARD_TOKEN"
DSN_ENV = "ONESTOP_PROVINCE_DSN"
#: How long a site's ``onestop up`` may take to stop its own children before it is killed.
SITE_STOP_S = 60.0


@dataclass(frozen=True)
class DemoSite:
    """One centre of the demo province: an example site file with a few keys changed."""

    id: str
    template: str
    site: dict[str, str]


#: The provincial centre and two commune/ward-level centres of Tuyên Quang (1 July 2025 map).
SITES = (
    DemoSite("tq-tthc", "site.toml", {}),
    DemoSite("tq-xa-tan-trao", "commune.toml", {}),
    DemoSite(
        "tq-phuong-minh-xuan",
        "commune.toml",
        {
            "id": "tq-phuong-minh-xuan",
            "name": "Trung tâm Phục vụ hành chính công phường Minh Xuân",
            "agency": "UBND PHƯỜNG MINH XUÂN",
            "address": "Trụ sở UBND phường Minh Xuân, tỉnh Tuyên Quang",
        },
    ),
)


def default_dir() -> Path:
    """``./var-province``, unless the PostgreSQL account could not reach it (root, in a directory
    private to root): then a directory under /var/tmp."""
    here = Path("var-province").resolve()
    if os.geteuid() != 0 or _server_can_reach(here):
        return here
    return Path("/var/tmp/onestop-province-demo")


def _server_can_reach(path: Path) -> bool:
    """Whether the ``postgres`` account can walk down to ``path`` (its nearest existing part)."""
    from province.cluster import SERVER_ACCOUNT

    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    cmd = ["runuser", "-u", SERVER_ACCOUNT, "--", "test", "-x", str(probe)]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def site_toml(
    spec: DemoSite, *, broker_port: int, hub_port: int, backend_url: str, token_env: str
) -> dict[str, Any]:
    """The site file of one demo centre: the example's, on loopback ports of its own, forwarding
    to the province, its data next to the file."""
    data = tomllib.loads((EXAMPLES / spec.template).read_text(encoding="utf-8"))
    data["site"] = {**data["site"], **spec.site}
    data["broker"] = {**data.get("broker", {}), "host": "127.0.0.1", "port": broker_port}
    hub = {k: v for k, v in data.get("hub", {}).items() if k not in ("tls_listen",)}
    data["hub"] = {**hub, "listen": f"127.0.0.1:{hub_port}", "public_url": f"http://127.0.0.1:{hub_port}"}
    data["storage"] = {**data.get("storage", {}), "dir": "var"}
    data["backend"] = {"url": backend_url, "token_env": token_env}
    return data


def _token_env(site: str) -> str:
    return "ONESTOP_TOKEN_" + site.upper().replace("-", "_")


def run_demo(args: argparse.Namespace) -> int:
    """Run the province until Ctrl-C (SIGINT or SIGTERM); whatever started is stopped again."""
    from province.cluster import PostgresNotFound, server_bindir

    try:
        server_bindir()
    except PostgresNotFound:
        print(
            "onestop province demo: PostgreSQL is not installed: `make up-province` installs it "
            "(scripts/bootstrap.sh --province), or `sudo apt install postgresql`",
            file=sys.stderr,
        )
        return 2
    stop = threading.Event()
    before = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    root = Path(args.dir).resolve() if args.dir else default_dir()
    try:
        return Demo(root, args, stop).run()
    except OnestopError as exc:
        print(f"onestop province demo: {exc}", file=sys.stderr)
        return 2
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


class Demo:
    def __init__(self, root: Path, args: argparse.Namespace, stop: threading.Event) -> None:
        self.root = root
        self.args = args
        self.stop = stop
        self.sites = SITES[: args.sites]
        self.logs = root / "logs"
        self.node_of: dict[str, str] = {}  # site id -> the node its hub forwards to
        self.taken: set[int] = set()  # the ports picked so far
        self.children: list[Child] = []

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # One demo per directory: a second one would run a second controller on each site's database.
        # The lock goes with this process, however it ends.
        self._lock = open(self.root / "demo.lock", "a+")  # noqa: SIM115 (held for the process's life)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OnestopError(
                f"another demo runs in {self.root}: stop it first (Ctrl-C in its terminal)"
            ) from None
        if os.geteuid() == 0:
            # The cluster's directory inside belongs to the postgres account, which must walk through.
            self.root.chmod(0o755)
            if not _server_can_reach(self.root):
                raise OnestopError(
                    f"the postgres account cannot reach {self.root} (a parent directory is private to "
                    "root): give --dir under /tmp or /var/tmp"
                )

    def run(self) -> int:
        from province import bridge, migrations
        from province.bridge import ProvinceBroker
        from province.cluster import ClusterError, PrivateCluster
        from province.store import Store

        self._prepare_root()
        (pg_port,) = _free_ports(1, self.taken)
        cluster = PrivateCluster(self.root / "pg", port=pg_port)
        pbroker: ProvinceBroker | None = None
        try:
            print(f"starting PostgreSQL in {cluster.directory} …", flush=True)
            with contextlib.suppress(ClusterError):  # a server left behind by a demo that was killed
                cluster.stop("fast")
            cluster.start()
            if self.stop.is_set():  # Ctrl-C while PostgreSQL started: stop here
                return 0
            dsn = cluster.dsn()
            migrations.migrate(dsn)
            store = Store(dsn, node="demo", max_size=1)
            store.open()
            try:
                tokens = {s.id: store.add_site(s.id, self._name(s)) for s in self.sites}
                viewer = store.add_token("demo-viewer", "viewer")
                centre = self.sites[-1].id
                manager = store.add_token(f"demo-manager-{centre}", "centre", centre)
            finally:
                store.close()
            broker_dir = bridge.init_broker_dir(
                self.root / "province-broker", "tq", ["127.0.0.1", "localhost"]
            )
            (tls_port,) = _free_ports(1, self.taken)
            bundles = {}
            for s in self.sites:
                out = self.root / "sites" / s.id / "bridge"
                bundle = bridge.add_site(
                    broker_dir, s.id, "127.0.0.1", tls_port, cafile=out / "province-ca.crt"
                )
                bundle.write(out)
                bundles[s.id] = out / "onestop-bridge.conf"
            if self.stop.is_set():
                return 0
            pbroker = ProvinceBroker(broker_dir, tls_port=tls_port, persistence=True, own_session=True)
            pbroker.start()
            self.children = self._plan(dsn, pbroker.port, broker_dir.service_password, tokens, bundles)
            province_side = [c for c in self.children if c.name not in self.node_of]
            sites = [c for c in self.children if c.name in self.node_of]
            self._start(province_side)
            if not self.stop.is_set():
                # The sites once the nodes answer: their hubs' first batches then go through at once
                # rather than after a back-off.
                self._wait_nodes()
                self._start(sites)
            if not self.stop.is_set():
                self._tour(cluster, pbroker, tls_port, viewer, centre, manager)
            _supervise(self.children, self.stop)
        finally:
            print("\nstopping …", flush=True)
            self._stop_children()
            if pbroker is not None:
                pbroker.stop()
            try:
                cluster.stop()
            except ClusterError as exc:
                print(f"!! {exc}", file=sys.stderr)
            print("stopped.", flush=True)
        return 0

    def _start(self, children: list[Child]) -> None:
        for c in children:
            if self.stop.is_set():
                return
            c.start()

    def _name(self, spec: DemoSite) -> str:
        data = tomllib.loads((EXAMPLES / spec.template).read_text(encoding="utf-8"))
        return str(spec.site.get("name") or data["site"]["name"])

    def _plan(
        self, dsn: str, live_port: int, password_file: Path, tokens: dict[str, str], bundles: dict[str, Path]
    ) -> list[Child]:
        py = [sys.executable, "-m", "onestop"]
        unbuffered = {"PYTHONUNBUFFERED": "1"}
        onward_token = os.environ.get(ONWARD_TOKEN_ENV) or _random_token()
        (onward_port,) = _free_ports(1, self.taken)
        self.onward_url = f"http://127.0.0.1:{onward_port}/national"
        onward = Child(
            "onward",
            [*py, "fake-backend", f"--listen=127.0.0.1:{onward_port}", "--token-env", ONWARD_TOKEN_ENV,
             "--db", str(self.root / "onward" / "national.db")],
            self.logs / "onward.log", url=self.onward_url, env={ONWARD_TOKEN_ENV: onward_token, **unbuffered},
        )  # fmt: skip
        (self.root / "onward").mkdir(exist_ok=True)
        nodes = []
        for k in (1, 2):
            (port,) = _free_ports(1, self.taken)
            argv = [*py, "province", "serve", "--listen", f"127.0.0.1:{port}", "--node", f"node-{k}",
                    "--onward-url", self.onward_url, "--onward-token-env", ONWARD_TOKEN_ENV,
                    "--live-broker", f"127.0.0.1:{live_port}",
                    "--live-password-file", str(password_file)]  # fmt: skip
            env = {DSN_ENV: dsn, ONWARD_TOKEN_ENV: onward_token, **unbuffered}
            nodes.append(
                Child(f"node-{k}", argv, self.logs / f"node-{k}.log", url=f"http://127.0.0.1:{port}", env=env)
            )
        sites = []
        for i, s in enumerate(self.sites):
            broker_port, hub_port = _free_ports(2, self.taken)
            node = nodes[i % len(nodes)]
            env_name = _token_env(s.id)
            data = site_toml(s, broker_port=broker_port, hub_port=hub_port, backend_url=f"{node.url}/api/v1",
                             token_env=env_name)  # fmt: skip
            path = self.root / "sites" / s.id / "site.toml"
            path.write_text(
                f"# Written by `onestop province demo` from examples/{s.template} at each start.\n"
                + to_toml(data),
                encoding="utf-8",
            )
            argv = [*py, "up", "--config", str(path), "--traffic", "--quiet", "--speed", str(self.args.speed),
                    "--broker-conf-extra", str(bundles[s.id]), "--no-reference-backend"]  # fmt: skip
            sites.append(
                Child(
                    s.id,
                    argv,
                    self.logs / f"{s.id}.log",
                    url=f"http://127.0.0.1:{hub_port}",
                    env={env_name: tokens[s.id], **unbuffered},
                )
            )
            self.node_of[s.id] = node.name
        return [onward, *nodes, *sites]

    def _wait_nodes(self, timeout: float = 60.0) -> None:
        """Until both nodes answer /healthz (or ``timeout``): the tour's links then work."""
        import httpx

        logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per probe in the tour
        deadline = time.monotonic() + timeout
        for c in self.children:
            if not c.name.startswith("node-"):
                continue
            while time.monotonic() < deadline and not self.stop.is_set():
                try:
                    if httpx.get(c.url + "/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                self.stop.wait(0.2)

    def _tour(
        self, cluster: Any, pbroker: Any, tls_port: int, viewer: str, centre: str, manager: str
    ) -> None:
        node = next(c for c in self.children if c.name == "node-1")
        auth = f"-H 'Authorization: Bearer {viewer}'"
        print()
        print(f"  onestop demo province — {len(self.sites)} centres of tỉnh Tuyên Quang, every part real")
        print(f"  database    {cluster.dsn()}   (psql; log {cluster.directory / 'server.log'})")
        print(f"  broker      mqtt://127.0.0.1:{pbroker.port} (province service), mqtts://127.0.0.1:{tls_port}"
              f" (sites' bridges)   pid {pbroker.pid}, log {pbroker.log_path}")  # fmt: skip
        for c in self.children:
            assert c.proc is not None
            if c.name == "onward":
                print(f"  onward      {c.url}   (reference national system: "
                      f"{c.url.rsplit('/', 1)[0]}/_stats)   pid {c.proc.pid}, log {c.log_path}")  # fmt: skip
            elif c.name.startswith("node-"):
                print(
                    f"  {c.name:<11} {c.url}/ (dashboard)   {c.url}/docs   pid {c.proc.pid}, log {c.log_path}"
                )
        print(f"  live        curl -s {auth} {node.url}/api/v1/live")
        print(f"  viewer      {viewer}   (province viewer: every centre)")
        print(f"  manager     {manager}   (centre manager: {centre} only)")
        for c in self.children:
            if c.name in self.node_of:
                assert c.proc is not None
                own = self.root / "sites" / c.name / "var" / "logs"
                print(f"  centre      {c.name:<19} hub {c.url}/   → {self.node_of[c.name]}   "
                      f"pid {c.proc.pid}, log {c.log_path} (its own: {own})")  # fmt: skip
        print(f"  logs        {self.logs}")
        print(f"  traffic     simulated citizens and clerks at {self.args.speed:g}x at every centre")
        print("  Ctrl-C stops everything.\n", flush=True)

    def _stop_children(self) -> None:
        """The sites first (all at once: each stops its own children), then the nodes, then onward."""
        groups = [
            [c for c in self.children if c.name not in ("onward",) and not c.name.startswith("node-")],
            [c for c in self.children if c.name.startswith("node-")],
            [c for c in self.children if c.name == "onward"],
        ]
        for group in groups:
            for c in group:
                c.terminate()
            for c in group:
                c.stop(SITE_STOP_S)


def _free_ports(n: int, taken: set[int]) -> list[int]:
    out: list[int] = []
    while len(out) < n:
        p = free_port()
        if p not in taken:
            taken.add(p)
            out.append(p)
    return out


def _random_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)

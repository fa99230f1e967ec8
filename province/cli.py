"""``onestop province``: run a province node, migrate its database, register sites.

Every subcommand takes the database as ``--dsn`` (a libpq connection string) or, so that passwords
stay out of process listings, from ``$ONESTOP_PROVINCE_DSN``.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from typing import Any

DSN_ENV = "ONESTOP_PROVINCE_DSN"
log = logging.getLogger("onestop.province")


def register(sub: Any) -> None:
    """Add ``province`` and its subcommands to the ``onestop`` parser."""
    p = sub.add_parser("province", help="the province tier: every centre of a province (PostgreSQL)")
    psub = p.add_subparsers(dest="province_cmd", required=True, metavar="COMMAND")

    def dsn_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--dsn", default=None, help=f"PostgreSQL connection string (default: ${DSN_ENV})")
        q.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    q = psub.add_parser("serve", help="run a province node (any number may serve one database)")
    dsn_arg(q)
    q.add_argument("--listen", default="127.0.0.1:8090", help="HOST:PORT to serve on (default %(default)s)")
    q.add_argument("--node", default=None, help="this node's name in logs and records (default: host-pid)")
    q.add_argument("--migrate", action="store_true", help="apply missing schema migrations first")
    q.add_argument("--onward-url", default=None, help="forward every record onward to this §4 back end")
    q.add_argument("--onward-token-env", default="ONESTOP_ONWARD_TOKEN", help="its token's variable")
    q.add_argument(
        "--onward-adapter", default="default", help="'default' (§4 over HTTP) or package.module:factory"
    )
    q.add_argument("--onward-batch", type=int, default=200, help="records per onward batch")
    q.add_argument("--live-broker", default=None, metavar="HOST:PORT", help="the province broker (live view)")
    q.add_argument("--live-password-file", default=None, help="the province account's password file")
    q.add_argument(
        "--push-subject", default="mailto:onestop@localhost",
        help="the VAPID contact push services may write to (mailto: or https:)",
    )  # fmt: skip
    q.add_argument(
        "--push-allow", action="append", default=[], metavar="HOST|URL-PREFIX",
        help="also accept push subscriptions to this host (https) or URL prefix (repeat)",
    )  # fmt: skip
    q.set_defaults(run=_serve)

    q = psub.add_parser(
        "migrate", help="apply missing schema migrations (safe to run from many nodes at once)"
    )
    dsn_arg(q)
    q.set_defaults(run=_migrate)

    q = psub.add_parser("import", help="import bookings or dossiers' status (JSON lists; upserts)")
    dsn_arg(q)
    q.add_argument("--bookings", default=None, help="a JSON file: [{code, site, service, slot_start, ...}]")
    q.add_argument("--dossiers", default=None, help="a JSON file: [{code, site, title, status, ...}]")
    q.set_defaults(run=_import)

    q = psub.add_parser("bridge", help="the province broker's files, and each site's bridge to it")
    q.add_argument("action", choices=["init", "add", "remove", "list"])
    q.add_argument(
        "--dir", required=True, help="the province broker's directory (e.g. /etc/onestop-province/broker)"
    )
    q.add_argument("--province", default="province", help="init: the province's id, in the CA's name")
    q.add_argument(
        "--host", action="append", default=[],
        help="init: a name or address sites reach the broker at (repeat); add: the one this site uses",
    )  # fmt: skip
    q.add_argument("--port", type=int, default=8883, help="add: the broker's TLS port (default 8883)")
    q.add_argument("--site", default=None, help="add/remove: the site id")
    q.add_argument(
        "--out", default=None, help="add: where to write the site's bundle (default ./bridge-SITE)"
    )
    q.set_defaults(run=_bridge)

    q = psub.add_parser("token", help="a token for a person: viewer, manager, admin, or centre (one site)")
    dsn_arg(q)
    q.add_argument("--name", required=True)
    q.add_argument("--role", required=True, choices=["viewer", "manager", "admin", "centre"])
    q.add_argument("--site", default=None, help="for --role centre: the centre's site id")
    q.set_defaults(run=_token)

    q = psub.add_parser(
        "demo", help="a demo province on this machine: PostgreSQL, two nodes, three simulated sites"
    )
    q.add_argument(
        "--dir", default=None,
        help="where its data and logs go (default ./var-province, or /var/tmp/onestop-province-demo "
        "when the postgres account cannot reach it)",
    )  # fmt: skip
    q.add_argument("--sites", type=int, default=3, choices=[1, 2, 3], help="how many centres (default 3)")
    q.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    q.set_defaults(run=_demo)

    q = psub.add_parser("site", help="register a site, or give it a new token (printed once)")
    dsn_arg(q)
    q.add_argument("action", choices=["add", "list", "notify"])
    q.add_argument("--id", dest="site_id", help="the site's id, as in its site.toml")
    q.add_argument("--name", default=None, help="the centre's name")
    q.add_argument(
        "--near", type=int, default=None, help="notify: 'your turn is near' at this many ahead (3)"
    )
    q.add_argument(
        "--gateway-url", default=None, help="notify: the centre's SMS/Zalo gateway ('' removes it)"
    )
    q.add_argument("--gateway-token-file", default=None, help="notify: a file holding the gateway's token")
    q.add_argument("--gateway-channel", default=None, choices=["sms", "zalo"], help="notify: sms or zalo")
    q.set_defaults(run=_site)


def _demo(args: argparse.Namespace) -> int:
    from province.demo import run_demo

    return run_demo(args)


def _dsn(args: argparse.Namespace) -> str:
    dsn = args.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        raise SystemExit(f"onestop province: no database: give --dsn or set ${DSN_ENV}")
    return str(dsn)


def _migrate(args: argparse.Namespace) -> int:
    from province import migrations

    done = migrations.migrate(_dsn(args))
    print(f"applied {len(done)} migration(s): {done}" if done else "schema up to date")
    return 0


def _import(args: argparse.Namespace) -> int:
    import json

    import psycopg

    from onestop.fake_backend import BadRequest
    from province import lookups

    if not args.bookings and not args.dossiers:
        raise SystemExit("onestop province import: give --bookings FILE and/or --dossiers FILE")
    with psycopg.connect(_dsn(args)) as conn:
        for path, load in (
            (args.bookings, lookups.import_bookings),
            (args.dossiers, lookups.import_dossiers),
        ):
            if not path:
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    items = json.load(f)
                if not isinstance(items, list):
                    raise BadRequest("expected a JSON list")
                n = load(conn, items)
            except (
                OSError,
                ValueError,
                BadRequest,
                psycopg.errors.DataError,
                psycopg.errors.IntegrityError,
            ) as exc:
                print(f"onestop province import: {path}: {exc}", file=sys.stderr)
                return 2
            print(f"{path}: {n} written")
    return 0


def _bridge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from province import bridge

    d = bridge.ProvinceBrokerDir(Path(args.dir))
    if args.action == "init":
        if not args.host:
            raise SystemExit(
                "onestop province bridge init: give --host (the name sites connect to), once or more"
            )
        bridge.init_broker_dir(d.path, args.province, args.host)
        print(f"{d.path}: CA, broker certificate for {', '.join(args.host)}, accounts and ACL written")
        print(f"# the province service's broker password is in {d.service_password}", file=sys.stderr)
        return 0
    if args.action == "list":
        for site in d.sites():
            print(site)
        return 0
    if not args.site:
        raise SystemExit(f"onestop province bridge {args.action}: --site is required")
    if args.action == "remove":
        if not bridge.remove_site(d, args.site):
            print(f"onestop province bridge remove: no account for site {args.site!r}", file=sys.stderr)
            return 2
        print(f"site {args.site} removed: reload the province broker (systemctl reload mosquitto)")
        return 0
    if len(args.host) != 1:
        raise SystemExit("onestop province bridge add: give exactly one --host (what the site connects to)")
    out = Path(args.out or f"bridge-{args.site}")
    files = bridge.add_site(d, args.site, args.host[0], args.port).write(out)
    print("\n".join(str(f) for f in files))
    print(
        "# copy both files to the site's hub: /etc/mosquitto/conf.d/ and /etc/onestop/; then reload the "
        "province broker (it has a new account) and restart the site's mosquitto",
        file=sys.stderr,
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    from province.store import Store

    if (args.role == "centre") != bool(args.site):
        raise SystemExit("onestop province token: --site goes with --role centre, and only with it")
    store = Store(_dsn(args), node="cli", max_size=1)
    store.open()
    try:
        print(store.add_token(args.name, args.role, args.site))
    finally:
        store.close()
    return 0


def _site(args: argparse.Namespace) -> int:
    from province.store import Store

    store = Store(_dsn(args), node="cli", max_size=1)
    store.open()
    try:
        if args.action == "list":
            for s in store.sites():
                print(f"{s['id']}\t{s['name']}")
            return 0
        if not args.site_id:
            raise SystemExit(f"onestop province site {args.action}: --id is required")
        if args.action == "notify":
            return _site_notify(store, args)
        token = store.add_site(args.site_id, args.name or args.site_id)
        print(token)
        print(
            f"# the site's hub forwards with this token: put it in the site's {args.site_id} environment "
            "(backend.token_env) and set backend.url to this province's https://HOST/api/v1",
            file=sys.stderr,
        )
        return 0
    finally:
        store.close()


def _site_notify(store: Any, args: argparse.Namespace) -> int:
    """Per site: the 'near' threshold and the SMS/Zalo gateway (docs/province.md "Citizens on 4G")."""
    token = None
    if args.gateway_token_file:
        with open(args.gateway_token_file, encoding="utf-8") as f:
            token = f.read().strip() or None
    url = args.gateway_url
    if url and not url.startswith(("https://", "http://")):
        raise SystemExit("onestop province site notify: --gateway-url must be an http(s):// URL")
    if args.near is not None and not 0 <= args.near <= 50:
        raise SystemExit("onestop province site notify: --near must be between 0 and 50")
    with store.pool.connection() as conn:
        if conn.execute("SELECT 1 FROM sites WHERE id = %s", (args.site_id,)).fetchone() is None:
            print(f"onestop province site notify: no site {args.site_id!r}", file=sys.stderr)
            return 2
        conn.execute("INSERT INTO site_notify (site) VALUES (%s) ON CONFLICT DO NOTHING", (args.site_id,))
        if args.near is not None:
            conn.execute("UPDATE site_notify SET near = %s WHERE site = %s", (args.near, args.site_id))
        if url is not None:
            conn.execute(
                "UPDATE site_notify SET gateway_url = %s, gateway_token = %s WHERE site = %s",
                (url or None, token if url else None, args.site_id),
            )
        if args.gateway_channel:
            conn.execute(
                "UPDATE site_notify SET gateway_channel = %s WHERE site = %s",
                (args.gateway_channel, args.site_id),
            )
        row = conn.execute(
            "SELECT near, gateway_url, gateway_channel FROM site_notify WHERE site = %s", (args.site_id,)
        ).fetchone()
    assert row is not None
    print(f"{args.site_id}: near {row[0]}, gateway {row[1] or 'none'}" + (f" ({row[2]})" if row[1] else ""))
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from onestop.fake_backend import parse_listen
    from province.app import create_app
    from province.migrations import SchemaNotReady, SchemaTooNew
    from province.store import Store

    node = args.node or f"{socket.gethostname()}-{os.getpid()}"
    store = Store(_dsn(args), node=node)
    try:
        version = store.open(migrate=args.migrate)
    except (SchemaTooNew, SchemaNotReady) as exc:
        print(f"onestop province: {exc}", file=sys.stderr)
        return 2
    host, port = parse_listen(args.listen)
    onward = None
    if args.onward_url:
        from onestop.config import BackendSection
        from province.onward import OnwardForwarder

        backend = BackendSection(
            url=args.onward_url, token_env=args.onward_token_env, adapter=args.onward_adapter,
            batch_size=args.onward_batch,
        )  # fmt: skip
        onward = OnwardForwarder(store.dsn, backend).start()
    live = None
    feed = None
    if args.live_broker:
        from onestop.mqtt import MqttSettings
        from province.bridge import SERVICE_ACCOUNT
        from province.live import LiveView

        if not args.live_password_file:
            raise SystemExit("onestop province serve: --live-broker needs --live-password-file")
        with open(args.live_password_file, encoding="utf-8") as f:
            password = f.read().strip()
        b_host, b_port = parse_listen(args.live_broker)
        settings = MqttSettings(b_host, b_port, SERVICE_ACCOUNT, password, client_id=SERVICE_ACCOUNT,
                                session_expiry_s=0)  # fmt: skip
        live = LiveView(store.dsn, settings).start()
        from province.citizens import TicketFeed

        feed_settings = MqttSettings(b_host, b_port, SERVICE_ACCOUNT, password)
        feed = TicketFeed(store.dsn, feed_settings, subject=args.push_subject).start()
    import threading

    stop_maintenance = threading.Event()

    def maintenance() -> None:
        while not stop_maintenance.wait(3600):
            try:
                store.maintain()
            except Exception:  # the next hour tries again; a node must not die of it
                log.exception("partition maintenance failed")

    threading.Thread(target=maintenance, name="province-maintenance", daemon=True).start()
    log.info("province node %s on %s:%d, schema version %d", node, host, port, version)
    from province.citizens import PUSH_HOSTS

    app = create_app(store, push_hosts=(*PUSH_HOSTS, *args.push_allow))
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        if onward is not None:
            onward.stop()
        if live is not None:
            live.stop()
        if feed is not None:
            feed.stop()
        stop_maintenance.set()
        store.close()
    return 0

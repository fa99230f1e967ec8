"""The ``onestop`` command: one subcommand per process or technician tool."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from onestop import __version__, sdnotify
from onestop.config import ALL_DAYS, SiteConfig, load
from onestop.errors import ConfigError, OnestopError
from onestop.process import wait_for_signal

log = logging.getLogger("onestop")

Runner = Callable[[argparse.Namespace], int]


def common(parser: argparse.ArgumentParser) -> None:
    """Options every process takes."""
    parser.add_argument("--config", default="site.toml", help="the site file (default: site.toml)")
    parser.add_argument(
        "--broker", metavar="HOST:PORT", help="override [broker] host and port of the site file"
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def load_config(args: argparse.Namespace) -> SiteConfig:
    """Load the site file named on the command line, applying ``--broker``."""
    cfg = load(args.config)
    from onestop.simulate import twins_wanted, with_twins

    if twins_wanted():  # a process of `onestop up --traffic`: the simulator's accounts exist too
        cfg = with_twins(cfg)
    if getattr(args, "broker", None):
        host, _, port = args.broker.rpartition(":")
        if not host or not port.isdigit():
            raise OnestopError(f"--broker: expected HOST:PORT, got {args.broker!r}")
        cfg = cfg.model_copy(
            update={"broker": cfg.broker.model_copy(update={"host": host, "port": int(port)})}
        )
    return cfg


def _positive_float(text: str) -> float:
    """An argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _controller(args: argparse.Namespace) -> int:
    from onestop.credentials import read_secret
    from onestop.mqtt import BrokerUnreachable
    from queue_controller.service import Controller

    cfg = load_config(args)
    if args.action == "accept-rewind":
        return _accept_rewind(cfg, args)
    if args.ignore_hours:
        log.warning("opening hours are ignored (--ignore-hours): every service issues tickets at any time")
        cfg = cfg.model_copy(
            update={
                "services": [s.model_copy(update={"hours": [], "days": list(ALL_DAYS)}) for s in cfg.services]
            }
        )
    if args.limits_scale != 1.0:
        log.warning("device rate limits are %gx those of site.toml (--limits-scale)", args.limits_scale)
        cfg = cfg.model_copy(update={"limits": cfg.limits.scaled(args.limits_scale)})
    if args.time_scale != 1.0:
        log.warning(
            "waits and services count %g s per second (--time-scale): a simulated day", args.time_scale
        )
    ctl = Controller(
        cfg,
        read_secret(cfg, "controller"),
        db_path=args.db,
        accept_rewind=args.accept_rewind,
        time_scale=args.time_scale,
    )
    try:
        ctl.start(connect_timeout=10)
    except BrokerUnreachable as exc:
        if "password" in str(exc) or "authorized" in str(exc):
            raise
        log.warning("%s; still trying", exc)
    log.info("controller of %s running (Ctrl-C stops)", cfg.site.id)
    sdnotify.ready(f"controller of {cfg.site.id}")  # its worker loop sends the watchdog pings
    wait_for_signal()
    ctl.stop()
    return 0


def _accept_rewind(cfg: SiteConfig, args: argparse.Namespace) -> int:
    """Record the operator's decision to serve from a rewound store (docs/operations.md)."""
    from datetime import UTC, datetime
    from pathlib import Path

    from onestop.protocol import iso
    from queue_controller.store import Store

    path = Path(args.db) if args.db else cfg.data_dir / "controller.db"
    if not path.exists():
        raise OnestopError(f"accept-rewind: {path} does not exist")
    store = Store(path)
    try:
        req = store.request_accept(iso(datetime.now(UTC)))
    finally:
        store.close()
    print(
        f"recorded in {path} (store at seq {req['store_seq']}): the controller continues after the seq "
        "and the numbers the site saw, within a second if it is running, else at its next start"
    )
    return 0


def _hub(args: argparse.Namespace) -> int:
    from hub_api import tls
    from hub_api.app import Hub, create_app
    from hub_api.server import serve_listeners
    from onestop.credentials import read_secret

    cfg = load_config(args)
    if args.backend_url:
        if cfg.backend is None:
            raise OnestopError("--backend-url: the site has no [backend] to forward to")
        cfg = cfg.model_copy(update={"backend": cfg.backend.model_copy(update={"url": args.backend_url})})
        log.info("forwarding to %s (--backend-url, instead of [backend] url)", args.backend_url)
    where = tls.listeners(cfg, args.listen)  # plain listen, then HTTPS on [hub] tls_listen (hub_api/tls.py)
    if args.time_scale != 1.0:
        log.warning(
            "waits and services count %g s per second (--time-scale): a simulated day", args.time_scale
        )
    hub = Hub.open(cfg, read_secret(cfg, "hub"), db_path=args.db, time_scale=args.time_scale)
    log.info("hub of %s on %s", cfg.site.id, ", ".join(w.url for w in where))
    # Open event streams (TV boards, caller pages) never end by themselves: give them 3 s, then close.
    app = create_app(hub)
    serve_listeners(app, where, log_level=args.log_level.lower(), timeout_graceful_shutdown=3)
    return 0


def _device_password(cfg: SiteConfig, device: str, role: str) -> str:
    from onestop.credentials import read_secret

    try:
        dev = cfg.device(device)
    except KeyError:
        raise OnestopError(f"--device {device}: no such device in {cfg.source}") from None
    if dev.role != role:
        raise OnestopError(f"--device {device}: it is a {dev.role} device, not a {role}")
    return read_secret(cfg, device)


def _run_agent(agent: object, liveness: sdnotify.Liveness | None = None) -> int:
    """Run an agent until a signal; under systemd, say ready, and with ``liveness`` (the agent's: its
    work loops beat it) ping the watchdog from here too, while those loops make progress."""
    agent.start()  # type: ignore[attr-defined]
    sdnotify.ready()
    wait_for_signal(liveness)
    agent.stop()  # type: ignore[attr-defined]
    return 0


def _counter(args: argparse.Namespace) -> int:
    cfg = load_config(args)
    if args.action == "display-test":
        from device_drivers.display import open_display

        if not args.text:
            raise OnestopError("display-test: give the text to show with --text")
        dev = cfg.device(args.device) if args.device in {d.id for d in cfg.devices} else None
        if dev is None:
            raise OnestopError(f"--device {args.device}: no such device in {cfg.source}")
        display = open_display(dev.display)
        try:
            shown = display.shape([args.text])[0]
            display.show_number(args.text, blink=args.blink)
        finally:
            display.close()
        print(shown.rstrip())
        return 0
    from display_agents.counter_agent import CounterAgent

    agent = CounterAgent(cfg, args.device, _device_password(cfg, args.device, "counter"))
    return _run_agent(agent)  # its timer loop pings the watchdog


def _kiosk(args: argparse.Namespace) -> int:
    from kiosk_app.ticket_kiosk import cli as kiosk_cli

    cfg = load_config(args)
    if args.action == "print-test":
        return kiosk_cli.print_test(cfg, args.device, args.out)
    if args.action == "scan-test":
        from device_drivers.scanner.scan_test import scan_test

        return scan_test(cfg, args.device, args.count, args.record, args.wait)
    return kiosk_cli.run(cfg, args.device, _device_password(cfg, args.device, "kiosk"), args)


def _rating(args: argparse.Namespace) -> int:
    from kiosk_app.rating import cli as rating_cli

    cfg = load_config(args)
    return rating_cli.run(cfg, args.device, _device_password(cfg, args.device, "rating"), args)


def _announcer(args: argparse.Namespace) -> int:
    if args.action == "devices":
        from display_agents.announcer_cli import devices

        return devices()
    cfg = load_config(args)
    if args.action == "test":
        from display_agents.announcer_cli import test_call

        return test_call(cfg, device=args.device)
    if args.action == "say":
        from display_agents.announcer_cli import say

        if not args.number or not args.counter:
            raise OnestopError("say: give --number and --counter")
        return say(cfg, args.number, args.counter, args.mode, args.dialect, args.out, device=args.device)
    from display_agents.announcer_agent import AnnouncerAgent

    if not args.device:
        raise OnestopError("give the announcer's --device")
    announcer = AnnouncerAgent(cfg, args.device, _device_password(cfg, args.device, "announcer"))
    return _run_agent(announcer, announcer.liveness)  # pings while its player thread makes progress


def _board(args: argparse.Namespace) -> int:
    from display_agents.board_agent import BoardAgent

    cfg = load_config(args)
    board = BoardAgent(cfg, args.device, _device_password(cfg, args.device, "board"))
    return _run_agent(board, board.liveness)  # pings while its display loop makes progress


def _agents(args: argparse.Namespace) -> int:
    from onestop.credentials import PASSWORD_ENV, read_secret

    cfg = load_config(args)
    roles = {r.strip() for r in args.roles.split(",") if r.strip()}
    unknown = roles - {"counter", "board", "announcer"}
    if unknown:
        raise OnestopError(f"--roles: cannot run {', '.join(sorted(unknown))} agents here")
    if os.environ.get(PASSWORD_ENV):
        log.warning("%s is ignored by `onestop agents`: it runs several accounts, each reads its file",
                    PASSWORD_ENV)  # fmt: skip
    agents: list[object] = []
    from onestop.simulate import is_twin

    for dev in cfg.devices:
        if dev.role not in roles or is_twin(cfg, dev.id):  # the simulator plays a twin
            continue
        hardware = [h for h in (dev.keys, dev.display, dev.audio) if h is not None]
        if args.sim_only and any(h.backend not in ("sim", "web") for h in hardware):
            continue
        if dev.keys is not None and dev.keys.backend == "web":
            continue  # the hub's caller page is that device's keypad
        if dev.role == "counter":
            from display_agents.counter_agent import CounterAgent

            agents.append(CounterAgent(cfg, dev.id, read_secret(cfg, dev.id, own=False)))
        elif dev.role == "board":
            from display_agents.board_agent import BoardAgent

            agents.append(BoardAgent(cfg, dev.id, read_secret(cfg, dev.id, own=False)))
        else:
            from display_agents.announcer_agent import AnnouncerAgent

            agents.append(AnnouncerAgent(cfg, dev.id, read_secret(cfg, dev.id, own=False)))
    for a in agents:
        a.start()  # type: ignore[attr-defined]
    log.info("running %d agent(s): %s", len(agents), ", ".join(a.device_id for a in agents))  # type: ignore[attr-defined]
    wait_for_signal()
    for a in agents:
        a.stop()  # type: ignore[attr-defined]
    return 0


def _up(args: argparse.Namespace) -> int:
    from onestop.up import run_up

    return run_up(args)


def _simulate(args: argparse.Namespace) -> int:
    from onestop.simulate import run_simulate

    return run_simulate(args)


def _monitor(args: argparse.Namespace) -> int:
    from onestop.monitor import run_monitor

    return run_monitor(args)


def _forward(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from hub_api.forwarder import Forwarder, backlog, check_backend

    cfg = load_config(args)
    db = Path(args.db) if args.db else cfg.data_dir / "hub.db"
    if args.status:
        print(json.dumps(backlog(db), indent=2, ensure_ascii=False))
        return 0
    fwd = Forwarder(cfg.site.id, check_backend(cfg), db, batch_size=args.batch_size)
    fwd.start()
    if args.until_drained:
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.is_set() and not fwd.wait_drained(0.5):
            pass
    else:
        wait_for_signal()
    fwd.stop()
    return 0


def _config(args: argparse.Namespace) -> int:
    from onestop.config_check import run_config_check

    return run_config_check(args)


def _fake_backend(args: argparse.Namespace) -> int:
    from onestop.fake_backend import run_fake_backend

    return run_fake_backend(args)


def _time_scale(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        metavar="N",
        help="simulated traffic at N x (onestop up): waits and services count N s per second, as the "
        "simulated day lives them (default 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(
        prog="onestop", description="Queue suite for one-stop shops (Bộ phận Một cửa)."
    )
    parser.add_argument("--version", action="version", version=f"onestop {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("controller", help="run the queue controller (the only writer of queue state)")
    common(p)
    p.add_argument(
        "action",
        nargs="?",
        choices=["run", "accept-rewind"],
        default="run",
        help="accept-rewind: record the decision to serve from a store that lost data (docs/operations.md)",
    )
    p.add_argument("--db", help="SQLite file (default: [storage] dir/controller.db)")
    p.add_argument(
        "--accept-rewind",
        action="store_true",
        help="if the store lost data the site saw, continue after it at once (docs/operations.md)",
    )
    p.add_argument(
        "--ignore-hours",
        action="store_true",
        help="demo and tests: treat every service as open (ignore hours and days)",
    )
    p.add_argument(
        "--limits-scale",
        type=_positive_float,
        default=1.0,
        metavar="N",
        help="simulated traffic: allow every device N times the rate of [limits] (default 1)",
    )
    _time_scale(p)
    p.set_defaults(run=_controller)

    p = sub.add_parser("hub", help="run the hub: web pages, REST API, reports, forwarding")
    common(p)
    p.add_argument("--listen", metavar="HOST:PORT", help="override [hub] listen")
    p.add_argument("--db", help="SQLite file (default: [storage] dir/hub.db)")
    p.add_argument(
        "--backend-url", metavar="URL", help="override [backend] url (onestop up: a moved back end)"
    )
    _time_scale(p)
    p.set_defaults(run=_hub)

    p = sub.add_parser("up", help="run a whole site on simulated hardware (what `make up` runs)")
    common(p)
    p.add_argument("--port", type=int, default=0, help="broker port (default: [broker] port, or a free one)")
    p.add_argument("--traffic", action="store_true", help="simulate arriving citizens and working clerks")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second (default 60)")
    p.add_argument("--quiet", action="store_true", help="do not print queue events")
    p.add_argument(
        "--files-only",
        action="store_true",
        help="write the secrets and the broker's files, print how to start the broker, and exit "
        "(to run each process by hand: docs/operations.md)",
    )
    p.add_argument(
        "--ignore-hours",
        action="store_true",
        help="run the site as if every service were open (to try it by hand outside opening hours)",
    )
    p.set_defaults(run=_up)

    p = sub.add_parser("simulate", help="simulated citizens and clerks using the site's kiosks and counters")
    common(p)
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--duration", type=float, default=0, help="stop after this many real seconds (0: never)")
    p.add_argument(
        "--booked-share",
        type=float,
        default=0.3,
        help="share of citizens who come with a booking, around their slot ([bookings] enabled; default 0.3)",
    )
    p.add_argument(
        "--pickup-share",
        type=float,
        default=0.1,
        help="share of citizens who collect a result with a dossier code ([dossiers] service; default 0.1)",
    )
    p.set_defaults(run=_simulate)

    p = sub.add_parser("counter", help="run a counter agent (call keys and counter LED), or test its display")
    common(p)
    p.add_argument("action", nargs="?", choices=["run", "display-test"], default="run")
    p.add_argument("--device", required=True, help="the counter device id, e.g. counter-1")
    p.add_argument("--text", help="display-test: the text to show, e.g. A012")
    p.add_argument("--blink", action="store_true", help="display-test: blink it")
    p.set_defaults(run=_counter)

    p = sub.add_parser(
        "kiosk", help="run a ticket kiosk (touch screen and printer), print a sample ticket, test its scanner"
    )
    common(p)
    p.add_argument("action", nargs="?", choices=["run", "print-test", "scan-test"], default="run")
    p.add_argument("--device", required=True, help="the kiosk device id, e.g. kiosk-01")
    p.add_argument(
        "--headless", action="store_true", help="run without a screen, driven over HTTP (--listen)"
    )
    p.add_argument("--listen", metavar="HOST:PORT", help="the HTTP trigger (headless default 127.0.0.1:0)")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen (development)")
    p.add_argument("--size", metavar="WxH", help="window size with --windowed, e.g. 540x960")
    p.add_argument("--out", metavar="FILE", help="print-test: write the sample ticket to this PNG instead")
    p.add_argument("--count", type=int, metavar="N", help="scan-test: stop after N scans (default: Ctrl-C)")
    p.add_argument("--record", metavar="FILE", help="scan-test: keep each scan's key events (hid) in FILE")
    p.add_argument("--wait", action="store_true", help="scan-test: wait for a scanner that is not there yet")
    p.set_defaults(run=_kiosk)

    p = sub.add_parser("rating", help="run a rating terminal at a counter (citizens rate the officer)")
    common(p)
    p.add_argument("action", nargs="?", choices=["run"], default="run")
    p.add_argument("--device", required=True, help="the rating device id, e.g. rate-1")
    p.add_argument(
        "--headless", action="store_true", help="run without a screen, driven over HTTP (--listen)"
    )
    p.add_argument("--listen", metavar="HOST:PORT", help="the HTTP trigger (headless default 127.0.0.1:0)")
    p.add_argument("--windowed", action="store_true", help="a window instead of full screen (development)")
    p.add_argument("--size", metavar="WxH", help="window size (default 1280x800, landscape)")
    p.set_defaults(run=_rating)

    p = sub.add_parser(
        "announcer",
        help="run the voice announcer, say one call, list the sound outputs (devices), or play a test call",
    )
    common(p)
    p.add_argument("action", nargs="?", choices=["run", "say", "devices", "test"], default="run")
    p.add_argument("--device", help="the announcer device (say: default the site's first announcer)")
    p.add_argument("--number", help="say: ticket number, e.g. A012")
    p.add_argument("--counter", help="say: counter id or label, e.g. 3 or 'Quầy 3'")
    p.add_argument("--mode", choices=["whole", "digits"], help="say: override [announcer] mode")
    p.add_argument("--dialect", choices=["north", "south"], help="say: override [announcer] dialect")
    p.add_argument("--out", metavar="FILE", help="say: write the WAV file here instead of playing it")
    p.set_defaults(run=_announcer)

    p = sub.add_parser("board", help="run the LED main board agent of the hall")
    common(p)
    p.add_argument("--device", required=True, help="the board device id")
    p.set_defaults(run=_board)

    p = sub.add_parser(
        "agents", help="run every counter, board and announcer agent of the site in one process"
    )
    common(p)
    p.add_argument("--roles", default="counter,board,announcer", help="comma-separated roles to run")
    p.add_argument("--sim-only", action="store_true", help="only devices whose hardware is all simulated")
    p.set_defaults(run=_agents)

    p = sub.add_parser("monitor", help="print the site's queue events as they happen")
    common(p)
    p.set_defaults(run=_monitor)

    p = sub.add_parser("forward", help="forward the hub's outbox to the back end (what the hub does itself)")
    common(p)
    p.add_argument("--db", help="the hub's SQLite file (default: [storage] dir/hub.db)")
    p.add_argument("--batch-size", type=int, default=None, help="override [backend] batch_size")
    p.add_argument("--status", action="store_true", help="print the backlog per stream as JSON and exit")
    p.add_argument("--until-drained", action="store_true", help="exit once nothing is left to send")
    p.set_defaults(run=_forward)

    p = sub.add_parser("config", help="technicians: check a site file (and what its displays can show)")
    p.add_argument("action", choices=["check"], help="check: validate, then warn about what will not show")
    p.add_argument("--config", default="site.toml", help="the site file (default: site.toml)")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(run=_config)

    p = sub.add_parser("fake-backend", help="run the reference one-stop back end (tests, demos)")
    p.add_argument("--listen", default="127.0.0.1:9000", metavar="HOST:PORT", help="loopback only")
    p.add_argument("--token", help="the bearer token to accept (default: the variable of --token-env)")
    p.add_argument("--token-env", default="ONESTOP_BACKEND_TOKEN", help="default ONESTOP_BACKEND_TOKEN")
    p.add_argument("--db", help="SQLite file for the records (default: memory)")
    p.add_argument("--fail-rate", type=float, default=0.0, help="answer this share of batches with 500")
    p.add_argument("--down-for", type=float, default=0.0, metavar="S", help="answer 503 for the first S s")
    p.add_argument("--slow-ms", type=float, default=0.0, help="delay every batch by this many ms")
    p.add_argument("--timeout-rate", type=float, default=0.0, help="store this share but answer late")
    p.add_argument("--hold-s", type=float, default=30.0, help="how late --timeout-rate answers (s)")
    p.add_argument("--seed", type=int, default=None, help="seed of the random failures")
    p.add_argument("--lookups", metavar="FILE", help="bookings and dossiers to answer (fixtures JSON)")
    p.add_argument("--generate-from", metavar="SITE_TOML", help="answer a day generated for this site")
    p.add_argument("--samples", metavar="FILE", help="write codes to try at a kiosk to this file")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    p.set_defaults(run=_fake_backend)

    from province.cli import register as register_province

    register_province(sub)

    from provisioning.cli import configure as configure_provision

    p = sub.add_parser(
        "provision", help="technicians: site CA and broker files, device enrolment and bundles"
    )
    configure_provision(p)

    from provisioning.release_cli import configure_release, configure_update

    p = sub.add_parser("release", help="technicians: signing key, build and publish a signed release")
    configure_release(p)
    p = sub.add_parser("update", help="devices: check or apply the hub's signed release (with rollback)")
    configure_update(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``onestop`` command."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(args, "log_level", "INFO"),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    runner: Runner = args.run
    try:
        return runner(args)
    except ConfigError as exc:
        print(f"onestop {args.command}: {exc.one_line()}", file=sys.stderr)
        if len(exc.problems) > 1:
            print(str(exc), file=sys.stderr)
        return 2
    except OnestopError as exc:
        print(f"onestop {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

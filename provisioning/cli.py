"""The ``onestop provision`` command line: ``site init|check`` and ``device add|bundle|revoke``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from onestop.errors import OnestopError
from onestop.protocol import ROLES


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``provision`` subcommands to ``parser``."""
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    what = parser.add_subparsers(dest="what", required=True, metavar="site|device|backend|screen")

    site = what.add_parser("site", help="the site: CA, broker certificate, broker files, checks")
    site_sub = site.add_subparsers(dest="action", required=True, metavar="init|check")
    p = site_sub.add_parser("init", help="create (or complete) a site: site.toml, CA, broker files")
    p.add_argument("--dir", required=True, type=Path, help="the site folder (e.g. /etc/onestop)")
    p.add_argument("--site-id", default="diem-mot-cua", help="[a-z0-9-]+, used in MQTT topics")
    p.add_argument("--name", default="Bộ phận Một cửa", help="the centre's name")
    p.add_argument("--agency", default="UBND", help="the ticket header")
    p.add_argument(
        "--lan-host",
        action="append",
        default=[],
        metavar="HOST",
        help="the hub machine's LAN address or name (repeat); it goes in the broker certificate",
    )
    p.add_argument("--local-port", type=int, default=1883, help="loopback listener (default 1883)")
    p.add_argument("--tls-port", type=int, default=8883, help="TLS listener for the LAN (default 8883)")
    p.add_argument(
        "--data-dir", default="var", help="[storage] dir of a new site.toml (e.g. /var/lib/onestop)"
    )
    p.add_argument("--broker-user", help="run Mosquitto as this user (default: its own mosquitto user)")
    p.add_argument("--renew-broker-cert", action="store_true", help="issue a new broker certificate")
    p.add_argument("--renew-hub-cert", action="store_true", help="issue a new hub HTTPS certificate")
    p.add_argument("--prefix", type=Path, default=Path("/opt/onestop"), help="where onestop is installed")
    _backend_options(p)
    p.set_defaults(run=_site_init)
    p = site_sub.add_parser(
        "check", help="check config, certificates, ACL and secrets (exit 0 when all is well)"
    )
    p.add_argument("--config", default="site.toml", type=Path)
    p.set_defaults(run=_site_check)

    backend = what.add_parser("backend", help="the province's back end the hub forwards to")
    backend_sub = backend.add_subparsers(dest="action", required=True, metavar="set")
    p = backend_sub.add_parser("set", help="set its URL and/or store its token for the hub")
    p.add_argument("--config", default="site.toml", type=Path)
    p.add_argument("--prefix", type=Path, default=Path("/opt/onestop"), help="where onestop is installed")
    _backend_options(p)
    p.set_defaults(run=_backend_set)

    bridge = what.add_parser("bridge", help="the site's bridge to the province broker (from its bundle)")
    bridge_sub = bridge.add_subparsers(dest="action", required=True, metavar="install|remove")
    p = bridge_sub.add_parser("install", help="install the bundle of `onestop province bridge add`")
    p.add_argument("--config", default="site.toml", type=Path)
    p.add_argument("--bundle", required=True, type=Path, help="folder with onestop-bridge.conf and the CA")
    p.set_defaults(run=_bridge)
    p = bridge_sub.add_parser("remove", help="remove the bridge (the site works on alone)")
    p.add_argument("--config", default="site.toml", type=Path)
    p.set_defaults(run=_bridge)

    from provisioning import kms

    kms.configure(what.add_parser("screen", help="on a kiosk or rating terminal without a desktop"))

    device = what.add_parser("device", help="enrol, bundle or revoke a device")
    dev_sub = device.add_subparsers(dest="action", required=True, metavar="add|bundle|revoke")
    p = dev_sub.add_parser("add", help="add a device to site.toml, with its broker account")
    p.add_argument("--config", default="site.toml", type=Path)
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--id", required=True, dest="device_id")
    p.add_argument("--counter", help="counter and rating devices: the counter id")
    p.add_argument("--services", help="kiosks: comma-separated service ids (default: all)")
    p.add_argument(
        "--printer-usb", metavar="VID:PID", help="kiosks: USB printer ids from `lsusb`, e.g. 04b8:0202"
    )
    p.add_argument(
        "--screen",
        choices=["kms", "x11"],
        help="kiosks and rating terminals: kms (default: Raspberry Pi OS Lite, no desktop) or x11 (desktop)",
    )
    _reload_options(p)
    p.set_defaults(run=_device_add)
    p = dev_sub.add_parser("bundle", help="write a device's install bundle (folder or --tar)")
    p.add_argument("device_id", metavar="ID")
    p.add_argument("--config", default="site.toml", type=Path)
    p.add_argument("--out", required=True, type=Path, help="where to write the bundle (e.g. the USB stick)")
    p.add_argument("--tar", action="store_true", help="write onestop-ID.tar.gz instead of a folder")
    p.add_argument(
        "--wheels",
        type=Path,
        help="folder with the onestop-queue wheel and its dependencies (`make wheels`)",
    )
    p.add_argument(
        "--broker-host", help="the address devices use for the broker (default: from [hub] public_url)"
    )
    p.set_defaults(run=_device_bundle)
    p = dev_sub.add_parser("revoke", help="shut a device out: account, ACL and secret removed")
    p.add_argument("device_id", metavar="ID")
    p.add_argument("--config", default="site.toml", type=Path)
    _reload_options(p)
    p.set_defaults(run=_device_revoke)


def _backend_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend-url", help="the back end's base URL, e.g. https://motcua.tinh.gov.vn/onestop")
    p.add_argument(
        "--backend-token-file",
        type=Path,
        metavar="FILE",
        help="a file holding the token the back end gave this site ('-': standard input); it is stored "
        "0600 beside site.toml and given to the hub as a systemd credential",
    )


def _backend_set(args: argparse.Namespace) -> int:
    from provisioning.backend import read_token_file, set_backend

    if args.backend_url is None and args.backend_token_file is None:
        raise OnestopError("provision backend set: give --backend-url, --backend-token-file or both")
    token = read_token_file(args.backend_token_file) if args.backend_token_file else None
    _print_report(set_backend(args.config, url=args.backend_url, token=token, prefix=args.prefix))
    print(f"next: onestop provision site check --config {args.config}")
    return 0


def _reload_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reload",
        default="auto",
        choices=["auto", "systemd", "pidfile", "none"],
        help="how to make the running broker reread its accounts (default auto: systemd, else --pidfile)",
    )
    p.add_argument("--pidfile", type=Path, help="the broker's pid file (for --reload pidfile or auto)")


def _print_report(lines: list[str]) -> None:
    for line in lines:
        print(line)


def _site_init(args: argparse.Namespace) -> int:
    from provisioning.site import init_site

    report = init_site(
        args.dir,
        site_id=args.site_id,
        name=args.name,
        agency=args.agency,
        lan_hosts=args.lan_host,
        local_port=args.local_port,
        tls_port=args.tls_port,
        data_dir=args.data_dir,
        broker_user=args.broker_user,
        renew_broker_cert=args.renew_broker_cert,
        renew_hub_cert=args.renew_hub_cert,
        prefix=args.prefix,
    )
    _print_report(report.lines())
    if args.backend_url or args.backend_token_file:
        from provisioning.backend import read_token_file, set_backend

        token = read_token_file(args.backend_token_file) if args.backend_token_file else None
        site_toml = args.dir / "site.toml"
        _print_report(set_backend(site_toml, url=args.backend_url, token=token, prefix=args.prefix))
    return 0


def _bridge(args: argparse.Namespace) -> int:
    from onestop.config import load
    from provisioning.bridge import install_bridge, remove_bridge
    from provisioning.files import Layout, write_private
    from provisioning.site import render_broker_conf

    cfg = load(args.config)
    layout = Layout.of(cfg)
    lines = install_bridge(cfg, layout, args.bundle) if args.action == "install" else remove_bridge(layout)
    if layout.broker_conf.exists():
        write_private(layout.broker_conf, render_broker_conf(cfg, layout))
        lines.append(f"{layout.broker_conf} rewritten: restart mosquitto (systemctl restart mosquitto)")
    _print_report(lines)
    return 0


def _site_check(args: argparse.Namespace) -> int:
    from onestop.config import load
    from provisioning.check import check_site

    result = check_site(load(args.config))
    print(result.render(), end="")
    return 0 if result.ok else 1


def _usb_pair(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{1,4}):(?:0x)?([0-9a-fA-F]{1,4})", text.strip())
    if not m:
        raise OnestopError(
            f"--printer-usb: expected VID:PID as lsusb prints it, e.g. 04b8:0202, got {text!r}"
        )
    return int(m.group(1), 16), int(m.group(2), 16)


def _device_add(args: argparse.Namespace) -> int:
    from provisioning.devices import add_device
    from provisioning.reload import choose

    services = [s.strip() for s in args.services.split(",") if s.strip()] if args.services else None
    _cfg, report = add_device(
        args.config,
        args.device_id,
        args.role,
        counter=args.counter,
        services=services,
        printer_usb=_usb_pair(args.printer_usb),
        screen=args.screen,
        reload=choose(args.reload, args.pidfile),
    )
    _print_report(report.lines())
    print(f"next: onestop provision device bundle {args.device_id} --config {args.config} --out /media/usb")
    return 0


def _device_bundle(args: argparse.Namespace) -> int:
    from provisioning.devices import bundle_device

    path = bundle_device(
        args.config, args.device_id, args.out, broker_host=args.broker_host, tar=args.tar, wheels=args.wheels
    )
    print(f"written  {path} (it holds the device's password: keep the USB stick safe)")
    if args.wheels is None:
        print("note     no --wheels: its install.sh stops until wheels/ holds the onestop-queue wheel")
    return 0


def _device_revoke(args: argparse.Namespace) -> int:
    from provisioning.devices import revoke_device
    from provisioning.reload import choose

    _cfg, report = revoke_device(args.config, args.device_id, reload=choose(args.reload, args.pidfile))
    _print_report(report.lines())
    return 0

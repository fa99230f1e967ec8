"""``onestop release keygen|build|publish`` (technician) and ``onestop update check|apply`` (devices)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from onestop.errors import OnestopError
from provisioning.units import DEFAULT_PREFIX, device_unit_spec


def configure_release(parser: argparse.ArgumentParser) -> None:
    """Add the ``release`` subcommands to ``parser``."""
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="action", required=True, metavar="keygen|build|publish")
    p = sub.add_parser("keygen", help="make the release signing key (release.key) and release.pub")
    p.add_argument("--out", required=True, type=Path, help="a folder off the hub (the technician's laptop)")
    p.set_defaults(run=_keygen)
    p = sub.add_parser("build", help="build and sign a release tarball")
    p.add_argument("--out", required=True, type=Path, help="where to write onestop-release-VERSION.tar")
    p.add_argument("--key", required=True, type=Path, help="the signing key (release.key)")
    p.add_argument("--version", help="build this checkout as this version (default: pyproject.toml's)")
    p.add_argument("--wheels", type=Path, help="take the wheels of this folder (`make wheels`) as they are")
    p.add_argument("--source", type=Path, help="build the project's wheel from this source tree")
    p.add_argument("--no-deps", action="store_true", help="the project's wheel only (see docs)")
    p.add_argument("--platform", default="", help="dependencies for this platform (manylinux2014_aarch64)")
    p.set_defaults(run=_build)
    p = sub.add_parser("publish", help="on the hub machine: check a release and serve it to the devices")
    p.add_argument("tarball", type=Path)
    p.add_argument("--config", default="site.toml", type=Path)
    p.add_argument("--key", type=Path, help="release.pub (default: beside site.toml)")
    p.set_defaults(run=_publish)


def configure_update(parser: argparse.ArgumentParser) -> None:
    """Add the ``update`` subcommands to ``parser``."""
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    parser.add_argument("action", choices=["check", "apply"])
    parser.add_argument("--config", default="site.toml", type=Path)
    parser.add_argument("--device", required=True, help="this device's id")
    parser.add_argument("--hub-url", help="default: [hub] public_url of the site file")
    parser.add_argument("--key", type=Path, help="release.pub (default: beside site.toml)")
    parser.add_argument("--prefix", type=Path, default=DEFAULT_PREFIX, help="default /opt/onestop")
    parser.add_argument("--allow-downgrade", action="store_true", help="accept an older release")
    parser.add_argument("--health-timeout", type=float, default=120.0, metavar="S")
    parser.add_argument(
        "--health-cmd",
        help="healthy when this exits 0 and prints the new version ({venv}, {version} filled in); "
        "default: {venv}/bin/onestop --version, and the device's unit active for 20 s",
    )
    parser.add_argument("--restart-cmd", help="instead of `systemctl restart onestop-ID`")
    parser.add_argument("--python", default="/usr/bin/python3", help="makes the environments")
    parser.add_argument("--inherit-site", type=Path, help=argparse.SUPPRESS)
    parser.set_defaults(run=_update)


def _keygen(args: argparse.Namespace) -> int:
    from provisioning.release import keygen

    key, pub = keygen(args.out)
    print(f"written  {key} (the signing key: keep it off the hub, with a backup)")
    print(f"written  {pub} (copy it beside site.toml on the hub machine: bundles give it to devices)")
    return 0


def _build(args: argparse.Namespace) -> int:
    from provisioning.release import build_release

    path = build_release(
        args.out, args.key, version=args.version, wheels=args.wheels, source=args.source,
        deps=not args.no_deps, platform=args.platform,
    )  # fmt: skip
    print(f"written  {path}")
    print(f"next: copy it to the hub machine, then: onestop release publish {path.name} --config site.toml")
    return 0


def _public_key_path(args: argparse.Namespace) -> Path:
    from provisioning.release import PUBLIC_KEY_NAME

    return args.key if args.key else Path(args.config).resolve().parent / PUBLIC_KEY_NAME


def _publish(args: argparse.Namespace) -> int:
    from onestop.config import load
    from provisioning.release import load_public_key, publish

    cfg = load(args.config)
    m = publish(args.tarball, cfg.data_dir, load_public_key(_public_key_path(args)))
    print(f"published {m.version} ({len(m.files)} files, {m.total_size} bytes)")
    print("devices take it at their next `onestop update apply` (a daily timer)")
    return 0


def _update(args: argparse.Namespace) -> int:
    from onestop.config import load
    from provisioning.release import load_public_key
    from provisioning.updater import (
        HealthCheck,
        Updater,
        UpdateSettings,
        all_of,
        command_health,
        systemctl_restart,
        unit_health,
    )

    cfg = load(args.config)
    dev = next((d for d in cfg.devices if d.id == args.device), None)
    if dev is None:
        raise OnestopError(f"--device {args.device}: not a device of {args.config}")
    spec = device_unit_spec(cfg, dev, prefix=args.prefix)
    unit = f"{spec.name}.service"
    screen = spec.user_unit  # a screen of a desktop session: a user unit of the onestop user
    if args.restart_cmd:
        argv = shlex.split(args.restart_cmd)

        def restart() -> None:
            import subprocess

            subprocess.run(argv, check=False)

    elif screen:  # a user unit of the onestop user's session
        restart_user = ["systemctl", "--machine=onestop@.host", "--user", "restart", unit]

        def restart() -> None:
            import subprocess

            subprocess.run(restart_user, check=False)

    else:
        restart = systemctl_restart([unit])
    healthy: HealthCheck
    if args.health_cmd:
        healthy = command_health(shlex.split(args.health_cmd))
    else:
        version_ok = command_health(["{venv}/bin/onestop", "--version"])
        healthy = version_ok if screen else all_of(version_ok, unit_health([unit]))
    ca = Path(args.config).resolve().parent / "ca.crt"
    settings = UpdateSettings(
        hub_url=args.hub_url or cfg.hub.public_url,
        public_key=load_public_key(_public_key_path(args)),
        prefix=args.prefix,
        restart=restart,
        healthy=healthy,
        health_timeout_s=args.health_timeout,
        allow_downgrade=args.allow_downgrade,
        ca_file=ca if ca.exists() else None,
        python=args.python,
        inherit_site=args.inherit_site,
    )
    updater = Updater(settings)
    out = updater.check() if args.action == "check" else updater.apply()
    print(f"{out.status}: {out.detail}")
    return out.exit_code

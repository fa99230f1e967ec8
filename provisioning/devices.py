"""``onestop provision device add | bundle | revoke``.

The site file is edited as text so that the technician's comments and layout survive: ``add`` appends
a ``[[devices]]`` block, ``revoke`` comments the device's block out (with the date: the file keeps a
history of replaced devices, and an id can be enrolled again later). After each edit the whole file is
validated with :func:`onestop.config.load`; an invalid result is rolled back and the reason shown.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from onestop.config import SiteConfig, load, parse
from onestop.credentials import read_secret, secret_path, secrets_dir
from onestop.errors import ConfigError
from onestop.protocol import ROLES
from onestop.toml_text import value as toml_value
from provisioning.errors import ProvisionError
from provisioning.files import Layout, private_dir, write_private, write_public
from provisioning.install_script import WHEEL_PREFIX, render_install_sh
from provisioning.kms import screen_udev_rule
from provisioning.release import PUBLIC_KEY_NAME
from provisioning.reload import Reloader
from provisioning.site import Report, write_auth_files
from provisioning.timesync import render_timesyncd_device
from provisioning.units import (
    DEVICE_DATA,
    SCREEN_ROLES,
    TV_BOARD_SCRIPT,
    autostart_entry,
    device_unit_spec,
    is_kms_screen,
    render_unit,
    udev_rule,
    update_units,
)

HEADER = re.compile(r"^\s*\[")
DEVICES_HEADER = re.compile(r"^\s*\[\[\s*devices\s*\]\]\s*(#.*)?$")


def device_block(
    device_id: str,
    role: str,
    *,
    counter: str | None = None,
    services: list[str] | None = None,
    printer_usb: tuple[int, int] | None = None,
    screen: str | None = None,
) -> str:
    """The ``[[devices]]`` block appended for a new device (with hints as comments)."""
    today = datetime.now(UTC).date().isoformat()
    lines = ["", f"# added by `onestop provision device add` on {today}", "[[devices]]"]
    lines += [f"id = {toml_value(device_id)}", f"role = {toml_value(role)}"]
    if counter is not None:
        lines.append(f"counter = {toml_value(counter)}")
    if services:
        lines.append(f"services = {toml_value(services)}")
    if screen is not None:
        lines.append(f"screen = {toml_value(screen)}")
    if printer_usb is not None:
        vid, pid = printer_usb
        lines.append(f'printer = {{ backend = "usb", vendor_id = 0x{vid:04x}, product_id = 0x{pid:04x} }}')
    elif role == "kiosk":
        lines.append(
            '# printer = { backend = "usb", vendor_id = 0x04b8, product_id = 0x0202, profile = "TM-T88V" }'
            "  # máy in: số từ `lsusb`"
        )
    elif role == "board":
        lines.append("# display = { backend = ... }   # bảng LED; không có dòng này = TV (trang /board)")
    return "\n".join(lines) + "\n"


def _validated(path: Path, text: str) -> SiteConfig:
    """``text`` checked as the new content of ``path`` (before anything is written)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"the edited file is not valid TOML: {exc}"]) from None
    return parse(data, str(path))


def _replace_site_file(path: Path, old: str, new: str) -> SiteConfig:
    """Validate, write ``new`` atomically, re-load it; restore ``old`` when anything fails."""
    _validated(path, new)
    mode = path.stat().st_mode & 0o777
    write_public(path, new, mode)
    try:
        return load(path)
    except ConfigError:
        write_public(path, old, mode)
        raise


def add_device(
    config: Path,
    device_id: str,
    role: str,
    *,
    counter: str | None = None,
    services: list[str] | None = None,
    printer_usb: tuple[int, int] | None = None,
    screen: str | None = None,
    reload: Reloader,
) -> tuple[SiteConfig, Report]:
    """Append a device to the site file, create its secret, rewrite the password file and ACL, reload."""
    if role not in ROLES:
        raise ProvisionError(f"--role: expected one of {', '.join(ROLES)}, got {role!r}")
    cfg = load(config)
    if device_id in {d.id for d in cfg.devices}:
        raise ProvisionError(f"device {device_id!r} is already in {config}; revoke it first to replace it")
    old = config.read_text(encoding="utf-8")
    if screen is not None and role not in SCREEN_ROLES:
        raise ProvisionError(f"--screen: only kiosks and rating terminals have one, not a {role}")
    block = device_block(
        device_id, role, counter=counter, services=services, printer_usb=printer_usb, screen=screen
    )
    sep = "" if old.endswith("\n") or not old else "\n"
    try:
        cfg = _replace_site_file(config, old, old + sep + block)
    except ConfigError as exc:
        raise ProvisionError(
            f"{device_id} was not added, {config} is unchanged: {exc.problems[0]}"
            + (f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else "")
        ) from None
    report = Report()
    layout = Layout.of(cfg)
    write_auth_files(cfg, layout)
    report.created.append(
        f"[[devices]] {device_id} ({role}) in {config}; its secret {secret_path(cfg, device_id)}"
    )
    report.written.append(f"{layout.password_file} and {layout.acl_file}")
    report.notes.append(reload())
    return cfg, report


def _device_span(lines: list[str], device_id: str) -> tuple[int, int] | None:
    """The line range of the ``[[devices]]`` block (with its sub-tables) whose id is ``device_id``."""
    id_line = re.compile(r"^\s*id\s*=\s*([\"'])" + re.escape(device_id) + r"\1\s*(#.*)?$")
    i = 0
    while i < len(lines):
        if not DEVICES_HEADER.match(lines[i]):
            i += 1
            continue
        end = i + 1
        while end < len(lines) and not (
            HEADER.match(lines[end]) and not re.match(r"^\s*\[\s*devices\.", lines[end])
        ):
            end += 1
        if any(id_line.match(line) for line in lines[i + 1 : end]):
            while end > i + 1 and not lines[end - 1].strip():
                end -= 1
            return i, end
        i = end
    return None


def revoke_device(config: Path, device_id: str, *, reload: Reloader) -> tuple[SiteConfig, Report]:
    """Comment the device out of the site file, delete its secret, rewrite the broker files, reload."""
    cfg = load(config)
    if device_id not in {d.id for d in cfg.devices}:
        raise ProvisionError(f"no device {device_id!r} in {config}")
    old = config.read_text(encoding="utf-8")
    lines = old.splitlines(keepends=True)
    span = _device_span(lines, device_id)
    if span is None:
        raise ProvisionError(
            f"{device_id} is not written as a [[devices]] block in {config}: remove it by hand, then run "
            "`onestop provision site check`"
        )
    start, end = span
    today = datetime.now(UTC).date().isoformat()
    commented = [f"# revoked by `onestop provision device revoke` on {today}:\n"]
    commented += [f"# {line}" if line.strip() else line for line in lines[start:end]]
    new = "".join([*lines[:start], *commented, *lines[end:]])
    try:
        cfg = _replace_site_file(config, old, new)
    except ConfigError as exc:
        raise ProvisionError(
            f"{device_id} was not revoked, {config} is unchanged: {exc.problems[0]}"
        ) from None
    report = Report()
    report.written.append(f"{config}: the {device_id} block is commented out")
    layout = Layout.of(cfg)
    write_auth_files(cfg, layout)
    report.written.append(f"{layout.password_file} and {layout.acl_file} without {device_id}")
    for path in (secret_path(cfg, device_id), secrets_dir(cfg) / f"{device_id}.pin"):
        if path.exists():
            path.unlink()
            report.notes.append(f"deleted {path}")
    report.notes.append(reload())
    return cfg, report


# -- bundles ------------------------------------------------------------------------------------


def _replace_table(text: str, name: str, body: list[str]) -> str:
    """``text`` with the top-level table ``[name]`` replaced by ``body`` (appended when absent)."""
    lines = text.splitlines(keepends=True)
    head = re.compile(r"^\s*\[\s*" + re.escape(name) + r"\s*\]\s*(#.*)?$")
    for i, line in enumerate(lines):
        if head.match(line):
            end = i + 1
            while end < len(lines) and not HEADER.match(lines[end]):
                end += 1
            while end > i + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
                end -= 1
            new = [f"[{name}]\n", *(f"{b}\n" for b in body)]
            return "".join([*lines[:i], *new, *lines[end:]])
    sep = "" if text.endswith("\n") else "\n"
    return text + sep + f"\n[{name}]\n" + "".join(f"{b}\n" for b in body)


def device_site_toml(cfg: SiteConfig, text: str, *, broker_host: str) -> str:
    """The hub's site file as a device sees it: the broker over TLS on the LAN, data in /var/lib/onestop."""
    broker = [
        "# the hub machine's broker, over TLS, trusting the site CA (written by device bundle)",
        f"host = {toml_value(broker_host)}",
        f"port = {cfg.broker.tls_port}",
        "tls = true",
        'ca_file = "ca.crt"',
        f"tls_port = {cfg.broker.tls_port}",
        f"keepalive_s = {cfg.broker.keepalive_s}",
    ]
    out = _replace_table(text, "broker", broker)
    return _replace_table(out, "storage", [f"dir = {toml_value(str(DEVICE_DATA))}"])


def bundle_wheels(folder: Path) -> list[Path]:
    """The wheels a bundle carries from ``folder``: this project's and its dependencies'. A folder
    without this project's wheel is refused (``install.sh`` installs from nothing else)."""
    if not folder.is_dir():
        raise ProvisionError(f"--wheels {folder}: no such folder (make it with `make wheels`)")
    wheels = sorted(folder.glob("*.whl"))
    if not any(w.name.startswith(WHEEL_PREFIX) for w in wheels):
        raise ProvisionError(
            f"--wheels {folder}: no {WHEEL_PREFIX}*.whl in it "
            "(make the folder with `make wheels`, docs/deployment.md)"
        )
    return wheels


def bundle_device(
    config: Path,
    device_id: str,
    out: Path,
    *,
    broker_host: str | None = None,
    tar: bool = False,
    wheels: Path | None = None,
) -> Path:
    """Write a device's install bundle into ``out`` (a folder, or a ``.tar.gz`` with ``tar``), with the
    wheels found in ``wheels`` (without them, its ``install.sh`` stops and says what is missing)."""
    cfg = load(config)
    carried = bundle_wheels(wheels) if wheels is not None else []
    try:
        dev = cfg.device(device_id)
    except KeyError:
        raise ProvisionError(f"no device {device_id!r} in {config} (add it first)") from None
    layout = Layout.of(cfg)
    if not layout.ca_cert.exists():
        raise ProvisionError(f"{layout.ca_cert} is missing: run `onestop provision site init` first")
    host = broker_host or urlsplit(cfg.hub.public_url).hostname
    if not host:
        raise ProvisionError("cannot tell the hub's LAN address: give --broker-host")
    secret = read_secret(cfg, device_id) if secret_path(cfg, device_id).exists() else None
    if secret is None:
        raise ProvisionError(f"{device_id} has no secret yet: run `onestop provision device add` again")
    site_text = device_site_toml(cfg, config.read_text(encoding="utf-8"), broker_host=host)
    _validated(config, site_text)

    out.mkdir(parents=True, exist_ok=True)
    root = out / f"onestop-{device_id}"
    if root.exists():
        shutil.rmtree(root)
    private_dir(root)
    for sub in ("etc", "systemd", "systemd/user", "autostart", "udev", "bin", "secrets", "wheels"):
        (root / sub).mkdir(mode=0o700 if sub == "secrets" else 0o755, exist_ok=True)
    write_public(root / "etc" / "site.toml", site_text)
    write_public(root / "etc" / "ca.crt", layout.ca_cert.read_text(encoding="ascii"))
    write_public(root / "etc" / "timesyncd.conf", render_timesyncd_device(host))
    write_private(root / "secrets" / f"{device_id}.secret", secret + "\n")
    spec = device_unit_spec(cfg, dev)
    unit_dir = root / "systemd" / ("user" if spec.user_unit else "")
    write_public(unit_dir / f"{spec.name}.service", render_unit(spec))
    for name, text in update_units(dev).items():
        write_public(root / "systemd" / name, text)
    release_pub = layout.root / PUBLIC_KEY_NAME
    if release_pub.exists():  # the key devices check releases with (docs/operations.md)
        write_public(root / "etc" / PUBLIC_KEY_NAME, release_pub.read_text(encoding="ascii"))
    entry = autostart_entry(dev)
    if entry is not None:
        write_public(root / "autostart" / f"{spec.name}.desktop", entry)
    rule = udev_rule(dev)
    if rule is not None:
        write_public(root / "udev" / f"60-onestop-{device_id}-printer.rules", rule)
    if is_kms_screen(dev):
        write_public(root / "udev" / f"70-onestop-{device_id}-screen.rules", screen_udev_rule(device_id))
    if spec.exec_start[0].endswith("onestop-tv-board"):
        write_public(root / "bin" / "onestop-tv-board", TV_BOARD_SCRIPT, 0o755)
    write_public(root / "install.sh", render_install_sh(dev), 0o755)
    for wheel in carried:
        shutil.copyfile(wheel, root / "wheels" / wheel.name)
    write_public(root / "README.txt", _readme(dev.id, dev.role, host, cfg.broker.tls_port, spec.user_unit))
    if not tar:
        return root
    archive = out / f"onestop-{device_id}.tar.gz"
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chmod(archive, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tf:

        def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info

        tf.add(root, arcname=root.name, filter=owner)
    shutil.rmtree(root)
    return archive


def _readme(device_id: str, role: str, host: str, port: int, user_unit: bool) -> str:
    # A screen runs as a user unit of the desktop session: its log is the user unit's, which root reads
    # with --user-unit (``-u`` only finds system units).
    logs = (
        f"journalctl --user-unit onestop-{device_id} -n 20"
        if user_unit
        else f"journalctl -u onestop-{device_id} -n 20"
    )
    return f"""Gói cài đặt thiết bị onestop / onestop device bundle: {device_id} ({role})

Thư mục này chứa MẬT KHẨU của thiết bị (secrets/). Giữ kín; xoá khỏi USB sau khi cài.
This folder holds the device's PASSWORD (secrets/). Keep it private; wipe the USB stick after installing.

1. Cắm USB vào Raspberry Pi, chép thư mục này vào máy:   cp -r /media/*/*/onestop-{device_id} ~/
2. Chạy:                                                   cd ~/onestop-{device_id} && sudo ./install.sh
3. Kiểm tra (check):                                       sudo {logs}
   Máy chủ (broker) phải trả lời tại {host}:{port} (TLS).

Chương trình được cài từ thư mục wheels/ (không tải từ internet). Nếu wheels/ trống, install.sh dừng:
tạo lại gói với --wheels (docs/deployment.md).
The software is installed from wheels/ only (never from the internet). With an empty wheels/ folder
install.sh stops: write the bundle again with --wheels (docs/deployment.md).
"""

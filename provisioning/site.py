"""``onestop provision site init`` and the broker files every other step regenerates.

``init_site`` is idempotent: it creates what is missing (the site file, the CA, the broker and hub
certificates, the secrets) and keeps what exists, saying so; the derived files (``mosquitto.conf``,
password file, ACL, units for the hub machine) are rewritten from the site file every time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from onestop.broker import TlsListener, render_acl, render_conf, render_password_file
from onestop.config import SiteConfig, load, split_listen
from onestop.credentials import ensure_credentials, secrets_dir
from onestop.toml_text import value as toml_value
from provisioning import pki
from provisioning.errors import ProvisionError
from provisioning.files import (
    SERVICE_USER,
    Layout,
    give_to_service_user,
    hand_to_broker,
    hand_to_service_user,
    match_owner,
    private_dir,
    write_private,
    write_public,
)
from provisioning.timesync import CHRONY_DROPIN, render_chrony_hub

SITE_ID = re.compile(r"^[a-z0-9-]+$")


def render_site_skeleton(
    *,
    site_id: str,
    name: str,
    agency: str,
    public_url: str,
    local_port: int,
    tls_port: int,
    data_dir: str,
    hub_tls_port: int = 8443,
) -> str:
    """A commented, valid ``site.toml`` to start from; the technician fills in the marked lines."""
    return f"""# Cấu hình điểm Một cửa (site configuration) — docs/configuration.md
# Tạo bởi `onestop provision site init`. Sửa các dòng có "ĐIỀN" (fill in), rồi chạy:
#   onestop provision site check --config site.toml
# Thiết bị (devices) được thêm bằng `onestop provision device add`, không sửa tay.

[site]
id = {toml_value(site_id)}                      # chữ thường, số, '-' (dùng trong MQTT topic)
name = {toml_value(name)}   # ĐIỀN: tên đơn vị
agency = {toml_value(agency)}                   # ĐIỀN: tiêu đề in trên phiếu
address = ""                                   # ĐIỀN: địa chỉ (in trên phiếu)
timezone = "Asia/Ho_Chi_Minh"
day_starts = "05:00"                           # giờ đặt lại số thứ tự mỗi ngày

[broker]
host = "127.0.0.1"   # các tiến trình trên máy chủ (hub) kết nối qua loopback
port = {local_port}
tls_port = {tls_port}       # cổng TLS cho thiết bị trong mạng LAN

[hub]
listen = "127.0.0.1:8080"      # HTTP, chỉ cho chính máy chủ (loopback)
tls_listen = "0.0.0.0:{hub_tls_port}"   # HTTPS cho mạng LAN: mã PIN, token không đi dạng rõ
public_url = {toml_value(public_url)}   # địa chỉ HTTPS của máy chủ trong LAN; in trong mã QR trên phiếu
# tls_cert = "hub/hub.crt"     # chứng chỉ do CA của điểm ký (site init tạo); tls_key = "hub/hub.key"

[storage]
dir = {toml_value(data_dir)}   # dữ liệu và mật khẩu (secrets)

# Lĩnh vực (services): mỗi lĩnh vực có dãy số riêng.
[[services]]
id = "tuphap"
name = "Tư pháp - Hộ tịch"        # ĐIỀN
prefix = "A"                      # số phiếu A001, A002, ...
digits = 3
hours = ["07:00-11:30", "13:30-17:00"]
days = ["mon", "tue", "wed", "thu", "fri"]
avg_service_min = 8

# Quầy (counters)
[[counters]]
id = "1"
label = "Quầy 1"                  # ĐIỀN
services = ["tuphap"]

# Cán bộ (officers)
# [[officers]]
# id = "cb001"
# name = "Nguyễn Văn A"

# Thiết bị (devices): thêm bằng `onestop provision device add ...`
"""


@dataclass
class Report:
    """What a provisioning step created, kept and rewrote, for the technician."""

    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per item, ready to print."""
        return [
            *(f"created  {x}" for x in self.created),
            *(f"kept     {x} (already there; not overwritten)" for x in self.kept),
            *(f"written  {x}" for x in self.written),
            *(f"note     {x}" for x in self.notes),
        ]


def _lan_hosts(cfg: SiteConfig, extra: list[str]) -> list[str]:
    hosts = list(extra)
    host = urlsplit(cfg.hub.public_url).hostname
    if host and host not in hosts:
        hosts.append(host)
    return hosts


def ensure_pki(
    cfg: SiteConfig, layout: Layout, lan_hosts: list[str], report: Report, *, renew_broker: bool = False
) -> None:
    """Create the CA and the broker certificate when missing; never replace an existing CA."""
    private_dir(layout.pki)
    private_dir(layout.broker)
    if layout.ca_key.exists() or layout.ca_cert.exists():
        ca_key, ca_cert = pki.load_key(layout.ca_key), pki.load_cert(layout.ca_cert)
        report.kept.append(f"{layout.ca_cert} and {layout.ca_key} (site CA)")
    else:
        ca_key, ca_cert = pki.make_ca(cfg.site.id)
        write_private(layout.ca_key, pki.key_pem(ca_key), exclusive=True)
        write_public(layout.ca_cert, pki.cert_pem(ca_cert).decode("ascii"))
        report.created.append(f"{layout.ca_cert} (site CA, {pki.CA_DAYS // 365} years) and its key")
    write_public(layout.broker_ca, pki.cert_pem(ca_cert).decode("ascii"))
    hosts = _lan_hosts(cfg, lan_hosts)
    if layout.broker_cert.exists() and layout.broker_key.exists() and not renew_broker:
        have = set(pki.san_hosts(pki.load_cert(layout.broker_cert)))
        report.kept.append(f"{layout.broker_cert} (broker certificate for {', '.join(sorted(have))})")
        missing = [h for h in hosts if h not in have]
        if missing:
            report.notes.append(
                f"the broker certificate does not name {', '.join(missing)}: "
                "run `site init` again with --renew-broker-cert"
            )
        return
    key, cert = pki.make_broker_cert(cfg.site.id, ca_key, ca_cert, hosts)
    write_private(layout.broker_key, pki.key_pem(key))
    write_public(layout.broker_cert, pki.cert_pem(cert).decode("ascii"))
    names = ", ".join(pki.san_hosts(cert))
    report.created.append(f"{layout.broker_cert} (broker certificate, {pki.BROKER_DAYS} days, for {names})")


#: The hub's HTTPS port in a new site file.
HUB_TLS_PORT = 8443


def hub_hosts(cfg: SiteConfig, extra: list[str]) -> list[str]:
    """The names the hub's certificate must cover: the LAN hosts, ``public_url``'s host and the
    listeners' addresses (not the wildcard ones); ``localhost`` and loopback are always added."""
    hosts = _lan_hosts(cfg, extra)
    for value in (cfg.hub.listen, cfg.hub.tls_listen):
        where = split_listen(value) if value else None
        if where and where[0] not in ("0.0.0.0", "::") and where[0] not in hosts:
            hosts.append(where[0])
    return hosts


def ensure_hub_cert(
    cfg: SiteConfig, layout: Layout, lan_hosts: list[str], report: Report, *, renew: bool = False
) -> None:
    """Create the hub's HTTPS key and certificate (signed by the site CA) at ``[hub] tls_cert`` and
    ``tls_key`` when missing; keep existing ones and say which wanted names they lack."""
    cert_path, key_path = cfg.site_path(cfg.hub.tls_cert), cfg.site_path(cfg.hub.tls_key)
    hosts = hub_hosts(cfg, lan_hosts)
    if cert_path.exists() and key_path.exists() and not renew:
        cert = pki.load_cert(cert_path)
        report.kept.append(f"{cert_path} (hub HTTPS certificate for {', '.join(pki.san_hosts(cert))})")
        missing = [h for h in hosts if not pki.names_host(cert, h)]
        if missing:
            report.notes.append(
                f"the hub certificate does not name {', '.join(missing)}: "
                "run `site init` again with --renew-hub-cert"
            )
        return
    for folder in {cert_path.parent, key_path.parent}:
        if folder == layout.hub:
            private_dir(folder)
        else:
            folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = pki.load_key(layout.ca_key), pki.load_cert(layout.ca_cert)
    key, cert = pki.make_hub_cert(cfg.site.id, ca_key, ca_cert, hosts)
    write_private(key_path, pki.key_pem(key))
    write_public(cert_path, pki.cert_pem(cert).decode("ascii"))
    names = ", ".join(pki.san_hosts(cert))
    report.created.append(
        f"{cert_path} (hub HTTPS certificate, {pki.BROKER_DAYS} days, for {names}) and its key"
    )
    if key_path.parent == layout.hub and hand_to_service_user([layout.hub, cert_path, key_path]):
        report.notes.append(f"{layout.hub} belongs to the {SERVICE_USER} user (the hub reads its key as it)")


#: Where Debian's mosquitto package keeps its database (owned by the mosquitto user).
SYSTEM_PERSISTENCE = Path("/var/lib/mosquitto")


def persistence_dir(cfg: SiteConfig, user: str | None) -> Path:
    """The broker's database folder: the system one when Mosquitto runs as its own user, else one in
    the site's data folder (a broker run as ``user``, e.g. by the tests)."""
    return SYSTEM_PERSISTENCE if user is None else cfg.data_dir / "mosquitto"


def render_broker_conf(
    cfg: SiteConfig, layout: Layout, *, user: str | None = None, tls_bind: str = ""
) -> str:
    """The site's ``mosquitto.conf``: loopback listener (plain) + LAN listener (TLS only), no anonymous;
    plus the bridge to the province when one is installed (:mod:`provisioning.bridge`)."""
    from provisioning.bridge import installed_bridge, with_bridge

    conf = render_conf(
        host="127.0.0.1",
        port=cfg.broker.port,
        password_file=layout.password_file,
        acl_file=layout.acl_file,
        log_path=None,
        persistence_dir=persistence_dir(cfg, user),
        user=user,
        tls=TlsListener(
            port=cfg.broker.tls_port,
            host=tls_bind,
            cafile=layout.broker_ca,
            certfile=layout.broker_cert,
            keyfile=layout.broker_key,
        ),
        header=(
            "# Generated by `onestop provision` from site.toml; edit site.toml and run it again.\n"
            "# Loopback listener for the hub machine's own processes; TLS listener for the LAN."
        ),
    )
    return with_bridge(conf, installed_bridge(layout))


def write_auth_files(cfg: SiteConfig, layout: Layout) -> dict[str, str]:
    """Create missing secrets and rewrite the password file and ACL from ``cfg``; return the passwords."""
    passwords = ensure_credentials(cfg)
    private_dir(layout.broker)
    write_private(layout.password_file, render_password_file(passwords))
    write_private(layout.acl_file, render_acl(cfg))
    match_owner([layout.password_file, layout.acl_file], layout.broker)
    # New secrets belong to whoever owns the folder (the onestop user on a hub machine).
    folder = secrets_dir(cfg)
    match_owner(sorted(folder.iterdir()), folder)
    return passwords


def write_broker_files(
    cfg: SiteConfig, layout: Layout, report: Report, *, user: str | None = None, tls_bind: str = ""
) -> None:
    """Rewrite ``mosquitto.conf``, the password file and the ACL; create the persistence folder."""
    before = _secret_names(cfg)
    write_auth_files(cfg, layout)
    new = sorted(_secret_names(cfg) - before)
    if new:
        report.created.append(f"secrets for {', '.join(new)} in {secrets_dir(cfg)} (0600)")
    if before:
        report.kept.append(f"secrets of {len(before)} account(s) in {secrets_dir(cfg)}")
    if user is not None:
        persistence_dir(cfg, user).mkdir(mode=0o700, parents=True, exist_ok=True)
    write_private(layout.broker_conf, render_broker_conf(cfg, layout, user=user, tls_bind=tls_bind))
    report.written.append(f"{layout.broker_conf}, {layout.password_file.name}, {layout.acl_file.name}")
    if user is None and hand_to_broker([layout.broker, *layout.broker.iterdir()]):
        report.notes.append(f"{layout.broker} now belongs to the mosquitto user (it rereads it on reload)")


def _secret_names(cfg: SiteConfig) -> set[str]:
    folder = secrets_dir(cfg)
    return {p.stem for p in folder.glob("*.secret")} if folder.is_dir() else set()


def init_site(
    directory: Path,
    *,
    site_id: str = "diem-mot-cua",
    name: str = "Bộ phận Một cửa",
    agency: str = "UBND",
    lan_hosts: list[str] | None = None,
    local_port: int = 1883,
    tls_port: int = 8883,
    data_dir: str = "var",
    broker_user: str | None = None,
    tls_bind: str = "",
    renew_broker_cert: bool = False,
    renew_hub_cert: bool = False,
    prefix: Path = Path("/opt/onestop"),
) -> Report:
    """Create (or complete) a site in ``directory``: site file, CA, broker certificate, secrets,
    broker files and the hub machine's systemd units. Existing CA, certificates and secrets are kept."""
    from provisioning.units import write_hub_units

    if not SITE_ID.match(site_id):
        raise ProvisionError(f"--site-id: expected lowercase letters, digits and '-', got {site_id!r}")
    report = Report()
    directory.mkdir(parents=True, exist_ok=True)
    layout = Layout(directory.resolve())
    hosts = list(lan_hosts or [])
    if layout.site_toml.exists():
        report.kept.append(f"{layout.site_toml}")
    else:
        url_host = hosts[0] if hosts else "127.0.0.1"
        url_host = f"[{url_host}]" if ":" in url_host else url_host
        text = render_site_skeleton(
            site_id=site_id,
            name=name,
            agency=agency,
            public_url=f"https://{url_host}:{HUB_TLS_PORT}",
            hub_tls_port=HUB_TLS_PORT,
            local_port=local_port,
            tls_port=tls_port,
            data_dir=data_dir,
        )
        write_public(layout.site_toml, text)
        report.created.append(f"{layout.site_toml} (fill in the lines marked ĐIỀN)")
    cfg = load(layout.site_toml)
    ensure_pki(cfg, layout, hosts, report, renew_broker=renew_broker_cert)
    ensure_hub_cert(cfg, layout, hosts, report, renew=renew_hub_cert)
    private_dir(cfg.data_dir)
    if give_to_service_user(cfg.data_dir):
        report.notes.append(f"{cfg.data_dir} belongs to the {SERVICE_USER} user (the services run as it)")
    write_broker_files(cfg, layout, report, user=broker_user, tls_bind=tls_bind)
    write_hub_units(cfg, layout, prefix=prefix)
    report.written.append(f"{layout.systemd}/ (units for the hub machine)")
    chrony = layout.root / "chrony" / "onestop.conf"
    chrony.parent.mkdir(exist_ok=True)
    write_public(chrony, render_chrony_hub())
    report.written.append(f"{chrony} (install as {CHRONY_DROPIN}: the site's time server)")
    return report

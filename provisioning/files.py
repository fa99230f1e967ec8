"""Where a site's provisioning files live, and how private files are written."""

from __future__ import annotations

import os
import pwd
import secrets
from dataclasses import dataclass
from pathlib import Path

from onestop.config import SiteConfig
from onestop.durable import atomic_write, fsync_dir

#: The broker's own unprivileged user on Debian and Raspberry Pi OS.
MOSQUITTO_USER = "mosquitto"
#: The unprivileged user the suite's services run as.
SERVICE_USER = "onestop"


@dataclass(frozen=True)
class Layout:
    """The files of one site, all in the folder of its ``site.toml``."""

    root: Path

    @classmethod
    def of(cls, cfg: SiteConfig) -> Layout:
        """The layout of a loaded site file."""
        return cls(Path(cfg.source).resolve().parent)

    @property
    def site_toml(self) -> Path:
        """The site file."""
        return self.root / "site.toml"

    @property
    def pki(self) -> Path:
        """The certificate authority's folder (0700; its key never leaves it)."""
        return self.root / "pki"

    @property
    def ca_cert(self) -> Path:
        """The site CA certificate (public: every device gets a copy)."""
        return self.pki / "ca.crt"

    @property
    def ca_key(self) -> Path:
        """The site CA private key (0600)."""
        return self.pki / "ca.key"

    @property
    def broker(self) -> Path:
        """The broker's folder (0700): config, passwords, ACL, its certificate and key."""
        return self.root / "broker"

    @property
    def broker_conf(self) -> Path:
        """The generated ``mosquitto.conf``."""
        return self.broker / "mosquitto.conf"

    @property
    def password_file(self) -> Path:
        """The broker's password file (hashes only)."""
        return self.broker / "passwd"

    @property
    def acl_file(self) -> Path:
        """The broker's ACL."""
        return self.broker / "acl"

    @property
    def broker_cert(self) -> Path:
        """The broker's TLS certificate."""
        return self.broker / "broker.crt"

    @property
    def broker_key(self) -> Path:
        """The broker's TLS private key (0600)."""
        return self.broker / "broker.key"

    @property
    def broker_ca(self) -> Path:
        """The broker's copy of the CA certificate (its ``cafile``)."""
        return self.broker / "ca.crt"

    @property
    def hub(self) -> Path:
        """The hub's folder (0700, the service user's): its HTTPS certificate and key by default."""
        return self.root / "hub"

    @property
    def systemd(self) -> Path:
        """Units for the hub machine (controller, hub, the Mosquitto drop-in)."""
        return self.root / "systemd"


def private_dir(path: Path) -> None:
    """Create ``path`` (and parents) and make it 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_private(path: Path, data: str | bytes, *, exclusive: bool = False) -> bool:
    """Write ``data`` to ``path`` atomically, 0600 from its first byte. With ``exclusive`` an existing
    file is kept (the write is published with a hard link); return False when it was kept."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        if not exclusive:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        if tmp.exists():
            tmp.unlink()
        fsync_dir(path.parent)  # the new name (and the temporary's removal) survive a power cut


def write_public(path: Path, data: str, mode: int = 0o644) -> None:
    """Write a non-secret file atomically and durably with ``mode``."""
    atomic_write(path, data.encode("utf-8"), mode=mode)


def hand_to_broker(paths: list[Path]) -> bool:
    """As root, give the broker's files to the ``mosquitto`` user (modes stay 0600/0700): Mosquitto 2
    rereads its password file and ACL after it has dropped root. Elsewhere, do nothing."""
    return _hand_to(MOSQUITTO_USER, paths)


def match_owner(paths: list[Path], like: Path) -> None:
    """As root, give ``paths`` the owner of ``like`` (rewritten broker files stay the broker's)."""
    if os.geteuid() != 0:
        return
    st = like.stat()
    for p in paths:
        if p.exists() and (p.stat().st_uid, p.stat().st_gid) != (st.st_uid, st.st_gid):
            os.chown(p, st.st_uid, st.st_gid)


def give_to_service_user(data_dir: Path) -> bool:
    """As root, when the ``onestop`` user exists, give it the data folder and its secrets folder."""
    if os.geteuid() != 0:
        return False
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        return False
    for folder in (data_dir, data_dir / "secrets"):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(folder, entry.pw_uid, entry.pw_gid)
    return True


def hand_to_service_user(paths: list[Path]) -> bool:
    """As root, when the ``onestop`` user exists, give it ``paths`` (the hub reads its TLS key as it)."""
    return _hand_to(SERVICE_USER, paths)


def _hand_to(user: str, paths: list[Path]) -> bool:
    """As root, when ``user`` exists, give it those of ``paths`` that exist; False otherwise."""
    if os.geteuid() != 0:
        return False
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return False
    for p in paths:
        if p.exists():
            os.chown(p, entry.pw_uid, entry.pw_gid)
    return True

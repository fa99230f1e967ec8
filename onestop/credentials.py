"""Per-account MQTT passwords, kept as one secret file per account under ``{data_dir}/secrets/``.

The broker side (``onestop up``, provisioning) calls :func:`ensure_credentials` to create whatever is
missing; every process reads its own password with :func:`read_secret`. A device installed on another
machine gets its password from the environment instead: when ``ONESTOP_MQTT_PASSWORD`` is set,
:func:`read_secret` returns it without looking at any file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from onestop.config import SiteConfig
from onestop.durable import fsync_dir
from onestop.errors import OnestopError
from onestop.protocol import CONTROLLER_ID, HUB_ID, MONITOR_ID

#: Environment variable that, when set, is the password of the process's own account.
PASSWORD_ENV = "ONESTOP_MQTT_PASSWORD"


class SecretNotFound(OnestopError, FileNotFoundError):
    """An account's secret file does not exist (or is empty)."""

    def __init__(self, account: str, path: Path) -> None:
        super().__init__(
            f"no MQTT password for account {account!r}: {path} is missing or empty "
            f"(run `onestop up` once to create it, or set {PASSWORD_ENV})"
        )
        self.account = account
        self.filename = str(path)

    def __str__(self) -> str:
        # OSError would print "[Errno None] None: 'path'" once ``filename`` is set.
        return str(self.args[0])


def generate_secret() -> str:
    """A new random password (32 URL-safe characters, never starting with ``-``)."""
    # A leading "-" would be taken for an option by `mosquitto_sub -P ...` on a technician's shell.
    while (value := secrets.token_urlsafe(24)).startswith("-"):
        pass
    return value


def secrets_dir(cfg: SiteConfig) -> Path:
    """The folder holding the site's secret files."""
    return cfg.data_dir / "secrets"


def secret_path(cfg: SiteConfig, account: str) -> Path:
    """The secret file of one account."""
    return secrets_dir(cfg) / f"{account}.secret"


def accounts(cfg: SiteConfig) -> list[str]:
    """Every broker account of the site: the controller, the hub, the read-only monitor, then each
    device in file order."""
    return [CONTROLLER_ID, HUB_ID, MONITOR_ID, *(d.id for d in cfg.devices)]


def _read(path: Path) -> str | None:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return value or None


def _create(path: Path, value: str) -> str:
    """Write ``value`` to ``path`` unless another process got there first; return what is stored."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            # A hard link publishes the complete file atomically and never replaces an existing
            # secret, so two processes starting at once cannot end up with different passwords.
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not path.exists():
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        fsync_dir(path.parent)  # the secret's name survives a power cut, as its content does
    stored = _read(path)
    if stored is None:
        raise SecretNotFound(path.stem, path)
    return stored


def ensure_credentials(cfg: SiteConfig) -> dict[str, str]:
    """Read every account's password, creating missing secret files (0600, folder 0700)."""
    folder = secrets_dir(cfg)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    out: dict[str, str] = {}
    for account in accounts(cfg):
        path = secret_path(cfg, account)
        out[account] = _read(path) or _create(path, generate_secret())
    return out


def read_secret(cfg: SiteConfig, account: str, *, own: bool = True) -> str:
    """The password of ``account``: ``$ONESTOP_MQTT_PASSWORD`` when set, else its secret file.

    The variable is the password of the process's *own* account, so it applies only when ``own``:
    a process that connects as several accounts (``onestop agents``, the simulator) passes
    ``own=False`` and reads each account's file, instead of giving all of them one password that
    the broker would refuse for all but one."""
    env = os.environ.get(PASSWORD_ENV)
    if env and own:
        return env
    path = secret_path(cfg, account)
    value = _read(path)
    if value is None:
        raise SecretNotFound(account, path)
    return value


# -- PINs of web keypads, and other small secrets kept next to the passwords ---------------------

#: Digits in a web keypad's PIN.
PIN_DIGITS = 6


class PinNotFound(SecretNotFound):
    """A web keypad's PIN file does not exist (or is empty)."""

    def __init__(self, device_id: str, path: Path) -> None:
        OnestopError.__init__(
            self, f"no PIN for web keypad {device_id!r}: {path} is missing or empty (start the hub once)"
        )
        self.account = device_id
        self.filename = str(path)


def generate_pin() -> str:
    """A new random PIN of :data:`PIN_DIGITS` digits (leading zeros allowed)."""
    return f"{secrets.randbelow(10**PIN_DIGITS):0{PIN_DIGITS}d}"


def pin_path(cfg: SiteConfig, device_id: str) -> Path:
    """The PIN file of one device (a web keypad)."""
    return secrets_dir(cfg) / f"{device_id}.pin"


def ensure_secret_file(path: Path, generate: Callable[[], str]) -> str:
    """Read a secret file, creating it with ``generate()`` when missing (0600, folder 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    return _read(path) or _create(path, generate())


def ensure_pin(cfg: SiteConfig, device_id: str) -> str:
    """The PIN of a web keypad device, creating its file (0600) when missing."""
    return ensure_secret_file(pin_path(cfg, device_id), generate_pin)


def read_pin(cfg: SiteConfig, device_id: str) -> str:
    """The PIN of a web keypad device; raise :class:`PinNotFound` when it has none."""
    path = pin_path(cfg, device_id)
    value = _read(path)
    if value is None:
        raise PinNotFound(device_id, path)
    return value

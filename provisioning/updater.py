"""A device updates itself from the hub's signed release, and rolls back when it does not come up.

Layout under the prefix (``/opt/onestop``)::

    venvs/9.0.0/          one virtual environment per version (``.complete`` once pip has finished)
    venvs/9.0.1/
    .venv -> venvs/9.0.1  what the units run (``/opt/onestop/.venv/bin/onestop``); replaced atomically
    downloads/9.0.1/      the release's wheels while it installs
    update-state.json     the failed versions (not retried) and an update in progress

Order of work, so that a power cut at any point leaves a ``.venv`` that runs: verify the manifest's
signature; download every file, checking size and SHA-256; build the new environment beside the old
one; record the update as pending; switch the link (``rename`` of a new link over the old one); restart
the device; wait for it to be healthy; confirm, or switch back and record the version as failed. A run
that finds a pending update (the power went during the health check) checks the health again first.
"""

from __future__ import annotations

import binascii
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from provisioning.install_script import DISTRIBUTION
from provisioning.release import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ReleaseError,
    decode_signature,
    parse_version,
    verify,
)

log = logging.getLogger("onestop.update")

#: How many environments stay on the card: the running one and the one before it.
KEEP = 2
COMPLETE = ".complete"
STATE = "update-state.json"
LINK = ".venv"
HEALTH_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 30.0

#: Exit statuses of ``onestop update``: 0 nothing to do or updated, 1 refused, 3 rolled back.
REFUSED, ROLLED_BACK = 1, 3


class Unhealthy(Exception):
    """Raised by a health check that knows the new version will not come up (no use waiting more)."""


Hook = Callable[[], None]
HealthCheck = Callable[[str, Path], bool]


@dataclass
class UpdateSettings:
    """Where things are and how the device is restarted and checked (tests replace the hooks)."""

    hub_url: str
    public_key: Ed25519PublicKey
    prefix: Path
    #: Restarts the device's process(es) on whatever ``.venv`` points at.
    restart: Hook
    #: ``(version, venv) -> healthy?``, asked until true or ``health_timeout_s``.
    healthy: HealthCheck
    health_timeout_s: float = HEALTH_TIMEOUT_S
    health_poll_s: float = 1.0
    allow_downgrade: bool = False
    ca_file: Path | None = None
    #: The interpreter that makes the environments (Raspberry Pi OS's, so lgpio from apt is seen).
    python: str = "/usr/bin/python3"
    system_site_packages: bool = True
    #: A site-packages folder the new environments also see (a ``.pth`` line): only for releases
    #: built without dependencies (``release build --no-deps``), e.g. in tests.
    inherit_site: Path | None = None
    #: An interpreter whose pip installs into the new environment (``pip --python``), which is then
    #: made without its own pip: seconds instead of tens of seconds (tests); None: the venv's own pip.
    pip_python: str | None = None
    max_download_bytes: int = 1 << 30
    #: Called with each chunk size as downloads progress (tests count bytes).
    on_chunk: Callable[[int], None] | None = None
    http: httpx.Client | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome:
    """What a run did, for the log and the exit status."""

    status: str  # up_to_date | updated | refused | rolled_back | skipped_failed | available
    version: str | None
    detail: str
    exit_code: int = 0


class Updater:
    """``check`` and ``apply`` for one device."""

    def __init__(self, settings: UpdateSettings) -> None:
        self.s = settings
        self.venvs = settings.prefix / "venvs"
        self.link = settings.prefix / LINK
        self.downloads = settings.prefix / "downloads"
        self.state_path = settings.prefix / STATE

    # -- state ---------------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """The saved state (failed versions, pending update); empty when unreadable."""
        try:
            data = json.loads(self.state_path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self.state_path.with_name(f".{STATE}.tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(state, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)
        _fsync_dir(self.state_path.parent)

    def current(self) -> str | None:
        """The version ``.venv`` points at (None: no link yet)."""
        try:
            target = os.readlink(self.link)
        except OSError:
            return None
        return Path(target).name

    # -- the hub -------------------------------------------------------------------------------

    def _client(self) -> httpx.Client:
        if self.s.http is not None:
            return self.s.http
        verify: Any = str(self.s.ca_file) if self.s.ca_file and self.s.ca_file.exists() else True
        return httpx.Client(timeout=HTTP_TIMEOUT_S, verify=verify, follow_redirects=False)

    def fetch_manifest(self, client: httpx.Client) -> Manifest:
        """The hub's latest release, its signature verified."""
        url = self.s.hub_url.rstrip("/") + "/api/releases/latest"
        with client.stream("GET", url) as r:
            if r.status_code == 404:
                raise ReleaseError("the hub has no published release")
            if r.status_code != 200:
                raise ReleaseError(f"{url}: HTTP {r.status_code}")
            body = _read_capped(r, 4 * MAX_MANIFEST_BYTES, url)
        try:
            data = json.loads(body)
            raw = data["manifest"].encode("utf-8")
            sig = decode_signature(data["signature"].encode("ascii"))
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeError, binascii.Error):
            raise ReleaseError(f"{url}: not a release answer") from None
        return verify(raw, sig, self.s.public_key)

    def _download(self, client: httpx.Client, m: Manifest) -> Path:
        """Every file of ``m`` into ``downloads/{version}``, each checked; the folder."""
        if m.total_size > self.s.max_download_bytes:
            raise ReleaseError(
                f"{m.version}: {m.total_size} bytes is over the {self.s.max_download_bytes} cap"
            )
        folder = self.downloads / m.version
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for f in m.files:
            url = f"{self.s.hub_url.rstrip('/')}/api/releases/{m.version}/{f.name}"
            part = folder / (f.name + ".part")
            h = hashlib.sha256()
            got = 0
            with client.stream("GET", url) as r:
                if r.status_code != 200:
                    raise ReleaseError(f"{f.name}: HTTP {r.status_code} from the hub")
                with part.open("wb") as out:
                    for chunk in r.iter_bytes(1 << 16):
                        got += len(chunk)
                        if got > f.size:
                            raise ReleaseError(f"{f.name}: more than the {f.size} bytes of the manifest")
                        h.update(chunk)
                        out.write(chunk)
                        if self.s.on_chunk:
                            self.s.on_chunk(len(chunk))
            if got != f.size:
                raise ReleaseError(f"{f.name}: {got} bytes arrived, the manifest says {f.size} (truncated)")
            if h.hexdigest() != f.sha256:
                raise ReleaseError(f"{f.name}: SHA-256 does not match the manifest")
            os.replace(part, folder / f.name)
        return folder

    # -- environments --------------------------------------------------------------------------

    def _complete(self, version: str) -> bool:
        return (self.venvs / version / COMPLETE).exists()

    def _build_venv(self, m: Manifest, wheels: Path) -> Path:
        """A new environment ``venvs/{version}`` with the release installed from ``wheels`` only."""
        venv = self.venvs / m.version
        if venv.exists():  # a half-built one from an interrupted run (never a complete, linked one)
            shutil.rmtree(venv)
        self.venvs.mkdir(parents=True, exist_ok=True)
        cmd = [self.s.python, "-m", "venv"]
        if self.s.system_site_packages:
            cmd.append("--system-site-packages")
        if self.s.pip_python:
            cmd.append("--without-pip")
        _run([*cmd, str(venv)], "creating the environment")
        if self.s.inherit_site is not None:
            site = next((venv / "lib").glob("python*/site-packages"))
            (site / "_onestop_inherit.pth").write_text(f"{self.s.inherit_site}\n", "utf-8")
        py = str(venv / "bin" / "python")
        pip = [self.s.pip_python, "-m", "pip", "--python", py] if self.s.pip_python else [py, "-m", "pip"]
        pip += ["install", "-q", "--no-index", "--no-cache-dir", "--disable-pip-version-check"]
        pip += ["--find-links", str(wheels)]
        if not m.complete:
            pip.append("--no-deps")
        _run([*pip, f"{DISTRIBUTION}=={m.version}"], f"installing {m.version}")
        (venv / COMPLETE).write_text(datetime.now(UTC).isoformat() + "\n", "utf-8")
        _fsync_dir(venv)
        return venv

    def _switch(self, version: str) -> None:
        """Point ``.venv`` at ``venvs/{version}`` in one rename."""
        tmp = self.link.with_name(f"{LINK}.new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        os.symlink(Path("venvs") / version, tmp)
        os.replace(tmp, self.link)
        _fsync_dir(self.link.parent)
        log.info("switched %s to %s", self.link, version)

    def _wait_healthy(self, version: str) -> bool:
        deadline = time.monotonic() + self.s.health_timeout_s
        wake = threading.Event()
        while True:
            try:
                if self.s.healthy(version, self.venvs / version):
                    return True
            except Unhealthy as exc:
                log.warning("%s is not healthy: %s", version, exc)
                return False
            except Exception as exc:  # a broken check is an unhealthy device, never a crash here
                log.warning("health check of %s: %s", version, exc)
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            wake.wait(min(self.s.health_poll_s, left))

    def _prune(self, keep: set[str]) -> None:
        """Delete environments and downloads beyond the running one and the one before it."""
        for p in sorted(self.venvs.iterdir()) if self.venvs.exists() else []:
            if p.name not in keep:
                shutil.rmtree(p, ignore_errors=True)
                log.info("removed the environment %s", p.name)
        shutil.rmtree(self.downloads, ignore_errors=True)

    # -- the two commands ----------------------------------------------------------------------

    def check(self) -> Outcome:
        """What ``apply`` would do, changing nothing."""
        client = self._client()
        try:
            m = self.fetch_manifest(client)
        except (ReleaseError, httpx.HTTPError) as exc:
            return Outcome("refused", None, f"no usable release: {exc}", REFUSED)
        finally:
            if self.s.http is None:
                client.close()
        return self._decide(m) or Outcome("available", m.version, f"{self.current()} -> {m.version}")

    def _decide(self, m: Manifest) -> Outcome | None:
        cur = self.current()
        if cur == m.version:
            return Outcome("up_to_date", m.version, f"already on {m.version}")
        if m.version in self.state().get("failed", []):
            return Outcome(
                "skipped_failed", m.version, f"{m.version} failed before; waiting for a newer release"
            )
        if cur is not None and _newer_or_equal(cur, m.version) and not self.s.allow_downgrade:
            return Outcome(
                "refused",
                m.version,
                f"{m.version} is older than {cur}: a downgrade (--allow-downgrade)",
                REFUSED,
            )
        return None

    def apply(self) -> Outcome:
        """Update to the hub's release if it is newer, healthy, and signed; roll back otherwise. One
        run at a time (the timer and a technician by hand): a second one waits for the first."""
        self.s.prefix.mkdir(parents=True, exist_ok=True)
        with (self.s.prefix / "update.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return self._apply()

    def _apply(self) -> Outcome:
        if self.link.exists() and not self.link.is_symlink():
            out = Outcome(
                "refused",
                None,
                f"{self.link} is a folder, not a link to venvs/VERSION: run the install.sh of a current "
                "bundle once (it moves the environment there), then update",
                REFUSED,
            )
            self._log(out)
            return out
        resumed = self._resume()
        if resumed is not None:
            return resumed
        client = self._client()
        try:
            m = self.fetch_manifest(client)
            decided = self._decide(m)
            if decided is not None:
                self._log(decided)
                return decided
            log.info(
                "release %s verified (%d files, %d bytes); downloading", m.version, len(m.files), m.total_size
            )
            wheels = self._download(client, m)
        except (ReleaseError, httpx.HTTPError, OSError) as exc:
            shutil.rmtree(self.downloads, ignore_errors=True)
            out = Outcome("refused", None, f"update refused, nothing changed: {exc}", REFUSED)
            self._log(out)
            return out
        finally:
            if self.s.http is None:
                client.close()
        try:
            self._build_venv(m, wheels)
        except (ReleaseError, OSError) as exc:  # pip failed, the card is full...
            shutil.rmtree(self.venvs / m.version, ignore_errors=True)
            shutil.rmtree(self.downloads, ignore_errors=True)
            out = Outcome("refused", m.version, f"update refused, nothing changed: {exc}", REFUSED)
            self._log(out)
            return out
        previous = self.current()
        state = self.state()
        state["pending"] = {
            "version": m.version,
            "previous": previous,
            "since": datetime.now(UTC).isoformat(),
        }
        self._save(state)
        self._switch(m.version)
        return self._settle(m.version, previous)

    def _settle(self, version: str, previous: str | None) -> Outcome:
        """Restart, wait for health, then confirm or roll back (shared with a resumed run)."""
        self.s.restart()
        ok = self._wait_healthy(version)
        state = self.state()
        state.pop("pending", None)
        if ok:
            state["last_ok"] = {"version": version, "at": datetime.now(UTC).isoformat()}
            self._save(state)
            self._prune({version} | ({previous} if previous else set()))
            out = Outcome("updated", version, f"updated {previous} -> {version}, healthy")
        elif previous is not None and self._complete(previous):
            self._switch(previous)
            self.s.restart()
            failed = [v for v in state.get("failed", []) if v != version] + [version]
            state["failed"] = failed[-20:]
            state["last_failure"] = {"version": version, "at": datetime.now(UTC).isoformat()}
            self._save(state)
            shutil.rmtree(self.venvs / version, ignore_errors=True)  # the one before stays too
            shutil.rmtree(self.downloads, ignore_errors=True)
            back = self._wait_healthy(previous)
            out = Outcome(
                "rolled_back",
                version,
                f"{version} did not come up healthy: rolled back to "
                f"{previous}{'' if back else ' (which is not healthy either)'}",
                ROLLED_BACK,
            )
        else:
            self._save(state)
            out = Outcome(
                "rolled_back",
                version,
                f"{version} is not healthy and there is nothing to go back to",
                ROLLED_BACK,
            )
        self._log(out)
        return out

    def _resume(self) -> Outcome | None:
        """Finish an update that a power cut interrupted after the switch."""
        pending = self.state().get("pending")
        if not isinstance(pending, dict):
            return None
        version, previous = pending.get("version"), pending.get("previous")
        if not isinstance(version, str) or self.current() != version:
            state = self.state()
            state.pop("pending", None)
            self._save(state)
            return None
        log.warning("an update to %s was interrupted before its health check: checking it now", version)
        return self._settle(version, previous if isinstance(previous, str) else None)

    def _log(self, out: Outcome) -> None:
        level = logging.INFO if out.exit_code == 0 else logging.ERROR
        log.log(level, "update %s: %s", out.status, out.detail)


def _newer_or_equal(a: str, b: str) -> bool:
    """``a`` >= ``b`` as versions (an unreadable ``a`` counts as older: a first install)."""
    try:
        return parse_version(a) >= parse_version(b)
    except ReleaseError:
        return False


def _read_capped(r: httpx.Response, cap: int, what: str) -> bytes:
    buf = bytearray()
    for chunk in r.iter_bytes():
        buf += chunk
        if len(buf) > cap:
            raise ReleaseError(f"{what}: answer over {cap} bytes")
    return bytes(buf)


def _clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH/PYTHONHOME: the new environment runs its own code only."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _run(cmd: list[str], what: str) -> None:
    run = subprocess.run(cmd, capture_output=True, text=True, env=_clean_env())
    if run.returncode != 0:
        raise ReleaseError(f"{what} failed: {(run.stderr or run.stdout).strip()[-1500:]}")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the default hooks on a device ---------------------------------------------------------------


def systemctl_restart(units: list[str]) -> Hook:
    """Restart the device's units (system units; a screen's user unit through the onestop user)."""

    def restart() -> None:
        for unit in units:
            run = subprocess.run(["systemctl", "restart", unit], capture_output=True, text=True)
            if run.returncode != 0:
                log.warning("systemctl restart %s: %s", unit, run.stderr.strip())

    return restart


def command_health(command: list[str], *, expect_version: bool = True) -> HealthCheck:
    """Healthy when ``command`` exits 0 (``{venv}`` and ``{version}`` in it are filled in) and, with
    ``expect_version``, prints the new version (the default command is ``{venv}/bin/onestop --version``)."""

    def healthy(version: str, venv: Path) -> bool:
        argv = [a.replace("{venv}", str(venv)).replace("{version}", version) for a in command]
        try:
            run = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=_clean_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("health command %s: %s", argv[0], exc)
            return False
        if run.returncode != 0:
            log.warning(
                "health command failed (%d): %s", run.returncode, (run.stderr or run.stdout).strip()[-300:]
            )
            return False
        return (
            not expect_version
            or re.search(rf"(?<![\d.]){re.escape(version)}(?![\d.])", run.stdout) is not None
        )

    return healthy


def unit_health(units: list[str], settle_s: float = 20.0, max_restarts: int = 3) -> HealthCheck:
    """Healthy once every unit has been ``active`` without a restart for ``settle_s`` (Type=notify
    units are active only after READY=1, i.e. connected to the broker); :class:`Unhealthy` once a unit
    has restarted ``max_restarts`` times since the check began (it keeps crashing)."""
    seen: dict[str, tuple[str, float]] = {}
    first_restarts: dict[str, int] = {}

    def healthy(_version: str, _venv: Path) -> bool:
        now = time.monotonic()
        ok = True
        for unit in units:
            run = subprocess.run(
                ["systemctl", "show", "-p", "ActiveState", "-p", "NRestarts", "--value", unit],
                capture_output=True,
                text=True,
            )
            fields = run.stdout.split()
            restarts = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 0
            if restarts - first_restarts.setdefault(unit, restarts) >= max_restarts:
                raise Unhealthy(f"{unit} restarted {max_restarts} times")
            state = " ".join(fields)
            if not state.startswith("active"):
                seen.pop(unit, None)
                ok = False
                continue
            first = seen.setdefault(unit, (state, now))
            if first[0] != state:
                seen[unit] = (state, now)
                ok = False
            elif now - first[1] < settle_s:
                ok = False
        return ok

    return healthy


def all_of(*checks: HealthCheck) -> HealthCheck:
    """Healthy when every check is."""
    return lambda version, venv: all(c(version, venv) for c in checks)

"""Fleet updates end to end: releases built by the test, served by a real hub, taken by a device.

Three releases of this project are built from copies of its source (9.0.0, 9.0.1, and 9.0.2 whose
entry point fails), without dependencies: the device's environments see the test's own packages
through a ``.pth`` line (``inherit_site``), so nothing is installed twice. The device is a real counter
agent started from ``prefix/.venv/bin/onestop`` on a real broker; "healthy" is what the hub saw over
MQTT (the device online with the new version) and the new entry point answering ``--version``.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tarfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from hub_api.routers.devices import alerts_of, devices_of
from onestop.broker import Broker
from onestop.config import SiteConfig
from provisioning.release import (
    ReleaseError,
    _copy_source,
    build_release,
    keygen,
    latest,
    load_public_key,
    publish,
    releases_dir,
)
from provisioning.updater import (
    REFUSED,
    ROLLED_BACK,
    Unhealthy,
    Updater,
    UpdateSettings,
    all_of,
    command_health,
)
from tests.utils.web import HubServer

#: The first test also builds the three wheels (30-90 s on a busy machine), beyond the default 120 s.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(400)]

SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])
DEVICE = "counter-1"
#: Long enough for a counter agent to start and connect on a busy machine; a broken release does not
#: wait it out (its process exits: Unhealthy).
HEALTH_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The signing key pair and three release tarballs (built once for the module)."""
    root = tmp_path_factory.mktemp("releases")
    key, pub = keygen(root / "keys")
    out: dict[str, Path] = {"key": key, "pub": pub}
    for version in ("9.0.0", "9.0.1", "9.0.2"):
        src = root / f"src-{version}"
        _copy_source(src, version)
        if version == "9.0.2":  # installs fine, then cannot even start
            cli = src / "onestop" / "cli.py"
            cli.write_text(cli.read_text("utf-8") + '\nraise SystemExit("9.0.2 is broken on purpose")\n')
        out[version] = build_release(root / "out", key, version=version, source=src, deps=False)
        shutil.rmtree(src)
    return out


class CounterDevice:
    """The device's process, run from whatever ``prefix/.venv`` points at (the restart hook)."""

    def __init__(self, cfg: SiteConfig, prefix: Path, broker: str, log: Path) -> None:
        self.cfg, self.prefix, self.broker, self.log = cfg, prefix, broker, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.started_at = datetime.now(UTC)

    def restart(self) -> None:
        self.stop()
        self.started_at = datetime.now(UTC)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NOTIFY_SOCKET")}
        argv = [str(self.prefix / ".venv" / "bin" / "onestop"), "counter", "run", "--config", self.cfg.source,
                "--device", DEVICE, "--broker", self.broker]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.restarts += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def site(
    hub_server: HubServer, broker: Broker, site_cfg: SiteConfig, tmp_path: Path
) -> Iterator[tuple[HubServer, CounterDevice]]:
    """The hub on loopback and the counter device (not started)."""
    dev = CounterDevice(site_cfg, tmp_path / "opt", f"{broker.host}:{broker.port}", tmp_path / "device.log")
    yield hub_server, dev
    dev.stop()


def _hub_sees(srv: HubServer) -> dict[str, object]:
    assert srv.hub is not None
    return next(d for d in devices_of(srv.hub) if d["id"] == DEVICE)


def _updater(srv: HubServer, dev: CounterDevice, pub: Path, **kw: object) -> Updater:
    def seen_online(version: str, _venv: Path) -> bool:
        if dev.proc is not None and dev.proc.poll() is not None:
            raise Unhealthy(f"the device's process exited with status {dev.proc.returncode}")
        d = _hub_sees(srv)
        # Only a status sent by the process started last counts: the hub may not have heard yet that
        # the one before went offline.
        fresh = isinstance(d["status_ts"], str) and datetime.fromisoformat(d["status_ts"]) >= dev.started_at
        return fresh and d["online"] is True and d["version"] == version

    settings = UpdateSettings(
        hub_url=srv.url,
        public_key=load_public_key(pub),
        prefix=dev.prefix,
        restart=dev.restart,
        healthy=all_of(seen_online, command_health(["{venv}/bin/onestop", "--version"])),
        health_timeout_s=HEALTH_TIMEOUT_S,
        health_poll_s=0.2,
        python=str(Path(os.path.realpath(SITE_PACKAGES.parents[2] / "bin" / "python"))),
        system_site_packages=False,
        inherit_site=SITE_PACKAGES,
        pip_python=sys.executable,  # no pip of its own in each environment: 0.3 s instead of 10 s
    )
    for k, v in kw.items():
        setattr(settings, k, v)
    return Updater(settings)


def _first_install(dev: CounterDevice, tar: Path, tmp_path: Path, *, runs: bool = True) -> None:
    """What install.sh does: the first environment, and ``.venv`` linking to it (``runs=False``: an
    empty one, for tests that never start the device)."""
    if not runs:
        (dev.prefix / "venvs" / "9.0.0").mkdir(parents=True)
        (dev.prefix / "venvs" / "9.0.0" / ".complete").write_text("install.sh\n", "utf-8")
        os.symlink("venvs/9.0.0", dev.prefix / ".venv")
        return
    wheels = tmp_path / "first"
    with tarfile.open(tar) as t:
        t.extractall(wheels, filter="data")
    venv = dev.prefix / "venvs" / "9.0.0"
    py = os.path.realpath(SITE_PACKAGES.parents[2] / "bin" / "python")
    subprocess.run([py, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    (site / "_onestop_inherit.pth").write_text(f"{SITE_PACKAGES}\n", "utf-8")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q"]
    pip += ["--no-index", "--no-deps", "--find-links", str(wheels / "wheels"), "onestop-queue==9.0.0"]
    subprocess.run(pip, check=True)
    (venv / ".complete").write_text("install.sh\n", "utf-8")
    os.symlink("venvs/9.0.0", dev.prefix / ".venv")


def _publish(srv: HubServer, tar: Path, pub: Path) -> None:
    publish(tar, srv.cfg.data_dir, load_public_key(pub))


def test_update_then_rollback_of_a_release_that_does_not_come_up(
    site: tuple[HubServer, CounterDevice], releases: dict[str, Path], tmp_path: Path
) -> None:
    srv, dev = site
    _first_install(dev, releases["9.0.0"], tmp_path)
    dev.restart()
    up = _updater(srv, dev, releases["pub"])
    assert up._wait_healthy("9.0.0"), (dev.log.read_text(errors="replace"), _hub_sees(srv))

    # Nothing published: refused, nothing changed.
    out = up.apply()
    assert (out.status, out.exit_code) == ("refused", REFUSED) and "no published release" in out.detail

    # 9.0.1: verified, installed beside 9.0.0, switched, restarted, seen online with 9.0.1 by the hub.
    _publish(srv, releases["9.0.1"], releases["pub"])
    assert up.check().status == "available"
    out = up.apply()
    assert (out.status, out.version) == ("updated", "9.0.1"), (out, dev.log.read_text(errors="replace"))
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.1"
    assert sorted(p.name for p in (dev.prefix / "venvs").iterdir()) == ["9.0.0", "9.0.1"]
    assert _hub_sees(srv)["version"] == "9.0.1" and _hub_sees(srv)["online"] is True
    assert up.apply().status == "up_to_date"
    assert srv.hub is not None and not [a for a in alerts_of(srv.hub) if a.kind == "device_outdated"]

    # 9.0.2 installs but its entry point fails: back to 9.0.1, which the hub sees online again.
    _publish(srv, releases["9.0.2"], releases["pub"])
    restarts = dev.restarts
    out = up.apply()
    assert (out.status, out.version, out.exit_code) == ("rolled_back", "9.0.2", ROLLED_BACK), out
    assert "rolled back to 9.0.1" in out.detail and "not healthy either" not in out.detail
    assert dev.restarts == restarts + 2  # on 9.0.2, then on 9.0.1 again
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.1"
    assert _hub_sees(srv)["version"] == "9.0.1" and _hub_sees(srv)["online"] is True
    assert "9.0.2 is broken on purpose" in dev.log.read_text(errors="replace")
    assert sorted(p.name for p in (dev.prefix / "venvs").iterdir()) == ["9.0.0", "9.0.1"]  # 9.0.2 gone
    assert not (dev.prefix / "downloads").exists()
    assert up.state()["failed"] == ["9.0.2"] and "pending" not in up.state()
    # The dashboard's alert: the device is not on the published release.
    outdated = [a for a in alerts_of(srv.hub) if a.kind == "device_outdated"]
    assert [(a.device, a.message_en) for a in outdated] == [
        (DEVICE, f"Device {DEVICE} runs 9.0.1, not the published release 9.0.2")
    ]
    # Not retried every day: the next run skips it, restarting nothing.
    out = up.apply()
    assert (out.status, out.exit_code) == ("skipped_failed", 0) and dev.restarts == restarts + 2

    # A downgrade to 9.0.0 (the older release published again) is refused unless allowed.
    _publish(srv, releases["9.0.0"], releases["pub"])
    out = up.apply()
    assert (out.status, out.exit_code) == ("refused", REFUSED) and "downgrade" in out.detail
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.1" and dev.restarts == restarts + 2
    # ... and taken when the technician allows it on the device.
    out = _updater(srv, dev, releases["pub"], allow_downgrade=True).apply()
    assert (out.status, out.version) == ("updated", "9.0.0"), out
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.0" and _hub_sees(srv)["version"] == "9.0.0"


def _serve_tampered(srv: HubServer, version: str, change: str) -> None:
    """Change the published release on the hub's disk the way an attacker (or a bad disk) would."""
    pub = latest(srv.cfg.data_dir)
    assert pub is not None and pub.version == version
    folder = releases_dir(srv.cfg.data_dir) / version
    manifest = json.loads(pub.manifest)
    wheel = folder / manifest["files"][0]["name"]
    if change == "signature":
        sig = bytearray(base64.b64decode(pub.signature))
        sig[5] ^= 1
        (folder / "manifest.sig").write_bytes(base64.b64encode(bytes(sig)))
    elif change == "manifest":  # a bigger size, signature kept
        manifest["files"][0]["size"] += 1
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    elif change == "hash":  # same size, other bytes
        data = bytearray(wheel.read_bytes())
        data[100] ^= 0xFF
        wheel.write_bytes(bytes(data))
    elif change == "truncated":
        wheel.write_bytes(wheel.read_bytes()[:-1000])
    elif change == "longer":
        wheel.write_bytes(wheel.read_bytes() + b"\0" * 100_000)


@pytest.mark.parametrize("change", ["signature", "manifest", "hash", "truncated", "longer"])
def test_a_tampered_release_is_refused_and_changes_nothing(
    site: tuple[HubServer, CounterDevice],
    releases: dict[str, Path],
    tmp_path: Path,
    change: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv, dev = site
    _first_install(dev, releases["9.0.0"], tmp_path, runs=False)
    _publish(srv, releases["9.0.1"], releases["pub"])
    _serve_tampered(srv, "9.0.1", change)
    received: list[int] = []
    up = _updater(srv, dev, releases["pub"], on_chunk=received.append)
    with caplog.at_level("ERROR", logger="onestop.update"):
        out = up.apply()
    assert (out.status, out.exit_code) == ("refused", REFUSED), out
    expected = {
        "signature": "signature does not match",
        "manifest": "signature does not match",
        "hash": "SHA-256 does not match",
        "truncated": "(truncated)",
        "longer": "more than the",
    }[change]
    assert expected in out.detail and "nothing changed" in out.detail
    assert any(expected in r.getMessage() for r in caplog.records)  # one clear log line
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.0" and dev.restarts == 0
    assert sorted(p.name for p in (dev.prefix / "venvs").iterdir()) == ["9.0.0"]
    assert not (dev.prefix / "downloads").exists()
    if change == "longer":  # stopped at the manifest's size, not after the whole answer
        assert sum(received) <= json.loads(latest(srv.cfg.data_dir).manifest)["files"][0]["size"]  # type: ignore[union-attr]


def test_a_release_over_the_device_cap_is_refused_before_any_download(
    site: tuple[HubServer, CounterDevice], releases: dict[str, Path], tmp_path: Path
) -> None:
    srv, dev = site
    _first_install(dev, releases["9.0.0"], tmp_path, runs=False)
    _publish(srv, releases["9.0.1"], releases["pub"])
    received: list[int] = []
    out = _updater(srv, dev, releases["pub"], max_download_bytes=1000, on_chunk=received.append).apply()
    assert out.status == "refused" and "cap" in out.detail and received == []


def test_publish_refuses_a_release_signed_with_another_key(
    site: tuple[HubServer, CounterDevice], releases: dict[str, Path], tmp_path: Path
) -> None:
    srv, _dev = site
    _other, other_pub = keygen(tmp_path / "other-keys")
    with pytest.raises(ReleaseError, match="signature does not match"):
        publish(releases["9.0.1"], srv.cfg.data_dir, load_public_key(other_pub))
    assert latest(srv.cfg.data_dir) is None
    with httpx.Client() as c:
        assert c.get(srv.url + "/api/releases/latest").status_code == 404
        assert c.get(srv.url + "/api/releases/9.0.1/..%2f..%2fsite.toml").status_code == 404


def test_a_power_cut_during_the_health_check_is_finished_by_the_next_run(
    site: tuple[HubServer, CounterDevice], releases: dict[str, Path], tmp_path: Path
) -> None:
    """The link points at the new version, unconfirmed: the next run checks it and keeps or rolls back."""
    srv, dev = site
    _first_install(dev, releases["9.0.0"], tmp_path)
    _publish(srv, releases["9.0.2"], releases["pub"])
    cut = threading.Event()

    def power_cut() -> None:
        cut.set()
        raise KeyboardInterrupt  # the process dies right after the switch

    up = _updater(srv, dev, releases["pub"], restart=power_cut)
    with pytest.raises(KeyboardInterrupt):
        up.apply()
    assert cut.is_set() and os.readlink(dev.prefix / ".venv") == "venvs/9.0.2"
    assert up.state()["pending"]["previous"] == "9.0.0"
    # The machine comes back: the next run (the timer's OnBootSec) finds it unhealthy and rolls back.
    out = _updater(srv, dev, releases["pub"]).apply()
    assert out.status == "rolled_back" and "rolled back to 9.0.0" in out.detail
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.0"
    assert _hub_sees(srv)["version"] == "9.0.0"


def test_the_technician_and_device_commands(
    site: tuple[HubServer, CounterDevice],
    releases: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """keygen, build from a wheels folder, publish on the hub, and a device's check, as typed."""
    from onestop.cli import main

    srv, dev = site
    _first_install(dev, releases["9.0.0"], tmp_path, runs=False)
    assert main(["release", "keygen", "--out", str(tmp_path / "laptop")]) == 0
    key, pub = tmp_path / "laptop" / "release.key", tmp_path / "laptop" / "release.pub"
    assert main(["release", "keygen", "--out", str(tmp_path / "laptop")]) == 2  # never overwritten
    with tarfile.open(releases["9.0.1"]) as t:
        t.extractall(tmp_path / "unpacked", filter="data")
    build = ["release", "build", "--out", str(tmp_path / "out"), "--key", str(key)]
    assert main([*build, "--wheels", str(tmp_path / "unpacked" / "wheels"), "--version", "9.0.1"]) == 0
    tar = tmp_path / "out" / "onestop-release-9.0.1.tar"
    assert main(["release", "publish", str(tar), "--config", srv.cfg.source]) == 2  # no release.pub there
    assert "release.pub" in capsys.readouterr().err
    assert main(["release", "publish", str(tar), "--config", srv.cfg.source, "--key", str(pub)]) == 0
    assert "published 9.0.1 (1 files" in capsys.readouterr().out
    with httpx.Client() as c:
        answer = c.get(srv.url + "/api/releases/latest").json()
        assert answer["version"] == "9.0.1" and json.loads(answer["manifest"])["version"] == "9.0.1"
    device = ["update", "check", "--config", srv.cfg.source, "--device", DEVICE, "--hub-url", srv.url,
              "--prefix", str(dev.prefix)]  # fmt: skip
    assert main([*device, "--key", str(pub)]) == 0
    assert capsys.readouterr().out.strip() == "available: 9.0.0 -> 9.0.1"
    assert main([*device, "--key", str(releases["pub"])]) == REFUSED  # signed with another key
    assert "signature does not match" in capsys.readouterr().out
    assert os.readlink(dev.prefix / ".venv") == "venvs/9.0.0"

"""A dry run of the hub machine as its generated units run it, where systemd cannot run as PID 1
(docs/deployment.md): ``provision site init`` and ``provision backend set`` write the site, the
broker's files and the units; the broker runs the generated ``mosquitto.conf`` untouched; the
controller and the hub run the units' ``ExecStart`` with their ``Environment=``, their
``WorkingDirectory=`` and their ``LoadCredential=`` handed over as ``$CREDENTIALS_DIRECTORY`` (what
systemd does). A kiosk and a counter then serve a citizen, and the reference back end receives the
queue record with the provisioned token. Not covered here: ``User=`` and the sandboxing, which
``systemd-analyze verify`` and ``security --offline`` check (tests/unit/test_systemd_units.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from onestop.broker import free_port
from onestop.config import SiteConfig, load
from onestop.credentials import read_secret
from onestop.device import DeviceClient
from onestop.fake_backend import BackendServer, FakeBackend
from provisioning.backend import set_backend
from tests.utils.provisioned import ProvisionedBroker, provision_site

pytestmark = pytest.mark.integration

TOKEN = "tq-tthc-dry-run-7c1e5a"
#: Where the units expect the virtual environment: ``{prefix}/.venv`` (the checkout's, under make test).
PREFIX = Path(sys.prefix).parent if Path(sys.prefix).name == ".venv" else None


def parse_unit(path: Path) -> dict[str, list[str]]:
    """``key: [values]`` of a unit's ``[Service]`` section (every key may repeat)."""
    out: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def start_as_unit(path: Path, tmp: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Run a unit's ExecStart as systemd would (environment, working directory, credentials)."""
    unit = parse_unit(path)
    (exec_start,) = [v for v in unit["ExecStart"] if v]
    argv = shlex.split(exec_start)
    assert Path(argv[0]).exists(), f"{path.name}: {argv[0]} is not installed"
    environ = dict(env)
    for assignment in unit.get("Environment", []):
        key, _, value = shlex.split(assignment)[0].partition("=")
        environ[key] = value
    creds = tmp / f"credentials-{path.stem}"
    creds.mkdir()
    for spec in unit.get("LoadCredential", []):
        name, _, source = spec.partition(":")
        shutil.copyfile(source, creds / name)
        (creds / name).chmod(0o400)
    if unit.get("LoadCredential"):
        environ["CREDENTIALS_DIRECTORY"] = str(creds)
    (workdir,) = unit["WorkingDirectory"]
    Path(workdir).mkdir(parents=True, exist_ok=True)
    log = (tmp / f"{path.stem}.log").open("wb")
    return subprocess.Popen(argv, cwd=workdir, env=environ, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def backend() -> Iterator[BackendServer]:
    server = BackendServer(FakeBackend(TOKEN)).start()
    yield server
    server.stop()


@pytest.mark.skipif(PREFIX is None or not (PREFIX / ".venv" / "bin" / "onestop").exists(),
                    reason="needs the checkout's .venv (make test)")  # fmt: skip
def test_the_hub_machine_runs_from_its_units_and_forwards_with_the_provisioned_token(
    tmp_path: Path, backend: BackendServer
) -> None:
    assert PREFIX is not None
    hub_port = free_port()
    site_dir = tmp_path / "site"
    provision_site(
        site_dir, {"hub": {"listen": f"127.0.0.1:{hub_port}", "public_url": f"http://127.0.0.1:{hub_port}"}}
    )
    set_backend(site_dir / "site.toml", url=f"{backend.url}/onestop", token=TOKEN, prefix=PREFIX)
    cfg: SiteConfig = load(site_dir / "site.toml")
    units = site_dir / "systemd"
    assert TOKEN not in (units / "onestop-hub.service").read_text()  # the unit names the file only
    broker = ProvisionedBroker(cfg, tmp_path / "run")
    broker.start()
    # No token in the environment: the hub must get it from its credential, as installed.
    env = {k: v for k, v in os.environ.items() if k != cfg.backend.token_env}  # type: ignore[union-attr]
    procs = [
        start_as_unit(units / f"onestop-{name}.service", tmp_path, env) for name in ("controller", "hub")
    ]
    devices: list[DeviceClient] = []
    try:
        stop = threading.Event()
        for _ in range(150):  # the hub's HTTP port from outside: there is no event to wait on
            try:
                health = httpx.get(f"http://127.0.0.1:{hub_port}/healthz", timeout=2).json()
                if health.get("controller_online") and health.get("broker_connected"):
                    break
            except httpx.HTTPError:
                pass
            assert all(p.poll() is None for p in procs), (tmp_path / "onestop-hub.log").read_text()[-2000:]
            stop.wait(0.2)
        else:
            pytest.fail(
                "the hub never saw the controller: " + (tmp_path / "onestop-hub.log").read_text()[-2000:]
            )
        for dev_id, role in (("kiosk-1", "kiosk"), ("counter-1", "counter")):
            d = DeviceClient(cfg.site.id, dev_id, role, host="127.0.0.1", port=cfg.broker.port,
                             password=read_secret(cfg, dev_id, own=False))  # fmt: skip
            d.start(wait=10)
            devices.append(d)
        kiosk, counter = devices
        counter.request("open", {"officer": "cb001"})
        number = kiosk.request("issue", {"service": "tuphap"})["ticket"]["number"]
        assert counter.request("call_next")["ticket"]["number"] == number
        counter.request("finish")
        assert backend.backend.wait_for(lambda: len(backend.backend.records("queue-records")) == 1, 30), (
            tmp_path / "onestop-hub.log"
        ).read_text()[-2000:]
        (record,) = backend.backend.records("queue-records")
        assert (record["site"], record["record"]["number"], record["record"]["outcome"]) == (
            cfg.site.id,
            number,
            "done",
        )
        assert backend.backend.stats()["by_status"].get("401", 0) == 0  # the provisioned token, accepted
    finally:
        for d in devices:
            d.stop()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        broker.stop()


def test_a_kms_kiosk_unit_from_its_bundle_prepares_kivy_and_waits_for_a_display(tmp_path: Path) -> None:
    """The bundle's unit of a kiosk without a desktop: its ``ExecStartPre`` run as systemd would (the
    unit's environment; only its folders moved into tmp and a fake ``/sys`` added) waits while no
    display is connected, ends when one is, and leaves Kivy's configuration where ``KIVY_HOME`` says;
    Kivy then reads the touch input from it with the unit's environment. ``systemd-analyze verify``
    of the same unit: tests/unit/test_systemd_units.py."""
    from provisioning.devices import add_device, bundle_device
    from provisioning.kms import KIVY_INPUT
    from provisioning.reload import no_reload

    site_dir = tmp_path / "site"
    provision_site(site_dir)
    config = site_dir / "site.toml"
    add_device(config, "kiosk-77", "kiosk", reload=no_reload)
    root = bundle_device(config, "kiosk-77", tmp_path / "usb")
    unit = parse_unit(root / "systemd" / "onestop-kiosk-77.service")
    assert unit["Restart"] == ["always"] and unit["TimeoutStartSec"] == ["infinity"]
    data = tmp_path / "var-lib-onestop"
    environ = dict(os.environ)
    for assignment in unit["Environment"]:
        key, _, value = shlex.split(assignment)[0].partition("=")
        environ[key] = value.replace("/var/lib/onestop", str(data))
    (pre,) = unit["ExecStartPre"]
    argv = [a.replace("/var/lib/onestop", str(data)) for a in shlex.split(pre)]
    assert argv[1:5] == ["provision", "screen", "prepare", "--kivy-home"]
    argv[0] = str(Path(sys.executable).with_name("onestop"))  # the checkout's, not /opt/onestop's
    if not Path(argv[0]).exists():
        argv[0:1] = [sys.executable, "-m", "onestop"]
    sysfs = tmp_path / "sys"
    status = sysfs / "class" / "drm" / "card1-HDMI-A-1" / "status"
    status.parent.mkdir(parents=True)
    status.write_text("disconnected\n")
    proc = subprocess.Popen([*argv, "--sysfs", str(sysfs), "--poll", "0.1"], env=environ,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    waiting = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "no display connected" in line:
                waiting.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert waiting.wait(60), "".join(lines)
        assert proc.poll() is None
        status.write_text("connected\n")
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    code = "from kivy.config import Config; print(dict(Config.items('input')))"
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == repr(KIVY_INPUT)
    assert environ["KIVY_HOME"] == str(data / "kivy") and (data / "kivy" / "config.ini").exists()

"""The generated systemd units: hardening and watchdog settings, and ``systemd-analyze verify``.

``systemd-analyze verify`` (systemd 252) fails when an ExecStart binary does not exist, and only
*warns* (exit status 0) about unknown keys. So the units are rendered with a prefix where a stand-in
``onestop`` executable exists, and the test asserts both the exit status and an empty output. User
units are verified with ``--user`` (it needs ``XDG_RUNTIME_DIR``, a temporary folder here).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from onestop.config import SiteConfig
from provisioning.units import HARDENING, UnitSpec, device_unit_spec, hub_unit_specs, render_unit
from tests.conftest import SiteFactory

SYSTEMD_ANALYZE = shutil.which("systemd-analyze") or "/usr/bin/systemd-analyze"


def _prefix(tmp_path: Path) -> Path:
    prefix = tmp_path / "opt"
    for exe in (prefix / ".venv" / "bin" / "onestop", prefix / "bin" / "onestop-tv-board"):
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return prefix


def _specs(cfg: SiteConfig, prefix: Path) -> list[UnitSpec]:
    return [*hub_unit_specs(cfg, Path(cfg.source), prefix=prefix),
            *(device_unit_spec(cfg, d, prefix=prefix) for d in cfg.devices)]  # fmt: skip


def _verify(unit: Path, *, user: bool, runtime: Path) -> subprocess.CompletedProcess[str]:
    argv = [SYSTEMD_ANALYZE, *(["--user"] if user else []), "verify", "--man=no", str(unit)]
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "SYSTEMD_LOG_COLOR": "0"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture
def site_with_every_role(site_factory: SiteFactory) -> SiteConfig:
    from tests.utils.site import SITE

    devices = [*SITE["devices"], {"id": "led-1", "role": "board", "display": {"backend": "sim"}}]
    return site_factory({"devices": devices})


@pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze is not installed")
def test_every_generated_unit_passes_systemd_analyze_verify(
    site_with_every_role: SiteConfig, tmp_path: Path
) -> None:
    prefix = _prefix(tmp_path)
    out_dir = tmp_path / "units"
    out_dir.mkdir()
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    specs = _specs(site_with_every_role, prefix)
    assert {s.name for s in specs} >= {
        "onestop-controller",
        "onestop-hub",
        "onestop-kiosk-1",
        "onestop-led-1",
    }
    for spec in specs:
        unit = out_dir / f"{spec.name}.service"
        unit.write_text(render_unit(spec))
        done = _verify(unit, user=spec.user_unit, runtime=runtime)
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), spec.name


@pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze is not installed")
def test_verify_catches_a_bad_unit(tmp_path: Path) -> None:
    """The check above can fail: a missing binary and an unknown key are both reported."""
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    unit = tmp_path / "onestop-bad.service"
    unit.write_text(render_unit(UnitSpec("onestop-bad", "bad", ["/nonexistent/onestop", "x"])))
    done = _verify(unit, user=False, runtime=runtime)
    assert done.returncode != 0 and "not executable" in done.stderr
    prefix = _prefix(tmp_path)
    text = render_unit(UnitSpec("onestop-bad", "bad", [str(prefix / ".venv/bin/onestop")]))
    unit.write_text(text.replace("Restart=always", "Restart=always\nWatchdogSecs=3"))
    done = _verify(unit, user=False, runtime=runtime)
    assert "Unknown key" in done.stderr


def test_system_units_are_hardened_with_a_watchdog(site_with_every_role: SiteConfig, tmp_path: Path) -> None:
    for spec in _specs(site_with_every_role, tmp_path):
        text = render_unit(spec)
        assert "Restart=always" in text and "RestartSec=" in text and "NoNewPrivileges=yes" in text
        assert "StandardOutput=journal" in text
        if spec.user_unit:
            assert "User=" not in text  # the desktop user's own manager runs it
            continue
        for line in (
            "User=onestop",
            "ProtectSystem=strict",
            "PrivateTmp=yes",
            "ReadWritePaths=/",
            "LimitNOFILE=65536",
        ):
            assert line in text, (spec.name, line)
        if spec.notify:
            assert "Type=notify" in text and "WatchdogSec=30" in text
    names = {s.name: s for s in _specs(site_with_every_role, tmp_path)}
    assert names["onestop-controller"].notify and names["onestop-counter-1"].notify
    assert names["onestop-announcer-1"].notify and names["onestop-led-1"].notify
    # screen = "kms" (the default): a system service without a desktop, never a notify one
    assert not names["onestop-kiosk-1"].user_unit and not names["onestop-kiosk-1"].notify
    assert names["onestop-board-1"].user_unit  # no LED display table: a TV showing /board


def test_the_units_whose_work_loops_ping_have_a_watchdog(
    site_with_every_role: SiteConfig, tmp_path: Path
) -> None:
    """The LED board, the announcer and the hub ping from their work loops (docs/operations.md,
    "What the watchdog vouches for"): their units ask for the pings, from the main process."""
    names = {s.name: render_unit(s) for s in _specs(site_with_every_role, tmp_path)}
    for unit in ("onestop-led-1", "onestop-announcer-1", "onestop-hub", "onestop-controller"):
        text = names[unit]
        for line in ("Type=notify", "NotifyAccess=main", "WatchdogSec=30", "Restart=always"):
            assert line in text.splitlines(), (unit, line)


#: The most exposure ``systemd-analyze security`` may rate a generated system unit: "OK" is below 3.0.
MAX_EXPOSURE = 3.0


def _exposure(unit: Path) -> float:
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "SYSTEMD_COLORS": "0"},
    )  # fmt: skip
    last = (done.stdout + done.stderr).strip().splitlines()[-1]
    # "→ Overall exposure level for x.service: 2.1 OK 🙂", or "... OK :-)" when TERM is dumb or unset
    level = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) ", last)
    assert level, done.stdout + done.stderr
    return float(level.group(1))


@pytest.fixture
def site_with_hardware(site_factory: SiteFactory) -> SiteConfig:
    """Every system service kind, with each kind of hardware it can drive."""
    from tests.utils.site import SITE

    return site_factory({"devices": [
        *SITE["devices"],
        {"id": "led-1", "role": "board", "display": {"backend": "modbus", "port": "/dev/ttyUSB0"}},
        {"id": "speaker-2", "role": "announcer", "audio": {"backend": "alsa"}},
        {"id": "keys-gpio", "role": "counter", "counter": "1", "keys": {"backend": "gpio"}},
        {"id": "keys-serial", "role": "counter", "counter": "2",
         "keys": {"backend": "serial", "port": "/dev/ttyACM0"}},
    ]})  # fmt: skip


@pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze is not installed")
def test_every_system_unit_is_rated_ok_by_systemd_analyze_security(
    site_with_hardware: SiteConfig, tmp_path: Path
) -> None:
    prefix = _prefix(tmp_path)
    scores = {}
    for spec in _specs(site_with_hardware, prefix):
        if spec.user_unit:
            continue
        unit = tmp_path / f"{spec.name}.service"
        unit.write_text(render_unit(spec))
        scores[spec.name] = _exposure(unit)
    assert len(scores) == 12  # with the kiosk and the rating terminal, KMS screens by default
    assert {n: s for n, s in scores.items() if s > MAX_EXPOSURE} == {}, scores


@pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze is not installed")
def test_the_exposure_check_can_fail(tmp_path: Path) -> None:
    """A unit without the hardening lines is rated far above the limit (the check above can fail)."""
    unit = tmp_path / "onestop-bare.service"
    text = render_unit(UnitSpec("onestop-bare", "bare", ["/bin/true"], read_write=["/var/lib/onestop"]))
    unit.write_text("\n".join(line for line in text.splitlines() if line.split("=")[0] not in {
        h.split("=")[0] for h in HARDENING}))  # fmt: skip
    assert _exposure(unit) > MAX_EXPOSURE


def test_each_unit_sees_only_the_devices_its_hardware_needs(
    site_with_hardware: SiteConfig, tmp_path: Path
) -> None:
    units = {s.name: render_unit(s) for s in _specs(site_with_hardware, tmp_path) if not s.user_unit}
    for name, text in units.items():
        # lgpio writes next to the process: the working directory is the data folder, never "/".
        assert "WorkingDirectory=/" in text and "WorkingDirectory=/\n" not in text, name
    assert (
        "DeviceAllow=char-ttyUSB rw" in units["onestop-led-1"]
        and "SupplementaryGroups=dialout" in units["onestop-led-1"]
    )
    assert "DeviceAllow=char-ttyACM rw" in units["onestop-keys-serial"]
    assert (
        "DeviceAllow=char-gpiochip rw" in units["onestop-keys-gpio"]
        and "SupplementaryGroups=gpio" in units["onestop-keys-gpio"]
    )
    assert (
        "DeviceAllow=char-alsa rw" in units["onestop-speaker-2"]
        and "SupplementaryGroups=audio" in units["onestop-speaker-2"]
    )
    assert "char-alsa" not in units["onestop-led-1"] and "char-tty" not in units["onestop-speaker-2"]
    for name in ("onestop-hub", "onestop-controller", "onestop-counter-1", "onestop-announcer-1"):
        assert "PrivateDevices=yes" in units[name] and "DeviceAllow" not in units[name], name
    assert "StateDirectory=onestop" in units["onestop-counter-1"]  # /var/lib/onestop, made by systemd


# -- kiosks and rating terminals without a desktop (KMS/DRM) -------------------------------------


@pytest.fixture
def site_with_screens(site_factory: SiteFactory) -> SiteConfig:
    """A KMS kiosk with a USB printer and read-aloud audio, a KMS rating terminal, a desktop kiosk."""
    from tests.utils.site import SITE

    return site_factory({"devices": [
        *[d for d in SITE["devices"] if d["role"] not in ("kiosk", "rating")],
        {"id": "kiosk-1", "role": "kiosk", "read_aloud": True, "audio": {"backend": "alsa"},
         "printer": {"backend": "usb", "vendor_id": 0x04B8, "product_id": 0x0202},
         "scanner": {"backend": "serial", "port": "/dev/ttyACM0"}},
        {"id": "rate-1", "role": "rating", "counter": "1"},
        {"id": "kiosk-x", "role": "kiosk", "screen": "x11"},
    ]})  # fmt: skip


def _service(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line:
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_a_kms_screen_is_a_system_service_that_draws_through_drm_and_never_gives_up(
    site_with_screens: SiteConfig, tmp_path: Path
) -> None:
    names = {s.name: s for s in _specs(site_with_screens, tmp_path)}
    kiosk = names["onestop-kiosk-1"]
    assert kiosk.kms_screen and not kiosk.user_unit
    text = render_unit(kiosk)
    svc = _service(text)
    env = dict(v.split("=", 1) for v in svc["Environment"])
    assert {k: env[k] for k in ("KIVY_WINDOW", "SDL_VIDEODRIVER", "KIVY_GL_BACKEND", "KIVY_HOME")} == {
        "KIVY_WINDOW": "sdl2",
        "SDL_VIDEODRIVER": "kmsdrm",
        "KIVY_GL_BACKEND": "sdl2",
        "KIVY_HOME": "/var/lib/onestop/kivy",
    }
    assert env["KIVY_LOG_MODE"] == "PYTHON" and env["KIVY_NO_FILELOG"] == "1"  # logs to the journal only
    assert env["SDL_TOUCH_MOUSE_EVENTS"] == "0"  # the panel is read once, by Kivy's mtdev/hidinput
    # Replugging the display makes SDL exit: back in 2 s, and systemd never stops trying.
    assert svc["Restart"] == ["always"] and svc["RestartSec"] == ["2"]
    assert "StartLimitIntervalSec=0" in text.splitlines()
    # It waits for a display before the app starts, as long as it takes.
    assert svc["TimeoutStartSec"] == ["infinity"]
    # A crash loop is paced by the prepare step, from a record in RAM kept across restarts.
    assert svc["RuntimeDirectory"] == ["onestop-kiosk-1"] and svc["RuntimeDirectoryPreserve"] == ["restart"]
    (pre,) = svc["ExecStartPre"]
    assert pre.endswith("onestop provision screen prepare --kivy-home /var/lib/onestop/kivy")
    groups = set(svc["SupplementaryGroups"][0].split())
    assert {"video", "render", "input", "lp", "audio", "dialout"} <= groups
    allowed = set(svc["DeviceAllow"])
    assert {"char-drm rw", "char-input rw", "char-usb_device rw", "char-usb rw", "char-alsa rw"} <= allowed
    assert "char-ttyACM rw" in allowed  # the serial scanner
    assert svc["DevicePolicy"] == ["closed"] and "gpio" not in text  # nothing else
    assert "AF_NETLINK" in svc["RestrictAddressFamilies"][0]  # SDL hears udev's hotplug events
    assert svc["ReadWritePaths"] == ["/var/lib/onestop"] and svc["ProtectSystem"] == ["strict"]
    rating = _service(render_unit(names["onestop-rate-1"]))
    assert set(rating["DeviceAllow"]) == {"char-drm rw", "char-input rw"}
    # screen = "x11": the desktop session's user unit, as before
    assert names["onestop-kiosk-x"].user_unit and not names["onestop-kiosk-x"].kms_screen


@pytest.mark.skipif(not os.access(SYSTEMD_ANALYZE, os.X_OK), reason="systemd-analyze is not installed")
def test_kms_screens_pass_verify_and_are_rated_ok(site_with_screens: SiteConfig, tmp_path: Path) -> None:
    prefix = _prefix(tmp_path)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    for spec in _specs(site_with_screens, prefix):
        if not spec.kms_screen:
            continue
        unit = tmp_path / f"{spec.name}.service"
        unit.write_text(render_unit(spec))
        done = _verify(unit, user=False, runtime=runtime)
        assert (done.returncode, done.stdout + done.stderr) == (0, ""), spec.name
        assert _exposure(unit) <= MAX_EXPOSURE, spec.name


def test_gpio_keys_name_the_lgpio_pin_factory(site_with_hardware: SiteConfig, tmp_path: Path) -> None:
    """A Raspberry Pi 5 has no /dev/gpiomem: gpiozero must use lgpio, never fall back silently."""
    units = {s.name: render_unit(s) for s in _specs(site_with_hardware, tmp_path)}
    assert "Environment=GPIOZERO_PIN_FACTORY=lgpio" in units["onestop-keys-gpio"].splitlines()
    assert "GPIOZERO_PIN_FACTORY" not in units["onestop-keys-serial"]

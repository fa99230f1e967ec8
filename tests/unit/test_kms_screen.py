"""A kiosk or rating terminal without a desktop: ``onestop provision screen prepare`` (provisioning/kms.py).

The display is a fake sysfs tree (``class/drm/card*-*/status``, what the kernel's DRM driver shows);
Kivy's configuration is read back by Kivy itself in a child process, with the unit's environment.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from provisioning.kms import (
    KIVY_INPUT,
    connectors,
    ensure_kivy_config,
    kivy_config_text,
    kms_environment,
    wait_for_display,
)


def _sysfs(tmp_path: Path, **states: str) -> Path:
    root = tmp_path / "sys"
    for name, state in states.items():
        folder = root / "class" / "drm" / name
        folder.mkdir(parents=True)
        (folder / "status").write_text(state + "\n")
    (root / "class" / "drm").mkdir(parents=True, exist_ok=True)
    (root / "class" / "drm" / "card1").mkdir(exist_ok=True)  # the card itself has no status
    return root


def test_connectors_reads_every_status(tmp_path: Path) -> None:
    root = _sysfs(tmp_path, **{"card1-HDMI-A-1": "disconnected", "card1-HDMI-A-2": "connected"})
    assert connectors(root) == {"card1-HDMI-A-1": "disconnected", "card1-HDMI-A-2": "connected"}


def test_a_connected_display_ends_the_wait_at_once(tmp_path: Path) -> None:
    root = _sysfs(tmp_path, **{"card1-HDMI-A-1": "connected"})
    assert wait_for_display(root, stop=lambda t: pytest.fail("it waited")) == "card1-HDMI-A-1"


def test_without_a_display_it_waits_quietly_and_says_so_once_a_minute(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Polled every 2 s for 5 simulated minutes: 5 log lines, not 150; the display plugged in ends it."""
    root = _sysfs(tmp_path, **{"card1-HDMI-A-1": "disconnected"})
    status = root / "class" / "drm" / "card1-HDMI-A-1" / "status"
    now = [0.0]

    def tick(timeout: float) -> bool:
        now[0] += timeout
        if now[0] >= 300:
            status.write_text("connected\n")
        return False

    with caplog.at_level(logging.INFO, logger="onestop.screen"):
        found = wait_for_display(root, poll_s=2.0, log_every_s=60.0, stop=tick, clock=lambda: now[0])
    assert found == "card1-HDMI-A-1" and now[0] == 300
    waits = [r for r in caplog.records if "no display connected" in r.getMessage()]
    assert len(waits) == 5 and "card1-HDMI-A-1: disconnected" in waits[0].getMessage()
    assert caplog.records[-1].getMessage() == "display connected: card1-HDMI-A-1"


def test_no_drm_driver_at_all_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "sys"
    (root / "class" / "drm").mkdir(parents=True)
    with caplog.at_level(logging.WARNING, logger="onestop.screen"):
        assert wait_for_display(root, stop=lambda t: True) is None
    assert "dtoverlay=vc4-kms-v3d" in caplog.text


def test_the_kivy_config_is_written_once_and_a_technicians_edit_is_kept(tmp_path: Path) -> None:
    home = tmp_path / "kivy"
    assert ensure_kivy_config(home) is True
    path = home / "config.ini"
    first = path.stat()
    assert oct(first.st_mode & 0o777) == "0o600"
    assert ensure_kivy_config(home) is False  # unchanged: no write at each start (SD card)
    assert path.stat().st_ino == first.st_ino and path.stat().st_mtime_ns == first.st_mtime_ns
    # Kivy's own default (what it writes when it starts without one) is replaced in place.
    path.write_text("[kivy]\nconfig_version = 27\n\n[input]\nmouse = mouse\n%(name)s = probesysfs\n")
    assert ensure_kivy_config(home) is True
    assert "%(name)s = probesysfs,provider=mtdev,use_mouse=1" in path.read_text()
    assert "config_version = 27" in path.read_text()
    # A technician's own touch line (a rotated panel) stays.
    own = path.read_text().replace("use_mouse=1", "use_mouse=1,param=rotation=90")
    path.write_text(own)
    assert ensure_kivy_config(home) is False and path.read_text() == own


def test_an_unreadable_kivy_config_is_replaced(tmp_path: Path) -> None:
    home = tmp_path / "kivy"
    home.mkdir()
    (home / "config.ini").write_text("this is [not an ini\nfile")
    assert ensure_kivy_config(home) is True
    assert kivy_config_text((home / "config.ini").read_text()) == (home / "config.ini").read_text()


def test_kivy_reads_the_touch_input_with_the_units_environment(tmp_path: Path) -> None:
    """Kivy itself, in a child process with the unit's environment, sees exactly the prepared input
    and keeps it when it adds its defaults (first start) and when it starts again."""
    home = tmp_path / "kivy"
    ensure_kivy_config(home)
    env = {**os.environ, **kms_environment(home), "KIVY_NO_ARGS": "1"}
    code = "from kivy.config import Config; print(dict(Config.items('input')))"
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().splitlines()[-1] == repr(KIVY_INPUT)
    assert not list(home.glob("logs/*"))  # KIVY_NO_FILELOG: Kivy writes no log files on the card
    assert ensure_kivy_config(home) is False  # what Kivy wrote back still carries the input


def test_prepare_waits_for_the_display_as_the_unit_runs_it(tmp_path: Path) -> None:
    """``onestop provision screen prepare`` as a process: alive and saying why while no display is
    connected, exit status 0 as soon as one is."""
    root = _sysfs(tmp_path, **{"card1-HDMI-A-1": "disconnected"})
    argv = [sys.executable, "-m", "onestop", "provision", "screen", "prepare",
            "--kivy-home", str(tmp_path / "kivy"), "--sysfs", str(root), "--poll", "0.1"]  # fmt: skip
    proc = subprocess.Popen(
        argv, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}
    )
    waiting = threading.Event()
    lines: list[str] = []

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "no display connected" in line:
                waiting.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert waiting.wait(60), "".join(lines)
        assert proc.poll() is None  # still waiting, not crashed
        (root / "class" / "drm" / "card1-HDMI-A-1" / "status").write_text("connected\n")
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert any("display: card1-HDMI-A-1" in line for line in lines), "".join(lines)
    assert (tmp_path / "kivy" / "config.ini").exists()


def test_a_crash_loop_is_paced_to_one_start_a_minute(tmp_path: Path) -> None:
    """Five quick starts go at once (a replugged display); the sixth waits until a minute after the
    fifth, and so on: one attempt, one error in the journal, a minute."""
    from provisioning.kms import pace_restarts

    state = tmp_path / "run"
    assert [pace_restarts(state, 100.0 + i) for i in range(5)] == [0.0] * 5
    assert pace_restarts(state, 105.0) == pytest.approx(59.0)  # until 60 s after the start at 104
    assert pace_restarts(state, 166.0) == pytest.approx(58.0)  # it stops again 2 s after: a minute
    assert pace_restarts(state, 226.0) == pytest.approx(58.0)  # the loop goes on: once a minute
    assert pace_restarts(state, 1000.0) == 0.0  # a quiet hour later: at once again
    (state / "starts").write_text("garbage")
    assert pace_restarts(state, 2000.0) == 0.0  # an unreadable record paces nothing

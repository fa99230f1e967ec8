"""What every benchmark shares: a throw-away site (files, broker, controller), figures, machine info."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as paho

from onestop import config
from onestop.broker import Broker, find_mosquitto
from onestop.config import SiteConfig
from onestop.credentials import PASSWORD_ENV, ensure_credentials
from onestop.mqtt import MqttClient, MqttSettings
from onestop.protocol import CONTROLLER_ID, MONITOR_ID, Topics
from onestop.toml_text import dumps as to_toml

LOOPBACK = "127.0.0.1"
RESULTS_DIR = Path(__file__).resolve().parent / "results"
#: How long a controller process may take to import, open its store and connect.
CONTROLLER_START_S = 30.0
STOP_S = 10.0


class BenchError(RuntimeError):
    """A benchmark could not run (a process died, a reply never came)."""


# -- figures ----------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        raise ValueError("no values")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summary_ms(values_ms: Sequence[float]) -> dict[str, float | int]:
    """p50/p90/p99/mean/max/min (milliseconds, 3 decimals) and the count of a list of latencies."""
    s = sorted(values_ms)
    r3 = lambda v: round(v, 3)  # noqa: E731
    return {
        "count": len(s),
        "p50_ms": r3(percentile(s, 50)),
        "p90_ms": r3(percentile(s, 90)),
        "p99_ms": r3(percentile(s, 99)),
        "mean_ms": r3(sum(s) / len(s)),
        "max_ms": r3(s[-1]),
        "min_ms": r3(s[0]),
    }


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of a process so far (from ``/proc/PID/stat``); None when unreadable."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def mosquitto_version() -> str:
    """``mosquitto version X.Y.Z`` as the executable says it, or ``unknown``."""
    try:
        out = subprocess.run(
            [find_mosquitto(), "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    m = re.search(r"mosquitto version (\S+)", out)
    return m.group(1) if m else "unknown"


def machine_info() -> dict[str, Any]:
    """Where the figures were measured."""
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "paho_mqtt": paho.__version__ if hasattr(paho, "__version__") else _paho_version(),
        "mosquitto": mosquitto_version(),
        "platform": platform.platform(),
    }


def _paho_version() -> str:
    from importlib.metadata import version

    return version("paho-mqtt")


def write_results(doc: dict[str, Any], name: str = "latest.json") -> Path:
    """Write a result document under ``bench/results/`` (git-ignored) and return its path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / name
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def wait_until(deadline: float) -> None:
    """Block until ``time.monotonic()`` reaches ``deadline`` (a schedule, not a wait for an event)."""
    pause = threading.Event()
    while (left := deadline - time.monotonic()) > 0:
        pause.wait(left)


# -- a site file ------------------------------------------------------------------------------


def base_site(site_id: str) -> dict[str, Any]:
    """The fixed part of a bench site: no opening hours, so it runs at any time of day."""
    return {
        "site": {
            "id": site_id,
            "name": "Bộ phận Một cửa đo hiệu năng",
            "agency": "UBND XÃ ĐO HIỆU NĂNG",
            "timezone": "Asia/Ho_Chi_Minh",
            "day_starts": "05:00",
        },
        "broker": {"host": LOOPBACK, "port": 1883},
        "hub": {"listen": f"{LOOPBACK}:8080", "public_url": f"http://{LOOPBACK}:8080"},
        "storage": {"dir": "var"},
        # A benchmark's devices are machines sending as fast as the controller answers: lift the
        # per-device limits (sized for people, docs/configuration.md) so that they measure the
        # controller, not the limiter. A bench that floods on purpose sets its own.
        "limits": {
            **{r: {"burst": 1_000_000, "per_minute": 1_000_000} for r in ("kiosk", "counter", "rating")},
            "backlog": 5000,
        },
    }


# -- a running site ---------------------------------------------------------------------------


class BenchSite:
    """A throw-away site in a temporary folder: its file, a private Mosquitto and a controller process.

    Use as a context manager: everything it started is stopped and the folder removed on exit, also
    on error (set ``ONESTOP_BENCH_KEEP=1`` to keep the folder and its logs).
    """

    def __init__(self, data: dict[str, Any], *, controller_log_level: str = "INFO") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="onestop-bench-"))
        self.site_path = self.dir / "site.toml"
        self.site_path.write_text(to_toml(data), encoding="utf-8")
        self.cfg: SiteConfig = config.load(self.site_path)
        self.topics = Topics(self.cfg.site.id)
        self.broker = Broker(self.cfg, self.dir / "broker", host=LOOPBACK, port=0)
        self.passwords: dict[str, str] = {}
        self.controller: subprocess.Popen[bytes] | None = None
        self.controller_log = self.dir / "controller.log"
        self.controller_log_level = controller_log_level
        self._children: list[subprocess.Popen[Any]] = []

    @property
    def host(self) -> str:
        """The broker's address."""
        return self.broker.host

    @property
    def port(self) -> int:
        """The broker's port."""
        return self.broker.port

    def __enter__(self) -> BenchSite:
        try:
            self.broker.start()
            self.passwords = ensure_credentials(self.cfg)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every child process and the broker, and remove the folder."""
        for proc in [*self._children, self.controller]:
            if proc is not None:
                stop_process(proc)
        self._children.clear()
        self.broker.stop()
        if not os.environ.get("ONESTOP_BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    def adopt(self, proc: subprocess.Popen[Any]) -> None:
        """Stop ``proc`` with the site."""
        self._children.append(proc)

    def client(
        self,
        account: str,
        *,
        subscriptions: list[tuple[str, int]] | None = None,
        on_message: Any = None,
        client_id: str = "",
    ) -> MqttClient:
        """A connected (and subscribed) client of ``account``, without presence messages.

        The broker binds client ids to accounts: a second client of an account that is in use takes
        the first one's connection over. Observers use the read-only ``monitor`` account."""
        c = MqttClient(
            MqttSettings(
                host=self.host,
                port=self.port,
                username=account,
                password=self.passwords[account],
                client_id=client_id or f"{account}-bench-{os.getpid()}-{time.monotonic_ns() % 10**9}",
                subscriptions=subscriptions or [],
            ),
            on_message=on_message,
        )
        c.start(wait=10.0)
        return c

    def start_controller(self) -> int:
        """Start ``python -m onestop controller`` and return its pid once it is connected."""
        online = threading.Event()

        def seen(msg: paho.MQTTMessage) -> None:
            with contextlib.suppress(ValueError, AttributeError):
                if json.loads(msg.payload).get("online"):
                    online.set()

        watcher = self.client(
            MONITOR_ID, subscriptions=[(self.topics.dev_status(CONTROLLER_ID), 1)], on_message=seen
        )
        try:
            env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
            argv = [
                sys.executable, "-m", "onestop", "controller",
                "--config", str(self.site_path), "--broker", f"{self.host}:{self.port}",
                "--db", str(self.dir / "controller.db"), "--log-level", self.controller_log_level,
            ]  # fmt: skip
            with open(self.controller_log, "ab") as out:
                self.controller = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env
                )
            deadline = time.monotonic() + CONTROLLER_START_S
            while not online.wait(0.05):
                if self.controller.poll() is not None:
                    raise BenchError(f"the controller exited while starting:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise BenchError(f"the controller did not connect in {CONTROLLER_START_S:.0f} s")
        finally:
            watcher.stop()
        return self.controller.pid

    def check_controller(self) -> None:
        """Raise :class:`BenchError` if the controller process has died."""
        if self.controller is not None and self.controller.poll() is not None:
            raise BenchError(f"the controller exited ({self.controller.returncode}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        """The end of the controller's log."""
        try:
            text = self.controller_log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no controller log)"
        return "\n".join(text.splitlines()[-lines:])


def stop_process(proc: subprocess.Popen[Any], timeout: float = STOP_S) -> None:
    """SIGTERM, then SIGKILL when it does not exit in ``timeout`` seconds; close its pipes."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


def simulated_centre(
    site_id: str, services: Sequence[Sequence[Any]], counters: Sequence[Sequence[Any]], hours: list[str],
    **sections: Any,
) -> dict[str, Any]:  # fmt: skip
    """A simulated commune centre's site.toml (as data) for the engine-only benchmarks: ``services``
    rows start (id, name, prefix, avg_service_min), ``counters`` rows are (id, services, policy);
    one kiosk and a counter device per counter; ``sections`` add tables (``queue``, ``bookings``)."""
    return {
        "site": {"id": site_id, "name": "Bộ phận Một cửa mô phỏng", "agency": "UBND XÃ MÔ PHỎNG"},
        **sections,
        "services": [
            {"id": sid, "name": name, "prefix": p, "digits": 3, "avg_service_min": avg, "hours": hours}
            for sid, name, p, avg, *_ in services
        ],
        "counters": [
            {"id": cid, "label": f"Quầy {cid}", "services": svcs, "policy": pol}
            for cid, svcs, pol in counters
        ],
        "devices": [{"id": "kiosk-1", "role": "kiosk"}]
        + [{"id": f"counter-{cid}", "role": "counter", "counter": cid} for cid, _, _ in counters],
    }

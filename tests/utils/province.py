"""Province nodes as real processes (``onestop province serve``) for tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from onestop.broker import free_port

ROOT = Path(__file__).resolve().parents[2]


class ProvinceNode:
    """``with ProvinceNode(dsn, "n1") as node: httpx.post(node.url + "/api/v1/ratings", ...)``."""

    def __init__(
        self, dsn: str, name: str, *, migrate: bool = True, log_path: Path | None = None,
        extra: list[str] | None = None, env: dict[str, str] | None = None,
    ) -> None:  # fmt: skip
        self.extra = list(extra or [])
        self.env = dict(env or {})
        self.dsn = dsn
        self.name = name
        self.migrate = migrate
        self.port = free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> ProvinceNode:
        argv = [sys.executable, "-m", "onestop", "province", "serve", "--listen", f"127.0.0.1:{self.port}",
                "--node", self.name]  # fmt: skip
        if self.migrate:
            argv.append("--migrate")
        argv += self.extra
        env = {**os.environ, "ONESTOP_PROVINCE_DSN": self.dsn, "PYTHONPATH": str(ROOT), **self.env}
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"province node {self.name} exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            pause.wait(0.05)
        raise RuntimeError(f"province node {self.name} did not answer /healthz within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a power cut of that node."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> ProvinceNode:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

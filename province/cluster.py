"""A private PostgreSQL cluster for tests, benchmarks and the demo province.

:class:`PrivateCluster` does what a technician's fresh machine would: ``initdb`` a data directory,
``pg_ctl start`` a server on a free port of loopback (and a Unix socket in the data directory), and
create a database. It uses Debian's server binaries (``/usr/lib/postgresql/{major}/bin``), installed
by ``scripts/bootstrap.sh``. PostgreSQL refuses to run as root, so when this process is root the
cluster belongs to the ``postgres`` account (created by Debian's package) and the server commands
run as that account; otherwise they run as the caller.

Production provinces run Debian's own cluster (``pg_createcluster``/systemd): see docs/province.md.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from onestop.broker import free_port
from onestop.errors import OnestopError

START_TIMEOUT_S = 30.0
#: The account that owns the cluster when the caller is root (initdb refuses root).
SERVER_ACCOUNT = "postgres"


class PostgresNotFound(OnestopError, FileNotFoundError):
    """PostgreSQL's server binaries are not installed."""

    def __init__(self) -> None:
        super().__init__(
            "PostgreSQL is not installed: run `make test` (it installs it) or `sudo apt install postgresql`"
        )


class ClusterError(OnestopError, RuntimeError):
    """The private cluster could not be created, started or stopped."""


def server_bindir() -> Path:
    """The directory of ``initdb``/``pg_ctl``/``postgres``: Debian's newest major, or ``$PG_BINDIR``."""
    env = os.environ.get("PG_BINDIR")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").is_file() and (Path(c) / "pg_ctl").is_file():
            return Path(c)
    found = shutil.which("pg_ctl")
    if found and (Path(found).parent / "initdb").exists():
        return Path(found).parent
    raise PostgresNotFound()


def _major(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


class PrivateCluster:
    """A PostgreSQL server of our own: ``with PrivateCluster() as pg: connect(pg.dsn())``."""

    def __init__(self, directory: Path | None = None, *, port: int | None = None, database: str = "province"):
        self._own_dir = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="onestop-pg-"))
        self.port = port or free_port()
        self.database = database
        self.bindir = server_bindir()
        self._as_root = os.geteuid() == 0
        self.user = SERVER_ACCOUNT if self._as_root else pwd.getpwuid(os.geteuid()).pw_name

    # -- helpers ---------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def socket_dir(self) -> Path:
        return self.directory / "run"

    def _run(self, *argv: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        cmd = list(argv)
        if self._as_root:
            cmd = ["runuser", "-u", SERVER_ACCOUNT, "--", *cmd]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise ClusterError(f"cannot run {cmd[0]}: {exc}") from exc

    def _check(self, proc: subprocess.CompletedProcess[str], what: str) -> None:
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise ClusterError(f"{what} failed (exit {proc.returncode}): {' / '.join(tail)}")

    def dsn(self, database: str | None = None) -> str:
        """A libpq connection string over loopback TCP (what nodes on other machines would use)."""
        return f"host=127.0.0.1 port={self.port} user={self.user} dbname={database or self.database}"

    # -- life cycle ------------------------------------------------------------------------------

    def init(self) -> None:
        """``initdb`` the data directory (once; an existing cluster is kept)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self._as_root:
            try:
                account = pwd.getpwnam(SERVER_ACCOUNT)
            except KeyError as exc:
                raise ClusterError(
                    f"running as root needs the {SERVER_ACCOUNT!r} account"
                    " (Debian's postgresql package creates it)"
                ) from exc
            for p in (self.directory, self.socket_dir):
                os.chown(p, account.pw_uid, account.pw_gid)
            os.chmod(self.directory, 0o700)
            if self._run("test", "-w", str(self.directory)).returncode != 0:
                raise ClusterError(
                    f"the {SERVER_ACCOUNT!r} account cannot reach {self.directory}: a parent directory is "
                    "private to root; choose a directory under /tmp or /var/lib"
                )
        if (self.data_dir / "PG_VERSION").exists():
            return
        proc = self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            timeout=120,
        )  # fmt: skip
        self._check(proc, "initdb")

    def start(self) -> None:
        """Start the server and create the database (idempotent)."""
        self.init()
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.socket_dir}"
            " -c fsync=on -c max_connections=200 -c shared_buffers=64MB"
        )
        proc = self._run(
            str(self.bindir / "pg_ctl"),
            "-D", str(self.data_dir),
            "-l", str(self.directory / "server.log"),
            "-o", options,
            "-w", "-t", str(int(START_TIMEOUT_S)),
            "start",
            timeout=START_TIMEOUT_S + 10,
        )  # fmt: skip
        self._check(proc, f"pg_ctl start (log: {self.directory / 'server.log'})")
        self._create_database()

    def _create_database(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            proc = self._run(
                str(self.bindir / "psql"),
                "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, "-d", "postgres",
                "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
            )  # fmt: skip
            if proc.returncode == 0:
                break
            if time.monotonic() > deadline:
                self._check(proc, "connecting to the new cluster")
            time.sleep(0.1)
        if proc.stdout.strip() != "1":
            created = self._run(
                str(self.bindir / "createdb"),
                "-h", str(self.socket_dir), "-p", str(self.port), "-U", self.user, self.database,
            )  # fmt: skip
            self._check(created, f"createdb {self.database}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``; ``immediate`` is a crash: WAL recovery at the next start)."""
        if not (self.data_dir / "postmaster.pid").exists():
            return
        proc = self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop")
        self._check(proc, "pg_ctl stop")

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PrivateCluster:
        try:
            self.start()
        except BaseException:
            if self._own_dir:
                self.remove()
            raise
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        if self._own_dir:
            self.remove()
        else:
            self.stop()

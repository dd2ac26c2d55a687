"""A private PostgreSQL cluster on loopback for the test session, one fresh database per test."""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

HOST = "127.0.0.1"
DEFAULT_PORT = 15432
INSTALL_HINT = "install it with: sudo bash scripts/install.d/postgresql.sh"
SYSTEM_USER = "postgres"  # initdb and postgres refuse to run as root


def missing(reason: str) -> None:
    """Skip on a developer machine, but fail in CI where every test must run."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} ({INSTALL_HINT})")
    pytest.skip(f"{reason} ({INSTALL_HINT})")


def _bin_dir() -> Path | None:
    """Debian keeps the server binaries per major version; take the newest."""
    found = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    found.sort(key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).resolve().parent if on_path else None


def _free_port(preferred: int) -> int:
    """The preferred port if nobody listens there, else any free one."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            # Like the server itself: a port in TIME_WAIT from the last run is free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((HOST, port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise RuntimeError("no free TCP port on loopback")


class PostgresCluster:
    """A throwaway cluster in a temporary directory, run by the postgres user when we are root."""

    def __init__(self, bin_dir: Path, root: Path, port: int, durable: bool = False):
        self.bin_dir, self.root, self.port, self.durable = bin_dir, root, port, durable
        self.data = root / "data"
        self.log_file = root / "postgres.log"
        self._names = itertools.count(1)

    def _run(self, tool: str, *args: str) -> None:
        prefix = ["runuser", "-u", SYSTEM_USER, "--"] if os.geteuid() == 0 else []
        cmd = [*prefix, str(self.bin_dir / tool), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
            raise RuntimeError(f"{tool} failed: {done.stderr or done.stdout}\n{log[-2000:]}")

    def start(self) -> None:
        """initdb with trust auth for loopback, then start listening on 127.0.0.1 only."""
        self._run("initdb", "-D", str(self.data), "--auth=trust", f"--username={SYSTEM_USER}",
                  "--encoding=UTF8", "--locale=C", "--no-sync")
        self.start_server()

    def start_server(self) -> None:
        """Start the server on the existing data directory (again, after kill())."""
        # Durability settings off: test data is thrown away, speed matters. A test that kills
        # the server keeps a commit's promise on (synchronous_commit), as production does.
        options = (f"-c listen_addresses={HOST} -c port={self.port} -c unix_socket_directories={self.root}"
                   " -c fsync=off -c full_page_writes=off -c max_connections=100"
                   f" -c synchronous_commit={'on' if self.durable else 'off'}")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        """Stop the server at once; its data is thrown away anyway."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend at once: the server dies as in a crash."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = [int(p.name) for p in Path("/proc").iterdir()
                    if p.name.isdigit() and _parent(p) == postmaster]
        for pid in (postmaster, *children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in (postmaster, *children):  # gone before anyone restarts it on the same port
            while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
                time.sleep(0.02)
        # A dead postmaster not yet reaped still "exists" for the next one's lock checks.
        for lock in (self.data / "postmaster.pid", *self.root.glob(".s.PGSQL.*")):
            lock.unlink(missing_ok=True)

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this cluster."""
        return f"postgresql+psycopg://{SYSTEM_USER}@{HOST}:{self.port}/{database}"

    def create_database(self) -> str:
        """Create a new empty database and return its URL."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(f"host={HOST} port={self.port} user={SYSTEM_USER} dbname=postgres",
                             autocommit=True) as conn:
            # FILE_COPY (PostgreSQL 15+) is the quicker way for a tiny database.
            strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0{strategy}')
        return self.url(name)


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


def _start_cluster(durable: bool = False) -> tuple[PostgresCluster, Path]:
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        missing("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing("runuser is needed to run PostgreSQL as a non-root user")
    # /tmp rather than $TMPDIR: the postgres user must reach it, and the unix
    # socket path must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="mailgate-pg-", dir="/tmp" if os.path.isdir("/tmp") else None))
    if os.geteuid() == 0:
        try:
            shutil.chown(root, user=SYSTEM_USER, group=SYSTEM_USER)
        except (LookupError, PermissionError) as err:
            shutil.rmtree(root, ignore_errors=True)
            missing(f"cannot hand the cluster directory to the {SYSTEM_USER!r} user: {err}")
    port = _free_port(int(os.environ.get("MAILGATE_TEST_PG_PORT", DEFAULT_PORT)))
    cluster = PostgresCluster(bin_dir, root, port, durable)
    try:
        cluster.start()
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster, root


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The session's private PostgreSQL; stopped and deleted at the end."""
    cluster, root = _start_cluster()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def own_postgres_cluster() -> Iterator[PostgresCluster]:
    """A cluster for one test alone, which may kill it (the session's one serves the others)."""
    cluster, root = _start_cluster(durable=True)
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except RuntimeError:
            pass  # killed by the test and not started again
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """The URL of a fresh, empty database for one test."""
    return postgres_cluster.create_database()

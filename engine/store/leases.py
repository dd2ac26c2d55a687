"""Who polls which mailbox: a lock the database (PostgreSQL) or the kernel (SQLite) drops when its holder dies.

A lease row in the store (`leases`) says who holds a mailbox, for people
(`mailgate status`); the exclusion itself is a lock that needs no clock and no
process id: a PostgreSQL session-level advisory lock held on a connection of
its own, or an exclusive `flock` on a file beside the SQLite database. When a
poller or its whole host dies, the server closes its connection (or the kernel
its file) and the next poller takes the mailbox at once.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import socket
import zlib
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import StoreError
from engine.store.failures import wrap_database_error

ADVISORY_SPACE = 0x6D67  # "mg": the first key of every mailgate lease lock; the second is the mailbox's


def holder_id() -> str:
    """This poller: host, process and a random instance id (containers share host names and PID 1)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def lock_key(mailbox: str) -> int:
    """The mailbox's advisory lock key: a signed 32-bit hash of its name."""
    value = zlib.crc32(mailbox.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


class AdvisoryLocks:
    """PostgreSQL: one connection of our own holds a session-level advisory lock per mailbox."""

    def __init__(self, engine: Engine):
        self._engine = engine
        self._conn: Connection | None = None
        self._held: set[str] = set()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def take(self, mailbox: str) -> bool:
        """Lock the mailbox if nobody holds it; never waits."""
        try:
            got = self._connection().execute(text("SELECT pg_try_advisory_lock(:space, :key)"),
                                             {"space": ADVISORY_SPACE, "key": lock_key(mailbox)}).scalar()
        except SQLAlchemyError as err:
            self._drop()
            raise wrap_database_error(err, "taking a mailbox lease") from err
        if got:
            self._held.add(mailbox)
        return bool(got)

    def held(self, mailbox: str) -> bool:
        """True while our connection, and with it the lock, is alive."""
        if mailbox not in self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            return True
        except SQLAlchemyError:
            self._drop()  # the server dropped us: every lock of this connection is gone
            return False

    def release(self, mailbox: str) -> None:
        if mailbox in self._held and self._conn is not None:
            self._held.discard(mailbox)
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:space, :key)"),
                                   {"space": ADVISORY_SPACE, "key": lock_key(mailbox)})
            except SQLAlchemyError:
                self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def close(self) -> None:
        """Give every lock back (closing the connection does it too)."""
        if self._conn is not None:
            try:
                self._conn.close()
            except SQLAlchemyError:
                pass
        self._conn, self._held = None, set()


class FileLocks:
    """SQLite: an exclusive flock on `<database>.leases/<mailbox>.lock`, released by the kernel with us."""

    def __init__(self, folder: Path):
        self._folder = folder
        self._files: dict[str, int] = {}

    def take(self, mailbox: str) -> bool:
        """Lock the mailbox if no process holds it; never waits."""
        if mailbox in self._files:
            return True
        try:
            self._folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._folder / f"{_file_name(mailbox)}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as err:
            raise StoreError(f"cannot open the lease file of mailbox {mailbox!r} in {self._folder}: {err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._files[mailbox] = fd
        return True

    def held(self, mailbox: str) -> bool:
        return mailbox in self._files  # the kernel never takes a lock away from a live process

    def release(self, mailbox: str) -> None:
        fd = self._files.pop(mailbox, None)
        if fd is not None:
            os.close(fd)  # closing the file drops its lock

    def close(self) -> None:
        for mailbox in list(self._files):
            self.release(mailbox)


class ProcessLocks:
    """An in-memory SQLite store lives in one process: a set is lock enough."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def take(self, mailbox: str) -> bool:
        self._held.add(mailbox)
        return True

    def held(self, mailbox: str) -> bool:
        return mailbox in self._held

    def release(self, mailbox: str) -> None:
        self._held.discard(mailbox)

    def close(self) -> None:
        self._held.clear()


def lease_locks(engine: Engine):
    """The lock kind for this store: advisory locks on PostgreSQL, file locks beside a SQLite file."""
    if engine.dialect.name == "postgresql":
        return AdvisoryLocks(engine)
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return ProcessLocks()
    return FileLocks(Path(f"{database}.leases"))


def _file_name(mailbox: str) -> str:
    # Mailbox names are [A-Za-z0-9_.-] by the schema; anything else is escaped all the same.
    return re.sub(r"[^A-Za-z0-9_.-]", lambda m: f"%{ord(m.group()):02x}", mailbox)

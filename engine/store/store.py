"""Opening a store (SQLite or PostgreSQL by URL) and its transactions."""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from engine.errors import MailgateError, StoreError
from engine.store.batch import BatchReads
from engine.store.base import Clock, ConnectionSession, EngineSession, utc_now
from engine.store.directory_cache import DirectoryCache
from engine.store.failures import wrap_database_error
from engine.store.leases import lease_locks
from engine.store.log import LogReads, LogWrites
from engine.store.migrate import migrate
from engine.store.url import parse_store_url, safe_url
from engine.store.ops import OpsReads, OpsWrites
from engine.store.outbox import OutboxReads, OutboxWrites
from engine.store.tickets import TicketReads, TicketWrites
from engine.store.users import UserReads, UserWrites

DEFAULT_URL = "sqlite:///mailgate.db"
SQLITE_BUSY_SECONDS = 30
SQLITE_MINIMUM = (3, 35)


class Reads(UserReads, TicketReads, LogReads, OutboxReads, OpsReads):
    """Every read method; the engine's StateView is served from these."""


class Reader(Reads, ConnectionSession):
    """Reads from one consistent snapshot (`Store.snapshot()`)."""


class Tx(UserWrites, TicketWrites, LogWrites, OutboxWrites, OpsWrites, Reader):
    """One write transaction: every write method, and reads that see its own writes."""


class BatchTx(BatchReads, Tx):
    """A poller's batch transaction: evaluate's questions answered from what it read ahead (engine/store/batch.py)."""


def _sqlite_engine(url: str) -> Engine:
    if sqlite3.sqlite_version_info < SQLITE_MINIMUM:
        raise StoreError(f"SQLite {sqlite3.sqlite_version} is too old: the store needs "
                         f"{'.'.join(map(str, SQLITE_MINIMUM))} or newer (RETURNING)")
    parsed = make_url(url)
    memory = parsed.database in (None, "", ":memory:")
    if memory:
        # One shared connection, or every checkout would see a new empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        try:
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the folder for the store {parsed.database}: {err}") from err
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Take transaction control from the sqlite3 module so BEGIN is ours.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_SECONDS * 1000)}")  # before anything that locks
        if not memory:
            _use_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        # FULL: a commit survives power loss too, and the source deletes or
        # moves the mail on the server right after it (F-MB-9).
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A writer takes the write lock at BEGIN: no late lock upgrade that
        # could fail with "database is locked" halfway through a transaction.
        write = conn.get_execution_options().get("mailgate_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _use_wal(cursor) -> None:
    """Switch the file to WAL (it stays so), retrying while another opener holds it.

    SQLite does not wait on its busy timeout for this pragma: pollers opening
    a fresh store together would otherwise fail with "database is locked".
    """
    deadline = time.monotonic() + SQLITE_BUSY_SECONDS
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def make_engine(url: str) -> Engine:
    """An engine for a store URL; on SQLite it owns BEGIN, so DDL is transactional too."""
    parsed = parse_store_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if parsed.drivername in ("postgresql", "postgres"):  # postgres:// is the form Heroku and libpq print
        parsed = parsed.set(drivername="postgresql+psycopg")  # the driver we ship, not psycopg2
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise StoreError(f"unsupported store URL {safe_url(parsed)}: use sqlite:///PATH or postgresql+psycopg://...")


class Store(Reads, EngineSession):
    """The ticket store. Reads on it run each in a short transaction of their own."""

    def __init__(self, engine: Engine, clock: Clock = utc_now):
        self._engine = engine
        self._clock = clock

    @classmethod
    def open(cls, url: str = DEFAULT_URL, *, clock: Clock = utc_now) -> "Store":
        """Connect to the store at `url`, migrating its schema to the current version."""
        engine = make_engine(url)
        try:
            migrate(engine)
        except MailgateError:
            engine.dispose()
            raise
        except SQLAlchemyError as err:
            engine.dispose()
            raise wrap_database_error(err, f"cannot open the store at {safe_url(url)}") from err
        return cls(engine, clock)

    def lease_locks(self):
        """A new set of mailbox locks for one poller (engine/store/leases.py)."""
        return lease_locks(self._engine)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self._engine.dialect.name

    @contextmanager
    def transaction(self, directory: DirectoryCache | None = None, *, batch: bool = False) -> Iterator[Tx]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        `directory` is the poll's cache of users, organisations and groups (kept true by the
        transaction's writes, cleared when it rolls back). `batch`: a poller's BatchTx, which
        reads ahead what a batch will ask and holds rows for flush() (engine/store/batch.py).
        """
        now = self._clock()  # one timestamp for everything the transaction writes
        try:
            with self._session(write=True) as conn:
                yield (BatchTx if batch else Tx)(conn, lambda: now, directory)
        except BaseException:
            if directory is not None:
                directory.clear()
            raise

    @contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A read-only view that does not change while the block runs (dry-run, evaluate)."""
        with self._session(write=False) as conn:
            yield Reader(conn, self._clock)

    @contextmanager
    def _session(self, *, write: bool):
        try:
            with self._engine.connect() as conn:
                conn.execution_options(mailgate_write=write)
                if not write and conn.dialect.name == "postgresql":
                    # One snapshot for the whole block, as SQLite's WAL gives a reader.
                    conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
                with conn.begin():
                    yield conn
        except SQLAlchemyError as err:
            raise wrap_database_error(err, "store transaction failed") from err

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

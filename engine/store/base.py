"""How store methods reach the database: a fixed connection, or one per read."""

from __future__ import annotations

import functools
import hashlib
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.exc import SQLAlchemyError

from engine.errors import TransactionLost
from engine.store import prepared
from engine.store.prepared import Prepared
from engine.store.failures import POSTGRES_ROLLED_BACK, driver_code, driver_message, store_lost, wrap_database_error

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: timezone-aware UTC."""
    return datetime.now(timezone.utc)


# PostgreSQL's btree indexes take entries up to about 2,700 bytes; mail can
# carry longer Message-IDs and addresses than that.
MAX_KEY_BYTES = 512


def bounded(value: str) -> str:
    """An indexed value from mail, kept short: a longer one becomes its SHA-256.

    Applied alike when storing and when looking up, so matching still works.
    """
    raw = value.encode("utf-8", "surrogatepass")
    return value if len(raw) <= MAX_KEY_BYTES else "sha256:" + hashlib.sha256(raw).hexdigest()


def fold_address(address: str | None) -> str | None:
    """The form addresses are compared in: trimmed, lower case, bounded."""
    return None if address is None else bounded(address.strip().lower())


def bare_message_id(message_id: str | None) -> str | None:
    """A Message-ID without white space or angle brackets, bounded, as stored."""
    if message_id is None:
        return None
    bare = message_id.strip().strip("<>").strip()
    return bounded(bare) if bare else None


@functools.cache
def _insert_new_stmt(dialect: str, table: Table, returning: str | None) -> Any:
    # INSERT ... ON CONFLICT DO NOTHING reads the same on SQLite (3.24+) and
    # PostgreSQL; only the statement class differs. No savepoint needed.
    # RETURNING, not rowcount, tells whether a row went in: drivers do not
    # all keep an INSERT's rowcount.
    # Imported here: a poller on SQLite need not load PostgreSQL's dialect (~25 ms of start-up).
    column = table.c[returning] if returning else list(table.primary_key)[0]
    return Prepared(_insert(dialect, table).on_conflict_do_nothing().returning(column))


@functools.cache
def insert_ignoring_stmt(dialect: str, table: Table) -> Prepared:
    """INSERT ... ON CONFLICT DO NOTHING without RETURNING: rows sent many at once (prepared.run_many)."""
    return Prepared(_insert(dialect, table).on_conflict_do_nothing())


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as make
    else:
        from sqlalchemy.dialects.postgresql import insert as make
    return make(table)


class Session:
    """What the read and write mixins need: statements run, a clock."""

    _clock: Clock
    _directory: Any = None  # a DirectoryCache for the transactions of one poll, or None

    def _cached(self, kind: str, key: Any, load: Callable[[], Any]) -> Any:
        """A directory look-up through the poll's cache when there is one (engine/store/directory_cache.py)."""
        return load() if self._directory is None else self._directory.get(kind, key, load)

    def _remember(self, kind: str, key: Any, record: Any) -> None:
        if self._directory is not None:
            self._directory.put(kind, key, record)

    def _forget(self, kind: str, key: Any) -> None:
        if self._directory is not None:
            self._directory.forget(kind, key)

    def _forget_kinds(self, *kinds: str) -> None:
        if self._directory is not None:
            self._directory.forget_kinds(*kinds)

    def now(self) -> datetime:
        """The current time by the store's clock (tests pass a fixed one)."""
        return self._clock()

    # Hot paths pass a Prepared statement (engine/store/prepared.py) and its parameters:
    # inside a transaction it runs on the driver's cursor, compiled once.
    def _rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        raise NotImplementedError

    def _scalar(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        rows = self._rows(stmt, params)
        return rows[0][0] if rows else None

    # Writes exist only inside a transaction (ConnectionSession).
    def _exec(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def _insert(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        raise NotImplementedError

    def _insert_new(self, table: Table, params: dict[str, Any], returning: str | None = None) -> Any:
        raise NotImplementedError

    def _dialect(self) -> str:
        """'sqlite' or 'postgresql'."""
        raise NotImplementedError

    def _writing(self) -> bool:
        """True inside a write transaction (Store.transaction())."""
        return False


class _Changed:
    """What a prepared write tells: how many rows it changed."""

    __slots__ = ("rowcount",)

    def __init__(self, rowcount: int):
        self.rowcount = rowcount


class ConnectionSession(Session):
    """Runs everything on one connection inside one transaction."""

    def __init__(self, conn: Connection, clock: Clock, directory: Any = None):
        self._conn = conn
        self._clock = clock
        self._directory = directory
        self._savepoints = 0  # names them uniquely within the transaction
        self._stamped_tickets: set[int] = set()  # TicketWrites: updated_at is this transaction's time

    @contextmanager
    def savepoint(self) -> Iterator["ConnectionSession"]:
        """A nested transaction: if the block raises, only its own writes are undone.

        Unless the database dropped the whole transaction meanwhile (SQLite does on
        a full disk; a lost connection or a serialisation failure does too): then
        TransactionLost, for nothing before the savepoint is still to be committed.
        The SAVEPOINT statements go to the driver directly: SQLAlchemy's nested
        transaction cost more than the statements the poller runs inside it.
        """
        self._savepoints += 1
        name = f"mailgate_{self._savepoints}"
        prepared.execute(self._conn, f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException as err:
            self._undo(name, err)
            raise
        prepared.execute(self._conn, f"RELEASE SAVEPOINT {name}")

    def _undo(self, name: str, err: BaseException) -> None:
        if self._directory is not None:
            self._directory.clear()  # it may hold what the savepoint wrote
        self._stamped_tickets.clear()  # as may this: a ticket created inside it is gone
        lost = TransactionLost(f"the store transaction was lost: {driver_message(err)}")
        try:
            prepared.execute(self._conn, f"ROLLBACK TO SAVEPOINT {name}")
            prepared.execute(self._conn, f"RELEASE SAVEPOINT {name}")
        except SQLAlchemyError as failed:
            raise lost from failed
        if store_lost(err) or driver_code(err).startswith(POSTGRES_ROLLED_BACK) or not self.intact():
            raise lost from err

    def intact(self) -> bool:
        """True while the database still holds this session's transaction open."""
        if self._conn.invalidated:
            return False
        dbapi = self._conn.connection.dbapi_connection
        if hasattr(dbapi, "in_transaction"):  # sqlite3
            return bool(dbapi.in_transaction)
        from psycopg.pq import TransactionStatus

        return dbapi.info.transaction_status == TransactionStatus.INTRANS

    def _rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        if isinstance(stmt, Prepared):
            return prepared.rows(self._conn, stmt, params)
        return self._conn.execute(stmt, params).all()

    def _dialect(self) -> str:
        return self._conn.dialect.name

    def _writing(self) -> bool:
        return bool(self._conn.get_execution_options().get("mailgate_write", False))

    def _exec(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        """Run a write; the result's rowcount says how many rows it changed."""
        if isinstance(stmt, Prepared):
            return _Changed(prepared.rowcount(self._conn, stmt, params))
        return self._conn.execute(stmt, params)

    def _insert(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        """Run an INSERT and return the new row's primary key (a Prepared one: INSERT ... RETURNING it)."""
        if isinstance(stmt, Prepared):
            return prepared.rows(self._conn, stmt, params)[0][0]
        return self._conn.execute(stmt, params).inserted_primary_key[0]

    def _insert_new(self, table: Table, params: dict[str, Any], returning: str | None = None) -> Any:
        """Insert a row unless its unique key is taken; None if it was.

        Returns the new row's `returning` column (default: its primary
        key). The database decides, so of two racing writers exactly one
        inserts; a foreign key or check violation still raises.
        """
        found = prepared.rows(self._conn, _insert_new_stmt(self._conn.dialect.name, table, returning), params)
        return found[0][0] if found else None


class EngineSession(Session):
    """Runs each read in its own short read-only transaction."""

    _engine: Engine

    def _dialect(self) -> str:
        return self._engine.dialect.name

    def _rows(self, stmt: Any, params: dict[str, Any] | None = None) -> list[Any]:
        stmt = stmt.stmt if isinstance(stmt, Prepared) else stmt  # a one-off read: SQLAlchemy's way
        try:
            with self._engine.connect() as conn:
                return conn.execute(stmt, params).all()
        except SQLAlchemyError as err:
            raise wrap_database_error(err, "store read failed") from err

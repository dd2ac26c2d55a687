"""How store methods reach the database: a fixed connection, or one per read."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The default clock: timezone-aware UTC."""
    return datetime.now(timezone.utc)


def fold_address(address: str | None) -> str | None:
    """The form addresses are compared in: trimmed and lower case."""
    return None if address is None else address.strip().lower()


def bare_message_id(message_id: str | None) -> str | None:
    """A Message-ID without white space or angle brackets, as stored."""
    if message_id is None:
        return None
    bare = message_id.strip().strip("<>").strip()
    return bare or None


class Session:
    """What the read and write mixins need: statements run, a clock."""

    _clock: Clock

    def now(self) -> datetime:
        """The current time by the store's clock (tests pass a fixed one)."""
        return self._clock()

    def _rows(self, stmt: Any) -> list[Any]:
        raise NotImplementedError

    def _scalar(self, stmt: Any) -> Any:
        rows = self._rows(stmt)
        return rows[0][0] if rows else None

    # Writes exist only inside a transaction (ConnectionSession).
    def _exec(self, stmt: Any) -> Any:
        raise NotImplementedError

    def _insert(self, stmt: Any) -> Any:
        raise NotImplementedError

    def _try(self, stmt: Any) -> Any | None:
        raise NotImplementedError


class ConnectionSession(Session):
    """Runs everything on one connection inside one transaction."""

    def __init__(self, conn: Connection, clock: Clock):
        self._conn = conn
        self._clock = clock

    def _rows(self, stmt: Any) -> list[Any]:
        return self._conn.execute(stmt).all()

    def _exec(self, stmt: Any) -> Any:
        return self._conn.execute(stmt)

    def _insert(self, stmt: Any) -> Any:
        """Run an INSERT and return the new row's primary key."""
        return self._conn.execute(stmt).inserted_primary_key[0]

    def _try(self, stmt: Any) -> Any | None:
        """Run a statement that may break a unique key; None if it did.

        A savepoint keeps the transaction usable afterwards: PostgreSQL
        aborts the whole transaction on a failed statement otherwise.
        """
        try:
            with self._conn.begin_nested():
                return self._conn.execute(stmt)
        except IntegrityError:
            return None


class EngineSession(Session):
    """Runs each read in its own short read-only transaction."""

    _engine: Engine

    def _rows(self, stmt: Any) -> list[Any]:
        with self._engine.connect() as conn:
            return conn.execute(stmt).all()

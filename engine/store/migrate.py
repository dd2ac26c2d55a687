"""Versioned schema migrations, applied in one transaction when a store is opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, func, insert, inspect, select, text

from engine.store import history, schema
from engine.errors import SchemaTooNew
from engine.store.schema import UTCDateTime


@dataclass(frozen=True)
class Migration:
    """One step: the version it brings the database to, and how."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _initial(conn: Connection) -> None:
    # Version 1 as first released (engine/store/history.py keeps the tables a
    # later step changed): a fresh database goes through every step in order,
    # so every test database runs them all, on SQLite and PostgreSQL.
    history.v1_metadata().create_all(conn, checkfirst=False)


def _ticket_number_sequence(conn: Connection) -> None:
    # PostgreSQL: pollers take numbers from a sequence instead of max + 1, which made
    # each wait for the others' uncommitted tickets. It starts past the highest ticket.
    if conn.dialect.name != "postgresql":
        return
    conn.execute(text(f"CREATE SEQUENCE IF NOT EXISTS {schema.TICKET_NUMBERS} AS bigint MINVALUE 1"))
    highest = conn.execute(select(func.max(schema.tickets.c.number))).scalar()
    conn.execute(text("SELECT setval(:seq, :value, :called)"),
                 {"seq": schema.TICKET_NUMBERS, "value": highest or 1, "called": highest is not None})


def _ticket_tags(conn: Connection) -> None:
    schema.ticket_tags.create(conn, checkfirst=True)


def _add_missing(conn: Connection, table: Table, columns: tuple[str, ...], indexes: tuple[tuple[str, ...], ...]) -> None:
    """ALTER `table` to have `columns` and `indexes` as schema.py declares them; a database
    made from a later schema.py (as some tests make one) has them already, so each is added
    only when missing."""
    inspector = inspect(conn)
    present = {c["name"] for c in inspector.get_columns(table.name)}
    for name in columns:
        if name not in present:
            add_column(conn, table.c[name])
    for index in table.indexes:
        if tuple(c.name for c in index.columns) in indexes:
            index.create(conn, checkfirst=True)


def _arrival_and_outcomes(conn: Connection) -> None:
    _add_missing(conn, schema.processing_log, ("arrived_at",), (("mailbox", "sender", "arrived_at"),))
    _add_missing(conn, schema.message_keys, ("source_key", "outcome", "reason"), ())
    _add_missing(conn, schema.outbox, ("cause", "about"), (("cause", "about", "created_at"),))


def _held_and_blocked(conn: Connection) -> None:
    # The outbox keeps mail it must not send yet (held) or ever (blocked).
    replace_check(conn, schema.outbox, "status")


def _operator_views(conn: Connection) -> None:
    # Columns `mailgate log` / `explain` read, the outbox's message key and new
    # status (expired), kept raw mail and each mailbox's last poll.
    _add_missing(conn, schema.processing_log,
                 ("subject", "recipients", "duplicate_key", "raw_sha256", "summary", "after_action"),
                 (("message_id",), ("duplicate_key",)))
    _add_missing(conn, schema.outbox, ("message_key",), ())
    replace_check(conn, schema.outbox, "status")  # and `expired`
    schema.raw_mail.create(conn, checkfirst=True)
    schema.mailbox_status.create(conn, checkfirst=True)


def _raw_mail_codec(conn: Connection) -> None:
    # Kept raw mail may be compressed (issue 10: a third fewer bytes written per mail); rows kept
    # before stay as they are, read as they are.
    _add_missing(conn, schema.raw_mail, ("codec",), ())


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial tables", _initial),
    Migration(2, "ticket number sequence (PostgreSQL)", _ticket_number_sequence),
    Migration(3, "ticket tags (routes)", _ticket_tags),
    Migration(4, "arrival times, every outcome's duplicate key, notice causes", _arrival_and_outcomes),
    Migration(5, "outbox statuses held and blocked", _held_and_blocked),
    Migration(6, "operator views: log search columns, outbox message key and expiry, raw mail, mailbox status",
              _operator_views),
    Migration(7, "kept raw mail compressed (raw_mail.codec)", _raw_mail_codec),
)


def add_column(conn: Connection, column: Column) -> None:
    """ALTER TABLE ... ADD COLUMN for a nullable column, alike on both databases."""
    kind = column.type.compile(dialect=conn.dialect)
    conn.execute(text(f'ALTER TABLE {column.table.name} ADD COLUMN "{column.name}" {kind}'))


def replace_check(conn: Connection, table: Table, check: str) -> None:
    """Give `table` its CHECK named `check` as schema.py declares it now.

    PostgreSQL alters the table in place (a store made without the CHECK gets it).
    SQLite cannot change a CHECK, so the table is rebuilt: renamed, made anew from
    schema.py (with its indexes), copied, dropped. That is safe only for a table no
    foreign key points at (the outbox).
    Only the columns the old table has are copied: a column schema.py has since added
    is added by a later step (`_add_missing` finds it there, and adds nothing).
    """
    name = f"ck_{table.name}_{check}"
    constraint = next(c for c in table.constraints if c.name == name)
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"ALTER TABLE {table.name} DROP CONSTRAINT IF EXISTS {name}"))
        conn.execute(text(f"ALTER TABLE {table.name} ADD CONSTRAINT {name} CHECK ({constraint.sqltext.text})"))
        return
    for index in inspect(conn).get_indexes(table.name):
        conn.execute(text(f'DROP INDEX "{index["name"]}"'))
    conn.execute(text(f"ALTER TABLE {table.name} RENAME TO {table.name}_old"))
    table.create(conn)
    kept = [c["name"] for c in inspect(conn).get_columns(f"{table.name}_old")]
    names = ", ".join(f'"{name}"' for name in kept)
    conn.execute(text(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {table.name}_old"))
    conn.execute(text(f"DROP TABLE {table.name}_old"))


LATEST = MIGRATIONS[-1].version

_versions_metadata = MetaData()
schema_version = Table(
    "schema_version",
    _versions_metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", UTCDateTime, nullable=False),
)

# Any constant works: it only has to be the same for every mailgate process.
_PG_LOCK_KEY = 0x6D61696C  # "mail"


def current_version(conn: Connection) -> int:
    """The version the database is at (0 when it has no schema_version table)."""
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    return conn.execute(select(func.max(schema_version.c.version))).scalar() or 0


def migrate(engine: Engine, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the database up to the last step; return the version it ends at.

    `engine` must come from `store.make_engine()`: a plain SQLite engine
    would let Python's sqlite3 commit DDL outside the transaction.

    Raises SchemaTooNew when a newer mailgate already migrated the database.
    All pending steps run in one transaction: a failure leaves it as it was.
    """
    latest = migrations[-1].version
    with engine.connect() as conn:
        conn.execution_options(mailgate_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                # Two pollers starting on a fresh database must not both migrate it.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            version = current_version(conn)
            if version > latest:
                raise SchemaTooNew(
                    f"the store is at schema version {version} but this mailgate knows only up to "
                    f"{latest}: upgrade mailgate, or point it at another store"
                )
            _versions_metadata.create_all(conn)
            for step in migrations:
                if step.version > version:
                    step.apply(conn)
                    conn.execute(insert(schema_version).values(
                        version=step.version, description=step.description,
                        applied_at=datetime.now(timezone.utc)))
            return max(version, latest)

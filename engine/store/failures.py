"""What a database driver's error means for the store: the transaction is lost, worth a retry, or neither."""

from __future__ import annotations

from engine.errors import StoreError, TransactionLost, TransientStoreError

# SQLite result codes after which the store cannot go on (SQLite may also have
# rolled the whole transaction back on its own: https://sqlite.org/lang_transaction.html).
SQLITE_LOST = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_READONLY",
               "SQLITE_CANTOPEN", "SQLITE_NOMEM")
# PostgreSQL SQLSTATE classes of the same kind: connection, resources, operator, system.
POSTGRES_LOST = ("08", "53", "57", "58")
# SQLSTATE class 40 (serialisation failure, deadlock): the whole transaction must be redone.
POSTGRES_ROLLED_BACK = "40"


def driver_code(err: BaseException) -> str:
    """The driver's own error code: SQLite's name (SQLITE_FULL...) or PostgreSQL's SQLSTATE, else ''."""
    orig = getattr(err, "orig", err)
    return (getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)
            or getattr(getattr(orig, "diag", None), "sqlstate", None) or "")


def driver_message(err: BaseException) -> str:
    """The driver's own words, without the SQL and parameters SQLAlchemy adds (they may hold mail)."""
    orig = getattr(err, "orig", None) or err
    return f"{type(orig).__name__}: {str(orig).strip() or 'no message'}"


def store_lost(err: BaseException) -> bool:
    """True when a driver error means the store cannot keep a transaction now (see TransactionLost)."""
    if getattr(err, "connection_invalidated", False):
        return True
    code = driver_code(err)
    if code.startswith("SQLITE_"):  # extended codes too: SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED...
        return any(code == name or code.startswith(name + "_") for name in SQLITE_LOST)
    return len(code) == 5 and code[:2] in POSTGRES_LOST


def wrap_database_error(err: Exception, doing: str) -> StoreError:
    """The StoreError for a driver error: lost, transient or neither."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if store_lost(err):
        return TransactionLost(f"{doing}: {err}")
    transient = isinstance(err, OperationalError) or (
        isinstance(err, DBAPIError) and err.connection_invalidated)
    kind = TransientStoreError if transient else StoreError
    return kind(f"{doing}: {err}")

"""Store errors that callers may want to tell apart; all are StoreError."""

from __future__ import annotations

from engine.errors import StoreError


class DuplicateMessage(StoreError):
    """(mailbox, message key) is already in the processing log (F-PRE-6).

    Raised inside `Store.transaction()`, it rolls the whole transaction back,
    so a second delivery of a message leaves no trace of its own.
    """

    def __init__(self, mailbox: str, message_key: str):
        self.mailbox = mailbox
        self.message_key = message_key
        super().__init__(f"message {message_key!r} was already processed in mailbox {mailbox!r}")


class TransientStoreError(StoreError):
    """The database was busy, deadlocked or unreachable: retry later.

    The message being processed is not at fault, so a poller should back off
    and try it again rather than quarantine it.
    """


class TransactionLost(StoreError):
    """The database dropped the transaction or cannot keep one: nothing of it is committed.

    A full disk, an I/O error, a lost connection, a serialisation failure inside
    a batch. Not the message's fault, so it is neither quarantined nor retried
    here: the poll stops, acknowledges nothing of the transaction and says why;
    the next poll fetches the same mail again.
    """


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


class SchemaTooNew(StoreError):
    """The database was migrated by a newer mailgate than this one."""


class DirectoryError(StoreError):
    """A directory import file is malformed; carries every located problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

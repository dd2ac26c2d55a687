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


def wrap_database_error(err: Exception, doing: str) -> StoreError:
    """The StoreError for a driver error, transient or not."""
    from sqlalchemy.exc import DBAPIError, OperationalError

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

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


class SchemaTooNew(StoreError):
    """The database was migrated by a newer mailgate than this one."""


class DirectoryError(StoreError):
    """A directory import file is malformed; carries every located problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

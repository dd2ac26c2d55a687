"""The one exception hierarchy mailgate raises for real failures.

MailgateError
├── ConfigError        the configuration cannot be loaded (located problems)
│   ├── PatternError   a regex that does not compile or needs backtracking
│   └── SecretError    a {env:}/{file:} secret that cannot be resolved
├── SourceError        a mailbox could not be reached, authenticated or acknowledged
│   ├── AuthError      the server refused our credentials
│   └── NtlmRefused    NTLM was about to be used where it is forbidden
├── StoreError         the ticket store could not complete a transaction
│   ├── DuplicateMessage, TransientStoreError, TransactionLost, SchemaTooNew
│   └── DirectoryError a directory import file is malformed
├── DeliveryError      the SMTP server refused or could not be reached
└── UsageError         the command line asked for something impossible
    └── CaseError      a golden case that cannot run as written (located problems)
"""


class MailgateError(Exception):
    """Base of every error mailgate raises on purpose."""


class ConfigError(MailgateError):
    """The configuration cannot be loaded; carries the located problems."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(MailgateError):
    """A mailbox could not be reached, authenticated or acknowledged.

    `server_text` holds the server's own words and `hint` what an admin can do;
    `status` is the HTTP status of a web API (EWS, Graph), 0 otherwise;
    `unauthorized` says a token was refused (worth one fresh token).
    """

    def __init__(self, message: str, server_text: str = "", hint: str = "", status: int = 0,
                 unauthorized: bool = False):
        text = message + (f": server said: {server_text}" if server_text else "") + (f" (hint: {hint})" if hint else "")
        super().__init__(text)
        self.message = message  # without the server's words and the hint, which a report shows apart
        self.server_text = server_text
        self.hint = hint
        self.status = status
        self.unauthorized = unauthorized


class AuthError(SourceError):
    """The server refused our credentials (counts for the auth monitor)."""


class PatternError(ConfigError):
    """A pattern that does not compile, or needs backtracking RE2 refuses."""

    def __init__(self, message: str, hint: str):
        MailgateError.__init__(self, message)
        self.problems = []
        self.hint = hint


class SecretError(ConfigError):
    """A secret reference that cannot be resolved; the message never holds the value."""

    def __init__(self, message: str):
        MailgateError.__init__(self, message)
        self.problems = []


class NtlmRefused(SourceError):
    """An NTLM handshake was about to leave while the mailbox forbids NTLM (allow_ntlm: false)."""


class StoreError(MailgateError):
    """The ticket store could not complete a transaction."""


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


class SchemaTooNew(StoreError):
    """The database was migrated by a newer mailgate than this one."""


class DirectoryError(StoreError):
    """A directory import file is malformed; carries every located problem."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class DeliveryError(MailgateError):
    """The SMTP server refused or could not be reached; `permanent` for 5xx answers."""

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class UsageError(MailgateError):
    """The command line asked for something impossible (exit status 2)."""


class CaseError(UsageError):
    """A golden case that cannot run as written (unknown mailbox, unreadable fixture…); carries located problems."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

"""The one small exception hierarchy mailgate raises for real failures."""


class MailgateError(Exception):
    """Base of every error mailgate raises on purpose."""


class ConfigError(MailgateError):
    """The configuration cannot be loaded; carries the located problems."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SourceError(MailgateError):
    """A mailbox could not be reached, authenticated or acknowledged."""


class AuthError(SourceError):
    """The server refused our credentials (counts for the auth monitor)."""


class StoreError(MailgateError):
    """The ticket store could not complete a transaction."""


class UsageError(MailgateError):
    """The command line asked for something impossible (exit status 2)."""

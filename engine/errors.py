"""The one small exception hierarchy mailgate raises for real failures."""


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
        self.server_text = server_text
        self.hint = hint
        self.status = status
        self.unauthorized = unauthorized


class AuthError(SourceError):
    """The server refused our credentials (counts for the auth monitor)."""


class StoreError(MailgateError):
    """The ticket store could not complete a transaction."""


class UsageError(MailgateError):
    """The command line asked for something impossible (exit status 2)."""

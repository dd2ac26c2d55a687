"""The connect → TLS → login → keep → drop cycle that IMAP and POP3 sources share."""

from __future__ import annotations

import ssl
from contextlib import contextmanager
from typing import Generic, Iterator, Optional, Sequence, TypeVar

from engine.errors import AuthError, MailgateError, SourceError
from engine.sources import sasl, tls
from engine.sources.base import ServerSettings, TokenProvider
from engine.sources.network import connect_failure

Conn = TypeVar("Conn")
RETRY_HINT = "the server closed or refused the connection; the next poll retries"


def server_words(exc: BaseException) -> str:
    """The server's own text from a protocol error (imaplib and poplib wrap it in bytes reprs)."""
    text = str(exc.args[0] if exc.args else exc)
    if text[:2] in ("b'", 'b"'):
        text = text[2:-1]
    return text


class ServerSession(Generic[Conn]):
    """One logged-in connection, opened on first use and dropped on any network failure.

    A protocol module subclasses this and fills in the hooks: how to open a plain
    or TLS connection, how to upgrade it (STARTTLS/STLS), how to log in, and how
    to abandon a broken one. Every failure becomes a SourceError carrying the
    server's words and a hint, and a broken session is never reused.
    """

    #: the protocol library's own errors, besides OSError (a dropped socket)
    PROTOCOL_ERRORS: tuple[type[BaseException], ...] = ()
    #: what the library raises when the server refuses a login
    LOGIN_REFUSED: tuple[type[BaseException], ...] = ()

    def __init__(self, settings: ServerSettings, token_provider: Optional[TokenProvider] = None) -> None:
        tls.check_mode(settings.tls)
        self.settings = settings
        self.token_provider = token_provider
        self.mechanism = ""
        self.fallbacks: tuple[str, ...] = ()  # mechanisms refused before `mechanism` worked (F-MB-17)
        self.tls_version: Optional[str] = None  # as negotiated by the last connection
        self.sessions = 0  # connections opened so far (reconnects are counted, F-MB-16)
        self._in_session = 0  # messages fetched in the current session
        self._conn: Optional[Conn] = None

    # -- hooks -------------------------------------------------------------------

    def _open(self, ctx: Optional[ssl.SSLContext]) -> Conn:
        """A connection to the server, with implicit TLS when the settings say so."""
        raise NotImplementedError

    def _upgrade(self, conn: Conn, ctx: ssl.SSLContext) -> None:
        """STARTTLS / STLS, or a SourceError: never carry on in plaintext when TLS was asked for."""
        raise NotImplementedError

    def _offered(self, conn: Conn) -> list[str]:
        """The SASL mechanisms the server advertises, plus sasl.LOGIN_COMMAND when its own login is open."""
        raise NotImplementedError

    def _authenticate(self, conn: Conn, name: str, token: Optional[str]) -> None:
        """Log in with mechanism `name`; a refusal raises one of LOGIN_REFUSED."""
        raise NotImplementedError

    def _after_login(self, conn: Conn) -> None:
        """What a fresh session does once logged in (IMAP: open the folder)."""

    def _abandon(self, conn: Conn) -> None:
        """Close a connection that may already be half gone, without raising."""
        raise NotImplementedError

    def _forget(self) -> None:
        """Reset what belongs to one session only (message numbers, UIDVALIDITY)."""

    def _socket(self, conn: Conn) -> object:
        """The connection's socket (an SSLSocket once TLS is on), to tell the TLS version."""
        return getattr(conn, "sock", None)

    # -- the cycle ---------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn socket, TLS and protocol failures into SourceError, dropping the broken session."""
        try:
            yield
        except MailgateError:
            raise
        except ssl.SSLError as exc:
            self._drop()
            raise tls.tls_error(self.settings.server, exc, self._pinned) from exc
        except (*self.PROTOCOL_ERRORS, OSError, EOFError) as exc:
            self._drop()
            raise SourceError(f"{self.settings.server}: {doing} failed", server_words(exc), RETRY_HINT) from exc

    def _drop(self) -> None:
        """Forget a broken session without a goodbye (POP3: no QUIT, so nothing is deleted)."""
        conn, self._conn = self._conn, None
        self._forget()
        if conn is not None:
            self._abandon(conn)

    def _session(self) -> Conn:
        """The logged-in connection, connecting when there is none."""
        if self._conn is None:
            conn = self._logged_in()
            self._conn, self._in_session = conn, 0
            self.sessions += 1
            try:
                self._after_login(conn)
            except BaseException:
                self._drop()
                raise
        return self._conn

    def _logged_in(self) -> Conn:
        """A new connection, logged in with the best acceptable mechanism (F-MB-4).

        When it is refused for any reason but a verdict on the credentials, the next
        acceptable one is tried on a fresh connection (F-MB-17, seed 003: "it will apply
        another one"); `fallbacks` keeps what was refused, for test-connection.
        """
        s, tried, order = self.settings, [], None
        token = self.token_provider() if self.token_provider else None
        while True:
            conn, name = self._connect(), ""
            try:
                if order is None:
                    order = self._preferred_first(sasl.candidates(
                        self._offered(conn), s.auth, tls_active=s.tls != "none",
                        forbid_plaintext=s.forbid_plaintext_login, have_token=token is not None,
                        shared=s.shared_mailbox is not None))
                name = order.pop(0)
                self._authenticate(conn, name, token)
            except self.LOGIN_REFUSED as exc:
                self._abandon(conn)
                tried.append((name, server_words(exc)))
                if not order or not sasl.worth_another(name, tried[-1][1]):
                    raise self._refused(tried) from exc
                continue
            except BaseException:
                self._abandon(conn)
                raise
            self.mechanism, self.fallbacks = name, tuple(f"{n} refused: {w}" for n, w in tried)
            return conn

    def _preferred_first(self, order: list[str]) -> list[str]:
        """The mechanism that worked last time first: a reconnect does not repeat a known refusal."""
        return sorted(order, key=lambda name: name != self.mechanism)

    def _refused(self, tried: list[tuple[str, str]]) -> AuthError:
        s = self.settings
        names = ", then ".join(name for name, _ in tried)
        return AuthError(f"{s.server}: login as {s.username!r} refused ({names})", tried[-1][1],
                         "check the username and password (or the OAuth token)")

    def _connect(self) -> Conn:
        s = self.settings
        ctx = None if s.tls == "none" else tls.context(s.verify_certificate, s.ca_file,
                                                       s.tls_min_version, s.tls_max_version)
        try:
            conn = self._open(ctx)
        except ssl.SSLError as exc:
            raise tls.tls_error(s.server, exc, self._pinned) from exc
        except (*self.PROTOCOL_ERRORS, OSError) as exc:
            raise (connect_failure(s.host, s.effective_port, exc, s.timeout)
                   or SourceError(f"{s.server}: cannot connect", server_words(exc), "check host, port and firewall")) from exc
        if s.tls == "starttls":
            try:
                self._upgrade(conn, ctx)
            except BaseException:
                self._abandon(conn)
                raise
        self.tls_version = tls.negotiated(self._socket(conn))
        return conn

    def close(self) -> None:
        """End the session cleanly (the protocol's goodbye); the next use connects again."""
        raise NotImplementedError

    def _per_session(self, keys: Sequence[str]) -> Iterator[list[str]]:
        """`keys` in runs that fit the current session (F-MB-16, seed 003's "Max Messages per Session").

        Once `max_messages_per_session` messages were fetched in a session, it is ended
        cleanly before the next run (POP3: QUIT, so the DELEs of the mail acknowledged so
        far take effect) and the next run logs in anew, within the same poll.
        """
        limit, rest = self.settings.max_messages_per_session, list(keys)
        while rest:
            if limit and self._conn is not None and self._in_session >= limit:
                self.close()
            room = limit - self._in_session if limit and self._conn is not None else limit or len(rest)
            run, rest = rest[:room], rest[room:]
            yield run
            self._in_session += len(run)

    def _report_extra(self, **facts: object) -> dict:
        """What test-connection adds for any server session: the TLS version spoken (F-MB-15), the
        shared mailbox a delegate opened (F-MB-18), the mechanisms that gave way (F-MB-17)."""
        extra = {**facts, "tls_version": self.tls_version} if self.tls_version else dict(facts)
        if self.settings.shared_mailbox:
            extra["shared_mailbox"] = f"{self.settings.shared_mailbox} (opened by {self.settings.username})"
        if self.fallbacks:  # each refusal costs the server's failure delay: say how to skip them
            name = "login" if self.mechanism == sasl.LOGIN_COMMAND else self.mechanism.lower()
            extra["auth_fallback"] = (f"{'; '.join(self.fallbacks)}; logged in with {self.mechanism} "
                                      f"(auth.method: [{name}] logs in at once)")
        return extra

    @property
    def _pinned(self) -> bool:
        return tls.pinned(self.settings.tls_min_version, self.settings.tls_max_version)

    def _upgrade_failed(self, exc: BaseException, command: str) -> SourceError:
        """The error for a failed STARTTLS/STLS exchange."""
        if isinstance(exc, ssl.SSLError):
            return tls.tls_error(self.settings.server, exc, self._pinned)
        return SourceError(f"{self.settings.server}: {command} failed", server_words(exc))

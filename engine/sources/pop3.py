"""POP3 mailbox source over poplib: TLS/STLS, SASL auth choice, UIDL keys, deletions at QUIT."""

from __future__ import annotations

import base64
import binascii
import poplib
import socket
import ssl
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Iterator, Optional, Sequence

from engine.errors import AuthError, MailgateError, SourceError
from engine.sources import sasl, tls
from engine.sources.base import (AckReport, AfterAction, ConnectionReport, Fetched, ServerSettings, SkipFn,
                                 TokenProvider, batched, failed_report, source_error)

# poplib refuses lines over 2048 bytes, but real mail breaks RFC 5322's 998 limit
# (unwrapped HTML); a line is still bounded, just not that tightly.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)



@dataclass(frozen=True)
class Pop3Settings(ServerSettings):
    """One POP3 mailbox: ports 995 (implicit TLS) / 110."""

    SCHEME: ClassVar[str] = "pop3"
    PORTS: ClassVar[tuple[int, int]] = (995, 110)

    leave_on_server: bool = False


def _words(exc: BaseException) -> str:
    text = str(exc.args[0] if exc.args else exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _close_quietly(conn: poplib.POP3) -> None:
    """Close a socket that may already be half gone (a failed handshake, a kicked session)."""
    try:
        conn.close()
    except OSError:
        pass


class Pop3Source:
    """Reads a POP3 maildrop; keys are the server's UIDLs, so nothing is imported twice."""

    protocol = "pop3"

    def __init__(self, settings: Pop3Settings, token_provider: Optional[TokenProvider] = None) -> None:
        tls.check_mode(settings.tls)
        self.settings = settings
        self.token_provider = token_provider
        self.skipped: list[str] = []
        self.mechanism = ""
        self._conn: Optional[poplib.POP3] = None
        self._numbers: dict[str, int] = {}

    # -- session ---------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except MailgateError:
            raise
        except ssl.SSLError as exc:
            self._drop()
            raise tls.tls_error(self.settings.server, exc) from exc
        except (poplib.error_proto, OSError, socket.timeout, EOFError) as exc:
            self._drop()
            raise source_error(SourceError, f"{self.settings.server}: {doing} failed", _words(exc),
                               "the server closed or refused the connection; the next poll retries") from exc

    def _drop(self) -> None:
        """Forget a broken session without QUIT: the server keeps every message."""
        conn, self._conn, self._numbers = self._conn, None, {}
        if conn is not None:
            _close_quietly(conn)

    def _session(self) -> poplib.POP3:
        if self._conn is None:
            conn = self._connect()
            try:
                self._login(conn)
            except BaseException:
                self._conn = conn
                self._drop()
                raise
            self._conn = conn
        return self._conn

    def _connect(self) -> poplib.POP3:
        s = self.settings
        ctx = None if s.tls == "none" else tls.context(s.verify_certificate, s.ca_file)
        try:
            if s.tls == "implicit":
                conn = poplib.POP3_SSL(s.host, s.effective_port, context=ctx, timeout=s.timeout)
            else:
                conn = poplib.POP3(s.host, s.effective_port, timeout=s.timeout)
        except ssl.SSLError as exc:
            raise tls.tls_error(s.server, exc) from exc
        except (OSError, poplib.error_proto) as exc:
            raise source_error(SourceError, f"{s.server}: cannot connect", _words(exc),
                               "check host, port and firewall") from exc
        if s.tls == "starttls":
            self._stls(conn, ctx)
        return conn

    def _stls(self, conn: poplib.POP3, ctx: ssl.SSLContext) -> None:
        """Upgrade or give up: never carry on in plaintext when STLS was asked for."""
        server = self.settings.server
        try:
            if "STLS" not in self._capa(conn):
                raise source_error(SourceError, f"{server}: the server does not offer STLS",
                                   hint="use tls: implicit on port 995, or fix the server")
            conn.stls(ctx)
        except ssl.SSLError as exc:
            _close_quietly(conn)
            raise tls.tls_error(server, exc) from exc
        except (poplib.error_proto, OSError) as exc:
            _close_quietly(conn)
            raise source_error(SourceError, f"{server}: STLS failed", _words(exc)) from exc

    @staticmethod
    def _capa(conn: poplib.POP3) -> dict:
        try:
            return conn.capa()
        except poplib.error_proto:  # a server without CAPA (RFC 2449) only has USER/PASS
            return {"USER": []}

    def _login(self, conn: poplib.POP3) -> None:
        s = self.settings
        capa = self._capa(conn)
        offered = [m.upper() for m in capa.get("SASL", [])]
        if "USER" in capa:
            offered.append(sasl.LOGIN_COMMAND)
        token = self.token_provider() if self.token_provider else None
        name = sasl.choose(offered, s.auth, tls_active=s.tls != "none",
                           forbid_plaintext=s.forbid_plaintext_login, have_token=token is not None)
        try:
            if name == sasl.LOGIN_COMMAND:
                conn.user(s.username)
                conn.pass_(s.password or "")
            else:
                self._authenticate(conn, name, sasl.mechanism(name, s.username, s.password, token))
        except poplib.error_proto as exc:
            raise source_error(AuthError, f"{s.server}: login as {s.username!r} refused ({name})",
                               _words(exc), "check the username and password (or the OAuth token)") from exc
        self.mechanism = name

    @staticmethod
    def _authenticate(conn: poplib.POP3, name: str, mech: sasl.Mechanism) -> None:
        """RFC 5034 AUTH exchange (poplib has none): '+ <base64>' challenges until +OK."""
        resp = conn._shortcmd(f"AUTH {name}")  # poplib raises error_proto on -ERR
        while not resp.startswith(b"+OK"):
            try:
                challenge = base64.b64decode(resp[1:].strip())
            except binascii.Error as exc:
                raise poplib.error_proto(b"-ERR bad SASL challenge from server") from exc
            answer = base64.b64encode(mech(challenge)).decode()
            resp = conn._shortcmd(answer)

    # -- fetch -----------------------------------------------------------------

    def fetch(self, max_messages: int, batch_size: int, skip: Optional[SkipFn] = None,
              max_size: Optional[int] = None) -> Iterator[list[Fetched]]:
        """Yield batches of RETR'd messages in maildrop order; keys are UIDLs."""
        with self._errors("UIDL"):
            self._listing()
            sizes = self._sizes() if max_size is not None else {}
        self.skipped = []
        wanted: list[tuple[str, int]] = []
        for key, number in self._numbers.items():
            if len(wanted) >= max_messages:
                break
            if skip is not None and skip(key):
                self.skipped.append(key)
            else:
                wanted.append((key, number))
        for chunk in batched(wanted, batch_size):
            with self._errors("RETR"):
                conn = self._session()
                batch = [self._retrieve(conn, key, number, sizes.get(number, 0), max_size)
                         for key, number in chunk]
            yield batch

    @staticmethod
    def _retrieve(conn: poplib.POP3, key: str, number: int, size: int,
                  max_size: Optional[int]) -> Fetched:
        """RETR, or only the header (TOP n 0) of a message over `max_size`."""
        if max_size is not None and size > max_size:
            head = b"\r\n".join(conn.top(number, 0)[1]) + b"\r\n"
            return Fetched(key, head, size, truncated=True)
        raw = b"\r\n".join(conn.retr(number)[1]) + b"\r\n"
        return Fetched(key, raw, len(raw))

    def _sizes(self) -> dict[int, int]:
        """Message number -> octets, from one LIST."""
        sizes = {}
        for line in self._session().list()[1]:
            number, _, octets = line.decode("ascii", "replace").partition(" ")
            sizes[int(number)] = int(octets.split()[0]) if octets.strip() else 0
        return sizes

    def _listing(self) -> dict[str, int]:
        """UIDL of the current session: key -> message number (numbers are per session)."""
        conn = self._session()
        try:
            lines = conn.uidl()[1]
        except poplib.error_proto as exc:
            raise source_error(SourceError, f"{self.settings.server}: the server has no UIDL",
                               _words(exc), "mailgate needs UIDL to avoid importing mail twice") from exc
        numbers = {}
        for line in lines:
            number, _, uid = line.decode("ascii", "replace").partition(" ")
            numbers[uid.strip()] = int(number)
        self._numbers = numbers
        return numbers

    # -- ack -------------------------------------------------------------------

    def ack(self, keys: Sequence[str], action: AfterAction) -> AckReport:
        """delete marks messages with DELE (they go at QUIT, in close()); POP3 has no flags or folders.

        mark_read and none leave the mail on the server: the caller's processing log,
        through `skip`, keeps it from being imported again.
        """
        if not keys or action.kind in ("none", "mark_read"):
            return AckReport(action, done=tuple(keys))
        if action.kind == "move":
            return AckReport(action, kept=tuple(keys), problems=(
                "POP3 has no folders: the mail stays on the server; use delete or mark_read",))
        if self.settings.leave_on_server:
            return AckReport(action, kept=tuple(keys), problems=(
                "leave_on_server is set: nothing is deleted from the POP3 server",))
        with self._errors("DELE"):
            numbers = self._numbers if self._conn is not None and self._numbers else self._listing()
            conn = self._session()
            done = [k for k in keys if k in numbers]
            for key in done:
                conn.dele(numbers[key])
        stale = tuple(k for k in keys if k not in numbers)
        problems = (f"{len(stale)} message(s) no longer on the server",) if stale else ()
        return AckReport(action, done=tuple(done), stale=stale, problems=problems)

    # -- test-connection / close ------------------------------------------------

    def test_connection(self) -> ConnectionReport:
        """Connect, log in and count the maildrop (F-MB-7); POP3 knows nothing of 'unread'."""
        s = self.settings
        try:
            with self._errors("STAT"):
                count, size = self._session().stat()
            return ConnectionReport(True, self.protocol, s.server, "INBOX", s.tls, self.mechanism,
                                    count, None, extra={"octets": size})
        except MailgateError as exc:
            return failed_report(self.protocol, s.server, exc, "INBOX")
        finally:
            self.close()

    def close(self) -> None:
        """QUIT, which is when the server carries out the DELEs of this session."""
        conn, self._conn, self._numbers = self._conn, None, {}
        if conn is None:
            return
        try:
            conn.quit()
        except (poplib.error_proto, OSError, EOFError):
            # Deletions did not happen; the messages are skipped (already logged) next
            # time and the poller re-acks them from `skipped`.
            _close_quietly(conn)

    def __enter__(self) -> "Pop3Source":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

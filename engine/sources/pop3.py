"""POP3 mailbox source over poplib: TLS/STLS, SASL auth choice, UIDL keys, deletions at QUIT."""

from __future__ import annotations

import base64
import binascii
import poplib
import socket
import ssl
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

from engine.errors import MailgateError, SourceError
from engine.sources import sasl
from engine.sources.base import AckReport, AfterAction, ConnectionReport, Fetched, ServerSettings, TokenProvider, failed_report
from engine.sources.pop3_multiline import retrieve
from engine.sources.session import ServerSession, server_words
from engine.sources.settings import login_token_provider, server_options

# poplib refuses lines over 2048 bytes, but real mail breaks RFC 5322's 998 limit
# (unwrapped HTML); a line is still bounded, just not that tightly.
poplib._MAXLINE = max(poplib._MAXLINE, 1 << 20)



@dataclass(frozen=True)
class Pop3Settings(ServerSettings):
    """One POP3 mailbox: ports 995 (implicit TLS) / 110."""

    SCHEME: ClassVar[str] = "pop3"
    PORTS: ClassVar[tuple[int, int]] = (995, 110)

    leave_on_server: bool = False


def _close_quietly(conn: poplib.POP3) -> None:
    """Close a socket that may already be half gone (a failed handshake, a kicked session)."""
    try:
        conn.close()
    except OSError:
        pass


class Pop3Source(ServerSession[poplib.POP3]):
    """Reads a POP3 maildrop; keys are the server's UIDLs, so nothing is imported twice."""

    protocol = "pop3"
    PROTOCOL_ERRORS = (poplib.error_proto, socket.timeout)
    LOGIN_REFUSED = (poplib.error_proto,)

    def __init__(self, settings: Pop3Settings, token_provider: Optional[TokenProvider] = None) -> None:
        super().__init__(settings, token_provider)
        self._numbers: dict[str, int] = {}
        self._sizes: dict[int, int] = {}

    # -- session hooks -------------------------------------------------------------

    def _open(self, ctx: Optional[ssl.SSLContext]) -> poplib.POP3:
        s = self.settings
        if s.tls == "implicit":
            return poplib.POP3_SSL(s.host, s.effective_port, context=ctx, timeout=s.timeout)
        return poplib.POP3(s.host, s.effective_port, timeout=s.timeout)

    def _upgrade(self, conn: poplib.POP3, ctx: ssl.SSLContext) -> None:
        if "STLS" not in self._capa(conn):
            raise SourceError(f"{self.settings.server}: the server does not offer STLS",
                              hint="use tls: implicit on port 995, or fix the server")
        try:
            conn.stls(ctx)
        except (ssl.SSLError, poplib.error_proto, OSError) as exc:
            raise self._upgrade_failed(exc, "STLS") from exc

    def _abandon(self, conn: poplib.POP3) -> None:
        _close_quietly(conn)

    def _forget(self) -> None:
        self._numbers, self._sizes = {}, {}

    @staticmethod
    def _capa(conn: poplib.POP3) -> dict:
        try:
            return conn.capa()
        except poplib.error_proto:  # a server without CAPA (RFC 2449) only has USER/PASS
            return {"USER": []}

    def _offered(self, conn: poplib.POP3) -> list[str]:
        capa = self._capa(conn)
        offered = [m.upper() for m in capa.get("SASL", [])]
        if "USER" in capa:
            offered.append(sasl.LOGIN_COMMAND)
        return offered

    def _authenticate(self, conn: poplib.POP3, name: str, token: Optional[str]) -> None:
        s = self.settings
        if name == sasl.LOGIN_COMMAND:
            conn.user(s.plain_login)
            conn.pass_(s.password or "")
        else:
            self._sasl(conn, name, sasl.mechanism(name, s.username, s.password, token, s.shared_mailbox))

    @staticmethod
    def _sasl(conn: poplib.POP3, name: str, mech: sasl.Mechanism) -> None:
        """RFC 5034 AUTH exchange (poplib has none): '+ <base64>' challenges until +OK."""
        resp = conn._shortcmd(f"AUTH {name}")  # poplib raises error_proto on -ERR
        while not resp.startswith(b"+OK"):
            try:
                challenge = base64.b64decode(resp[1:].strip())
            except binascii.Error as exc:
                raise poplib.error_proto(b"-ERR bad SASL challenge from server") from exc
            answer = base64.b64encode(mech(challenge)).decode()
            resp = conn._shortcmd(answer)

    # -- list and fetch --------------------------------------------------------------

    def list_keys(self) -> list[str]:
        """UIDLs in maildrop order (POP3 knows no unread: the processing log tells what is new)."""
        with self._errors("UIDL"):
            return list(self._listing())

    def fetch(self, keys: Sequence[str], max_size: Optional[int] = None) -> list[Fetched]:
        """RETR each of `keys`; a message over `max_size` comes as its header only (TOP n 0).

        After `max_messages_per_session` messages the session ends with QUIT, so the mail
        deleted so far goes, and a new one starts (F-MB-16, seed 003).
        """
        return [item for run in self._per_session(keys) for item in self._fetch_run(run, max_size)]

    def _fetch_run(self, keys: Sequence[str], max_size: Optional[int]) -> list[Fetched]:
        with self._errors("RETR"):
            numbers = self._numbers or self._listing()
            sizes = self._octets() if max_size is not None else {}
            conn = self._session()
            return [self._retrieve(conn, key, numbers[key], sizes.get(numbers[key], 0), max_size)
                    for key in keys if key in numbers]

    @staticmethod
    def _retrieve(conn: poplib.POP3, key: str, number: int, size: int,
                  max_size: Optional[int]) -> Fetched:
        if max_size is not None and size > max_size:
            head = b"\r\n".join(conn.top(number, 0)[1]) + b"\r\n"
            return Fetched(key, head, size, truncated=True)
        raw = retrieve(conn, number)
        return Fetched(key, raw, len(raw))

    def _octets(self) -> dict[int, int]:
        """Message number -> octets, from one LIST per session."""
        if not self._sizes:
            for line in self._session().list()[1]:
                number, _, octets = line.decode("ascii", "replace").partition(" ")
                self._sizes[int(number)] = int(octets.split()[0]) if octets.strip() else 0
        return self._sizes

    def _listing(self) -> dict[str, int]:
        """UIDL of the current session: key -> message number (numbers are per session)."""
        conn = self._session()
        try:
            lines = conn.uidl()[1]
        except poplib.error_proto as exc:
            raise SourceError(f"{self.settings.server}: the server has no UIDL",
                              server_words(exc), "mailgate needs UIDL to avoid importing mail twice") from exc
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
                                    count, None, extra=self._report_extra(octets=size))
        except MailgateError as exc:
            return failed_report(self.protocol, s.server, exc, "INBOX")
        finally:
            self.close()

    def close(self) -> None:
        """QUIT, which is when the server carries out the DELEs of this session."""
        conn, self._conn = self._conn, None
        self._forget()
        if conn is None:
            return
        try:
            conn.quit()
        except (poplib.error_proto, OSError, EOFError):
            # Deletions did not happen; the messages are skipped (already logged) next
            # time and the poller acknowledges them again.
            _close_quietly(conn)

    def __enter__(self) -> "Pop3Source":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build(mailbox, config_dir: str) -> Pop3Source:
    """The source of a `protocol: pop3` mailbox."""
    pop3 = mailbox.options["pop3"]
    settings = Pop3Settings(**server_options(mailbox, config_dir), leave_on_server=pop3["leave_on_server"],
                            max_messages_per_session=pop3.get("max_messages_per_session"))
    return Pop3Source(settings, login_token_provider(mailbox, config_dir))

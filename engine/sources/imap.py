"""IMAP mailbox source over imapclient: TLS, secure auth choice, batched fetch, batched acks."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import ClassVar, Optional, Sequence

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from engine.errors import MailgateError, SourceError
from engine.sources import sasl
from engine.sources.base import AckReport, AfterAction, ConnectionReport, Fetched, ServerSettings, TokenProvider, failed_report
from engine.sources.session import ServerSession, server_words
from engine.sources.settings import login_token_provider, server_options

SEEN, DELETED = b"\\Seen", b"\\Deleted"


@dataclass(frozen=True)
class ImapSettings(ServerSettings):
    """One IMAP mailbox: ports 993 (implicit TLS) / 143."""

    SCHEME: ClassVar[str] = "imap"
    PORTS: ClassVar[tuple[int, int]] = (993, 143)

    folder: str = "INBOX"
    unread_only: bool = True


def uid_set(uids: Sequence[int]) -> str:
    """Compress UIDs into an IMAP sequence set (`1:5,9,12:14`) so one command covers a batch."""
    parts, ordered = [], sorted(set(uids))
    start = prev = None
    for uid in ordered + [None]:
        if prev is not None and uid == prev + 1:
            prev = uid
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}:{prev}")
        start = prev = uid
    return ",".join(parts)


def _shutdown_quietly(client: IMAPClient) -> None:
    """Drop a connection that may already be half gone (failed handshake, kicked session)."""
    try:
        client.shutdown()
    except Exception:  # nothing more to do with a broken socket
        pass


def _arrival(value: object) -> Optional[datetime]:
    """INTERNALDATE as an aware UTC time (imapclient gives it with its offset when not normalised)."""
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


class ImapSource(ServerSession[IMAPClient]):
    """Reads one IMAP folder; keys are `<uidvalidity>:<uid>`."""

    protocol = "imap"
    PROTOCOL_ERRORS = (IMAPClientError, socket.timeout)
    LOGIN_REFUSED = (LoginError,)

    def __init__(self, settings: ImapSettings, token_provider: Optional[TokenProvider] = None) -> None:
        super().__init__(settings, token_provider)
        self.uidvalidity: Optional[int] = None
        self._exists = 0

    # -- session hooks -------------------------------------------------------------

    def _open(self, ctx: Optional[ssl.SSLContext]) -> IMAPClient:
        s = self.settings
        client = IMAPClient(s.host, port=s.effective_port, ssl=s.tls == "implicit", ssl_context=ctx, timeout=s.timeout)
        client.normalise_times = False  # INTERNALDATE with its zone: arrival times are compared across servers
        return client

    def _upgrade(self, client: IMAPClient, ctx: ssl.SSLContext) -> None:
        if not client.has_capability("STARTTLS"):
            raise SourceError(f"{self.settings.server}: the server does not offer STARTTLS",
                              hint="use tls: implicit on port 993, or fix the server")
        try:
            client.starttls(ctx)
        except (ssl.SSLError, IMAPClientError, OSError) as exc:
            raise self._upgrade_failed(exc, "STARTTLS") from exc

    def _after_login(self, client: IMAPClient) -> None:
        self._select()

    def _abandon(self, client: IMAPClient) -> None:
        _shutdown_quietly(client)

    def _forget(self) -> None:
        self.uidvalidity = None

    def _socket(self, client: IMAPClient) -> object:
        return getattr(client._imap, "sock", None)  # imapclient keeps imaplib's connection there

    def _offered(self, client: IMAPClient) -> list[str]:
        caps = {c.decode().upper() for c in client.capabilities()}
        offered = [c[5:] for c in caps if c.startswith("AUTH=")]
        if "LOGINDISABLED" not in caps:
            offered.append(sasl.LOGIN_COMMAND)
        return offered

    def _authenticate(self, client: IMAPClient, name: str, token: Optional[str]) -> None:
        s = self.settings
        if name == sasl.LOGIN_COMMAND:
            client.login(s.plain_login, s.password or "")
        else:
            client.sasl_login(name, sasl.mechanism(name, s.username, s.password, token, s.shared_mailbox))

    def _select(self) -> int:
        assert self._conn is not None
        s = self.settings
        try:
            info = self._conn.select_folder(s.folder)
        except IMAPClientError as exc:
            raise SourceError(f"{s.server}: cannot open folder {s.folder!r}", server_words(exc),
                              "folder names are case-sensitive and use the server's separator") from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self._exists = int(info.get(b"EXISTS", 0))
        return self.uidvalidity

    # -- list and fetch --------------------------------------------------------------

    def list_keys(self) -> list[str]:
        """`<uidvalidity>:<uid>` of the folder's mail, oldest UID first; mail flagged \\Deleted is not ours."""
        with self._errors("search"):
            client = self._session()
            criteria = ["UNSEEN", "UNDELETED"] if self.settings.unread_only else ["UNDELETED"]
            return [f"{self.uidvalidity}:{uid}" for uid in sorted(client.search(criteria))]

    def fetch(self, keys: Sequence[str], max_size: Optional[int] = None) -> list[Fetched]:
        """BODY.PEEK[] (never sets \\Seen) with INTERNALDATE; over `max_size` only the header.

        After `max_messages_per_session` messages the session is renewed (F-MB-16).
        """
        return [item for run in self._per_session(keys) for item in self._fetch_run(run, max_size)]

    def _fetch_run(self, keys: Sequence[str], max_size: Optional[int]) -> list[Fetched]:
        with self._errors("fetch"):
            client = self._session()
            uids = self._uids_of(keys)
            big = self._oversized(uids, max_size)
            small = [u for u in uids if u not in big]
            # imapclient needs UID lists here (it filters the response by them).
            data = client.fetch(small, ["BODY.PEEK[]", "INTERNALDATE"]) if small else {}
            heads = client.fetch(list(big), ["BODY.PEEK[HEADER]", "INTERNALDATE"]) if big else {}
        # A message expunged by someone else since SEARCH is simply absent.
        out = []
        for uid in uids:
            key = f"{self.uidvalidity}:{uid}"
            if uid in big and b"BODY[HEADER]" in heads.get(uid, {}):
                item = heads[uid]
                out.append(Fetched(key, item[b"BODY[HEADER]"], big[uid], True, _arrival(item.get(b"INTERNALDATE"))))
            elif b"BODY[]" in data.get(uid, {}):
                item = data[uid]
                raw = item[b"BODY[]"]
                out.append(Fetched(key, raw, len(raw), False, _arrival(item.get(b"INTERNALDATE"))))
        return out

    def _uids_of(self, keys: Sequence[str]) -> list[int]:
        """The UIDs of `keys`; a key of another UIDVALIDITY means the folder was rebuilt meanwhile."""
        current, stale = self._split(keys)
        if stale:
            raise SourceError(f"{self.settings.server}: UIDVALIDITY of {self.settings.folder!r} "
                              "changed while fetching; the next poll starts afresh")
        return [uid for _, uid in current]

    def _oversized(self, uids: Sequence[int], max_size: Optional[int]) -> dict[int, int]:
        """UID -> size of the messages in `uids` larger than `max_size` (one FETCH RFC822.SIZE)."""
        if max_size is None or not uids:
            return {}
        sizes = self._conn.fetch(list(uids), ["RFC822.SIZE"])
        return {uid: int(item[b"RFC822.SIZE"]) for uid, item in sizes.items()
                if int(item.get(b"RFC822.SIZE", 0)) > max_size}

    # -- ack -------------------------------------------------------------------

    def ack(self, keys: Sequence[str], action: AfterAction) -> AckReport:
        """One STORE / MOVE / EXPUNGE for all `keys`; keys from an older UIDVALIDITY are left alone."""
        if action.kind == "none" or not keys:
            return AckReport(action, done=tuple(keys))
        with self._errors(action.kind):
            self._session()
            current, stale = self._split(keys)
            report = self._apply(action, current)
        if stale:
            note = (f"{len(stale)} message(s) not touched: the folder's UIDVALIDITY changed, so their "
                    "UIDs may now name other mail; they will be fetched again under new keys")
            report = AckReport(action, report.done, report.kept, tuple(stale), report.problems + (note,))
        return report

    def _split(self, keys: Sequence[str]) -> tuple[list[tuple[str, int]], list[str]]:
        current, stale = [], []
        for key in keys:
            validity, _, uid = key.partition(":")
            if validity == str(self.uidvalidity) and uid.isdigit():
                current.append((key, int(uid)))
            else:
                stale.append(key)
        return current, stale

    def _apply(self, action: AfterAction, items: list[tuple[str, int]]) -> AckReport:
        keys = tuple(k for k, _ in items)
        if not items:
            return AckReport(action)
        client, uids = self._conn, uid_set([u for _, u in items])
        if action.kind == "mark_read":
            client.add_flags(uids, [SEEN], silent=True)
        elif action.kind == "delete":
            client.add_flags(uids, [SEEN, DELETED], silent=True)
            self._expunge(uids)
        else:
            problem = self._ensure_folder(action)
            if problem:
                return AckReport(action, kept=keys, problems=(problem,))
            if action.header is not None:
                self._copy_with_header([u for _, u in items], action)
                client.add_flags(uids, [SEEN, DELETED], silent=True)
                self._expunge(uids)
            else:
                self._move(uids, action.folder)
        return AckReport(action, done=keys)

    def _expunge(self, uids: str) -> None:
        # Without UIDPLUS a plain EXPUNGE would also remove mail others flagged \Deleted.
        if self._conn.has_capability("UIDPLUS"):
            self._conn.uid_expunge(uids)
        else:
            self._conn.expunge()

    def _ensure_folder(self, action: AfterAction) -> str:
        """'' when the target exists (creating it if allowed), else the problem to report."""
        client = self._conn
        if client.folder_exists(action.folder):
            return ""
        if not action.create_folder:
            return (f"folder {action.folder!r} does not exist on {self.settings.server}: the mail stays "
                    f"in {self.settings.folder!r}; create the folder or set create_folder: true")
        client.create_folder(action.folder)
        try:
            client.subscribe_folder(action.folder)
        except IMAPClientError:
            pass  # subscribing only makes it visible in mail clients
        return ""

    def _copy_with_header(self, uids: list[int], action: AfterAction) -> None:
        """APPEND each message, the action's header on top, with its flags and arrival time:
        IMAP cannot change a stored message, so the moved copy is a new one."""
        client = self._conn
        for uid, data in client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]).items():
            raw = data[b"BODY[]"]
            flags = [f for f in data.get(b"FLAGS", ()) if f not in (b"\\Recent",)]
            client.append(action.folder, action.header_line(raw) + raw, flags=flags,
                          msg_time=data.get(b"INTERNALDATE"))

    def _move(self, uids: str, folder: str) -> None:
        client = self._conn
        if client.has_capability("MOVE"):
            client.move(uids, folder)
            return
        client.copy(uids, folder)
        client.add_flags(uids, [SEEN, DELETED], silent=True)
        self._expunge(uids)

    # -- test-connection / close ------------------------------------------------

    def test_connection(self) -> ConnectionReport:
        """Connect, log in, open the folder and count all and unread messages (F-MB-7)."""
        s = self.settings
        try:
            with self._errors("test"):
                client = self._session()
                unread = len(client.search(["UNSEEN"]))
                caps = tuple(sorted(c.decode() for c in client.capabilities()))
            return ConnectionReport(True, self.protocol, s.server, s.folder, s.tls, self.mechanism,
                                    self._exists, unread, caps, extra=self._report_extra(uidvalidity=self.uidvalidity))
        except MailgateError as exc:
            return failed_report(self.protocol, s.server, exc, s.folder)
        finally:
            self.close()

    def close(self) -> None:
        """Log out (ignoring a connection that is already gone)."""
        client, self._conn, self.uidvalidity = self._conn, None, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:  # the server is gone or broken: just drop the socket
            _shutdown_quietly(client)

    def __enter__(self) -> "ImapSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build(mailbox, config_dir: str) -> ImapSource:
    """The source of a `protocol: imap` mailbox."""
    options = mailbox.options
    settings = ImapSettings(**server_options(mailbox, config_dir), folder=options["folder"],
                            unread_only=options["fetch"] == "unread",
                            max_messages_per_session=(options.get("imap") or {}).get("max_messages_per_session"))
    return ImapSource(settings, login_token_provider(mailbox, config_dir))

"""IMAP mailbox source over imapclient: TLS, secure auth choice, batched fetch, batched acks."""

from __future__ import annotations

import socket
import ssl
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar, Iterator, Optional, Sequence

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from engine.errors import AuthError, MailgateError, SourceError
from engine.sources import sasl, tls
from engine.sources.base import (AckReport, AfterAction, ConnectionReport, Fetched, ServerSettings, SkipFn,
                                 TokenProvider, batched, failed_report, source_error)

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


def _words(exc: BaseException) -> str:
    """The server's own text from an imaplib/imapclient error."""
    text = str(exc)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text


def _shutdown_quietly(client: IMAPClient) -> None:
    """Drop a connection that may already be half gone (failed handshake, kicked session)."""
    try:
        client.shutdown()
    except Exception:  # nothing more to do with a broken socket
        pass


class ImapSource:
    """Reads one IMAP folder; keys are `<uidvalidity>:<uid>`."""

    protocol = "imap"

    def __init__(self, settings: ImapSettings, token_provider: Optional[TokenProvider] = None) -> None:
        tls.check_mode(settings.tls)
        self.settings = settings
        self.token_provider = token_provider
        self.skipped: list[str] = []
        self.mechanism = ""
        self.uidvalidity: Optional[int] = None
        self._exists = 0
        self._client: Optional[IMAPClient] = None

    # -- session ---------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn socket/protocol failures into SourceError, dropping the broken session."""
        try:
            yield
        except MailgateError:
            raise
        except ssl.SSLError as exc:
            self._drop()
            raise tls.tls_error(self.settings.server, exc) from exc
        except (IMAPClientError, OSError, socket.timeout) as exc:
            self._drop()
            raise source_error(SourceError, f"{self.settings.server}: {doing} failed", _words(exc),
                               "the server closed or refused the connection; the next poll retries") from exc

    def _drop(self) -> None:
        client, self._client, self.uidvalidity = self._client, None, None
        if client is not None:
            _shutdown_quietly(client)

    def _session(self) -> IMAPClient:
        """The logged-in client with the folder selected, connecting when needed."""
        if self._client is None:
            client = self._connect()
            try:
                self._login(client)
                self._client = client
                self._select()
            except BaseException:
                self._client = client
                self._drop()
                raise
        return self._client

    def _connect(self) -> IMAPClient:
        s = self.settings
        ctx = None if s.tls == "none" else tls.context(s.verify_certificate, s.ca_file)
        try:
            client = IMAPClient(s.host, port=s.effective_port, ssl=s.tls == "implicit",
                                ssl_context=ctx, timeout=s.timeout)
        except ssl.SSLError as exc:
            raise tls.tls_error(s.server, exc) from exc
        except (OSError, IMAPClientError) as exc:
            raise source_error(SourceError, f"{s.server}: cannot connect", _words(exc),
                               "check host, port and firewall") from exc
        if s.tls == "starttls":
            self._starttls(client, ctx)
        return client

    def _starttls(self, client: IMAPClient, ctx: ssl.SSLContext) -> None:
        """Upgrade or give up: never carry on in plaintext when STARTTLS was asked for."""
        server = self.settings.server
        if not client.has_capability("STARTTLS"):
            _shutdown_quietly(client)
            raise source_error(SourceError, f"{server}: the server does not offer STARTTLS",
                               hint="use tls: implicit on port 993, or fix the server")
        try:
            client.starttls(ctx)
        except ssl.SSLError as exc:
            _shutdown_quietly(client)
            raise tls.tls_error(server, exc) from exc
        except (IMAPClientError, OSError) as exc:
            _shutdown_quietly(client)
            raise source_error(SourceError, f"{server}: STARTTLS failed", _words(exc)) from exc

    def _login(self, client: IMAPClient) -> None:
        s = self.settings
        caps = {c.decode().upper() for c in client.capabilities()}
        offered = [c[5:] for c in caps if c.startswith("AUTH=")]
        if "LOGINDISABLED" not in caps:
            offered.append(sasl.LOGIN_COMMAND)
        token = self.token_provider() if self.token_provider else None
        name = sasl.choose(offered, s.auth, tls_active=s.tls != "none",
                           forbid_plaintext=s.forbid_plaintext_login, have_token=token is not None)
        try:
            if name == sasl.LOGIN_COMMAND:
                client.login(s.username, s.password or "")
            else:
                client.sasl_login(name, sasl.mechanism(name, s.username, s.password, token))
        except LoginError as exc:
            raise source_error(AuthError, f"{s.server}: login as {s.username!r} refused ({name})",
                               _words(exc), "check the username and password (or the OAuth token)") from exc
        self.mechanism = name

    def _select(self) -> int:
        assert self._client is not None
        s = self.settings
        try:
            info = self._client.select_folder(s.folder)
        except IMAPClientError as exc:
            raise source_error(SourceError, f"{s.server}: cannot open folder {s.folder!r}", _words(exc),
                               "folder names are case-sensitive and use the server's separator") from exc
        self.uidvalidity = int(info[b"UIDVALIDITY"])
        self._exists = int(info.get(b"EXISTS", 0))
        return self.uidvalidity

    # -- fetch -----------------------------------------------------------------

    def fetch(self, max_messages: int, batch_size: int, skip: Optional[SkipFn] = None,
              max_size: Optional[int] = None) -> Iterator[list[Fetched]]:
        """Yield batches of BODY.PEEK[] (never sets \\Seen), oldest UID first."""
        with self._errors("search"):
            client = self._session()
            validity = self.uidvalidity
            # Mail another client flagged \Deleted is on its way out: not ours to process.
            criteria = ["UNSEEN", "UNDELETED"] if self.settings.unread_only else ["UNDELETED"]
            found = sorted(client.search(criteria))
        self.skipped = []
        wanted: list[int] = []
        for uid in found:
            if len(wanted) >= max_messages:
                break
            if skip is not None and skip(f"{validity}:{uid}"):
                self.skipped.append(f"{validity}:{uid}")
            else:
                wanted.append(uid)
        for chunk in batched(wanted, batch_size):
            yield self._fetch_batch(chunk, validity, max_size)

    def _fetch_batch(self, uids: Sequence[int], validity: Optional[int],
                     max_size: Optional[int]) -> list[Fetched]:
        with self._errors("fetch"):
            client = self._session()
            if self.uidvalidity != validity:
                raise SourceError(f"{self.settings.server}: UIDVALIDITY of {self.settings.folder!r} "
                                  "changed while fetching; the next poll starts afresh")
            big = self._oversized(uids, max_size)
            small = [u for u in uids if u not in big]
            # imapclient needs UID lists here (it filters the response by them).
            data = client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            heads = client.fetch(list(big), ["BODY.PEEK[HEADER]"]) if big else {}
        # A message expunged by someone else since SEARCH is simply absent.
        out = []
        for uid in uids:
            key = f"{validity}:{uid}"
            if uid in big and b"BODY[HEADER]" in heads.get(uid, {}):
                out.append(Fetched(key, heads[uid][b"BODY[HEADER]"], big[uid], truncated=True))
            elif b"BODY[]" in data.get(uid, {}):
                raw = data[uid][b"BODY[]"]
                out.append(Fetched(key, raw, len(raw)))
        return out

    def _oversized(self, uids: Sequence[int], max_size: Optional[int]) -> dict[int, int]:
        """UID -> size of the messages in `uids` larger than `max_size` (one FETCH RFC822.SIZE)."""
        if max_size is None:
            return {}
        sizes = self._client.fetch(list(uids), ["RFC822.SIZE"])
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
        client, uids = self._client, uid_set([u for _, u in items])
        if action.kind == "mark_read":
            client.add_flags(uids, [SEEN], silent=True)
        elif action.kind == "delete":
            client.add_flags(uids, [SEEN, DELETED], silent=True)
            self._expunge(uids)
        else:
            problem = self._ensure_folder(action)
            if problem:
                return AckReport(action, kept=keys, problems=(problem,))
            self._move(uids, action.folder)
        return AckReport(action, done=keys)

    def _expunge(self, uids: str) -> None:
        # Without UIDPLUS a plain EXPUNGE would also remove mail others flagged \Deleted.
        if self._client.has_capability("UIDPLUS"):
            self._client.uid_expunge(uids)
        else:
            self._client.expunge()

    def _ensure_folder(self, action: AfterAction) -> str:
        """'' when the target exists (creating it if allowed), else the problem to report."""
        client = self._client
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

    def _move(self, uids: str, folder: str) -> None:
        client = self._client
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
                                    self._exists, unread, caps, extra={"uidvalidity": self.uidvalidity})
        except MailgateError as exc:
            return failed_report(self.protocol, s.server, exc, s.folder)
        finally:
            self.close()

    def close(self) -> None:
        """Log out (ignoring a connection that is already gone)."""
        client, self._client, self.uidvalidity = self._client, None, None
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

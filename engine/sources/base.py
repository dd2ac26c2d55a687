"""What every mail source offers the poller: fetched messages, after-actions and reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, ClassVar, Iterable, Iterator, Literal, Optional, Protocol, Sequence, Union

from engine.errors import AuthError, MailgateError

TLS_MODES = ("implicit", "starttls", "none")
ACTION_KINDS = ("mark_read", "delete", "move", "none")

TokenProvider = Callable[[], str]  # returns a current OAuth access token (engine.sources.oauth.TokenProvider fits)


@dataclass(frozen=True)
class ServerSettings:
    """What every network mailbox has, secrets already resolved (the factory maps YAML to this)."""

    SCHEME: ClassVar[str] = ""
    PORTS: ClassVar[tuple[int, int]] = (0, 0)  # default port with implicit TLS, and without

    host: str
    username: str
    password: Optional[str] = field(default=None, repr=False)  # never in a repr, a log or a traceback
    port: Optional[int] = None
    tls: str = "implicit"
    verify_certificate: bool = True
    ca_file: Optional[str] = None
    auth: Union[str, tuple[str, ...]] = "auto"
    forbid_plaintext_login: bool = True
    timeout: float = 60.0
    tls_min_version: str = "1.2"  # F-MB-15: the oldest TLS version accepted
    tls_max_version: Optional[str] = None  # and the newest (None: whatever the library knows)
    max_messages_per_session: Optional[int] = None  # F-MB-16: then log out and in again (None: never)
    shared_mailbox: Optional[str] = None  # F-MB-18: the mailbox `username` opens with its own credentials

    @property
    def effective_port(self) -> int:
        """The configured port, else the protocol's default for the TLS mode (F-MB-3)."""
        return self.port or (self.PORTS[0] if self.tls == "implicit" else self.PORTS[1])

    @property
    def plain_login(self) -> str:
        """The name for IMAP LOGIN / POP3 USER, which cannot carry a shared mailbox apart: Exchange reads
        `Domain\\User\\SharedAlias` there (seed 002), so the three parts go as written."""
        return f"{self.username}\\{self.shared_mailbox}" if self.shared_mailbox else self.username

    @property
    def server(self) -> str:
        return f"{self.SCHEME}://{self.host}:{self.effective_port}"


@dataclass(frozen=True)
class Fetched:
    """One message as the server holds it; `key` is stable for this mailbox.

    With `fetch(keys, max_size=N)` a message larger than N bytes arrives `truncated`:
    `raw` holds only its header (enough to reject it with a notice, F-PRE-7) and
    `size` its full size, so a huge mail never sits in memory.
    """

    key: str
    raw: bytes
    size: Optional[int] = None
    truncated: bool = False
    arrived: Optional[datetime] = None  # when the server received it (IMAP INTERNALDATE, file time…), UTC


@dataclass(frozen=True)
class AfterAction:
    """What to do with a message once its ticket change committed (F-MB-9)."""

    kind: Literal["mark_read", "delete", "move", "none"] = "mark_read"
    folder: Optional[str] = None
    create_folder: bool = False
    # A header field the moved copy carries on top (X-Mailgate-Quarantine: reason), where the
    # source can write one (maildir, IMAP); the store keeps the bytes as they came.
    header: Optional[tuple[str, str]] = None

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"unknown after-action {self.kind!r}; use one of {ACTION_KINDS}")
        if self.kind == "move" and not self.folder:
            raise ValueError("after-action 'move' needs a folder")
        if self.header is not None and (self.kind != "move" or any(c in "".join(self.header) for c in "\r\n")):
            raise ValueError("an after-action header goes with 'move' only, on one line")

    def header_line(self, raw: bytes) -> bytes:
        """The header field as a line in the message's own line ending (CRLF or LF)."""
        name, value = self.header
        first = raw.find(b"\n")
        ending = b"\r\n" if first > 0 and raw[first - 1:first] == b"\r" else b"\n"
        return f"{name}: {value}".encode("utf-8") + ending

    @classmethod
    def mark_read(cls) -> "AfterAction":
        return cls("mark_read")

    @classmethod
    def delete(cls) -> "AfterAction":
        return cls("delete")

    @classmethod
    def move(cls, folder: str, create_folder: bool = False) -> "AfterAction":
        return cls("move", folder, create_folder)

    @classmethod
    def none(cls) -> "AfterAction":
        return cls("none")


@dataclass(frozen=True)
class AckReport:
    """What an ack did: keys acted on, kept in place (with why) and no longer valid."""

    action: AfterAction
    done: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    stale: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every key got the action it was asked for."""
        return not self.kept and not self.stale and not self.problems


@dataclass(frozen=True)
class ConnectionReport:
    """The outcome of test_connection (F-MB-7): counts on success, server words on failure."""

    ok: bool
    protocol: str
    server: str
    folder: str = ""
    tls: str = ""
    auth_mechanism: str = ""
    message_count: Optional[int] = None
    unread_count: Optional[int] = None
    capabilities: tuple[str, ...] = ()
    error: str = ""
    server_text: str = ""
    hint: str = ""
    auth_failed: bool = False
    extra: dict = field(default_factory=dict)


class Source(Protocol):
    """A mailbox the poller reads from; every protocol module implements this.

    Sources are thin: they list, fetch and acknowledge. The poller decides which
    keys to fetch (it skips what the processing log holds and keeps the budget),
    so no source can stall on mail it processed before.
    """

    protocol: str

    def list_keys(self) -> Iterable[str]:
        """Keys of the messages to consider, oldest first (unread only or all, per settings).

        May be lazy (a web API pages through the folder); the poller stops reading
        once its budget of new messages is full.
        """
        ...

    def fetch(self, keys: Sequence[str], max_size: Optional[int] = None) -> list[Fetched]:
        """The messages of `keys` in that order; a key gone since the listing is left out.

        A message over `max_size` bytes comes as its header only (`Fetched.truncated`)
        where the protocol can say the size before downloading.
        """
        ...

    def ack(self, keys: Sequence[str], action: AfterAction) -> AckReport:
        """Apply `action` to all `keys` at once; called only after their batch committed."""
        ...

    def test_connection(self) -> ConnectionReport:
        """Connect, authenticate, open the folder and count; never raises."""
        ...

    def close(self) -> None:
        """End the session cleanly (POP3: QUIT, which is when deletions happen)."""
        ...


def failed_report(protocol: str, server: str, exc: MailgateError, folder: str = "") -> ConnectionReport:
    """Turn an error from connecting into a ConnectionReport for test-connection."""
    return ConnectionReport(ok=False, protocol=protocol, server=server, folder=folder,
                            error=getattr(exc, "message", str(exc)), server_text=getattr(exc, "server_text", ""),
                            hint=getattr(exc, "hint", ""), auth_failed=isinstance(exc, AuthError))


def header_of(raw: bytes) -> bytes:
    """The header block of a message (up to and including the blank line)."""
    for sep in (b"\r\n\r\n", b"\n\n"):
        end = raw.find(sep)
        if end >= 0:
            return raw[:end + len(sep)]
    return raw


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    """Slices of `items` of at most `size` (size < 1 means 1)."""
    size = max(1, size)
    for start in range(0, len(items), size):
        yield items[start:start + size]

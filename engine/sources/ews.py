"""Exchange Web Services source over exchangelib: autodiscover or explicit endpoint, paged fetch of MIME, bulk acks."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator, Optional, Sequence, TypeVar, Union

import requests
from exchangelib import (BASIC, DELEGATE, IMPERSONATION, NTLM, OAUTH2, Account, Build, Configuration,
                         Credentials, FailFast, Folder, Message, OAuth2Credentials, Version)
from exchangelib import errors as ews_errors
from exchangelib.autodiscover import AutodiscoverProtocol
from exchangelib.autodiscover.cache import autodiscover_cache

from engine.errors import AuthError, MailgateError, SourceError
from engine.sources.oauth import CLOUDS, PinnedSession, TokenProvider
from engine.sources import ews_http
from engine.sources.base import AckReport, AfterAction, ConnectionReport, Fetched, failed_report
from engine.sources import tls
from engine.config.shared_login import split_shared
from engine.sources.settings import password, tls_versions, token_provider
from engine.sources.network import url_failure

ews_http.install()
T = TypeVar("T")

VERSIONS = {"Exchange2007": Build(8, 0), "Exchange2010": Build(14, 0), "Exchange2013": Build(15, 0),
            "Exchange2016": Build(15, 1), "Exchange2019": Build(15, 2), "ExchangeOnline": Build(15, 20)}
AUTH_NAMES = {"basic": BASIC, "ntlm": NTLM, "xoauth2": OAUTH2, "oauthbearer": OAUTH2}
GONE = (ews_errors.ErrorItemNotFound, ews_errors.ErrorInvalidIdMalformed)


@dataclass(frozen=True)
class EwsSettings:
    """One Exchange mailbox; `email` is the mailbox read (the shared one, for delegate access)."""

    email: str
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    auth: Union[str, tuple[str, ...]] = "auto"
    allow_ntlm: bool = False
    autodiscover: bool = True
    autodiscover_url: Optional[str] = None
    endpoint_url: Optional[str] = None
    server: Optional[str] = None
    domain: Optional[str] = None
    version: Optional[str] = None
    shared_mailbox: Optional[str] = None
    access_type: str = "delegate"
    folder: str = "inbox"
    unread_only: bool = True
    page_size: int = 50
    ca_file: Optional[str] = None
    verify_certificate: bool = True
    timeout: float = 60.0
    tls_min_version: str = tls.DEFAULT_MIN_VERSION  # F-MB-15
    tls_max_version: Optional[str] = None

    @property
    def mailbox(self) -> str:
        """The address whose folder is read: the shared mailbox when one is set."""
        return self.shared_mailbox or self.email

    @property
    def verify(self) -> Any:
        return (self.ca_file or True) if self.verify_certificate else False

    @property
    def tls_pins(self) -> dict:
        """urllib3 pool arguments pinning the TLS versions (F-MB-15)."""
        return tls.pool_versions(self.tls_min_version, self.tls_max_version)

    @property
    def versions_pinned(self) -> bool:
        return tls.pinned(self.tls_min_version, self.tls_max_version)

    @property
    def login(self) -> str:
        """DOMAIN\\user when a Windows domain is configured, else the username (or address) as is."""
        user = self.username or self.email
        return f"{self.domain}\\{user}" if self.domain and "\\" not in user else user


class TokenCredentials(OAuth2Credentials):
    """exchangelib credentials whose access token always comes from engine.sources.oauth (cached, refreshed early)."""

    def __init__(self, tokens: TokenProvider, identity: Any = None) -> None:
        self._tokens = tokens
        super().__init__(client_id=tokens.settings.client_id, client_secret=None,
                         tenant_id=tokens.settings.tenant_id, identity=identity)

    @property
    def access_token(self) -> dict:
        token = self._tokens.token()
        return {"access_token": token.value, "token_type": "Bearer", "expires_at": token.expires_at}

    @access_token.setter
    def access_token(self, value: Any) -> None:
        pass  # exchangelib resets it when a session closes; the provider keeps the real cache

    def refresh(self, session: Any) -> None:
        self._tokens.invalidate()  # the server refused the token: fetch a new one

    def __repr__(self) -> str:
        return f"TokenCredentials({self.client_id!r})"


def chosen_auth(settings: EwsSettings, offered: Sequence[str], have_token: bool) -> str:
    """The exchangelib auth type to use, refusing NTLM unless allowed (seed 002)."""
    if have_token:
        return OAUTH2
    wanted = settings.auth
    if wanted == "auto" or wanted == ("auto",):
        order = ["ntlm", "basic"] if settings.allow_ntlm else ["basic"]
    else:
        order = [wanted] if isinstance(wanted, str) else list(wanted)
    order = [m.lower() for m in order if m.lower() in ("ntlm", "basic")]
    if "ntlm" in order and not settings.allow_ntlm:
        raise SourceError("auth method ntlm is listed but allow_ntlm is false; remove it or allow NTLM")
    offered_l = {o.lower() for o in offered}
    for name in order:
        if not offered or name in offered_l:
            return AUTH_NAMES[name]
    if "ntlm" in offered_l and not settings.allow_ntlm:
        raise AuthError("the Exchange server offers only NTLM and allow_ntlm is false",
                        hint="enable basic auth over TLS or OAuth on the server, or set allow_ntlm: true")
    raise AuthError(f"the Exchange server offers {sorted(offered_l) or 'no'} login methods; "
                    f"allowed are {order}")


def offered_methods(url: str, s: EwsSettings) -> list[str]:
    """The HTTP auth schemes an EWS endpoint names in WWW-Authenticate on an unauthenticated POST."""
    try:
        resp = PinnedSession(s.verify, s.tls_pins).post(url, data=b"", timeout=s.timeout,
                                                        headers={"Content-Type": "text/xml; charset=utf-8"})
    except requests.exceptions.SSLError as exc:
        raise tls.https_error(url, exc, s.versions_pinned) from exc
    except requests.RequestException as exc:
        raise url_failure(url, exc, s.timeout) or SourceError(f"{url}: cannot connect", str(exc)) from exc
    header = resp.headers.get("WWW-Authenticate", "")
    return [part.strip().split(" ")[0] for part in header.split(",") if part.strip()
            and "=" not in part.strip().split(" ")[0]]


def _utc(moment: Any) -> Optional[datetime]:
    """An EWS time (EWSDateTime, aware) as a plain aware UTC datetime."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment.timestamp(), timezone.utc)


def _words(exc: BaseException) -> str:
    """The server's words, led by the EWS response code (ErrorAccessDenied: …) when there is one."""
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if name.startswith("Error") else (text or name)


class EwsSource:
    """Reads one Exchange folder; keys are EWS item ids (the changekey is not kept, see docs)."""

    protocol = "ews"

    def __init__(self, settings: EwsSettings, access_tokens: Optional[TokenProvider] = None) -> None:
        if settings.access_type not in ("delegate", "impersonation"):
            raise SourceError(f"unknown access_type {settings.access_type!r}; use delegate or impersonation")
        if not access_tokens and settings.password is None:
            raise SourceError("EWS needs a password or OAuth credentials")
        if not settings.autodiscover and not (settings.endpoint_url or settings.server):
            raise SourceError("with autodiscover: false, set ews.endpoint_url or ews.server")
        self.settings = settings
        self.access_tokens = access_tokens
        self.auth_type = ""
        self._arrived: dict[str, Any] = {}
        self._account: Optional[Account] = None
        self._policy = ews_http.HostPolicy(settings.verify, settings.allow_ntlm, tuple(settings.tls_pins.items()))

    @property
    def server(self) -> str:
        s = self.settings
        return s.endpoint_url or (f"https://{s.server}/EWS/Exchange.asmx" if s.server else
                                  f"autodiscover for {s.mailbox}")

    # -- session ---------------------------------------------------------------

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn exchangelib and HTTP failures into SourceError / AuthError with the server's words."""
        ews_http.set_current(self._policy)
        try:
            yield
        except MailgateError:
            raise
        except (ews_errors.UnauthorizedError, ews_errors.ErrorAccessDenied,
                ews_errors.ErrorImpersonateUserDenied, ews_errors.ErrorNonExistentMailbox) as exc:
            raise AuthError(f"{self.server}: {doing}: access refused for {self.settings.mailbox}",
                            _words(exc), "check the login (or the app's full_access_as_app permission) "
                            "and the delegate or impersonation rights on the mailbox",
                            unauthorized=isinstance(exc, ews_errors.UnauthorizedError)) from exc
        except requests.exceptions.SSLError as exc:
            self._account = None
            raise tls.https_error(self.server, exc, self.settings.versions_pinned) from exc
        except ews_errors.AutoDiscoverFailed as exc:
            raise SourceError(f"autodiscover failed for {self.settings.mailbox}", _words(exc),
                              "set ews.endpoint_url (or autodiscover_url) if autodiscover is not published") from exc
        except (ews_errors.EWSError, requests.RequestException, OSError) as exc:
            self._account = None
            if "SSL" in str(exc):
                raise tls.https_error(self.server, exc, self.settings.versions_pinned) from exc
            failure = url_failure(self.server, exc, self.settings.timeout) if "://" in self.server else None
            raise failure or SourceError(f"{self.server}: {doing} failed", _words(exc),
                                         "the next poll retries") from exc
        finally:
            ews_http.set_current(None)

    def _run(self, doing: str, work: Callable[[], T]) -> T:
        """Run `work` with errors translated; a refused OAuth token is replaced once and the work retried."""
        for attempt in (1, 2):
            try:
                with self._errors(doing):
                    return work()
            except AuthError as exc:
                if attempt == 2 or self.access_tokens is None or not exc.unauthorized:
                    raise
                self.access_tokens.invalidate()
                if self._account is not None:
                    self._account.protocol.close()  # new sessions pick up the new token
        raise AssertionError("unreachable")

    def account(self) -> Account:
        """The exchangelib Account, built on first use (autodiscover happens here)."""
        if self._account is None:
            self._account = self._connect()
        return self._account

    def _credentials(self) -> Any:
        if self.access_tokens is not None:
            return TokenCredentials(self.access_tokens)
        return Credentials(self.settings.login, self.settings.password or "")

    def _version(self) -> Optional[Version]:
        build = VERSIONS.get(self.settings.version or "")
        return Version(build=build) if build else None

    def _connect(self) -> Account:
        s = self.settings
        credentials = self._credentials()
        # An app-only token has no mailbox of its own: EWS wants it to impersonate the one it reads.
        access = IMPERSONATION if s.access_type == "impersonation" or self.access_tokens else DELEGATE
        if s.autodiscover and not (s.endpoint_url or s.server):
            return self._autodiscover(credentials, access)
        url = self.server
        ews_http.register(url, self._policy)
        offered = [] if self.access_tokens else offered_methods(url, s)
        self.auth_type = chosen_auth(s, offered, self.access_tokens is not None)
        config = Configuration(service_endpoint=url, credentials=credentials, auth_type=self.auth_type,
                               version=self._version(), retry_policy=FailFast())
        return Account(s.mailbox, config=config, autodiscover=False, access_type=access)

    def _autodiscover(self, credentials: Any, access: str) -> Account:
        s = self.settings
        if s.autodiscover_url:
            # A known autodiscover service: skip the DNS and URL probing and ask it directly.
            ews_http.register(s.autodiscover_url, self._policy)
            offered = [] if self.access_tokens else offered_methods(s.autodiscover_url, s)
            self.auth_type = chosen_auth(s, offered, self.access_tokens is not None)
            domain = s.mailbox.rsplit("@", 1)[-1].lower()
            with autodiscover_cache:
                autodiscover_cache[(domain, credentials)] = AutodiscoverProtocol(config=Configuration(
                    service_endpoint=s.autodiscover_url, credentials=credentials, auth_type=self.auth_type,
                    retry_policy=FailFast()))
        config = Configuration(credentials=credentials, version=self._version(), retry_policy=FailFast(),
                               auth_type=self.auth_type or None)
        account = Account(s.mailbox, config=config, autodiscover=True, access_type=access)
        ews_http.register(account.protocol.service_endpoint, self._policy)
        if not self.auth_type:
            offered = [] if self.access_tokens else offered_methods(account.protocol.service_endpoint, s)
            self.auth_type = chosen_auth(s, offered, self.access_tokens is not None)
        account.protocol.config.auth_type = self.auth_type
        return account

    # -- folders ---------------------------------------------------------------

    def folder(self, path: str, create: bool = False) -> Optional[Folder]:
        """`inbox` (or another well-known name) or a path like 'Inbox/Helpdesk' or 'Processed'.

        A path whose first part is not a well-known folder starts at the top of the mailbox,
        beside the Inbox, as IMAP folders do.
        """
        account = self.account()
        parts = [p for p in path.replace("\\", "/").split("/") if p]
        first = parts[0].lower() if parts else "inbox"
        well_known = {"inbox": "inbox", "junkemail": "junk", "junk": "junk", "deleteditems": "trash",
                      "sentitems": "sent", "drafts": "drafts", "archive": "archive_msg_folder_root"}
        if first in well_known:
            current, rest = getattr(account, well_known[first]), parts[1:]
        else:
            current, rest = account.msg_folder_root, parts
        for name in rest:
            child = next((c for c in current.children if c.name.lower() == name.lower()), None)
            if child is None:
                if not create:
                    return None
                child = Folder(parent=current, name=name)
                child.save()
            current = child
        return current

    # -- fetch -----------------------------------------------------------------

    def list_keys(self) -> Iterator[str]:
        """Item ids in the folder, oldest first, one page (FindItem with IndexedPageItemView) at a time.

        Pages are read by offset, each in its own call, so a refused token is
        replaced and the page asked again without starting over.
        """
        def query() -> Any:
            folder = self._source_folder()
            qs = folder.filter(is_read=False) if self.settings.unread_only else folder.all()
            return qs.order_by("datetime_received").only("id", "datetime_received")
        qs, size, offset = self._run("list", query), self.settings.page_size, 0
        while True:
            page = self._run("list", lambda: list(qs[offset:offset + size]))
            for item in page:
                self._arrived[item.id] = item.datetime_received
                yield item.id
            if len(page) < size:
                return
            offset += size

    def _source_folder(self) -> Folder:
        folder = self.folder(self.settings.folder)
        if folder is None:
            raise SourceError(f"{self.server}: folder {self.settings.folder!r} not found "
                              f"in {self.settings.mailbox}", hint="nest with '/', e.g. Inbox/Helpdesk")
        return folder

    def fetch(self, keys: Sequence[str], max_size: Optional[int] = None) -> list[Fetched]:
        """MIME content of `keys` (GetItem), which marks nothing read; EWS cannot fetch a header alone."""
        items = self._run("fetch", lambda: list(self.account().fetch(ids=[(i, None) for i in keys],
                                                                      only_fields=["mime_content"])))
        return [Fetched(key, item.mime_content, len(item.mime_content), arrived=_utc(self._arrived.get(key)))
                for key, item in zip(keys, items) if not isinstance(item, Exception) and item.mime_content]

    # -- ack -------------------------------------------------------------------

    def ack(self, keys: Sequence[str], action: AfterAction) -> AckReport:
        """UpdateItem (is_read) / MoveItem / DeleteItem for all keys in bulk requests."""
        if action.kind == "none" or not keys:
            return AckReport(action, done=tuple(keys))
        results = self._run(action.kind, lambda: self._bulk(keys, action))
        if results is None:
            return AckReport(action, kept=tuple(keys), problems=(
                f"folder {action.folder!r} does not exist in {self.settings.mailbox}: the mail stays "
                f"in {self.settings.folder!r}; create the folder or set create_folder: true",))
        return self._report(action, keys, results)

    def _bulk(self, keys: Sequence[str], action: AfterAction) -> Optional[list]:
        """One bulk request per kind (exchangelib splits very long lists into chunks); None: no target folder."""
        account = self.account()
        ids = [(k, None) for k in keys]
        if action.kind == "mark_read":
            items = [(Message(account=account, id=k, changekey=None, is_read=True), ["is_read"]) for k in keys]
            return list(account.bulk_update(items=items))
        if action.kind == "delete":
            return list(account.bulk_delete(ids=ids, delete_type="MoveToDeletedItems"))
        target = self.folder(action.folder or "", create=action.create_folder)
        if target is None:
            return None
        return list(account.bulk_move(ids=ids, to_folder=target))

    @staticmethod
    def _report(action: AfterAction, keys: Sequence[str], results: list) -> AckReport:
        done, stale, problems = [], [], []
        for key, result in zip(keys, results + [None] * (len(keys) - len(results))):
            if isinstance(result, GONE):
                stale.append(key)
            elif isinstance(result, Exception):
                problems.append(f"{key[:24]}…: {type(result).__name__}: {result}")
            else:
                done.append(key)
        kept = tuple(k for k in keys if k not in set(done) | set(stale))
        return AckReport(action, tuple(done), kept, tuple(stale), tuple(problems))

    # -- test-connection / close ------------------------------------------------

    def test_connection(self) -> ConnectionReport:
        """Discover, log in, open the folder and count all and unread items (F-MB-7)."""
        s = self.settings
        extra: dict = self.access_tokens.health() if self.access_tokens else {}
        try:
            folder = self._run("test", self._source_folder)
            endpoint = self.account().protocol.service_endpoint
            extra.update({"endpoint": endpoint, "mailbox": s.mailbox, "access_type": s.access_type,
                          **(self.access_tokens.health() if self.access_tokens else {})})
            return ConnectionReport(True, self.protocol, endpoint, s.folder, "https", self.auth_type,
                                    folder.total_count, folder.unread_count, extra=extra)
        except MailgateError as exc:
            report = failed_report(self.protocol, self.server, exc, s.folder)
            report.extra.update(extra)
            return report

    def close(self) -> None:
        """Close exchangelib's pooled sessions."""
        account, self._account = self._account, None
        if account is not None:
            try:
                account.protocol.close()
            except Exception:  # closing a broken pool: nothing more to do
                pass

    def __enter__(self) -> "EwsSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def national_endpoint(options) -> Optional[str]:
    """F-MB-14: a national cloud's Exchange Online EWS URL, when OAuth names such a cloud and no endpoint is given.

    Those tenants are always Exchange Online at one fixed host per cloud, and autodiscover
    probing from outside them finds nothing reliable.
    """
    oauth = (options.get("auth") or {}).get("oauth") or {}
    ews, cloud = options.get("ews") or {}, oauth.get("cloud", "global")
    if oauth.get("provider", "microsoft") != "microsoft" or cloud == "global" or ews.get("server") \
            or ews.get("autodiscover_url") or (options.get("server") or {}).get("host"):
        return None
    return f"{CLOUDS[cloud][2]}/EWS/Exchange.asmx"


def build(mailbox, config_dir: str) -> EwsSource:
    """The source of a `protocol: ews` mailbox: OAuth when auth.oauth is set, else the login and password."""
    options = mailbox.options
    server, auth, ews = options.get("server") or {}, options.get("auth", {}), options.get("ews", {})
    method = auth.get("method", "auto")
    shared = split_shared(auth.get("username"))  # seed 002's Domain\User\SharedAlias (F-MB-18)
    settings = EwsSettings(
        email=mailbox.address, username=shared.user if shared else auth.get("username"),
        password=password(mailbox, config_dir),
        auth=method if isinstance(method, str) else tuple(method), allow_ntlm=auth.get("allow_ntlm", False),
        autodiscover=ews.get("autodiscover", True), endpoint_url=ews.get("endpoint_url") or national_endpoint(options),
        server=ews.get("server") or server.get("host"), domain=ews.get("domain") or (shared and shared.domain),
        version=ews.get("version"),
        shared_mailbox=ews.get("shared_mailbox") or (shared and shared.address(mailbox.address)), access_type=ews.get("access_type", "delegate"),
        autodiscover_url=ews.get("autodiscover_url"), folder=options.get("folder", "INBOX"),
        unread_only=options.get("fetch", "unread") == "unread", ca_file=server.get("ca_file"),
        verify_certificate=server.get("verify_certificate", True),
        timeout=float(server.get("timeout_seconds", 60)), **tls_versions(server))
    return EwsSource(settings, token_provider(mailbox, config_dir))

"""Microsoft Graph mailbox source: list a folder, fetch each message as MIME, ack in JSON batches after commit."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator, Optional, Sequence
from urllib.parse import quote

import requests

from engine.errors import AuthError, MailgateError, SourceError
from engine.sources.oauth import CLOUDS, PinnedSession, TokenProvider
from engine.sources.base import AckReport, AfterAction, ConnectionReport, Fetched, batched, failed_report
from engine.sources import tls
from engine.sources.settings import tls_versions, token_provider
from engine.sources.network import url_failure

# Graph's well-known folder names (https://learn.microsoft.com/graph/api/resources/mailfolder).
WELL_KNOWN = {"inbox", "archive", "deleteditems", "drafts", "junkemail", "outbox", "sentitems",
              "msgfolderroot", "clutter", "conversationhistory", "recoverableitemsdeletions", "scheduled",
              "searchfolders", "serverfailures", "syncissues"}
BATCH_LIMIT = 20  # Graph answers at most 20 requests per $batch
RETRY_STATUSES = {429, 500, 502, 503, 504}
# Immutable ids survive a move inside the mailbox, so a key stays valid for the processing log.
PREFER = 'IdType="ImmutableId"'


def graph_base_url(cloud: str = "global") -> str:
    """The v1.0 endpoint of the national cloud's Graph."""
    return f"{CLOUDS[cloud][1]}/v1.0"


@dataclass(frozen=True)
class GraphSettings:
    """One mailbox read through Graph (application permission Mail.ReadWrite)."""

    user: str
    folder: str = "inbox"
    unread_only: bool = True
    page_size: int = 50
    max_retries: int = 5
    base_url: str = "https://graph.microsoft.com/v1.0"
    ca_file: Optional[str] = None
    verify_certificate: bool = True
    timeout: float = 60.0
    max_retry_wait: float = 120.0
    tls_min_version: str = tls.DEFAULT_MIN_VERSION  # F-MB-15
    tls_max_version: Optional[str] = None


def graph_error(resp: requests.Response) -> tuple[str, str]:
    """(code, message) from Graph's JSON error body, or the HTTP status when there is none."""
    try:
        err = resp.json().get("error", {})
    except ValueError:
        err = {}
    if isinstance(err, dict) and err.get("code"):
        return err["code"], err.get("message", "")
    return f"HTTP {resp.status_code}", resp.text[:200]


def _utc(stamp: Optional[str]) -> Optional[datetime]:
    """Graph's receivedDateTime (ISO 8601, `Z`) as an aware datetime."""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None
    except ValueError:
        return None


def retry_after(headers: Any, attempt: int, cap: float) -> float:
    """Seconds to wait: the server's Retry-After when given, else 1, 2, 4 … (never above `cap`)."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        wait = float(value) if value is not None else float(2 ** attempt)
    except ValueError:
        wait = float(2 ** attempt)
    return max(0.0, min(wait, cap))


class GraphSource:
    """Reads one mail folder of one mailbox; keys are Graph's immutable message ids."""

    protocol = "graph"

    def __init__(self, settings: GraphSettings, access_tokens: TokenProvider,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.access_tokens = access_tokens
        self.sleep = sleep
        self._arrived: dict[str, Optional[str]] = {}
        self._http = PinnedSession((settings.ca_file or True) if settings.verify_certificate else False,
                                   tls.pool_versions(settings.tls_min_version, settings.tls_max_version))
        self._folder_ids: dict[str, str] = {}

    @property
    def _user_url(self) -> str:
        return f"{self.settings.base_url.rstrip('/')}/users/{quote(self.settings.user)}"

    # -- HTTP with token refresh and throttling ---------------------------------

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One Graph call: refresh the token once on 401, wait out 429/5xx up to max_retries."""
        refreshed = False
        attempt = 0
        while True:
            resp = self._send(method, url, **kwargs)
            if resp.status_code == 401 and not refreshed:
                self.access_tokens.invalidate()  # revoked or expired early: one fresh token, then give up
                refreshed = True
                continue
            if resp.status_code in RETRY_STATUSES and attempt < self.settings.max_retries:
                self.sleep(retry_after(resp.headers, attempt, self.settings.max_retry_wait))
                attempt += 1
                continue
            if resp.status_code >= 400:
                raise self._error(method, url, resp)
            return resp

    def _send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.access_tokens()}", "Prefer": PREFER, **kwargs.pop("headers", {})}
        try:
            return self._http.request(method, url, headers=headers, timeout=self.settings.timeout, **kwargs)
        except requests.exceptions.SSLError as exc:
            s = self.settings
            raise tls.https_error(s.base_url, exc, tls.pinned(s.tls_min_version, s.tls_max_version)) from exc
        except requests.RequestException as exc:
            raise (url_failure(url, exc, self.settings.timeout)
                   or SourceError(f"{self.settings.base_url}: request failed", str(exc),
                                  "a network problem; the next poll retries")) from exc

    def _error(self, method: str, url: str, resp: requests.Response) -> SourceError:
        code, message = graph_error(resp)
        words, status = f"{code}: {message}", resp.status_code
        where = f"graph {method} {url.split('?')[0]}"
        if status == 401:
            return AuthError(f"{where}: token refused", words,
                             "check the app's Mail.ReadWrite application permission and admin consent", status)
        if status == 403:
            return AuthError(f"{where}: access denied", words,
                             "grant Mail.ReadWrite (application) with admin consent, and check that an "
                             "application access policy includes this mailbox", status)
        if status in RETRY_STATUSES:
            return SourceError(f"{where}: still throttled or failing after {self.settings.max_retries} retries",
                               words, "the next poll retries", status)
        return SourceError(f"{where} failed (HTTP {status})", words, status=status)

    # -- folders --------------------------------------------------------------

    def folder_id(self, path: str, create: bool = False) -> Optional[str]:
        """The id of `path` ('inbox', 'Tickets', 'Inbox/Processed'), creating missing parts if asked."""
        if path in self._folder_ids:
            return self._folder_ids[path]
        parent: Optional[str] = None
        for part in [p for p in path.split("/") if p]:
            if parent is None and part.lower() in WELL_KNOWN:
                found: Optional[str] = self._request("GET", f"{self._user_url}/mailFolders/{part.lower()}",
                                                     params={"$select": "id"}).json()["id"]
            else:
                found = self._child(parent, part)
                if found is None and not create:
                    return None
                found = found or self._create(parent, part)
            parent = found
        if parent is not None:
            self._folder_ids[path] = parent
        return parent

    def _children_url(self, parent: Optional[str]) -> str:
        base = f"{self._user_url}/mailFolders"
        return f"{base}/{parent}/childFolders" if parent else base

    def _child(self, parent: Optional[str], name: str) -> Optional[str]:
        escaped = name.replace("'", "''")  # OData string literal quoting
        body = self._request("GET", self._children_url(parent),
                             params={"$filter": f"displayName eq '{escaped}'", "$select": "id,displayName"}).json()
        for folder in body.get("value", []):
            if folder.get("displayName", "").lower() == name.lower():
                return folder["id"]
        return None

    def _create(self, parent: Optional[str], name: str) -> str:
        return self._request("POST", self._children_url(parent), json={"displayName": name}).json()["id"]

    # -- fetch -----------------------------------------------------------------

    def list_keys(self) -> Iterator[str]:
        """Message ids in the folder, oldest first, following @odata.nextLink pages only as far as read."""
        s = self.settings
        params = {"$select": "id,receivedDateTime", "$top": str(s.page_size), "$orderby": "receivedDateTime asc"}
        if s.unread_only:
            # Graph wants the $orderby property first in $filter, or it calls the query too complex.
            params["$filter"] = "receivedDateTime ge 1900-01-01T00:00:00Z and isRead eq false"
        url: Optional[str] = f"{self._user_url}/mailFolders/{self._folder_ref()}/messages"
        while url:
            body = self._request("GET", url, params=params).json()
            for message in body.get("value", []):
                self._arrived[message["id"]] = message.get("receivedDateTime")
                yield message["id"]
            url, params = body.get("@odata.nextLink"), None  # the link carries the query

    def _folder_ref(self) -> str:
        folder = self.settings.folder
        if folder.lower() in WELL_KNOWN:
            return folder.lower()
        found = self.folder_id(folder)
        if found is None:
            raise SourceError(f"graph: folder {folder!r} not found in {self.settings.user}",
                              hint="names are display names; nest with '/', e.g. Inbox/Helpdesk")
        return found

    def fetch(self, keys: Sequence[str], max_size: Optional[int] = None) -> list[Fetched]:
        """Raw MIME of `keys` (`/$value`), which marks nothing read; Graph cannot fetch a header alone."""
        return [f for f in (self._mime(i) for i in keys) if f is not None]

    def _mime(self, message_id: str) -> Optional[Fetched]:
        try:
            resp = self._request("GET", f"{self._user_url}/messages/{quote(message_id)}/$value")
        except SourceError as exc:
            if exc.status == 404:
                return None  # moved or deleted by someone else since the listing
            raise
        return Fetched(message_id, resp.content, len(resp.content), arrived=_utc(self._arrived.get(message_id)))

    # -- ack -------------------------------------------------------------------

    def ack(self, keys: Sequence[str], action: AfterAction) -> AckReport:
        """PATCH isRead / POST move / DELETE for all keys, 20 to a $batch request."""
        if action.kind == "none" or not keys:
            return AckReport(action, done=tuple(keys))
        target = None
        if action.kind == "move":
            target = self.folder_id(action.folder or "", create=action.create_folder)
            if target is None:
                return AckReport(action, kept=tuple(keys), problems=(
                    f"folder {action.folder!r} does not exist in {self.settings.user}: the mail stays in "
                    f"{self.settings.folder!r}; create the folder or set create_folder: true",))
        done, stale, problems = [], [], []
        for chunk in batched(list(keys), BATCH_LIMIT):
            results = self._batch([self._ack_request(k, action, target) for k in chunk])
            for key, (status, words) in zip(chunk, results):
                if 200 <= status < 300:
                    done.append(key)
                elif status == 404:
                    stale.append(key)
                else:
                    problems.append(f"{key[:24]}…: {words}")
        kept = tuple(k for k in keys if k not in set(done) | set(stale))
        return AckReport(action, tuple(done), kept, tuple(stale), tuple(problems))

    def _ack_request(self, key: str, action: AfterAction, target: Optional[str]) -> dict:
        url = f"/users/{quote(self.settings.user)}/messages/{quote(key)}"
        if action.kind == "mark_read":
            return {"method": "PATCH", "url": url, "headers": {"Content-Type": "application/json"},
                    "body": {"isRead": True}}
        if action.kind == "move":
            return {"method": "POST", "url": f"{url}/move", "headers": {"Content-Type": "application/json"},
                    "body": {"destinationId": target}}
        return {"method": "DELETE", "url": url}

    def _batch(self, requests_: list[dict]) -> list[tuple[int, str]]:
        """Send sub-requests in one $batch; throttled ones are sent again after Retry-After."""
        results: dict[int, tuple[int, str]] = {}
        pending = list(range(len(requests_)))
        for attempt in range(self.settings.max_retries + 1):
            body = {"requests": [{"id": str(i), **requests_[i]} for i in pending]}
            answer = self._request("POST", f"{self.settings.base_url.rstrip('/')}/$batch", json=body).json()
            wait, retry = 0.0, []
            for item in answer.get("responses", []):
                i, status = int(item["id"]), int(item.get("status", 0))
                err = (item.get("body") or {}).get("error", {}) if isinstance(item.get("body"), dict) else {}
                results[i] = (status, f"{err.get('code', status)}: {err.get('message', '')}")
                if status in RETRY_STATUSES:
                    retry.append(i)
                    wait = max(wait, retry_after(item.get("headers"), attempt, self.settings.max_retry_wait))
            pending = retry
            if not pending or attempt == self.settings.max_retries:
                break
            self.sleep(wait)
        return [results.get(i, (0, "no answer in the batch response")) for i in range(len(requests_))]

    # -- test-connection / close ------------------------------------------------

    def test_connection(self) -> ConnectionReport:
        """Get a token, open the folder and count all and unread messages (F-MB-7)."""
        s = self.settings
        try:
            folder = self._request("GET", f"{self._user_url}/mailFolders/{self._folder_ref()}",
                                   params={"$select": "displayName,totalItemCount,unreadItemCount"}).json()
            return ConnectionReport(True, self.protocol, s.base_url, s.folder, "https", "oauth2 client credentials",
                                    folder.get("totalItemCount"), folder.get("unreadItemCount"),
                                    extra={"user": s.user, **self.access_tokens.health()})
        except MailgateError as exc:
            report = failed_report(self.protocol, s.base_url, exc, s.folder)
            report.extra.update(self.access_tokens.health())
            return report

    def close(self) -> None:
        """Close pooled HTTP connections."""
        self._http.close()

    def __enter__(self) -> "GraphSource":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build(mailbox, config_dir: str) -> GraphSource:
    """The source of a `protocol: graph` mailbox; Graph has no login without OAuth."""
    options = mailbox.options
    server, graph = options.get("server") or {}, options.get("graph", {})
    oauth = options.get("auth", {}).get("oauth")
    access_tokens = token_provider(mailbox, config_dir)
    if access_tokens is None:
        raise SourceError(f"mailbox {mailbox.name}: protocol graph needs auth.oauth (client credentials)")
    settings = GraphSettings(
        user=graph.get("user") or mailbox.address, folder=options.get("folder", "INBOX"),
        unread_only=options.get("fetch", "unread") == "unread", page_size=int(graph.get("page_size", 50)),
        max_retries=int(graph.get("max_retries", 5)),
        base_url=graph.get("base_url") or graph_base_url(oauth.get("cloud", "global")),
        ca_file=server.get("ca_file"), verify_certificate=server.get("verify_certificate", True),
        timeout=float(server.get("timeout_seconds", 60)), **tls_versions(server))
    return GraphSource(settings, access_tokens)

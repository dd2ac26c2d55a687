"""Entra ID token endpoint and a Graph mailbox played on MsFake from the recorded responses in tests/fixtures/graph."""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qs, unquote, urlsplit

from tests.secretwatch import secret
from tests.servers.msfake import MsFake, Reply, Request, fixture_json, fixture_text

TENANT = "5f3e2a10-7c4b-4d8e-9f61-0a1b2c3d4e5f"
CLIENT_ID = "8d2c4b6a-1e3f-4a5b-9c7d-e0f1a2b3c4d5"
GOOD_SECRET = secret("Zq8~good.secret-value")  # never in output or logs (tests/secretwatch.py)
EXPIRED_SECRET = "Xy7~expired.secret-value"


class Entra:
    """The token endpoint: good secrets get tokens, an expired one AADSTS7000222, others AADSTS7000215."""

    def __init__(self, server: MsFake, expires_in: int = 3599) -> None:
        self.server, self.expires_in = server, expires_in
        self.issued: list[str] = []
        self.revoked: set[str] = set()
        self.scopes: list[str] = []
        server.on(self.handle)

    @property
    def authority_host(self) -> str:
        return self.server.url

    def handle(self, req: Request) -> Optional[Reply]:
        path = urlsplit(req.path).path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return Reply(200, fixture_json("graph", "openid-configuration.json", base=self.server.url, tenant=TENANT))
        if path != f"/{TENANT}/oauth2/v2.0/token" or req.method != "POST":
            return None
        form = {k: v[0] for k, v in parse_qs(req.text).items()}
        self.scopes.append(form.get("scope", ""))
        secret = form.get("client_secret")
        if secret == EXPIRED_SECRET:
            return Reply(401, fixture_json("graph", "token-expired-secret.json", client_id=CLIENT_ID))
        if secret != GOOD_SECRET and "client_assertion" not in form:
            return Reply(401, fixture_json("graph", "token-invalid-secret.json", client_id=CLIENT_ID))
        token = f"eyJ0eXAiOiJKV1QifQ.fake-{secrets.token_hex(8)}.sig"
        self.issued.append(token)
        return Reply(200, json.loads(fixture_text("graph", "token-ok.json", access_token=token,
                                                  expires_in=str(self.expires_in))))

    def valid(self, token: str) -> bool:
        return token in self.issued and token not in self.revoked


@dataclass
class Item:
    mime: bytes
    folder: str = "inbox"
    is_read: bool = False
    received: str = "2026-11-02T08:15:00Z"  # Graph's receivedDateTime: ISO 8601 in UTC


@dataclass
class GraphMailbox:
    """The state behind the fake Graph: messages by id, folders by id, and injected failures."""

    user: str
    items: dict[str, Item] = field(default_factory=dict)
    folders: dict[str, str] = field(default_factory=lambda: {"inbox": "Inbox"})
    throttle: int = 0  # answer this many next requests with 429
    failures: int = 0  # answer this many next requests with 503
    batch_throttle: int = 0  # throttle this many sub-requests inside the next $batch
    sent: list = field(default_factory=list)  # MIME of every sendMail accepted (F-OUT-7)
    send_denied: bool = False  # sendMail answers 403 (no Mail.Send, or outside the access policy)

    def add(self, n: int, subject: str = "Printer broken") -> list[str]:
        ids = []
        for i in range(n):
            mid = f"AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A{secrets.token_hex(6)}AAA="
            mime = fixture_text("graph", "message.eml", subject=f"{subject} {i}", message_id=secrets.token_hex(8))
            self.items[mid] = Item(mime.replace("\n", "\r\n").encode())
            ids.append(mid)
        return ids


class Graph:
    """Graph v1.0 routes for the mailboxes it holds; checks the bearer token with Entra."""

    def __init__(self, server: MsFake, entra: Entra) -> None:
        self.server, self.entra = server, entra
        self.boxes: dict[str, GraphMailbox] = {}
        server.on(self.handle)

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1.0"

    def mailbox(self, user: str) -> GraphMailbox:
        return self.boxes.setdefault(user.lower(), GraphMailbox(user))

    def handle(self, req: Request) -> Optional[Reply]:
        if not req.path.startswith("/v1.0/"):
            return None
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        if not self.entra.valid(token):
            return Reply(401, fixture_json("graph", "error-invalid-token.json"))
        box = next(iter(self.boxes.values()), None)
        for b in self.boxes.values():
            if b.throttle or b.failures:
                box = b
        if box and box.throttle:
            box.throttle -= 1
            return Reply(429, fixture_json("graph", "error-throttled.json"), {"Retry-After": "1"})
        if box and box.failures:
            box.failures -= 1
            return Reply(503, b"Service Unavailable")
        split = urlsplit(req.path)
        query = {k: v[0] for k, v in parse_qs(split.query).items()}
        if split.path == "/v1.0/$batch":
            return self._batch(req.json())
        if split.path.endswith("/sendMail") and req.method == "POST":
            return self._send_mail(unquote(split.path[len("/v1.0/users/"):-len("/sendMail")]), req)
        return self._route(req.method, unquote(split.path[len("/v1.0"):]), query, req.body)

    def _route(self, method: str, path: str, query: dict, body: bytes) -> Reply:
        m = re.match(r"^/users/([^/]+)(/.*)$", path)
        if not m or m.group(1).lower() not in self.boxes:
            return Reply(404, {"error": {"code": "ErrorInvalidUser",
                                         "message": "The requested user is invalid."}})
        box, rest = self.boxes[m.group(1).lower()], m.group(2)
        if (mm := re.match(r"^/mailFolders/([^/]+)/messages$", rest)) and method == "GET":
            return self._list(box, mm.group(1), query)
        if (mm := re.match(r"^/messages/([^/]+)/\$value$", rest)) and method == "GET":
            item = box.items.get(mm.group(1))
            return Reply(200, item.mime, {"Content-Type": "text/plain"}) if item else \
                Reply(404, fixture_json("graph", "error-item-not-found.json"))
        if (mm := re.match(r"^/messages/([^/]+)(/move)?$", rest)):
            return self._ack(box, method, mm.group(1), bool(mm.group(2)), json.loads(body or b"{}"))
        return self._folders(box, method, rest, query, json.loads(body or b"{}"))

    def _send_mail(self, user: str, req: Request) -> Reply:
        """sendMail in MIME format: base64 of the whole message as text/plain; 202 Accepted, no body."""
        box = self.boxes.get(user.lower())
        if box is None:
            return Reply(404, {"error": {"code": "ErrorInvalidUser", "message": f"The requested user '{user}' is invalid."}})
        if box.send_denied:
            return Reply(403, fixture_json("graph", "error-access-denied.json"))
        try:
            mime = base64.b64decode(req.body, validate=True)
        except ValueError:
            mime = b""
        if not req.headers.get("content-type", "").startswith("text/plain") or b"\r\n\r\n" not in mime:
            return Reply(400, fixture_json("graph", "error-mime-invalid.json"))
        box.sent.append(mime)
        return Reply(202, b"")

    def _list(self, box: GraphMailbox, folder: str, query: dict) -> Reply:
        folder = "inbox" if folder.lower() == "inbox" else folder
        ids = [i for i, it in box.items.items() if it.folder == folder
               and ("isRead eq false" not in query.get("$filter", "") or not it.is_read)]
        start, top = int(query.get("$skip", 0)), int(query.get("$top", 10))
        fields = query.get("$select", "id").split(",")
        value = [{"id": i, **({"receivedDateTime": box.items[i].received} if "receivedDateTime" in fields else {})}
                 for i in ids[start:start + top]]
        page = fixture_json("graph", "messages-page.json", base=self.base_url, user=box.user, value=json.dumps(value))
        if start + top < len(ids):
            rest = {**query, "$skip": str(start + top)}
            link = "&".join(f"{k}={v}" for k, v in rest.items())
            page["@odata.nextLink"] = f"{self.base_url}/users/{box.user}/mailFolders/{folder}/messages?{link}"
        return Reply(200, page)

    def _ack(self, box: GraphMailbox, method: str, mid: str, move: bool, body: dict) -> Reply:
        item = box.items.get(mid)
        if item is None:
            return Reply(404, fixture_json("graph", "error-item-not-found.json"))
        if method == "PATCH":
            item.is_read = bool(body.get("isRead", item.is_read))
            return Reply(200, {"id": mid, "isRead": item.is_read})
        if method == "POST" and move:
            item.folder = body["destinationId"]
            return Reply(201, {"id": mid, "parentFolderId": item.folder})
        if method == "DELETE":
            del box.items[mid]
            return Reply(204, b"")
        return Reply(405, {"error": {"code": "ErrorInvalidRequest", "message": "method not allowed"}})

    def _folders(self, box: GraphMailbox, method: str, rest: str, query: dict, body: dict) -> Reply:
        m = re.match(r"^/mailFolders(?:/([^/]+))?(/childFolders)?$", rest)
        if not m:
            return Reply(400, {"error": {"code": "BadRequest", "message": f"unsupported {rest}"}})
        ref, children = m.group(1), bool(m.group(2))
        if ref and not children:
            fid = "inbox" if ref.lower() == "inbox" else ref
            if fid not in box.folders:
                return Reply(404, fixture_json("graph", "error-item-not-found.json"))
            items = [i for i in box.items.values() if i.folder == fid]
            return Reply(200, fixture_json("graph", "mailfolder.json", base=self.base_url, user=box.user, id=fid,
                                           folder_name=box.folders[fid], total=str(len(items)),
                                           unread=str(sum(not i.is_read for i in items))))
        if method == "POST":
            fid = f"AAMkFolder{secrets.token_hex(4)}"
            box.folders[fid] = body["displayName"]
            return Reply(201, {"id": fid, "displayName": body["displayName"]})
        wanted = re.search(r"displayName eq '(.*)'", query.get("$filter", ""))
        found = [{"id": fid, "displayName": name} for fid, name in box.folders.items()
                 if fid != "inbox" and (not wanted or name == wanted.group(1).replace("''", "'"))]
        return Reply(200, fixture_json("graph", "mailfolders-filtered.json", base=self.base_url, user=box.user,
                                       value=json.dumps(found)))

    def _batch(self, body: dict) -> Reply:
        responses = []
        box = next(iter(self.boxes.values()), None)
        for sub in body["requests"]:
            if box is not None and box.batch_throttle:
                box.batch_throttle -= 1
                responses.append({"id": sub["id"], "status": 429, "headers": {"Retry-After": "1"},
                                  "body": fixture_json("graph", "error-throttled.json")})
                continue
            reply = self._route(sub["method"], unquote(sub["url"]), {}, json.dumps(sub.get("body") or {}).encode())
            payload = reply.body if isinstance(reply.body, dict) else None
            responses.append({"id": sub["id"], "status": reply.status, "headers": {}, "body": payload})
        return Reply(200, {"responses": responses})

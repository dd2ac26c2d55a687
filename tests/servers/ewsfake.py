"""An Exchange server for exchangelib, played on MsFake from the recorded SOAP responses in tests/fixtures/ews."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import urlsplit

from lxml import etree

from tests.servers.msfake import MsFake, Reply, Request, fixture_text

M = "{http://schemas.microsoft.com/exchange/services/2006/messages}"
T = "{http://schemas.microsoft.com/exchange/services/2006/types}"
SOAP_BODY = "{http://schemas.xmlsoap.org/soap/envelope/}Body"
SOAP_HEADER = "{http://schemas.xmlsoap.org/soap/envelope/}Header"
EWS_PATH = "/EWS/Exchange.asmx"
AUTODISCOVER_PATH = "/autodiscover/autodiscover.svc"
DISTINGUISHED = {"root": "Root", "msgfolderroot": "Top of Information Store", "inbox": "Inbox",
                 "deleteditems": "Deleted Items", "junkemail": "Junk Email"}


def _id(prefix: str) -> str:
    return base64.b64encode(f"{prefix}-{secrets.token_hex(12)}".encode()).decode()


@dataclass
class EwsItem:
    mime: bytes
    folder: str
    is_read: bool = False
    item_type: str = "Message"
    changekey: str = field(default_factory=lambda: _id("ck"))


@dataclass
class EwsMailbox:
    """One mailbox: folders by id (distinguished ones too) and items by id."""

    address: str
    owner: str  # the login that owns it
    delegates: set = field(default_factory=set)
    folders: dict = field(default_factory=dict)  # id -> (name, parent id)
    distinguished: dict = field(default_factory=dict)  # name -> id
    items: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        root = _id("root")
        self.folders[root] = ("Root", "")
        self.distinguished["root"] = root
        top = _id("top")
        self.folders[top] = (DISTINGUISHED["msgfolderroot"], root)
        self.distinguished["msgfolderroot"] = top
        for name in ("inbox", "deleteditems", "junkemail"):
            fid = _id(name)
            self.folders[fid] = (DISTINGUISHED[name], top)
            self.distinguished[name] = fid

    def add(self, n: int, item_type: str = "Message", subject: str = "Printer broken") -> list[str]:
        ids = []
        for i in range(n):
            iid = _id("item")
            mime = fixture_text("graph", "message.eml", subject=f"{subject} {i}", message_id=secrets.token_hex(8))
            self.items[iid] = EwsItem(mime.replace("\n", "\r\n").encode(), self.distinguished["inbox"],
                                      item_type=item_type)
            ids.append(iid)
        return ids

    def folder_named(self, name: str) -> Optional[str]:
        return next((fid for fid, (n, _) in self.folders.items() if n == name), None)


def envelope(body: str) -> str:
    return fixture_text("ews", "envelope.xml", body=body)


def error_message(operation: str, code: str, text: str) -> str:
    return fixture_text("ews", "error-message.xml", operation=operation, code=code, text=text)


class Exchange:
    """EWS and SOAP autodiscover on MsFake: basic logins, bearer tokens, delegates and impersonation."""

    def __init__(self, server: MsFake, entra=None) -> None:
        self.server, self.entra = server, entra
        self.logins: dict[str, str] = {}
        self.offered = ["Basic realm=\"127.0.0.1\"", "NTLM", "Negotiate"]
        self.boxes: dict[str, EwsMailbox] = {}
        self.operations: list[str] = []
        self.busy = 0  # answer this many next EWS calls with ErrorServerBusy
        server.on(self.handle)

    @property
    def ews_url(self) -> str:
        return self.server.url + EWS_PATH

    @property
    def autodiscover_url(self) -> str:
        return self.server.url + AUTODISCOVER_PATH

    def mailbox(self, address: str, owner: str = "", password: str = "") -> EwsMailbox:
        if owner and password:
            self.logins[owner] = password
        return self.boxes.setdefault(address.lower(), EwsMailbox(address, owner or address))

    # -- HTTP ------------------------------------------------------------------

    def handle(self, req: Request) -> Optional[Reply]:
        path = urlsplit(req.path).path.lower()
        if path not in (EWS_PATH.lower(), AUTODISCOVER_PATH):
            return None
        who = self._authenticate(req)
        if who is None:
            return Reply(401, b"", {"WWW-Authenticate": ", ".join(self.offered)})
        if path == AUTODISCOVER_PATH:
            return self._autodiscover(req)
        doc = etree.fromstring(req.body)
        op = doc.find(SOAP_BODY)[0]
        name = etree.QName(op).localname
        self.operations.append(name)
        header = doc.find(SOAP_HEADER)
        imp = header.find(f".//{T}PrimarySmtpAddress") if header is not None else None
        if self.busy:
            self.busy -= 1
            return Reply(200, envelope(fixture_text("ews", "operation-response.xml", operation=name,
                                                    messages=fixture_text("ews", "error-server-busy.xml",
                                                                          operation=name))))
        handler = getattr(self, f"_op_{name}", None)
        if handler is None:
            return Reply(200, envelope(fixture_text("ews", "operation-response.xml", operation=name, messages=
                                                    error_message(name, "ErrorInvalidRequest", f"{name} is not faked"))))
        body = handler(op, who, imp.text.lower() if imp is not None else None)
        return Reply(200, envelope(body))

    def _authenticate(self, req: Request) -> Optional[str]:
        auth = req.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "basic":
            user, _, password = base64.b64decode(value).decode().partition(":")
            return user if self.logins.get(user) == password else None
        if scheme.lower() == "bearer" and self.entra is not None and self.entra.valid(value):
            return "app"
        return None

    def _autodiscover(self, req: Request) -> Reply:
        doc = etree.fromstring(req.body)
        mailbox = doc.find(".//{http://schemas.microsoft.com/exchange/2010/Autodiscover}Mailbox")
        return Reply(200, fixture_text("ews", "autodiscover-getusersettings.xml", email=mailbox.text,
                                       ews_url=self.ews_url))

    # -- access ----------------------------------------------------------------

    def _box_for(self, elem, who: str, impersonated: Optional[str]) -> Optional[EwsMailbox]:
        """The mailbox a folder or item reference points into, if `who` may open it."""
        email = elem.find(f".//{T}EmailAddress")
        box = None
        if email is not None:
            box = self.boxes.get(email.text.lower())
        elif impersonated:
            box = self.boxes.get(impersonated)
        ref = elem.get("Id")
        if box is None and ref:
            box = next((b for b in self.boxes.values() if ref in b.folders or ref in b.items), None)
        if box is None:
            box = next((b for b in self.boxes.values() if b.owner == who), None)
        if box is None:
            return None
        if who == "app" and impersonated == box.address.lower():
            return box
        return box if who == box.owner or who in box.delegates else None

    def _folder_ref(self, elem, who, imp) -> tuple[Optional[EwsMailbox], Optional[str]]:
        box = self._box_for(elem, who, imp)
        if box is None:
            return None, None
        if etree.QName(elem).localname == "DistinguishedFolderId":
            return box, box.distinguished.get(elem.get("Id"))
        return box, elem.get("Id") if elem.get("Id") in box.folders else None

    def _folder_xml(self, box: EwsMailbox, fid: str) -> str:
        name, parent = box.folders[fid]
        items = [i for i in box.items.values() if i.folder == fid]
        children = sum(1 for _, p in box.folders.values() if p == fid)
        return fixture_text("ews", "folder.xml", id=fid, parent=parent or fid, name=name, total=str(len(items)),
                            unread=str(sum(not i.is_read for i in items)), children=str(children))

    # -- operations --------------------------------------------------------------

    def _op_ConvertId(self, op, who, imp) -> str:
        """exchangelib's version probe: a dummy id, answered as a real server does (its header tells the version)."""
        return fixture_text("ews", "operation-response.xml", operation="ConvertId", messages=error_message(
            "ConvertId", "ErrorInvalidIdMalformed", "Id is malformed."))

    def _op_GetFolder(self, op, who, imp) -> str:
        parts = []
        for ref in op.find(f"{M}FolderIds"):
            box, fid = self._folder_ref(ref, who, imp)
            if box is None:
                parts.append(error_message("GetFolder", "ErrorAccessDenied",
                                           "Access is denied. Check credentials and try again."))
            elif fid is None:
                parts.append(error_message("GetFolder", "ErrorFolderNotFound",
                                           "The specified folder could not be found in the store."))
            else:
                parts.append(fixture_text("ews", "getfolder-message.xml", folder=self._folder_xml(box, fid)))
        return fixture_text("ews", "getfolder-response.xml", messages="\n".join(parts))

    def _op_FindFolder(self, op, who, imp) -> str:
        box, parent = self._folder_ref(op.find(f"{M}ParentFolderIds")[0], who, imp)
        if box is None or parent is None:
            return fixture_text("ews", "operation-response.xml", operation="FindFolder",
                                messages=error_message("FindFolder", "ErrorAccessDenied", "Access is denied."))
        kids = [fid for fid, (_, p) in box.folders.items() if p == parent]
        if op.get("Traversal") == "Deep":  # every descendant, as exchangelib's folder cache asks
            for kid in kids:
                kids.extend(f for f, (_, p) in box.folders.items() if p == kid and f not in kids)
        return fixture_text("ews", "findfolder-response.xml", count=str(len(kids)),
                            folders="\n".join(self._folder_xml(box, k) for k in kids))

    def _op_CreateFolder(self, op, who, imp) -> str:
        box, parent = self._folder_ref(op.find(f"{M}ParentFolderId")[0], who, imp)
        name = op.find(f".//{T}DisplayName").text
        fid = _id("folder")
        box.folders[fid] = (name, parent)
        return fixture_text("ews", "createfolder-response.xml", id=fid)

    def _op_FindItem(self, op, who, imp) -> str:
        box, fid = self._folder_ref(op.find(f"{M}ParentFolderIds")[0], who, imp)
        if box is None:
            return fixture_text("ews", "operation-response.xml", operation="FindItem",
                                messages=error_message("FindItem", "ErrorAccessDenied", "Access is denied."))
        unread_only = op.find(f".//{M}Restriction") is not None and b"message:IsRead" in etree.tostring(op)
        ids = [i for i, it in box.items.items() if it.folder == fid and not (unread_only and it.is_read)]
        view = op.find(f"{M}IndexedPageItemView")
        offset, size = int(view.get("Offset", 0)), int(view.get("MaxEntriesReturned", 100))
        page = ids[offset:offset + size]
        items = "\n".join(fixture_text("ews", "item-id.xml", id=i, changekey=box.items[i].changekey) for i in page)
        return fixture_text("ews", "finditem-response.xml", items=items, total=str(len(ids)),
                            next_offset=str(offset + len(page)),
                            last="true" if offset + len(page) >= len(ids) else "false")

    def _item(self, ref, who, imp) -> tuple[Optional[EwsMailbox], Optional[EwsItem]]:
        iid = ref.get("Id")
        box = next((b for b in self.boxes.values() if iid in b.items), None)
        if box is None:
            return None, None
        if who != box.owner and who not in box.delegates and not (who == "app" and imp == box.address.lower()):
            return box, None
        return box, box.items[iid]

    def _per_item(self, op, who, imp, operation: str, act) -> str:
        parts = []
        for ref in op.iter(f"{T}ItemId"):
            box, item = self._item(ref, who, imp)
            if item is None:
                code = "ErrorItemNotFound" if box is None else "ErrorAccessDenied"
                parts.append(error_message(operation, code, "The specified object was not found in the store."
                                           if box is None else "Access is denied."))
            else:
                parts.append(act(box, ref.get("Id"), item))
        return fixture_text("ews", "operation-response.xml", operation=operation, messages="\n".join(parts))

    def _op_GetItem(self, op, who, imp) -> str:
        def one(box, iid, item):
            return fixture_text("ews", "getitem-message.xml", id=iid, changekey=item.changekey,
                                item_type=item.item_type, mime_base64=base64.b64encode(item.mime).decode())
        return self._per_item(op, who, imp, "GetItem", one).replace("m:GetItemResponse ", "m:GetItemResponse ")

    def _op_UpdateItem(self, op, who, imp) -> str:
        value = op.find(f".//{T}IsRead")
        def one(box, iid, item):
            item.is_read = value is not None and value.text in ("true", "1")
            item.changekey = _id("ck")
            return fixture_text("ews", "updateitem-message.xml", id=iid, changekey=item.changekey)
        return self._per_item(op, who, imp, "UpdateItem", one)

    def _op_MoveItem(self, op, who, imp) -> str:
        target = op.find(f"{M}ToFolderId")[0]
        def one(box, iid, item):
            _, fid = self._folder_ref(target, who, imp)
            new_id = _id("item")
            box.items[new_id] = box.items.pop(iid)
            item.folder = fid
            return fixture_text("ews", "moveitem-message.xml", id=new_id, changekey=item.changekey)
        return self._per_item(op, who, imp, "MoveItem", one)

    def _op_DeleteItem(self, op, who, imp) -> str:
        def one(box, iid, item):
            item.folder = box.distinguished["deleteditems"]
            return fixture_text("ews", "deleteitem-message.xml")
        return self._per_item(op, who, imp, "DeleteItem", one)

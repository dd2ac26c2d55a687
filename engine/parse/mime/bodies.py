"""Walk a parsed MIME tree: pick the text and HTML bodies, collect attachments."""

from __future__ import annotations

import binascii
import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message as MimeMessage

from engine.parse.mime import headers, names
from engine.parse.mime.charset import decode_text
from engine.parse.mime.flowed import unflow
from engine.parse.mime.params import param

MAX_DEPTH = 25  # deeper nesting is hostile or broken; stop walking there
MAX_PARTS = 2000

_REPORT_ATTACHED = {"message/rfc822", "text/rfc822-headers", "message/delivery-status",
                    "message/disposition-notification", "message/feedback-report",
                    "message/global", "message/global-headers", "message/global-delivery-status"}


@dataclass
class RawAttachment:
    """An attachment found while walking, before it becomes a frozen Attachment."""

    filename: str
    content_type: str
    data: bytes
    inline: bool
    content_id: str | None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Bodies:
    """What a walk collected: text and HTML segments, attachments, defects."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[RawAttachment] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    parts: int = 0
    codec: str | None = None  # for raw 8-bit header bytes (file names), chosen per message

    def absorb(self, other: "Bodies", text: bool = True) -> None:
        """Take over another walk's findings (its bodies only when `text`)."""
        if text:
            self.plain += other.plain
            self.html += other.html
        self.attachments += other.attachments
        self.defects += other.defects
        self.parts += other.parts

    def sub(self) -> "Bodies":
        """An empty walk that continues this one's part count and codec."""
        return Bodies(parts=self.parts, codec=self.codec)


def walk(msg: MimeMessage, codec: str | None = None) -> Bodies:
    """Collect bodies and attachments of a parsed message (any email policy).

    `codec` reads raw 8-bit bytes in part headers (file names).
    """
    found = Bodies(codec=codec)
    _part(msg, found, depth=0, path="1", parent="")
    return found


def _part(part: MimeMessage, found: Bodies, depth: int, path: str, parent: str) -> None:
    found.parts += 1
    if depth > MAX_DEPTH or found.parts > MAX_PARTS:
        if not any(d.startswith("structure too deep") for d in found.defects):
            found.defects.append("structure too deep or too many parts: rest skipped")
        return
    ctype = part.get_content_type()
    if ctype.startswith("multipart/") and not part.is_multipart():
        _broken_multipart(part, found, depth, path, ctype)
    elif not part.is_multipart():
        _leaf(part, found, path, ctype)
    elif not ctype.startswith("message/"):
        _multipart(part, found, depth, path, ctype)
    elif ctype in ("message/rfc822", "message/global") and parent != "multipart/report":
        _forwarded(part, found, depth, path)
    else:  # a returned mail in a report, delivery-status blocks, message/partial
        _attachment(part, found, path, ctype, default_inline=False)


def _multipart(part: MimeMessage, found: Bodies, depth: int, path: str, ctype: str) -> None:
    children = part.get_payload()
    if not isinstance(children, list):
        return
    if ctype == "multipart/alternative":
        _alternative(children, found, depth, path, ctype)
    elif ctype == "multipart/related":
        _related(part, children, found, depth, path, ctype)
    else:
        for index, child in enumerate(children, 1):
            _part(child, found, depth + 1, f"{path}.{index}", ctype)


def _broken_multipart(part: MimeMessage, found: Bodies, depth: int, path: str, ctype: str) -> None:
    # The stdlib found no boundary: retry the way RFC 2046 and mime4j read it
    # (unfolded parameter, delimiter lines matched by prefix), else keep the
    # content as text rather than as an opaque attachment.
    from engine.parse.mime.split import split_parts

    children = split_parts(part)
    if children:
        found.defects.append(f"part {path}: boundary recovered")
        for index, child in enumerate(children, 1):
            _part(child, found, depth + 1, f"{path}.{index}", ctype)
        return
    data = payload(part, found, path)
    if data.strip():
        text, _ = decode_text(data, _charset(part))
        found.plain.append(text)


def _alternative(children: list, found: Bodies, depth: int, path: str, ctype: str) -> None:
    # Keep the richest plain and HTML version; attachments of every branch.
    walks = []
    for index, child in enumerate(children, 1):
        sub = found.sub()
        _part(child, sub, depth + 1, f"{path}.{index}", ctype)
        found.parts = sub.parts
        sub.parts = 0
        walks.append(sub)
    plain = next((w.plain for w in reversed(walks) if w.plain), [])
    html = next((w.html for w in reversed(walks) if w.html), [])
    for sub in walks:
        found.absorb(sub, text=False)
    found.plain += plain
    found.html += html


def _related(part: MimeMessage, children: list, found: Bodies, depth: int, path: str, ctype: str) -> None:
    start = headers.message_ids(part.get_param("start") or "")
    root = 0
    for index, child in enumerate(children):
        if start and headers.message_ids(child.get("content-id", "")) == start:
            root = index
    for index, child in enumerate(children):
        where = f"{path}.{index + 1}"
        if index == root:
            _part(child, found, depth + 1, where, ctype)
        elif child.is_multipart():
            _part(child, found, depth + 1, where, ctype)
        else:
            _attachment(child, found, where, child.get_content_type(), default_inline=True)


def _forwarded(part: MimeMessage, found: Bodies, depth: int, path: str) -> None:
    # An attached mail stays one file, `<its subject>.eml`, as mail clients
    # and helpdesks show it (its own attachments inside it); its text follows
    # the sender's words under a banner, so a technician sees what was forwarded.
    children = part.get_payload()
    if not isinstance(children, list) or not children:
        return
    inner, data = _reparse_encoded(part, children[0], found)
    sub = found.sub()
    _part(inner, sub, depth + 1, f"{path}.1", "message/rfc822")
    found.parts = sub.parts
    found.defects += sub.defects
    if sub.plain:
        found.plain.append(_forward_banner(inner, found.codec) + "\n\n" + "\n\n".join(sub.plain))
    found.html += sub.html
    subject = headers.decode_header(_raw(inner, "subject") or "", codec=found.codec)
    cid = headers.message_ids(part.get("content-id", ""))
    found.attachments.append(RawAttachment(
        filename=_name(part, found, path) or names.made_up(part.get_content_type(), None, subject),
        content_type=part.get_content_type(),
        data=data if data is not None else _as_bytes(inner),
        inline=_disposition(part) == "inline",
        content_id=cid[0] if cid else None,
    ))


def _raw(part: MimeMessage, name: str) -> str | None:
    """The first raw value of a header (8-bit bytes as surrogate escapes), or None."""
    return next((value for key, value in part.raw_items() if key.lower() == name), None)


def _reparse_encoded(part: MimeMessage, inner: MimeMessage, found: Bodies) -> tuple[MimeMessage, bytes | None]:
    # A base64 / QP encoded message/rfc822 (not allowed, but sent): the stdlib
    # parsed the encoded text as a mail; decode it and parse again. Returns
    # the message and its decoded bytes (None: not encoded).
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte not in ("base64", "quoted-printable"):
        return inner, None
    from email import policy
    import binascii

    from engine.parse.mime.bounded import bytes_parser

    encoded = inner.as_bytes(policy=policy.compat32) if hasattr(inner, "as_bytes") else b""
    try:
        data = binascii.a2b_base64(encoded) if cte == "base64" else binascii.a2b_qp(encoded)
    except (binascii.Error, ValueError):
        found.defects.append("undecodable encoded message/rfc822 part")
        return inner, None
    found.defects.append(f"{cte} encoded message/rfc822 part")
    return bytes_parser().parsebytes(data), data


def _forward_banner(inner: MimeMessage, codec: str | None) -> str:
    lines = ["---------- Forwarded message ----------"]
    for name in ("From", "Date", "Subject", "To"):
        value = _raw(inner, name.lower())
        if value is not None:
            lines.append(f"{name}: {headers.decode_header(value, codec=codec)}")
    return "\n".join(lines)


def _leaf(part: MimeMessage, found: Bodies, path: str, ctype: str) -> None:
    if ctype in ("text/plain", "text/html") and _disposition(part) != "attachment":
        if _name(part, found, path) is None or not (found.plain or found.html):
            _body(part, found, path, ctype)
            return
    _attachment(part, found, path, ctype, default_inline=False)


def _body(part: MimeMessage, found: Bodies, path: str, ctype: str) -> None:
    data = payload(part, found, path)
    if not data.strip():
        return  # an empty body part is no attachment either
    charset = _charset(part)
    if charset is None and ctype == "text/html":
        charset = _meta_charset(data)
    text, defect = decode_text(data, charset)
    if defect:
        found.defects.append(f"part {path}: {defect}")
    if ctype == "text/html":
        found.html.append(text)
    else:
        if _param(part, "format").lower() == "flowed":
            text = unflow(text, delsp=_param(part, "delsp").lower() == "yes")
        found.plain.append(text)


_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_.:-]+)""", re.I)


def _meta_charset(html: bytes) -> str | None:
    # HTML parts often name their charset only in a <meta> tag.
    match = _META_CHARSET.search(html[:4096])
    return match.group(1).decode("ascii") if match else None


def _attachment(part: MimeMessage, found: Bodies, path: str, ctype: str, default_inline: bool) -> None:
    if part.is_multipart():  # a message/* inside a report: keep it whole
        data = b"".join(_as_bytes(block) for block in part.get_payload())
    else:
        data = payload(part, found, path)
    name = _name(part, found, path)
    if not data and name is None:
        return
    disposition = _disposition(part)
    cid = headers.message_ids(part.get("content-id", ""))
    inline = disposition == "inline" or (disposition is None and (default_inline or bool(cid)))
    found.attachments.append(RawAttachment(
        filename=name or names.made_up(ctype, cid[0] if cid else None, _inner_subject(part, found)),
        content_type=ctype,
        data=data,
        inline=inline,
        content_id=cid[0] if cid else None,
    ))


def _inner_subject(part: MimeMessage, found: Bodies) -> str | None:
    # a returned mail inside a report is named after its subject
    if part.get_content_type() not in ("message/rfc822", "message/global") or not part.is_multipart():
        return None
    inner = part.get_payload()[0]
    return headers.decode_header(_raw(inner, "subject") or "", codec=found.codec)


def _as_bytes(part: MimeMessage) -> bytes:
    from email import policy

    try:
        return part.as_bytes(policy=policy.compat32)
    except Exception:  # a broken part can fail to serialise; keep the text
        return str(getattr(part, "_payload", "")).encode("utf-8", "surrogateescape")


def payload(part: MimeMessage, found: Bodies, path: str) -> bytes:
    """The decoded payload bytes of a leaf part; defects go to `found`."""
    # The raw attribute: get_payload() re-decodes 8-bit text lossily.
    raw = getattr(part, "_payload", None)
    if not isinstance(raw, str):
        return b""
    cte = str(part.get("content-transfer-encoding", "")).strip().lower()
    if cte == "base64" and raw.isascii():  # no copy: binascii reads ASCII str
        return _base64(raw, found, path)
    data = raw.encode("ascii", "surrogateescape")
    try:
        if cte == "base64":
            return _base64(data, found, path)
        if cte == "quoted-printable":
            return binascii.a2b_qp(data)
        if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
            return part.get_payload(decode=True) or b""
    except Exception as err:  # junk in an encoded body: keep the raw bytes
        found.defects.append(f"part {path}: undecodable {cte} ({type(err).__name__})")
    return data


_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/]")
# Not in base64: punctuation, and blanks inside a line (blanks at a line end are common).
_JUNK = re.compile(r"[^A-Za-z0-9+/=\s]|[ \t]+(?=\S)")


_BASE64_LINES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=\r\n"


def _junk(text: str) -> int:
    """How many characters (or runs of blanks inside a line) of the first 64 KiB are not base64."""
    head = text[:65536]
    # Well-formed base64 is nothing but the alphabet and line ends: one C pass tells, where
    # the regex below took ~0.2 ms of a mail's parse. Anything else is counted as before.
    if not head.encode("latin-1", "replace").translate(None, _BASE64_LINES):
        return 0
    return len(_JUNK.findall(head))


def _base64(data: bytes | str, found: Bodies, path: str) -> bytes:
    text = data if isinstance(data, str) else data.decode("latin-1")
    junk = _junk(text)
    if junk:
        if junk >= 3 and junk * 10 > min(len(text), 65536):  # plain text under a wrong label
            found.defects.append(f"part {path}: labelled base64 but not encoded: kept as it is")
            return data if isinstance(data, bytes) else data.encode("ascii", "surrogateescape")
        found.defects.append(f"part {path}: invalid characters in base64 skipped")
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        pass
    if isinstance(data, str):
        data = data.encode("ascii", "surrogateescape")
    # Lenient like mail clients: drop junk, decode the whole quads.
    clean = _NOT_BASE64.sub(b"", data.split(b"=", 1)[0] if b"==" in data[:-4] else data)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean + b"=" * (-len(clean) % 4)
    found.defects.append(f"part {path}: invalid base64")
    try:
        return binascii.a2b_base64(clean)
    except binascii.Error:
        return b""


def filename(part: MimeMessage, codec: str | None = None, notes: list[str] | None = None) -> str | None:
    """The decoded, safe file name a part carries (RFC 2231, RFC 2047, raw 8-bit), or None.

    Content-Disposition `filename`, else Content-Type `name`, else the last
    segment of Content-Location. Repairs to the name go to `notes`.
    """
    raw, charset = None, None
    for header, key in (("content-disposition", "filename"), ("content-type", "name")):
        value = _raw(part, header)
        if value is not None:
            raw, charset = param(headers.unfold(value), key)
            if raw:
                break
    if not raw:
        raw = _location_name(part)
    if not raw:
        return None
    text = raw if charset else headers.to_text(raw, codec)
    name = names.safe_name(headers.one_line(headers.decode_words(text)).strip(), notes if notes is not None else [])
    return name or None


def _location_name(part: MimeMessage) -> str | None:
    # Content-Location names a file for some Exchange versions
    location = _raw(part, "content-location")
    if not location:
        return None
    last = re.split(r"[/\\]", headers.unfold(location).split("?", 1)[0].strip().strip('"'))[-1]
    return last if re.search(r"\.[A-Za-z0-9]{2,6}$", last) else None


def _name(part: MimeMessage, found: Bodies, path: str) -> str | None:
    notes: list[str] = []
    name = filename(part, found.codec, notes)
    found.defects += [f"part {path}: {note}" for note in notes]
    return name


def _disposition(part: MimeMessage) -> str | None:
    value = part.get("content-disposition")
    if value is None:
        return None
    return str(value).split(";", 1)[0].strip().lower() or None


def _charset(part: MimeMessage) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # a malformed RFC 2231 charset parameter
        return None


def _param(part: MimeMessage, name: str) -> str:
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    return value if isinstance(value, str) else ""

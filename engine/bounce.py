"""Find what a bounce reports (F-REF-9): failed recipients and the original Message-ID."""

from __future__ import annotations

import email.message
import contextlib
import html as html_lib
import email.policy
import logging
import re
from email.parser import BytesParser, HeaderParser

import flufl.bounce

from engine import autogen, bouncetext, dsn, sesjson
from engine.message import Bounce, FailedRecipient

_MAX_PARTS = 200
_MAX_TEXT = 200_000  # characters of body text searched; a bounce says what it must early
_FLUFL_CHARS = 64_000  # of each part, what flufl.bounce gets to read (see _trimmed)
_HEADERS_CHARS = 64_000  # of a returned mail's body searched for headers a bad line pushed there
_MESSAGE_ID = re.compile(r"^[ \t>]*Message-ID[ \t]*:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_HEADER_ADDRESS = re.compile(r"(?<![^\s<>\"',;:()])[^\s<>\"',;:()@]+@[^\s<>\"',;:()]+")
_RETURNED = ("message/rfc822", "message/global", "text/rfc822-headers",
             "message/rfc822-headers", "message/global-headers", "text/rfc822-header")
# autogen reasons that make a mail bounce-shaped enough to look for failed recipients in.
_BOUNCE_REASONS = ("multipart/report: delivery-status", "message/delivery-status part",
                   "message/global-delivery-status part", "return-path: <>", "sender:",
                   "x-failed-recipients", "exchange: ndr", "subject: delivery failure")
_MAIL_SYSTEM = ("sender:", "x-failed-recipients", "exchange: ndr", "subject: delivery failure")
_AUTO_REPLY = ("multipart/report: disposition-notification", "auto-submitted: auto-replied",
               "x-autoreply", "x-autorespond", "x-apple-action", "exchange: out-of-office",
               "precedence: auto_reply", "precedence: auto-reply")
_NOT_BOUNCES = ("multipart/report: feedback-report", "message/feedback-report part")

logging.getLogger("flufl.bounce").setLevel(logging.CRITICAL)  # it logs each detector it runs


def detect(msg: email.message.Message) -> Bounce | None:
    """The bounce `msg` is, or None for any other mail (vacation replies, ARF, MDN); never raises."""
    try:
        return _detect(msg)
    except Exception:  # noqa: BLE001 - a bounce we cannot read is not worth failing the parse
        return None


def _detect(msg: email.message.Message) -> Bounce | None:
    reasons = autogen.classify(msg).reasons
    if "x-amz-sns-message-id" in reasons:
        return sesjson.bounce_from_json(body_text(msg))  # SES says it all in JSON
    if _refused(reasons):
        return None
    by_subject = autogen.bounce_subject(msg)  # weak alone: only flufl's detectors may then look
    if not (by_subject or any(r.startswith(_BOUNCE_REASONS) for r in reasons)):
        return None
    blocks = dsn.blocks_in(autogen.own_parts(msg, _MAX_PARTS)) or []
    if not blocks and _from_mail_system(reasons):
        blocks = dsn.blocks_in(_wrapped_report_parts(msg)) or []
    recipients = dsn.failures(blocks)
    # A DSN that states no per-recipient action at all is as good as none.
    stated = any(b.get("action") for b in blocks)
    text = body_text(msg)
    if not recipients and not stated:
        recipients = dsn.failures(dsn.blocks_in_text(text))
    if not recipients and not stated:
        recipients = _from_flufl(msg, text)
    if not recipients and not stated and _prose_allowed(msg, reasons):
        recipients = bouncetext.failed_recipients(text, _sender_addresses(msg))
    recipients = _merge(recipients, _x_failed_recipients(msg))
    if not recipients and not _unnamed_failure(reasons, by_subject, blocks):
        return None  # a success DSN, or a bounce-shaped mail that may be something else
    return Bounce(recipients=tuple(recipients), original_message_id=original_message_id(msg, text))


def _unnamed_failure(reasons: tuple[str, ...], by_subject: bool, blocks: list[dsn.Block]) -> bool:
    """A failure report from the mail system that names no readable recipient: still a bounce,
    so the note can reach the ticket by the original Message-ID (F-REF-9)."""
    report = "multipart/report: delivery-status" in reasons
    if any(b.get("action") for b in blocks):
        return False  # it named recipients, and none of them failed
    return _from_mail_system(reasons) and (report or by_subject)


def _wrapper(msg: email.message.Message) -> bool:
    """No report of its own: a filter's cover around the real DSN, not a bounce of a bounce."""
    return dsn.blocks_in(autogen.own_parts(msg, _MAX_PARTS)) is None


def _wrapped_report_parts(msg: email.message.Message) -> list[email.message.Message]:
    """Parts of DSNs attached whole by a mail filter (as InterScan does); only asked for when
    the outer mail comes from the mail system, so a person forwarding a bounce stays a person."""
    found: list[email.message.Message] = []
    for part in _returned_parts(msg):
        if autogen.content_type(part) == "multipart/report":
            found.extend(autogen.own_parts(part, _MAX_PARTS))
    return found


def _prose_allowed(msg: email.message.Message, reasons: tuple[str, ...]) -> bool:
    """Harvest addresses from prose only from the mail system, or from a null sender that
    returns a mail (what vacation replies and receipts never do)."""
    if _from_mail_system(reasons):
        return True
    return "return-path: <>" in reasons and bool(_returned_parts(msg))


def _refused(reasons: tuple[str, ...]) -> bool:
    """A complaint (ARF), or a person's vacation reply or read receipt: not a bounce."""
    if any(r.startswith(_NOT_BOUNCES) for r in reasons):
        return True
    report = any("delivery-status" in r for r in reasons)
    # Exim and Google Groups mark their bounces auto-replied too, hence the exceptions.
    personal = any(r.startswith(_AUTO_REPLY) for r in reasons)
    return personal and not (report or _from_mail_system(reasons))


def _from_mail_system(reasons: tuple[str, ...]) -> bool:
    """Stronger evidence than a null Return-Path (which vacation replies carry too)."""
    return any(r.startswith(_MAIL_SYSTEM) for r in reasons)


def _from_flufl(msg: email.message.Message, text: str) -> list[FailedRecipient]:
    """flufl.bounce's provider-specific detectors, for bounces that are not RFC 3464 DSNs."""
    try:
        with _trimmed(msg):
            temporary, permanent = flufl.bounce.all_failures(_compat32(msg))
    except Exception:  # noqa: BLE001 - a detector tripping over odd input finds nothing
        return []
    found = []
    for raw, is_permanent in [(a, False) for a in sorted(temporary)] + [(a, True) for a in sorted(permanent)]:
        address = raw.decode("ascii", "replace").strip("<>.")
        status, diagnostic = _context(text, address)
        found.append(FailedRecipient(address=address, permanent=is_permanent,
                                     status=status, diagnostic=diagnostic))
    return found


@contextlib.contextmanager
def _trimmed(msg: email.message.Message):
    """Cut every payload to _FLUFL_CHARS while flufl.bounce reads it, then put it back:
    flufl runs every pattern over every line of every part, and a returned attachment can
    be megabytes; what a bounce says comes first."""
    cut = []
    for index, part in enumerate(msg.walk()):
        payload = part.get_payload()
        if index < _MAX_PARTS and isinstance(payload, str) and len(payload) > _FLUFL_CHARS:
            cut.append((part, payload))
            part.set_payload(payload[:_FLUFL_CHARS])
    try:
        yield
    finally:
        for part, payload in cut:
            part.set_payload(payload)


def _compat32(msg: email.message.Message) -> email.message.Message:
    """flufl.bounce walks payloads the compat32 way; reparse a policy.default message."""
    if isinstance(msg.policy, email.policy.Compat32):
        return msg
    return BytesParser(policy=email.policy.compat32).parsebytes(msg.as_bytes())


def _context(text: str, address: str) -> tuple[str, str]:
    """Status code and the lines saying why, from the first place the body names `address`."""
    lines = text.splitlines()
    wanted = address.lower()
    for index, line in enumerate(lines):
        if wanted in line.lower():
            window = bouncetext.context(lines, index, wanted)
            return dsn.status_code(window), window[:500]
    return "", ""


def _sender_addresses(msg: email.message.Message) -> set[str]:
    """Addresses of the bounce's addressee and of the returned mail's sender: not failures."""
    names = ("to", "cc", "from", "reply-to", "sender")
    values = [v for n in names for v in _header_values(msg, n)]
    for part in _returned_parts(msg):
        values += [v for n in ("from", "sender", "return-path", "reply-to") for v in _header_values(part, n)]
    return {a.lower() for v in values for a in _HEADER_ADDRESS.findall(v)}


def _returned_parts(msg: email.message.Message) -> list[email.message.Message]:
    """The returned mail (or its headers) as message objects."""
    found = []
    for part in autogen.own_parts(msg, _MAX_PARTS):
        if part is not msg and autogen.content_type(part) in _RETURNED:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                found.append(payload[0])
            else:
                found.append(HeaderParser().parsestr(_part_text(part)))
    return found


def _part_text(part: email.message.Message, limit: int = _HEADERS_CHARS) -> str:
    """The first `limit` characters of a leaf part, decoded only when it is encoded."""
    payload = part.get_payload()
    if not isinstance(payload, str):
        return ""
    if str(part.get("content-transfer-encoding", "")).strip().lower() not in ("base64", "quoted-printable"):
        return payload[:limit]
    try:
        raw = part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001 - undecodable payload
        raw = payload[:limit].encode("utf-8", "replace")
    return raw[:limit].decode("utf-8", "replace")


def _x_failed_recipients(msg: email.message.Message) -> list[FailedRecipient]:
    """Exim's X-Failed-Recipients header: addresses it gave up on."""
    values = _header_values(msg, "x-failed-recipients")
    addresses = [a for v in values for a in re.split(r"[,\s]+", v) if "@" in a]
    return [FailedRecipient(address=a.strip("<>"), permanent=True) for a in addresses]


def _merge(first: list[FailedRecipient], extra: list[FailedRecipient]) -> list[FailedRecipient]:
    """`first` plus the addresses of `extra` it lacks (the first reader knows more)."""
    known = {r.address.lower() for r in first}
    return first + [r for r in extra if r.address.lower() not in known]


def original_message_id(msg: email.message.Message, text: str | None = None) -> str | None:
    """The Message-ID of the mail that bounced: from the returned mail, its headers, or quoted text."""
    own = {m for v in _header_values(msg, "message-id") for m in re.findall(r"<[^<>\s]+>", v)}
    for part in _returned_parts(msg):
        if autogen.content_type(part) == "multipart/report" and _wrapper(msg):
            return original_message_id(part)  # a filter wrapped the real DSN: look inside it
        values = _header_values(part, "message-id")
        match = re.search(r"<[^<>\s]+>", values[0]) if values else None
        if match is None:  # headers cut short by a bad line: the rest sits in the body
            match = _MESSAGE_ID.search(_part_text(part))
            match = match and re.search(r"<[^<>\s]+>", match.group(0))
        if match and match.group(0) not in own:
            return match.group(0)
    for match in _MESSAGE_ID.finditer(body_text(msg) if text is None else text):
        if match.group(1) not in own:
            return match.group(1)
    return None


def _header_values(msg: email.message.Message, name: str) -> list[str]:
    try:
        return [str(v).strip() for k, v in msg.raw_items() if k.lower() == name]
    except Exception:  # noqa: BLE001 - unreadable headers
        return []


def body_text(msg: email.message.Message) -> str:
    """The report's own readable text (not a returned mail's): its text/plain parts, else its
    HTML without tags; a multipart whose boundary never shows up is read as plain text."""
    plain, html = [], []
    for part in autogen.own_parts(msg, _MAX_PARTS):
        ctype = autogen.content_type(part)
        broken = part.get_content_maintype() == "multipart" and not isinstance(part.get_payload(), list)
        if ctype == "text/plain" or broken:
            plain.append(_decoded_text(part))
        elif ctype == "text/html":
            html.append(html_lib.unescape(re.sub(r"<[^<>]*>", " ", _decoded_text(part))))
    return "\n".join(plain or html)[:_MAX_TEXT]


def _decoded_text(part: email.message.Message) -> str:
    """A part's payload as text in its declared charset, replacing what does not decode."""
    try:
        raw = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - undecodable part
        raw = None
    if not isinstance(raw, bytes):
        raw = str(part.get_payload() or "").encode("utf-8", "replace")
    charset = str(part.get_content_charset() or "utf-8")
    try:
        return raw[:_MAX_TEXT].decode(charset, "replace")
    except LookupError:  # a charset Python does not know
        return raw[:_MAX_TEXT].decode("utf-8", "replace")

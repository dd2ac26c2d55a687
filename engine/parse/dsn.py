"""Read RFC 3464 delivery-status fields into per-recipient failures."""

from __future__ import annotations

import email.message
import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.parse import autogen
from engine.message import FailedRecipient

_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
# The look-behind makes each run of address characters one attempt, not one per character.
_ADDRESS = re.compile(r"(?<![^\s<>\"';:,()\[\]])[^\s<>\"';:,()\[\]@]+@[^\s<>\"';:,()\[\]]+\.[A-Za-z0-9-]+")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
# Actions that report a failure: RFC 3464 'failed'/'delayed', plus 'error' (OpenSMTPD) and
# 'expired' (SendGrid).
_FAILED_ACTIONS = ("fail", "error", "bounce", "reject", "expired")


@dataclass
class Block:
    """One per-recipient field block, by lower-case field name (first value wins)."""

    fields: dict[str, str]

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


def blocks_in(parts: Iterable[email.message.Message]) -> list[Block] | None:
    """Every field block of the delivery-status parts among `parts`, or None when there is none."""
    found: list[Block] | None = None
    for part in parts:
        if autogen.content_type(part) in _DSN_TYPES:
            found = (found or []) + _part_blocks(part)
    return found


def blocks_in_text(text: str) -> list[Block]:
    """Field blocks written inline in a text body, as some MTAs do instead of a DSN part."""
    if not re.search(r"^(final|original)-recipient\s*:", text, re.IGNORECASE | re.MULTILINE):
        return []
    return [b for b in parse_blocks(text) if b.get("final-recipient") or b.get("original-recipient")]


def _part_blocks(part: email.message.Message) -> list[Block]:
    """The blocks of one delivery-status part, parsed by the email package or from its text."""
    payload = part.get_payload()
    if isinstance(payload, list):
        blocks = []
        for sub in payload:
            try:
                items = [(str(k).lower(), _unfold(str(v))) for k, v in sub.raw_items()]
            except Exception:  # noqa: BLE001 - an unreadable block is skipped
                continue
            fields: dict[str, str] = {}
            for key, value in items:
                fields.setdefault(key, value)
            blocks.append(Block(fields))
        return blocks
    try:
        raw = part.get_payload(decode=True) or b""
    except Exception:  # noqa: BLE001 - undecodable payload
        raw = str(payload).encode("utf-8", "replace")
    return parse_blocks(raw.decode("utf-8", "replace"))


def parse_blocks(text: str) -> list[Block]:
    """Split 'Field: value' text into blocks at blank lines, unfolding continuation lines."""
    blocks: list[Block] = []
    fields: dict[str, str] = {}
    last = ""
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            if fields:
                blocks.append(Block(fields))
            fields, last = {}, ""
        elif line[0] in " \t" and last:
            fields[last] = (fields[last] + " " + line.strip()).strip()
        elif match := _FIELD.match(line):
            last = match.group(1).lower()
            fields.setdefault(last, match.group(2).strip())
            if fields[last] != match.group(2).strip():
                last = ""  # a repeated field: keep the first, drop its continuation lines
    if fields:
        blocks.append(Block(fields))
    return blocks


def failures(blocks: list[Block]) -> list[FailedRecipient]:
    """The failed and delayed recipients of the blocks, in order, one entry per address."""
    found: dict[str, FailedRecipient] = {}
    for block in blocks:
        failure = _failure(block)
        if failure and failure.address.lower() not in found:
            found[failure.address.lower()] = failure
    return list(found.values())


def _failure(block: Block) -> FailedRecipient | None:
    """A recipient block as a failure; None for delivered, relayed or expanded ones."""
    address = recipient_address(block)
    if not address:
        return None
    action = block.get("action").lower()
    status = _best_status(block.get("status"), block.get("diagnostic-code"))
    delayed = action.startswith("delay")
    failed = action.startswith(_FAILED_ACTIONS)
    if not (delayed or failed or (not action and status[:1] in ("4", "5"))):
        return None
    # Temporary means still being retried; a failure given up over a 4.x.x condition (full,
    # timed out) is final for this mail, so permanent. `status` keeps the class for callers.
    permanent = not delayed
    return FailedRecipient(address=address, permanent=permanent, status=status,
                           diagnostic=diagnostic(block.get("diagnostic-code")))


def _best_status(status_field: str, diagnostic_code: str) -> str:
    """The Status code, or the remote server's own code in the diagnostic when it is of the same
    class: it is the more specific of the two (Status is often a generic 5.0.0 or 4.4.7)."""
    status = status_code(status_field)
    remote = status_code(diagnostic_code)
    if remote and (not status or remote[0] == status[0]):
        return remote
    return status


def recipient_address(block: Block) -> str:
    """The address the mail was sent to: Original-Recipient when the MTA kept it (Final-Recipient
    may be an alias target the sender never knew), else Final-Recipient or X-Actual-Recipient."""
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        value = block.get(name)
        # Drop the address type ("rfc822;", "utf-8;") before looking for the mailbox.
        value = re.sub(r"^\s*[A-Za-z0-9-]+\s*;", "", value)
        match = _ADDRESS.search(value)
        if match:
            return match.group(0).strip(".")
    return ""


def status_code(value: str) -> str:
    """The first enhanced status code (RFC 3463) in `value`, or ''."""
    match = _STATUS.search(value or "")
    return match.group(0) if match else ""


def diagnostic(value: str) -> str:
    """Diagnostic-Code text without its type prefix ('smtp; 550 ...' -> '550 ...')."""
    text = re.sub(r"^\s*[A-Za-z0-9-]+\s*;\s*", "", _unfold(value or ""))
    return text[:500]


def _unfold(value: str) -> str:
    return " ".join(value.split())

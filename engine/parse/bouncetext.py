"""Find failed recipients in the prose of bounces that are not RFC 3464 DSNs."""

from __future__ import annotations

import re

from engine.parse import dsn
from engine.message import FailedRecipient

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]"
# The look-behind makes each run of local-part characters one attempt, not one per character.
_ADDRESS = re.compile(rf"(?<!{_LOCAL}){_LOCAL}+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# Where the report ends and the copy of the returned mail begins.
_COPY_STARTS = re.compile(
    r"^[ \t]*(?:[-=_*]+[ \t]*)?(?:original message|returned message|unsent message follows"
    r"|(?:the )?original message (?:headers|follows)|message headers follow|below (?:this line )?is a copy"
    r"|this is a copy of|a copy of the original message|headers of the original|undelivered message"
    r"|content-type: message/rfc822)"
    r"|^(?:Received|Return-Path|DKIM-Signature|Message-I[Dd]|X-[A-Za-z-]+|MIME-Version)[ \t]*:[ \t]",
    re.IGNORECASE | re.MULTILINE,
)
# Mailboxes a report names that are never the failed recipient.
_NOT_RECIPIENTS = re.compile(
    r"^(?:mailer[-_.]?daemon|mail[-_.]?daemon|post[-_.]?master|abuse|hostmaster|webmaster"
    r"|no[-_.]?reply|do[-_.]?not[-_.]?reply)$",
    re.IGNORECASE,
)
_SKIP_LINE = re.compile(r"message-id|^\s*(from|to|cc|reply-to)\s*:", re.IGNORECASE)
# A warning that delivery goes on, as opposed to a final notice (which may quote a 4xx reply).
_STILL_TRYING = re.compile(
    r"will (?:continue to |keep )?(?:be )?(?:re)?tr(?:y|ied|ying)|still (?:be )?(?:re)?trying"
    r"|not yet been delivered|(?:has been|is|was) delayed|delivery attempts will continue"
    r"|no action is required",
    re.IGNORECASE,
)
_MAX_RECIPIENTS = 50
_CONTEXT_LINES = 6


def failed_recipients(text: str, exclude: set[str]) -> list[FailedRecipient]:
    """Addresses the report part of `text` names as failing; `exclude` holds the sender's own."""
    report = report_section(text)
    permanent = not _STILL_TRYING.search(report)
    lines = report.splitlines()
    found: dict[str, FailedRecipient] = {}
    for index, line in enumerate(lines):
        if _SKIP_LINE.search(line):
            continue  # identifiers and quoted headers, not recipients
        for match in _ADDRESS.finditer(line):
            address = match.group(0).strip(".")
            key = address.lower()
            if key in found or key in exclude or _NOT_RECIPIENTS.match(key.split("@")[0]):
                continue
            found[key] = _recipient(address, context(lines, index, key), permanent)
            if len(found) >= _MAX_RECIPIENTS:
                return list(found.values())
    return list(found.values())


def report_section(text: str) -> str:
    """The report a bounce opens with, without the returned mail that follows it."""
    match = _COPY_STARTS.search(text)
    return text[:match.start()] if match else text


def context(lines: list[str], index: int, address: str) -> str:
    """The line naming `address` and the non-blank lines after it, up to the next address."""
    taken = [lines[index].strip()]
    for line in lines[index + 1:]:
        if len(taken) >= _CONTEXT_LINES or _COPY_STARTS.match(line):
            break
        others = {m.group(0).lower().strip(".") for m in _ADDRESS.finditer(line)} - {address}
        if others:
            break  # the next recipient's lines say nothing about this one
        if line.strip():
            taken.append(line.strip())
    return " ".join(taken)


def _recipient(address: str, text: str, permanent: bool) -> FailedRecipient:
    """A failure whose status code comes from the text about it."""
    return FailedRecipient(address=address, permanent=permanent, status=dsn.status_code(text),
                           diagnostic=text[:500])

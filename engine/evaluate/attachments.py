"""Attachments: keep or leave out by size and blocking rules, and say so in the note (F-ATT-1..3)."""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import replace

from engine.config.ruleset import BlockedAttachment
from engine.decision import AttachmentVerdict
from engine.evaluate.draft import Draft
from engine.message import Attachment

STAGE = "attachments"


def sort_attachments(d: Draft) -> None:
    """Decide each attachment; the note lists what was left out ("Email Received", F-ATT-2)."""
    limit_mb = d.policy.size_limits.max_attachment_mb
    for item in d.message.attachments:
        verdict = _verdict(d, item, limit_mb)
        d.attachments.append(verdict)
        d.step(STAGE, item.filename or "(unnamed)", not verdict.kept, verdict.reason or "kept", verdict.origin)
    left_out = [a for a in d.attachments if not a.kept]
    if left_out and d.note is not None:
        lines = [f"- {a.filename or '(unnamed)'} ({a.size} bytes): {a.reason}" for a in left_out]
        listing = "Email Received: these attachments were left out:\n" + "\n".join(lines)
        d.note = replace(d.note, text=f"{d.note.text}\n\n{listing}")


def _verdict(d: Draft, item: Attachment, limit_mb: float) -> AttachmentVerdict:
    base = AttachmentVerdict(item.filename, item.content_type, item.size, item.sha256, True)
    rule = next((r for r in d.ruleset.blocked_attachments if blocks(r, item)), None)
    if rule is not None:
        return replace(base, kept=False, reason=f"blocked: {rule.reason or 'matches a blocking rule'}", origin=rule.origin)
    if item.size > limit_mb * 1024 * 1024:  # the limit may be a fraction of a MB: say it as configured
        return replace(base, kept=False, reason=f"larger than the {limit_mb:g} MB limit",
                       origin=d.policy.size_limits.where("max_attachment_mb"))
    return base


def blocks(rule: BlockedAttachment, item: Attachment) -> bool:
    """True when every condition the rule sets holds for the attachment."""
    # Cheapest conditions first, each one ends the check: this runs for every rule and attachment.
    if rule.max_bytes is not None and item.size > rule.max_bytes:
        return False
    if rule.sha256 is not None and rule.sha256 != item.sha256:
        return False
    name = (item.filename or "").lower()
    if rule.extension is not None and (not name.endswith(rule.extension)  # cheap, and settles most rules
                                       or posixpath.splitext(name)[1] != rule.extension):
        return False
    if rule.content_type is not None and not _type_matches(rule.content_type, item.content_type.lower()):
        return False
    return rule.name is None or fnmatch.fnmatchcase(name, rule.name.lower())


def _type_matches(pattern: str, content_type: str) -> bool:
    if pattern.endswith("/*"):
        return content_type.startswith(pattern[:-1])
    return content_type == pattern

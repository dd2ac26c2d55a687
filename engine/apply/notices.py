"""Error notices for failures found outside evaluate() (a message that could not be applied, F-FAIL-1)."""

from __future__ import annotations

from datetime import datetime

from engine.config.ruleset import MailboxConfig, Ruleset
from engine.decision import Outcome, OutgoingMail
from engine.evaluate import outgoing
from engine.evaluate.draft import Draft, duplicate_key
from engine.evaluate.index import index_for
from engine.store.memory_state import from_ruleset
from engine.parse import parse


def failure_notice(ruleset: Ruleset, mailbox: MailboxConfig, raw: bytes, error: str,
                   now: datetime) -> tuple[OutgoingMail, ...]:
    """The rendered error notice to the mailbox's error user about a quarantined message."""
    message = parse(raw)
    draft = Draft(message=message, ruleset=ruleset, state=from_ruleset(ruleset), now=now, mailbox=mailbox,
                  index=index_for(ruleset), duplicate_key=duplicate_key(message))
    draft.sender = message.from_.address.lower() if message.from_ else None
    draft.finish(Outcome.QUARANTINE, "processing_failed", error)
    outgoing.plan(draft)  # the same rendering as every other notice: template, headers, Message-ID
    return tuple(mail for mail in draft.outgoing if mail.role == "error_notice")

"""The stage registry and the walker: each stage records hits and misses, the first outcome wins."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from engine.config.ruleset import Ruleset
from engine.decision import Decision, Outcome
from engine.evaluate import attachments, body, new_ticket, outgoing, prechecks, reference, routes, sender, tokens
from engine.evaluate.draft import Draft, arrival, duplicate_key
from engine.message import Message
from engine.evaluate.state import StateView

# Decide the outcome: each stage returns True once the outcome is settled.
DECIDE: tuple[Callable[[Draft], bool], ...] = (
    prechecks.duplicate,  # first: a second copy of an unreadable mail is a duplicate too
    prechecks.readable,
    prechecks.size_limit,
    prechecks.subject_length,
    prechecks.bounce_of_ours,
    prechecks.auto_generated,
    prechecks.filters,
    prechecks.keywords,
    prechecks.loop_prevention,
    sender.identify,
    sender.accept_from,
    sender.resolve_requester,
    reference.find_reference,
    routes.route,
    reference.reply,
    reference.reply_only,
    reference.auto_bundle,
    new_ticket.create,
)
# Shape what a ticket or note receives (only when there is one).
ENRICH: tuple[Callable[[Draft], None], ...] = (routes.apply_fields, body.compose, attachments.sort_attachments,
                                               tokens.apply_tokens)
WITH_CONTENT = (Outcome.CREATE_TICKET, Outcome.ADD_NOTE, Outcome.BUNDLE)


def evaluate(message: Message, ruleset: Ruleset, state: StateView, now: datetime, mailbox: str,
             arrived: datetime | None = None) -> Decision:
    """What `message`, received by `mailbox`, becomes: pure, deterministic, fully traced.

    `arrived` is when the source says the mail reached the mailbox (None: the source
    cannot tell, and the Received: or Date: header stands in); loops are judged by it.
    """
    draft = _draft(message, ruleset, state, now, mailbox, arrived)
    for stage in DECIDE:
        if stage(draft):
            break
    if draft.outcome in WITH_CONTENT:
        for enrich in ENRICH:
            enrich(draft)
    outgoing.plan(draft)
    return draft.freeze()


def evaluate_failure(message: Message, ruleset: Ruleset, state: StateView, now: datetime, mailbox: str,
                     error: str, notify: bool = True, arrived: datetime | None = None) -> Decision:
    """The decision for a mail whose processing failed: quarantine it, and tell the error user (F-FAIL-1).

    The notice is rendered like every other one (template, headers, Message-ID);
    `notify=False` leaves it out, for when rendering it is what failed.
    """
    draft = _draft(message, ruleset, state, now, mailbox, arrived)
    draft.step("apply", "processing_failed", True, error)
    draft.finish(Outcome.QUARANTINE, "processing_failed", error)
    if notify:
        outgoing.plan(draft)
    return draft.freeze()


def _draft(message: Message, ruleset: Ruleset, state: StateView, now: datetime, mailbox: str,
           arrived: datetime | None) -> Draft:
    draft = Draft(message=message, ruleset=ruleset, state=state, now=now, mailbox=ruleset.mailbox(mailbox),
                  index=ruleset.index, duplicate_key=duplicate_key(message))
    draft.arrived, draft.arrived_from = arrival(message, now, arrived)
    # Known before the prechecks, so a notice about a rejected mail can name and answer its sender.
    draft.sender = sender.sender_address(message)
    draft.sender_name = message.from_.name if message.from_ else ""
    return draft

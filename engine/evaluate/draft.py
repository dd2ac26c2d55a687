"""The working state of one evaluation: inputs, the trace so far, and the decision taking shape."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from engine.config.ruleset import MailboxConfig, Ruleset
from engine.config.sections import MailboxPolicy
from engine.decision import (AttachmentVerdict, Decision, NewUser, Note, Outcome, OutgoingMail, Step,
                             TicketChange, TokenResult)
from engine.config.rule_index import RuleIndex
from engine.message import Message
from engine.parse.subject import bundle_subject
from engine.evaluate.state import StateView, Ticket, User


@dataclass
class Draft:
    """Mutable only inside evaluate(); frozen into a Decision at the end."""

    message: Message
    ruleset: Ruleset
    state: StateView
    now: datetime
    mailbox: MailboxConfig
    index: RuleIndex
    duplicate_key: str
    arrived: datetime | None = None  # when the mail reached the mailbox (see arrival())
    arrived_from: str = ""  # where that time came from, for the trace
    keep_raw: bool = False
    trace: list[Step] = field(default_factory=list)
    outcome: Outcome | None = None
    reason: str = ""
    detail: str = ""  # human words for notices
    sender: str | None = None  # lower-cased address
    sender_name: str = ""
    user: User | None = None  # the known user who sent it
    requester: str | None = None  # address the ticket/note counts for
    requester_role: str = "requester"
    existing: Ticket | None = None
    ticket: dict[str, Any] = field(default_factory=dict)
    note: Note | None = None
    users_to_create: list[NewUser] = field(default_factory=list)
    organisations_to_create: list[str] = field(default_factory=list)
    distribution_adds: list[str] = field(default_factory=list)
    attachments: list[AttachmentVerdict] = field(default_factory=list)
    extra_attachments: list[str] = field(default_factory=list)
    tokens: list[TokenResult] = field(default_factory=list)
    flagged_recipients: list[str] = field(default_factory=list)
    outgoing: list[OutgoingMail] = field(default_factory=list)
    notify: list[str] = field(default_factory=list)  # outgoing roles the stages asked for
    authenticity: Any = None  # engine.evaluate.authenticity.Authenticity, worked out when first needed
    routes_hit: list = field(default_factory=list)  # routes that matched, their field actions still to apply
    hidden_by_route: bool = False  # a route hides this mail's note from the portal
    auto_reply_template: str | None = None  # a route's auto-reply template; "" for none

    @cached_property  # read ~25 times per message: after the first, a plain attribute
    def policy(self) -> MailboxPolicy:
        """The mailbox's knobs, resolved once at load time (F-CFG-5)."""
        return self.mailbox.policy

    def step(self, stage: str, rule: str, hit: bool, detail: str = "", origin: str | None = None) -> None:
        """Record one trace line."""
        self.trace.append(Step(stage, rule, hit, detail, origin))

    def finish(self, outcome: Outcome, reason: str, detail: str = "") -> bool:
        """Settle the outcome; returns True so a stage can `return d.finish(...)`."""
        self.outcome, self.reason, self.detail = outcome, reason, detail
        return True

    def freeze(self) -> Decision:
        """The Decision value."""
        ticket = TicketChange(**self.ticket) if self.ticket else None
        return Decision(
            outcome=self.outcome, reason=self.reason, mailbox=self.mailbox.name,
            duplicate_key=self.duplicate_key, sender=self.sender, keep_raw=self.keep_raw,
            arrived=self.arrived.isoformat() if self.arrived else None, ticket=ticket, note=self.note,
            users_to_create=tuple(self.users_to_create), organisations_to_create=tuple(self.organisations_to_create),
            distribution_adds=tuple(self.distribution_adds), attachments=tuple(self.attachments),
            extra_attachments=tuple(self.extra_attachments), tokens=tuple(self.tokens),
            flagged_recipients=tuple(self.flagged_recipients), outgoing=tuple(self.outgoing),
            trace=tuple(self.trace), detail=self.detail,
            subject_key=bundle_subject(self.message.subject, self.ruleset.reply_prefixes)
            if self.outcome is Outcome.CREATE_TICKET else None)


def duplicate_key(message: Message) -> str:
    """The key that makes a second delivery a no-op (F-PRE-6): not the Message-ID alone.

    The subject is part of it: a sender reusing a Message-ID for a new mail with the same
    body (a monitoring alert: "disk 91 % full", then "disk 92 % full") is not a copy.
    """
    sender = message.from_.address.lower() if message.from_ else ""
    if message.message_id:
        basis = f"mid\0{message.message_id}\0{message.date}\0{sender}\0{message.subject}\0{message.body_digest}"
    else:  # no Message-ID: a content hash
        basis = f"content\0{message.date}\0{sender}\0{message.subject}\0{message.body_digest}"
    return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()


def arrival(message: Message, now: datetime, arrived: datetime | None) -> tuple[datetime, str]:
    """When the mail reached the mailbox, and how that is known (F-PRE-5).

    The source's own time (IMAP INTERNALDATE, a maildir file's time) when it gives one;
    else the topmost Received: header (our side wrote it); else Date:, which the sender
    wrote. Never later than `now`: a clock ahead must not push a mail out of every window.
    """
    if arrived is not None:
        return min(arrived, now), "source"
    for value, source in ((message.received, "Received header"), (message.date, "Date header")):
        when = _iso(value)
        if when is not None:
            return min(when, now), source
    return now, "no arrival time: now"


def _iso(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None

"""The Decision value evaluate() returns: one outcome, its reason, the changes, and the trace."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum


class Outcome(str, Enum):
    """What a message becomes (SPEC section 4)."""

    CREATE_TICKET = "create_ticket"
    ADD_NOTE = "add_note"
    BUNDLE = "bundle"
    REJECT = "reject"
    IGNORE = "ignore"
    QUARANTINE = "quarantine"


@dataclass(frozen=True)
class Step:
    """One trace line: a stage or rule, whether it hit, why, and the YAML file:line it came from."""

    stage: str
    rule: str
    hit: bool
    detail: str = ""
    origin: str | None = None

    def __init__(self, stage: str, rule: str, hit: bool, detail: str = "", origin: str | None = None):
        # Straight into __dict__: the generated frozen __init__ calls object.__setattr__ once per
        # field, and every message makes ~20 steps (a tenth of evaluate's time in bench_engine).
        self.__dict__.update(stage=stage, rule=rule, hit=hit, detail=detail, origin=origin)


@dataclass(frozen=True)
class NewUser:
    """A user to create from mail (F-USR-2, F-NEW-3)."""

    email: str
    login: str
    name: str
    role: str = "requester"
    organisation: str | None = None
    location: str | None = None
    send_credentials: bool = False


@dataclass(frozen=True)
class TicketChange:
    """Fields of a new ticket, or changes to an existing one."""

    number: int
    new: bool
    subject: str = ""
    requester: str | None = None  # email address of the requester
    organisation: str | None = None
    type: str | None = None
    subtype: str | None = None
    quick_pick: str | None = None
    ticket_class: str | None = None
    category: str | None = None
    priority: str | None = None
    assignee_user: str | None = None
    assignee_group: str | None = None
    logging_technician: str | None = None
    source_mailbox: str | None = None
    status: str | None = None  # "open" to reopen, "closed" to close, None unchanged
    custom_fields: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()  # added to the ticket (routes)


@dataclass(frozen=True)
class Note:
    """The description of a new ticket or the note added to one."""

    text: str
    html: str | None = None
    author: str | None = None  # email address of whoever wrote it
    acting_as: str | None = None  # login the note counts for (technician or logging technician)
    hidden_from_portal: bool = False
    message_id: str | None = None


@dataclass(frozen=True)
class AttachmentVerdict:
    """One attachment of the mail: kept on the ticket or left out, and why (F-ATT-1, F-ATT-2)."""

    filename: str
    content_type: str
    size: int
    sha256: str
    kept: bool
    reason: str = ""
    origin: str | None = None


@dataclass(frozen=True)
class TokenResult:
    """One token line from the body: applied, or refused with the reason (F-TOK-2)."""

    line: str
    name: str
    applied: bool
    effect: str = ""
    value: str = ""
    reason: str = ""
    origin: str | None = None


@dataclass(frozen=True)
class OutgoingMail:
    """A fully rendered mail for the outbox (F-OUT-1..4)."""

    role: str  # auto_reply | error_notice | closed_not_updated | closed_updated | rejected | login_credentials
    to: str
    sender: str  # the From header
    subject: str
    body: str
    message_id: str
    headers: tuple[tuple[str, str], ...] = ()
    # How it enters the outbox: pending (sent after the commit), held (automatic mail switched
    # off, F-OUT-9: kept until released) or blocked (a never-send-to recipient, F-OUT-8: never sent).
    status: str = "pending"
    status_reason: str = ""


@dataclass(frozen=True)
class Decision:
    """Everything evaluate() decided about one message; apply() carries it out."""

    outcome: Outcome
    reason: str
    mailbox: str
    duplicate_key: str
    sender: str | None = None
    arrived: str | None = None  # ISO 8601: when the mail reached the mailbox, as loop prevention judged it
    keep_raw: bool = False  # keep the raw bytes beside the log, for `mailgate replay` (a refused human mail)
    ticket: TicketChange | None = None
    note: Note | None = None
    users_to_create: tuple[NewUser, ...] = ()
    organisations_to_create: tuple[str, ...] = ()
    distribution_adds: tuple[str, ...] = ()
    attachments: tuple[AttachmentVerdict, ...] = ()
    extra_attachments: tuple[str, ...] = ()  # "raw_message" / "html_rendering" (F-BODY-3)
    tokens: tuple[TokenResult, ...] = ()
    flagged_recipients: tuple[str, ...] = ()  # failed recipients of a bounce (F-REF-9)
    outgoing: tuple[OutgoingMail, ...] = ()
    trace: tuple[Step, ...] = field(default=())
    detail: str = ""  # the reason in words (why a mail was quarantined, what was refused)
    subject_key: str | None = None  # a new ticket's subject as auto-bundling compares it (F-REF-7)

    def as_json(self) -> dict:
        """The decision as plain JSON data (the dry-run `decision` object)."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        return data

    def summary(self) -> dict:
        """The fields an operator compares (`mailgate explain`); kept with the processing-log entry.

        A new ticket shows as "new": its number depends on when it was made.
        """
        change, note = self.ticket, self.note
        fields = {"outcome": self.outcome.value, "reason": self.reason,
                  "ticket": None if change is None else ("new" if change.new else change.number)}
        if change is not None:
            for name in ("type", "subtype", "quick_pick", "ticket_class", "category", "priority", "assignee_user",
                         "assignee_group", "logging_technician", "requester", "organisation", "status"):
                fields[name] = getattr(change, name)
            fields["custom_fields"] = dict(change.custom_fields)
        if note is not None:
            fields.update(note_author=note.author, note_hidden=note.hidden_from_portal)
        fields["users_created"] = [u.email for u in self.users_to_create]
        fields["distribution_adds"] = list(self.distribution_adds)
        fields["attachments_left_out"] = [f"{a.filename}: {a.reason}" for a in self.attachments if not a.kept]
        fields["tokens"] = [f"{t.name}: {'applied' if t.applied else 'refused: ' + t.reason}" for t in self.tokens]
        fields["outgoing"] = [f"{m.role} to {m.to}" for m in self.outgoing]
        fields["rules_hit"] = [f"{s.stage}/{s.rule}" for s in self.trace if s.hit]
        return fields

    def to_json_text(self) -> str:
        """Canonical JSON: the same decision always gives the same bytes."""
        return json.dumps(self.as_json(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))

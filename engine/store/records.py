"""Frozen records the store's read methods return (never live database rows)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

R = TypeVar("R")


def from_row(cls: type[R], row: Any, **extra: Any) -> R:
    """Build record `cls` from a result row whose column names match its fields."""
    mapping = row._mapping
    names = [f.name for f in dataclasses.fields(cls)]
    values = {name: mapping[name] for name in names if name in mapping}
    values.update(extra)
    return cls(**values)


@dataclass(frozen=True)
class User:
    id: int
    login: str
    name: str
    email: str | None
    role: str
    organisation_id: int | None
    location: str | None
    created_at: datetime

    @property
    def is_technician(self) -> bool:
        return self.role == "technician"


@dataclass(frozen=True)
class Organisation:
    id: int
    name: str
    shares_tickets: bool
    domains: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True)
class Group:
    id: int
    name: str
    member_ids: tuple[int, ...]
    created_at: datetime


@dataclass(frozen=True)
class Ticket:
    number: int
    subject: str
    status: str
    type: str | None
    subtype: str | None
    ticket_class: str | None
    category: str | None
    priority: str | None
    assignee_user_id: int | None
    assignee_group_id: int | None
    requester_id: int | None
    organisation_id: int | None
    template: str | None
    source_mailbox: str | None
    source: str | None
    logging_technician_id: int | None
    hidden: bool
    hidden_from_portal: bool
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True)
class Note:
    id: int
    ticket_number: int
    author_id: int | None
    author_address: str | None
    text: str
    html: str | None
    hidden_from_portal: bool
    message_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class Attachment:
    id: int
    ticket_number: int
    note_id: int | None
    sha256: str
    filename: str
    content_type: str
    size: int
    inline: bool
    content_id: str | None
    created_at: datetime


@dataclass(frozen=True)
class DistributionEntry:
    address: str
    user_id: int | None


@dataclass(frozen=True)
class LogEntry:
    id: int
    mailbox: str
    message_key: str
    outcome: str
    reason: str
    trace: Any  # decoded JSON
    ticket_number: int | None
    note_id: int | None
    sender: str | None
    subject_key: str | None
    message_id: str | None
    created_at: datetime
    updated_at: datetime
    arrived_at: datetime | None = None
    subject: str | None = None
    recipients: str | None = None
    duplicate_key: str | None = None
    raw_sha256: str | None = None
    summary: Any = None  # decoded JSON: the decision's fields (apply.decision_summary)
    after_action: str | None = None


@dataclass(frozen=True)
class DuplicateKey:
    message_key: str
    mailbox: str
    ticket_number: int | None
    created_at: datetime
    source_key: str | None = None
    outcome: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class QuarantineItem:
    id: int
    mailbox: str
    message_key: str
    size: int
    error: str
    created_at: datetime
    replayed_at: datetime | None
    raw: bytes | None = None  # only from quarantine_item(), not in listings


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    kind: str
    mailbox: str | None
    to_addr: str
    headers: tuple[tuple[str, str], ...]
    body: str
    html: str | None
    message_id: str
    ticket_number: int | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    cause: str | None = None
    about: str | None = None
    message_key: str | None = None  # the incoming mail (in `mailbox`) that caused it

    @property
    def subject(self) -> str:
        return next((value for name, value in self.headers if name.lower() == "subject"), "")


@dataclass(frozen=True)
class RawMail:
    sha256: str
    size: int  # of the whole mail; len(content) is smaller when only its header was fetched
    content: bytes
    created_at: datetime


@dataclass(frozen=True)
class MailboxStatus:
    mailbox: str
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    failures: int
    next_poll_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class MonitorState:
    mailbox: str
    auth_failures: int
    monitor_ticket: int | None
    last_error: str | None
    updated_at: datetime


@dataclass(frozen=True)
class Lease:
    mailbox: str
    holder: str
    expires_at: datetime

"""The ground truth of one delivered mail, and what the store tells the second phase."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from tests.realistic.machine import Sent

MACHINE = ("ooo", "newsletter", "bounce_ours", "bounce_foreign")
# Replies that must land on the ticket their thread's first mail created (when they carry our tag
# or reference a stored message); a stranger's reply must be refused (F-REF-3).
REPLIES = ("reply_own", "reply_full", "reply_tag_only", "reply_refs_only", "reply_colleague", "reply_foreign",
           "reply_tech")


@dataclass
class Truth:
    """What one delivered mail is and where it must end. The thread id is never written into the mail."""

    kind: str
    phase: int
    thread: str  # thread of origin: the first mail of a thread has thread == its own item id
    item: str  # the planned mail this delivery is (copies share it)
    sender: str
    message_id: str  # bare
    arrival: str  # ISO 8601, = IMAP INTERNALDATE
    expect: str  # ticket | note | reject | ignore | duplicate | any
    human: bool
    copy_of: int | None = None  # index of the first copy
    variant: str = ""
    tag: int | None = None  # our ticket number carried in the subject
    references: list[str] = field(default_factory=list)  # bare Message-IDs in In-Reply-To/References
    index: int = -1  # delivery order over all phases
    uid: int | None = None  # IMAP UID once loaded

    @property
    def machine(self) -> bool:
        return self.kind in MACHINE

    @property
    def origin(self) -> bool:
        return self.thread == self.item and self.copy_of is None and self.expect == "ticket"

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Delivery:
    """One mail as it is put into the mailbox: bytes, arrival time (INTERNALDATE), ground truth."""

    raw: bytes
    arrival: datetime
    truth: Truth


@dataclass
class Facts:
    """What the store knows after a poll, as a customer would learn it (ticket numbers, our replies)."""

    ticket_of: dict[str, int] = field(default_factory=dict)  # bare Message-ID of a ticket's first mail -> number
    auto_reply: dict[int, Sent] = field(default_factory=dict)  # ticket -> our auto-reply to its requester
    auto_reply_text: dict[int, str] = field(default_factory=dict)

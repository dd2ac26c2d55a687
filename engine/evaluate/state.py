"""What the pure engine may know about the world: a read-only StateView and its records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class User:
    """A person the helpdesk knows; role is requester or technician."""

    login: str
    email: str
    name: str = ""
    role: str = "requester"
    organisation: str | None = None

    @property
    def is_technician(self) -> bool:
        return self.role == "technician"


@dataclass(frozen=True)
class Organisation:
    """A customer organisation; members see each other's tickets when shares_tickets."""

    name: str
    domains: tuple[str, ...] = ()
    shares_tickets: bool = False


@dataclass(frozen=True)
class Group:
    """A group of technicians that tickets can be assigned to."""

    name: str
    members: tuple[str, ...] = ()  # logins


@dataclass(frozen=True)
class Ticket:
    """An existing ticket, as far as replies need to know it."""

    number: int
    subject: str
    status: str = "open"  # open | closed
    requester: str | None = None  # email address
    organisation: str | None = None
    distribution: tuple[str, ...] = ()  # email addresses on its distribution list
    assignee_user: str | None = None
    assignee_group: str | None = None
    quick_pick: str | None = None
    logging_technician: str | None = None

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"


@dataclass(frozen=True)
class FirstCopy:
    """What the first copy of a mail became (F-PRE-6): a later copy is its duplicate."""

    mailbox: str
    outcome: str = ""  # '' when the store did not record it (keys claimed before schema v2)
    reason: str = ""


class StateView(Protocol):
    """Read-only questions evaluate() may ask; answered by the store or a fixture."""

    def user_by_email(self, address: str) -> User | None:
        """The user with this address (case-insensitive), the lowest id when several (F-USR-1)."""

    def user_by_login(self, login: str) -> User | None:
        """The user with this login."""

    def organisation(self, name: str) -> Organisation | None:
        """The organisation called `name`."""

    def organisation_by_domain(self, domain: str) -> Organisation | None:
        """The first organisation whose email domains include `domain`."""

    def group(self, name: str) -> Group | None:
        """The group called `name`."""

    def ticket(self, number: int) -> Ticket | None:
        """The ticket with this number."""

    def ticket_by_message_id(self, message_id: str) -> int | None:
        """The ticket a Message-ID belongs to (mail mailgate sent or stored)."""

    def ticket_by_sent_message_id(self, message_id: str) -> int | None:
        """The ticket of mail mailgate SENT with this Message-ID (a bounce is about our mail only, F-REF-9)."""

    def next_ticket_number(self) -> int:
        """The number the next new ticket will get."""

    def sender_message_count(self, mailbox: str, address: str, since: datetime, until: datetime) -> int:
        """Messages from `address` processed by `mailbox` that arrived between `since` and `until` (F-PRE-5)."""

    def recent_ticket_by_sender_subject(self, mailbox: str, address: str, subject: str, since: datetime,
                                        until: datetime) -> int | None:
        """A ticket opened by mail with this sender and normalised subject that arrived between
        `since` and `until` (F-REF-7)."""

    def auto_replies_sent(self, address: str, since: datetime) -> int:
        """Auto-replies sent to `address` since `since` (F-OUT-1)."""

    def message_seen(self, duplicate_key: str) -> FirstCopy | None:
        """What became of the first copy with this duplicate key, by any mailbox; None when new (F-PRE-6)."""

    def last_notice(self, role: str, cause: str, about: str) -> datetime | None:
        """When the last `role` notice for `cause` about sender `about` was queued (flood control)."""

    def logged_since(self, reason: str, address: str, since: datetime) -> int:
        """Mails from `address` logged with `reason` after `since` (held-back notices count them)."""

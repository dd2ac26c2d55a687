"""The ticket store's tables, as SQLAlchemy Core metadata shared by SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

SUBJECT_CHARS = 500  # of a subject kept in the processing log

# Free-form values are Text: a length limit would be enforced by PostgreSQL
# and ignored by SQLite, and the two must behave alike. Indexed values that
# come from mail are kept short by base.bounded().

# Stable constraint names, so a later migration can drop or alter them by name
# on both databases.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ROLES = ("requester", "technician")
# held: kept until an operator releases it (`mailgate outbox release`): automatic mail
# switched off (F-OUT-9) or an operator's `outbox hold`; blocked: a never-send-to
# recipient (F-OUT-8), kept to show what would have gone, never sent; expired: older
# than its kind's maximum age when it was due, so never sent (settings.smtp.max_age_hours).
OUTBOX_STATUSES = ("pending", "held", "sent", "failed", "blocked", "expired")


class SafeText(TypeDecorator):
    """Text that stores alike on both databases, whatever the mail held.

    PostgreSQL refuses NUL characters and both drivers refuse lone
    surrogates (left by lenient decoding): each becomes U+FFFD instead.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return _safe_text(value)

    def fast_bind_processor(self, dialect) -> Callable[[Any], Any]:
        """What bind_processor() gives, without TypeDecorator's wrapper (engine/store/prepared.py)."""
        return _safe_text


def _safe_text(value: str | None) -> str | None:
    if value is None:
        return None
    if value.isascii():  # O(1) in CPython: no surrogates then, and most values are ASCII
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return value


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and read back timezone-aware.

    SQLite has no time zones and PostgreSQL's would differ per session; naive
    UTC in the column keeps comparisons and ordering identical on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return _naive_utc(value)

    def fast_bind_processor(self, dialect) -> Callable[[Any], Any]:
        """What bind_processor() gives, without TypeDecorator's wrapper (engine/store/prepared.py): on
        SQLite, the text SQLAlchemy's DATETIME writes (its default storage format), in one step."""
        return _sqlite_text if dialect.name == "sqlite" else _naive_utc

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=timezone.utc)


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value  # naive values are taken to be UTC already
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def _sqlite_text(value: datetime | None) -> str | None:
    # "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
    if value is None:
        return None
    if value.tzinfo is timezone.utc:  # the store's clock: no conversion, just no "+00:00"
        return value.isoformat(" ", "microseconds")[:26]
    return _naive_utc(value).isoformat(" ", "microseconds")


def _created() -> Column:
    return Column("created_at", UTCDateTime, nullable=False)


def _ticket_ref(nullable: bool = True, name: str = "ticket_number") -> Column:
    return Column(name, Integer, ForeignKey("tickets.number"), nullable=nullable)


organisations = Table(
    "organisations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", SafeText, nullable=False, unique=True),
    Column("shares_tickets", Boolean, nullable=False, default=False),
    _created(),
)

organisation_domains = Table(
    "organisation_domains",
    metadata,
    Column("organisation_id", Integer, ForeignKey("organisations.id"), primary_key=True),
    Column("domain", SafeText, primary_key=True),  # lower case
    Index(None, "domain"),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", SafeText, nullable=False, unique=True),
    Column("name", SafeText, nullable=False, default=""),
    Column("email", SafeText),
    # Case-folded in Python, so matching (F-USR-1) is the same on both databases
    # (SQLite's lower() only knows ASCII).
    Column("email_key", SafeText),
    Column("role", String(20), nullable=False, default="requester"),
    Column("organisation_id", Integer, ForeignKey("organisations.id")),
    Column("location", SafeText),
    _created(),
    CheckConstraint("role IN ('requester', 'technician')", name="role"),
    Index(None, "email_key"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", SafeText, nullable=False, unique=True),
    _created(),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), primary_key=True),
)

# PostgreSQL only: the sequence ticket numbers are taken from (see TicketReads.next_ticket_number).
TICKET_NUMBERS = "ticket_numbers"

tickets = Table(
    "tickets",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),  # see TicketWrites.create_ticket
    Column("subject", SafeText, nullable=False, default=""),
    Column("status", String(30), nullable=False, default="open"),
    Column("type", SafeText),
    Column("subtype", SafeText),
    Column("ticket_class", SafeText),
    Column("category", SafeText),
    Column("priority", SafeText),
    Column("assignee_user_id", Integer, ForeignKey("users.id")),
    Column("assignee_group_id", Integer, ForeignKey("groups.id")),
    Column("requester_id", Integer, ForeignKey("users.id")),
    Column("organisation_id", Integer, ForeignKey("organisations.id")),
    Column("template", SafeText),
    Column("source_mailbox", SafeText),
    Column("source", SafeText),  # e.g. "Email", "System - Email Monitor"
    Column("logging_technician_id", Integer, ForeignKey("users.id")),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("hidden_from_portal", Boolean, nullable=False, default=False),
    _created(),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Index(None, "status"),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    _ticket_ref(nullable=False),
    Column("author_id", Integer, ForeignKey("users.id")),
    Column("author_address", SafeText),
    Column("text", SafeText, nullable=False, default=""),
    Column("html", SafeText),  # sanitised by the parser (F-BODY-2); never raw mail HTML
    Column("hidden_from_portal", Boolean, nullable=False, default=False),
    Column("message_id", SafeText),  # without angle brackets
    _created(),
    Index(None, "ticket_number"),
    Index(None, "message_id"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    _created(),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    _ticket_ref(nullable=False),
    Column("note_id", Integer, ForeignKey("notes.id")),
    Column("sha256", String(64), ForeignKey("blobs.sha256"), nullable=False),
    Column("filename", SafeText, nullable=False, default=""),
    Column("content_type", SafeText, nullable=False, default="application/octet-stream"),
    Column("size", Integer, nullable=False),
    Column("inline", Boolean, nullable=False, default=False),
    Column("content_id", SafeText),
    _created(),
    Index(None, "ticket_number"),
)

distribution = Table(
    "distribution",
    metadata,
    Column("id", Integer, primary_key=True),
    _ticket_ref(nullable=False),
    Column("user_id", Integer, ForeignKey("users.id")),
    Column("address", SafeText, nullable=False),  # as first given
    Column("address_key", SafeText, nullable=False),  # case-folded, for matching
    _created(),
    UniqueConstraint("ticket_number", "address_key"),
)

ticket_tags = Table(
    "ticket_tags",  # tags routes add to a ticket (F-ROUTE-1)
    metadata,
    Column("id", Integer, primary_key=True),
    _ticket_ref(nullable=False),
    Column("tag", SafeText, nullable=False),
    UniqueConstraint("ticket_number", "tag"),
)

ticket_fields = Table(
    "ticket_fields",  # custom fields set by email tokens (F-TOK-1), e.g. "Cost center"
    metadata,
    Column("id", Integer, primary_key=True),
    _ticket_ref(nullable=False),
    Column("name", SafeText, nullable=False),
    Column("value", SafeText, nullable=False),
    UniqueConstraint("ticket_number", "name"),
)

outgoing_messages = Table(
    "outgoing_messages",
    metadata,
    Column("message_id", SafeText, primary_key=True),  # without angle brackets
    _ticket_ref(nullable=False),
    _created(),
)

processing_log = Table(
    "processing_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox", SafeText, nullable=False),
    Column("message_key", SafeText, nullable=False),
    Column("outcome", String(30), nullable=False),
    Column("reason", SafeText, nullable=False, default=""),
    Column("trace", SafeText, nullable=False, default="[]"),  # JSON
    _ticket_ref(),
    Column("note_id", Integer, ForeignKey("notes.id")),
    Column("sender", SafeText),  # case-folded, for loop prevention (F-PRE-5)
    Column("subject_key", SafeText),  # normalised subject, for auto-bundle (F-REF-7)
    Column("message_id", SafeText),
    # When the mail reached the mailbox (source time, Received: or Date:): loop prevention counts
    # by it, so a backlog read in one poll is judged by when it arrived (F-PRE-5). NULL before v2.
    Column("arrived_at", UTCDateTime),
    # What an operator searches and reads (`mailgate log`, migration 5):
    Column("subject", SafeText),  # as decoded, cut to SUBJECT_CHARS
    Column("recipients", SafeText),  # To and Cc addresses, case-folded, ", "-joined
    Column("duplicate_key", SafeText),  # F-PRE-6 key, to name the entry a duplicate repeats
    Column("raw_sha256", String(64)),  # the raw mail in raw_mail, while it is kept
    Column("summary", SafeText),  # JSON: the decision's fields, for `mailgate explain`
    Column("after_action", SafeText),  # what the source did after the commit (F-MB-9)
    _created(),
    Column("updated_at", UTCDateTime, nullable=False),
    # The database, not Python, makes a second delivery a no-op (F-PRE-6, SPEC 6).
    UniqueConstraint("mailbox", "message_key"),
    Index(None, "mailbox", "sender", "created_at"),
    Index(None, "mailbox", "sender", "arrived_at"),
    Index(None, "outcome"),
    Index(None, "message_id"),
    Index(None, "duplicate_key"),
)

message_keys = Table(
    "message_keys",
    metadata,
    # One row per distinct mail across all mailboxes (F-PRE-6), whatever became of it: a second
    # copy of a rejected or ignored mail is a duplicate too, never a second notice.
    Column("message_key", SafeText, primary_key=True),
    Column("mailbox", SafeText, nullable=False),
    _ticket_ref(),
    Column("source_key", SafeText),  # the first copy's key in its mailbox (replay releases its own claim)
    Column("outcome", String(30)),  # what the first copy became, for the duplicate's trace
    Column("reason", SafeText),
    _created(),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox", SafeText, nullable=False),
    Column("message_key", SafeText, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("error", SafeText, nullable=False, default=""),
    _created(),
    Column("replayed_at", UTCDateTime),
    UniqueConstraint("mailbox", "message_key"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(30), nullable=False, default="notice"),  # auto_reply, notice, error, update
    Column("mailbox", SafeText),
    Column("to_addr", SafeText, nullable=False),  # as given: a local part may be case-sensitive
    Column("to_key", SafeText, nullable=False),  # case-folded, for F-OUT-1 counting
    Column("headers", SafeText, nullable=False, default="[]"),  # JSON list of [name, value]
    Column("body", SafeText, nullable=False, default=""),
    Column("html", SafeText),
    Column("message_id", SafeText, nullable=False, unique=True),
    _ticket_ref(),
    # A notice's cause (the reason code) and the sender it is about: at most one per window (flood control).
    Column("cause", SafeText),
    Column("about", SafeText),  # case-folded address
    Column("status", String(10), nullable=False, default="pending"),
    Column("message_key", SafeText),  # the incoming mail that caused it, in `mailbox` (version 2)
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", SafeText),
    _created(),
    Column("sent_at", UTCDateTime),
    CheckConstraint(f"status IN ({', '.join(repr(s) for s in OUTBOX_STATUSES)})", name="status"),
    Index(None, "status", "next_attempt_at"),
    Index(None, "kind", "to_key", "created_at"),
    Index(None, "cause", "about", "created_at"),
)

monitor_state = Table(
    "monitor_state",
    metadata,
    Column("mailbox", SafeText, primary_key=True),
    Column("auth_failures", Integer, nullable=False, default=0),
    Column("monitor_ticket", Integer, ForeignKey("tickets.number")),
    Column("last_error", SafeText),
    Column("updated_at", UTCDateTime, nullable=False),
)

raw_mail = Table(
    "raw_mail",  # processed mail byte for byte, for `mailgate explain`; pruned after settings.store.keep_raw_mail_days
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("size", Integer, nullable=False),  # of the whole mail: larger than content when only its header was fetched
    Column("content", LargeBinary, nullable=False),
    # How content is stored: "zstd" compressed (engine/packed.py), NULL the bytes as they came
    # (rows kept before migration 7, and mail too small to shrink).
    Column("codec", String(10)),
    _created(),
    Index(None, "created_at"),
)

mailbox_status = Table(
    "mailbox_status",  # the last poll of each mailbox, for `mailgate status` and metrics
    metadata,
    Column("mailbox", SafeText, primary_key=True),
    Column("last_poll_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", SafeText),
    Column("last_error_at", UTCDateTime),
    Column("failures", Integer, nullable=False, default=0),  # polls in a row that failed
    Column("next_poll_at", UTCDateTime),  # later than the interval while backing off (F-FAIL-3)
    Column("updated_at", UTCDateTime, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("mailbox", SafeText, primary_key=True),
    Column("holder", SafeText, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

"""The tables as earlier schema versions defined them: where each migration step starts from."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint, Column, ForeignKey, Index, Integer, MetaData, String, Table, UniqueConstraint,
)

from engine.store import schema
from engine.store.schema import SafeText, UTCDateTime

# Version 1 as first released. A fresh database is created at version 1 and
# then goes through every step, so each step runs on every test database.
V1_TABLES = (
    "organisations", "organisation_domains", "users", "groups", "group_members", "tickets", "notes", "blobs",
    "attachments", "distribution", "ticket_fields", "outgoing_messages", "processing_log", "message_keys",
    "quarantine", "outbox", "monitor_state", "leases",
)


def _created() -> Column:
    return Column("created_at", UTCDateTime, nullable=False)


def _ticket_ref() -> Column:
    return Column("ticket_number", Integer, ForeignKey("tickets.number"))


def _processing_log_v1(meta: MetaData) -> Table:
    return Table(
        "processing_log", meta,
        Column("id", Integer, primary_key=True),
        Column("mailbox", SafeText, nullable=False),
        Column("message_key", SafeText, nullable=False),
        Column("outcome", String(30), nullable=False),
        Column("reason", SafeText, nullable=False, default=""),
        Column("trace", SafeText, nullable=False, default="[]"),
        _ticket_ref(),
        Column("note_id", Integer, ForeignKey("notes.id")),
        Column("sender", SafeText),
        Column("subject_key", SafeText),
        Column("message_id", SafeText),
        _created(),
        Column("updated_at", UTCDateTime, nullable=False),
        UniqueConstraint("mailbox", "message_key"),
        Index(None, "mailbox", "sender", "created_at"),
        Index(None, "outcome"),
    )


def _outbox_v1(meta: MetaData) -> Table:
    return Table(
        "outbox", meta,
        Column("id", Integer, primary_key=True),
        Column("kind", String(30), nullable=False, default="notice"),
        Column("mailbox", SafeText),
        Column("to_addr", SafeText, nullable=False),
        Column("to_key", SafeText, nullable=False),
        Column("headers", SafeText, nullable=False, default="[]"),
        Column("body", SafeText, nullable=False, default=""),
        Column("html", SafeText),
        Column("message_id", SafeText, nullable=False, unique=True),
        _ticket_ref(),
        Column("status", String(10), nullable=False, default="pending"),
        Column("attempts", Integer, nullable=False, default=0),
        Column("next_attempt_at", UTCDateTime, nullable=False),
        Column("last_error", SafeText),
        _created(),
        Column("sent_at", UTCDateTime),
        CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        Index(None, "status", "next_attempt_at"),
        Index(None, "kind", "to_key", "created_at"),
    )


# Tables a later step changed, as version 1 had them. A step that changes a
# table adds its earlier form here (or to a V2 list), so history stays exact.
_FROZEN_V1 = {"processing_log": _processing_log_v1, "outbox": _outbox_v1}


def v1_metadata() -> MetaData:
    """Version 1's tables: the frozen ones above, the rest as schema.py has them."""
    meta = MetaData(naming_convention=schema.metadata.naming_convention)
    for name in V1_TABLES:
        if name in _FROZEN_V1:
            _FROZEN_V1[name](meta)
        else:
            schema.metadata.tables[name].to_metadata(meta)
    return meta

"""The store's side of loops by arrival, every outcome's duplicate key, replay and notice identity,
on SQLite and PostgreSQL; and the migration that brings a version-1 store there.

SPEC IDs proved here: F-PRE-5, F-PRE-6, F-FAIL-2, F-OUT-5, F-REF-1, F-REF-9.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Index, MetaData, Table, UniqueConstraint, insert, inspect

from engine.store import Store
from engine.store.migrate import schema_version
from engine.store.schema import metadata
from engine.store.store import make_engine

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
ADDED_IN_V2 = {"processing_log": {"arrived_at"}, "message_keys": {"source_key", "outcome", "reason"},
               "outbox": {"cause", "about"}}



@pytest.fixture
def store(store_url: str):
    opened = Store.open(store_url, clock=lambda: T0)
    yield opened
    opened.close()


def _version_1_metadata() -> MetaData:
    """schema.py as version 1 had it: today's tables without the columns version 2 added."""
    old = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        gone = ADDED_IN_V2.get(table.name, set())
        columns = [c._copy() for c in table.c if c.name not in gone]
        extras = [UniqueConstraint(*[c.name for c in u.columns]) for u in table.constraints
                  if isinstance(u, UniqueConstraint) and len(u.columns) > 1]
        Table(table.name, old, *columns, *extras)
        for index in table.indexes:
            if not {c.name for c in index.columns} & gone:
                Index(None, *[old.tables[table.name].c[c.name] for c in index.columns])
    return old


def test_a_version_1_store_is_migrated_and_keeps_its_log(store_url: str) -> None:
    engine = make_engine(store_url)
    with engine.begin() as conn:
        _version_1_metadata().create_all(conn)
        schema_version.create(conn)
        conn.execute(insert(schema_version).values(version=1, description="initial tables", applied_at=T0))
        conn.execute(insert(metadata.tables["processing_log"]).values(
            mailbox="help", message_key="old.1", outcome="create_ticket", reason="new_ticket", trace="[]",
            sender="loop@example.com", created_at=T0 - timedelta(minutes=1), updated_at=T0))
    engine.dispose()
    with Store.open(store_url, clock=lambda: T0) as store:
        for table, added in ADDED_IN_V2.items():
            assert added <= {c["name"] for c in inspect(store._engine).get_columns(table)}
        # A row logged before arrival times were kept counts by when it was processed.
        assert store.sender_message_count("help", "loop@example.com", T0 - timedelta(minutes=5)) == 1
        assert store.processed("help", "old.1").arrived_at is None


def test_loop_counts_are_by_arrival_not_by_processing_F_PRE_5(store: Store) -> None:
    """Six mails from one sender that arrived over three days, all logged in the same second."""
    with store.transaction() as tx:
        for i in range(6):
            tx.log_processing("help", f"k{i}", "create_ticket", "new_ticket", sender="ann@example.com",
                              arrived_at=T0 - timedelta(hours=12 * i))
    since = T0 - timedelta(minutes=5)
    assert store.sender_message_count("help", "ann@example.com", since, T0) == 1
    assert store.sender_message_count("help", "ann@example.com", T0 - timedelta(days=3), T0) == 6
    # Later arrivals do not count as "earlier" mail of one that arrived before them.
    assert store.sender_message_count("help", "ann@example.com", T0 - timedelta(days=3), T0 - timedelta(days=2)) == 2


def test_every_outcome_claims_its_key_and_replay_releases_only_its_own_F_PRE_6_F_FAIL_2(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.claim_message_key("dup-1", "help", source_key="1.first", outcome="reject", reason="too_large")
        tx.log_processing("help", "1.first", "reject", "too_large", sender="ann@example.com", arrived_at=T0)
        assert not tx.claim_message_key("dup-1", "other", source_key="9.copy", outcome="ignore", reason="duplicate")
    first = store.duplicate_key_seen("dup-1")
    assert (first.mailbox, first.source_key, first.outcome, first.reason) == ("help", "1.first", "reject", "too_large")
    with store.transaction() as tx:
        assert tx.release_for_replay("other", "1.first") is None  # not that mailbox's mail: nothing released
        assert tx.release_for_replay("help", "1.first") == T0  # its arrival, to judge the replay by
        assert tx.processed("help", "1.first") is None and tx.duplicate_key_seen("dup-1") is None


def test_a_queued_message_id_is_never_queued_twice_and_never_fails_the_transaction_F_OUT_5(store: Store) -> None:
    with store.transaction() as tx:
        number = tx.create_ticket("Printer")
        first = tx.enqueue_outbox("a@example.com", [("Subject", "x")], "body", "<n.1@example.com>",
                                  ticket_number=number, kind="error_notice", cause="too_large", about="Ann@Example.com")
        again = tx.enqueue_outbox("a@example.com", [("Subject", "x")], "body", "<n.1@example.com>", kind="error_notice")
    assert first is not None and again is None
    assert [m.id for m in store.outbox_messages()] == [first]
    assert store.last_notice("error_notice", "too_large", "ann@example.com") == T0
    assert store.last_notice("error_notice", "keyword", "ann@example.com") is None


def test_bounces_find_only_mail_we_sent_not_stored_notes_F_REF_9_F_REF_1(store: Store) -> None:
    with store.transaction() as tx:
        number = tx.create_ticket("VPN")
        tx.add_note(number, "from the customer", message_id="<theirs@client.example>")
        tx.record_outgoing_message_id("<ours@example.com>", number)
    assert store.ticket_by_message_id("theirs@client.example") == number  # threading: both are thread keys
    assert store.ticket_by_sent_message_id("theirs@client.example") is None  # a bounce: ours only
    assert store.ticket_by_sent_message_id("<ours@example.com>") == number

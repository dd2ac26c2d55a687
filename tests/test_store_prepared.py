"""Prepared statements (engine/store/prepared.py) read and write exactly what SQLAlchemy would, on both stores.

The poller's hot statements bypass SQLAlchemy's per-call work; these tests hold them to the same
values (time zones, booleans, bytes, text cleaning, column defaults) and the same errors.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from engine.store.prepared import Prepared
from engine.store.schema import blobs, notes, tickets, users
from tests.fakeclock import FakeClock

T0 = datetime(2026, 11, 23, 12, 0, 30, 123456, tzinfo=timezone.utc)


@pytest.fixture
def clock() -> FakeClock:
    """The store's clock (conftest's `store` opens on it), standing at T0."""
    return FakeClock(T0)


def test_prepared_reads_equal_sqlalchemys_rows(store):
    with store.transaction() as tx:
        number = tx.create_ticket("Drucker \x00 kaputt", status="closed", hidden=True)
        tx.add_note(number, "first", author_address="ann@acme.test", message_id="<a@acme.test>")
        tx.put_blob(b"\x00\x01bytes")
    with store.transaction() as tx:
        for stmt, params in [(select(tickets).where(tickets.c.number == number), {}),
                             (select(notes), {}), (select(blobs), {})]:
            fast = tx._rows(Prepared(stmt), params)
            slow = tx._conn.execute(stmt, params).all()
            assert [tuple(row) for row in fast] == [tuple(row) for row in slow]
            assert [row._mapping for row in fast] == [dict(row._mapping) for row in slow]
        row = tx._rows(Prepared(select(tickets)), {})[0]
        assert row.closed_at == T0 and row.closed_at.tzinfo is not None  # UTC, read back timezone-aware
        assert row.hidden is True and row.hidden_from_portal is False  # a column default, written by the insert
        assert row.subject == "Drucker \ufffd kaputt"  # SafeText's cleaning applies


def test_prepared_insert_fills_column_defaults_and_returns_the_key(store):
    with store.transaction() as tx:
        number = tx.create_ticket("Printer")
        note = tx._insert(Prepared(insert(notes).returning(notes.c.id)),
                          {"ticket_number": number, "created_at": T0})
        assert tx.notes(number)[0].id == note
        assert tx.notes(number)[0].text == "" and tx.notes(number)[0].hidden_from_portal is False


def test_prepared_driver_errors_are_sqlalchemys(store):
    """The store's failure handling (engine/store/failures.py) sees the same exceptions as before."""
    with store.transaction() as tx:
        with pytest.raises(IntegrityError) as raised:
            with tx.savepoint():
                tx._insert(Prepared(insert(users).returning(users.c.id)),
                           {"login": "x", "name": "", "role": "nobody", "created_at": T0})
        assert raised.value.orig is not None and "role" in str(raised.value.orig)
        assert tx.intact()  # only the savepoint was undone


def test_a_failed_savepoint_keeps_what_came_before(store):
    with store.transaction() as tx:
        kept = tx.create_ticket("kept")
        with pytest.raises(IntegrityError):
            with tx.savepoint():
                tx.create_ticket("undone")
                tx._insert(Prepared(insert(notes).returning(notes.c.id)),
                           {"ticket_number": 999999, "created_at": T0})
        with tx.savepoint():
            tx.add_note(kept, "after the failed one")
    assert [t.subject for t in store.tickets()] == ["kept"]
    assert [n.text for n in store.notes(kept)] == ["after the failed one"]


def test_a_ticket_and_its_distribution_list_read_together_equal_the_two_reads(store):
    with store.transaction() as tx:
        listed, unlisted = tx.create_ticket("Printer"), tx.create_ticket("VPN")
        tx.add_distribution(listed, "Bob@Acme.test")
        tx.add_distribution(listed, "carol@acme.test")
    with store.snapshot() as reads:
        for number in (listed, unlisted):
            assert reads.ticket_and_distribution(number) == (reads.ticket(number), reads.distribution_list(number))
        assert [e.address for e in reads.ticket_and_distribution(listed)[1]] == ["Bob@Acme.test", "carol@acme.test"]
        assert reads.ticket_and_distribution(999) == (None, ())


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_fast_bind_processors_write_what_sqlalchemys_would(dialect):
    """SafeText and UTCDateTime hand prepared statements one function each instead of TypeDecorator's chain."""
    from datetime import timedelta

    from sqlalchemy.dialects import postgresql, sqlite

    from engine.store.schema import SafeText, UTCDateTime

    found = {"sqlite": sqlite, "postgresql": postgresql}[dialect].dialect()
    cases = {UTCDateTime(): [None, T0, datetime(1, 1, 1), datetime(2026, 1, 2, 3, 4, 5, 6), T0.replace(microsecond=0),
                             datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))],
             SafeText(): [None, "", "plain", "a\x00b", "Grüße\x00", "lone \udcff surrogate", "日本語"]}
    for kind, values in cases.items():
        slow, fast = kind.dialect_impl(found).bind_processor(found), kind.fast_bind_processor(found)
        assert [fast(v) for v in values] == [slow(v) for v in values]

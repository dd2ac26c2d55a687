"""The store's statement flow per batch (issue 10): fewer statements per mail, the same store.

Run on SQLite and on a private PostgreSQL. SPEC IDs proved here: F-USR-1.
"""

from __future__ import annotations

from datetime import timedelta

from engine.store import Store
from engine.store.directory_cache import DirectoryCache
from tests.fakeclock import T0, FakeClock

def test_a_note_stamps_its_ticket_once_per_transaction(store: Store, clock: FakeClock) -> None:
    """A note on a ticket the transaction created needs no second update; on an older ticket it moves updated_at."""
    with store.transaction() as tx:
        fresh = tx.create_ticket("new")
        tx.add_note(fresh, "first words")
        old = tx.create_ticket("older")
    clock.now = T0 + timedelta(hours=1)
    with store.transaction() as tx:
        tx.add_note(old, "a reply")
        tx.add_note(old, "another reply")
        created = tx.create_ticket("created and answered at once")
        tx.add_note(created, "its note")
    assert store.ticket(fresh).updated_at == T0
    assert store.ticket(old).updated_at == T0 + timedelta(hours=1)
    assert store.ticket(created).updated_at == T0 + timedelta(hours=1)


def test_a_created_user_is_served_from_the_polls_cache_as_the_store_reads_it(store: Store) -> None:
    """F-USR-1: apply looks the user it just created up by address and login; the cache answers with the
    record a read returns (text made safe as stored), and by address only where nobody else had it."""
    directory = DirectoryCache()
    with store.transaction(directory) as tx:
        assert tx.user_by_email("New.Person@Example.com") is None  # evaluate asked: nobody
        new_id = tx.create_user("new.person", name="New\x00Person", email="New.Person@Example.com")
        cached = (tx.user_by_email("new.person@example.com"), tx.user_by_login("new.person"), tx.user(new_id))
        first = tx.create_user("first", email="shared@example.com")
        second = tx.create_user("second", email="Shared@example.com")  # not asked before: the store decides
        assert tx.user_by_email("shared@example.com").id == first
    assert all(user == store.user(new_id) for user in cached)
    assert cached[0].name == "New\ufffdPerson"
    assert store.user_by_email("SHARED@example.com").id == first != second


def test_apply_creates_a_user_unless_the_login_is_taken_F_USR_1(store: Store) -> None:
    """One statement where a look-up of the login came first: a login someone has means nothing written."""
    directory = DirectoryCache()
    with store.transaction(directory) as tx:
        ann = tx.create_user("ann", email="ann@example.com")
        assert tx.create_user("ann", email="ann@elsewhere.test", unless_login_taken=True) is None
        assert tx.user_by_login("ann").id == ann and tx.user_by_email("ann@elsewhere.test") is None
        bob = tx.create_user("bob", email="bob@example.com", unless_login_taken=True)
    assert [u.login for u in store.users()] == ["ann", "bob"] and store.user(bob).email == "bob@example.com"

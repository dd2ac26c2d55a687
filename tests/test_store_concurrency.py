"""Several pollers on one PostgreSQL: shared writes converge, ticket numbers never make them wait (SPEC section 6).

Each test holds one transaction open while a second one, on another connection,
does what a second poller would; `lock_timeout` turns any wait for the first
one's rows into an error, so "does not wait" is checked without timing anything.
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from engine.store import Store
from engine.store.directory_import import sync_config_directory

pytestmark = pytest.mark.postgres

DIRECTORY = {
    "organisations": [{"name": "Acme", "domains": ["acme.test"]}],
    "users": [{"login": "jdoe", "name": "Jane Doe", "email": "jdoe@acme.test", "role": "technician",
               "organisation": "Acme"}],
    "groups": [{"name": "Network", "members": ["jdoe"]}],
}


@pytest.fixture
def stores(postgres_url):
    opened = [Store.open(postgres_url) for _ in range(4)]
    yield opened
    for store in opened:
        store.close()


def _no_waiting(tx) -> None:
    tx._exec(text("SET LOCAL lock_timeout = '2s'"))


def test_pollers_starting_together_sync_the_config_directory_without_crashing(stores):
    """Four pollers start at once on an empty database: each syncs the directory, none fails (issue 17)."""
    barrier, errors = threading.Barrier(len(stores)), []

    def start(store):
        barrier.wait()
        try:
            sync_config_directory(store, DIRECTORY)
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(err)

    threads = [threading.Thread(target=start, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store = stores[0]
    assert [o.name for o in store.organisations()] == ["Acme"]
    assert store.user_by_login("jdoe").organisation_id == store.organisation_by_name("Acme").id
    assert [store.user(i).login for i in store.group("Network").member_ids] == ["jdoe"]


def test_a_ticket_number_is_taken_without_waiting_for_another_pollers_open_transaction(stores):
    """Numbers come from a sequence: no max + 1 that waits on (or collides with) an uncommitted ticket."""
    first, second = stores[0], stores[1]
    with first.transaction() as held:
        one = held.create_ticket("Held open", number=held.next_ticket_number())
        with second.transaction() as tx:
            _no_waiting(tx)
            two = tx.create_ticket("Committed first", number=tx.next_ticket_number())
    assert one != two and sorted(t.number for t in first.tickets()) == sorted([one, two])


def test_a_rolled_back_number_is_never_given_again(stores):
    store = stores[0]
    with pytest.raises(RuntimeError):
        with store.transaction() as tx:
            lost = tx.create_ticket("Rolled back", number=tx.next_ticket_number())
            raise RuntimeError("the batch failed")
    with store.transaction() as tx:
        kept = tx.create_ticket("Kept", number=tx.next_ticket_number())
    assert kept > lost and [t.number for t in store.tickets()] == [kept]


def test_dry_run_peeks_at_the_next_number_without_taking_it(stores):
    store = stores[0]
    with store.snapshot() as view:
        predicted = view.next_ticket_number()
    with store.snapshot() as view:
        assert view.next_ticket_number() == predicted
    with store.transaction() as tx:
        assert tx.next_ticket_number() == predicted


def test_two_pollers_creating_the_same_new_sender_share_one_user(stores):
    """The second poller's insert waits for the first's commit, then uses that user: no quarantine (issue 17)."""
    first, second = stores[0], stores[1]
    result = SimpleNamespace(id=None, error=None)
    started = threading.Event()

    def second_poller():
        try:
            with second.transaction() as tx:
                started.set()
                result.id = tx.create_user("new@customer.test", email="new@customer.test")
        except Exception as err:  # noqa: BLE001 - asserted below
            result.error = err

    with first.transaction() as tx:
        mine = tx.create_user("new@customer.test", email="New@Customer.test")
        thread = threading.Thread(target=second_poller)
        thread.start()
        started.wait()
    thread.join()
    assert result.error is None and result.id == mine


def _blocked_backends(store) -> int:
    with store.snapshot() as view:
        rows = view._rows(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                               "AND datname = current_database()"))
    return rows[0][0]


def _wait_until_blocked(store, thread) -> None:
    """Until the other poller waits on our uncommitted rows (or has finished)."""
    deadline = time.monotonic() + 30
    while _blocked_backends(store) == 0 and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("what", ["domains", "members"])
def test_two_pollers_syncing_the_same_domains_and_members_converge(stores, what):
    """The second sync waits for the first's uncommitted rows, then finds them and adds nothing twice:
    no unique violation, the same result as one sync (issue 17; flaky under load before)."""
    sync_config_directory(stores[0], DIRECTORY)
    first, second = stores[0], stores[1]
    org, group = first.organisation_by_name("Acme").id, first.group("Network").id
    with first.transaction() as tx:
        other = tx.create_user("second", email="second@acme.test")

    def write(tx):
        if what == "domains":
            tx.set_organisation_domains(org, ["acme.test", "acme.example"])
        else:
            tx.set_members(group, [first.user_by_login("jdoe").id, other])

    result = SimpleNamespace(error=None)

    def second_poller():
        try:
            with second.transaction() as tx:
                write(tx)
        except Exception as err:  # noqa: BLE001 - asserted below
            result.error = err

    with first.transaction() as tx:
        write(tx)
        thread = threading.Thread(target=second_poller)
        thread.start()
        _wait_until_blocked(stores[2], thread)
    thread.join()
    assert result.error is None
    if what == "domains":
        assert sorted(first.organisation_by_name("Acme").domains) == ["acme.example", "acme.test"]
    else:
        assert sorted(first.user(i).login for i in first.group("Network").member_ids) == ["jdoe", "second"]

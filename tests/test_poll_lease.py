"""Mailbox leases between pollers (SPEC section 6, issue 17): a lock the kernel or PostgreSQL drops with its holder.

Another poller is a real second process holding the lock; "dying" is SIGKILL.
Each test runs on SQLite (file locks) and on the test PostgreSQL (advisory locks).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import engine.run.poll
from engine.config.compile import load_ruleset
from engine.run.service import Service
from engine.store.leases import AdvisoryLocks, FileLocks, holder_id
from tests.polltools import REPO, drop, files, maildir_box, make_mail, open_store, write_config


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request, tmp_path, monkeypatch):
    """The store's URL; the config names it through $LEASE_TEST_STORE (a PostgreSQL URL holds a password)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'config' / 'var' / 'mailgate.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    monkeypatch.setenv("LEASE_TEST_STORE", url)
    return url


def setup(tmp_path, store_url, count: int = 6):
    config = write_config(tmp_path / "config", [maildir_box(
        "help", "support@example.com", "var/maildir/help", polling={"interval_seconds": 60, "batch_size": 2})],
        store_url={"env": "LEASE_TEST_STORE"})
    box = config / "var" / "maildir" / "help"
    for n in range(count):
        drop(box, make_mail(f"Request {n}", sender=f"u{n}@acme.test"), f"{n}.m")
    return config, box


HOLDER = textwrap.dedent("""
    import sys, time
    from engine.store import Store
    store = Store.open(sys.argv[1])
    locks = store.lease_locks()
    assert locks.take("help")
    with store.transaction() as tx:
        from datetime import timedelta
        tx.record_lease("help", "other-host:1:cafe", timedelta(minutes=10))
    print("holding", flush=True)
    time.sleep(600)
""")


def another_poller(store_url: str) -> subprocess.Popen:
    """A second process that holds the mailbox's lease until it is killed."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, store_url], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "holding"
    return proc


def test_a_held_mailbox_is_skipped_and_a_dead_holders_taken_over_at_once(tmp_path, store_url):
    config, box = setup(tmp_path, store_url, count=1)
    holder = another_poller(store_url)
    store = open_store(config)
    service = Service(config, load_ruleset(config), store)
    try:
        [report] = service.poll_once()
        assert files(box)["new"] == ["0.m"] and report.skipped and "other-host:1:cafe" in report.summary()
        assert not report.error and "no new mail" not in report.summary()
        holder.send_signal(signal.SIGKILL)  # the other poller (or its whole host) dies
        holder.wait()
        report = poll_until_taken(service)
        assert not report.skipped and files(box)["new"] == [] and len(store.processing_log()) == 1
        assert store.lease("help") is None  # given back after the poll
    finally:
        holder.kill()
        service.close()
        store.close()


def poll_until_taken(service, tries: int = 100):
    """Poll again until the lock is free: PostgreSQL ends a dead client's session within moments."""
    for _ in range(tries):
        service.schedule.due.clear()  # due again now rather than after the interval
        [report] = service.poll_once()
        if not report.skipped:
            return report
        time.sleep(0.1)
    return report


def test_a_poller_that_lost_its_lease_stops_before_acknowledging(tmp_path, store_url, monkeypatch, caplog):
    config, box = setup(tmp_path, store_url)
    store = open_store(config)
    service = Service(config, load_ruleset(config), store)
    real = engine.run.poll.apply_batch

    def lost_during_the_first_batch(*args, **kwargs):
        results = real(*args, **kwargs)
        monkeypatch.setattr(service.locks, "held", lambda mailbox: False)  # e.g. the lock connection died
        return results

    monkeypatch.setattr(engine.run.poll, "apply_batch", lost_during_the_first_batch)
    try:
        [report] = service.poll_once()
        assert len(store.processing_log()) == 2  # the batch in hand was committed...
        assert len(files(box)["new"]) == 6  # ...and not acknowledged: the next holder does that
        assert "lease was lost" in report.error
    finally:
        service.close()
        store.close()
    monkeypatch.setattr(engine.run.poll, "apply_batch", real)
    store = open_store(config)
    service = Service(config, load_ruleset(config), store)
    try:
        service.poll_once()
        assert files(box)["new"] == [] and len(store.processing_log()) == 6  # nothing twice, nothing lost
    finally:
        service.close()
        store.close()


@pytest.mark.postgres
def test_an_advisory_lock_goes_with_its_connection(postgres_url):
    """PostgreSQL drops a session's advisory locks the moment its connection ends: no clock, no PID."""
    from engine.store import Store

    with Store.open(postgres_url) as first, Store.open(postgres_url) as second:
        mine, theirs = first.lease_locks(), second.lease_locks()
        assert isinstance(mine, AdvisoryLocks)
        assert mine.take("help") and not theirs.take("help") and theirs.take("sales")
        assert mine.held("help")
        with first.transaction() as tx:  # the server ends the lock connection (host gone, network cut)
            tx._exec(engine_text("SELECT pg_terminate_backend(pid) FROM pg_locks "
                                 "WHERE locktype = 'advisory' AND pid <> pg_backend_pid() AND objid = :key"),
                     {"key": lock_key_unsigned("help")})
        assert not mine.held("help")
        assert theirs.take("help")
        mine.close()
        theirs.close()


def test_file_locks_exclude_other_processes_not_the_holder(tmp_path):
    locks = FileLocks(tmp_path / "store.db.leases")
    assert locks.take("help") and locks.take("help") and locks.held("help")
    probe = ("import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
             "except BlockingIOError:\n    print('held')")
    path = str(tmp_path / "store.db.leases" / "help.lock")
    assert subprocess.run([sys.executable, "-c", probe, path], capture_output=True, text=True).stdout.strip() == "held"
    locks.release("help")
    assert subprocess.run([sys.executable, "-c", probe, path], capture_output=True, text=True).stdout.strip() == "free"


def test_holder_ids_differ_even_with_the_same_host_name_and_pid():
    """Containers share host names and PID 1: a random instance id tells two pollers apart."""
    assert holder_id() != holder_id() and holder_id().startswith(f"{os.uname().nodename}:{os.getpid()}:")


def engine_text(sql):
    from sqlalchemy import text

    return text(sql)


def lock_key_unsigned(mailbox):
    from engine.store.leases import lock_key

    return lock_key(mailbox) & 0xFFFFFFFF

"""Mailbox leases between pollers (SPEC section 6): held, renewed per batch, lost, taken over from a dead poller."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import timedelta

from sqlalchemy import update

import engine.run.poll
from engine.config.compile import load_ruleset
from engine.run.service import Service
from engine.store.schema import leases
from tests.polltools import drop, files, maildir_box, make_mail, open_store, write_config


def setup(tmp_path, count: int = 6):
    config = write_config(tmp_path / "config", [maildir_box(
        "help", "support@example.com", "var/maildir/help", polling={"interval_seconds": 60, "batch_size": 2})])
    box = config / "var" / "maildir" / "help"
    for n in range(count):
        drop(box, make_mail(f"Request {n}", sender=f"u{n}@acme.test"), f"{n}.m")
    return config, box


def test_a_poller_that_lost_its_lease_stops_after_the_batch_in_hand(tmp_path, monkeypatch, caplog):
    config, box = setup(tmp_path)
    store = open_store(config)
    real, calls = engine.run.poll.apply_batch, []

    def stolen_during_the_first_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # another poller took over (our lease had expired, say)
            with store.transaction() as tx:
                tx._exec(update(leases).values(holder="elsewhere:1"))
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.run.poll, "apply_batch", stolen_during_the_first_batch)
    try:
        Service(config, load_ruleset(config), store).poll_once()
        assert len(store.processing_log()) == 2 and len(files(box)["new"]) == 4
        assert "lease went to another poller" in caplog.text
    finally:
        store.close()


def test_a_live_pollers_lease_is_respected_and_a_dead_ones_taken_over(tmp_path):
    config, box = setup(tmp_path, count=1)
    store = open_store(config)
    try:
        service = Service(config, load_ruleset(config), store)
        with store.transaction() as tx:
            assert tx.take_lease("help", "elsewhere:1", timedelta(minutes=10))
        service.poll_once()
        assert files(box)["new"] == ["0.m"]  # another machine's poller holds it
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        with store.transaction() as tx:
            tx._exec(update(leases).values(holder=f"{socket.gethostname()}:{dead.stdout.strip()}"))
        service.schedule.due.clear()  # due again now rather than after the interval
        service.poll_once()
        assert files(box)["new"] == [] and len(store.processing_log()) == 1  # a killed poller of this host
    finally:
        store.close()

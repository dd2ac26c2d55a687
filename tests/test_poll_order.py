"""A mailbox's messages are applied in arrival order, even when one of them must be retried (issue 17, F-REF-1).

A transient store failure (another poller's lock, a serialisation failure) is
injected at apply() for one message of a batch; the reply that follows it in
the same batch must still land as a note on the ticket the failed one opens.
"""

from __future__ import annotations

import os
import time

import engine.run.poll
from engine.cli import main
from engine.decision import Outcome
from engine.errors import TransientStoreError
from tests.polltools import drop, files, maildir_box, make_mail, open_store, write_config

SENDER = "Ann Miller <ann.miller@acme.test>"


def _mailbox(tmp_path):
    config = write_config(tmp_path, [maildir_box("help", "support@example.com", "var/maildir/help")])
    return config, config / "var" / "maildir" / "help"


def _deliver(box, mails):
    """Drop mails with increasing file times: the maildir source lists oldest first."""
    start = time.time() - 600
    for i, (name, raw) in enumerate(mails):
        drop(box, raw, name)
        os.utime(box / "new" / name, (start + i, start + i))


def _fail_first_attempt_of(subject, monkeypatch, times=1):
    real, failures = engine.run.poll.apply, {"left": times}

    def flaky(tx, decision, message, *args, **kwargs):
        if message.subject == subject and decision.outcome is not Outcome.QUARANTINE and failures["left"]:
            failures["left"] -= 1
            raise TransientStoreError("could not serialize access due to concurrent update")
        return real(tx, decision, message, *args, **kwargs)

    monkeypatch.setattr(engine.run.poll, "apply", flaky)


def test_a_reply_after_a_retried_message_lands_on_its_ticket(tmp_path, monkeypatch):
    config, box = _mailbox(tmp_path)
    _deliver(box, [
        ("1.first", make_mail("Printer jam", SENDER, message_id="<first@acme.test>")),
        ("2.original", make_mail("VPN drops every hour", SENDER, message_id="<vpn@acme.test>")),
        ("3.reply", make_mail("Re: VPN drops every hour", SENDER, message_id="<vpn-reply@acme.test>",
                              headers={"In-Reply-To": "<vpn@acme.test>", "References": "<vpn@acme.test>"},
                              body="It happened again at 10:00.\n")),
    ])
    _fail_first_attempt_of("VPN drops every hour", monkeypatch)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    store = open_store(config)
    try:
        tickets = store.tickets()
        assert sorted(t.subject for t in tickets) == ["Printer jam", "VPN drops every hour"]
        vpn = next(t for t in tickets if t.subject == "VPN drops every hour")
        assert [n.text.splitlines()[0] for n in store.notes(vpn.number)][-1] == "It happened again at 10:00."
        printer = next(t for t in tickets if t.subject == "Printer jam")
        assert printer.number < vpn.number  # numbered in arrival order
    finally:
        store.close()
    assert files(box)["new"] == []  # all three acknowledged


def test_when_a_message_must_wait_for_the_next_poll_the_mail_after_it_waits_too(tmp_path, monkeypatch):
    config, box = _mailbox(tmp_path)
    _deliver(box, [
        ("1.original", make_mail("VPN drops every hour", SENDER, message_id="<vpn@acme.test>")),
        ("2.reply", make_mail("Re: VPN drops every hour", SENDER, message_id="<vpn-reply@acme.test>",
                              headers={"In-Reply-To": "<vpn@acme.test>"}, body="Again at 10:00.\n")),
    ])
    # Every try of this poll fails: the batch's two (without, then with a savepoint per mail) and each retry alone.
    _fail_first_attempt_of("VPN drops every hour", monkeypatch, times=2 + engine.run.poll.TRANSIENT_TRIES)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert sorted(files(box)["new"]) == ["1.original", "2.reply"]  # neither acknowledged
    store = open_store(config)
    try:
        assert store.tickets() == []  # the reply was not applied ahead of its original
    finally:
        store.close()
    assert main(["poll", "--once", "--config", str(config)]) == 0  # the next poll, the store healthy again
    store = open_store(config)
    try:
        [ticket] = store.tickets()
        assert ticket.subject == "VPN drops every hour" and len(store.notes(ticket.number)) == 2
    finally:
        store.close()


def _count_savepoints(monkeypatch) -> list:
    from engine.store.base import ConnectionSession

    taken, real = [], ConnectionSession.savepoint

    def counted(self):
        taken.append(1)
        return real(self)

    monkeypatch.setattr(ConnectionSession, "savepoint", counted)
    return taken


def test_a_batch_without_a_failure_takes_no_savepoint_one_with_a_failure_a_savepoint_per_mail(tmp_path, monkeypatch):
    # A savepoint per mail was two statements (on PostgreSQL two round trips) per mail; a batch is
    # applied without them first and again with them only when one of its mails fails.
    config, box = _mailbox(tmp_path)
    _deliver(box, [(f"{n}.mail", make_mail(f"Request {n}", f"User {n} <user{n}@acme.test>")) for n in range(3)])
    taken = _count_savepoints(monkeypatch)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert taken == [] and files(box)["new"] == []
    _deliver(box, [("3.first", make_mail("Printer jam", SENDER)), ("4.second", make_mail("VPN drops every hour", SENDER))])
    _fail_first_attempt_of("VPN drops every hour", monkeypatch)
    assert main(["poll", "--once", "--config", str(config)]) == 0
    assert len(taken) == 2 and files(box)["new"] == []  # the batch again, each mail in its savepoint

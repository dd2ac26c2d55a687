"""The outbox against a real SMTP server (aiosmtpd on loopback): headers, threading back, retries, test-smtp.

SPEC IDs proved here: F-OUT-5, F-OUT-6, F-REF-1.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.cli import main
from tests.polltools import cli, drop, free_port, maildir_box, make_mail, open_store, start_smtp, write_config

pytestmark = pytest.mark.smtp


def config_for(tmp_path: Path, port: int, **smtp) -> tuple[Path, Path]:
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")],
                          smtp={"send": True, "host": "127.0.0.1", "port": port, "tls": "none", **smtp})
    return config, config / "var" / "maildir" / "help"


def poll(config: Path) -> int:
    return main(["poll", "--once", "--config", str(config)])


def test_auto_reply_is_delivered_tagged_threaded_and_auto_submitted_F_OUT_5(tmp_path, smtp):
    config, box = config_for(tmp_path, smtp.port)
    drop(box, make_mail("Printer on floor 2 shows a paper jam", message_id="<orig-1@mail.acme.test>"), "1.printer")
    assert poll(config) == 0
    [mail] = smtp.messages()
    assert mail["Auto-Submitted"] == "auto-replied"
    assert "[Ticket#1]" in mail["Subject"]
    assert mail["In-Reply-To"] == "<orig-1@mail.acme.test>"
    assert "<orig-1@mail.acme.test>" in mail["References"]
    assert mail["To"] == "ann.miller@acme.test" and "support@example.com" in mail["From"]
    assert mail["Message-ID"].startswith("<") and mail["Message-ID"].endswith(">")
    assert smtp.received[0].to == ["ann.miller@acme.test"]
    store = open_store(config)
    try:
        [row] = store.outbox_messages()
        assert row.status == "sent" and row.sent_at is not None and row.ticket_number == 1
    finally:
        store.close()


def test_the_answer_to_an_auto_reply_lands_on_its_ticket_without_a_tag_F_REF_1(tmp_path, smtp):
    config, box = config_for(tmp_path, smtp.port)
    drop(box, make_mail("Monitor flickers", message_id="<orig-2@mail.acme.test>"), "1.monitor")
    drop(box, make_mail("Desk phone is dead", sender="Bob <bob@acme.test>"), "2.phone")
    assert poll(config) == 0
    auto_reply = next(m for m in smtp.messages() if m["To"] == "ann.miller@acme.test")
    # Ann answers the auto-reply from a client that drops the tag from the subject.
    answer = make_mail("Re: Monitor flickers", body="It flickers only on battery.\n",
                       headers={"In-Reply-To": auto_reply["Message-ID"], "References": auto_reply["Message-ID"]})
    drop(box, answer, "3.answer")
    assert poll(config) == 0
    store = open_store(config)
    try:
        assert len(store.tickets()) == 2
        [monitor] = [t for t in store.tickets() if t.subject == "Monitor flickers"]
        assert auto_reply["X-Mailgate-Ticket"] == str(monitor.number)
        [entry] = [e for e in store.processing_log() if e.message_key == "3.answer"]
        assert entry.outcome == "add_note" and entry.ticket_number == monitor.number
        assert any("only on battery" in n.text for n in store.notes(entry.ticket_number))
    finally:
        store.close()


def test_smtp_refusals_5xx_fail_and_4xx_retry_F_OUT_5(tmp_path, smtp):
    config, box = config_for(tmp_path, smtp.port)
    smtp.reply = "554 5.7.1 Message rejected by policy"
    drop(box, make_mail("Broken chair"), "1.chair")
    assert poll(config) == 0
    smtp.reply = "451 4.3.0 Try again later"
    drop(box, make_mail("Broken lamp", sender="Bob <bob@acme.test>"), "2.lamp")
    assert poll(config) == 0
    store = open_store(config)
    try:
        rows = {r.ticket_number: r for r in store.outbox_messages()}
        assert rows[1].status == "failed" and "554" in rows[1].last_error
        assert rows[2].status == "pending" and rows[2].attempts == 1 and "451" in rows[2].last_error
        assert rows[2].next_attempt_at > datetime.now(timezone.utc)
    finally:
        store.close()
    assert smtp.received == []


def test_an_smtp_server_that_is_down_means_retry_later_F_OUT_5(tmp_path):
    config, box = config_for(tmp_path, free_port())  # nothing listens there
    drop(box, make_mail("Projector bulb"), "1.projector")
    assert poll(config) == 0  # the ticket is made; the mail waits in the outbox
    store = open_store(config)
    try:
        [row] = store.outbox_messages()
        assert len(store.tickets()) == 1
        assert row.status == "pending" and row.attempts == 1 and row.last_error
    finally:
        store.close()


def test_smtp_max_attempts_from_the_config_decides_when_mail_is_failed_F_OUT_5(tmp_path, smtp):
    """settings.smtp.max_attempts: 2 gives a 4xx-refused mail one retry, then marks it failed."""
    config, box = config_for(tmp_path, smtp.port, max_attempts=2)
    smtp.reply = "451 4.3.0 Try again later"
    drop(box, make_mail("Broken lamp"), "1.lamp")
    assert poll(config) == 0
    store = open_store(config)
    try:
        [row] = store.outbox_messages()
        assert (row.status, row.attempts) == ("pending", 1)
        _due_now(store)
        assert poll(config) == 0
        [row] = store.outbox_messages()
        assert (row.status, row.attempts) == ("failed", 2) and "451" in row.last_error
    finally:
        store.close()
    assert smtp.received == []


def _due_now(store) -> None:
    """Make every outbox retry due now rather than in a minute."""
    from sqlalchemy import update

    from engine.store.schema import outbox
    with store.transaction() as tx:
        tx._exec(update(outbox).values(next_attempt_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


def test_queued_mail_goes_out_once_the_server_is_back_F_OUT_5(tmp_path):
    port = free_port()
    config, box = config_for(tmp_path, port)
    drop(box, make_mail("Scanner offline"), "1.scanner")
    assert poll(config) == 0
    store = open_store(config)
    try:
        _due_now(store)
        sink, controller = start_smtp(port)
        try:
            assert poll(config) == 0
            assert len(sink.received) == 1
            [row] = store.outbox_messages()
            assert row.status == "sent"
        finally:
            controller.stop()
    finally:
        store.close()


def test_test_smtp_sends_and_refuses_a_sender_that_is_no_mailbox_F_OUT_6(tmp_path, smtp):
    config, _ = config_for(tmp_path, smtp.port)
    done = cli(config, "test-smtp", "admin@acme.test")
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout
    [mail] = smtp.messages()
    assert mail["To"] == "admin@acme.test" and "support@example.com" in mail["From"]
    assert mail["Auto-Submitted"] == "auto-generated"
    refused = cli(config, "test-smtp", "admin@acme.test", "--from", "ceo@acme.test")
    assert refused.returncode == 2 and "not the address of a configured mailbox" in refused.stderr
    assert len(smtp.received) == 1
    smtp.rcpt_reply = "550 5.1.1 No such user"
    failed = cli(config, "test-smtp", "nobody@acme.test")
    assert failed.returncode == 1 and "550" in failed.stdout  # the server's own words


UNANSWERABLE = ("ev\x0cil@acme.test", "ev\x0bil@acme.test", "ev\x1cil@acme.test", "ev\x85il@acme.test")


def test_a_row_that_cannot_be_built_fails_alone_and_the_rest_go_out_F_OUT_5(tmp_path, smtp):
    """Issue 16: build_mime raised on a control character, the row was claimed again every 10 minutes
    and the rows behind it never went out."""
    from engine.apply.smtp import SmtpSettings, deliver_due
    from engine.store import Store

    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        with store.transaction() as tx:
            bad = [tx.enqueue_outbox(to, (("From", "support@example.com"), ("To", to), ("Subject", "Re: hi")),
                                     "body", f"<bad-{n}@example.com>") for n, to in enumerate(UNANSWERABLE)]
            good = tx.enqueue_outbox("ann.miller@acme.test", (("From", "support@example.com"),
                                     ("To", "ann.miller@acme.test"), ("Subject", "Re: printer")), "body", "<good@example.com>")
        report = deliver_due(store, SmtpSettings(host="127.0.0.1", port=smtp.port, tls="none"))
        assert (report.sent, report.failed, report.retrying) == (1, len(bad), 0)
        assert [r.to for r in smtp.received] == [["ann.miller@acme.test"]]
        assert store.outbox_message(good).status == "sent"
        for outbox_id in bad:
            row = store.outbox_message(outbox_id)
            assert row.status == "failed" and row.last_error.startswith("cannot")
        assert store.due_outbox() == []


def test_a_sender_we_cannot_answer_is_recorded_and_gets_no_mail_F_OUT_5_F_OUT_1(tmp_path, smtp):
    """The address is checked where the decision is made: no outbox row to it, and the mail behind goes on."""
    config, box = config_for(tmp_path, smtp.port)
    raw = make_mail("Scanner offline", sender="nobody", headers={"Return-Path": "<ev\x0cil@acme.test>"})
    drop(box, raw, "1.unanswerable")
    drop(box, make_mail("Printer on floor 2 shows a paper jam"), "2.printer")
    assert poll(config) == 0
    assert [r.to for r in smtp.received] == [["ann.miller@acme.test"]]
    store = open_store(config)
    try:
        assert len(store.tickets()) == 2
        assert [row.to_addr for row in store.outbox_messages()] == ["ann.miller@acme.test"]
        [entry] = [e for e in store.processing_log() if e.message_key == "1.unanswerable"]
        step = next(s for s in entry.trace if s["rule"] == "auto_reply")
        assert not step["hit"] and "control character" in step["detail"] and "\x0c" not in step["detail"]
    finally:
        store.close()

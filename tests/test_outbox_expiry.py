"""Queued mail older than its kind's maximum age is expired, never sent: turning sending on sends no stale replies.

SPEC IDs proved here: F-OUT-5, F-OUT-9, F-OUT-1.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import yaml
from sqlalchemy import update

from engine.store.schema import outbox
from tests.polltools import cli, drop, maildir_box, make_mail, open_store, start_smtp, write_config

pytestmark = pytest.mark.smtp


def _age_outbox(config, hours: float) -> None:
    """Make every queued mail `hours` older, as if the demo had run that long ago."""
    store = open_store(config)
    try:
        with store.transaction() as tx:
            for row in tx.outbox_messages():
                older = update(outbox).where(outbox.c.id == row.id)
                tx._exec(older.values(created_at=row.created_at - timedelta(hours=hours)))
    finally:
        store.close()


def _turn_sending_on(config, port: int) -> None:
    settings_file = config / "rules" / "00-settings.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["settings"]["smtp"].update(send=True, host="127.0.0.1", port=port, tls="none")
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))


def test_turning_sending_on_sends_no_stale_auto_replies_F_OUT_5_F_OUT_9(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])
    box = config / "var" / "maildir" / "help"
    drop(box, make_mail("Printer on floor 2 shows a paper jam"), "1.jam")  # an auto-reply
    drop(box, b"\x00\x01 not a mail", "2.garbage")  # an error notice to the error user
    assert cli(config, "poll", "--once").returncode == 0  # send: false, the demo default
    _age_outbox(config, 30)  # older than auto-replies may be (24 h), younger than notices (168 h)
    sink, controller = start_smtp()
    try:
        _turn_sending_on(config, sink.port)
        done = cli(config, "poll", "--once")
        assert done.returncode == 0, done.stderr
        assert "outbox 1 expired, not sent: auto_reply to ann.miller@acme.test" in done.stderr
        assert [m["To"] for m in sink.messages()] == ["helpdesk-admin@example.com"]
    finally:
        controller.stop()
    rows = {r["kind"]: r for r in map(json.loads, cli(config, "outbox", "--format", "json").stdout.splitlines())}
    assert rows["auto_reply"]["status"] == "expired" and "maximum age" in rows["auto_reply"]["last_error"]
    assert rows["error_notice"]["status"] == "sent"


def test_a_kind_at_zero_never_expires_F_OUT_5(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")],
                          smtp={"max_age_hours": {"auto_reply": 0}})
    drop(config / "var" / "maildir" / "help", make_mail("Printer jammed"), "1.jam")
    assert cli(config, "poll", "--once").returncode == 0
    _age_outbox(config, 24 * 365)
    assert cli(config, "poll", "--once").returncode == 0
    [row] = map(json.loads, cli(config, "outbox", "--format", "json").stdout.splitlines())
    assert row["status"] == "pending"


def test_an_operator_expires_queued_mail_before_turning_sending_on_F_OUT_5(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])
    box = config / "var" / "maildir" / "help"
    drop(box, make_mail("Printer on floor 2 shows a paper jam"), "1.jam")
    drop(box, b"\x00\x01 not a mail", "2.garbage")
    assert cli(config, "poll", "--once").returncode == 0
    _age_outbox(config, 2)  # within every kind's maximum age: the poller would send both
    assert "expired 0 queued" in cli(config, "outbox", "expire").stdout
    done = cli(config, "outbox", "expire", "--older-than", "1h")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("expired 2 queued outbox mail(s) queued before ")
    sink, controller = start_smtp()
    try:
        _turn_sending_on(config, sink.port)
        assert cli(config, "poll", "--once").returncode == 0
        assert sink.messages() == []  # nothing stale went out
    finally:
        controller.stop()
    drop(box, make_mail("Monitor flickers", sender="Bob <bob@acme.test>"), "3.flicker")
    _turn_sending_off(config)
    assert cli(config, "poll", "--once").returncode == 0
    fresh = next(r for r in map(json.loads, cli(config, "outbox", "--format", "json").stdout.splitlines())
                 if r["caused_by"] == "3.flicker")
    moved = cli(config, "outbox", "expire", str(fresh["id"]))
    assert moved.returncode == 0 and f"outbox {fresh['id']}: pending -> expired" in moved.stdout
    assert cli(config, "outbox", "expire", "--kind", "auto_reply").returncode == 2


def _turn_sending_off(config) -> None:
    settings_file = config / "rules" / "00-settings.yaml"
    settings = yaml.safe_load(settings_file.read_text())
    settings["settings"]["smtp"]["send"] = False
    settings_file.write_text(yaml.safe_dump(settings, sort_keys=False))

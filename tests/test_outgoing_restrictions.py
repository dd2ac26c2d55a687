"""Addresses mailgate never sends to (kept as `blocked`) and the switch that holds every automatic mail (`held`).

SPEC IDs proved here: F-OUT-8, F-OUT-9.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from engine.cli import main
from engine.config.compile import load_ruleset
from tests.polltools import cli, drop, maildir_box, make_mail, open_store, write_config

pytestmark = pytest.mark.smtp


def with_rules(config: Path, name: str, data: dict) -> Path:
    (config / "rules" / name).write_text(yaml.safe_dump({"version": 1, **data}, sort_keys=False))
    return config


def config_with(tmp_path: Path, never_send_to: list, **settings) -> Path:
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])
    with_rules(config, "15-never-send-to.yaml", {"filters": {"never_send_to": never_send_to}})
    if settings:
        path = config / "rules" / "00-settings.yaml"
        data = yaml.safe_load(path.read_text())
        data["settings"].update(settings)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def test_the_seeds_comma_separated_form_domains_addresses_and_texts_F_OUT_8(tmp_path):
    config = config_with(tmp_path, ["ceo@acme.test, @partner.test", "bounce", {"pattern": "^.*@spam\\.test$", "match": "regex"},
                                    {"pattern": "example.org", "match": "domain"}])
    index = load_ruleset(config).index.recipient_filters
    hit = lambda address: (lambda f: f and (f.pattern, f.match))(index.first_match(address))  # noqa: E731
    assert hit("CEO@Acme.test") == ("ceo@acme.test", "full")
    assert hit("cfo@acme.test") is None
    assert hit("anyone@partner.test") == ("partner.test", "domain")
    assert hit("ops@eu.partner.test") == ("partner.test", "domain")  # a subdomain is the domain's
    assert hit("ops@notpartner.test") is None
    assert hit("bounce-handler@x.test") == ("bounce", "partial")
    assert hit("eve@spam.test") == ("^.*@spam\\.test$", "regex")
    assert hit("it@mail.example.org") == ("example.org", "domain")
    # Every part of the comma-separated line cites that line.
    origins = {f.pattern: f.origin for f in load_ruleset(config).recipient_filters}
    assert origins["ceo@acme.test"] == origins["partner.test"] == "rules/15-never-send-to.yaml:4"


@pytest.mark.parametrize("entry, wanted", [
    ("ceo@acme.test, ,cfo@acme.test", "never_send_to part '' of"),
    ("@x", "no address, @domain or text"),
    ("a@b@c.test", "no address, @domain or text"),
])
def test_validate_reads_every_part_F_OUT_8(tmp_path, entry, wanted):
    config = config_with(tmp_path, [entry])
    done = cli(config, "validate")
    out = done.stdout + done.stderr
    assert done.returncode == 1 and wanted in out and "rules/15-never-send-to.yaml:4" in out


def test_validate_names_an_entry_written_twice_F_OUT_8(tmp_path):
    config = config_with(tmp_path, ["noreply"])  # the shipped rules list it already
    done = cli(config, "validate")
    assert done.returncode == 1 and "never-send-to entry 'noreply' is defined twice" in done.stdout


def test_test_smtp_refuses_a_never_send_to_address_F_OUT_8(tmp_path):
    config = config_with(tmp_path, ["@partner.test"])
    done = cli(config, "test-smtp", "ops@partner.test")
    assert done.returncode == 1
    assert "ops@partner.test matches never_send_to 'partner.test' (rules/15-never-send-to.yaml:4)" in done.stdout


def polled(tmp_path: Path, smtp, never_send_to: list, mailbox: dict | None = None, **settings) -> list:
    """Poll one mail from Ann through a config that sends to `smtp`; return the outbox rows."""
    config = config_with(tmp_path, never_send_to, **settings)
    path = config / "rules" / "00-settings.yaml"
    data = yaml.safe_load(path.read_text())
    data["settings"]["smtp"].update({"send": True, "host": "127.0.0.1", "port": smtp.port, "tls": "none"})
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    if mailbox:
        box = config / "mailboxes.d" / "help.yaml"
        spec = yaml.safe_load(box.read_text())
        spec["mailbox"].update(mailbox)
        box.write_text(yaml.safe_dump(spec, sort_keys=False))
    drop(config / "var" / "maildir" / "help", make_mail("Printer on floor 2 is jammed"), "1.printer")
    assert main(["poll", "--once", "--config", str(config)]) == 0
    store = open_store(config)
    try:
        return store.outbox_messages()
    finally:
        store.close()


def test_a_never_send_to_recipient_is_kept_as_blocked_and_never_sent_F_OUT_8(tmp_path, smtp):
    [row] = polled(tmp_path, smtp, ["@acme.test"])
    assert row.status == "blocked" and row.to_addr == "ann.miller@acme.test"
    assert row.last_error == "ann.miller@acme.test matches never_send_to 'acme.test'"
    assert smtp.received == []


def test_the_global_switch_holds_every_automatic_mail_F_OUT_9(tmp_path, smtp):
    [row] = polled(tmp_path, smtp, ["@elsewhere.test"], outgoing={"enabled": False})
    assert row.status == "held" and "switched off" in row.last_error
    assert smtp.received == []
    shown = cli(tmp_path / "config", "log", "--trace")  # the hits it lists say why
    assert "automatic_mail_off: auto_reply: automatic mail is switched off" in shown.stdout


def test_a_mailbox_may_send_while_the_switch_is_off_F_OUT_9(tmp_path, smtp):
    [row] = polled(tmp_path, smtp, ["@elsewhere.test"], mailbox={"outgoing": {"enabled": True}},
                   outgoing={"enabled": False})
    assert row.status == "sent" and len(smtp.received) == 1


def test_blocked_wins_over_held_F_OUT_8_F_OUT_9(tmp_path, smtp):
    [row] = polled(tmp_path, smtp, ["ann.miller@acme.test"], outgoing={"enabled": False})
    assert row.status == "blocked"



def _as_released_before(conn) -> None:
    """The outbox as the schema had it before held and blocked: a CHECK allowing pending, sent and failed only."""
    old = "status IN ('pending', 'sent', 'failed')"
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE outbox DROP CONSTRAINT ck_outbox_status"))
        conn.execute(text(f"ALTER TABLE outbox ADD CONSTRAINT ck_outbox_status CHECK ({old})"))
        return
    sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'outbox'")).scalar()
    new = re.search(r"status IN \([^)]*\)", sql).group(0)
    conn.execute(text("PRAGMA writable_schema = ON"))
    conn.execute(text("UPDATE sqlite_master SET sql = :sql WHERE name = 'outbox'"), {"sql": sql.replace(new, old)})
    conn.execute(text("PRAGMA writable_schema = OFF"))


OLD_ROW = ("INSERT INTO outbox (kind, to_addr, to_key, headers, body, message_id, status, attempts,"
           " next_attempt_at, created_at) VALUES ('x', 'old@x.test', 'old@x.test', '[]', '', 'm0', 'STATUS', 1,"
           " '2026-01-01', '2026-01-01')")


def test_an_older_store_learns_the_held_and_blocked_statuses_F_OUT_8_F_OUT_9(store_url):
    from engine.store.migrate import MIGRATIONS, _held_and_blocked, migrate
    from engine.store.store import Store, make_engine

    engine = make_engine(store_url)
    migrate(engine, MIGRATIONS[:next(i for i, m in enumerate(MIGRATIONS) if m.apply is _held_and_blocked)])
    with engine.begin() as conn:
        _as_released_before(conn)
        conn.execute(text(OLD_ROW.replace("STATUS", "sent")))  # a row the rebuild must carry over
    engine.dispose()
    if store_url.startswith("sqlite"):  # the old CHECK is really there
        old = make_engine(store_url)
        with pytest.raises(Exception, match="CHECK"), old.begin() as conn:
            conn.execute(text(OLD_ROW.replace("STATUS", "held").replace("m0", "m00")))
        old.dispose()
    with Store.open(store_url) as store:  # migrates to the latest version
        with store.transaction() as tx:
            tx.enqueue_outbox("a@x.test", [("Subject", "a")], "body", "<m1@x.test>")
            tx.enqueue_outbox("b@x.test", [("Subject", "b")], "body", "<m2@x.test>", status="held", reason="off")
            tx.enqueue_outbox("c@x.test", [("Subject", "c")], "body", "<m3@x.test>", status="blocked", reason="filter")
        assert sorted((r.to_addr, r.status) for r in store.outbox_messages()) == [
            ("a@x.test", "pending"), ("b@x.test", "held"), ("c@x.test", "blocked"), ("old@x.test", "sent")]
        assert [r.to_addr for r in store.due_outbox()] == ["a@x.test"]  # only pending mail is ever sent

"""Operator commands run as an admin runs them (subprocesses) against a store a real poll filled.

`mailgate log` (search, show), `explain`, `outbox`, `status`, `tickets`, `quarantine`:
every one with --format json and exit codes 0 (done), 1 (failed / not found), 2 (usage).
SPEC IDs proved here: F-MB-10, F-FAIL-1, F-OUT-5, F-OUT-9, F-PRE-6, F-NEW-3, F-TOK-1.
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from tests.polltools import MAILGATE, REPO, cli, drop, maildir_box, make_mail, open_store, write_config

GARBAGE = b"\x00\x01\x1b[2J\x1b]0;pwned\x07 not a mail \xff\xfe" * 4
BOB = "Bob Baker <bob@customer.example>"


def _fill(root: Path, store_url: str | None = None) -> Path:
    """Two mailboxes, one poll: a new ticket, its reply, an out-of-office, garbage, a mail to both, a technician's."""
    config = write_config(root, [maildir_box("help", "support@example.com", "var/maildir/help"),
                                 maildir_box("it", "it@example.com", "var/maildir/it")])
    help_box, it_box = config / "var/maildir/help", config / "var/maildir/it"
    drop(help_box, make_mail("Printer on floor 2 shows a paper jam", sender=BOB, message_id="<jam@customer.example>"),
         "1.jam")
    drop(help_box, make_mail("Out of office", sender=BOB, headers={"Auto-Submitted": "auto-replied"}), "2.ooo")
    drop(help_box, GARBAGE, "3.garbage")
    both = make_mail("Écran noir après la mise à jour", to="support@example.com, it@example.com",
                     message_id="<screen@acme.test>")
    drop(help_box, both, "4.screen")
    drop(it_box, both, "9.screen")
    drop(help_box, make_mail("Password reset", sender="Jane Doe <jane.doe@example.com>",
                             headers={"Cc": "Rob Smith <rob.smith@example.com>",  # tokens need an authenticated From
                                      "Authentication-Results": "mx.example.com; dkim=pass header.d=example.com"},
                             body='Carol is locked out.\n#set "Cost center" = "4711"\n'), "5.reset")
    args = ("--store", store_url) if store_url else ()
    done = cli(config, "poll", "--once", *args)
    assert done.returncode == 0, done.stderr
    return config


@pytest.fixture(scope="module")
def polled(tmp_path_factory) -> Path:
    """A config whose SQLite store one real poll filled (read-only for the tests that share it)."""
    return _fill(tmp_path_factory.mktemp("polled") / "config")


@pytest.fixture
def own_copy(polled, tmp_path) -> Path:
    """A private copy of the polled config and store, for tests that change either."""
    return Path(shutil.copytree(polled, tmp_path / "config"))


def run_json(config: Path, *args: str) -> list[dict]:
    done = cli(config, *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def _labelled(text: str) -> dict[str, str]:
    """`  label   value` lines of a show command, by label."""
    pairs = [re.split(r"\s{2,}", line.strip(), maxsplit=1) for line in text.splitlines() if line.startswith("  ")]
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


# --- mailgate log -----------------------------------------------------------------------


def test_log_lines_name_sender_subject_outcome_reason_ticket_F_MB_10(polled):
    shown = cli(polled, "log")
    assert shown.returncode == 0, shown.stderr
    line = next(l for l in shown.stdout.splitlines() if "1.jam" in l)
    for part in ("help", "bob@customer.example", "Printer on floor 2", "create_ticket", "new_ticket", "#1"):
        assert part in line
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout


def test_log_filters_by_sender_recipient_subject_and_more_F_MB_10(polled):
    def keys(*args):
        return sorted(e["key"] for e in run_json(polled, "log", *args))

    assert keys("--from", "BOB@Customer") == ["1.jam", "2.ooo"]  # case-insensitive substring
    assert keys("--to", "it@example.com") == ["4.screen", "9.screen"]
    assert keys("--subject", "ÉCRAN NOIR") == ["4.screen", "9.screen"]  # beyond ASCII, alike on both stores
    assert keys("--message-id", "<jam@customer.example>") == ["1.jam"]
    assert keys("--ticket", "1") == ["1.jam"]
    assert keys("--outcome", "quarantine") == ["3.garbage"]
    assert keys("--reason", "duplicate") == ["9.screen"]
    assert keys("--mailbox", "it") == ["9.screen"]
    assert keys("--since", "1h") == ["1.jam", "2.ooo", "3.garbage", "4.screen", "5.reset", "9.screen"]
    assert keys("--until", "1h") == []
    assert len(keys("--limit", "2")) == 2
    # What the issue tried: grep the JSON for a sender.
    out = cli(polled, "log", "--format", "json", "--limit", "100").stdout
    assert sum("bob@customer.example" in line for line in out.splitlines()) == 2


def test_log_json_carries_every_field_and_the_key_F_MB_10(polled):
    [entry] = run_json(polled, "log", "--message-id", "jam@customer.example")
    assert entry["key"] == "1.jam" and entry["mailbox"] == "help" and entry["sender"] == "bob@customer.example"
    assert entry["subject"] == "Printer on floor 2 shows a paper jam" and entry["recipients"] == "support@example.com"
    assert (entry["outcome"], entry["reason"], entry["ticket"]) == ("create_ticket", "new_ticket", 1)
    assert entry["decision"]["subtype"] == "Printer" and entry["trace"] and entry["at"]


def test_log_show_names_the_entry_and_ticket_a_duplicate_repeats_F_PRE_6(polled):
    shown = cli(polled, "log", "show", "9.screen")
    assert shown.returncode == 0, shown.stderr
    [first] = run_json(polled, "log", "--mailbox", "help", "--message-id", "screen@acme.test")
    assert f"duplicate of entry {first['id']}: help / 4.screen" in shown.stdout
    assert f"ticket #{first['ticket']}" in shown.stdout
    [story] = run_json(polled, "log", "show", "9.screen")
    assert story["duplicate_of"]["key"] == "4.screen" and story["duplicate_of"]["ticket"] == first["ticket"]


def test_log_show_prints_trace_decision_and_what_apply_did_F_MB_10(polled):
    shown = cli(polled, "log", "show", "<jam@customer.example>")
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "created ticket #1" in out and "outbox 1: auto_reply to bob@customer.example" in out
    [rule] = [line for line in out.splitlines() if "HIT new_ticket/subject_match: contains 'paper jam'" in line]
    assert "[rules/60-catalog.yaml:" in rule  # each rule with the file:line it came from
    assert "subtype" in out and "Printer" in out and "raw mail    kept" in out
    assert "after processing: marked read" in out  # what the source did once the ticket was committed (F-MB-9)


def test_dry_run_against_the_store_names_what_a_processed_mail_became_F_PRE_6(polled, tmp_path):
    [kept] = (polled / "var/maildir/help").rglob("1.jam*")  # the mail as the poll found it
    store = polled / "var" / "mailgate.db"
    shown = cli(polled, "dry-run", "--state", str(store), str(kept))
    assert shown.returncode == 0, shown.stderr
    [entry] = run_json(polled, "log", "--message-id", "jam@customer.example")
    assert "IGNORE: duplicate" in shown.stdout
    assert (f"already processed: entry {entry['id']}, help / 1.jam at " in shown.stdout
            and f"create_ticket (new_ticket), ticket #{entry['ticket']}" in shown.stdout)
    assert "`mailgate explain 1.jam` decides it again" in shown.stdout
    [record] = run_json(polled, "dry-run", "--state", str(store), str(kept))
    assert record["already_processed"]["key"] == "1.jam" and record["already_processed"]["ticket"] == entry["ticket"]


def test_log_show_of_an_unknown_mail_exits_1_and_without_a_ref_2(polled):
    missing = cli(polled, "log", "show", "no-such-key")
    assert missing.returncode == 1 and "no log entry for 'no-such-key'" in missing.stderr
    assert cli(polled, "log", "show").returncode == 2
    assert cli(polled, "log", "--since", "yesterday-ish").returncode == 2


# --- mailgate explain -------------------------------------------------------------------


def test_explain_matches_the_recorded_decision_ignoring_its_own_entry_F_PRE_6(polled):
    [result] = run_json(polled, "explain", "1.jam")
    assert result["recorded"]["outcome"] == "create_ticket" and result["now"]["outcome"] == "create_ticket"
    # Bob exists now (the poll created him), so that is the one difference; the mail is not a duplicate of itself.
    assert result["differences"] == ["users_created", "rules_hit"]
    assert result["now"]["subtype"] == "Printer"
    dup = run_json(polled, "explain", "9.screen")[0]
    assert dup["same"] and dup["now"]["reason"] == "duplicate"  # still a copy of what mailbox help processed


def test_explain_shows_what_a_config_change_does_field_by_field_F_MB_10(own_copy):
    box_file = own_copy / "mailboxes.d" / "help.yaml"
    spec = yaml.safe_load(box_file.read_text())
    spec["mailbox"]["new_tickets"]["priority"] = "High"
    box_file.write_text(yaml.safe_dump(spec))
    shown = cli(own_copy, "explain", "1.jam")
    assert shown.returncode == 0, shown.stderr
    priority = next(l for l in shown.stdout.splitlines() if l.startswith("priority"))
    assert "Normal" in priority and "High" in priority and priority.rstrip().endswith("≠")
    assert "differs in: priority" in shown.stdout


def test_explain_of_mail_no_longer_kept_says_so_F_MB_10(own_copy):
    store = open_store(own_copy)
    try:
        with store.transaction() as tx:
            tx.prune_raw_mail(datetime.now(timezone.utc) + timedelta(days=1))
    finally:
        store.close()
    gone = cli(own_copy, "explain", "1.jam")
    assert gone.returncode == 1
    assert "is no longer kept: processed mail is kept 30 day(s) (settings.store.keep_raw_mail_days)" in gone.stderr
    kept = cli(own_copy, "explain", "3.garbage")  # a quarantined mail: its bytes are in the quarantine
    assert kept.returncode == 0 and "same decision as recorded" in kept.stdout


def test_explain_asks_which_mailbox_when_the_mail_reached_two(polled):
    both = cli(polled, "explain", "screen@acme.test")
    assert both.returncode == 2 and "--mailbox" in both.stderr
    assert cli(polled, "explain", "screen@acme.test", "--mailbox", "help").returncode == 0


# --- mailgate outbox --------------------------------------------------------------------


def test_outbox_list_and_show_F_OUT_5(polled):
    items = run_json(polled, "outbox")
    jam = next(i for i in items if i["caused_by"] == "1.jam")
    assert (jam["status"], jam["kind"], jam["to"], jam["attempts"]) == ("pending", "auto_reply", "bob@customer.example", 0)
    assert "paper jam" in jam["subject"]
    listed = cli(polled, "outbox", "--status", "pending")
    assert listed.returncode == 0 and "bob@customer.example" in listed.stdout and "auto_reply" in listed.stdout
    shown = cli(polled, "outbox", "show", str(jam["id"]))
    assert "caused by     help / 1.jam" in shown.stdout and "X-Mailgate-Ticket: 1" in shown.stdout
    assert cli(polled, "outbox", "show", "999").returncode == 1
    assert cli(polled, "outbox", "show").returncode == 2


def test_outbox_hold_release_retry_purge_F_OUT_5_F_OUT_9(own_copy):
    jam = next(i for i in run_json(own_copy, "outbox") if i["caused_by"] == "1.jam")["id"]
    assert run_json(own_copy, "outbox", "hold", str(jam))[0] == {"id": jam, "action": "hold", "done": True,
                                                                "status": "held"}
    again = cli(own_copy, "outbox", "hold", str(jam))
    assert again.returncode == 1 and "is held; hold works on pending mail only" in again.stdout
    assert cli(own_copy, "outbox", "release", str(jam)).returncode == 0
    assert cli(own_copy, "outbox", "retry", str(jam)).returncode == 1  # pending: nothing to retry
    store = open_store(own_copy)
    try:
        with store.transaction() as tx:
            tx.mark_outbox_failed(jam, "550 no such user", max_attempts=8, permanent=True)
    finally:
        store.close()
    assert cli(own_copy, "outbox", "retry", str(jam)).returncode == 0
    [row] = [i for i in run_json(own_copy, "outbox") if i["id"] == jam]
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 0, None)
    # Purge leaves queued mail alone unless asked by status.
    assert run_json(own_copy, "outbox", "purge")[0]["purged"] == 0
    purged = run_json(own_copy, "outbox", "purge", "--status", "pending", "--kind", "auto_reply")[0]["purged"]
    assert purged >= 1 and not [i for i in run_json(own_copy, "outbox") if i["kind"] == "auto_reply"]
    assert cli(own_copy, "outbox", "purge", "--older-than", "soon").returncode == 2


# --- mailgate status --------------------------------------------------------------------


def test_status_counts_today_outbox_and_quarantine(polled):
    [report] = run_json(polled, "status")
    boxes = {m["mailbox"]: m for m in report["mailboxes"]}
    assert boxes["help"]["today"] == {"create_ticket": 3, "ignore": 1, "quarantine": 1}
    assert boxes["it"]["today"] == {"ignore": 1}
    assert report["quarantine"] == 1 and report["outbox"]["pending"] >= 3
    assert boxes["help"]["last_success"] and boxes["help"]["failures"] == 0 and report["ok"]
    text = cli(polled, "status")
    assert text.returncode == 0 and "quarantine: 1 message(s) waiting" in text.stdout


def test_status_names_the_poller_holding_each_mailbox_SPEC_6(own_copy):
    """Two pollers on one store, each in the middle of a mailbox (as engine/run/service.py takes them),
    and a lease row a third poller left when it died."""
    from engine.store.leases import holder_id
    from engine.run.service import LEASE

    pollers = [open_store(own_copy) for _ in range(2)]
    holders, locks = [holder_id(), holder_id()], [p.lease_locks() for p in pollers]
    try:
        for poller, lock, holder, mailbox in zip(pollers, locks, holders, ("help", "it")):
            assert lock.take(mailbox)
            with poller.transaction() as tx:
                tx.record_lease(mailbox, holder, LEASE)
        assert not locks[1].take("help")  # the second poller cannot take the first one's mailbox
        [report] = run_json(own_copy, "status")
        boxes = {m["mailbox"]: m for m in report["mailboxes"]}
        assert (boxes["help"]["lease_holder"], boxes["it"]["lease_holder"]) == tuple(holders)
        assert not boxes["help"]["lease_stale"] and not boxes["it"]["lease_stale"]
        text = cli(own_copy, "status").stdout
        assert holders[0] in text and holders[1] in text
        with pollers[1].transaction() as tx:  # a poller died mid-poll: its row outlives it
            tx.record_lease("it", "gone-host:4242:dead", -LEASE)
        [report] = run_json(own_copy, "status")
        dead = next(m for m in report["mailboxes"] if m["mailbox"] == "it")
        assert dead["lease_holder"] == "gone-host:4242:dead" and dead["lease_stale"]
        assert "gone-host:4242:dead (stale since " in cli(own_copy, "status").stdout
    finally:
        for lock, poller in zip(locks, pollers):
            lock.close()
            poller.close()


def test_status_shows_a_failing_mailbox_its_error_and_back_off_F_FAIL_3(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("good", "support@example.com", "var/maildir/good"),
                                                 maildir_box("bad", "it@example.com", "var/maildir/bad")])
    (config / "var" / "maildir").mkdir(parents=True)
    (config / "var" / "maildir" / "bad").write_text("a file where the maildir should be")
    assert cli(config, "poll", "--once").returncode == 1
    done = cli(config, "status", "--format", "json")
    assert done.returncode == 1
    boxes = {m["mailbox"]: m for m in json.loads(done.stdout)["mailboxes"]}
    assert boxes["bad"]["failures"] == 1 and "not a Maildir" in boxes["bad"]["last_error"]
    assert boxes["bad"]["backing_off_until"] and boxes["bad"]["last_success"] is None
    assert boxes["good"]["failures"] == 0 and boxes["good"]["last_success"]
    text = cli(config, "status")
    assert "bad: last error at" in text.stdout and "not a Maildir" in text.stdout


# --- mailgate tickets -------------------------------------------------------------------


def test_tickets_show_every_field_and_the_notes_F_NEW_3_F_TOK_1(polled):
    [reset] = run_json(polled, "tickets", "--requester", "jane.doe@example.com")
    [ticket] = run_json(polled, "tickets", "show", str(reset["number"]))
    assert ticket["quick_pick"] == "Password reset" and ticket["assignee_group"] == "Service Desk"
    assert ticket["logging_technician"] == "jane.doe@example.com"
    assert (ticket["class"], ticket["category"], ticket["priority"]) == ("Service Request", "IT", "High")
    assert ticket["custom_fields"] == {"Cost center": "4711"} and ticket["distribution"] == ["rob.smith@example.com"]
    assert ticket["notes"][0]["author"] == "jane.doe@example.com" and "locked out" in ticket["notes"][0]["text"]
    shown = cli(polled, "tickets", "show", str(reset["number"])).stdout
    labels = _labelled(shown)
    assert labels["group"] == "Service Desk" and labels["class"] == "Service Request"
    assert labels["logged by"] == "jane.doe@example.com" and labels["field Cost center"] == "4711"
    assert labels["cc list"] == "rob.smith@example.com" and "--- note" in shown
    screen = run_json(polled, "tickets", "--mailbox", "help", "--status", "open")
    assert {t["organisation"] for t in screen if t["subject"].startswith("Écran")} == {"Acme Ltd"}
    assert cli(polled, "tickets", "show", "999").returncode == 1


def test_tickets_show_the_assignee_user(own_copy):
    store = open_store(own_copy)
    try:
        with store.transaction() as tx:
            tx.set_ticket_fields(1, assignee_user_id=tx.user_by_login("rsmith").id)
    finally:
        store.close()
    assert _labelled(cli(own_copy, "tickets", "show", "1").stdout)["assignee"] == "rob.smith@example.com"


# --- mailgate quarantine ----------------------------------------------------------------


def test_quarantine_show_prints_no_raw_bytes_but_error_and_hint_F_FAIL_1(polled):
    [item] = run_json(polled, "quarantine")
    shown = subprocess.run([*MAILGATE, "quarantine", "show", str(item["id"]), "--config", str(polled)], cwd=REPO,
                           capture_output=True, timeout=60)
    assert shown.returncode == 0
    assert b"\x1b" not in shown.stdout and b"\x00" not in shown.stdout and b"\x07" not in shown.stdout
    assert b"unreadable" in shown.stdout and f"mailgate replay {item['id']}".encode() in shown.stdout
    raw = subprocess.run([*MAILGATE, "quarantine", "show", str(item["id"]), "--raw", "--config", str(polled)],
                         cwd=REPO, capture_output=True, timeout=60)
    assert raw.returncode == 0 and raw.stdout == GARBAGE  # a pipe gets the exact bytes


def test_quarantine_raw_refuses_a_terminal_but_writes_a_file_F_FAIL_1(polled, tmp_path):
    [item] = run_json(polled, "quarantine")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run([*MAILGATE, "quarantine", "show", str(item["id"]), "--raw", "--config", str(polled)],
                              cwd=REPO, stdout=follower, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 2 and b"refusing to write raw mail to a terminal" in done.stderr
    target = tmp_path / "mail.eml"
    saved = cli(polled, "quarantine", "show", str(item["id"]), "--raw", "-o", str(target))
    assert saved.returncode == 0 and target.read_bytes() == GARBAGE


# --- the same on PostgreSQL -------------------------------------------------------------


@pytest.mark.postgres
def test_operator_commands_on_postgresql_F_MB_10(tmp_path, postgres_url):
    config = _fill(tmp_path / "config", postgres_url)
    store = ("--store", postgres_url)
    assert sorted(e["key"] for e in run_json(config, "log", "--subject", "écran", *store)) == ["4.screen", "9.screen"]
    assert "duplicate of entry" in cli(config, "log", "show", "9.screen", *store).stdout
    assert run_json(config, "explain", "5.reset", *store)[0]["now"]["quick_pick"] == "Password reset"
    assert run_json(config, "status", *store)[0]["quarantine"] == 1
    jam = next(i for i in run_json(config, "outbox", *store) if i["caused_by"] == "1.jam")["id"]
    assert cli(config, "outbox", "hold", str(jam), *store).returncode == 0
    assert run_json(config, "outbox", "--status", "held", *store)[0]["id"] == jam

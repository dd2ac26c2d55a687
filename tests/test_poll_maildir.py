"""`mailgate poll` end to end on a maildir: tickets, notes, acks after commit, quarantine, replay, service behaviour.

SPEC IDs proved here: F-CFG-6, F-FAIL-1, F-FAIL-2, F-FAIL-3, F-MB-10, F-MB-9, F-PRE-6.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from engine.cli import main
from engine.config.compile import load_ruleset
from tests.polltools import (MAILGATE, REPO, cli, drop, files, maildir_box, make_mail, open_store, wait_for,
                             write_config)

GARBAGE = b"\x00\x01\x02\xff\xfe binary junk from a broken fetch \x00\x00\x89PNG\r\n\x1a\n" * 20


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request) -> str:
    """The store the poll writes to: the embedded SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None  # the config's own: sqlite:///var/mailgate.db
    return request.getfixturevalue("postgres_url")  # given as --store: a URL with a host is no YAML literal


def poll(config: Path, *extra: str) -> int:
    return main(["poll", "--once", "--config", str(config), *extra])


def one_box(tmp_path: Path, **extra) -> tuple[Path, Path]:
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help", **extra)])
    return config, config / "var" / "maildir" / "help"


def test_new_mail_reply_and_auto_reply_end_to_end_F_MB_9_F_PRE_6(tmp_path, store_url):
    store_args = ("--store", store_url) if store_url else ()
    config, box = one_box(tmp_path, after_processing={"action": "move", "folder": "Processed",
                                                                   "create_folder": True})
    drop(box, make_mail("Printer on floor 2 shows a paper jam", message_id="<first@mail.acme.test>"), "1.first")
    drop(box, make_mail("Automatic reply: Printer", sender="Rob <rob@example.com>",
                        headers={"Auto-Submitted": "auto-replied"}), "2.ooo")
    assert poll(config, *store_args) == 0
    store = open_store(config, store_url)
    try:
        [ticket] = store.tickets()
        assert ticket.subject == "Printer on floor 2 shows a paper jam"
        assert ticket.status == "open" and ticket.priority == "Normal" and ticket.source_mailbox == "help"
        assert store.user(ticket.requester_id).email == "ann.miller@acme.test"
        outcomes = {e.message_key: (e.outcome, e.reason) for e in store.processing_log(mailbox="help")}
        assert outcomes == {"1.first": ("create_ticket", "new_ticket"), "2.ooo": ("ignore", "auto_generated")}
        assert files(box) == {"new": [], "cur": []}
        assert sorted(files(box / ".Processed")["new"]) == ["1.first", "2.ooo"]

        reply = make_mail(f"Re: Printer on floor 2 shows a paper jam [Ticket#{ticket.number}]",
                          body="It works again, thanks!\n", headers={"In-Reply-To": "<first@mail.acme.test>"})
        drop(box, reply, "3.reply")
        assert poll(config, *store_args) == 0
        notes = store.notes(ticket.number)
        assert any("It works again" in n.text for n in notes)
        assert len(store.tickets()) == 1

        # F-PRE-6: the very same file comes back (a restore, a lost ack): nothing new happens.
        shutil.copy(box / ".Processed" / "new" / "1.first", box / "new" / "1.first")
        rows_before = len(store.processing_log(limit=1000))
        assert poll(config, *store_args) == 0
        assert len(store.tickets()) == 1 and len(store.processing_log(limit=1000)) == rows_before
        assert "1.first" not in files(box)["new"]  # the pending ack was completed
    finally:
        store.close()


@pytest.mark.parametrize("action", ["mark_read", "delete"])
def test_after_processing_actions_on_the_maildir_F_MB_9(tmp_path, action):
    config, box = one_box(tmp_path, after_processing={"action": action})
    drop(box, make_mail("Laptop will not boot"), "1.laptop")
    assert poll(config) == 0
    if action == "delete":
        assert files(box) == {"new": [], "cur": []}
    else:
        assert files(box) == {"new": [], "cur": ["1.laptop:2,S"]}


def test_acks_only_keys_whose_processing_committed_F_MB_9(tmp_path, monkeypatch):
    """The source acts on a key only when its processing-log row is visible to another connection."""
    from engine.sources.maildir import MaildirSource

    config, box = one_box(tmp_path, after_processing={"action": "delete"})
    for n in range(7):
        drop(box, make_mail(f"Request number {n}", sender=f"User {n} <u{n}@acme.test>"), f"{n}.mail")
    seen, real_ack = [], MaildirSource.ack

    def checking_ack(self, keys, action):
        store = open_store(config)
        try:
            seen.append([(k, store.processed("help", k) is not None) for k in keys])
        finally:
            store.close()
        return real_ack(self, keys, action)

    monkeypatch.setattr(MaildirSource, "ack", checking_ack)
    assert poll(config) == 0
    flat = [pair for batch in seen for pair in batch]
    assert len(flat) == 7 and all(committed for _, committed in flat)


def test_same_mail_in_two_mailboxes_makes_one_ticket_F_PRE_6(tmp_path):
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help"),
                                                 maildir_box("it", "it@example.com", "var/maildir/it")])
    raw = make_mail("VPN drops every hour", to="support@example.com, it@example.com", message_id="<vpn@acme.test>")
    drop(config / "var/maildir/help", raw, "1.vpn")
    drop(config / "var/maildir/it", raw, "9.vpn-copy")
    assert poll(config) == 0
    store = open_store(config)
    try:
        assert len(store.tickets()) == 1
        outcomes = sorted((e.mailbox, e.outcome, e.reason) for e in store.processing_log())
        assert outcomes[0][1] == "create_ticket" and outcomes[1][1:] == ("ignore", "duplicate")
    finally:
        store.close()


def test_broken_message_quarantined_with_raw_bytes_and_the_next_goes_on_F_FAIL_1(tmp_path, capsys):
    config, box = one_box(tmp_path)
    drop(box, GARBAGE, "1.garbage")
    drop(box, make_mail("Monitor flickers"), "2.monitor")
    assert poll(config) == 0
    store = open_store(config)
    try:
        [listed] = store.quarantined()
        item = store.quarantine_item(listed.id)
        assert item.message_key == "1.garbage" and item.raw == GARBAGE and "unreadable" in item.error
        assert [t.subject for t in store.tickets()] == ["Monitor flickers"]
    finally:
        store.close()
    capsys.readouterr()
    assert main(["quarantine", "list", "--config", str(config)]) == 0
    assert "1.garbage" in capsys.readouterr().out
    shown = subprocess.run([*MAILGATE, "quarantine", "show", str(item.id), "--raw", "--config", str(config)], cwd=REPO,
                           capture_output=True, timeout=60)
    assert shown.returncode == 0 and shown.stdout == GARBAGE


def test_failure_quarantines_and_replay_processes_it_after_the_fix_F_FAIL_1_F_FAIL_2(tmp_path, monkeypatch, capsys):
    """A bug in processing one mail quarantines it; once fixed, `mailgate replay` makes its ticket."""
    import engine.run.poll

    config, box = one_box(tmp_path)
    drop(box, make_mail("Printer needs toner"), "1.toner")
    drop(box, make_mail("Desk phone is dead", sender="Bob <bob@acme.test>"), "2.phone")
    real_evaluate = engine.run.poll.evaluate

    def buggy(message, *args, **kwargs):
        if "toner" in message.subject:
            raise KeyError("a bug in a stage")
        return real_evaluate(message, *args, **kwargs)

    monkeypatch.setattr(engine.run.poll, "evaluate", buggy)
    assert poll(config) == 0
    store = open_store(config)
    try:
        [item] = store.quarantined()
        assert item.message_key == "1.toner" and "KeyError" in item.error
        assert [t.subject for t in store.tickets()] == ["Desk phone is dead"]
        monkeypatch.setattr(engine.run.poll, "evaluate", real_evaluate)  # the fix
        capsys.readouterr()
        assert main(["replay", "--config", str(config)]) == 0
        assert "create_ticket" in capsys.readouterr().out
        assert sorted(t.subject for t in store.tickets()) == ["Desk phone is dead", "Printer needs toner"]
        assert store.quarantined() == []
        assert main(["replay", "--config", str(config)]) == 0  # nothing left: a no-op
        assert len(store.tickets()) == 2
    finally:
        store.close()


def test_log_tickets_and_quarantine_commands_say_what_happened_F_MB_10(tmp_path):
    config, box = one_box(tmp_path)
    drop(box, make_mail("Keyboard missing keys"), "1.keyboard")
    drop(box, make_mail("Out of office", headers={"Auto-Submitted": "auto-replied"}), "2.ooo")
    drop(box, GARBAGE, "3.garbage")
    done = cli(config, "poll", "--once")
    assert done.returncode == 0, done.stderr
    assert "1 create_ticket" in done.stdout and "1 ignore" in done.stdout and "1 quarantine" in done.stdout
    log = cli(config, "log", "--trace")
    lines = {line.split()[-1]: line.split() for line in log.stdout.splitlines() if not line.startswith(" ")}
    assert lines["1.keyboard"][-4:] == ["create_ticket", "new_ticket", "#1", "1.keyboard"]
    assert lines["2.ooo"][-4:-1] == ["ignore", "auto_generated", "-"]
    assert lines["3.garbage"][-4] == "quarantine"
    assert "prechecks/" in log.stdout  # --trace prints the rules that hit
    only = cli(config, "log", "--outcome", "create_ticket")
    assert "1.keyboard" in only.stdout and "2.ooo" not in only.stdout
    tickets = cli(config, "tickets")
    assert "#1" in tickets.stdout and "Keyboard missing keys" in tickets.stdout
    show = cli(config, "tickets", "show", "1")
    assert "ann.miller@acme.test" in show.stdout and "Keyboard missing keys" in show.stdout
    quarantine = cli(config, "quarantine", "list")
    assert "3.garbage" in quarantine.stdout


def test_a_failing_mailbox_backs_off_while_the_others_keep_going_F_FAIL_3(tmp_path):
    from engine.run.service import Service

    config = write_config(tmp_path / "config", [
        maildir_box("good", "support@example.com", "var/maildir/good",
                    polling={"interval_seconds": 60, "max_backoff_seconds": 600}),
        maildir_box("bad", "it@example.com", "var/maildir/bad",
                    polling={"interval_seconds": 60, "max_backoff_seconds": 600})])
    (config / "var" / "maildir").mkdir(parents=True)
    (config / "var" / "maildir" / "bad").write_text("a file where the maildir should be")
    now = [datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)]
    store = open_store(config)
    try:
        service = Service(config, load_ruleset(config), store, clock=lambda: now[0])
        waits = []
        for minute in range(0, 16):
            now[0] = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc) + timedelta(minutes=minute)
            drop(config / "var/maildir/good", make_mail(f"Request {minute}", sender=f"u{minute}@acme.test"), f"{minute}.m")
            for report in service.poll_once():
                if report.mailbox == "bad":
                    assert report.error
                    waits.append((service.schedule.due["bad"] - now[0]).total_seconds())
                else:
                    assert report.error is None
        assert waits == [60, 120, 240, 480, 600]  # polled at minutes 0, 1, 3, 7, 15: doubling up to the cap
        assert len(store.tickets()) == 16  # the good mailbox was polled every minute meanwhile
        assert service.schedule.failures["bad"] == 5
    finally:
        store.close()


def _start_service(config: Path, log=subprocess.PIPE) -> subprocess.Popen:
    """The service, its log on a pipe to read (or, if nobody reads it, DEVNULL: it logs a line per mail,
    and a full pipe would stop it)."""
    return subprocess.Popen([*MAILGATE, "poll", "--config", str(config)], cwd=REPO, text=True,
                            stdout=log, stderr=subprocess.STDOUT)


def _read_until(proc: subprocess.Popen, needle: str, timeout: float, seen: list[str]) -> bool:
    """Read the service's log lines until one contains `needle` (lines kept in `seen`)."""
    import selectors

    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not selector.select(timeout=0.2):
            continue
        line = proc.stdout.readline()
        if not line:
            return False
        seen.append(line)
        if needle in line:
            return True
    return False


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_when_broken_F_CFG_6(tmp_path):
    config, box = one_box(tmp_path, polling={"interval_seconds": 10})
    drop(box, make_mail("First mail"), "1.first")
    proc, seen = _start_service(config), []
    try:
        assert _read_until(proc, "help: 1 create_ticket", 30, seen), "".join(seen)
        settings = config / "rules" / "00-settings.yaml"
        good = settings.read_text()
        settings.write_text(good + "\nnot_a_setting: [\n")  # broken YAML
        proc.send_signal(signal.SIGHUP)
        assert _read_until(proc, "config not reloaded", 20, seen), "".join(seen)
        drop(box, make_mail("Second mail", sender="Bob <bob@acme.test>"), "2.second")
        assert _read_until(proc, "help: 1 create_ticket", 20, seen), "".join(seen)  # the old config polls on
        settings.write_text(good)
        (config / "mailboxes.d" / "extra.yaml").write_text(
            "version: 1\nmailbox:\n  name: extra\n  address: it@example.com\n  protocol: maildir\n"
            "  maildir: {path: var/maildir/extra}\n")
        drop(config / "var/maildir/extra", make_mail("Third mail", to="it@example.com"), "3.third")
        proc.send_signal(signal.SIGHUP)
        assert _read_until(proc, "config reloaded", 20, seen), "".join(seen)
        assert _read_until(proc, "extra: 1 create_ticket", 20, seen), "".join(seen)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_finishes_the_message_in_hand_and_acks_what_committed(tmp_path):
    config, box = one_box(tmp_path, after_processing={"action": "delete"},
                          polling={"interval_seconds": 60, "max_messages": 2000, "batch_size": 25})
    for n in range(600):
        drop(box, make_mail(f"Request {n}", sender=f"User {n} <u{n}@acme.test>"), f"{n:04d}.m")
    proc = _start_service(config, subprocess.DEVNULL)
    try:
        store = open_store(config)
        try:
            assert wait_for(lambda: len(store.processing_log(limit=5)) >= 3, timeout=60)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
            logged = {e.message_key for e in store.processing_log(limit=10000)}
        finally:
            store.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = set(files(box)["new"])
    assert 0 < len(logged) < 600, "the stop came too late to prove anything"
    assert logged.isdisjoint(left) and len(logged) + len(left) == 600  # every processed mail acked, no other

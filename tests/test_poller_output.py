"""What the poller tells an operator: progress, a line per mail, outbox counts, metrics, and failures in words.

Every test runs `mailgate` as a subprocess against a real maildir (and the real Dovecot
for IMAP), as an admin would, and asserts on what the admin sees.
SPEC IDs proved here: F-MB-7, F-MB-10, F-MB-12, F-OUT-5.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.polltools import MAILGATE, REPO, cli, drop, free_port, maildir_box, make_mail, wait_for, write_config

PASSWORD_ENV = "MAILGATE_TEST_UNSET_PASSWORD"


def _maildir_config(root: Path, mails: int = 6, batch_size: int = 2) -> Path:
    config = write_config(root, [maildir_box("help", "support@example.com", "var/maildir/help",
                                             polling={"interval_seconds": 60, "batch_size": batch_size})])
    box = config / "var" / "maildir" / "help"
    for i in range(mails):
        drop(box, make_mail(f"Scanner {i} is offline", sender=f"User {i} <user{i}@acme.test>"), f"{i}.mail")
    return config


def _imap_box(host: str, port: int, **extra) -> dict:
    return {"name": "remote", "address": "support@example.com", "protocol": "imap",
            "server": {"host": host, "port": port, "tls": "none", "timeout_seconds": 5},
            "auth": {"username": "help", "password": {"env": PASSWORD_ENV}, "forbid_plaintext_login": False},
            **extra}


# --- poll --once: summary, outbox counts, progress ----------------------------------------


def test_poll_once_prints_outbox_counts_and_why_nothing_was_sent_F_OUT_5(tmp_path):
    config = _maildir_config(tmp_path / "config", mails=3)
    done = cli(config, "poll", "--once")
    assert done.returncode == 0, done.stderr
    assert "help: 3 create_ticket; 3 acknowledged; outbox: 3 queued" in done.stdout
    assert ("outbox: 3 queued, 0 sent, 0 retrying, 0 failed, 0 expired (settings.smtp.send is false: "
            "mail stays queued; `mailgate outbox list` shows it)") in done.stdout
    assert "/6 mail" not in done.stderr and "mail, " not in done.stderr  # no progress into a pipe unless asked


def test_poll_progress_plain_lines_when_not_a_terminal(tmp_path):
    config = _maildir_config(tmp_path / "config", mails=5, batch_size=2)
    done = cli(config, "poll", "--once", "--progress")
    assert done.returncode == 0, done.stderr
    lines = [line.split(",")[0] for line in done.stderr.splitlines() if line.startswith("help: ")]
    assert lines == ["help: 0/5 mail", "help: 2/5 mail", "help: 4/5 mail", "help: 5/5 mail"]
    assert all(line.endswith("/s") for line in done.stderr.splitlines() if line.startswith("help: "))


def test_poll_progress_is_one_live_line_on_a_terminal(tmp_path):
    config = _maildir_config(tmp_path / "config", mails=4, batch_size=2)
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen([*MAILGATE, "poll", "--once", "--config", str(config)], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL)
        os.close(follower)
        shown = _read_all(leader, process)
    finally:
        os.close(leader)
    assert process.returncode == 0
    assert "\rhelp: 2/4 mail, " in shown and "\rhelp: 4/4 mail, " in shown
    assert "\n" not in shown.strip("\r ")  # rewritten in place, then blanked: no line of its own


def _read_all(fd: int, process: subprocess.Popen) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    process.wait(timeout=60)
    return b"".join(chunks).decode()


# --- the service: a line per mail, metrics ------------------------------------------------


def test_the_service_logs_a_line_per_mail_and_serves_metrics_F_MB_10(tmp_path):
    config = _maildir_config(tmp_path / "config", mails=3)
    drop(config / "var/maildir/help", b"\x00\x01 not a mail", "9.garbage")
    port = free_port()
    service = subprocess.Popen([*MAILGATE, "poll", "--metrics-port", str(port), "--config", str(config)], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The gauges are read from the store when the cycle ends, after the counters: wait for both.
        assert wait_for(lambda: "mailgate_outbox_messages{" in _scrape(port), timeout=90), "no metrics served"
        metrics = _scrape(port)
    finally:
        service.send_signal(signal.SIGTERM)
        _, log = service.communicate(timeout=60)
    assert service.returncode == 0, log
    assert 'mailgate_messages_total{mailbox="help",outcome="create_ticket",reason="new_ticket"} 3.0' in metrics
    assert 'mailgate_messages_total{mailbox="help",outcome="quarantine",reason="unreadable"} 1.0' in metrics
    assert 'mailgate_outbox_messages{status="pending"} 4.0' in metrics  # 3 auto-replies, 1 notice to the error user
    assert "mailgate_quarantine_messages 1.0" in metrics
    assert 'mailgate_poll_duration_seconds_count{mailbox="help"} 1.0' in metrics
    assert 'mailgate_poll_interval_seconds{mailbox="help"} 60.0' in metrics
    assert 'mailgate_last_success_timestamp_seconds{mailbox="help"}' in metrics
    for stage in ("fetch", "parse", "evaluate", "apply"):
        assert f'mailgate_stage_seconds_total{{mailbox="help",stage="{stage}"}}' in metrics
    lines = [line for line in log.splitlines() if "mailgate.poll:" in line]
    assert any("help 0.mail from user0@acme.test 'Scanner 0 is offline': create_ticket (new_ticket), ticket #"
               in line and "1 mail queued" in line for line in lines), log
    assert any("help 9.garbage" in line and "quarantine (unreadable)" in line for line in lines), log
    assert len(lines) == 4


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return answer.read().decode()
    except OSError:
        return ""


def test_poll_once_writes_a_metrics_file_and_refuses_a_port(tmp_path):
    config = _maildir_config(tmp_path / "config", mails=2)
    target = tmp_path / "mailgate.prom"
    assert cli(config, "poll", "--once", "--metrics-file", str(target)).returncode == 0
    text = target.read_text()
    assert 'mailgate_messages_total{mailbox="help",outcome="create_ticket",reason="new_ticket"} 2.0' in text
    assert "_created" not in text
    refused = cli(config, "poll", "--once", "--metrics-port", str(free_port()))
    assert refused.returncode == 2 and "with --once use --metrics-file" in refused.stderr


# --- failures said in words ---------------------------------------------------------------


def test_test_connection_says_dns_and_tcp_failures_in_words_once_F_MB_7(tmp_path):
    port = free_port()  # nothing listens there
    config = write_config(tmp_path / "config", [_imap_box("imap.acme.invalid", 143),
                                                {**_imap_box("127.0.0.1", port), "name": "local", "address": "local@example.com"}])
    env = {PASSWORD_ENV: "secret-for-the-test"}
    unknown = cli(config, "test-connection", "remote", env=env)
    assert unknown.returncode == 1
    assert unknown.stdout.splitlines() == [
        "remote: FAILED — cannot resolve host imap.acme.invalid",
        "    hint: check the host name for typos, and that this machine's DNS can resolve it"]
    refused = cli(config, "test-connection", "local", env=env)
    assert refused.returncode == 1
    assert refused.stdout.splitlines()[0] == f"local: FAILED — 127.0.0.1 refused the connection on port {port}"
    assert "Errno" not in unknown.stdout + refused.stdout


def test_validate_connect_ends_with_failed_when_a_mailbox_is_unreachable_F_MB_12(tmp_path):
    config = write_config(tmp_path / "config", [_imap_box("imap.acme.invalid", 143)])
    done = cli(config, "validate", "--connect", env={PASSWORD_ENV: "secret-for-the-test"})
    assert done.returncode == 1
    assert done.stdout.splitlines()[-1] == "FAILED: 1 of 1 mailbox(es) could not be reached (remote); see above"
    assert done.stdout.count("cannot resolve host imap.acme.invalid") == 1


def test_poll_says_a_mailbox_whose_secret_is_unset_was_not_reached(tmp_path):
    config = write_config(tmp_path / "config", [_imap_box("127.0.0.1", free_port())])
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    done = subprocess.run([*MAILGATE, "poll", "--once", "--config", str(config)], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 1
    [line] = [line for line in done.stdout.splitlines() if line.startswith("remote:")]
    assert line.startswith("remote: not reached, nothing fetched: ") and PASSWORD_ENV in line
    assert "no new mail" not in done.stdout


def test_poll_and_test_connection_speak_json_too_F_MB_7(tmp_path):
    config = _maildir_config(tmp_path / "config", mails=2)
    done = cli(config, "poll", "--once", "--format", "json")
    assert done.returncode == 0, done.stderr
    box, outbox = map(json.loads, done.stdout.splitlines())
    assert (box["mailbox"], box["reached"], box["outcomes"], box["acknowledged"]) == ("help", True, {"create_ticket": 2}, 2)
    assert box["reasons"] == [{"outcome": "create_ticket", "reason": "new_ticket", "mails": 2}]
    assert outbox == {"outbox": {"queued": 2, "sent": 0, "retrying": 0, "failed": 0, "expired": 0}, "sending": False}
    [report] = map(json.loads, cli(config, "test-connection", "--format", "json").stdout.splitlines())
    assert report["mailbox"] == "help" and report["ok"] and report["message_count"] == 2
    unknown = write_config(tmp_path / "other", [_imap_box("imap.acme.invalid", 143)])
    failed = cli(unknown, "test-connection", "--format", "json", env={PASSWORD_ENV: "secret-for-the-test"})
    assert failed.returncode == 1
    [report] = map(json.loads, failed.stdout.splitlines())
    assert not report["ok"] and report["error"] == "cannot resolve host imap.acme.invalid"

"""`mailgate inspect`: text for people, JSON Lines with the documented `message` shape.

SPEC IDs proved here: F-FAIL-1, F-REF-9.
"""

from __future__ import annotations

import argparse
import json

import pytest

from engine.commands import inspect
from engine.parse import parse
from engine.parse.message_json import message_to_json

MAIL = (
    "From: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>\r\n"
    "To: Help <help@example.org>, second@example.org\r\n"
    "Cc: boss@example.org\r\n"
    "Reply-To: replies@example.com\r\n"
    "Subject: =?utf-8?q?Drucker_kaputt?=\r\n"
    "Date: Tue, 02 Jan 2024 10:00:00 +0100\r\n"
    "Message-ID: <m1@example.com>\r\n"
    "In-Reply-To: <t1@helpdesk.example.org>\r\n"
    "References: <t0@helpdesk.example.org> <t1@helpdesk.example.org>\r\n"
    "Content-Type: multipart/mixed; boundary=B\r\n\r\n"
    "--B\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nIt is broken.\r\n"
    "--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=log.pdf\r\n\r\n%PDF\r\n"
    "--B--\r\n"
).encode()


def run(argv: list[str], capsys) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    inspect.add_arguments(parser)
    status = inspect.run(parser.parse_args(argv))
    return status, capsys.readouterr().out


def test_inspect_is_registered_in_the_cli():
    from engine import cli

    assert cli.COMMANDS["inspect"]
    assert callable(inspect.run) and callable(inspect.add_arguments)


def test_json_lines_hold_the_documented_message_shape(tmp_path, capsys):
    path = tmp_path / "mail.eml"
    path.write_bytes(MAIL)
    status, out = run([str(path), "--format", "json"], capsys)
    (line,) = out.splitlines()
    record = json.loads(line)
    assert status == 0
    assert record["file"] == str(path)
    message = record["message"]
    for key in ("message_id", "from", "reply_to", "to", "cc", "subject", "date", "in_reply_to",
                "references", "auto_generated", "bounce", "text", "html", "attachments", "defects"):
        assert key in message, key
    assert message["message_id"] == "m1@example.com"
    assert message["from"] == {"address": "joerg@example.com", "name": "Jörg"}
    assert message["to"] == [{"address": "help@example.org", "name": "Help"},
                             {"address": "second@example.org", "name": ""}]
    assert message["cc"] == [{"address": "boss@example.org", "name": ""}]
    assert message["reply_to"] == [{"address": "replies@example.com", "name": ""}]
    assert message["subject"] == "Drucker kaputt"
    assert message["date"] == "2024-01-02T10:00:00+01:00"
    assert message["in_reply_to"] == "t1@helpdesk.example.org"
    assert message["references"] == ["t0@helpdesk.example.org", "t1@helpdesk.example.org"]
    assert message["auto_generated"] == {"value": False, "reasons": [], "kind": None}
    assert message["bounce"] is None
    assert message["text"].strip() == "It is broken."
    assert message["html"] is None
    (attachment,) = message["attachments"]
    assert set(attachment) == {"filename", "content_type", "size", "sha256", "inline", "content_id"}
    assert attachment["filename"] == "log.pdf" and attachment["size"] == 4


def test_message_to_json_is_serialisable_for_bounces_F_REF_9():
    dsn = (
        b"From: MAILER-DAEMON@mx.example.com\r\nReturn-Path: <>\r\nSubject: failure\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=D\r\n\r\n"
        b"--D\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        b"--D\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        b"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--D--\r\n"
    )
    data = message_to_json(parse(dsn))
    json.dumps(data)
    assert data["auto_generated"]["value"] is True
    assert data["bounce"]["recipients"][0]["address"] == "gone@example.net"
    assert set(data["bounce"]["recipients"][0]) == {"address", "permanent", "status", "diagnostic"}
    assert "original_message_id" in data["bounce"]


def test_text_format_is_for_people(tmp_path, capsys):
    path = tmp_path / "mail.eml"
    path.write_bytes(MAIL)
    status, out = run([str(path)], capsys)
    assert status == 0
    assert "From:        Jörg <joerg@example.com>" in out
    assert "Subject:     Drucker kaputt" in out
    assert "Attachment:  log.pdf (application/pdf, 4 bytes)" in out
    assert "It is broken." in out


def test_every_mail_of_an_mbox_is_shown(tmp_path, capsys):
    path = tmp_path / "box.mbox"
    path.write_bytes(b"From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nx\n\n"
                     b"From a@b Mon Jan  1 00:00:00 2024\nSubject: two\n\ny\n")
    _, out = run([str(path), "--format", "json"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["file"], r["message"]["subject"]) for r in records] == [
        (f"{path}#1", "one"), (f"{path}#2", "two")]


def test_unreadable_or_missing_files_exit_1_but_the_rest_is_shown_F_FAIL_1(tmp_path, capsys):
    good = tmp_path / "good.eml"
    good.write_bytes(MAIL)
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    status, out = run([str(tmp_path / "missing.eml"), str(empty), str(good), "--format", "json"], capsys)
    records = [json.loads(line) for line in out.splitlines()]
    assert status == 1
    assert [r["message"]["unreadable"] for r in records] == ["empty message", None]


@pytest.mark.corpus
def test_inspect_reads_the_mime4j_corpus_without_error(corpus, capsys):
    files = sorted(str(p) for p in (corpus / "mime4j").glob("*/*.msg"))
    status, out = run(files + ["--format", "json"], capsys)
    assert status == 0
    assert len(out.splitlines()) == 80


def test_help_and_version_import_no_command_module():
    """`mailgate --help` lists every command without importing any (start-up stays fast)."""
    import subprocess
    import sys

    code = ("import sys, engine.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith(('engine.commands.', 'sqlalchemy', 'jinja2'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "validate" in out and "dry-run" in out
    assert out.strip().splitlines()[-1] == "[]"
    version = subprocess.run([sys.executable, "-m", "engine.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("mailgate ")


# --- output that survives other line splitters and odd charsets (issues 11 and 16) ---------------

ODD = (
    "From: =?utf-8?q?Kim=E2=80=A8Lee?= <kim@example.com>\r\n"
    "Subject: =?utf-8?q?one=E2=80=A8two=E2=80=A9three=C2=85four?=\r\n"
    "Content-Type: text/plain; charset=unicode_escape\r\n\r\n"
    "line \\ud800 one\xe2\x80\xa8line two\r\n"
).encode("latin-1")


def test_json_lines_escape_unicode_line_separators_and_never_hold_surrogates_F_BODY_4(tmp_path, capsys):
    path = tmp_path / "odd.eml"
    path.write_bytes(ODD)
    status, out = run([str(path), "--format", "json"], capsys)
    assert status == 0
    for char in ("\u2028", "\u2029", "\u0085"):
        assert char not in out
    (line,) = out.splitlines()  # str.splitlines() splits on all three
    message = json.loads(line)["message"]
    assert message["subject"] == "one two three four"  # header values hold no line separators
    assert "\u2028" in message["text"]
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in line)


def test_text_and_json_output_survive_a_message_with_lone_surrogates(capsys):
    import dataclasses

    message = dataclasses.replace(parse(MAIL), subject="bad \udc80 byte", text="and \ud800 here")
    inspect._print("x.eml", message, "json")
    inspect._print("x.eml", message, "text")
    out = capsys.readouterr().out
    record = json.loads(out.splitlines()[0])
    assert record["message"]["subject"] == "bad \udc80 byte"  # escaped, so nothing is lost
    assert "bad \ufffd byte" in out


def test_dry_run_json_is_json_lines_with_the_same_escaping(tmp_path, capsys):
    from pathlib import Path

    from engine.cli import main

    path = tmp_path / "odd.eml"
    path.write_bytes(ODD)
    repo = Path(__file__).resolve().parents[1]
    assert main(["dry-run", str(path), "--config", str(repo), "--format", "json"]) == 0
    out = capsys.readouterr().out
    (line,) = out.splitlines()
    assert "\u2028" in json.loads(line)["message"]["text"]


def test_config_may_come_before_or_after_the_command(tmp_path):
    import subprocess
    import sys

    from tests.conftest import REPO

    for argv in (["--config", str(REPO), "validate"], ["validate", "--config", str(REPO)]):
        done = subprocess.run([sys.executable, "-m", "engine.cli", *argv], cwd=tmp_path, capture_output=True, text=True,
                              env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"})
        assert done.returncode == 0 and done.stdout.startswith("OK:"), (argv, done.stdout, done.stderr)

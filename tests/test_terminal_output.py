"""Text from mail is shown on the terminal, never obeyed: every command's output escapes control characters (issue 16).

SPEC IDs proved here: F-MB-10 (the log and tickets read from the CLI).
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.commands.terminal import escape
from tests.polltools import cli, drop, maildir_box, write_config

# A screen clear, an OSC 52 clipboard write, a terminal hyperlink, a one-byte CSI, a bidi override.
HOSTILE = ("\x1b[2J", "\x1b]52;c;ZXZpbA==\x07", "\x1b]8;;https://evil.test\x07click\x1b]8;;\x07", "\x9b31m", "\u202egpj.exe")
RAW = ("\x1b", "\x07", "\x9b", "\u202e")


def hostile_mail() -> bytes:
    body = "The printer is offline.\n" + "\n".join(HOSTILE) + "\n"
    return ("From: Ann <ann@acme.test>\r\nTo: support@example.com\r\n"
            "Subject: =?utf-8?q?Printer_=E2=80=AEgpj.exe?=\r\nMessage-ID: <hostile@acme.test>\r\n"
            "Date: Mon, 12 Jan 2026 09:00:00 +0100\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" + body.replace("\n", "\r\n")).encode()


def test_no_command_writes_a_control_character_from_mail_F_MB_10(tmp_path):
    """Issue 16: `tickets show` printed a mail's screen clear, OSC 52 and hyperlinks as they were."""
    config = write_config(tmp_path / "config", [maildir_box("help", "support@example.com", "var/maildir/help")])
    box = config / "var" / "maildir" / "help"
    drop(box, hostile_mail(), "1.hostile")
    eml = tmp_path / "hostile.eml"
    eml.write_bytes(hostile_mail())
    assert cli(config, "poll", "--once").returncode == 0
    outputs = {}
    for command in (("tickets",), ("tickets", "show", "1"), ("log",), ("dry-run", str(eml)), ("inspect", str(eml)),
                    ("dry-run", "--format", "json", str(eml)), ("inspect", "--format", "json", str(eml))):
        run = cli(config, *command)
        assert run.returncode == 0, run.stderr
        outputs[command] = run.stdout + run.stderr
        assert not [c for c in RAW if c in outputs[command]], command
    shown = outputs[("tickets", "show", "1")]
    assert "\\u001b[2J" in shown and "\\u001b]52;c;ZXZpbA==\\u0007" in shown and "\\u202egpj.exe" in shown
    # JSON stays JSON, and reads back as the mail's own characters.
    record = json.loads(outputs[("inspect", "--format", "json", str(eml))].splitlines()[0])
    assert "\u202e" in record["message"]["subject"] and "\x1b[2J" in record["message"]["text"]


def test_escape_keeps_text_tabs_and_newlines():
    assert escape("Grüße\tnach\r\nΑθήνα\n") == "Grüße\tnach\nΑθήνα\n"
    assert escape("a\x1bb\x85c\u2028d") == "a\\u001bb\\u0085c\\u2028d"

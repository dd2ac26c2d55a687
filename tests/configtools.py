"""A small config directory for tests that compile variants: one maildir mailbox plus the rules given."""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAILBOX = """version: 1
mailbox:
  name: mb
  address: help@example.org
  protocol: maildir
  maildir: {path: maildir}
  outgoing:
    auto_reply: false
    error_notices: false
    closed_ticket_replies: false
"""


def small_config(tmp_path: Path, rules: dict[str, str], mailbox: str = MAILBOX) -> Path:
    """`tmp_path` holding mailboxes.d/mb.yaml (`mailbox`) and rules/: a base file plus `rules` (name -> text)."""
    shutil.copytree(REPO / "tests" / "config_cases" / "unknown-key-typo" / "rules", tmp_path / "rules")
    (tmp_path / "mailboxes.d").mkdir()
    (tmp_path / "mailboxes.d" / "mb.yaml").write_text(mailbox)
    for name, text in rules.items():
        (tmp_path / "rules" / name).write_text(text)
    return tmp_path

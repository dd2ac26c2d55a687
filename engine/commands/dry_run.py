"""`mailgate dry-run FILE…`: the decision and trace for each mail, changing nothing anywhere."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from pathlib import Path

from engine.commands.jsonlines import dumps_line
from engine.commands.runtime import config_dir
from engine.config.compile import load_ruleset
from engine.decision import Decision
from engine.errors import UsageError
from engine.evaluate import evaluate
from engine.commands.golden import default_mailbox
from engine.parse.inputs import read_messages
from engine.store.memory_state import from_ruleset, load_fixture
from engine.parse import parse
from engine.parse.mime.charset import no_surrogates
from engine.parse.message_json import message_to_json
from engine.commands.moments import parse_moment



def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("files", nargs="+", metavar="FILE", help=".eml / raw RFC 822, Outlook .msg or mbox")
    parser.add_argument("--mailbox", help="mailbox that receives the mail (default: the first active one)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--state", metavar="DB", help="read users and tickets from this store (URL or SQLite file)")
    source.add_argument("--directory", metavar="FILE.yaml", help="users, organisations, groups and tickets fixture")
    parser.add_argument("--now", help="evaluate as of this ISO 8601 time (default: now)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people; json prints one JSON object per line (JSON Lines)")


def run(args: argparse.Namespace) -> int:
    """Evaluate every mail of every file and print the decisions."""
    ruleset = load_ruleset(Path(config_dir(args)))
    mailbox = args.mailbox or default_mailbox(ruleset)
    try:
        ruleset.mailbox(mailbox)
    except KeyError:
        raise UsageError(f"no mailbox named {mailbox!r}") from None
    now = _now(args.now)
    state = _state(args, ruleset, now)
    if args.format == "text":
        print(f"state: {state.description}; mailbox: {mailbox}; now: {now.isoformat()}\n")
    keep_images = ruleset.mailbox(mailbox).policy.body.keep_remote_images
    for path in args.files:
        for label, raw in read_messages(path):
            message = parse(raw, keep_remote_images=keep_images)
            decision = evaluate(message, ruleset, state, now, mailbox)
            _print(label, message, decision, args.format, state.description)
    return 0


def _now(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc).replace(microsecond=0)
    return parse_moment(text, "--now")


def _state(args, ruleset, now):
    if args.directory:
        return load_fixture(Path(args.directory), ruleset, now)
    if args.state:
        from engine.store.state_view import open_state_view  # only dry-runs against a store need SQLAlchemy

        return open_state_view(args.state, ruleset)
    return from_ruleset(ruleset)


def _print(label: str, message, decision: Decision, fmt: str, state_description: str) -> None:
    if fmt == "json":
        print(dumps_line({"file": label, "state": state_description, "message": message_to_json(message),
                          "decision": decision.as_json()}, sort_keys=True))
        return
    print(no_surrogates(format_text(label, message, decision)))


def format_text(label: str, message, decision: Decision) -> str:
    """Outcome first, then why, then the outgoing mails."""
    ticket = decision.ticket
    where = f" ticket {ticket.number}{' (new)' if ticket.new else ''}" if ticket else ""
    lines = [f"== {label}", f"{decision.outcome.value.upper()}{where}: {decision.reason}",
             f"   from {decision.sender or '?'}  subject {message.subject!r}"]
    if ticket and ticket.new:
        fields = [f"{k}={v}" for k, v in (("type", ticket.type), ("subtype", ticket.subtype), ("quick pick", ticket.quick_pick),
                  ("priority", ticket.priority), ("assignee", ticket.assignee_user or ticket.assignee_group)) if v]
        lines.append("   " + ", ".join(fields))
    lines.append("why:")
    lines += [f"   {'HIT ' if s.hit else '    '}{s.stage}/{s.rule}: {s.detail}" + (f"  [{s.origin}]" if s.origin else "")
              for s in decision.trace]
    for mail in decision.outgoing:
        lines += [f"sends {mail.role} to {mail.to}: {mail.subject}"]
    return "\n".join(lines) + "\n"

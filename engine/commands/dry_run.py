"""`mailgate dry-run FILE…`: the decision and trace for each mail, changing nothing anywhere."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from engine.commands.jsonlines import dumps_line
from engine.commands.runtime import config_dir
from engine.commands.samples import Evaluated, add_sample_options, evaluate_samples, read_samples, sample_settings
from engine.config.compile import load_ruleset
from engine.decision import Decision
from engine.parse.mime.charset import no_surrogates
from engine.parse.message_json import message_to_json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help=".eml / raw RFC 822, Outlook .msg or mbox; or a golden case (NAME.expected.yaml), "
                             "run with the case's own mailbox, fixture, options and time")
    add_sample_options(parser)
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people; json prints one JSON object per line (JSON Lines)")


def run(args: argparse.Namespace) -> int:
    """Evaluate every mail of every file and print the decisions."""
    ruleset = load_ruleset(Path(config_dir(args)))
    settings = sample_settings(args)
    views: list = []  # the state the samples are evaluated against, kept to name what a duplicate repeats
    make_state = settings.state
    settings = dataclasses.replace(settings, state=lambda r, at: views.append(make_state(r, at)) or views[-1])
    for found in evaluate_samples(read_samples(args.files), ruleset, settings):
        _print(found, args.format, _first_copy(found, views))
    return 0


def _first_copy(found: Evaluated, views: list):
    """For a duplicate evaluated against a store: the log entry of the copy processed before."""
    if found.decision.reason != "duplicate" or not views or not hasattr(views[0], "first_copy_entry"):
        return None
    return views[0].first_copy_entry(found.decision.duplicate_key)


def _print(found: Evaluated, fmt: str, first=None) -> None:
    if fmt == "json":
        print(dumps_line({"file": found.label, "state": found.state, "now": found.now.isoformat(),
                          "route": {"mailbox": found.route.mailbox, "why": found.route.why},
                          "message": message_to_json(found.message), "decision": found.decision.as_json(),
                          "already_processed": first and _first_json(first)}, sort_keys=True))
        return
    print(no_surrogates(format_text(found.label, found.message, found.decision,
                                    f"mailbox {found.route.mailbox} ({found.route.why}); state: {found.state}; "
                                    f"now: {found.now.isoformat()}")), end="")
    if first is not None:
        print(no_surrogates(_already(first)))
    print()


def _first_json(entry) -> dict:
    return {"id": entry.id, "mailbox": entry.mailbox, "key": entry.message_key, "at": entry.created_at.isoformat(),
            "outcome": entry.outcome, "reason": entry.reason, "ticket": entry.ticket_number}


def _already(entry) -> str:
    """Where a duplicate's first copy went, and the commands that tell more."""
    ticket = f", ticket #{entry.ticket_number}" if entry.ticket_number else ""
    return (f"already processed: entry {entry.id}, {entry.mailbox} / {entry.message_key} at "
            f"{entry.created_at:%Y-%m-%d %H:%M:%S} UTC: {entry.outcome} ({entry.reason}){ticket}\n"
            f"   `mailgate log show {entry.message_key}` shows what was done; "
            f"`mailgate explain {entry.message_key}` decides it again under today's config, that entry left out")


def format_text(label: str, message, decision: Decision, context: str = "") -> str:
    """Outcome first, then why, then the outgoing mails."""
    ticket = decision.ticket
    where = f" ticket {ticket.number}{' (new)' if ticket.new else ''}" if ticket else ""
    lines = [f"== {label}"] + ([f"   {context}"] if context else []) + [
        f"{decision.outcome.value.upper()}{where}: {decision.reason}",
        f"   from {decision.sender or '?'}  subject {message.subject!r}"]
    if ticket and ticket.new:
        fields = [f"{k}={v}" for k, v in (("type", ticket.type), ("subtype", ticket.subtype), ("quick pick", ticket.quick_pick),
                  ("priority", ticket.priority), ("assignee", ticket.assignee_user or ticket.assignee_group)) if v]
        lines.append("   " + ", ".join(fields))
    lines.append("why:")
    lines += [f"   {'HIT ' if s.hit else '    '}{s.stage}/{s.rule}: {s.detail}" + (f"  [{s.origin}]" if s.origin else "")
              for s in decision.trace]
    for mail in decision.outgoing:
        kept = f" (kept as {mail.status}: {mail.status_reason})" if mail.status != "pending" else ""
        lines += [f"{'queues' if kept else 'sends'} {mail.role} to {mail.to}: {mail.subject}{kept}"]
    return "\n".join(lines) + "\n"

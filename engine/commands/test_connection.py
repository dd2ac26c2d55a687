"""`mailgate test-connection [NAME]`: connect, log in, open the folder, count (F-MB-7)."""

from __future__ import annotations

import dataclasses

from engine.errors import SecretError
from engine.errors import MailgateError, UsageError
from engine.commands.runtime import load
from engine.sources.base import ConnectionReport
from engine.sources.registry import build_source



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("name", nargs="?", help="mailbox name (default: every active mailbox)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people; json prints one object per mailbox (JSON Lines)")


def run(args) -> int:
    """Print one report per mailbox; exit 1 if any failed."""
    ruleset = load(args)
    show = print_report if args.format == "text" else print_report_json
    return 0 if all(report.ok for report in check_connections(ruleset, args.name, show)) else 1


def check_connections(ruleset, name=None, show=lambda name, report: None):
    """Test the named mailbox or every active one, yielding ConnectionReports."""
    mailboxes = [m for m in ruleset.mailboxes if (m.name == name if name else m.active)]
    if name and not mailboxes:
        raise UsageError(f"no mailbox named {name!r}")
    for mailbox in mailboxes:
        try:
            source = build_source(mailbox, ruleset.config_dir)
            report = _with_token_health(source, source.test_connection())
        except SecretError as err:
            report = ConnectionReport(False, mailbox.protocol, mailbox.name, error=str(err),
                                      hint="set the secret the mailbox names, then try again")
        show(mailbox.name, report)
        yield report


def _with_token_health(source, report: ConnectionReport) -> ConnectionReport:
    """IMAP/POP3 with OAuth: how long the token (and, where known, the secret) stays valid."""
    provider = getattr(source, "token_provider", None)
    if provider is None or not hasattr(provider, "health"):
        return report
    try:
        health = provider.health()
    except MailgateError as err:
        health = {"token": f"unavailable: {err}"}
    return dataclasses.replace(report, extra={**report.extra, **health})


def print_report_json(name: str, report: ConnectionReport) -> None:
    """One JSON object: the mailbox's name and every field of the report."""
    from engine.commands.output import print_json

    print_json({"mailbox": name, **dataclasses.asdict(report)})


def print_report(name: str, report: ConnectionReport) -> None:
    """Readable lines: OK with counts, or the server's own words and a hint."""
    if report.ok:
        counts = f"{report.message_count} message(s)" + (f", {report.unread_count} unread" if report.unread_count is not None else "")
        mech = f", auth {report.auth_mechanism}" if report.auth_mechanism else ""
        print(f"{name}: OK — {report.protocol} {report.server} {report.folder} ({report.tls or 'no TLS'}{mech}): {counts}")
        for key, value in sorted(report.extra.items()):
            print(f"    {key}: {value}")
        return
    print(f"{name}: FAILED — {report.error}")
    if report.server_text:
        print(f"    server said: {report.server_text}")
    if report.hint:
        print(f"    hint: {report.hint}")

"""The `mailgate` command line: one sub-command per module in engine/commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine import __version__
from engine.errors import MailgateError, UsageError

# Explicit registry: adding a command is one line here plus its module in engine/commands.
# Only the command that runs is imported, so `mailgate --help` and `validate` start fast.
COMMANDS = {
    "validate": "check every mailbox and rules file against the schemas and semantically",
    "schema": "print the JSON Schema of mailbox or rules files",
    "inspect": "show what mailgate reads in .eml/.msg/mbox files (headers, bodies, attachments, auto-reply/bounce)",
    "dry-run": "show what mailgate would do with .eml/.msg/mbox files, and why, without changing anything",
    "test": "run golden cases (NAME.eml + NAME.expected.yaml) against the config",
    "diff": "show which sample mails a config change decides differently than a git revision, and why",
    "poll": "fetch mail from every active mailbox and turn it into tickets (--once, or until stopped)",
    "test-connection": "check that each mailbox (or the one named) can be reached and logged into",
    "test-smtp": "send a test mail through settings.smtp, from a configured mailbox address",
    "tickets": "list tickets (by status, requester, mailbox), or show one with every field, its notes and attachments",
    "log": "search the processing log (who, what, outcome, why), or show one message's whole story",
    "explain": "evaluate an already-processed mail again with the current config and state, and compare field by field",
    "outbox": "list, show, hold, release, retry or purge outgoing mail waiting in the outbox",
    "status": "show how each mailbox is doing (last poll, errors, back-off, lease, today's mail) and the outbox depth",
    "quarantine": "list quarantined messages, or show one (headers, size, error, hint); --raw writes its bytes",
    "replay": "re-process quarantined messages (all of them, or the ids given)",
    "directory": "import users, organisations and groups into the store (YAML or CSV)",
}


CONFIG_HELP = "configuration directory (default: $MAILGATE_CONFIG or the current directory)"


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: a --config given before the command name is not reset by the sub-command's default
    common.add_argument("--config", metavar="DIR", default=argparse.SUPPRESS, help=CONFIG_HELP)
    return common


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser with every sub-command listed; only `chosen` gets its module's arguments."""
    parser = argparse.ArgumentParser(
        prog="mailgate", description="Turn incoming email into helpdesk tickets; mailboxes and rules are config as code.")
    parser.add_argument("--version", action="version", version=f"mailgate {__version__}")
    parser.add_argument("--config", metavar="DIR", default=None, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    for name, summary in COMMANDS.items():
        command = sub.add_parser(name, help=summary, description=summary, parents=[common])
        if name == chosen:
            module = importlib.import_module(f"engine.commands.{name.replace('-', '_')}")
            module.add_arguments(command)
            command.set_defaults(run=module.run)
    return parser


def _chosen(argv: list[str]) -> str | None:
    """The sub-command named on the command line: the first word that is neither an option nor --config's value."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_chosen(argv))
    args = parser.parse_args(argv)
    from engine.commands.terminal import safe_terminal  # here, not at the top: --help imports no command module

    with safe_terminal():  # every command's output, log line and error: mail text is shown, never obeyed
        return _run(args)


def _run(args) -> int:
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # e.g. `mailgate log | head`: the reader has gone, that is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except UsageError as err:
        print(f"mailgate {args.command}: {err}", file=sys.stderr)
        return 2
    except MailgateError as err:
        print(f"mailgate {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

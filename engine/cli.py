"""The `mailgate` command line: one sub-command per module in engine/commands."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from engine.errors import MailgateError, UsageError

# Explicit registry: adding a command is one line here plus its module.
COMMANDS = (
    "validate",
    "schema",
    "inspect",
    "dry-run",
    "test",
    "poll",
    "test-connection",
    "test-smtp",
    "tickets",
    "log",
    "quarantine",
    "replay",
    "directory",
)


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="DIR",
        default=None,
        help="configuration directory (default: $MAILGATE_CONFIG or the current directory)",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """Return the parser with every registered sub-command attached."""
    parser = argparse.ArgumentParser(
        prog="mailgate", description="Turn incoming email into helpdesk tickets; mailboxes and rules are config as code.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _common_options()
    for name in COMMANDS:
        module = importlib.import_module(f"engine.commands.{name.replace('-', '_')}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP, parents=[common])
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def config_dir(args: argparse.Namespace) -> str:
    """The configuration directory chosen by --config, $MAILGATE_CONFIG or the cwd."""
    return args.config or os.environ.get("MAILGATE_CONFIG") or os.getcwd()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
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

"""`mailgate validate [DIR]`: the CI gate for mailboxes and rules (F-CFG-2)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.cli import config_dir
from engine.config.compile import compile_files
from engine.config.validate import check
from engine.errors import UsageError

HELP = "check every mailbox and rules file against the schemas and semantically"


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("directory", nargs="?", metavar="CONFIG_DIR",
                        help="configuration directory (overrides --config)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json prints one object fit for CI annotations")


def run(args) -> int:
    """Print every problem; exit 1 when there is any, 0 when the config is clean."""
    directory = Path(args.directory or config_dir(args))
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    files, problems = check(directory)
    if not problems:
        compile_files(files, directory.resolve())  # proves the config compiles, as the poller will
    if args.format == "json":
        print(json.dumps({"ok": not problems, "files": [f.label for f in files],
                          "problems": [p.as_json() for p in problems]}, indent=2))
    else:
        for problem in problems:
            print(problem)
        counts = f"{sum(f.kind == 'mailbox' for f in files)} mailbox file(s), {sum(f.kind == 'rules' for f in files)} rules file(s)"
        print(f"{len(problems)} problem(s) found" if problems else f"OK: {counts} valid")
    return 1 if problems else 0

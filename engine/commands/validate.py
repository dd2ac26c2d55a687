"""`mailgate validate [DIR]`: the CI gate for mailboxes and rules (F-CFG-2)."""

from __future__ import annotations

import json
from pathlib import Path

from engine.commands.runtime import config_dir
from engine.config.compile import compile_files
from engine.config.validate import check
from engine.errors import UsageError



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("directory", nargs="?", metavar="CONFIG_DIR",
                        help="configuration directory (overrides --config)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json prints one object fit for CI annotations")
    parser.add_argument("--connect", action="store_true",
                        help="also log in to every active mailbox, as saving a mailbox does (F-MB-12)")


def run(args) -> int:
    """Print every problem; exit 1 when there is any, 0 when the config is clean."""
    directory = Path(args.directory or config_dir(args))
    if not directory.is_dir():
        raise UsageError(f"{directory} is not a directory")
    files, problems = check(directory)
    connections = []
    if not problems:
        ruleset = compile_files(files, directory.resolve())  # proves the config compiles, as the poller will
        if args.connect:
            from engine.commands.test_connection import check_connections, print_report

            show = print_report if args.format == "text" else (lambda name, report: None)
            connections = [(m.name, r) for m, r in zip([m for m in ruleset.mailboxes if m.active],
                                                        check_connections(ruleset, None, show))]
    if args.format == "json":
        print(json.dumps({"ok": not problems and all(r.ok for _, r in connections), "files": [f.label for f in files],
                          "problems": [p.as_json() for p in problems],
                          "connections": [{"mailbox": n, "ok": r.ok, "error": r.error, "server_text": r.server_text}
                                          for n, r in connections]}, indent=2))
    else:
        for problem in problems:
            print(problem)
        counts = f"{sum(f.kind == 'mailbox' for f in files)} mailbox file(s), {sum(f.kind == 'rules' for f in files)} rules file(s)"
        print(f"{len(problems)} problem(s) found" if problems else f"OK: {counts} valid")
    return 1 if problems or not all(r.ok for _, r in connections) else 0

"""`mailgate validate [DIR | FILE…]`: the CI gate for mailboxes and rules; files are checked within their config."""

from __future__ import annotations

import json
from pathlib import Path

from engine.commands.runtime import config_dir
from engine.config.compile import compile_files
from engine.config.problems import Problem
from engine.config.validate import check
from engine.config.warnings import config_warnings
from engine.errors import UsageError

CASE_SUFFIX = ".expected.yaml"


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("paths", nargs="*", metavar="DIR|FILE",
                        help="the configuration directory (overrides --config), or files of it to check "
                             "within it (mailboxes, rules, templates, golden cases)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="json prints one object fit for CI annotations")
    parser.add_argument("--connect", action="store_true",
                        help="also log in to every active mailbox, as saving a mailbox does")
    parser.add_argument("--strict", action="store_true",
                        help="warnings (rules that can never fire, unused references…) fail too")


def run(args) -> int:
    """Print every problem; exit 1 on an error (or, with --strict, a warning), 0 otherwise."""
    directory, files = _targets(args)
    loaded, problems = check(directory)
    connections = []
    if not any(not p.warning for p in problems):
        ruleset = compile_files(loaded, directory.resolve())  # proves the config compiles, as the poller will
        problems = sorted(problems + config_warnings(loaded, ruleset))
        if args.connect:
            connections = _connect(ruleset, args.format)
    elsewhere = 0
    if files is not None:
        mine = [p for p in problems if (directory / p.file).resolve() in files]
        elsewhere, problems = len(problems) - len(mine), mine + _case_problems(files)
    failed = any(not p.warning or args.strict for p in problems) or not all(r.ok for _, r in connections)
    if args.format == "json":
        print(json.dumps({"ok": not failed, "files": [f.label for f in loaded], "problems": [p.as_json() for p in problems],
                          "connections": [{"mailbox": n, "ok": r.ok, "error": r.error, "server_text": r.server_text}
                                          for n, r in connections]}, indent=2))
    else:
        print(_text(problems, loaded, files, elsewhere))
        unreached = [name for name, report in connections if not report.ok]
        if unreached:  # the config is valid, but the check asked for failed: say so last, where eyes land
            print(f"FAILED: {len(unreached)} of {len(connections)} mailbox(es) could not be reached "
                  f"({', '.join(unreached)}); see above")
        elif connections:
            print(f"OK: {len(connections)} mailbox(es) reached")
    return 1 if failed else 0


def _targets(args) -> tuple[Path, set[Path] | None]:
    """The config directory, and the files to report on (None: all of it)."""
    paths = [Path(p) for p in args.paths]
    if len(paths) <= 1 and (not paths or paths[0].is_dir()):
        directory = paths[0] if paths else Path(config_dir(args))
        if not directory.is_dir():
            raise UsageError(f"{directory} is not a directory")
        return directory, None
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"no such file: {', '.join(missing)} (give one config directory, or files of one config)")
    homes = {_home(p) for p in paths if not p.name.endswith(CASE_SUFFIX)} - {None}
    if args.config or not homes:
        return Path(config_dir(args)), {p.resolve() for p in paths}
    if len(homes) > 1:
        raise UsageError(f"the files belong to different configs ({', '.join(sorted(map(str, homes)))}): check one at a time")
    return homes.pop(), {p.resolve() for p in paths}


def _home(path: Path) -> Path | None:
    """The config directory a file belongs to: the folder holding its mailboxes.d/ or rules/ ancestor."""
    for folder in path.resolve().parents:
        if folder.name in ("mailboxes.d", "rules"):
            return folder.parent
    return None


def _case_problems(files: set[Path]) -> list[Problem]:
    """Golden-case files among the files given are checked against the case schema."""
    cases = sorted(f for f in files if f.name.endswith(CASE_SUFFIX))
    if not cases:
        return []
    from engine.commands.golden import load_case  # only checking case files needs the engine

    return [p for case in cases for p in load_case(case).problems]


def _connect(ruleset, fmt: str) -> list:
    from engine.commands.test_connection import check_connections, print_report

    show = print_report if fmt == "text" else (lambda name, report: None)
    active = [m for m in ruleset.mailboxes if m.active]
    return [(m.name, r) for m, r in zip(active, check_connections(ruleset, None, show))]


def _text(problems: list[Problem], loaded, files, elsewhere: int) -> str:
    lines = [str(p) for p in problems]
    errors, warnings = sum(not p.warning for p in problems), sum(p.warning for p in problems)
    scope = (f"{len(files)} file(s)" if files is not None else
             f"{sum(f.kind == 'mailbox' for f in loaded)} mailbox file(s), {sum(f.kind == 'rules' for f in loaded)} rules file(s)")
    warned = f", {warnings} warning(s)" if warnings else ""
    lines.append(f"{errors} problem(s) found{warned}" if errors else f"OK: {scope} valid{warned}")
    if elsewhere:
        lines.append(f"({elsewhere} more elsewhere in the config: `mailgate validate` shows them)")
    return "\n".join(lines)

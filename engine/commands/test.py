"""`mailgate test [CASES_DIR]`: run golden cases against the config; exit 1 on any difference."""

from __future__ import annotations

from pathlib import Path

from engine.commands.runtime import config_dir
from engine.config.compile import load_ruleset
from engine.errors import UsageError
from engine.commands.golden import find_cases, run_case



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("cases", nargs="?", default="tests/cases", metavar="CASES_DIR",
                        help="folder of golden cases (default: tests/cases)")
    parser.add_argument("-k", dest="only", default=None, help="run only cases whose name contains this text")


def run(args) -> int:
    """Print one line per case and a readable diff for each failure."""
    cases = [c for c in find_cases(Path(args.cases)) if not args.only or args.only in c.name]
    if not cases:
        raise UsageError(f"no *.expected.yaml cases in {args.cases}")
    ruleset = load_ruleset(Path(config_dir(args)))
    failed = 0
    for case in cases:
        result = run_case(case, ruleset)
        print(f"{'ok  ' if result.passed else 'FAIL'} {result.name}  [{', '.join(result.ids)}]")
        for mismatch in result.mismatches:
            print(f"       {mismatch}")
        failed += not result.passed
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0

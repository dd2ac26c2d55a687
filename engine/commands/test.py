"""`mailgate test [CASES…]`: run golden cases against the config; exit 1 on any difference or unchecked mail."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from engine.commands.golden import (DEFAULT_NOW, SUFFIX, CaseResult, evaluate_case, find_cases, load_case, run_case,
                                    unchecked_mail)
from engine.commands.routing import as_mailbox_reads, route
from engine.commands.runtime import config_dir
from engine.config.compile import load_ruleset
from engine.config.problems import Problem
from engine.errors import MailgateError, UsageError
from engine.evaluate import evaluate
from engine.parse import parse
from engine.store.memory_state import from_ruleset


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("cases", nargs="*", metavar="CASES",
                        help="folders of golden cases, or single NAME.expected.yaml / NAME.eml files (default: tests/cases)")
    parser.add_argument("-k", dest="only", default=None, help="run only cases whose name contains this text")
    parser.add_argument("--update", action="store_true",
                        help="rewrite what each case pins from today's decision (and write cases for mail that has none)")
    parser.add_argument("--all", dest="pin_all", action="store_true",
                        help="with --update: pin the whole decision, not only what the case pinned before")
    parser.add_argument("--format", choices=("text", "json", "junit"), default="text",
                        help="json or junit (XML) for CI test reports")


def run(args) -> int:
    """Print one line per case, a readable diff and the command that reproduces each failure."""
    if args.pin_all and not args.update:
        raise UsageError("--all only goes with --update")
    cases, unchecked = _collect(args.cases or ["tests/cases"], args.only)
    if not cases and not unchecked:
        raise UsageError(f"no *{SUFFIX} cases in {' '.join(args.cases or ['tests/cases'])}"
                         + (f" matching -k {args.only!r}" if args.only else ""))
    ruleset = load_ruleset(Path(config_dir(args)))
    if args.update:
        unchecked, created = _update(cases, unchecked, ruleset, args.pin_all)
        cases = sorted({*cases, *created})
    results = [run_case(case, ruleset) for case in cases]
    print(_FORMATS[args.format](results, unchecked, args))
    return 1 if unchecked or not all(r.passed for r in results) else 0


def _collect(paths: list[str], only: str | None) -> tuple[list[Path], list[Problem]]:
    cases: set[Path] = set()
    unchecked: list[Problem] = []
    for given in map(Path, paths):
        if given.is_dir():
            cases.update(find_cases(given))
            unchecked += unchecked_mail(given)
        elif given.name.endswith(SUFFIX):
            cases.add(given)
        elif given.suffix == ".eml" and given.with_name(f"{given.stem}{SUFFIX}").exists():
            cases.add(given.with_name(f"{given.stem}{SUFFIX}"))
        elif given.suffix == ".eml" and given.is_file():
            unchecked.append(Problem(str(given), 1, 1, "no expectations beside this mail, so nothing checks it",
                                     f"write {given.stem}{SUFFIX}, or run `mailgate test --update {given}`"))
        else:
            raise UsageError(f"{given} is neither a folder of cases, a case file ({SUFFIX}) nor a mail (.eml)")
    name = lambda p: Path(p).name.removesuffix(SUFFIX).removesuffix(".eml")  # noqa: E731
    return (sorted(c for c in cases if not only or only in name(c)),
            [u for u in unchecked if not only or only in name(u.file)])


def _update(cases: list[Path], unchecked: list[Problem], ruleset, pin_all: bool) -> tuple[list[Problem], list[Path]]:
    """Rewrite each case's pins and write a case for each unchecked mail: (still unchecked, cases written)."""
    from engine.commands.golden_update import create_case, update_case  # only --update needs it

    for path in cases:
        case = load_case(path)
        try:
            found = evaluate_case(case, ruleset)
        except MailgateError:
            continue  # the run below reports why
        done = update_case(case, found.decision.as_json(), pin_all)
        if done.changed or done.left:
            print(f"updated {path}: {done.changed} value(s)" + "".join(f"\n   left as written: {why}" for why in done.left))
    still, created = [], []
    for problem in unchecked:
        path = _create(Path(problem.file), ruleset, pin_all, create_case)
        (still if path is None else created).append(problem if path is None else path)
    return still, created


def _create(mail: Path, ruleset, pin_all: bool, create_case) -> Path | None:
    """A case for `mail` pinning today's decision (default `now`, the config's own directory)."""
    raw = mail.read_bytes()
    message = parse(raw)
    try:
        chosen = route(message, ruleset)
    except UsageError as err:
        print(f"cannot write a case for {mail}: {err}")
        return None
    message = as_mailbox_reads(raw, message, ruleset, chosen.mailbox)
    decision = evaluate(message, ruleset, from_ruleset(ruleset), DEFAULT_NOW, chosen.mailbox)
    done = create_case(mail, decision.as_json(), pin_all)
    print(f"created {done.path} (mailbox {chosen.mailbox}: {chosen.why})")
    return done.path


def reproduce(result: CaseResult, args) -> str:
    """The one command that shows this case's decision and full trace, with the case's own settings."""
    words = ["mailgate", "dry-run", str(result.path)] + (["--config", args.config] if args.config else [])
    return shlex.join(words)


def _text(results: list[CaseResult], unchecked: list[Problem], args) -> str:
    lines = []
    for result in results:
        lines.append(f"{'ok  ' if result.passed else 'FAIL'} {result.name}" + (f"  [{', '.join(result.ids)}]" if result.ids else ""))
        lines += [f"       {line}" for line in (*result.problems, *result.mismatches)]
        if result.mismatches:
            lines.append(f"       mailbox {result.route.mailbox} ({result.route.why})")
            lines.append(f"       reproduce: {reproduce(result, args)}")
    lines += [f"FAIL {problem}" for problem in unchecked]
    failed = sum(not r.passed for r in results)
    lines.append(f"{len(results) - failed} passed, {failed} failed" + (f", {len(unchecked)} mail(s) unchecked" if unchecked else ""))
    return "\n".join(lines)


def _json(results: list[CaseResult], unchecked: list[Problem], args) -> str:
    return json.dumps({
        "passed": sum(r.passed for r in results), "failed": sum(not r.passed for r in results),
        "cases": [{"name": r.name, "file": str(r.path), "ids": list(r.ids), "passed": r.passed,
                   "mailbox": r.route.mailbox if r.route else None, "route": r.route.why if r.route else None,
                   "mismatches": list(r.mismatches),
                   "problems": list(r.problems), "reproduce": reproduce(r, args) if r.mismatches else None} for r in results],
        "unchecked": [p.as_json() for p in unchecked]}, indent=2, ensure_ascii=False)


def _junit(results: list[CaseResult], unchecked: list[Problem], args) -> str:
    """JUnit XML, the test-report format GitHub, GitLab and Jenkins show."""
    from xml.etree import ElementTree as ET

    failed = sum(bool(r.mismatches) and not r.problems for r in results) + len(unchecked)
    suite = ET.Element("testsuite", name="mailgate golden cases", tests=str(len(results) + len(unchecked)),
                       failures=str(failed), errors=str(sum(bool(r.problems) for r in results)))
    for result in results:
        case = ET.SubElement(suite, "testcase", classname="golden", name=result.name, file=str(result.path))
        if result.problems or result.mismatches:
            kind = "error" if result.problems else "failure"
            lines = [*result.problems, *result.mismatches] + ([f"reproduce: {reproduce(result, args)}"] if result.mismatches else [])
            ET.SubElement(case, kind, message=lines[0]).text = "\n".join(lines)
    for problem in unchecked:
        case = ET.SubElement(suite, "testcase", classname="golden", name=Path(problem.file).stem, file=problem.file)
        ET.SubElement(case, "failure", message=problem.message).text = str(problem)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


_FORMATS = {"text": _text, "json": _json, "junit": _junit}

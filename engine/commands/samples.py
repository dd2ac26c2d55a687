"""Sample mail for dry-run and diff: mail files, mboxes, .msg, folders, and golden cases with their own settings."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.commands.golden import SUFFIX, Evaluated, evaluate_case, find_cases, load_case
from engine.commands.moments import parse_moment
from engine.commands.routing import as_mailbox_reads, route
from engine.config.ruleset import Ruleset
from engine.errors import UsageError
from engine.evaluate import evaluate
from engine.evaluate.state import StateView
from engine.parse import parse
from engine.parse.inputs import read_messages
from engine.store.memory_state import from_ruleset, load_fixture

MAIL_SUFFIXES = (".eml", ".msg", ".mbox", ".mbx")


@dataclass(frozen=True)
class Sample:
    """One mail to evaluate: raw bytes, or a golden case that brings its own mail and settings."""

    label: str
    raw: bytes | None = None
    case: Path | None = None


@dataclass(frozen=True)
class Settings:
    """What plain mails (not cases) are evaluated with: the mailbox if forced, the time, the state."""

    mailbox: str | None
    now: datetime
    state: Callable[[Ruleset, datetime], StateView]


def add_sample_options(parser: argparse.ArgumentParser) -> None:
    """--mailbox, --state / --directory and --now, shared by dry-run and diff."""
    parser.add_argument("--mailbox", help="mailbox that receives the mail (default: the one whose address is in "
                                          "Delivered-To, X-Original-To, To or Cc)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--state", metavar="DB", help="read users and tickets from this store (URL or SQLite file)")
    source.add_argument("--directory", metavar="FILE.yaml", help="users, organisations, groups and tickets fixture")
    parser.add_argument("--now", help="evaluate as of this ISO 8601 time (default: now)")


def sample_settings(args: argparse.Namespace) -> Settings:
    """The settings the command line gives plain mails."""
    now = parse_moment(args.now, "--now") if args.now else datetime.now(timezone.utc).replace(microsecond=0)
    if args.directory:
        fixture = Path(args.directory)
        return Settings(args.mailbox, now, lambda ruleset, at: load_fixture(fixture, ruleset, at))
    if args.state:
        from engine.store.state_view import open_state_view  # only a dry-run against a store needs SQLAlchemy

        return Settings(args.mailbox, now, lambda ruleset, at: open_state_view(args.state, ruleset))
    return Settings(args.mailbox, now, lambda ruleset, at: from_ruleset(ruleset))


def read_samples(paths: Iterable[str | Path]) -> Iterator[Sample]:
    """Every mail of every path; a folder gives its cases and its other mail files, sorted by name."""
    for path in map(Path, paths):
        if path.is_dir():
            cases = find_cases(path)
            yield from (Sample(str(case), case=case) for case in cases)
            covered = {case.with_name(case.name.removesuffix(SUFFIX) + ".eml") for case in cases}
            for mail in sorted(p for p in path.iterdir() if p.suffix.lower() in MAIL_SUFFIXES and p not in covered):
                yield from (Sample(label, raw) for label, raw in read_messages(mail))
        elif path.name.endswith(SUFFIX):
            yield Sample(str(path), case=path)
        else:
            yield from (Sample(label, raw) for label, raw in read_messages(path))


def evaluate_samples(samples: Iterable[Sample], ruleset: Ruleset, settings: Settings) -> Iterator[Evaluated]:
    """The decision about each sample: a case with its own settings, any other mail with `settings`."""
    state = None  # made once, at the first plain mail: a store is opened once, not per mail
    for sample in samples:
        if sample.case is not None:
            yield dataclasses.replace(evaluate_case(load_case(sample.case), ruleset), label=sample.label)
            continue
        state = state or settings.state(ruleset, settings.now)
        message = parse(sample.raw)
        chosen = route(message, ruleset, settings.mailbox)
        message = as_mailbox_reads(sample.raw, message, ruleset, chosen.mailbox)
        decision = evaluate(message, ruleset, state, settings.now, chosen.mailbox)
        yield Evaluated(message, chosen, decision, state.description, settings.now, sample.label)


def no_samples(paths: list[str]) -> UsageError:
    """The error for sample paths that hold no mail."""
    return UsageError(f"no mail in {' '.join(paths)}: give .eml, .msg or mbox files, or folders holding them")

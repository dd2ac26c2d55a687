"""`mailgate diff [--against REV] SAMPLES…`: which sample mails the config change decides differently, and where."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from engine.commands.decision_diff import changes, parting
from engine.commands.diff_report import FORMATS, MailDiff, Report
from engine.commands.revision import config_at
from engine.commands.runtime import config_dir
from engine.commands.samples import add_sample_options, evaluate_samples, no_samples, read_samples, sample_settings
from engine.config.compile import load_ruleset
from engine.errors import ConfigError, MailgateError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's options."""
    parser.add_argument("samples", nargs="*", metavar="SAMPLES",
                        help=".eml/.msg/mbox files, golden cases or folders of them (default: tests/cases)")
    parser.add_argument("--against", metavar="REV", default="HEAD",
                        help="git revision whose config to compare with (default: HEAD; e.g. origin/main)")
    add_sample_options(parser)
    parser.add_argument("--format", choices=sorted(FORMATS), default="text",
                        help="text for people, json for scripts, markdown for a pull-request comment")


def run(args: argparse.Namespace) -> int:
    """Exit 1 when any sample is decided differently, 0 when none is, 2 when one cannot be evaluated at all."""
    paths = args.samples or ["tests/cases"]
    samples = list(read_samples(paths))
    if not samples:
        raise no_samples(paths)
    current = Path(config_dir(args))
    after = load_ruleset(current)
    with tempfile.TemporaryDirectory(prefix="mailgate-diff-") as scratch:
        revision = config_at(args.against, current, Path(scratch))
        try:
            before = load_ruleset(revision.directory)
        except ConfigError as err:
            raise UsageError(f"the config at {args.against} does not validate, so there is nothing to compare "
                             f"with:\n{err}") from None
        settings = sample_settings(args)
        mails = tuple(_compare(sample, before, after, settings) for sample in samples)
    report = Report(revision, current, settings.now.isoformat(), mails)
    print(FORMATS[args.format](report))
    return 1 if report.changed else 2 if report.broken else 0


def _compare(sample, before, after, settings) -> MailDiff:
    """One sample under the old and the new config, with the same state and time."""
    old, old_error = _decide(sample, before, settings)
    new, new_error = _decide(sample, after, settings)
    if old_error or new_error:
        return MailDiff(sample.label, (old and old.route.mailbox or "", new and new.route.mailbox or ""),
                        error=(old_error or "", new_error or ""))
    first, second = old.decision.as_json(), new.decision.as_json()
    found = tuple(changes(first, second))
    return MailDiff(sample.label, (old.route.mailbox, new.route.mailbox), found,
                    parting(list(first["trace"]), list(second["trace"])) if found else None)


def _decide(sample, ruleset, settings):
    """(evaluated, None), or (None, why) when this config cannot evaluate the sample (e.g. no mailbox for it)."""
    try:
        return next(evaluate_samples([sample], ruleset, settings)), None
    except MailgateError as err:
        return None, str(err)

"""Golden cases: NAME.eml + NAME.expected.yaml, read strictly and run against a config."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from engine.commands.golden_compare import compare
from engine.commands.moments import parse_moment
from engine.commands.routing import Route, as_mailbox_reads, route
from engine.config.freeze import FrozenDict, freeze, thaw
from engine.config.load import LoadedFile, load_file
from engine.config.policy import written_keys
from engine.config.problems import Problem
from engine.config.resolve import fill_mailbox, mailbox_policy
from engine.config.ruleset import Ruleset
from engine.config.schema_errors import explain, schema_problems
from engine.config.schemas import validator_for
from engine.decision import Decision
from engine.errors import CaseError, MailgateError, UsageError
from engine.evaluate import evaluate
from engine.message import Message
from engine.parse import parse
from engine.store.memory_state import from_ruleset, load_fixture

DEFAULT_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)
SUFFIX = ".expected.yaml"


@dataclass(frozen=True)
class Case:
    """One case file as read: its data with every key's place, and what is wrong with it as written."""

    path: Path
    loaded: LoadedFile
    problems: tuple[Problem, ...]

    @property
    def name(self) -> str:
        return self.path.name.removesuffix(SUFFIX)

    @property
    def mail(self) -> Path:
        return self.path.with_name(f"{self.name}.eml")

    @property
    def spec(self) -> dict:
        return self.loaded.data if isinstance(self.loaded.data, dict) else {}


@dataclass(frozen=True)
class Evaluated:
    """A case's mail decided with the case's settings."""

    message: Message
    route: Route
    decision: Decision
    state: str
    now: datetime
    label: str = ""


@dataclass(frozen=True)
class CaseResult:
    """One case: its name, the IDs it names, every mismatch and every problem with the case itself."""

    name: str
    ids: tuple[str, ...]
    mismatches: tuple[str, ...]
    problems: tuple[str, ...] = ()
    path: Path | None = None
    route: Route | None = None

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.problems


def find_cases(directory: Path) -> list[Path]:
    """Every NAME.expected.yaml in `directory` (sorted), each beside its NAME.eml."""
    return sorted(Path(directory).glob(f"*{SUFFIX}"))


def unchecked_mail(directory: Path) -> list[Problem]:
    """Mail in the cases folder with no expectations beside it: it would pass silently otherwise.

    (A case with no mail is reported by load_case.)"""
    return [Problem(str(mail), 1, 1, "no expectations beside this mail, so nothing checks it",
                    f"write {mail.stem}{SUFFIX} (`mailgate test --update` writes it from today's decision) "
                    "or move the mail out of the cases folder")
            for mail in sorted(Path(directory).glob("*.eml")) if not mail.with_name(f"{mail.stem}{SUFFIX}").exists()]


def load_case(path: Path) -> Case:
    """Read a case file strictly: YAML with places, then the case schema (unknown keys, an empty `expect`)."""
    path = Path(path)
    loaded, problems = load_file(path, str(path), "case")
    if loaded.data is not None:
        problems += schema_problems(loaded)
    if not path.with_name(f"{path.name.removesuffix(SUFFIX)}.eml").exists():
        problems.append(Problem(str(path), 1, 1, f"no {path.name.removesuffix(SUFFIX)}.eml beside this case",
                                "add the mail it is about, or delete the case"))
    return Case(path, loaded, tuple(sorted(set(problems))))


def evaluate_case(case: Case, ruleset: Ruleset) -> Evaluated:
    """The case's mail decided with its mailbox, options, fixture and `now`; CaseError says what stops it."""
    if case.problems:
        raise CaseError(case.problems)
    spec, loaded = case.spec, case.loaded
    now = _case_now(case)
    raw = case.mail.read_bytes()
    message = parse(raw)
    try:
        chosen = route(message, ruleset, spec.get("mailbox"), chosen_by="the case's `mailbox:`",
                       pick="name one in the case's `mailbox:`")
    except UsageError as err:
        raise CaseError([loaded.problem(("mailbox",), str(err), at_value=True)]) from None
    ruleset = with_mailbox_options(ruleset, chosen.mailbox, spec.get("mailbox_options") or {},
                                   _override_origins(loaded), loaded)
    if spec.get("directory"):
        fixture = case.path.parent / spec["directory"]
        if not fixture.is_file():
            raise CaseError([loaded.problem(("directory",), f"directory fixture {fixture} does not exist",
                                            "give a path relative to this case file", at_value=True)])
        state = load_fixture(fixture, ruleset, now)
    else:
        state = from_ruleset(ruleset)
    message = as_mailbox_reads(raw, message, ruleset, chosen.mailbox)
    decision = evaluate(message, ruleset, state, now, chosen.mailbox)
    return Evaluated(message, chosen, decision, state.description, now, str(case.path))


def _case_now(case: Case) -> datetime:
    if case.spec.get("now") is None:
        return DEFAULT_NOW
    try:
        return parse_moment(case.spec["now"], "now")
    except UsageError as err:
        raise CaseError([case.loaded.problem(("now",), str(err), "write an ISO 8601 time such as 2026-01-15T12:00:00Z",
                                             at_value=True)]) from None


def run_case(case: Case | Path, ruleset: Ruleset) -> CaseResult:
    """Evaluate the case's mail and compare the decision with its expectations."""
    case = case if isinstance(case, Case) else load_case(case)
    ids = tuple(str(i) for i in case.spec.get("ids") or ()) if isinstance(case.spec.get("ids"), list) else ()
    try:
        found = evaluate_case(case, ruleset)
    except CaseError as err:
        return CaseResult(case.name, ids, (), tuple(str(p) for p in err.problems), case.path)
    except MailgateError as err:  # e.g. a fixture that is not valid YAML
        return CaseResult(case.name, ids, (), (f"{case.path}: {err}",), case.path)
    mismatches = compare(case.spec.get("expect") or {}, found.decision.as_json(), "decision")
    return CaseResult(case.name, ids, tuple(mismatches), (), case.path, found.route)


def default_mailbox(ruleset: Ruleset) -> str:
    """The first active mailbox in name order (or the first one at all)."""
    active = [m for m in ruleset.mailboxes if m.active] or list(ruleset.mailboxes)
    if not active:
        raise UsageError("the config defines no mailbox")
    return active[0].name


def with_mailbox_options(ruleset: Ruleset, mailbox: str, overrides: dict, origins: dict | None = None,
                         loaded: LoadedFile | None = None) -> Ruleset:
    """`ruleset` with `overrides` merged into one mailbox's options, checked against the schema, and its
    policy resolved again; `origins` (path -> 'file:line') says where each override was written, and
    `loaded` (the case file) where to report an override that does not fit."""
    if not overrides:
        return ruleset
    base = ruleset.mailbox(mailbox)
    merged = _merge(thaw(base.options), overrides)
    errors = sorted(validator_for("mailbox").iter_errors({"version": 1, "mailbox": merged}), key=str)
    if errors and loaded is not None:
        raise CaseError(sorted({p for e in errors for p in explain(_OptionsView(loaded), e)}))
    if errors:
        raise UsageError(f"mailbox_options do not fit the schema: {errors[0].message}")
    options = fill_mailbox(merged)
    written = {**base.written, **(origins or _paths(overrides, "mailbox_options"))}
    changed = dataclasses.replace(base, options=freeze(options), written=FrozenDict(written),
                                  policy=mailbox_policy(options, written, ruleset.knobs))
    return ruleset.with_mailbox(changed)


class _OptionsView:
    """The case file seen as a mailbox file: a schema error at `mailbox.X` is reported at `mailbox_options.X`."""

    kind = "mailbox"

    def __init__(self, loaded: LoadedFile):
        self.loaded = loaded

    def problem(self, path, message: str, hint: str = "", *, at_value: bool = False) -> Problem:
        inner = tuple(path)[1:] if tuple(path)[:1] == ("mailbox",) else ()
        return self.loaded.problem(("mailbox_options", *inner), message, hint, at_value=at_value)


def _override_origins(loaded: LoadedFile) -> dict:
    """Where the case file writes each mailbox_options key, as the trace cites it."""
    return written_keys({p: m for p, m in loaded.key_marks.items() if p[:1] == ("mailbox_options",)},
                        Path(loaded.label).name, strip=1)


def _paths(overrides: dict, label: str, prefix: tuple = ()) -> dict:
    """Every key path of `overrides`, each labelled `label` (overrides given in code, not in a file)."""
    found = {}
    for name, value in overrides.items():
        found[prefix + (name,)] = label
        if isinstance(value, dict):
            found.update(_paths(value, label, prefix + (name,)))
    return found


def _merge(base: dict, overrides: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in overrides.items():
        result[key] = _merge(result[key], value) if isinstance(value, dict) and isinstance(result.get(key), dict) else value
    return result

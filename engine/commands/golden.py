"""Golden cases: NAME.eml + NAME.expected.yaml, the parts of the decision that must hold."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import yaml

from engine.config.freeze import FrozenDict, freeze, thaw
from engine.config.load import load_file
from engine.config.policy import written_keys
from engine.config.resolve import fill_mailbox, mailbox_policy
from engine.config.ruleset import Ruleset
from engine.config.schemas import validator_for
from engine.errors import UsageError
from engine.evaluate import evaluate
from engine.store.memory_state import from_ruleset, load_fixture
from engine.parse import parse
from engine.commands.moments import parse_moment

DEFAULT_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class CaseResult:
    """One case: its name, the SPEC IDs it names, and every mismatch found."""

    name: str
    ids: tuple[str, ...]
    mismatches: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def find_cases(directory: Path) -> list[Path]:
    """Every NAME.expected.yaml in `directory` (sorted), each beside its NAME.eml."""
    return sorted(Path(directory).glob("*.expected.yaml"))


def run_case(expected_path: Path, ruleset: Ruleset) -> CaseResult:
    """Evaluate the case's mail and compare the decision with its expectations."""
    try:
        spec = yaml.safe_load(expected_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as err:  # a broken case file is the admin's to fix: say where
        raise UsageError(f"cannot read golden case {expected_path}: {err}") from None
    name = expected_path.name.removesuffix(".expected.yaml")
    mail = expected_path.with_name(f"{name}.eml")
    now = parse_moment(spec["now"], f"{expected_path}: now") if spec.get("now") is not None else DEFAULT_NOW
    mailbox = spec.get("mailbox") or default_mailbox(ruleset)
    if mailbox not in {m.name for m in ruleset.mailboxes}:
        raise UsageError(f"{expected_path.name}: no mailbox named {mailbox!r} in the config")
    ruleset = with_mailbox_options(ruleset, mailbox, spec.get("mailbox_options") or {}, _override_origins(expected_path))
    state = load_fixture(expected_path.parent / spec["directory"], ruleset, now) if spec.get("directory") else from_ruleset(ruleset)
    keep_images = ruleset.mailbox(mailbox).policy.body.keep_remote_images
    decision = evaluate(parse(mail.read_bytes(), keep_remote_images=keep_images), ruleset, state, now, mailbox)
    mismatches = compare(spec.get("expect") or {}, decision.as_json(), "decision")
    return CaseResult(name, tuple(spec.get("ids", ())), tuple(mismatches))


def default_mailbox(ruleset: Ruleset) -> str:
    """The first active mailbox in name order (or the first one at all)."""
    active = [m for m in ruleset.mailboxes if m.active] or list(ruleset.mailboxes)
    if not active:
        raise UsageError("the config defines no mailbox")
    return active[0].name


def with_mailbox_options(ruleset: Ruleset, mailbox: str, overrides: dict, origins: dict | None = None) -> Ruleset:
    """`ruleset` with `overrides` merged into one mailbox's options, checked against the schema, and its
    policy resolved again; `origins` (path -> 'file:line') says where each override was written."""
    if not overrides:
        return ruleset
    base = ruleset.mailbox(mailbox)
    merged = _merge(thaw(base.options), overrides)
    errors = sorted(validator_for("mailbox").iter_errors({"version": 1, "mailbox": merged}), key=str)
    if errors:
        raise UsageError(f"mailbox_options do not fit the schema: {errors[0].message}")
    options = fill_mailbox(merged)
    written = {**base.written, **(origins or _paths(overrides, "mailbox_options"))}
    changed = dataclasses.replace(base, options=freeze(options), written=FrozenDict(written),
                                  policy=mailbox_policy(options, written, ruleset.knobs))
    return ruleset.with_mailbox(changed)


def _override_origins(expected_path: Path) -> dict:
    """Where the case file writes each mailbox_options key, as the trace cites it."""
    loaded, _ = load_file(expected_path, expected_path.name, "case")
    return written_keys({p: m for p, m in loaded.key_marks.items() if p[:1] == ("mailbox_options",)},
                        loaded.label, strip=1)


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


def compare(expected, actual, path: str) -> list[str]:
    """Readable differences: dicts are subsets, lists match item by item, `X_contains` checks text."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        problems = []
        for key, want in expected.items():
            problems += _compare_key(key, want, actual, path)
        return problems
    if isinstance(expected, list) and isinstance(actual, (list, tuple)):  # as_json() keeps tuples
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} item(s), got {len(actual)}: {_short(actual)}"]
        return [p for i, (w, a) in enumerate(zip(expected, actual)) for p in compare(w, a, f"{path}[{i}]")]
    return [] if expected == actual else [f"{path}: expected {expected!r}, got {_short(actual)}"]


def _compare_key(key: str, want, actual: dict, path: str) -> list[str]:
    for suffix, present in (("_contains", True), ("_excludes", False)):
        if key.endswith(suffix) and key.removesuffix(suffix) in actual:
            text = str(actual[key.removesuffix(suffix)] or "")
            wanted = want if isinstance(want, list) else [want]
            return [f"{path}.{key.removesuffix(suffix)}: {'missing' if present else 'unexpected'} {w!r} in {_short(text)}"
                    for w in wanted if (w in text) != present]
    if key == "trace" and isinstance(want, list):
        return _trace_contains(want, actual.get("trace", []), f"{path}.trace")
    if key not in actual:
        return [f"{path}: no field '{key}'"]
    return compare(want, actual[key], f"{path}.{key}")


def _trace_contains(wanted: list, trace: list, path: str) -> list[str]:
    """Each wanted step appears in the trace, in this order (other steps may come between)."""
    position = 0
    for want in wanted:
        while position < len(trace) and compare(want, trace[position], path):
            position += 1
        if position == len(trace):
            return [f"{path}: no step matching {want!r} (in order)"]
        position += 1
    return []


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 300 else text[:297] + "..."

"""Routing rules compiled: condition trees that say why they hold, and an index that skips routes a mail cannot match.

A route's conditions (`when:`) become a tree of small condition objects, each with
`check(facts) -> (holds, why)`; `why` names the condition that decided, for the trace.
With thousands of routes, testing each against every mail would grow with the rule
count, so every route that has a necessary text test at its top (an `equals`,
`contains` or `matches` the whole condition needs) is filed under it: equalities in
dictionaries, phrases in one Aho-Corasick automaton and regexes in one FilteredRE2
per field. A mail is tested only against the routes those indexes hit, plus the
routes with no such anchor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.config.freeze import FrozenDict, freeze
from engine.config.matching import PhraseIndex, RegexIndex, normalise
from engine.config.patterns import compile_safe

TEXT_FIELDS = ("sender", "sender_domain", "sender_name", "recipient", "subject", "body", "attachment_name",
               "attachment_type", "organisation")
FIELD_ACTIONS = ("group", "assignee", "priority", "type", "subtype", "class", "category")


class Facts(Protocol):
    """What conditions read of one mail (engine/evaluate/routes.py builds it)."""

    def values(self, name: str) -> tuple[str, ...]: ...
    def header(self, name: str) -> tuple[str, ...]: ...
    def number(self, name: str) -> int: ...
    def kind(self) -> str: ...
    def authentication(self) -> str: ...
    def mailbox(self) -> str: ...
    def is_reply(self) -> bool: ...
    def in_group(self, group: str) -> bool: ...
    def in_business_hours(self, calendar: str) -> bool: ...


def _texts(value) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value or ())


@dataclass(frozen=True)
class TextTest:
    """equals / contains / matches over a field's values, case-insensitive unless told."""

    equals: frozenset[str] = frozenset()
    contains: tuple[str, ...] = ()
    regex: Any = field(default=None, compare=False)
    pattern: str = ""  # the regex compiled: the patterns as one alternation
    case_sensitive: bool = False
    written: tuple[str, ...] = ()  # the patterns as written, for the trace

    @classmethod
    def build(cls, spec: Mapping) -> "TextTest":
        case = bool(spec.get("case_sensitive", False))
        fold = (lambda s: s) if case else (lambda s: s.lower())
        patterns = _texts(spec.get("matches"))
        joined = "|".join(f"(?:{p})" for p in patterns)
        if joined and case:
            joined = f"(?-i:{joined})"
        return cls(frozenset(fold(v) for v in _texts(spec.get("equals"))), tuple(fold(v) for v in _texts(spec.get("contains"))),
                   compile_safe(joined) if joined else None, joined, case, patterns)

    def holds(self, values: Iterable[str]) -> str | None:
        """The value that passes, or None."""
        for value in values:
            folded = value if self.case_sensitive else value.lower()
            if folded in self.equals or any(part in folded for part in self.contains):
                return value
            if self.regex is not None and self.regex.search(value):
                return value
        return None

    def describe(self) -> str:
        parts = [f"equals {sorted(self.equals)[0]!r}" + (f" (+{len(self.equals) - 1})" if len(self.equals) > 1 else "")
                 ] if self.equals else []
        parts += [f"contains {self.contains[0]!r}" + (f" (+{len(self.contains) - 1})" if len(self.contains) > 1 else "")
                  ] if self.contains else []
        parts += [f"matches {' | '.join(self.written)!r}"] if self.regex is not None else []
        return " or ".join(parts)


@dataclass(frozen=True)
class FieldIs:
    """A text test on one field of the mail (sender, subject, recipient...)."""

    name: str
    test: TextTest

    def check(self, facts: Facts) -> tuple[bool, str]:
        hit = self.test.holds(facts.values(self.name))
        return hit is not None, f"{self.name} {self.test.describe()}" + (f": {hit!r}" if hit is not None else "")


@dataclass(frozen=True)
class HeaderIs:
    """A test on every occurrence of one header, or on whether it is there."""

    name: str
    test: TextTest | None
    exists: bool | None

    def check(self, facts: Facts) -> tuple[bool, str]:
        values = facts.header(self.name)
        if self.exists is not None and bool(values) != self.exists:
            return False, f"header {self.name} {'missing' if self.exists else 'present'}"
        if self.test is None:
            return True, f"header {self.name} {'present' if self.exists else 'absent'}"
        hit = self.test.holds(values)
        return hit is not None, f"header {self.name} {self.test.describe()}" + (f": {hit!r}" if hit is not None else "")


@dataclass(frozen=True)
class OneOf:
    """A value from a closed set: auto_generated kind, authentication, mailbox."""

    name: str
    allowed: frozenset[str]

    def check(self, facts: Facts) -> tuple[bool, str]:
        value = {"auto_generated": facts.kind, "authentication": facts.authentication, "mailbox": facts.mailbox}[self.name]()
        return value in self.allowed, f"{self.name} is {value}"


@dataclass(frozen=True)
class IsReply:
    reply: bool

    def check(self, facts: Facts) -> tuple[bool, str]:
        return facts.is_reply() == self.reply, "a reply" if facts.is_reply() else "a new ticket"


@dataclass(frozen=True)
class InRange:
    """attachment_count / attachment_bytes between min and max (inclusive)."""

    name: str
    low: int | None
    high: int | None

    def check(self, facts: Facts) -> tuple[bool, str]:
        value = facts.number(self.name)
        ok = (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        return ok, f"{self.name} is {value}"


@dataclass(frozen=True)
class InGroup:
    group: str

    def check(self, facts: Facts) -> tuple[bool, str]:
        inside = facts.in_group(self.group)
        return inside, f"requester {'in' if inside else 'not in'} group {self.group}"


@dataclass(frozen=True)
class InHours:
    calendar: str
    within: bool

    def check(self, facts: Facts) -> tuple[bool, str]:
        inside = facts.in_business_hours(self.calendar)
        return inside == self.within, f"arrived {'within' if inside else 'outside'} {self.calendar} hours"


@dataclass(frozen=True)
class AllOf:
    parts: tuple

    def check(self, facts: Facts) -> tuple[bool, str]:
        whys = []
        for part in self.parts:
            holds, why = part.check(facts)
            if not holds:
                return False, why
            whys.append(why)
        return True, "; ".join(whys)


@dataclass(frozen=True)
class AnyOf:
    parts: tuple

    def check(self, facts: Facts) -> tuple[bool, str]:
        whys = []
        for part in self.parts:
            holds, why = part.check(facts)
            if holds:
                return True, why
            whys.append(why)
        return False, "none of: " + "; ".join(whys)


@dataclass(frozen=True)
class NoneOf:
    part: Any

    def check(self, facts: Facts) -> tuple[bool, str]:
        holds, why = self.part.check(facts)
        return not holds, f"not ({why})"


def build_condition(spec: Mapping) -> Any:
    """The condition tree of a `when:` mapping; several keys in one mapping must all hold."""
    parts = [_one(key, value) for key, value in spec.items()]
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _one(key: str, value: Any) -> Any:
    if key == "all":
        return AllOf(tuple(build_condition(v) for v in value))
    if key == "any":
        return AnyOf(tuple(build_condition(v) for v in value))
    if key == "not":
        return NoneOf(build_condition(value))
    if key == "header":
        has_test = any(k in value for k in ("equals", "contains", "matches"))
        return HeaderIs(value["name"].lower(), TextTest.build(value) if has_test else None, value.get("exists"))
    if key in TEXT_FIELDS:
        return FieldIs(key, TextTest.build(value))
    if key in ("auto_generated", "authentication", "mailbox"):
        return OneOf(key, frozenset(_texts(value)))
    if key == "is":
        return IsReply(value == "reply")
    if key in ("attachment_count", "attachment_bytes"):
        return InRange(key, value.get("min"), value.get("max"))
    if key == "requester_group":
        return InGroup(value)
    if key == "business_hours":
        return InHours(value["calendar"], bool(value.get("within", True)))
    raise ValueError(f"unknown route condition {key!r}")  # the schema lets none through


@dataclass(frozen=True)
class Route:
    """One routing rule: its place in order, its conditions and its actions."""

    name: str
    order: int
    when: Any = field(compare=False)
    then: Mapping
    stop: bool
    origin: str
    spec: Mapping = field(default_factory=FrozenDict, repr=False)  # `when` as written, for equality and warnings
    path: tuple = ()  # where in its file (validate's warnings point there)


@dataclass(frozen=True)
class Calendar:
    """Business hours: working weekdays, hours in local time, holidays (dates)."""

    name: str
    time_zone: str
    weekdays: tuple[str, ...]
    start_minute: int
    end_minute: int
    holidays: frozenset[str]
    origin: str

    @classmethod
    def build(cls, spec: Mapping, origin: str) -> "Calendar":
        start, _, end = spec.get("hours", "08:00-17:00").partition("-")
        minutes = [int(t[:2]) * 60 + int(t[3:]) for t in (start, end)]
        return cls(spec["name"], spec["time_zone"], tuple(spec.get("weekdays", ("mon", "tue", "wed", "thu", "fri"))),
                   minutes[0], minutes[1], frozenset(spec.get("holidays", ())), origin)


def _anchors(condition) -> list[tuple[str, Any]]:
    """Necessary tests of `condition`: (field, TextTest) pairs any match must pass (the first is used)."""
    if isinstance(condition, FieldIs):
        return [(condition.name, condition.test)]
    if isinstance(condition, HeaderIs) and condition.test is not None:
        return [(f"header:{condition.name}", condition.test)]
    if isinstance(condition, AllOf):
        return [anchor for part in condition.parts for anchor in _anchors(part)]
    return []


class RouteIndex:
    """Which routes a mail could match, found without testing every route."""

    def __init__(self, routes: tuple[Route, ...]):
        self.routes = routes
        self.always: list[Route] = []  # no anchor: tested against every mail
        self.equal: dict[str, dict[str, list[Route]]] = {}
        phrases: dict[str, list] = {}
        regexes: dict[str, list] = {}
        for route in routes:
            anchors = [a for a in _anchors(route.when) if not a[1].case_sensitive]
            if not anchors:
                self.always.append(route)
                continue
            name, test = anchors[0]
            for value in test.equals:
                self.equal.setdefault(name, {}).setdefault(value, []).append(route)
            phrases.setdefault(name, []).extend((phrase, route) for phrase in test.contains)
            if test.regex is not None:
                regexes.setdefault(name, []).append((test.pattern, route))
        self.phrases = {name: PhraseIndex(items) for name, items in phrases.items()}
        self.regexes = {name: RegexIndex(items) for name, items in regexes.items()}
        self.fields = sorted(set(self.equal) | set(self.phrases) | set(self.regexes))

    def __eq__(self, other: object) -> bool:  # equal configs compile to equal rulesets (F-CFG-5)
        return isinstance(other, RouteIndex) and other.routes == self.routes

    def __hash__(self) -> int:
        return hash(self.routes)

    def candidates(self, values_of) -> list[Route]:
        """Routes worth testing, in order; `values_of(field)` gives a mail's values of an anchor field."""
        found = {id(r): r for r in self.always}
        for name in self.fields:
            for value in values_of(name):
                lowered = value.lower()
                for route in self.equal.get(name, {}).get(lowered, ()):
                    found[id(route)] = route
                if name in self.phrases:
                    for _, _, route in self.phrases[name].find(normalise(value)):
                        found[id(route)] = route
                if name in self.regexes:
                    for route in self.regexes[name].search(value):
                        found[id(route)] = route
        return sorted(found.values(), key=lambda r: r.order)


def build_routes(items: Iterable[tuple]) -> tuple[Route, ...]:
    """Enabled routes in file order from (spec, "file:line"[, path]) items."""
    routes = []
    for spec, origin, *path in items:
        if spec.get("enabled", True):
            routes.append(Route(spec["name"], len(routes), build_condition(spec["when"]), freeze(spec["then"]),
                                not spec.get("continue", False), origin, freeze(spec["when"]), tuple(path[0]) if path else ()))
    return tuple(routes)

"""Warnings: a valid config that probably does not do what was meant (rules that can never fire, dead references).

validate prints them and exits 0 unless --strict. Each one is located like an error."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.config.load import LoadedFile
from engine.config.matching import PhraseIndex, normalise
from engine.config.overlay import locate, original
from engine.config.problems import Problem
from engine.config.rule_index import declared
from engine.config.ruleset import Ruleset, SubjectRule
from engine.config.schemas import schema_for
from engine.config.semantic import walk_refs

ORDER_HINT = "the longest match wins, then the first declared"


class _Places:
    """file label -> loaded file, to put a warning at the line and column of a rule."""

    def __init__(self, files: list[LoadedFile]):
        self.files = {f.label: original(f) for f in files}  # rules carry paths in the file that wrote them

    def where(self, origin: str, path: tuple) -> tuple[LoadedFile, tuple]:
        return self.files[origin.rpartition(":")[0]], path

    def text(self, origin: str, path: tuple) -> str:
        loaded, path = self.where(origin, path)
        line, column = loaded.value_mark(path)
        return f"{loaded.label}:{line}:{column}"

    def warn(self, origin: str, path: tuple, message: str, hint: str) -> Problem:
        loaded, path = self.where(origin, path)
        line, column = loaded.value_mark(path)
        return Problem(loaded.label, line, column, message, hint, "warning")


def config_warnings(files: list[LoadedFile], ruleset: Ruleset) -> list[Problem]:
    """Every warning about a config that compiled."""
    places = _Places(files)
    found = _subject_warnings(ruleset, places) + _keyword_warnings(ruleset, places)
    found += _filter_warnings(ruleset, places) + _excluded_warnings(ruleset, places)
    found += _empty_regex_warnings(ruleset, places) + _inactive_only_warnings(files, ruleset)
    found += _route_warnings(ruleset, places)
    return sorted(found)


# Removed by the sending MTA before delivery: a route testing it never sees it.
NEVER_DELIVERED = ("bcc", "resent-bcc")


def _route_warnings(ruleset: Ruleset, places: _Places) -> list[Problem]:
    """Routes that never run (an earlier route with the same conditions stops first) or never match."""
    found, stoppers = [], {}
    for route in ruleset.routes.routes:
        earlier = stoppers.get(route.spec)
        if earlier is not None:
            found.append(places.warn(route.origin, route.path, f"route '{route.name}' never runs: route "
                                     f"'{earlier.name}' at {earlier.origin} has the same conditions and stops first",
                                     "merge the two, or give the earlier one continue: true"))
        elif route.stop:
            stoppers[route.spec] = route
        found += [places.warn(route.origin, route.path, f"route '{route.name}' can never match: {why}", hint)
                  for why, hint in _impossible(route.spec)]
    return found


def _impossible(condition) -> Iterable[tuple[str, str]]:
    for key, value in condition.items():
        if key == "header" and value["name"].lower() in NEVER_DELIVERED and value.get("exists") is not False:
            yield (f"it tests the {value['name']} header, which mail servers remove before delivery",
                   "test the recipients (recipient:) instead")
        elif key in ("attachment_count", "attachment_bytes") and value.get("min", 0) > value.get("max", float("inf")):
            yield f"its {key} min is above its max", "swap them"
        elif key == "all":
            for part in value:
                yield from _impossible(part)


def _target(rule: SubjectRule) -> str:
    if rule.quick_pick:
        return f"quick pick {rule.quick_pick}"
    return f"subtype {rule.subtype} (type {rule.type})" if rule.subtype else f"type {rule.type}"


def _subject_warnings(ruleset: Ruleset, places: _Places) -> list[Problem]:
    """A pattern whose text an earlier pattern has (no narrower) never wins; a target all of whose patterns
    are like that is never chosen from the subject."""
    earliest: dict[str, SubjectRule] = {}  # normalised text -> first pattern with it, any mode
    earliest_contains: dict[str, SubjectRule] = {}
    found, outcome = [], {}
    for rule in sorted(ruleset.subject_rules, key=lambda r: r.order):
        text = normalise(rule.text)
        winner = earliest.get(text) if rule.mode == "exact" else earliest_contains.get(text)
        earliest.setdefault(text, rule)
        if rule.mode == "contains":
            earliest_contains.setdefault(text, rule)
        outcome.setdefault((_target(rule), rule.origin), []).append((rule, winner))
        if winner is not None:
            whose = "the same entry" if _target(winner) == _target(rule) else _target(winner)
            found.append(places.warn(rule.origin, rule.path,
                                     f"subject pattern '{rule.text}' of {_target(rule)} can never win: {whose}'s "
                                     f"'{winner.text}' at {places.text(winner.origin, winner.path)} is declared earlier",
                                     f"remove one of them, or make this one longer ({ORDER_HINT})"))
    for (target, _), pairs in outcome.items():
        if all(winner is not None for _, winner in pairs):
            rule, winner = pairs[0]
            why = ("its type's own pattern wins" if rule.subtype and all(w.type == rule.type and not w.subtype and not w.quick_pick
                                                                         for _, w in pairs)
                   else "each of its patterns loses to an earlier one")
            found.append(places.warn(rule.origin, rule.path[:-3], f"{target} can never be chosen from the subject: {why}",
                                     f"give it a pattern no earlier entry has ({ORDER_HINT})"))
    return found


def _shadowed(items: list, phrase: Callable, covers: Callable, whole_words: bool) -> Iterable[tuple]:
    """(item, the earliest earlier item that fires wherever it would) for each item that can never fire.

    Candidates come from one Aho-Corasick pass over each item's own phrase, so a 10,000-entry
    config is checked in linear time."""
    index = PhraseIndex((phrase(item), item) for item in items)
    for item in items:
        hits = [hit[2] for hit in index.find(normalise(phrase(item)), whole_words)]
        earlier = [other for other in hits if other is not item and declared(other) < declared(item) and covers(other, item)]
        if earlier:
            yield item, min(earlier, key=declared)


def _keyword_warnings(ruleset: Ruleset, places: _Places) -> list[Problem]:
    """A keyword whose phrase holds an earlier keyword (checked where it is) never fires: the earlier one does."""
    covers = lambda a, b: a.where in ("both", b.where)  # noqa: E731
    return [places.warn(k.origin, k.path, f"keyword '{k.phrase}' can never fire: the earlier keyword '{w.phrase}' "
                                          f"at {places.text(w.origin, w.path)} is in it and is checked there too",
                        "remove this one, or the shorter one if it is too broad")
            for k, w in _shadowed(list(ruleset.keywords), lambda k: k.phrase, covers, whole_words=True)]


def _filter_warnings(ruleset: Ruleset, places: _Places) -> list[Problem]:
    """A filter that matches only where an earlier partial filter matches never fires."""
    found = []
    for kind, filters in (("sender", ruleset.sender_filters), ("subject", ruleset.subject_filters)):
        items = [f for f in filters if f.match != "regex"]
        covers = lambda a, b: a.match == "partial"  # noqa: E731
        found += [places.warn(f.origin, f.path, f"{kind} filter '{f.pattern}' can never fire: the earlier filter "
                                                f"'{w.pattern}' at {places.text(w.origin, w.path)} matches wherever it does",
                              "remove this one (the earlier filter ignores the same mail)")
                  for f, w in _shadowed(items, lambda f: f.pattern, covers, whole_words=False)]
    return found


def _excluded_warnings(ruleset: Ruleset, places: _Places) -> list[Problem]:
    """An excluded text holding an earlier one is never found whole: the earlier one has cut its middle out."""
    items = [e for e in ruleset.excluded_text if not e.is_regex]
    return [places.warn(e.origin, e.path, f"excluded text '{e.name}' is never found whole: the earlier excluded text "
                                          f"'{w.name}' at {places.text(w.origin, w.path)} is part of it and is removed first",
                        "remove the shorter one, or this one")
            for e, w in _shadowed(items, lambda e: e.source, lambda a, b: True, whole_words=False)]


def _empty_regex_warnings(ruleset: Ruleset, places: _Places) -> list[Problem]:
    """A regex that matches the empty string matches every text: a filter would ignore all mail."""
    checks: Iterable = [(f, f"{kind} filter", f"it matches every {kind}, so it ignores all mail")
                        for kind, filters in (("sender", ruleset.sender_filters), ("subject", ruleset.subject_filters))
                        for f in filters if f.match == "regex"]
    checks = [*checks, *[(e, "excluded text", "it is found in every body") for e in ruleset.excluded_text if e.is_regex]]
    return [places.warn(item.origin, item.path, f"{what} regex '{item.regex.pattern}' matches the empty string: {why}",
                        "make it need at least one character (e.g. + instead of *, no optional-only pattern)")
            for item, what, why in checks if item.regex.search("") is not None]


_REFERENCED = {"template": "template", "user": "user", "user_template": "user template"}


def _inactive_only_warnings(files: list[LoadedFile], ruleset: Ruleset) -> list[Problem]:
    """Templates, users and user templates that only inactive mailboxes name: dead weight, or a mailbox left off."""
    active = {m.name: m.active for m in ruleset.mailboxes}
    users: dict[tuple, set] = {}
    for loaded in files:
        owner = loaded.data["mailbox"]["name"] if loaded.kind == "mailbox" else None
        for _, value, ref in walk_refs(loaded.data, schema_for(loaded.kind), loaded.kind):
            kind = _REFERENCED.get("user" if ref == "user-or-address" else ref)
            if kind:
                users.setdefault((kind, value), set()).add(owner)
    definitions = _definitions(files)
    found = []
    for (kind, name), owners in sorted(users.items()):
        if None in owners or any(active.get(o) for o in owners) or (kind, name) not in definitions:
            continue
        loaded, path = locate(*definitions[(kind, name)])
        line, column = loaded.mark(path)
        found.append(Problem(loaded.label, line, column, f"{kind} '{name}' is used only by inactive mailbox(es) "
                             f"{', '.join(sorted(owners))}: no active mailbox uses it",
                             "activate the mailbox, or remove what only it needs", "warning"))
    return found


def _definitions(files: list[LoadedFile]) -> dict[tuple, tuple[LoadedFile, tuple]]:
    from engine.config.entries import build_index  # the index of every named entry, with its place

    index, _ = build_index(files)
    found = {}
    for kind in _REFERENCED.values():
        for name, entry in index.get(kind, {}).items():
            found[(kind, name)] = (entry.file, entry.path)
    return found

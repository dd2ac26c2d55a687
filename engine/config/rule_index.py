"""Matchers compiled once per Ruleset, so evaluation cost does not grow with rule count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from functools import cached_property

import re2

from engine.config.matching import PhraseIndex, RegexIndex, normalise
from engine.config.patterns import literal_regex

if TYPE_CHECKING:  # ruleset.py builds a RuleIndex, so this module may not import it at run time
    from engine.config.ruleset import Filter, Ruleset


@dataclass(frozen=True)
class FilterIndex:
    """Partial filters in one automaton, full ones in a dict, regexes in one FilteredRE2."""

    partial: PhraseIndex
    full: dict
    regexes: RegexIndex

    @classmethod
    def build(cls, filters: tuple[Filter, ...]) -> "FilterIndex":
        full: dict = {}
        for item in filters:
            if item.match == "full":
                full.setdefault(normalise(item.pattern), item)
        return cls(PhraseIndex((f.pattern, f) for f in filters if f.match == "partial"), full,
                   RegexIndex((f.pattern, f) for f in filters if f.match == "regex"))

    def first_match(self, *texts: str) -> Filter | None:
        """The earliest-declared filter matching any of `texts`."""
        found = []
        for text in texts:
            norm = normalise(text or "")
            if not norm:
                continue
            found += [hit[2] for hit in self.partial.find(norm)]
            if norm in self.full:
                found.append(self.full[norm])
            found += self.regexes.search(text)
        return min(found, key=declared, default=None)


@dataclass(frozen=True)
class RecipientIndex:
    """filters.never_send_to (F-OUT-8): domains by name (a subdomain matches too), the rest as a FilterIndex."""

    domains: dict
    others: FilterIndex

    @classmethod
    def build(cls, filters: tuple[Filter, ...]) -> "RecipientIndex":
        domains: dict = {}
        for item in filters:
            if item.match == "domain":
                domains.setdefault(item.pattern.lower().strip("."), item)
        return cls(domains, FilterIndex.build(tuple(f for f in filters if f.match != "domain")))

    def first_match(self, address: str) -> Filter | None:
        """The earliest-declared entry that `address` falls under."""
        labels = address.rpartition("@")[2].lower().split(".")
        found = [self.domains[d] for d in (".".join(labels[i:]) for i in range(len(labels))) if d in self.domains]
        other = self.others.first_match(address)
        return min(found + ([other] if other else []), key=declared, default=None)


def declared(item) -> tuple[str, int]:
    file, _, line = item.origin.rpartition(":")
    return file, int(line)


class RuleIndex:
    """Everything the stages match against, compiled from one Ruleset."""

    def __init__(self, ruleset: Ruleset):
        self.ruleset = ruleset

    @cached_property
    def sender_filters(self) -> FilterIndex:
        return FilterIndex.build(self.ruleset.sender_filters)

    @cached_property
    def recipient_filters(self) -> RecipientIndex:
        return RecipientIndex.build(self.ruleset.recipient_filters)

    @cached_property
    def subject_filters(self) -> FilterIndex:
        return FilterIndex.build(self.ruleset.subject_filters)

    @cached_property
    def subject_keywords(self) -> PhraseIndex:
        return PhraseIndex((k.phrase, k) for k in self.ruleset.keywords if k.where in ("subject", "both"))

    @cached_property
    def body_keywords(self) -> PhraseIndex:
        return PhraseIndex((k.phrase, k) for k in self.ruleset.keywords if k.where in ("body", "both"))

    @cached_property
    def excluded_literals(self) -> PhraseIndex:
        return PhraseIndex((e.source, e) for e in self.ruleset.excluded_text if not e.is_regex)

    @cached_property
    def excluded_regexes(self) -> RegexIndex:
        return RegexIndex((e.source, e) for e in self.ruleset.excluded_text if e.is_regex)

    @cached_property
    def subject_contains(self) -> PhraseIndex:
        return PhraseIndex((r.text, r) for r in self.ruleset.subject_rules if r.mode == "contains")

    @cached_property
    def subject_exact(self) -> dict:
        exact: dict = {}
        for rule in self.ruleset.subject_rules:
            if rule.mode == "exact":
                exact.setdefault(normalise(rule.text), []).append(rule)
        return exact

    @cached_property
    def reference_regex(self):
        """One RE2 alternation of every reference form, each number in its own group."""
        parts = [literal_regex(form, "{id}", r"\s*(\d{1,12})") for form in self.ruleset.reference_forms]
        return re2.compile("|".join(f"(?:{p})" for p in parts), _case_insensitive())

    @cached_property
    def tokens(self) -> dict:
        return {t.name: t for t in self.ruleset.tokens}


def _case_insensitive():
    options = re2.Options()
    options.case_sensitive = False
    return options

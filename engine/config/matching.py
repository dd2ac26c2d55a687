"""Multi-pattern matching whose cost does not grow with the number of rules (Aho-Corasick, FilteredRE2)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Generic, TypeVar

import ahocorasick
import re2

T = TypeVar("T")


# Several stages normalise the same body (keywords, excluded text): remember the last few.
@lru_cache(maxsize=16)
def normalise(text: str) -> str:
    """Lower-case `text` and collapse every run of white space (line breaks too) to one space."""
    # str.split() splits on exactly the characters re's \s matches, ~3x faster than re.sub.
    return " ".join(text.split()).lower()


class PhraseIndex(Generic[T]):
    """Finds every indexed phrase in a text in one pass, however many phrases there are."""

    def __init__(self, phrases: Iterable[tuple[str, T]]):
        self._automaton = ahocorasick.Automaton()
        grouped: dict[str, list[T]] = {}
        for phrase, value in phrases:
            key = normalise(phrase)
            if key:
                grouped.setdefault(key, []).append(value)
        for key, values in grouped.items():
            self._automaton.add_word(key, (key, tuple(values)))
        self._empty = not grouped
        if grouped:
            self._automaton.make_automaton()

    def find(self, normalised_text: str, whole_words: bool = False) -> list[tuple[int, int, T]]:
        """(start, end, value) of every occurrence, in text order; `text` must be normalised."""
        if self._empty or not normalised_text:
            return []
        hits = []
        for end, (key, values) in self._automaton.iter(normalised_text):
            start = end - len(key) + 1
            if whole_words and not _on_word_boundaries(normalised_text, start, end + 1, key):
                continue
            hits.extend((start, end + 1, value) for value in values)
        hits.sort(key=lambda hit: (hit[0], hit[1]))
        return hits


def _on_word_boundaries(text: str, start: int, end: int, key: str) -> bool:
    """A phrase that starts/ends with a word character must not continue a longer word."""
    if key[0].isalnum() and start > 0 and text[start - 1].isalnum():
        return False
    if key[-1].isalnum() and end < len(text) and text[end].isalnum():
        return False
    return True


class RegexIndex(Generic[T]):
    """Finds which of many regexes occur in a text without running each one (RE2's FilteredRE2).

    The literal pieces every match must contain ("atoms") are searched for in one pass; only
    the regexes whose atoms occur run, plus those with no atom at all (e.g. `\\d{6}`).
    """

    def __init__(self, regexes: Iterable[tuple[str, T]]):
        self._values: list[T] = []
        self._filter = re2.Filter()
        for pattern, value in regexes:  # already checked by engine.config.patterns.compile_safe
            self._filter.Add(pattern, _OPTIONS)
            self._values.append(value)
        if self._values:
            self._filter.Compile()

    def __len__(self) -> int:
        return len(self._values)

    def search(self, text: str) -> list[T]:
        """The value of every regex that matches somewhere in `text`, in the order given."""
        if not self._values:
            return []
        return [self._values[i] for i in self._filter.Match(text) or ()]


def _re2_options() -> re2.Options:
    options = re2.Options()  # as engine.config.patterns.compile_safe: case-insensitive, errors not logged
    options.case_sensitive = False
    options.log_errors = False
    return options


_OPTIONS = _re2_options()

"""Deeply immutable, comparable copies of loaded YAML data (F-CFG-5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FrozenDict(dict):
    """A read-only, hashable dict that keeps insertion order."""

    # A dict, not a Mapping: evaluate() reads ~100 options per message, and a Mapping's
    # __getitem__/get/__contains__ are Python calls (a third of all calls evaluate() made).
    __slots__ = ("_hash",)

    def __init__(self, items=()):
        super().__init__(items)
        self._hash = None

    def _read_only(self, *args, **kwargs):
        raise TypeError("a FrozenDict is read-only")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted(self.items(), key=lambda kv: kv[0])))
        return self._hash

    def __reduce__(self):
        return FrozenDict, (dict(self),)  # copy and pickle without __setitem__

    def __repr__(self) -> str:
        return f"FrozenDict({dict.__repr__(self)})"


def freeze(value: Any) -> Any:
    """Dicts become FrozenDicts and lists tuples, all the way down."""
    if isinstance(value, dict):
        return FrozenDict((k, freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The plain dict/list form of a frozen value (for JSON output)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value

"""Typed, frozen knobs: each section's values as attributes, and where each one was written (F-CFG-5)."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, Mapping

from engine.config.freeze import FrozenDict, freeze

DEFAULT = "default"  # the origin of a knob nobody wrote: the schema's default (or none) applies
Written = Mapping[tuple, str]  # path of a written key -> "file:line"


def key(name: str, **more) -> Any:
    """A field whose YAML key differs from its attribute name (e.g. `class`, a Python keyword)."""
    return field(metadata={"key": name}, **more)


@dataclass(frozen=True)
class Section:
    """Base of every section. `where(name)` is the file:line that wrote a knob, or 'default'."""

    origins: FrozenDict = field(default=FrozenDict(), kw_only=True, repr=False, compare=False)

    def where(self, *names: str) -> str:
        """Where the first written of `names` was written; 'default' when none was."""
        for name in names:
            origin = self.origins.get(name, DEFAULT)
            if origin != DEFAULT:
                return origin
        return DEFAULT

    def written(self, name: str) -> bool:
        """True when a config file wrote this knob (its value is not a default)."""
        return self.origins.get(name, DEFAULT) != DEFAULT


def yaml_key(f) -> str:
    """The YAML key of a section field."""
    return f.metadata.get("key", f.name)


@lru_cache(maxsize=None)
def knob_fields(cls: type) -> tuple[tuple[str, str, type | None], ...]:
    """(attribute, YAML key, Section type or None) for each knob of a section class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, yaml_key(f), _section_type(hints[f.name])) for f in fields(cls) if f.name != "origins")


def _section_type(hint) -> type | None:
    for candidate in (hint, *typing.get_args(hint)):
        if isinstance(candidate, type) and issubclass(candidate, Section):
            return candidate
    return None


def build(cls: type, data: Mapping | None, written: Written, path: tuple = ()) -> Any:
    """A `cls` section from its (default-filled) mapping; each knob's origin looked up in `written`."""
    data = data or {}
    values, origins = {}, {}
    for name, yaml_name, section in knob_fields(cls):
        value = data.get(yaml_name)
        if section is not None and isinstance(value, Mapping):
            value = build(section, value, written, path + (yaml_name,))
        else:
            value = freeze(value)
        values[name] = value
        origins[name] = written.get(path + (yaml_name,), DEFAULT)
    return cls(**values, origins=FrozenDict(origins))


def written_keys(key_marks: Mapping[tuple, tuple[int, int]], label: str, strip: int = 0) -> dict[tuple, str]:
    """Every key a file wrote, as path -> 'file:line' (`strip` drops leading path parts)."""
    return {path[strip:]: f"{label}:{mark[0]}" for path, mark in key_marks.items() if len(path) > strip}

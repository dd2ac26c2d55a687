"""Load YAML files keeping the line and column of every key and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.config.problems import Problem

Path_ = tuple  # a JSON path: keys and list indexes from the document root


@dataclass
class LoadedFile:
    """One YAML document with 1-based (line, column) marks for each path."""

    path: Path  # absolute
    label: str  # as shown in errors: relative to the config directory
    kind: str  # "mailbox" or "rules"
    data: Any = None
    value_marks: dict = field(default_factory=dict)  # path -> (line, col) of the value
    key_marks: dict = field(default_factory=dict)  # path -> (line, col) of its key
    block_scalars: set = field(default_factory=set)  # paths of | and > scalars (text starts a line later)

    def mark(self, path: Path_) -> tuple[int, int]:
        """Best position for `path`: its key, else its value, else the nearest parent."""
        path = tuple(path)
        while path:
            if path in self.key_marks:
                return self.key_marks[path]
            if path in self.value_marks:
                return self.value_marks[path]
            path = path[:-1]
        return self.value_marks.get((), (1, 1))

    def value_mark(self, path: Path_) -> tuple[int, int]:
        """Position of the value at `path` (falls back like mark())."""
        return self.value_marks.get(tuple(path)) or self.mark(path)

    def problem(self, path: Path_, message: str, hint: str = "", *, at_value: bool = False) -> Problem:
        """A Problem located at `path` in this file."""
        line, col = self.value_mark(path) if at_value else self.mark(path)
        return Problem(self.label, line, col, message, hint)


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns a composed YAML node tree into Python values, recording marks."""

    def __init__(self, loaded: LoadedFile, loader: yaml.SafeLoader):
        self.loaded = loaded
        self.loader = loader
        self.problems: list[Problem] = []

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.loaded.value_marks[path] = _pos(node)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if getattr(node, "style", None) in ("|", ">"):
            self.loaded.block_scalars.add(path)
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict:
        self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<)
        result: dict = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                key = str(key)
            if key in result:
                line, col = _pos(key_node)
                first = self.loaded.key_marks[path + (key,)]
                self.problems.append(Problem(
                    self.loaded.label, line, col, f"key '{key}' appears twice in this mapping",
                    f"keep one of them (the other is at line {first[0]})"))
                continue
            self.loaded.key_marks[path + (key,)] = _pos(key_node)
            result[key] = self.build(value_node, path + (key,))
        return result


# libyaml parses a 10,000-rule config ~10x faster; the pure-Python parser words syntax errors better.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_file(path: Path, label: str, kind: str) -> tuple[LoadedFile, list[Problem]]:
    """Parse one YAML file; syntax errors come back as located problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        loaded = LoadedFile(path=path, label=label, kind=kind)
        return loaded, [Problem(label, 1, 1, f"cannot read the file: {err}", "save it as UTF-8 text")]
    try:
        return _load(LoadedFile(path=path, label=label, kind=kind), text, _FAST_LOADER)
    except yaml.YAMLError:
        pass  # parse again below, for the pure-Python parser's wording of the error
    loaded = LoadedFile(path=path, label=label, kind=kind)
    try:
        return _load(loaded, text, yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = err.problem or "invalid YAML"
        return loaded, [Problem(label, line, col, f"YAML syntax error: {what}",
                                "fix the indentation or quoting near here")]


def _load(loaded: LoadedFile, text: str, loader_class) -> tuple[LoadedFile, list[Problem]]:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return loaded, [Problem(loaded.label, 1, 1, "the file is empty", "start it with `version: 1`")]
        builder = _Builder(loaded, loader)
        loaded.data = builder.build(node, ())
        return loaded, builder.problems
    finally:
        loader.dispose()


def discover(config_dir: Path) -> list[tuple[Path, str]]:
    """The config files in sorted order, each with its kind."""
    found = []
    for folder, kind in (("mailboxes.d", "mailbox"), ("rules", "rules")):
        base = config_dir / folder
        if base.is_dir():
            files = sorted(p for p in base.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            found.extend((p, kind) for p in files)
    return found

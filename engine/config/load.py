"""Load YAML files keeping the line and column of every key and value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from engine.config.problems import Problem

Path_ = tuple  # a JSON path: keys and list indexes from the document root
# A 10,000-rule file is about 3 MB. Bigger files are refused before parsing, with a
# located error, so `validate` in CI cannot be made to eat the runner's memory.
MAX_FILE_BYTES = 8 * 1024 * 1024
# Values built again through YAML aliases and merge keys, per file: enough for any
# sane use of `<<: *defaults`, far too few for a "billion laughs" (10 aliases x 10 levels).
MAX_ALIAS_VALUES = 10_000


class _AliasBomb(Exception):
    """Aliases expanded past MAX_ALIAS_VALUES; carries the node where it happened."""

    def __init__(self, node: yaml.Node):
        super().__init__("alias expansion")
        self.node = node


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

    @property
    def root(self) -> Path:
        """The config directory the file was found in (its label is relative to it)."""
        return self.path.parents[len(Path(self.label).parts) - 1]

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
        self.seen: set[int] = set()  # nodes built once; an alias builds its node again
        self.again = 0

    def build(self, node: yaml.Node, path: Path_) -> Any:
        if id(node) in self.seen:
            self.again += 1
            if self.again > MAX_ALIAS_VALUES:
                raise _AliasBomb(node)
        self.seen.add(id(node))
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
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return LoadedFile(path=path, label=label, kind=kind), [Problem(
                label, 1, 1, f"the file is {size / 1048576:.1f} MB, more than the {MAX_FILE_BYTES // 1048576} MB "
                "a config file may be", "split it into several files")]
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
        try:
            loaded.data = builder.build(node, ())
        except _AliasBomb as bomb:
            loaded.data = None
            line, col = _pos(bomb.node)
            return loaded, [Problem(loaded.label, line, col,
                                    f"YAML aliases expand to more than {MAX_ALIAS_VALUES:,} values (an alias bomb)",
                                    "write the values out, or use fewer aliases and merge keys")]
        return loaded, builder.problems
    finally:
        loader.dispose()


def outside(path: Path, root: Path) -> bool:
    """True when `path`, symlinks followed, leaves the directory `root`."""
    try:
        return not path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return True


def discover(config_dir: Path) -> list[tuple[Path, str]]:
    """The config files in sorted order, each with its kind (links leaving the directory included: check outside())."""
    found = []
    for folder, kind in (("mailboxes.d", "mailbox"), ("rules", "rules")):
        base = config_dir / folder
        if base.is_dir():
            files = sorted(p for p in base.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            found.extend((p, kind) for p in files)
    return found

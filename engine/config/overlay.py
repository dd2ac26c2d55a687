"""Overlays: a later rules file extends (`extends: NAME`) or replaces (`replace: NAME`) an earlier file's entry.

So an admin keeps the shipped rules untouched and puts local changes in a file of their own.
The merge yields, per rules file, a view of its data with the overlays applied; every merged
value keeps the place it was written (file, line, column), so errors, warnings and the trace
cite the overlay file for what the overlay added.
"""

from __future__ import annotations

import copy
import difflib
from dataclasses import dataclass, field

from engine.config.load import LoadedFile
from engine.config.problems import Problem

# Lists of named entries that overlays may target: path of the list -> (key naming an entry, what it is).
SECTIONS = {("types",): ("name", "type"), ("quick_picks",): ("name", "quick pick"),
            ("user_templates",): ("name", "user template"), ("excluded_text",): ("name", "excluded text"),
            ("tokens",): ("name", "token"), ("directory", "users"): ("login", "user"),
            ("directory", "groups"): ("name", "group"), ("directory", "organisations"): ("name", "organisation")}
NESTED = {"subtypes": ("name", "subtype")}  # named lists inside an entry, extended item by item
OPERATIONS = ("extends", "replace")


@dataclass
class MergedFile(LoadedFile):
    """A rules file with overlays applied. Paths that hold what another file wrote (or that moved up
    when an overlay entry was taken out of this file) point there: `moved` maps a path prefix here
    to (the original file, the path there)."""

    original: LoadedFile | None = None
    moved: dict = field(default_factory=dict)

    def locate(self, path) -> tuple[LoadedFile, tuple]:
        """The original file and path where the value at `path` of this merged data was written."""
        path = tuple(path)
        for size in range(len(path), 0, -1):
            if path[:size] in self.moved:
                owner, there = self.moved[path[:size]]
                return owner, there + path[size:]
        return self.original, path

    def mark(self, path) -> tuple[int, int]:
        owner, there = self.locate(path)
        return owner.mark(there)

    def value_mark(self, path) -> tuple[int, int]:
        owner, there = self.locate(path)
        return owner.value_mark(there)

    def problem(self, path, message: str, hint: str = "", *, at_value: bool = False) -> Problem:
        owner, there = self.locate(path)
        return owner.problem(there, message, hint, at_value=at_value)


def locate(loaded: LoadedFile, path) -> tuple[LoadedFile, tuple]:
    """Where the value at `path` of `loaded` was written: itself, unless an overlay put it there."""
    return loaded.locate(path) if isinstance(loaded, MergedFile) else (loaded, tuple(path))


def original(loaded: LoadedFile) -> LoadedFile:
    """The file as read from disk (a merged view's source, or the file itself)."""
    return loaded.original if isinstance(loaded, MergedFile) else loaded


def _dig(data, path):
    for part in path:
        if isinstance(data, dict) and part in data or isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _involved(files: list[LoadedFile]) -> bool:
    return any(isinstance(item, dict) and any(op in item for op in OPERATIONS)
               for f in files if f.kind == "rules" for section in SECTIONS
               for item in (_dig(f.data, section) or ()))


def apply_overlays(files: list[LoadedFile], complete: bool = True) -> tuple[list[LoadedFile], list[Problem]]:
    """The files with every overlay merged into the entry it names (in file order), and what went wrong.

    When a rules file failed the schema (`complete` false), the entry an overlay names may be in it:
    a missing target is not reported then, as references are not."""
    if not _involved(files):
        return files, []  # the common case costs one scan
    merger = _Merger()
    merged = [merger.take(f) if f.kind == "rules" else f for f in files]
    return merged, merger.problems if complete else [p for p in merger.problems if " to extend" not in p.message
                                                     and " to replace" not in p.message]


class _Merger:
    """Walks rules files in order, keeping where each named entry lives now."""

    def __init__(self):
        self.entries: dict[tuple, dict[str, tuple[MergedFile, tuple]]] = {}  # section -> name -> (file, path)
        self.problems: list[Problem] = []

    def take(self, loaded: LoadedFile) -> MergedFile:
        view = MergedFile(path=loaded.path, label=loaded.label, kind=loaded.kind, data=copy.deepcopy(loaded.data),
                          value_marks=loaded.value_marks, key_marks=loaded.key_marks,
                          block_scalars=loaded.block_scalars, original=loaded)
        for section, (key, what) in SECTIONS.items():
            items = _dig(view.data, section)
            if not items:
                continue
            kept = []
            for i, item in enumerate(items):
                op = next((op for op in OPERATIONS if op in item), None)
                if op is None:
                    if len(kept) != i:  # an overlay above it was taken out: it moved up
                        view.moved[section + (len(kept),)] = (loaded, section + (i,))
                    self.entries.setdefault(section, {}).setdefault(str(item[key]), (view, section + (len(kept),)))
                    kept.append(item)
                else:
                    self._overlay(loaded, section + (i,), item, op, section, key, what)
            _dig(view.data, section[:-1])[section[-1]] = kept
        return view

    def _overlay(self, loaded, where: tuple, item: dict, op: str, section: tuple, key: str, what: str) -> None:
        if not self._well_formed(loaded, where, item, op, key):
            return
        known = self.entries.get(section, {})
        target = item[op]
        if target not in known:
            self.problems.append(_missing(loaded, where + (op,), op, what, target, known))
            return
        view, path = known[target]
        entry = _dig(view.data, path)
        if op == "replace":
            _replace(view, path, {key: target}, loaded, where, item)
        else:
            self._extend(view, path, entry, loaded, where, item, what, target)

    def _well_formed(self, loaded, where, item, op, key) -> bool:
        other = [k for k in (*OPERATIONS, key) if k != op and k in item]
        if other:
            self.problems.append(loaded.problem(where + (other[0],), f"an entry with `{op}:` takes no `{other[0]}:`",
                                                f"`{op}: NAME` names the entry it changes; remove `{other[0]}:`"))
        return not other

    def _extend(self, view, path, entry, loaded, where, item, what, target) -> None:
        """Lists are appended to, mappings merged key by key; a single value already set stays an error."""
        for name, value in item.items():
            if name in OPERATIONS:
                continue
            here, there = path + (name,), where + (name,)
            if name not in entry:
                entry[name] = copy.deepcopy(value)
                view.moved[here] = (loaded, there)
            elif name in NESTED and isinstance(value, list):
                self._extend_nested(view, here, entry[name], loaded, there, value, NESTED[name], f"{what} '{target}'")
            elif isinstance(entry[name], list) and isinstance(value, list):
                for j, element in enumerate(value):
                    view.moved[here + (len(entry[name]),)] = (loaded, there + (j,))
                    entry[name].append(copy.deepcopy(element))
            elif isinstance(entry[name], dict) and isinstance(value, dict):
                self._extend(view, here, entry[name], loaded, where + (name,), value, what, target)
            else:
                line, column = view.mark(here)
                owner, _ = view.locate(here)
                self.problems.append(loaded.problem(
                    there, f"`extends: {target}` cannot change '{name}': the {what} sets it at {owner.label}:{line}:{column}",
                    f"use `replace: {target}` to write the whole {what} anew, or leave '{name}' out"))

    def _extend_nested(self, view, here, items: list, loaded, there, additions: list, named, owner_text) -> None:
        key, what = named
        for j, addition in enumerate(additions):
            op = next((op for op in OPERATIONS if isinstance(addition, dict) and op in addition), None)
            names = {str(x.get(key)): k for k, x in enumerate(items)}
            if op is None and str(addition.get(key)) in names:
                self.problems.append(loaded.problem(there + (j, key), f"{what} '{addition[key]}' of {owner_text} is "
                                                    f"defined twice", f"write `extends: {addition[key]}` to add to it"))
            elif op is None:
                view.moved[here + (len(items),)] = (loaded, there + (j,))
                items.append(copy.deepcopy(addition))
            elif self._well_formed(loaded, there + (j,), addition, op, key):
                if addition[op] not in names:
                    self.problems.append(_missing(loaded, there + (j, op), op, f"{what} of {owner_text}", addition[op], names))
                elif op == "replace":
                    _replace(view, here + (names[addition[op]],), {key: addition[op]}, loaded, there + (j,), addition)
                else:
                    index = names[addition[op]]
                    self._extend(view, here + (index,), items[index], loaded, there + (j,), addition, what, addition[op])


def _replace(view: MergedFile, path: tuple, naming: dict, loaded: LoadedFile, where: tuple, item: dict) -> None:
    """The entry at `path` becomes the overlay's own, named as before; its place is the overlay's."""
    replacement = {**naming, **{k: copy.deepcopy(v) for k, v in item.items() if k not in OPERATIONS}}
    parent = _dig(view.data, path[:-1])
    parent[path[-1]] = replacement
    for moved in [p for p in view.moved if p[:len(path)] == path]:
        del view.moved[moved]
    view.moved[path] = (loaded, where)


def _missing(loaded, path, op, what, target, known) -> Problem:
    verb = "extend" if op == "extends" else "replace"
    close = difflib.get_close_matches(str(target), [str(k) for k in known], n=1)
    hint = (f"did you mean '{close[0]}'?" if close else
            f"an overlay changes an entry of an earlier file (rules files merge in file-name order)")
    return loaded.problem(path, f"there is no {what} '{target}' to {verb}", hint, at_value=True)


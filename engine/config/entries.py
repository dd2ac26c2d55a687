"""Index every named entry across config files, so duplicates name both places."""

from __future__ import annotations

from dataclasses import dataclass

from engine.config.load import LoadedFile
from engine.config.overlay import SECTIONS, locate
from engine.config.problems import Problem


@dataclass(frozen=True)
class Entry:
    """One definition: its kind, its key, and where it was written."""

    kind: str
    key: str
    file: LoadedFile
    path: tuple

    def where(self) -> str:
        owner, path = locate(self.file, self.path)  # a replaced entry is written in the overlay file
        line, col = owner.mark(path)
        return f"{owner.label}:{line}:{col}"


def _lower(value) -> str:
    return str(value).strip().lower()


def _filter_key(entry) -> str:
    return _lower(entry if isinstance(entry, str) else entry["pattern"])


# (kind, path to a list or mapping in a rules file, key of each item)
_RULE_ENTRIES = (
    ("sender filter", ("filters", "senders"), _filter_key),
    ("subject filter", ("filters", "subjects"), _filter_key),
    ("never-send-to entry", ("filters", "never_send_to"), _filter_key),
    ("keyword", ("keywords",), lambda e: " ".join(_lower(e["phrase"]).split())),
    ("excluded text", ("excluded_text",), lambda e: e["name"]),
    ("token", ("tokens",), lambda e: _lower(e["name"])),
    ("priority", ("priorities",), str),
    ("class", ("classes",), str),
    ("category", ("categories",), str),
    ("type", ("types",), lambda e: e["name"]),
    ("quick pick", ("quick_picks",), lambda e: e["name"]),
    ("user template", ("user_templates",), lambda e: e["name"]),
    ("user", ("directory", "users"), lambda e: e["login"]),
    ("user address", ("directory", "users"), lambda e: _lower(e["email"])),
    ("group", ("directory", "groups"), lambda e: e["name"]),
    ("organisation", ("directory", "organisations"), lambda e: e["name"]),
    ("reference form", ("references", "subject"), str),
    ("reply prefix", ("reply_prefixes",), _lower),
    ("route", ("routes",), lambda e: e["name"]),
    ("calendar", ("calendars",), lambda e: e["name"]),
    ("custom field", ("custom_fields",), str),
)
_SINGLE_KEYS = (("setting", ("settings",)), ("limit", ("limits",)), ("filter option", ("filters",)),
                ("reference tag", ("references",)))


def _dig(data, path):
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _rule_entries(loaded: LoadedFile):
    data = loaded.data
    for kind, path, key_of in _RULE_ENTRIES:
        for i, item in enumerate(_dig(data, path) or ()):
            yield Entry(kind, key_of(item), loaded, path + (i,))
    for name in (_dig(data, ("templates",)) or {}):
        yield Entry("template", name, loaded, ("templates", name))
    for kind, path in _SINGLE_KEYS:
        section = _dig(data, path) or {}
        for key, value in section.items():
            if not isinstance(value, list) and not (kind == "reference tag" and key != "tag"):
                yield Entry(kind, f"{path[0]}.{key}", loaded, path + (key,))


def _mailbox_entries(loaded: LoadedFile):
    mailbox = loaded.data["mailbox"]
    yield Entry("mailbox", mailbox["name"], loaded, ("mailbox", "name"))
    yield Entry("mailbox address", _lower(mailbox["address"]), loaded, ("mailbox", "address"))


_OVERLAID = {what for _, what in SECTIONS.values()}


def _twice_hint(entry: Entry) -> str:
    if entry.kind in _OVERLAID:
        return (f"keep one; to change the earlier one from this file, write `extends: {entry.key}` (add to it) "
                f"or `replace: {entry.key}` instead of the name")
    return "keep one definition and delete the other"


def build_index(files: list[LoadedFile]) -> tuple[dict[str, dict[str, Entry]], list[Problem]]:
    """Map kind -> key -> first Entry, and a problem for every second definition."""
    index: dict[str, dict[str, Entry]] = {}
    problems: list[Problem] = []
    for loaded in files:
        entries = _mailbox_entries(loaded) if loaded.kind == "mailbox" else _rule_entries(loaded)
        for entry in entries:
            known = index.setdefault(entry.kind, {})
            if entry.key in known:
                first = known[entry.key]
                problems.append(entry.file.problem(
                    entry.path, f"{entry.kind} '{entry.key}' is defined twice: here and at {first.where()}",
                    _twice_hint(entry)))
            else:
                known[entry.key] = entry
    return index, problems

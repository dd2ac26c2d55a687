"""What differs between two decisions about the same mail: the fields, and the trace step where the paths part."""

from __future__ import annotations

from dataclasses import dataclass

IGNORED = ("trace", "duplicate_key", "subject_key")  # the trace is compared step by step; the keys derive from the mail
STEP_KEYS = ("stage", "rule", "hit", "detail")  # not origin: a rule that moved down a line still decides the same


@dataclass(frozen=True)
class Change:
    """One decision field with its value before and after (None for a list item that is new or gone)."""

    field: str
    before: object
    after: object


@dataclass(frozen=True)
class Parting:
    """The first trace step where the two evaluations went different ways (None: that trace ended)."""

    index: int
    before: dict | None
    after: dict | None


def changes(before: dict, after: dict) -> list[Change]:
    """Every field of the decision JSON that differs, by dotted path (ticket.type, outgoing[0].subject…)."""
    return _diff({k: v for k, v in before.items() if k not in IGNORED},
                 {k: v for k, v in after.items() if k not in IGNORED}, "")


def _diff(before, after, path: str) -> list[Change]:
    if before == after:
        return []
    if isinstance(before, dict) and after is None or before is None and isinstance(after, dict):
        return _diff(before or {}, after or {}, path)  # a ticket or note that is new or gone: its fields
    if isinstance(before, dict) and isinstance(after, dict):
        return [c for key in dict.fromkeys([*before, *after])
                for c in _diff(before.get(key), after.get(key), f"{path}.{key}" if path else key)]
    if isinstance(before, (list, tuple)) and isinstance(after, (list, tuple)):
        return _list_diff(list(before), list(after), path)
    return [Change(path, before, after)]


def _list_diff(before: list, after: list, path: str) -> list[Change]:
    """Items compared in place where both lists have them; what one list has beyond the other is new or gone."""
    found = []
    for i in range(max(len(before), len(after))):
        old = before[i] if i < len(before) else None
        new = after[i] if i < len(after) else None
        if i >= len(before) or i >= len(after) or not isinstance(old, dict):
            if old != new:
                found.append(Change(f"{path}[{i}]", old, new))
        else:
            found += _diff(old, new, f"{path}[{i}]")
    return found


def parting(before: list, after: list) -> Parting | None:
    """The first step (by stage, rule, hit and detail) where the traces differ; None when they agree."""
    for i in range(max(len(before), len(after))):
        old = before[i] if i < len(before) else None
        new = after[i] if i < len(after) else None
        if old is None or new is None or any(old.get(k) != new.get(k) for k in STEP_KEYS):
            return Parting(i, old, new)
    return None


def step_text(step: dict | None) -> str:
    """One trace step as the text output prints it."""
    if step is None:
        return "(the trace ends here)"
    origin = f"  [{step['origin']}]" if step.get("origin") else ""
    return f"{'HIT ' if step['hit'] else 'miss'} {step['stage']}/{step['rule']}: {step.get('detail', '')}{origin}"


def item_text(value) -> str:
    """A value on one line: list items (mail, attachments, tokens) by what identifies them."""
    if isinstance(value, dict):
        if "role" in value and "to" in value:
            return f"{value['role']} to {value['to']}: {value.get('subject', '')!r}"
        if "filename" in value and "kept" in value:
            return f"{value['filename']} ({'kept' if value['kept'] else 'left out: ' + str(value.get('reason', ''))})"
        if "line" in value and "applied" in value:
            return f"{value['line']!r} ({'applied' if value['applied'] else 'refused: ' + str(value.get('reason', ''))})"
        if "email" in value:
            return f"user {value['email']}"
        if "number" in value:
            return f"ticket {value['number']}"
    if value is None:
        return "(none)"
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."

"""`mailgate test --update`: rewrite what a case pins from today's decision, in place, so review sees a YAML diff.

Only the values that changed are rewritten, at their place in the file: comments, order and
style stay as written. A case pins what it pins; `--all` pins the whole decision instead."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.commands.golden import SUFFIX, Case
from engine.commands.golden_compare import compare, text_check, trace_positions

# The decision's fields a new case pins by default: what happens, not every detail.
NEW_CASE_TICKET = ("number", "new", "type", "subtype", "quick_pick", "priority", "assignee_user", "assignee_group",
                   "status")
NOISE = ("duplicate_key", "subject_key", "trace")  # derived values a reviewer learns nothing from


@dataclass
class Update:
    """What --update did to one case file."""

    path: Path
    changed: int = 0
    created: bool = False
    left: list[str] = field(default_factory=list)  # pins it could not rewrite, with their place


def update_case(case: Case, decision: dict, pin_all: bool = False) -> Update:
    """Rewrite `case`'s pins that differ from `decision` (as_json()); with `pin_all`, the whole `expect`."""
    text = case.path.read_text(encoding="utf-8")
    root = yaml.compose(text)
    expect = next(value for key, value in root.value if key.value == "expect")
    result = Update(case.path)
    if pin_all:
        edits = [_replace_block(text, expect, all_fields(decision))]
    else:
        edits = _walk(expect, case.spec["expect"], decision, result, str(case.path))
    result.changed = len(edits)
    if edits:
        case.path.write_text(_apply(text, edits), encoding="utf-8")
    return result


def create_case(mail: Path, decision: dict, pin_all: bool = False) -> Update:
    """A new NAME.expected.yaml beside `mail`, pinning today's decision (its main fields, or all)."""
    expect = all_fields(decision) if pin_all else new_case_fields(decision)
    path = mail.with_name(f"{mail.stem}{SUFFIX}")
    body = yaml.dump({"expect": expect}, Dumper=_BlockDumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(body, encoding="utf-8")
    return Update(path, changed=1, created=True)


def new_case_fields(decision: dict) -> dict:
    """Outcome, reason, the ticket's deciding fields, and who gets mail: what a first review reads."""
    pins: dict = {"outcome": decision["outcome"], "reason": decision["reason"]}
    ticket = decision.get("ticket")
    pins["ticket"] = {k: ticket[k] for k in NEW_CASE_TICKET if ticket.get(k) is not None} if ticket else None
    for name, keys in (("attachments", ("filename", "kept")), ("tokens", ("name", "applied"))):
        if decision.get(name):
            pins[name] = [{k: item[k] for k in keys} for item in decision[name]]
    pins["outgoing"] = [{"role": m["role"], "to": m["to"]} for m in decision.get("outgoing", ())]
    return pins


def all_fields(decision: dict) -> dict:
    """Every field of the decision except derived keys and message ids."""
    pins = {k: _plain(v) for k, v in decision.items() if k not in NOISE}
    for mail in pins.get("outgoing", []):
        mail.pop("message_id", None)
        mail.pop("headers", None)
    if pins.get("note"):
        pins["note"].pop("message_id", None)
    return pins


def _plain(value):
    """Tuples as lists, recursively, so YAML writes plain sequences."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _walk(node, want, actual, result: Update, label: str) -> list[tuple[int, int, str]]:
    """Edits (start, end, new text) that make the pinned values under `node` equal today's."""
    if isinstance(want, dict) and isinstance(actual, dict) and isinstance(node, yaml.MappingNode):
        edits = []
        for key_node, value_node in node.value:
            edits += _walk_key(key_node, value_node, want[key_node.value], actual, result, label)
        return edits
    if isinstance(want, list) and isinstance(actual, (list, tuple)) and isinstance(node, yaml.SequenceNode) \
            and len(want) == len(actual):
        return [e for item, w, a in zip(node.value, want, actual) for e in _walk(item, w, a, result, label)]
    if not compare(want, actual, ""):
        return []
    return [(*_span(node), _flow(_project(want, actual)))]


def _walk_key(key_node, value_node, want, actual: dict, result: Update, label: str) -> list:
    key = key_node.value
    check = text_check(key)
    if check and check[0] in actual:
        if compare({key: want}, actual, ""):
            result.left.append(f"{label}:{key_node.start_mark.line + 1}:{key_node.start_mark.column + 1}: "
                               f"{key} no longer holds; edit it by hand")
        return []
    if key == "trace" and isinstance(want, list):
        return _trace(value_node, want, actual.get("trace", []), result, label)
    if key not in actual:
        result.left.append(f"{label}:{key_node.start_mark.line + 1}: the decision has no field '{key}'; remove it")
        return []
    return _walk(value_node, want, actual[key], result, label)


def _trace(node, wanted: list, trace: list, result: Update, label: str) -> list:
    """A step that no longer matches takes the keys it pins from the step of the same stage and rule."""
    edits, start = [], 0
    positions = trace_positions(wanted, trace)
    for item, want, position in zip(node.value, wanted, positions):
        if position is not None:
            start = position + 1
            continue
        same = next((i for i in range(start, len(trace)) if all(trace[i].get(k) == want.get(k)
                                                                for k in ("stage", "rule") if k in want)), None)
        if same is None:
            result.left.append(f"{label}:{item.start_mark.line + 1}: no step like {want!r} any more; remove it")
            continue
        edits.append((*_span(item), _flow(_project(want, trace[same]))))
        start = same + 1
    return edits


def _project(want, actual):
    """Today's value restricted to what the pin looked at: the same keys of a mapping, of each list item."""
    if isinstance(want, dict) and isinstance(actual, dict):
        return {k: _plain(actual[k]) if k in actual else v for k, v in want.items()}
    if isinstance(want, list) and isinstance(actual, (list, tuple)):
        keys = list(dict.fromkeys(k for item in want if isinstance(item, dict) for k in item))
        if keys:
            return [{k: _plain(a[k]) for k in keys if k in a} if isinstance(a, dict) else _plain(a) for a in actual]
    if want is None and isinstance(actual, dict) and "number" in actual:  # a ticket where none was
        return {k: actual[k] for k in NEW_CASE_TICKET if actual.get(k) is not None}
    return _plain(actual)


def _span(node) -> tuple[int, int]:
    """The text of a node without the line break and indentation a block collection's end includes."""
    end = node
    while isinstance(end, (yaml.MappingNode, yaml.SequenceNode)) and not end.flow_style and end.value:
        last = end.value[-1]
        end = last[1] if isinstance(last, tuple) else last
    return node.start_mark.index, end.end_mark.index


def _flow(value) -> str:
    """One value written on one line, as YAML flow."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**9, allow_unicode=True, sort_keys=False).strip()[1:-1]


class _BlockDumper(yaml.SafeDumper):
    """Block YAML where a text of several lines is a literal `|` block, as a person writes it."""


def _text(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _text)


def _indented(block: str, indent: str) -> str:
    return "\n".join(line if not line or i == 0 else indent + line for i, line in enumerate(block.split("\n")))


def _replace_block(text: str, node, value: dict) -> tuple[int, int, str]:
    """The whole `expect` node, written in block style at its own indentation."""
    start, end = _span(node)
    block = yaml.dump(value, Dumper=_BlockDumper, default_flow_style=False, sort_keys=False, allow_unicode=True,
                      width=100).rstrip("\n")
    if isinstance(node, yaml.MappingNode) and not node.flow_style:
        return start, end, _indented(block, " " * node.start_mark.column)
    while start > 0 and text[start - 1] == " ":
        start -= 1
    return start, end, "\n  " + _indented(block, "  ")


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text

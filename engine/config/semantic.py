"""Checks the schema cannot express: references resolve, regexes are safe, templates compile."""

from __future__ import annotations

import difflib

from engine.config.entries import Entry, build_index
from engine.config.load import LoadedFile
from engine.config.problems import Problem
from engine.config.schemas import resolve, schema_for, subschema
from engine.config.templates import template_problems
from engine.config.outgoing import outgoing_problems, outgoing_reference_problems
from engine.config.patterns import compile_safe
from engine.errors import PatternError
from engine.config.protocols import AT_VALUE
from engine.config.protocols import config_problems as protocol_problems
from engine.config.token_grammar import Token, is_token_name, parse_token, write_token

# x-ref kind in the schema -> kind in the index
REF_KINDS = {"user": "user", "group": "group", "organisation": "organisation", "quick_pick": "quick pick",
             "type": "type", "priority": "priority", "class": "class", "category": "category",
             "template": "template", "user_template": "user template", "calendar": "calendar",
             "mailbox": "mailbox"}
# Outgoing template roles: the role name is the template used when none is named.
TEMPLATE_ROLES = {"auto_reply": "auto_reply", "error_notice": "error_notices",
                  "closed_not_updated": "closed_ticket_replies", "closed_updated": "closed_ticket_replies"}


def semantic_problems(files: list[LoadedFile], rules_complete: bool, mailboxes_complete: bool) -> list[Problem]:
    """All cross-file and per-value problems of schema-valid files.

    A file that failed the schema may hold a definition, so references are only
    checked when every rules file (the definitions) was readable, and return
    addresses only when every mailbox file was."""
    index, problems = build_index(files)
    for loaded in files:
        problems += value_problems(loaded)
        if rules_complete:
            problems += _reference_problems(loaded, index)
    if mailboxes_complete:
        problems += _address_problems(files, index) + outgoing_reference_problems(files, index)
    return problems


def value_problems(loaded: LoadedFile) -> list[Problem]:
    """Checks of single values in one file: regexes, policies, tokens, templates."""
    problems = _regex_problems(loaded) + _policy_problems(loaded) + _not_built_problems(loaded)
    if loaded.kind == "rules":
        problems += _token_problems(loaded) + template_problems(loaded) + outgoing_problems(loaded)
    return problems


def value_problems_of_invalid(loaded: LoadedFile) -> list[Problem]:
    """The same checks on a file that failed the schema, where its shape allows them.

    So one run reports a typo'd key and a broken regex in the same file together;
    a part too malformed to inspect is left to the schema errors already reported."""
    try:
        return value_problems(loaded)
    except (AttributeError, KeyError, TypeError, IndexError):
        return []


def walk_schema(data, schema, kind, path=()):
    """Yield (path, value, resolved schema) for every value written in `data`, depth first.

    Where the schema offers alternatives (oneOf/anyOf: one value or a list of them),
    the walk follows the branch of the value's JSON type.
    """
    schema = resolve(schema, kind)
    branch = _branch_for(data, schema, kind)
    if branch is not None:
        yield from walk_schema(data, branch, kind, path)
        return
    yield path, data, schema
    if isinstance(data, dict):
        for key, value in data.items():
            child = subschema(schema, key, kind)
            if child is not None:
                yield from walk_schema(value, child, kind, path + (key,))
    elif isinstance(data, list):
        child = subschema(schema, 0, kind)
        for i, value in enumerate(data):
            if child is not None:
                yield from walk_schema(value, child, kind, path + (i,))


_JSON_TYPES = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (list, "array"),
               (dict, "object"))


def _branch_for(data, schema: dict, kind: str) -> dict | None:
    """The oneOf/anyOf branch whose `type` is the value's JSON type, or None."""
    branches = schema.get("oneOf") or schema.get("anyOf")
    if not branches:
        return None
    json_type = next((name for python, name in _JSON_TYPES if isinstance(data, python)), None)
    for branch in branches:
        branch = resolve(branch, kind)
        declared = branch.get("type")
        declared = set(declared) if isinstance(declared, list) else {declared}
        if json_type in declared or (json_type == "integer" and "number" in declared):
            return branch
    return None


def walk_refs(data, schema, kind):
    """Yield (path, value, ref kind) for every value whose schema has x-ref."""
    for path, value, node in walk_schema(data, schema, kind):
        if "x-ref" in node and isinstance(value, str):
            yield path, value, node["x-ref"]


def _not_built_problems(loaded: LoadedFile) -> list[Problem]:
    """A knob the schema marks `x-not-yet-built` is refused: accepting it would promise what nothing does."""
    return [loaded.problem(path, f"`{path[-1]}` is not built yet: {node['x-not-yet-built']}",
                           "remove it; it would have no effect")
            for path, _, node in walk_schema(loaded.data, schema_for(loaded.kind), loaded.kind)
            if "x-not-yet-built" in node]


def _unknown(loaded, path, what, value, known) -> Problem:
    close = difflib.get_close_matches(value, list(known), n=1)
    hint = f"did you mean '{close[0]}'?" if close else (
        f"define it first ({', '.join(sorted(known)[:8])}{'…' if len(known) > 8 else ''} exist)"
        if known else f"define the {what} in rules/ first")
    return loaded.problem(path, f"unknown {what} '{value}'", hint, at_value=True)


def _reference_problems(loaded: LoadedFile, index) -> list[Problem]:
    problems = []
    for path, value, ref in walk_refs(loaded.data, schema_for(loaded.kind), loaded.kind):
        if ref == "user-or-address":
            if "@" not in value and value not in index.get("user", {}):
                problems.append(_unknown(loaded, path, "user", value, index.get("user", {})))
            continue
        kind = REF_KINDS[ref]
        if value not in index.get(kind, {}):
            problems.append(_unknown(loaded, path, kind, value, index.get(kind, {})))
    problems += _subtype_problems(loaded, index)
    if loaded.kind == "rules":
        problems += _route_problems(loaded, index)
    if loaded.kind == "mailbox":
        problems += _default_template_problems(loaded, index)
    return problems


def _subtypes(index, type_name) -> set[str]:
    entry: Entry | None = index.get("type", {}).get(type_name)
    return {s["name"] for s in _item(entry).get("subtypes", [])} if entry is not None else set()


def _subtype_problems(loaded, index) -> list[Problem]:
    pairs = []
    if loaded.kind == "mailbox":
        new = loaded.data["mailbox"].get("new_tickets", {})
        if "issue_subtype" in new:
            pairs.append((("mailbox", "new_tickets", "issue_subtype"), new.get("issue_type"), new["issue_subtype"]))
    else:
        for i, pick in enumerate(loaded.data.get("quick_picks", [])):
            if "subtype" in pick:
                pairs.append((("quick_picks", i, "subtype"), pick.get("type"), pick["subtype"]))
    problems = []
    for path, type_name, subtype in pairs:
        if type_name is None:
            problems.append(loaded.problem(path, f"subtype '{subtype}' is given without a type",
                                           "name its type too"))
        elif type_name in index.get("type", {}) and subtype not in _subtypes(index, type_name):
            problems.append(_unknown(loaded, path, f"subtype (of type '{type_name}')", subtype, _subtypes(index, type_name)))
    return problems


def _route_problems(loaded, index) -> list[Problem]:
    """A route's subtype belongs to the type it sets; its custom fields are declared; its calendars exist."""
    problems = []
    declared_fields = set(index.get("custom field", {})) | {
        name for entry in index.get("token", {}).values() for name in _item(entry).get("fields", ())}
    for i, route in enumerate(loaded.data.get("routes", [])):
        then = route["then"]
        if "subtype" in then and "type" not in then:
            problems.append(loaded.problem(("routes", i, "then", "subtype"), "a route's subtype needs the type it belongs to",
                                           "set `type:` in the same route"))
        elif "subtype" in then and then["type"] in index.get("type", {}) and then["subtype"] not in _subtypes(index, then["type"]):
            problems.append(_unknown(loaded, ("routes", i, "then", "subtype"), f"subtype (of type '{then['type']}')",
                                     then["subtype"], _subtypes(index, then["type"])))
        if then.get("process_auto_generated"):
            problems += _machine_route_problems(loaded, i, route["when"])
        for name in then.get("custom_fields", {}):
            if name not in declared_fields:
                problems.append(loaded.problem(("routes", i, "then", "custom_fields", name), f"unknown custom field '{name}'",
                                               "list it in custom_fields: (or in a set_custom_field token's fields)"))
    return problems


# Known only after the sender and the referenced ticket are: a route that decides whether machine
# mail is processed at all runs before that.
_LATE_CONDITIONS = ("is", "organisation", "requester_group")


def _machine_route_problems(loaded, i, when) -> list[Problem]:
    def late(condition, path):
        for key, value in condition.items():
            if key in _LATE_CONDITIONS:
                yield path + (key,)
            elif key in ("all", "any"):
                for j, part in enumerate(value):
                    yield from late(part, path + (key, j))
            elif key == "not":
                yield from late(value, path + (key,))
    return [loaded.problem(path, f"a route with process_auto_generated cannot test '{path[-1]}'",
                           "it decides before the sender and ticket are known: test the mail itself (headers, sender, "
                           "recipients, subject, body, attachments)") for path in late(when, ("routes", i, "when"))]


def _item(entry: Entry):
    item = entry.file.data
    for part in entry.path:
        item = item[part]
    return item


def _default_template_problems(loaded, index) -> list[Problem]:
    outgoing = loaded.data["mailbox"].get("outgoing", {})
    named = outgoing.get("templates", {})
    problems = []
    for role, switch in TEMPLATE_ROLES.items():
        if outgoing.get(switch, True) and role not in named and role not in index.get("template", {}):
            problems.append(loaded.problem(
                ("mailbox", "outgoing"), f"outgoing.{switch} is on but no template '{role}' exists",
                f"define templates.{role} in rules/, name another in outgoing.templates.{role}, or set {switch}: false",
                at_value=True))
    return problems


def walk_regexes(data, schema, kind):
    """Yield (path, pattern) for every value whose schema says x-regex (routes' `matches`)."""
    for path, value, node in walk_schema(data, schema, kind):
        if node.get("x-regex") and isinstance(value, str):
            yield path, value


def _regexes(loaded: LoadedFile):
    if loaded.kind == "rules" and loaded.data.get("routes"):
        yield from walk_regexes({"routes": loaded.data["routes"]}, schema_for("rules"), "rules")
    data = loaded.data if loaded.kind == "rules" else {}
    for section in ("senders", "subjects", "never_send_to"):
        for i, item in enumerate(data.get("filters", {}).get(section, [])):
            if isinstance(item, dict) and item.get("match") == "regex":
                yield ("filters", section, i, "pattern"), item["pattern"]
    for i, item in enumerate(data.get("excluded_text", [])):
        if "regex" in item:
            yield ("excluded_text", i, "regex"), item["regex"]


def _regex_problems(loaded: LoadedFile) -> list[Problem]:
    problems = []
    for path, pattern in _regexes(loaded):
        try:
            compile_safe(pattern)
        except PatternError as err:
            problems.append(loaded.problem(path, str(err), err.hint, at_value=True))
    if loaded.kind == "rules":
        for section in ("senders", "subjects"):
            for i, item in enumerate(loaded.data.get("filters", {}).get(section, [])):
                text = item if isinstance(item, str) else item["pattern"]
                if len(text.strip()) < 2:
                    problems.append(loaded.problem(
                        ("filters", section, i), f"filter {text!r} is too short: filters need more than one character",
                        "write at least two visible characters or remove the entry", at_value=True))
    return problems


def _token_problems(loaded: LoadedFile) -> list[Problem]:
    problems = []
    for i, token in enumerate(loaded.data.get("tokens", [])):
        name = token["name"]
        if not is_token_name(name):
            problems.append(loaded.problem(
                ("tokens", i, "name"), f"token name {name!r} cannot be written in the token grammar (engine/config/tokens.lark)",
                "use a letter followed by letters, digits, '_' or '-'", at_value=True))
            continue
        samples = [(("tokens", i, "values", j), write_token(name, v)) for j, v in enumerate(token.get("values", []))]
        samples += [(("tokens", i, "fields", j), write_token(name, key=f, value="x"))
                    for j, f in enumerate(token.get("fields", []))]
        for path, line in samples:
            if not isinstance(parse_token(line), Token):
                problems.append(loaded.problem(path, f"{line!r} does not parse with the token grammar",
                                               "use plain words or text without line breaks", at_value=True))
        problems += _token_shape_problems(loaded, i, token)
    return problems


def _token_shape_problems(loaded, i, token) -> list[Problem]:
    effect = token["effect"]
    if effect == "set_custom_field" and not token.get("fields"):
        return [loaded.problem(("tokens", i, "effect"), "a set_custom_field token needs `fields`",
                               "list the custom fields it may set", at_value=True)]
    if effect in ("assign", "close", "reopen") and token.get("values"):
        return [loaded.problem(("tokens", i, "values"), f"an {effect} token takes no `values` list",
                               "remove `values`", at_value=True)]
    return []


_POLICY_NEEDS = (
    (("unknown_senders", "policy"), "submit_as", "submit_as"),
    (("unknown_senders", "policy"), "create_from_template", "user_template"),
    (("cc", "policy"), "create_from_template", "user_template"),
)


def _policy_problems(loaded: LoadedFile) -> list[Problem]:
    if loaded.kind != "mailbox":
        return []
    mailbox = loaded.data["mailbox"]
    problems = []
    for (section, key), value, needed in _POLICY_NEEDS:
        block = mailbox.get(section, {})
        if block.get(key) == value and needed not in block:
            problems.append(loaded.problem(("mailbox", section, key), f"{section}.{key} is {value} but {section}.{needed} is not set",
                                           f"add {section}.{needed}", at_value=True))
    for path, what, hint in protocol_problems(mailbox):
        problems.append(loaded.problem(("mailbox", *path), what, hint, at_value=path in AT_VALUE))
    return problems


def _address_problems(files, index) -> list[Problem]:
    """Outgoing From addresses must be mailbox addresses (F-OUT-6)."""
    known = index.get("mailbox address", {})
    problems = []
    for loaded in files:
        base = ("mailbox",) if loaded.kind == "mailbox" else ("settings",)
        block = loaded.data.get(base[0], {}) or {}
        address = block.get("return_address")
        if address and address.strip().lower() not in known:
            problems.append(loaded.problem(base + ("return_address",), f"return address '{address}' is not the address of any mailbox",
                                           "use the address of a configured mailbox", at_value=True))
    return problems


"""Turn jsonschema errors into located Problems that say what to do."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

from jsonschema.exceptions import ValidationError

from engine.config.load import LoadedFile
from engine.config.problems import Problem
from engine.config.schemas import resolve, validator_for

JSON_TYPES = {"string": "a text", "integer": "a whole number", "number": "a number",
              "boolean": "true or false", "object": "a mapping (key: value lines)",
              "array": "a list", "null": "empty"}


def schema_problems(loaded: LoadedFile) -> list[Problem]:
    """Every schema violation of one loaded file, located and explained."""
    validator = validator_for(loaded.kind)
    problems: list[Problem] = []
    for error in validator.iter_errors(loaded.data):
        problems.extend(explain(loaded, error))
    return problems


def _where(path) -> str:
    names = [p for p in path if isinstance(p, str)]
    return f"'{names[-1]}'" if names else "the document"


def _type_name(value) -> str:
    for name, kind in (("boolean", bool), ("integer", int), ("number", float), ("string", str),
                       ("array", list), ("object", dict), ("null", type(None))):
        if isinstance(value, kind):
            return JSON_TYPES[name]
    return type(value).__name__


def _hint(error: ValidationError, kind: str, fallback: str = "") -> str:
    schema = resolve(error.schema, kind) if isinstance(error.schema, dict) else {}
    return schema.get("x-hint") or fallback or schema.get("description", "")


def explain(loaded: LoadedFile, error: ValidationError) -> Iterator[Problem]:
    """The located, explained problems of one schema error (`loaded` may be a view that relocates paths)."""
    path = tuple(error.absolute_path)
    explainer = _EXPLAINERS.get(error.validator, _generic)
    yield from explainer(loaded, error, path)


def _additional(loaded, error, path):
    allowed = sorted(resolve(error.schema, loaded.kind).get("properties", {}))
    for key in error.instance:
        if key in allowed:
            continue
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"allowed keys here: {', '.join(allowed)}"
        yield loaded.problem(path + (key,), f"unknown key '{key}' in {_where(path)}", hint)


def _required(loaded, error, path):
    missing = error.message.split("'")[1] if "'" in error.message else error.message
    yield loaded.problem(path, f"{_where(path)} is missing the required key '{missing}'",
                         f"add `{missing}:`", at_value=True)


def _type(loaded, error, path):
    wanted = error.validator_value
    wanted = wanted if isinstance(wanted, list) else [wanted]
    expected = " or ".join(JSON_TYPES.get(w, w) for w in wanted)
    yield loaded.problem(path, f"{_where(path)} must be {expected}, not {_type_name(error.instance)}",
                         _hint(error, loaded.kind, f"write {expected} here"), at_value=True)


def _enum(loaded, error, path):
    options = [str(v) for v in error.validator_value]
    close = difflib.get_close_matches(str(error.instance), options, n=1)
    hint = (f"did you mean '{close[0]}'? " if close else "") + f"use one of: {', '.join(options)}"
    yield loaded.problem(path, f"'{error.instance}' is not a valid value for {_where(path)}", hint,
                         at_value=True)


def _const(loaded, error, path):
    yield loaded.problem(path, f"{_where(path)} must be {error.validator_value!r}, not {error.instance!r}",
                         _hint(error, loaded.kind), at_value=True)


def _is_secret(schema: dict) -> bool:
    branches = schema.get("oneOf", [])
    return "secrets never live" in schema.get("x-hint", "") or any(
        b.get("$ref", "").endswith("/secret") for b in branches)


def _one_of(loaded, error, path):
    schema = resolve(error.schema, loaded.kind)
    if _is_secret(schema):
        guess = secret_guess(error.instance)
        what = ("is not a secret reference" if guess or not isinstance(error.instance, str) else "is a literal secret")
        yield loaded.problem(path, f"{_where(path)} {what}",
                             guess or schema.get("x-hint", "write {env: VARIABLE} or {file: PATH}"), at_value=True)
        return
    # A branch whose type matched failed for a precise reason: report that one.
    specific = [e for e in error.context if e.validator not in ("type", "const", "required", "oneOf")]
    if specific:
        deepest = max(specific, key=lambda e: len(e.absolute_path))
        yield from explain(loaded, deepest)
        return
    yield loaded.problem(path, f"{_where(path)} has the wrong form",
                         schema.get("x-hint") or schema.get("description", ""), at_value=True)


_SHELL_VARIABLE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


def secret_guess(value) -> str:
    """A did-you-mean for a secret reference written the way a shell or another tool spells it, else ''."""
    if isinstance(value, str):
        found = _SHELL_VARIABLE.match(value.strip())
        return f"did you mean {{env: {found.group(1)}}}? mailgate does not expand ${{…}} in YAML" if found else ""
    if not isinstance(value, dict) or len(value) != 1:
        return ""
    (key, name), = value.items()
    kind = difflib.get_close_matches(str(key).lower(), ["env", "file"], n=1, cutoff=0.5)
    if not kind or not isinstance(name, str):
        return ""
    if kind[0] == "env":
        bare = _SHELL_VARIABLE.match(name.strip())
        name = bare.group(1) if bare else name
        why = "the key is `env`, the name has no $" if bare else "the key is `env`, in lower case"
    else:
        why = "the key is `file`, in lower case"
    return f"did you mean {{{kind[0]}: {name}}}? ({why})"


def _min_length(loaded, error, path):
    text = error.instance
    if error.validator_value == 2:
        yield loaded.problem(path, f"'{text}' is too short: filters and phrases need more than one character",
                             "write at least two characters or remove the entry", at_value=True)
    else:
        yield loaded.problem(path, f"{_where(path)} must not be empty", _hint(error, loaded.kind), at_value=True)


def _pattern(loaded, error, path):
    yield loaded.problem(path, f"{error.instance!r} is not a valid value for {_where(path)}",
                         _hint(error, loaded.kind), at_value=True)


def _bounds(loaded, error, path):
    word = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than",
            "exclusiveMaximum": "less than", "minItems": "at least", "maxItems": "at most",
            "minProperties": "at least", "maxProperties": "at most"}[error.validator]
    unit = " entries" if error.validator.endswith(("Items", "Properties")) else ""
    wording = ("must not be empty" if error.validator in ("minItems", "minProperties") and error.validator_value == 1
               else f"must have {word} {error.validator_value}{unit}" if unit else f"must be {word} {error.validator_value}")
    yield loaded.problem(path, f"{_where(path)} {wording}", _hint(error, loaded.kind, "change the value"), at_value=True)


def _generic(loaded, error, path):
    yield loaded.problem(path, f"{_where(path)}: {error.message}", _hint(error, loaded.kind), at_value=True)


_EXPLAINERS = {
    "additionalProperties": _additional, "required": _required, "type": _type, "enum": _enum,
    "const": _const, "oneOf": _one_of, "anyOf": _one_of, "minLength": _min_length, "pattern": _pattern,
    "minimum": _bounds, "maximum": _bounds, "exclusiveMinimum": _bounds, "exclusiveMaximum": _bounds,
    "minItems": _bounds, "maxItems": _bounds, "minProperties": _bounds, "maxProperties": _bounds,
}

"""The published JSON Schemas (schema/*.schema.json) and their validators."""

from __future__ import annotations

import json
import sysconfig
from functools import lru_cache
from pathlib import Path

from jsonschema import Draft202012Validator



def _schema_dir() -> Path:
    """schema/ of a source checkout (or editable install); else where a wheel installs it (data-files)."""
    checkout = Path(__file__).resolve().parents[2] / "schema"
    if checkout.is_dir():
        return checkout
    return Path(sysconfig.get_path("data")) / "share" / "mailgate" / "schema"


SCHEMA_DIR = _schema_dir()
KINDS = {"mailbox": "mailbox.schema.json", "rules": "rules.schema.json", "case": "case.schema.json"}
# Each schema's $id is its path in the repository at the ref that carries file format version 1,
# so an editor or check-jsonschema can fetch it from there (docs/review.md, "Editors").
SCHEMA_BASE = "https://raw.githubusercontent.com/mailgate/mailgate/v1/"


@lru_cache(maxsize=None)
def schema_for(kind: str) -> dict:
    """The schema document for a file kind ("mailbox" or "rules")."""
    return json.loads((SCHEMA_DIR / KINDS[kind]).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def validator_for(kind: str) -> Draft202012Validator:
    """A compiled 2020-12 validator for a file kind."""
    return Draft202012Validator(schema_for(kind))


def resolve(schema: dict, kind: str) -> dict:
    """Follow a local `$ref` (the only kind our schemas use)."""
    while isinstance(schema, dict) and "$ref" in schema:
        target = schema_for(kind)
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **merged}
    return schema


def subschema(schema: dict, key, kind: str) -> dict | None:
    """The schema that applies to child `key` (property name or list index)."""
    schema = resolve(schema, kind)
    if isinstance(key, int):
        items = schema.get("items")
        return items if isinstance(items, dict) else None
    props = schema.get("properties", {})
    if key in props:
        return props[key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None

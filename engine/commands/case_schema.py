"""The JSON Schema of golden-case files (NAME.expected.yaml), built from the Decision it checks.

Built from the dataclasses, so a new decision field is at once allowed in `expect` and an
unknown one is an error; schema/case.schema.json is this schema, written out for editors
(a test keeps the two equal)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing

from engine.config.schemas import KINDS, SCHEMA_BASE, SCHEMA_DIR
from engine.decision import Decision, Outcome, Step

CASE_SCHEMA_ID = f"{SCHEMA_BASE}schema/{KINDS['case']}"

# What each decision field holds, for editors' hover text (fields not listed get a generic line).
FIELD_TEXT = {
    "outcome": "What the mail becomes.", "reason": "The reason code (new_ticket, reply, keyword, mail_loop…).",
    "mailbox": "The mailbox that received it.", "duplicate_key": "The key that recognises a second copy.",
    "sender": "The sender's address, lower-cased.", "ticket": "The new ticket's fields, or the changes to one; null for none.",
    "note": "The description or note; null for none.", "users_to_create": "Users created from the mail.",
    "organisations_to_create": "Organisations created from the mail.",
    "distribution_adds": "Addresses that join the ticket's distribution list.",
    "attachments": "Every attachment, kept or left out, and why.", "extra_attachments": "raw_message and/or html_rendering.",
    "tokens": "Email tokens found in the body, applied or refused.", "flagged_recipients": "Failed recipients of a bounce.",
    "outgoing": "Mail that goes out ([] for none).", "detail": "The reason in words.",
    "subject_key": "A new ticket's subject as auto-bundling compares it.",
    "arrived": "When the mail reached the mailbox (ISO 8601), as loop prevention judged it.",
    "keep_raw": "The raw bytes are kept for `mailgate replay` (a refused mail a person wrote).",
    "trace": "Steps that must appear in this order (other steps may come between); each a partial step.",
}
TEXT_SUFFIXES = {"_contains": "contains each of these texts", "_excludes": "contains none of these texts"}


def case_schema() -> dict:
    """The whole case-file schema: the case's settings, and `expect` as a partial decision."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": CASE_SCHEMA_ID,
        "title": "mailgate golden case (NAME.expected.yaml beside NAME.eml), version 1",
        "type": "object",
        "additionalProperties": False,
        "required": ["expect"],
        "properties": {
            "ids": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                    "description": "What the case proves: SPEC IDs in the mailgate repository, your own rule or ticket names in yours."},
            "description": {"type": "string", "description": "Why the mail ends as it does, for the next reader."},
            "mailbox": {"type": "string", "minLength": 1,
                        "description": "The mailbox that receives the mail; default: the one whose address is among its recipients."},
            "directory": {"type": "string", "minLength": 1,
                          "description": "A directory fixture (users, organisations, tickets, recent mail), relative to this file."},
            "now": {"description": "The moment of evaluation, ISO 8601 (default 2026-01-15T12:00:00Z).",
                    "x-hint": "write an ISO 8601 time such as 2026-01-15T12:00:00Z"},
            "mailbox_options": {"type": "object",
                                "description": "Options merged into the mailbox's own for this case only; checked against the mailbox schema."},
            "expect": {**_object(Decision, FIELD_TEXT), "minProperties": 1,
                       "description": "The parts of the decision that must hold (a subset of `mailgate dry-run --format json`).",
                       "x-hint": "pin at least the outcome, e.g. `expect: {outcome: create_ticket}`"},
        },
    }


def _object(cls, text: dict | None = None) -> dict:
    properties: dict = {}
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        schema = _schema_of(hints[field.name], field.name)
        schema["description"] = (text or {}).get(field.name) or f"The {field.name.replace('_', ' ')}."
        properties[field.name] = schema
        if _is_text(hints[field.name]):
            for suffix, what in TEXT_SUFFIXES.items():
                properties[field.name + suffix] = {
                    "type": ["string", "array"], "items": {"type": "string"},
                    "description": f"The {field.name.replace('_', ' ')} {what}."}
    return {"type": "object", "additionalProperties": False, "properties": properties}


def _is_text(hint) -> bool:
    return hint is str or (_is_optional(hint) and str in typing.get_args(hint))


def _is_optional(hint) -> bool:
    return isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union


def _schema_of(hint, name: str) -> dict:
    if name == "trace":
        return {"type": "array", "items": _object(Step)}
    if hint is Outcome:
        return {"enum": [o.value for o in Outcome]}
    if _is_optional(hint):
        inner = [h for h in typing.get_args(hint) if h is not type(None)][0]
        schema = _schema_of(inner, name)
        if "enum" in schema:
            return {"enum": schema["enum"] + [None]}
        return {**schema, "type": [schema["type"], "null"]}
    if dataclasses.is_dataclass(hint):
        return _object(hint)
    if typing.get_origin(hint) is tuple:
        return {"type": "array", "items": _schema_of(typing.get_args(hint)[0], name)}
    return {"type": {str: "string", bool: "boolean", int: "integer"}[hint]}


def write() -> None:
    """Write schema/case.schema.json again after the Decision changed (a test says when)."""
    text = json.dumps(case_schema(), indent=2, ensure_ascii=False) + "\n"
    (SCHEMA_DIR / KINDS["case"]).write_text(text, encoding="utf-8")

"""What admins read speaks their language: no internal SPEC IDs in messages, help or schema descriptions.

The IDs stay in code comments, docstrings and tests, where engineers look for them."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SPEC_ID = re.compile(r"\bF-[A-Z]+-\d+|\bseed \d{3}\b")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (first statement of a module, class or function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _message_strings(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value


def test_engine_messages_name_no_spec_ids():
    """Error messages, trace details and CLI help are for admins: IDs live in comments and tests."""
    found = [f"{path.relative_to(REPO)}:{line}: {text!r}" for path in sorted((REPO / "engine").rglob("*.py"))
             for line, text in _message_strings(path) if SPEC_ID.search(text)]
    assert found == []


def _texts(node, path=()):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "x-hint", "title") and isinstance(value, str):
                yield path + (key,), value
            yield from _texts(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _texts(value, path + (i,))


def test_schema_descriptions_name_no_spec_ids():
    """Editors show these descriptions on hover: they say what a knob does, not which SPEC line asked for it."""
    found = [(schema.name, "/".join(map(str, where)), text) for schema in sorted((REPO / "schema").glob("*.json"))
             for where, text in _texts(json.loads(schema.read_text(encoding="utf-8"))) if SPEC_ID.search(text)]
    assert found == []

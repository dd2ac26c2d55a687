"""Resolve {env: NAME} / {file: PATH} secrets at the moment they are needed (F-CFG-3)."""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path

from engine.errors import SecretError


def resolve_secret(spec: Mapping, base_dir: str | Path = ".") -> str:
    """The secret's value from the environment or a file (one trailing newline dropped)."""
    if "env" in spec:
        value = os.environ.get(spec["env"])
        if value is None:
            close = difflib.get_close_matches(spec["env"], list(os.environ), n=1, cutoff=0.8)
            hint = f"did you mean {close[0]}? (set in the environment)" if close else "export it before starting mailgate"
            raise SecretError(f"environment variable {spec['env']} is not set — {hint}")
        return value
    if "file" in spec:
        path = Path(spec["file"])
        path = path if path.is_absolute() else Path(base_dir) / path
        try:
            return path.read_text(encoding="utf-8").removesuffix("\n")
        except OSError as err:
            raise SecretError(f"secret file {path} cannot be read: {err.strerror}") from None
    raise SecretError("a secret must be {env: NAME} or {file: PATH}")


def describe_secret(spec: Mapping | None) -> str:
    """How a secret is referenced, safe to print in logs."""
    if not spec:
        return "(none)"
    return f"env:{spec['env']}" if "env" in spec else f"file:{spec.get('file')}"


"""What validate checks of the outgoing settings (settings.smtp) beyond the schema."""

from __future__ import annotations

from engine.config.load import LoadedFile
from engine.config.problems import Problem
from engine.config.protocols import tls_version_problems


def outgoing_problems(loaded: LoadedFile) -> list[Problem]:
    """Problems of one rules file's settings.smtp, each at its file:line."""
    smtp = ((loaded.data.get("settings") or {}).get("smtp")) or {}
    return [loaded.problem(("settings", "smtp", *path), what, hint, at_value=True)
            for path, what, hint in tls_version_problems(smtp, ())]

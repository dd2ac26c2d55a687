"""A located configuration problem: file:line:col, what is wrong, what to do."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One error (or, with severity "warning", a doubt) found in the configuration; sorts by place, then text."""

    file: str
    line: int
    column: int
    message: str
    hint: str = ""
    severity: str = "error"  # or "warning": valid, but probably not what was meant

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {'warning: ' if self.warning else ''}{self.message}"
        return f"{text} — {self.hint}" if self.hint else text

    @property
    def warning(self) -> bool:
        return self.severity == "warning"

    def as_json(self) -> dict:
        """The problem as a CI annotation object."""
        return {"file": self.file, "line": self.line, "column": self.column,
                "message": self.message, "hint": self.hint, "severity": self.severity}

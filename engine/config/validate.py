"""Validate a config directory in layers: YAML, schema, then semantics (F-CFG-2)."""

from __future__ import annotations

from pathlib import Path

from engine.config.load import LoadedFile, discover, load_file, outside
from engine.config.overlay import apply_overlays
from engine.config.problems import Problem
from engine.config.schema_errors import schema_problems
from engine.config.semantic import semantic_problems, value_problems_of_invalid


def check(config_dir: Path) -> tuple[list[LoadedFile], list[Problem]]:
    """Load and check every file; return the files and all problems, sorted."""
    config_dir = Path(config_dir).resolve()
    found = discover(config_dir)
    if not found:
        return [], [Problem(str(config_dir), 1, 1, "no mailboxes.d/*.yaml or rules/*.yaml here",
                            "point --config (or $MAILGATE_CONFIG) at your config directory")]
    problems: list[Problem] = []
    valid: list[LoadedFile] = []
    for path, kind in found:
        label = str(path.relative_to(config_dir))
        if outside(path, config_dir):  # a link out: someone else's file would be mailed or trusted
            problems.append(Problem(label, 1, 1, "is a symbolic link to a file outside the config directory",
                                    "copy the file into the config directory instead of linking to it"))
            continue
        loaded, load_errors = load_file(path, label, kind)
        problems += load_errors
        if loaded.data is None:
            continue
        found_in_schema = schema_problems(loaded)
        problems += found_in_schema
        if not found_in_schema:
            valid.append(loaded)
        else:  # a place the schema already reported is not reported twice
            reported = {(p.line, p.column) for p in found_in_schema}
            problems += [p for p in value_problems_of_invalid(loaded) if (p.line, p.column) not in reported]

    def complete(kind: str) -> bool:
        return sum(f.kind == kind for f in valid) == sum(k == kind for _, k in found)

    valid, overlay_problems = apply_overlays(valid, complete("rules"))  # before anything reads an entry
    problems += overlay_problems + semantic_problems(valid, complete("rules"), complete("mailbox"))
    return valid, sorted(set(problems))

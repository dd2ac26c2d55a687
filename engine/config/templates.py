"""Outgoing-mail templates: Jinja2 in a sandbox, compiled at load time (F-OUT-4)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from engine.config.load import LoadedFile
from engine.config.problems import Problem


class _Sandbox(SandboxedEnvironment):
    """Jinja's sandbox, with each template's globals in a plain dict and `a.b` on dicts read as a['b'] first."""

    def make_globals(self, d):
        # Jinja's ChainMap is copied key by key in Python on every render (two thirds of the
        # time of a short template); the globals never change after load, so a copy will do.
        return {**self.globals, **(d or {})}

    def getattr(self, obj, attribute):
        # The render context is plain dicts ({{ ticket.number }}): Jinja tries the attribute
        # first and catches an AttributeError on every such lookup (40% of a render). An item
        # is what a['b'] gives in the sandbox anyway; anything else takes the sandbox's path.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The one sandboxed environment all templates compile and render in."""
    # autoescape off: bodies are plain-text mail; headers are checked for CR/LF on render.
    return _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def body_path(loaded: LoadedFile, name: str) -> Path:
    """A body_file is relative to the YAML file that names it."""
    path = Path(name)
    return path if path.is_absolute() else loaded.path.parent / path


def template_sources(loaded: LoadedFile):
    """Yield (name, part, source, file label, first line, yaml path) of each template part."""
    for name, spec in (loaded.data.get("templates") or {}).items():
        line, _ = loaded.value_mark(("templates", name, "subject"))
        yield name, "subject", spec["subject"], loaded.label, line, ("templates", name, "subject")
        if "body" in spec:
            yield name, "body", spec["body"], loaded.label, 0, ("templates", name, "body")
        else:
            path = body_path(loaded, spec["body_file"])
            try:
                source = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as err:
                reason = getattr(err, "strerror", None) or str(err)
                yield name, "missing", f"{spec['body_file']}: {reason}", loaded.label, 0, ("templates", name, "body_file")
                continue
            yield name, "body", source, _label_for(loaded, path), 1, None


def _label_for(loaded: LoadedFile, path: Path) -> str:
    base = Path(loaded.label).parent
    try:
        return str(base / path.relative_to(loaded.path.parent))
    except ValueError:
        return str(path)


def template_problems(loaded: LoadedFile) -> list[Problem]:
    """A located problem for every template that is missing or does not compile."""
    problems = []
    for name, part, source, label, first_line, ypath in template_sources(loaded):
        if part == "missing":
            problems.append(loaded.problem(ypath, f"template '{name}': body file {source}",
                                           "create the file or fix body_file", at_value=True))
            continue
        try:
            environment().parse(source)
        except TemplateSyntaxError as err:
            line = (first_line + (err.lineno or 1) - 1) if ypath is None else _inline_line(loaded, ypath, err)
            problems.append(Problem(label, line, 1, f"template '{name}' {part}: Jinja2 syntax error: {err.message}",
                                    "fix the template syntax ({{ … }}, {% … %})"))
    return problems


def _inline_line(loaded: LoadedFile, ypath, err: TemplateSyntaxError) -> int:
    line, _ = loaded.value_mark(ypath)
    first = line + 1 if tuple(ypath) in loaded.block_scalars else line  # | text starts a line later
    return first + max((err.lineno or 1) - 1, 0)

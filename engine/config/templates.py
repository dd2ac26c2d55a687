"""Outgoing-mail templates: Jinja2 in a sandbox, compiled at load time (F-OUT-4)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from engine.config.load import LoadedFile, outside
from engine.config.render_limits import LimitedSandbox, TemplateLimitError
from engine.config.problems import Problem


MAX_BODY_FILE_BYTES = 256 * 1024  # a mail body template; the rendered mail has its own limit


class _Sandbox(LimitedSandbox):
    """Jinja's sandbox (bounded: engine/config/render_limits.py), with each template's globals in a plain dict and `a.b` on dicts read as a['b'] first."""

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
            if outside(path, loaded.root):  # its text is mailed to outside senders: only the config's own files
                yield name, "outside", spec["body_file"], loaded.label, 0, ("templates", name, "body_file")
                continue
            try:
                if path.stat().st_size > MAX_BODY_FILE_BYTES:
                    raise OSError(f"more than {MAX_BODY_FILE_BYTES // 1024} KB")
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
        if part == "outside":
            problems.append(loaded.problem(ypath, f"template '{name}': body_file {source} is outside the config "
                                           "directory", "keep template bodies in the config directory, e.g. "
                                           "rules/templates/", at_value=True))
            continue
        try:
            compiled = environment().from_string(source)
        except TemplateSyntaxError as err:
            line = (first_line + (err.lineno or 1) - 1) if ypath is None else _inline_line(loaded, ypath, err)
            problems.append(Problem(label, line, 1, f"template '{name}' {part}: Jinja2 syntax error: {err.message}",
                                    "fix the template syntax ({{ … }}, {% … %})"))
            continue
        failure, hint = sample_render_failure(compiled)
        if failure:
            line = max(first_line, 1) if ypath is None else _inline_line(loaded, ypath, None)
            problems.append(Problem(label, line, 1, f"template '{name}' {part} fails on a sample mail: {failure}", hint))
    return problems


# What outgoing mail renders with (engine/evaluate/outgoing.py), filled as fully as a real mail can.
SAMPLE_CONTEXT = {
    "ticket": {"number": 123456, "subject": "S" * 120, "status": "open", "url": "https://help.example.com/tickets/123456",
               "portal_url": "https://portal.example.com/tickets/123456"},
    "sender": {"name": "N" * 80, "address": "sender@example.com"},
    "mailbox": {"name": "support", "address": "support@example.com", "from_name": "Example Helpdesk"},
    "reason": "processing_failed", "detail": "D" * 300, "original_subject": "S" * 120, "reopened": False,
    "login_url": "https://help.example.com/", "held_back": 3, "held_back_since": "2026-01-15T10:30:00+00:00",
    "user": {"email": "sender@example.com", "login": "sender", "name": "N" * 80, "role": "requester",
             "organisation": "Example Corp", "location": "", "send_credentials": True},
}


def sample_render_failure(template) -> tuple[str, str]:
    """Why `template` cannot render the sample context, and what to do; ('', '') when it can."""
    try:
        template.render(SAMPLE_CONTEXT)
    except TemplateLimitError as err:
        return str(err), "keep templates small and simple; the render limits are in docs/security.md"
    except TemplateError as err:
        return f"{type(err).__name__}: {err}", f"use only the variables outgoing mail has: {', '.join(SAMPLE_CONTEXT)}"
    return "", ""


def _inline_line(loaded: LoadedFile, ypath, err: TemplateSyntaxError | None) -> int:
    line, _ = loaded.value_mark(ypath)
    first = line + 1 if tuple(ypath) in loaded.block_scalars else line  # | text starts a line later
    return first + max(((err.lineno if err else 1) or 1) - 1, 0)

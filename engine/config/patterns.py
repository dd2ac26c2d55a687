"""Regexes run on RE2, a linear-time engine, so no rule can backtrack forever."""

from __future__ import annotations

from engine.errors import PatternError

import re
from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # errors are reported as config problems, not on stderr
_OPTIONS.case_sensitive = False


# Validation checks every regex and compiling the ruleset compiles it again: compile once.
@lru_cache(maxsize=16384)
def compile_safe(pattern: str, built: bool = False):
    """Compile `pattern` case-insensitively with RE2, or raise PatternError saying why.

    `built=True` is for patterns made from re.escape'd text: they skip the Python syntax
    check, which costs ~5x the RE2 compile (seconds for a 10,000-entry config).
    """
    if not built:
        try:
            re.compile(pattern)
        except re.error as err:
            raise PatternError(f"regex {pattern!r} does not compile: {err}",
                               "fix the regex syntax (RE2 / Python syntax)") from None
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as err:
        detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        raise PatternError(
            f"regex {pattern!r} is unsafe: {detail} (backreferences, lookaround and huge repeats "
            "can make matching take exponential time)",
            "rewrite it without them: mailgate runs regexes on RE2 in linear time") from None


def literal_regex(template: str, placeholder: str, group: str) -> str:
    """A regex for `template` where `placeholder` becomes `group`; the rest is literal."""
    before, _, after = template.partition(placeholder)
    return re.escape(before) + group + re.escape(after)

"""Parse email token lines with the Lark grammar in tokens.lark (F-TOK-1)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedInput


@dataclass(frozen=True)
class Token:
    """A token line as written: its name and arguments, or a key = value pair."""

    name: str
    args: tuple[str, ...] = ()
    key: str | None = None  # for `#set "field" = "value"`
    value: str | None = None


@dataclass(frozen=True)
class TokenSyntaxError:
    """A line that starts like a token but does not fit the grammar."""

    line: str
    column: int
    expected: str


class _ToToken(Transformer):
    """Methods named after grammar rules turn the tree into a Token."""

    @v_args(inline=True)
    def value(self, tok):
        text = str(tok)
        if text.startswith('"'):
            return text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return text

    @v_args(inline=True)
    def assignment(self, key, value):
        return ("=", key, value)

    def arguments(self, items):
        return items[0] if items and isinstance(items[0], tuple) else tuple(items)

    @v_args(inline=True)
    def start(self, name, arguments=None):
        if isinstance(arguments, tuple) and arguments[:1] == ("=",):
            return Token(str(name)[1:], key=arguments[1], value=arguments[2])
        return Token(str(name)[1:], tuple(arguments or ()))


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The token parser, built once from tokens.lark beside this module."""
    return Lark.open("tokens.lark", rel_to=__file__, parser="lalr", transformer=_ToToken())


def parse_token(line: str) -> Token | TokenSyntaxError:
    """Parse one stripped body line that starts with '#'."""
    try:
        return parser().parse(line)
    except UnexpectedInput as err:
        expected = ", ".join(sorted(getattr(err, "expected", None) or getattr(err, "allowed", None) or []))
        return TokenSyntaxError(line, getattr(err, "column", 0) or 0, expected or "end of line")
    except LarkError as err:  # any other grammar failure is still a refusal, never a crash
        return TokenSyntaxError(line, 0, str(err).splitlines()[0])


def is_token_name(name: str) -> bool:
    """True when `name` can be written as a token name in the grammar."""
    result = parse_token(f"#{name}")
    return isinstance(result, Token) and result.name == name and not result.args


def write_token(name: str, *args: str, key: str | None = None, value: str | None = None) -> str:
    """The canonical text of a token, quoting arguments that need it."""
    def quote(text: str) -> str:
        plain = text and not any(c.isspace() or c in '"=#' for c in text)
        return text if plain else '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if key is not None:
        return f"#{name} {quote(key)} = {quote(value or '')}"
    return " ".join([f"#{name}", *map(quote, args)])

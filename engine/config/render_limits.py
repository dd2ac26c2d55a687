"""Bounded rendering: a template may take so many steps, build values and output so large, nest macros so deep.

Jinja's sandbox stops a template from reaching outside; it does not stop one from
working forever (`{% for %}` in `{% for %}` over `range()`), building a gigabyte
(`{{ 'a' * 10**9 }}`) or recursing until Python gives up. These limits count work
instead of reading a clock, so evaluate() stays pure: the same template and context
always render the same, or fail the same way.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from itertools import islice
from typing import Any, Iterable, Iterator

from jinja2 import TemplateError, nodes
from jinja2.environment import Template
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

MAX_STEPS = 200_000  # loop iterations, calls, filters and operators in one render (about 0.2 s)
MAX_OUTPUT = 200_000  # characters one render may produce
MAX_VALUE = 200_000  # characters or items of any value a template builds
MAX_NUMBER_BITS = 4096  # integers a template computes
MAX_MACRO_DEPTH = 20  # macros calling macros
PIECES_PER_CHECK = 64  # output pieces joined before the size is checked again
CHARACTERS_PER_STEP = 1000  # a value handed on costs a step per this many characters
COUNTED = "_mailgate_counted"  # every {% for %} iterates through this, one step per item
_WIDTH = re.compile(r"(?:%|\{[^{}]*?:)[^a-zA-Z%{}]*?(\d{6,})")  # a printf or format width of 6+ digits


class TemplateLimitError(TemplateError):
    """A render went past one of the limits; the message names it."""


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.depth = 0
        self.weights: dict[int, tuple[Any, int]] = {}  # id -> (list, weight), so a growing list is not rescanned

    def weight(self, value: Any) -> int:
        """Characters of a string; items of a collection, a list counting the strings it holds."""
        if isinstance(value, (str, bytes)):
            return len(value)
        if isinstance(value, (dict, set, frozenset)):
            return len(value)
        if not isinstance(value, (list, tuple)):
            return 0
        known = self.weights.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        total = 0
        for item in value:
            total += max(self.weight(item), 1)
            if total > MAX_VALUE:
                break
        return self.remember(value, total)

    def remember(self, value: Any, total: int) -> int:
        if isinstance(value, (list, tuple)):
            self.weights[id(value)] = (value, total)
        return total

    def tick(self, steps: int = 1) -> None:
        self.steps += steps
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(f"the template took more than {MAX_STEPS:,} steps "
                                     "(loop iterations, calls, filters, operators)")


_BUDGET: ContextVar[_Budget] = ContextVar("mailgate_template_budget", default=_Budget())


def _tick() -> None:
    _BUDGET.get().tick()


class LimitedTemplate(Template):
    """A template whose every render runs on a fresh budget and stops at MAX_OUTPUT characters."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        token = _BUDGET.set(_Budget())
        try:
            pieces = self.root_render_func(self.new_context(dict(*args, **kwargs)))
            chunks, size = [], 0
            while batch := list(islice(pieces, PIECES_PER_CHECK)):  # joined in C, measured per batch
                chunks.append("".join(batch))
                size += len(chunks[-1])
                if size > MAX_OUTPUT:
                    raise TemplateLimitError(f"the template wrote more than {MAX_OUTPUT:,} characters")
            return "".join(chunks)
        except (TemplateLimitError, RecursionError) as err:
            if isinstance(err, RecursionError):
                raise TemplateLimitError("the template recursed too deep") from None
            raise
        except Exception:  # noqa: BLE001 - as Template.render: the error with the template's own line numbers
            self.environment.handle_exception()
        finally:
            _BUDGET.reset(token)


class LimitedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with every loop, call, filter and operator counted and sized.

    Immutable: `list.append` and `dict.update` would grow a value no operator sees.
    """

    template_class = LimitedTemplate
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.update({COUNTED: _counted, "range": _range, "namespace": _Namespace})
        self.filters = {name: _limited_filter(name, f) for name, f in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            counted = nodes.Call(nodes.Name(COUNTED, "load"), [loop.iter], [], None, None)
            loop.iter = counted.set_lineno(loop.lineno).set_environment(self)
        return tree

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        budget = _BUDGET.get()
        budget.tick()
        weight = _check_binop(budget, operator, left, right)
        result = super().call_binop(context, operator, left, right)
        if weight is not None:
            budget.remember(result, weight)
        return _checked(result)

    def call(__self, __context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's signature
        budget = _BUDGET.get()
        budget.tick()
        for argument in (*args, *kwargs.values()):  # a macro called with a doubled string, again and again
            _checked(argument)
        _check_method(__obj, args)
        if not isinstance(__obj, Macro):
            return _checked(super().call(__context, __obj, *args, **kwargs))
        budget.depth += 1
        try:
            if budget.depth > MAX_MACRO_DEPTH:
                raise TemplateLimitError(f"macros nest more than {MAX_MACRO_DEPTH} deep")
            return _checked(super().call(__context, __obj, *args, **kwargs))
        finally:
            budget.depth -= 1


def _counted(iterable: Iterable) -> Iterator:
    for item in iterable:
        _tick()
        yield item


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_VALUE:
        raise TemplateLimitError(f"range() of more than {MAX_VALUE:,} numbers")
    return numbers


class _Namespace(Namespace):
    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _checked(value))


def _checked(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_NUMBER_BITS:
        raise TemplateLimitError(f"a number of more than {MAX_NUMBER_BITS} bits")
    budget = _BUDGET.get()
    weight = budget.weight(value)
    if weight > MAX_VALUE:
        raise TemplateLimitError(f"a value of more than {MAX_VALUE:,} characters or items")
    budget.tick(weight // CHARACTERS_PER_STEP)  # a filter over 100,000 characters is work too
    return value


def _too_big(what: str) -> TemplateLimitError:
    return TemplateLimitError(f"{what} would be more than {MAX_VALUE:,} characters or items")


def _check_binop(budget: _Budget, operator: str, left: Any, right: Any) -> int | None:
    """Refuse before computing, for the result itself would cost the memory; the result's weight if known."""
    if operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(times, int) and not isinstance(times, bool) and isinstance(seq, (str, bytes, list, tuple)):
                weight = budget.weight(seq) * max(times, 0)
                if weight > MAX_VALUE:
                    raise _too_big("a repeated value")
                return weight
    elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(left.bit_length(), 1) * right > MAX_NUMBER_BITS:
            raise TemplateLimitError(f"a number of more than {MAX_NUMBER_BITS} bits")
    elif operator == "%" and isinstance(left, str) and (_WIDTH.search(left) or "*" in left):
        raise TemplateLimitError("a % format with a width of 100,000 or more, or a * width")
    elif operator == "+":
        weight = budget.weight(left) + budget.weight(right)
        if weight > MAX_VALUE:
            raise _too_big("a joined value")
        return weight
    return None


_GROWING = {"ljust", "rjust", "center", "zfill", "expandtabs"}


def _check_method(obj: Any, args: tuple) -> None:
    """String methods whose result a small call can make huge."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner, name = getattr(target, "__self__", None), getattr(target, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _GROWING and any(isinstance(a, int) and a > MAX_VALUE for a in args):
        raise _too_big(f"str.{name}()")
    if name in ("format", "format_map") and _WIDTH.search(owner):
        raise TemplateLimitError("a format with a width of 100,000 or more")
    if name == "replace" and len(args) >= 2:
        _check_replace(owner, *args[:2])
    if name == "join" and args and isinstance(args[0], (list, tuple)) and \
            _BUDGET.get().weight(args[0]) + len(owner) * len(args[0]) > MAX_VALUE:
        raise _too_big("a join()")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        grown = (len(text) + 1) * len(new) if old == "" else text.count(old) * max(len(new) - len(old), 0)
        if len(text) + grown > MAX_VALUE:
            raise _too_big("a replace()")


def _limited_filter(name: str, function):
    """Each filter call is a step; filters that grow their input are sized first, every result after."""
    def limited(*args: Any, **kwargs: Any) -> Any:
        _tick()
        values = [a for a in args if not hasattr(a, "environment")]  # drop Jinja's context/environment
        if name in ("center", "indent") and any(isinstance(a, int) and a > 1000 for a in values[1:]):
            raise TemplateLimitError(f"|{name} wider than 1,000")
        if name == "format" and values and isinstance(values[0], str) and (_WIDTH.search(values[0]) or "*" in values[0]):
            raise TemplateLimitError("|format with a width of 100,000 or more, or a * width")
        if name == "replace" and len(values) >= 3:
            _check_replace(*values[:3])
        if name == "join" and values and isinstance(values[0], (list, tuple)):
            separator = values[1] if len(values) > 1 and isinstance(values[1], str) else ""
            if _BUDGET.get().weight(values[0]) + len(separator) * len(values[0]) > MAX_VALUE:
                raise _too_big("a |join")
        return _checked(function(*args, **kwargs))

    for attribute in ("jinja_pass_arg", "__name__", "__doc__"):  # keep how Jinja passes context/environment
        if hasattr(function, attribute):
            setattr(limited, attribute, getattr(function, attribute))
    return limited

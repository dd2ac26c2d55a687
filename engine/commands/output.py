"""What the operator commands print alike: --format, JSON, times, aligned columns, terminal-safe text."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator, Sequence

from engine.commands.jsonlines import dumps_line
from engine.commands.terminal import safe_line


def add_format_option(parser) -> None:
    """--format text|json for an operator command."""
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people; json for scripts (one object per line for lists)")


def print_json(data: Any) -> None:
    """One JSON object on one line (times as ISO 8601)."""
    print(dumps_line(data, sort_keys=True, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return str(value)


def when(moment: datetime | None) -> str:
    """A stored UTC time in the machine's time zone, to the second, or '-'."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def table(rows: Sequence[Sequence[Any]], widths: Sequence[int | None]) -> list[str]:
    """Rows as aligned lines; each cell made one safe line, cut to its column's maximum width."""
    cells = [[safe_line("-" if v is None else v, w) for v, w in zip(row, widths)] for row in rows]
    sizes = [max((len(row[i]) for row in cells), default=0) for i in range(len(widths))]
    return ["  ".join(cell.ljust(size) for cell, size in zip(row, sizes)).rstrip() for row in cells]


def fields(pairs: Sequence[tuple[str, Any]], indent: str = "  ") -> list[str]:
    """`label  value` lines for the pairs with a value, labels aligned."""
    shown = [(label, value) for label, value in pairs if value not in (None, "", [], {})]
    size = max((len(label) for label, _ in shown), default=0)
    return [f"{indent}{label.ljust(size)}  {safe_line(value)}" for label, value in shown]


@contextmanager
def opened_store(args) -> Iterator[tuple[Any, Any]]:
    """(ruleset, store) for the command's --config and --store; the store is closed afterwards."""
    from engine.commands.runtime import load, open_store

    ruleset = load(args)
    store = open_store(ruleset, getattr(args, "store", None))
    try:
        yield ruleset, store
    finally:
        store.close()

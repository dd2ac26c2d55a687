"""`mailgate quarantine list|show ID`: messages that could not be processed, raw bytes kept (F-FAIL-1)."""

from __future__ import annotations

import sys

from engine.commands.output import add_format_option, fields, opened_store, print_json, table, when
from engine.errors import MailgateError, UsageError
from engine.commands.runtime import add_store_option
from engine.commands.terminal import safe_line

MAX_HEADERS = 60  # a broken mail can have thousands of header-like lines


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    parser.add_argument("id", nargs="?", type=int, help="quarantine id (for show)")
    parser.add_argument("--mailbox", help="only this mailbox")
    parser.add_argument("--all", action="store_true", help="include messages already replayed")
    parser.add_argument("--raw", action="store_true",
                        help="show: write the exact bytes to stdout (refused on a terminal) or to -o FILE")
    parser.add_argument("-o", "--output", metavar="FILE", help="show --raw: write the bytes to FILE")
    add_format_option(parser)
    add_store_option(parser)


def run(args) -> int:
    """List quarantine items, or show one."""
    if args.action == "show" and args.id is None:
        raise UsageError("quarantine show needs an id (see `mailgate quarantine list`)")
    if args.output and not args.raw:
        raise UsageError("-o FILE goes with --raw")
    if args.raw and not args.output and sys.stdout.isatty():
        raise UsageError("refusing to write raw mail to a terminal: redirect it (> mail.eml) or give -o FILE")
    with opened_store(args) as (_, store):
        if args.action == "show":
            item = store.quarantine_item(args.id)
            if item is None:
                raise MailgateError(f"no quarantined message {args.id} (see `mailgate quarantine list`)")
            return _raw(item, args.output) if args.raw else _show(item, args.format)
        items = store.quarantined(mailbox=args.mailbox, include_replayed=args.all)
    if args.format == "json":
        for item in items:
            print_json(_item_json(item))
        return 0
    rows = [(item.id, when(item.created_at), item.mailbox, item.message_key, f"{item.size} bytes", item.error,
             f"replayed {when(item.replayed_at)}" if item.replayed_at else "") for item in items]
    print("\n".join(table(rows, (None, None, 20, 40, None, 80, None))) if rows else "the quarantine is empty")
    return 0


def _item_json(item) -> dict:
    return {"id": item.id, "mailbox": item.mailbox, "key": item.message_key, "size": item.size,
            "error": item.error, "hint": hint(item), "at": item.created_at, "replayed_at": item.replayed_at}


def _raw(item, output: str | None) -> int:
    if output:
        try:
            with open(output, "wb") as handle:
                handle.write(item.raw)
        except OSError as err:
            raise MailgateError(f"cannot write {output}: {err.strerror}") from None
        print(f"wrote {len(item.raw)} bytes to {output}", file=sys.stderr)
        return 0
    sys.stdout.buffer.write(item.raw)
    sys.stdout.buffer.flush()
    return 0


def _show(item, fmt: str) -> int:
    headers = header_lines(item.raw)
    if fmt == "json":
        print_json({**_item_json(item), "headers": headers})
        return 0
    print(f"== quarantine {item.id}")
    print("\n".join(fields([("mailbox", item.mailbox), ("key", item.message_key), ("size", f"{item.size} bytes"),
                            ("quarantined", when(item.created_at)),
                            ("replayed", when(item.replayed_at) if item.replayed_at else None),
                            ("error", item.error), ("hint", hint(item))])))
    print("headers:" if headers else "headers: none readable")
    for name, value in headers:
        print(safe_line(f"   {name}: {value}", 400))
    return 0


def header_lines(raw: bytes) -> list[tuple[str, str]]:
    """The header fields at the top of `raw`, unfolded and decoded as far as they decode."""
    from email.header import decode_header, make_header

    from engine.sources.base import header_of

    text = header_of(raw[: 1 << 20]).decode("utf-8", "replace")
    found: list[tuple[str, str]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line[:1] in (" ", "\t") and found:
            found[-1] = (found[-1][0], found[-1][1] + " " + line.strip())
        elif ":" in line and line.split(":", 1)[0].strip() and " " not in line.split(":", 1)[0]:
            name, value = line.split(":", 1)
            found.append((name, value.strip()))
        elif line.strip():
            break  # not a header block: the rest is body or binary
        if len(found) > MAX_HEADERS:
            break
    decoded = []
    for name, value in found[:MAX_HEADERS]:
        try:
            value = str(make_header(decode_header(value)))
        except (ValueError, LookupError, UnicodeError):
            pass  # shown as it came
        decoded.append((name, value))
    return decoded


def hint(item) -> str:
    """What an operator can do next about this message."""
    replay = f"`mailgate replay {item.id}`"
    if "unreadable" in item.error:
        return (f"the mail could not be parsed: save it (mailgate quarantine show {item.id} --raw -o mail.eml) "
                f"and look at it with `mailgate inspect mail.eml`; if mailgate misread it, {replay} after the fix")
    if "Error:" in item.error:
        return f"processing failed ({item.error.split(':', 1)[0]}): fix the cause, then {replay}"
    return f"fix the cause, then {replay}"

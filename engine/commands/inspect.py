"""`mailgate inspect FILE…`: print what parse() sees in each mail."""

from __future__ import annotations

import argparse
import sys

from engine.commands.jsonlines import dumps_line
from engine.errors import UsageError
from engine.parse.inputs import read_messages
from engine.message import Message
from engine.parse import parse
from engine.parse.mime.charset import no_surrogates
from engine.parse.message_json import message_to_json

_TEXT_PREVIEW = 2000  # characters of body shown in text format


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Attach inspect's options to its sub-parser."""
    parser.add_argument("files", nargs="+", metavar="FILE", help=".eml / raw RFC 822, Outlook .msg or mbox")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text for people; json prints one JSON object per line (JSON Lines)")


def run(args: argparse.Namespace) -> int:
    """Print every mail of every file; exit 1 if a file is missing or a mail unreadable."""
    status = 0
    for path in args.files:
        try:
            for label, raw in read_messages(path):
                message = parse(raw)
                status = 1 if message.unreadable else status
                _print(label, message, args.format)
        except UsageError as err:
            print(f"mailgate inspect: {err}", file=sys.stderr)
            status = 1
    return status


def _print(label: str, message: Message, fmt: str) -> None:
    if fmt == "json":
        record = {"file": label, "message": message_to_json(message)}
        print(dumps_line(record), flush=True)
    else:
        print(no_surrogates(render_text(label, message)), flush=True)


def render_text(label: str, message: Message) -> str:
    """A human-readable summary of one parsed mail."""
    lines = [f"== {label}"]
    if message.unreadable:
        lines.append(f"UNREADABLE: {message.unreadable}")
    lines += [
        f"From:        {_addr(message.from_)}",
        f"To:          {', '.join(_addr(a) for a in message.to)}",
    ]
    for title, value in (
        ("Cc", ", ".join(_addr(a) for a in message.cc)),
        ("Reply-To", ", ".join(_addr(a) for a in message.reply_to)),
        ("Return-Path", message.return_path if message.return_path is None else f"<{message.return_path}>"),
        ("Subject", message.subject),
        ("Date", message.date),
        ("Message-ID", message.message_id),
        ("In-Reply-To", message.in_reply_to),
        ("References", " ".join(message.references)),
    ):
        if value:
            lines.append(f"{title + ':':<12} {value}")
    auto = message.auto_generated
    lines.append(f"Auto-generated: {'yes' if auto.value else 'no'}" + (f" ({'; '.join(auto.reasons)})" if auto.reasons else ""))
    lines += _bounce_lines(message)
    for item in message.attachments:
        flags = " inline" if item.inline else ""
        cid = f" cid:{item.content_id}" if item.content_id else ""
        lines.append(f"Attachment:  {item.filename} ({item.content_type}, {item.size} bytes{flags}{cid}) sha256 {item.sha256[:16]}…")
    for defect in message.defects:
        lines.append(f"Defect:      {defect}")
    lines.append(f"HTML body:   {'yes, sanitised' if message.html is not None else 'no'}")
    text = message.text if len(message.text) <= _TEXT_PREVIEW else message.text[:_TEXT_PREVIEW] + "\n[… cut]"
    lines += ["", text, ""]
    return "\n".join(lines)


def _addr(address) -> str:
    if address is None:
        return ""
    return f"{address.name} <{address.address}>" if address.name else address.address


def _bounce_lines(message: Message) -> list[str]:
    if message.bounce is None:
        return []
    lines = [f"Bounce:      original Message-ID {message.bounce.original_message_id or 'unknown'}"]
    for item in message.bounce.recipients:
        kind = "permanent" if item.permanent else "temporary"
        lines.append(f"  failed:    {item.address} ({kind} {item.status}) {item.diagnostic[:80]}")
    return lines

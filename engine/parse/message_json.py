"""The JSON shape of a parsed Message, shared by `mailgate inspect` and `dry-run`."""

from __future__ import annotations

from typing import Any

from engine.message import Address, Attachment, Bounce, Message


def message_to_json(message: Message) -> dict[str, Any]:
    """A JSON-ready dict of what parse() saw (attachment bytes left out)."""
    return {
        "message_id": message.message_id,
        "from": _address(message.from_),
        "sender": _address(message.sender),
        "reply_to": [_address(item) for item in message.reply_to],
        "to": [_address(item) for item in message.to],
        "cc": [_address(item) for item in message.cc],
        "return_path": message.return_path,
        "subject": message.subject,
        "date": message.date,
        "received": message.received,
        "in_reply_to": message.in_reply_to,
        "references": list(message.references),
        "auto_generated": {
            "value": message.auto_generated.value,
            "reasons": list(message.auto_generated.reasons),
            "kind": message.auto_generated.kind,
        },
        "bounce": _bounce(message.bounce),
        "text": message.text,
        "html": message.html,
        "attachments": [_attachment(item) for item in message.attachments],
        "defects": list(message.defects),
        "size": message.size,
        "body_digest": message.body_digest,
        "unreadable": message.unreadable,
    }


def _address(address: Address | None) -> dict[str, str] | None:
    if address is None:
        return None
    return {"address": address.address, "name": address.name}


def _attachment(item: Attachment) -> dict[str, Any]:
    return {
        "filename": item.filename,
        "content_type": item.content_type,
        "size": item.size,
        "sha256": item.sha256,
        "inline": item.inline,
        "content_id": item.content_id,
    }


def _bounce(bounce: Bounce | None) -> dict[str, Any] | None:
    if bounce is None:
        return None
    return {
        "recipients": [
            {
                "address": item.address,
                "permanent": item.permanent,
                "status": item.status,
                "diagnostic": item.diagnostic,
            }
            for item in bounce.recipients
        ],
        "original_message_id": bounce.original_message_id,
    }

"""Read Amazon SES bounce notifications that SNS delivers by e-mail as JSON."""

from __future__ import annotations

import json
import re

from engine.message import Bounce, FailedRecipient

_MAX_JSON = 1_000_000  # characters; a notification is a few KB


def bounce_from_json(text: str) -> Bounce | None:
    """The Bounce an SES notification describes; None for complaints, deliveries or non-JSON."""
    document = _document(text)
    if isinstance(document, dict) and isinstance(document.get("Message"), str):
        document = _document(document["Message"])  # SNS's own envelope ("email-json")
    if not isinstance(document, dict) or document.get("notificationType") != "Bounce":
        return None
    bounce = document.get("bounce") if isinstance(document.get("bounce"), dict) else {}
    # SES says Permanent, Transient or Undetermined; only Transient mail is still retried.
    permanent = bounce.get("bounceType") != "Transient"
    recipients = tuple(
        FailedRecipient(address=str(r["emailAddress"]), permanent=permanent,
                        status=str(r.get("status") or ""), diagnostic=_diagnostic(r))
        for r in bounce.get("bouncedRecipients") or []
        if isinstance(r, dict) and r.get("emailAddress")
    )
    return Bounce(recipients=recipients, original_message_id=_message_id(document.get("mail")))


def _document(text: str):
    """The first JSON object in `text`, mended where mail transport broke its long line."""
    start = text.find("{")
    if start < 0:
        return None
    # Sendmail breaks lines over 990 bytes with "!" + newline + space; others with a fold.
    flat = re.sub(r"!?\r?\n ", "", text[start:start + _MAX_JSON]).replace("\r", "").replace("\n", "")
    try:
        return json.JSONDecoder().raw_decode(flat)[0]
    except ValueError:
        return None


def _diagnostic(recipient: dict) -> str:
    text = str(recipient.get("diagnosticCode") or "")
    return re.sub(r"^\s*[A-Za-z0-9-]+\s*;\s*", "", text)[:500]


def _message_id(mail) -> str | None:
    """The RFC 5322 Message-ID of the mail that bounced (SES's own messageId is not one)."""
    if not isinstance(mail, dict):
        return None
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    candidates = [common.get("messageId")]
    candidates += [h.get("value") for h in mail.get("headers") or []
                   if isinstance(h, dict) and str(h.get("name", "")).lower() == "message-id"]
    for value in candidates:
        match = re.search(r"<[^<>\s]+>", str(value or ""))
        if match:
            return match.group(0)
    return None

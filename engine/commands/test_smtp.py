"""`mailgate test-smtp TO`: send a test mail through the configured SMTP server (F-OUT-6)."""

from __future__ import annotations

import uuid
from email.utils import formataddr

from engine.errors import UsageError
from engine.apply.smtp import SmtpSettings, build_mime, open_transport
from engine.errors import DeliveryError, MailgateError
from engine.commands.runtime import load



def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("to", metavar="TO", help="recipient of the test mail")
    parser.add_argument("--from", dest="sender", help="From address: one of the mailbox addresses (default: settings.return_address)")


def run(args) -> int:
    """Send one mail; print the server's words on failure."""
    ruleset = load(args)
    addresses = {m.address.lower() for m in ruleset.mailboxes}
    sender = args.sender or ruleset.settings.return_address or ruleset.mailboxes[0].address
    if sender.lower() not in addresses:
        raise UsageError(f"{sender} is not the address of a configured mailbox")
    blocked = ruleset.index.recipient_filters.first_match(args.to)
    if blocked is not None:  # F-OUT-8: not even a test mail goes there
        print(f"FAILED — {args.to} matches never_send_to '{blocked.pattern}' ({blocked.origin}): mailgate never sends there")
        return 1
    settings = SmtpSettings.from_ruleset(ruleset)
    domain = sender.rpartition("@")[2]
    mail = build_mime(formataddr((ruleset.settings.from_name or "", sender)), args.to,
                      "mailgate test mail", "This is a test mail sent by `mailgate test-smtp`.\n",
                      f"<mailgate.test.{uuid.uuid4().hex}@{domain}>", (("Auto-Submitted", "auto-generated"),))
    try:
        with open_transport(settings) as connection:
            connection.send(mail, args.to)
            version = connection.tls_version
    except DeliveryError as err:
        print(f"FAILED — {err}")
        _token_health(settings)
        return 1
    print(f"OK — sent to {args.to} through {_route(settings)}{', ' + version if version else ''})")
    _token_health(settings)
    return 0


def _route(settings: SmtpSettings) -> str:
    """Where the mail went, as the admin configured it (before the closing parenthesis)."""
    auth = f", XOAUTH2 as {settings.username}" if settings.tokens is not None else ""
    if settings.transport == "graph":
        return f"Microsoft Graph sendMail at {settings.graph_base_url} (https"
    return f"{settings.host}:{settings.port} ({settings.tls}{auth}"


def _token_health(settings: SmtpSettings) -> None:
    """With OAuth (F-OUT-7): how long the token (and, where known, the credential) stays valid."""
    if settings.tokens is None:
        return
    try:
        health = settings.tokens.health()
    except MailgateError as err:
        health = {"token": f"unavailable: {err}"}
    for key, value in sorted(health.items()):
        print(f"    {key}: {value}")

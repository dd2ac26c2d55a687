"""`mailgate test-smtp TO`: send a test mail through the configured SMTP server (F-OUT-6)."""

from __future__ import annotations

import uuid
from email.utils import formataddr

from engine.errors import UsageError
from engine.apply.smtp import SmtpConnection, SmtpSettings, build_mime
from engine.errors import DeliveryError
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
    settings = SmtpSettings.from_ruleset(ruleset)
    domain = sender.rpartition("@")[2]
    mail = build_mime(formataddr((ruleset.settings.from_name or "", sender)), args.to,
                      "mailgate test mail", "This is a test mail sent by `mailgate test-smtp`.\n",
                      f"<mailgate.test.{uuid.uuid4().hex}@{domain}>", (("Auto-Submitted", "auto-generated"),))
    try:
        with SmtpConnection(settings) as connection:
            connection.send(mail, args.to)
            version = connection.tls_version
    except DeliveryError as err:
        print(f"FAILED — {err}")
        return 1
    print(f"OK — sent to {args.to} through {settings.host}:{settings.port} ({settings.tls}"
          f"{', ' + version if version else ''})")
    return 0

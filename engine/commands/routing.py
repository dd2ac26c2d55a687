"""Which mailbox a sample mail was sent to, for dry-run, test and diff: the recipient decides, not the name order."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import getaddresses

from engine.config.ruleset import Ruleset
from engine.errors import UsageError
from engine.message import Message
from engine.parse import parse

# The delivery headers name the envelope recipient of this very copy, so they settle a mail
# sent to two mailboxes; To and Cc only when the delivery headers name no mailbox.
DELIVERY_HEADERS = ("delivered-to", "x-original-to")
RECIPIENT_HEADERS = ("to", "cc")


@dataclass(frozen=True)
class Route:
    """The mailbox chosen and why, in words the output prints."""

    mailbox: str
    why: str


def route(message: Message, ruleset: Ruleset, chosen: str | None = None, chosen_by: str = "--mailbox",
          pick: str = "pick one with --mailbox NAME") -> Route:
    """The mailbox `message` goes to: `chosen` when given, else the one whose address is among its recipients.

    An active mailbox is preferred to an inactive one (which polls nothing). Raises UsageError when
    several mailboxes are addressed, or none is and the config has more than one active mailbox:
    the error lists the candidates and says how to `pick` one."""
    if chosen:
        try:
            ruleset.mailbox(chosen)
        except KeyError:
            names = ", ".join(m.name for m in ruleset.mailboxes) or "none"
            raise UsageError(f"no mailbox named {chosen!r} (mailboxes: {names})") from None
        return Route(chosen, f"named by {chosen_by}")
    by_address = {m.address.strip().lower(): m for m in ruleset.mailboxes}
    for headers in (DELIVERY_HEADERS, RECIPIENT_HEADERS):
        found = _addressed(message, headers, by_address)
        candidates = {n: f for n, f in found.items() if ruleset.mailbox(n).active} or found
        if len(candidates) == 1:
            (name, (header, address)), = candidates.items()
            inactive = "" if ruleset.mailbox(name).active else " (an inactive mailbox)"
            return Route(name, f"its address {address} is in {header}{inactive}")
        if candidates:
            listed = "; ".join(f"{name} ({address} in {header})" for name, (header, address) in sorted(candidates.items()))
            raise UsageError(f"the mail is addressed to several mailboxes: {listed} — {pick}")
    return _only_active(ruleset, pick)


def _addressed(message: Message, headers: tuple[str, ...], by_address: dict) -> dict[str, tuple[str, str]]:
    """Mailbox name -> (header, address) for every mailbox address found in `headers`, first header first."""
    found: dict[str, tuple[str, str]] = {}
    for header in headers:
        for address in _addresses(message, header):
            mailbox = by_address.get(address)
            if mailbox and mailbox.name not in found:
                found[mailbox.name] = (_label(header), address)
    return found


def _addresses(message: Message, header: str) -> list[str]:
    if header == "to":
        return [a.address.strip().lower() for a in message.to]
    if header == "cc":
        return [a.address.strip().lower() for a in message.cc]
    values = [value for key, value in message.headers if key == header]
    return [address.strip().lower() for _, address in getaddresses(values) if address]


def _label(header: str) -> str:
    return {"to": "To", "cc": "Cc", "delivered-to": "Delivered-To", "x-original-to": "X-Original-To"}[header]


def _only_active(ruleset: Ruleset, pick: str) -> Route:
    pool = [m for m in ruleset.mailboxes if m.active] or list(ruleset.mailboxes)
    if len(pool) == 1:
        return Route(pool[0].name, "no mailbox address is among To/Cc/Delivered-To/X-Original-To; "
                                   f"it is the only {'active ' if pool[0].active else ''}mailbox")
    if not pool:
        raise UsageError("the config defines no mailbox")
    candidates = ", ".join(f"{m.name} ({m.address})" for m in pool)
    raise UsageError(f"no mailbox address is among the mail's To/Cc/Delivered-To/X-Original-To, and several "
                     f"mailboxes could take it: {candidates} — {pick}")


def as_mailbox_reads(raw: bytes, message: Message, ruleset: Ruleset, mailbox: str) -> Message:
    """The mail as `mailbox` parses it: routing read the headers of a default parse; a mailbox that keeps
    remote images in HTML (body.keep_remote_images) reads the body differently."""
    if ruleset.mailbox(mailbox).policy.body.keep_remote_images:
        return parse(raw, keep_remote_images=True)
    return message

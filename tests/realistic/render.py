"""Planned items to bytes and ground truth; replies that need ticket numbers read them from Facts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from tests.realistic import machine
from tests.realistic.compose import HELPDESK, Draft, Quote, attachment, compose
from tests.realistic.machine import Sent
from tests.realistic.plan import Item, Thread
from tests.realistic.truth import Delivery, Facts, Truth

EXPECT = {"new": "ticket", "forward": "ticket", "new_tech": "ticket", "resend": "note", "reply_stranger": "reject",
          "ooo": "ignore", "newsletter": "ignore", "bounce_foreign": "ignore", "bounce_ours": "note",
          "spam": "reject", "long_subject": "reject"}
HUMAN = {"new", "forward", "new_tech", "resend", "reply_stranger", "long_subject", "reply_own", "reply_full",
         "reply_tag_only", "reply_refs_only", "reply_colleague", "reply_foreign", "reply_tech"}
TAG_FORMS = ("[Ticket#{n}] {s}", "Issue #{n}: {s}", "{p} {s} [Incident - {n}]")
LONG = ("Error: System.InvalidOperationException: The connection pool has been exhausted, either raise the pool "
        "size or reduce the number of concurrent requests at Contoso.Data.Pool.Acquire(TimeSpan timeout) at "
        "Contoso.Data.Session.Open() at Contoso.Erp.Invoices.Post(Invoice invoice, Boolean validate) at "
        "Contoso.Erp.Batch.Run(BatchContext context) at Contoso.Erp.Scheduler.Execute(Job job) --- End of stack "
        "trace from previous location --- at System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw() ")


def render(item: Item, rng: random.Random, facts: Facts) -> list[Delivery]:
    """The delivery (and its later copies, if any) of one planned item."""
    raw, truth = KINDS[item.kind](item, rng, facts)
    first = Delivery(raw, item.arrival, truth)
    copies = []
    for k in range(item.data.get("copies", 0)):
        # Re-delivered by a gateway or a client's retry: the very same bytes, arriving later.
        later = item.arrival + (timedelta(seconds=rng.randint(1, 600)) if item.kind == "long_subject"
                                else timedelta(seconds=rng.randint(1, 10800)))
        copy = Truth(**{**truth.__dict__, "expect": "duplicate", "variant": "copy", "arrival": later.isoformat()})
        copies.append(Delivery(raw, later, copy))
    return [first, *copies]


def _truth(item: Item, thread: str | None = None, expect: str | None = None, **extra) -> Truth:
    return Truth(kind=extra.pop("kind", item.kind), phase=item.phase, thread=thread or item.id, item=item.id,
                 sender=extra.pop("sender", item.sender), message_id=item.message_id, arrival=item.arrival.isoformat(),
                 expect=expect or EXPECT.get(item.kind, "note"), human=extra.pop("human", item.kind in HUMAN), **extra)


def _sent(item: Item, rng: random.Random) -> datetime:
    return item.arrival - timedelta(seconds=rng.randint(3, 40))


def _text(thread: Thread) -> str:
    lang = thread.person.language
    return "\n\n".join([lang.greeting, *thread.paragraphs, f"{lang.closing}\n{thread.person.name}"])


def _attach(rng: random.Random, item: Item, share: float) -> list:
    count = 0 if rng.random() >= share else 1 if rng.random() < 0.8 else 2
    return [attachment(rng, item.person) for _ in range(count)]


# -- people ----------------------------------------------------------------------------------------


def new_request(item: Item, rng: random.Random, facts: Facts):
    thread = item.thread
    cc = [(p.name, p.address) for p in thread.cc]
    paragraphs = list(thread.paragraphs)
    if thread.foreign:
        paragraphs = ["FYI, see the mail from our vendor below. Can you check this for us?",
                      _forwarded(rng, thread)]
    draft = Draft(item.person, thread.subject, paragraphs, _sent(item, rng), item.message_id, cc=cc,
                  attachments=_attach(rng, item, 0.33))
    if item.kind == "new_tech":
        draft.paragraphs = [thread.paragraphs[0], f"Reported by phone at {item.arrival:%H:%M}.", thread.paragraphs[1]]
    return compose(rng, draft, item.arrival), _truth(item, variant=thread.foreign or item.data.get("token", ""))


def _forwarded(rng: random.Random, thread: Thread) -> str:
    vendor = thread.subject.split(" ", 1)[1]
    return ("---------- Forwarded message ---------\nFrom: Vendor Support <support@vendor-systems.test>\n"
            f"Date: {thread.arrival - timedelta(days=rng.randint(1, 20)):%a, %d %b %Y %H:%M}\nSubject: {vendor}\n"
            f"To: {thread.person.name} <{thread.person.address}>\n\nDear customer,\n\nthank you for contacting "
            f"vendor support. Your case is being handled by our second level team. Please keep the reference "
            f"in the subject of every reply.\n\nBest regards\nVendor Support")


def resend(item: Item, rng: random.Random, facts: Facts):
    thread = item.thread
    draft = Draft(item.person, thread.subject, ["Sorry, I forgot the attachment."], _sent(item, rng), item.message_id,
                  attachments=[attachment(rng, item.person)])
    return compose(rng, draft, item.arrival), _truth(item, thread.id)


def reply(item: Item, rng: random.Random, facts: Facts):
    """A reply on its thread; in phases 2 and 3 it may answer our auto-reply and carry our tag."""
    thread, person = item.thread, item.person
    lang = person.language
    ticket = facts.ticket_of.get(thread.message_id)
    ours = facts.auto_reply.get(ticket) if ticket else None
    kind = item.kind
    if kind in ("reply_full", "reply_tag_only", "reply_refs_only", "reply_foreign") and ticket is None:
        kind = "reply_own"  # the thread never got a ticket number: the customer can only answer their own mail
    words = [rng.choice(lang.follow_ups)] + ([rng.choice(lang.sentences)] if rng.random() < 0.5 else [])
    if kind == "reply_tech":
        words = ["I have looked into this with the user.", item.data["token"]]
    quote = Quote(thread.person.name, thread.person.address, thread.arrival, thread.subject, _text(thread))
    in_reply_to, references, tag, subject = thread.message_id, [thread.message_id], None, _re(lang, thread.subject)
    if kind in ("reply_full", "reply_foreign", "reply_tech") and ticket is not None:
        tag = ticket
        subject = _re(lang, ours.subject if ours else f"{thread.subject} [Ticket#{ticket}]")
        if ours:
            in_reply_to, references = ours.message_id, [thread.message_id, ours.message_id]
            quote = Quote(HELPDESK[0], HELPDESK[1], ours.date, ours.subject, facts.auto_reply_text.get(ticket, ""))
        if kind == "reply_tech":
            in_reply_to, references = None, []
    elif kind == "reply_tag_only":
        tag, in_reply_to, references = ticket, None, []
        subject = rng.choice(TAG_FORMS).format(n=ticket, s=thread.subject, p=lang.reply_prefix)
    elif kind == "reply_refs_only":
        in_reply_to = None
        references = [thread.message_id, ours.message_id] if ours else [thread.message_id]
    to = [HELPDESK]
    cc = [(thread.person.name, thread.person.address)] if person is not thread.person else []
    draft = Draft(person, subject, words, _sent(item, rng), item.message_id, to=to, cc=cc, in_reply_to=in_reply_to,
                  references=references, quoted=quote, attachments=_attach(rng, item, 0.12))
    refs = list(dict.fromkeys(([in_reply_to] if in_reply_to else []) + references))
    truth = _truth(item, thread.id, kind=kind, tag=tag, references=refs,
                   expect="reject" if kind == "reply_stranger" else "note", variant=thread.foreign or "")
    return compose(rng, draft, item.arrival), truth


def _re(lang, subject: str) -> str:
    return subject if subject.lower().startswith(lang.reply_prefix.lower()) else f"{lang.reply_prefix} {subject}"


def long_subject(item: Item, rng: random.Random, facts: Facts):
    """Someone pasted a whole stack trace into the subject (over the 400 characters of F-PRE-1)."""
    subject = (LONG * 2)[: rng.randint(420, 600)].strip()
    draft = Draft(item.person, subject, ["The batch failed again, the full error is in the subject."],
                  _sent(item, rng), item.message_id)
    return compose(rng, draft, item.arrival), _truth(item)


# -- machines --------------------------------------------------------------------------------------


def _ours_or_not(item: Item, rng: random.Random, facts: Facts) -> tuple[Sent, int | None]:
    """Our auto-reply on the item's thread (phase 2/3), else a mail a technician sent from the shared mailbox."""
    thread = item.thread
    ticket = facts.ticket_of.get(thread.message_id)
    if ticket is not None and ticket in facts.auto_reply and item.phase > 1:
        return facts.auto_reply[ticket], ticket
    when = item.arrival - timedelta(hours=rng.randint(1, 20))
    return Sent(f"{rng.getrandbits(96):024x}@mail.example.com", f"RE: {thread.subject}",
                "Example Helpdesk <support@example.com>", thread.person.address, when), None


def ooo(item: Item, rng: random.Random, facts: Facts):
    about, ticket = _ours_or_not(item, rng, facts)
    raw, style = machine.out_of_office(rng, item.person, about, item.arrival, item.message_id)
    return raw, _truth(item, item.thread.id if ticket else None, variant=style, references=[about.message_id],
                       tag=ticket if ticket and f"#{ticket}]" in about.subject else None)


def newsletter(item: Item, rng: random.Random, facts: Facts):
    raw = machine.newsletter(rng, machine.NEWSLETTERS[item.data["letter"]], item.arrival, item.message_id)
    return raw, _truth(item)


def bounce(item: Item, rng: random.Random, facts: Facts):
    if item.kind == "bounce_ours":
        about, ticket = _ours_or_not(item, rng, facts)
        if ticket is not None:
            person = item.thread.person
            raw, style, sender = machine.bounce(rng, about, person.address, person.org.mx, person.domain, item.arrival,
                                                item.message_id)
            return raw, _truth(item, item.thread.id, variant=style, references=[about.message_id], sender=sender)
    victim = f"{rng.choice(('info', 'sales', 'j.smith', 'office'))}@{rng.choice(('example.net', 'mail.invalid', 'shop.invalid'))}"
    spoofed = Sent(f"{rng.getrandbits(96):024x}@example.com", "Your invoice is ready", "support@example.com", victim,
                   item.arrival - timedelta(hours=2))
    domain = victim.split("@")[1]
    raw, style, sender = machine.bounce(rng, spoofed, victim, f"mx.{domain}", domain, item.arrival, item.message_id)
    return raw, _truth(item, kind="bounce_foreign", expect="ignore", variant=style, sender=sender)


def spam(item: Item, rng: random.Random, facts: Facts):
    raw, sender = machine.spam(rng, item.arrival, item.message_id, item.data["index"])
    truth = _truth(item)
    truth.sender = sender
    return raw, truth


def loop_burst(item: Item, rng: random.Random, facts: Facts):
    raw = machine.alert(rng, item.data["host"], item.sender, item.arrival, item.message_id)
    return raw, _truth(item, expect="any" if item.data["seq"] < 5 else "reject", human=False)


KINDS = {"new": new_request, "forward": new_request, "new_tech": new_request, "resend": resend,
         "long_subject": long_subject, "ooo": ooo, "newsletter": newsletter, "bounce_ours": bounce,
         "bounce_foreign": bounce, "spam": spam, "loop_burst": loop_burst,
         **{kind: reply for kind in ("reply_own", "reply_full", "reply_tag_only", "reply_refs_only", "reply_colleague",
                                     "reply_stranger", "reply_foreign", "reply_tech")}}

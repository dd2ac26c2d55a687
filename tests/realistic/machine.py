"""Mail no person wrote: out-of-office replies, newsletters, delivery reports (DSN), spam, monitoring alerts."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from tests.realistic import mime
from tests.realistic.compose import OUR_MX, received_chain
from tests.realistic.people import Person


@dataclass(frozen=True)
class Sent:
    """A mail (ours or a person's) that an auto-reply or a bounce is about."""

    message_id: str
    subject: str
    sender: str  # From header as written
    to: str
    date: datetime


# Each style: subject prefix, headers that mark it (every style carries at least one standard signal).
OOO_STYLES = (
    ("exchange", "Automatic reply: ", [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]),
    ("exchange-de", "Automatische Antwort: ", [("Auto-Submitted", "auto-generated"), ("X-Auto-Response-Suppress", "All")]),
    ("gmail", "Re: ", [("Auto-Submitted", "auto-replied")]),  # looks like a reply: only the header tells
    ("notes", "Abwesenheitsnotiz: ", [("X-Autoreply", "yes")]),
    ("french", "Réponse automatique : ", [("Auto-Submitted", "auto-replied")]),
    ("sieve", "Auto: ", [("Auto-Submitted", "auto-replied (vacation)"), ("Precedence", "bulk")]),
    ("old", "Re: ", [("X-Autorespond", "yes"), ("Precedence", "junk")]),
    ("subject-only", "Out of Office: ", []),  # only the shipped subject filter catches it
)
OOO_TEXT = {"exchange": "I am out of the office until {day} with limited access to e-mail. For urgent matters "
                        "please contact my colleague.",
            "exchange-de": "Ich bin bis {day} nicht im Büro. In dringenden Fällen wenden Sie sich bitte an meine Kollegin.",
            "gmail": "Thanks for your mail. I am on vacation until {day} and will reply when I am back.",
            "notes": "Ich bin bis einschließlich {day} abwesend und habe keinen Zugriff auf meine E-Mails.",
            "french": "Je suis absent(e) jusqu'au {day}. Pour toute urgence, contactez le standard.",
            "sieve": "I am away until {day}. Your mail will not be forwarded.",
            "old": "Your message has been received. I am currently out of the office until {day}.",
            "subject-only": "I am out of the office until {day}."}


def out_of_office(rng: random.Random, person: Person, about: Sent, arrival: datetime, mid: str) -> tuple[bytes, str]:
    """An auto-reply from `person` to `about` (a mail they received); returns (raw, style)."""
    style, prefix, marks = rng.choice(OOO_STYLES)
    day = (arrival + timedelta(days=rng.randint(2, 14))).strftime("%d.%m.%Y")
    text = OOO_TEXT[style].format(day=day)
    pairs = [("Return-Path", f"<{person.address}>" if style != "sieve" else "<>")]
    pairs += received_chain(rng, person.org.mx, arrival, person.org.mx, person.address)
    pairs += [("From", mime.mailbox(person.name, person.address, "utf-8")), ("To", about.sender),
              ("Subject", mime.encoded(prefix + about.subject, "utf-8")),
              ("Date", mime.date_header(arrival - timedelta(seconds=rng.randint(1, 20)))),
              ("Message-ID", f"<{mid}>"), ("In-Reply-To", f"<{about.message_id}>"),
              ("References", f"<{about.message_id}>"), *marks]
    ctype, body, encoding = mime.single(mime.text_part(text + "\n", "utf-8"))
    return mime.message(pairs, ctype, body, encoding), style


@dataclass(frozen=True)
class Newsletter:
    """A list that mails the helpdesk address (vendors, trade press)."""

    name: str
    address: str
    list_id: str
    domain: str


NEWSLETTERS = (
    Newsletter("Contoso Cloud Weekly", "news@mailing.contoso-cloud.test", "weekly.contoso-cloud.test", "contoso-cloud.test"),
    Newsletter("Fabrikam Security Advisories", "advisories@lists.fabrikam.test", "advisories.fabrikam.test", "fabrikam.test"),
    Newsletter("IT Pro Digest", "digest@itpro-digest.test", "digest.itpro-digest.test", "itpro-digest.test"),
    Newsletter("Northwind Partner News", "partners@news.northwind.test", "partners.northwind.test", "northwind.test"),
    Newsletter("Printer Supplies Deals", "deals@supplies-shop.test", "deals.supplies-shop.test", "supplies-shop.test"),
    Newsletter("Adatum Product Updates", "noreply@updates.adatum.test", "product.adatum.test", "adatum.test"),
)
TOPICS = ("Patch Tuesday roundup", "5 ways to secure remote work", "New features in our admin portal",
          "Webinar: zero trust in practice", "Your January product update", "Critical advisory for VPN appliances",
          "Toner and paper deals this week", "Partner programme changes for 2026")


def newsletter(rng: random.Random, letter: Newsletter, arrival: datetime, mid: str) -> bytes:
    """A list mail: List-Id, List-Unsubscribe (one-click), Precedence: bulk, a heavy HTML body."""
    topic = rng.choice(TOPICS)
    items = [f"{rng.choice(TOPICS)} — read more at https://{letter.domain}/a/{rng.getrandbits(32):x}" for _ in range(8)]
    text = f"{letter.name}\n\n{topic}\n\n" + "\n\n".join(items) + "\n\nUnsubscribe: https://" + letter.domain + "/u\n"
    cells = "".join(f'<tr><td style="padding:12px;font-family:Arial;font-size:14px;color:#333">'
                    f'<img src="https://{letter.domain}/img/{rng.getrandbits(40):x}.png" width="560" alt=""><br>'
                    f'<a href="https://{letter.domain}/a/{rng.getrandbits(32):x}?utm_source=newsletter&amp;utm_medium=email">'
                    f"{item}</a></td></tr>" for item in items * rng.randint(3, 6))
    html = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{topic}</title></head><body style="margin:0">'
            f'<table width="100%" cellpadding="0" cellspacing="0" style="background:#f4f4f4">{cells}</table>'
            f'<div style="display:none">{rng.randbytes(2000).hex()}</div></body></html>')
    ctype, body = mime.multipart("alternative", [mime.text_part(text, "utf-8"), mime.text_part(html, "utf-8", "html")],
                                 f"=_nl_{rng.getrandbits(64):016x}")
    bounce = f"bounce-{rng.getrandbits(40):010x}@{letter.domain}"
    pairs = [("Return-Path", f"<{bounce}>")]
    pairs += received_chain(rng, f"mta{rng.randint(1, 9)}.{letter.domain}", arrival, f"mta.{letter.domain}", bounce)
    pairs += [("From", mime.mailbox(letter.name, letter.address)), ("To", "support@example.com"),
              ("Subject", f"{topic} | {letter.name}"), ("Date", mime.date_header(arrival - timedelta(seconds=30))),
              ("Message-ID", f"<{mid}>"), ("List-Id", f"{letter.name} <{letter.list_id}>"),
              ("List-Unsubscribe", f"<mailto:unsubscribe@{letter.domain}?subject=unsubscribe>, <https://{letter.domain}/u/{rng.getrandbits(48):x}>"),
              ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"), ("Precedence", "bulk"),
              ("X-Campaign", f"{rng.getrandbits(24):06x}"), ("Feedback-ID", f"{rng.getrandbits(24)}:nl:{letter.domain}")]
    return mime.message(pairs, ctype, body)


DSN_STYLES = (
    ("postfix", "Mail Delivery System", "MAILER-DAEMON@{mx}", "Undelivered Mail Returned to Sender",
     "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table", "5.1.1"),
    ("exchange", "Microsoft Outlook", "postmaster@{domain}", "Undeliverable: {subject}",
     "smtp; 550 5.2.2 mailbox full;Recipient: <{rcpt}>", "5.2.2"),
    ("gmail", "Mail Delivery Subsystem", "mailer-daemon@googlemail.com", "Delivery Status Notification (Failure)",
     "smtp; 550-5.1.1 The email account that you tried to reach does not exist.", "5.1.1"),
)


def bounce(rng: random.Random, about: Sent, failed: str, mx: str, domain: str, arrival: datetime,
           mid: str) -> tuple[bytes, str, str]:
    """An RFC 3464 report: multipart/report with the human part, message/delivery-status and the original's
    headers; returns (raw, style, the report's From address)."""
    style, name, address, subject, diagnostic, status = rng.choice(DSN_STYLES)
    address = address.format(mx=mx, domain=domain)
    human = (f"This is the mail system at host {mx}.\n\nI'm sorry to have to inform you that your message could not\n"
             f"be delivered to one or more recipients.\n\n<{failed}>: {diagnostic.format(rcpt=failed)}\n")
    status_part = ("Content-Type: message/delivery-status\r\n\r\n"
                   f"Reporting-MTA: dns; {mx}\r\nX-Postfix-Queue-ID: {rng.getrandbits(40):010X}\r\n"
                   f"Arrival-Date: {mime.date_header(arrival - timedelta(seconds=3))}\r\n\r\n"
                   f"Final-Recipient: rfc822; {failed}\r\nOriginal-Recipient: rfc822;{failed}\r\nAction: failed\r\n"
                   f"Status: {status}\r\nRemote-MTA: dns; {domain}\r\nDiagnostic-Code: {diagnostic.format(rcpt=failed)}\r\n").encode()
    original = mime.headers([("Return-Path", "<support@example.com>"), ("From", about.sender), ("To", about.to),
                             ("Subject", mime.encoded(about.subject)), ("Date", mime.date_header(about.date)),
                             ("Message-ID", f"<{about.message_id}>"), ("Auto-Submitted", "auto-replied")])
    headers_part = b"Content-Type: text/rfc822-headers\r\n\r\n" + original
    ctype, body = mime.multipart("report", [mime.text_part(human, "us-ascii"), status_part, headers_part],
                                 f"{rng.getrandbits(40):010X}.{int(arrival.timestamp())}/{mx}", "; report-type=delivery-status")
    pairs = [("Return-Path", "<>")]
    pairs += received_chain(rng, mx, arrival, mx, "")
    pairs += [("From", f"{name} <{address}>"), ("To", about.sender),
              ("Subject", mime.encoded(subject.format(subject=about.subject))),
              ("Date", mime.date_header(arrival - timedelta(seconds=2))), ("Message-ID", f"<{mid}>"),
              ("Auto-Submitted", "auto-replied")]
    return mime.message(pairs, ctype, b"This is a MIME-encapsulated message.\r\n\r\n" + body), style, address.lower()


SPAM = (("[SPAM] Your parcel could not be delivered", "Track your parcel now: http://parcel-track.invalid/x"),
        ("***SPAM*** Invoice overdue – act now", "Please open the attached invoice immediately."),
        ("Congratulations!", "You have won 1,000,000 EUR. Reply with your bank details to claim your prize."),
        ("Business proposal", "We offer a unique bitcoin investment opportunity with guaranteed returns."),
        ("[SPAM] Re: your account", "Your mailbox is full, log in here to keep receiving mail."))


def spam(rng: random.Random, arrival: datetime, mid: str, index: int) -> tuple[bytes, str]:
    """Spam the gateway tagged or the shipped keywords catch; returns (raw, sender)."""
    subject, text = SPAM[index % len(SPAM)]
    sender = f"{rng.choice(('info', 'billing', 'promo', 'admin'))}{rng.randint(10, 999)}@{rng.choice(('bulk-offers', 'cheap-deals', 'parcel-track'))}.invalid"
    pairs = [("Return-Path", f"<{sender}>")] + received_chain(rng, f"smtp{rng.randint(1, 99)}.spamhost.invalid", arrival, "unknown", sender)
    pairs += [("From", sender), ("To", "support@example.com"), ("Subject", mime.encoded(subject)),
              ("Date", mime.date_header(arrival - timedelta(hours=rng.randint(0, 30)))), ("Message-ID", f"<{mid}>"),
              ("X-Spam-Flag", "YES" if subject.startswith(("[SPAM]", "***SPAM")) else "NO"),
              ("X-Spam-Score", f"{rng.uniform(3, 15):.1f}")]
    ctype, body, encoding = mime.single(mime.text_part(text + "\n", "utf-8"))
    return mime.message(pairs, ctype, body, encoding), sender


def alert(rng: random.Random, host: str, sender: str, arrival: datetime, mid: str) -> bytes:
    """A monitoring script gone wild: plain mail, no auto-generated header at all (only loop prevention stops it)."""
    usage = rng.randint(90, 99)
    pairs = [("Return-Path", f"<{sender}>")] + received_chain(rng, f"relay.{sender.split('@')[1]}", arrival, host, sender)
    pairs += [("From", f"Monitoring <{sender}>"), ("To", "support@example.com"),
              ("Subject", f"ALERT {host}: disk usage {usage}% on /var"),
              ("Date", mime.date_header(arrival - timedelta(seconds=1))), ("Message-ID", f"<{mid}>")]
    ctype, body, encoding = mime.single(mime.text_part(f"Host {host}\nCheck: disk /var\nValue: {usage}%\nThreshold: 90%\n", "us-ascii"))
    return mime.message(pairs, ctype, body, encoding)

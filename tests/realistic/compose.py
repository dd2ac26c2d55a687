"""A person's mail as their client writes it: Outlook, Gmail, Apple Mail, Thunderbird or a plain old client."""

from __future__ import annotations

import html
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.realistic import mime
from tests.realistic.people import Person

HELPDESK = ("Example Helpdesk", "support@example.com")
OUR_MX = "mx2.example.com"
# Time zone (minutes east of UTC) a person's client writes in, by language.
ZONES = {"en": (-300, 0, 60), "de": (60,), "fr": (60,), "es": (60,), "pl": (60,), "ru": (180,), "ja": (540,),
         "zh": (480,), "pt": (0,)}


@dataclass
class Draft:
    """What a person sends: the words and the threading; compose() turns it into bytes."""

    person: Person
    subject: str
    paragraphs: list[str]
    sent: datetime  # when the client sent it (the arrival is a few seconds later)
    message_id: str
    to: list[tuple[str, str]] = field(default_factory=lambda: [HELPDESK])
    cc: list[tuple[str, str]] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    quoted: "Quote | None" = None
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)  # name, type, data
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Quote:
    """The earlier mail a reply quotes below the new text."""

    name: str
    address: str
    sent: datetime
    subject: str
    text: str


def message_id(rng: random.Random, person: Person) -> str:
    """A Message-ID in the shape the person's client makes (bare, without angle brackets)."""
    hexa = f"{rng.getrandbits(96):024x}"
    if person.client == "outlook":
        return f"AM{rng.randint(0, 9)}PR0{rng.randint(1, 9)}MB{rng.randint(1000, 9999)}{hexa[:20].upper()}@AM0PR04MB.eurprd04.prod.outlook.com"
    if person.client == "gmail":
        return f"CA+{hexa[:22]}{rng.choice('ABCDEFGH')}{hexa[22:]}Q@mail.gmail.com"
    return f"{uuid.UUID(int=rng.getrandbits(128)).hex.upper()}@{person.domain}"


def compose(rng: random.Random, draft: Draft, arrival: datetime) -> bytes:
    """The raw mail, with the Received chain of its way to our mailbox ending at `arrival`."""
    person = draft.person
    text = _plain(draft)
    body_parts = _bodies(rng, draft, text)
    for name, content_type, data in draft.attachments:
        body_parts.append(mime.binary_part(data, content_type, name))
    content_type, body, encoding = _assemble(rng, person, body_parts)
    return mime.message(_headers(rng, draft, arrival), content_type, body, encoding)


# -- headers ---------------------------------------------------------------------------------------


def received_chain(rng: random.Random, sender_mx: str, arrival: datetime, helo: str, envelope: str) -> list[tuple[str, str]]:
    """Received headers, newest first: our LMTP delivery, our MX, the sender's relay."""
    qid = f"{rng.getrandbits(40):010X}"
    ip = f"203.0.113.{rng.randint(2, 250)}"
    hops = [
        ("Received", f"from {OUR_MX} ({OUR_MX} [10.20.0.12]) by imap.example.com (Dovecot) with LMTP id "
                     f"{rng.getrandbits(64):016x} for <support@example.com>; {mime.date_header(arrival)}"),
        ("Received", f"from {sender_mx} ({sender_mx} [{ip}]) by {OUR_MX} (Postfix) with ESMTPS id {qid} for "
                     f"<support@example.com>; {mime.date_header(arrival - timedelta(seconds=rng.randint(1, 4)))}"),
        ("Received", f"from {helo} ([10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}]) by "
                     f"{sender_mx} with ESMTPSA id {rng.getrandbits(48):012x} (envelope-from <{envelope}>); "
                     f"{mime.date_header(arrival - timedelta(seconds=rng.randint(5, 40)))}"),
    ]
    return hops


def _headers(rng: random.Random, draft: Draft, arrival: datetime) -> list[tuple[str, str]]:
    person = draft.person
    zone = rng.choice(ZONES.get(person.language.code, (0,)))
    pairs = [("Return-Path", f"<{person.address}>")]
    pairs += received_chain(rng, person.org.mx, arrival, f"ws-{rng.randint(100, 999)}.{person.domain}", person.address)
    pairs.append(("Authentication-Results", f"{OUR_MX}; spf=pass smtp.mailfrom={person.domain}; "
                                            f"dkim=pass header.d={person.domain}; dmarc=pass header.from={person.domain}"))
    pairs.append(("DKIM-Signature", f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={person.domain}; s=sel1; "
                                    f"h=from:to:subject:date:message-id; bh={_b64(rng, 32)}; b={_b64(rng, 128)}"))
    charset = person.charset
    pairs.append(("From", mime.mailbox(person.name, person.address, charset)))
    pairs.append(("To", ", ".join(mime.mailbox(n, a, charset) for n, a in draft.to)))
    if draft.cc:
        pairs.append(("Cc", ", ".join(mime.mailbox(n, a, charset) for n, a in draft.cc)))
    pairs.append(("Subject", mime.encoded(draft.subject, charset)))
    if person.client == "outlook":
        pairs += [("Thread-Topic", mime.encoded(_topic(draft.subject), charset)),
                  ("Thread-Index", _b64(rng, 22))]
    pairs.append(("Date", mime.date_header(draft.sent + timedelta(seconds=person.clock_skew), zone)))
    pairs.append(("Message-ID", f"<{draft.message_id}>"))
    if draft.references:
        pairs.append(("References", " ".join(f"<{r}>" for r in draft.references)))
    if draft.in_reply_to:
        pairs.append(("In-Reply-To", f"<{draft.in_reply_to}>"))
    pairs += _client_headers(rng, person, bool(draft.attachments))
    return pairs + draft.extra_headers


def _client_headers(rng: random.Random, person: Person, attached: bool) -> list[tuple[str, str]]:
    lang = {"en": "en-US", "de": "de-DE", "fr": "fr-FR", "es": "es-ES", "pl": "pl-PL", "ru": "ru-RU",
            "ja": "ja-JP", "zh": "zh-CN", "pt": "pt-PT"}[person.language.code]
    if person.client == "outlook":
        return [("Accept-Language", f"{lang}, en-US"), ("Content-Language", lang),
                ("X-MS-Has-Attach", "yes" if attached else ""), ("X-MS-TNEF-Correlator", ""),
                ("x-ms-exchange-organization-authas", "Anonymous")]
    if person.client == "gmail":
        return [("X-Gm-Message-State", _b64(rng, 40))]
    if person.client == "apple":
        return [("X-Mailer", "Apple Mail (2.3774.300.61.1.2)")]
    if person.client == "thunderbird":
        return [("User-Agent", "Mozilla Thunderbird"), ("Content-Language", lang)]
    return [("X-Mailer", "Microsoft Outlook Express 6.00.2900.5931")]


def _topic(subject: str) -> str:
    for prefix in ("Re:", "RE:", "AW:", "Fwd:", "WG:", "TR:", "RE :", "TR :", "Odp:", "PD:", "RV:", "RES:", "ENC:"):
        if subject.startswith(prefix):
            return subject[len(prefix):].strip()
    return subject


def _b64(rng: random.Random, size: int) -> str:
    import base64
    return base64.b64encode(rng.randbytes(size)).decode()


# -- bodies ----------------------------------------------------------------------------------------


def _plain(draft: Draft) -> str:
    person, lang = draft.person, draft.person.language
    lines = [lang.greeting, ""]
    for paragraph in draft.paragraphs:
        lines += [paragraph, ""]
    lines += [lang.closing, person.name]
    lines += ["", "-- ", person.name, f"{person.org.domain.split('.')[0].replace('-', ' ').title()}",
              f"Phone +{(hash_digits(person.address))}"]
    if person.org.disclaimer:
        lines += ["", person.org.disclaimer]
    if draft.quoted:
        lines += ["", *_quote_lines(person, draft.quoted)]
    return "\n".join(lines) + "\n"


def hash_digits(text: str) -> str:
    """A stable phone number for an address (hash() is salted per process, so not that)."""
    import zlib
    return f"49 {zlib.crc32(text.encode()) % 900 + 100} {zlib.crc32(text[::-1].encode()) % 9000000 + 1000000}"


def _quote_lines(person: Person, quote: Quote) -> list[str]:
    when = quote.sent.strftime("%a, %d %b %Y %H:%M")
    if person.client == "outlook":
        head = ["________________________________", f"From: {quote.name} <{quote.address}>", f"Sent: {when}",
                f"To: {person.name} <{person.address}>" if quote.address != person.address else "To: support@example.com",
                f"Subject: {quote.subject}", ""]
        return head + quote.text.splitlines()
    wrote = person.language.wrote.format(date=when, name=f"{quote.name} <{quote.address}>")
    return [wrote] + [">" + (" " + line if line else "") for line in quote.text.splitlines()]


def _bodies(rng: random.Random, draft: Draft, text: str) -> list[bytes]:
    """The text (and HTML alternative) part(s), wrapped as the client does; attachments come after."""
    person = draft.person
    charset = person.charset
    if person.client == "plain" or (person.client == "thunderbird" and rng.random() < 0.6):
        return [mime.text_part(text, charset, flowed=person.client == "thunderbird")]
    html_text = _html(person, draft, text)
    ctype, body = mime.multipart("alternative", [mime.text_part(text, charset), mime.text_part(html_text, charset, "html")],
                                 _boundary(rng, person))
    alternative = mime.headers([("Content-Type", ctype)]) + mime.CRLF + body
    if person.client == "outlook" and rng.random() < 0.5:  # signature logo inline
        cid = f"image001.png@01DA{rng.getrandbits(32):08X}.{rng.getrandbits(32):08X}"
        logo = mime.binary_part(mime.png(rng, rng.randint(3000, 14000)), "image/png", "image001.png",
                                inline=True, content_id=cid)
        ctype, body = mime.multipart("related", [alternative, logo], _boundary(rng, person), '; type="multipart/alternative"')
        return [mime.headers([("Content-Type", ctype)]) + mime.CRLF + body]
    return [alternative]


def _html(person: Person, draft: Draft, text: str) -> str:
    paragraphs = "".join(f'<p class="MsoNormal"><span style="font-family:Calibri,sans-serif;font-size:11pt">'
                         f"{html.escape(line) or '&nbsp;'}</span></p>\n" for line in text.splitlines())
    style = ("<style><!--\n@font-face {font-family:Calibri;}\np.MsoNormal, li.MsoNormal, div.MsoNormal "
             "{margin:0cm; font-size:11.0pt; font-family:\"Calibri\",sans-serif;}\n"
             "a:link, span.MsoHyperlink {color:#0563C1; text-decoration:underline;}\n"
             ".MsoChpDefault {mso-style-type:export-only;}\n@page WordSection1 {size:612.0pt 792.0pt;}\n--></style>")
    return (f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={person.charset}">'
            f"{style}</head><body lang=\"{person.language.code}\"><div class=\"WordSection1\">\n{paragraphs}</div></body></html>")


def _assemble(rng: random.Random, person: Person, parts: list[bytes]) -> tuple[str, bytes, str | None]:
    if len(parts) == 1:
        head, _, body = parts[0].partition(mime.CRLF + mime.CRLF)
        fields = {}
        for line in head.decode().split("\r\n"):
            if ": " in line:
                name, _, value = line.partition(": ")
                fields[name] = value
        if fields.get("Content-Type", "").startswith("multipart/"):
            return fields["Content-Type"], body, None
        return fields["Content-Type"], body, fields.get("Content-Transfer-Encoding")
    ctype, body = mime.multipart("mixed", parts, _boundary(rng, person))
    return ctype, b"This is a multi-part message in MIME format.\r\n\r\n" + body, None


def _boundary(rng: random.Random, person: Person) -> str:
    if person.client == "outlook":
        return f"_00{rng.randint(0, 9)}_AM0PR04MB{rng.getrandbits(40):010X}eurp_"
    if person.client == "gmail":
        return f"000000000000{rng.getrandbits(48):012x}"
    if person.client == "apple":
        return f"Apple-Mail={uuid.UUID(int=rng.getrandbits(128))}"
    return f"------------{rng.getrandbits(96):024x}"


# -- attachments -----------------------------------------------------------------------------------

KINDS = (("png", 0.38), ("pdf", 0.25), ("docx", 0.1), ("xlsx", 0.1), ("jpg", 0.1), ("log", 0.06), ("exe", 0.01))
NAMES = {"png": ("Screenshot 2026-01-{d:02d} {n}.png", "image/png"), "pdf": ("Invoice_{n}.pdf", "application/pdf"),
         "docx": ("Request form {n}.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
         "xlsx": ("Report_{n}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
         "jpg": ("IMG_{n}.jpg", "image/jpeg"), "log": ("client-{n}.log", "text/plain"),
         "exe": ("setup_{n}.exe", "application/x-msdownload")}
LOCAL_NAMES = {"de": {"pdf": "Rechnung_{n}.pdf", "png": "Bildschirmfoto {n}.png"},
               "fr": {"png": "Capture d’écran {n}.png", "pdf": "Facture_{n}.pdf"},
               "ja": {"png": "スクリーンショット {n}.png"}}


def attachment(rng: random.Random, person: Person) -> tuple[str, str, bytes]:
    """One attachment a person might send: a screenshot, a PDF, an office file, a photo, a log."""
    kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    name, content_type = NAMES[kind]
    name = LOCAL_NAMES.get(person.language.code, {}).get(kind, name)
    name = name.format(d=rng.randint(1, 28), n=rng.randint(1000, 99999))
    # Log-normal sizes: most attachments are tens of KB, a few are megabytes.
    size = int(min(1_500_000, math.exp(rng.gauss(math.log(36_000), 1.0))))
    make = {"png": mime.png, "pdf": mime.pdf, "jpg": mime.jpeg, "log": mime.log_text,
            "docx": mime.office, "exe": mime.office,
            "xlsx": lambda r, s: mime.office(r, s, "xl/workbook.xml")}[kind]
    return name, content_type, make(rng, size)

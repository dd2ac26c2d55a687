"""Benchmark parse() against the naive stdlib path on a generated mixed corpus.

Run: .venv/bin/python bench/bench_parse.py [--count N] [--rounds R] [--big-mb MB]

Prints messages per second of
  (a) stdlib `email` with policy.default: parse, read the usual headers,
      get_body(('plain', 'html')).get_content(), iter_attachments() with
      get_content() of each attachment;
  (b) engine.parse.parse() (which also hashes attachments, sanitises HTML,
      classifies auto-replies and bounces),
and the tracemalloc peak of both for one 25 MB mail.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import tracemalloc
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from engine.parse import parse  # noqa: E402

WORDS = ("printer network password reset outlook invoice server ticket please help urgent "
         "broken login vpn monitor keyboard mailbox quota licence update error backup").split()
SUBJECTS = ("Drucker im 2. Stock defekt", "Problème de connexion VPN", "Пароль не работает",
            "メールが届かない", "Impressora não imprime", "Monitor flackert – bitte prüfen",
            "Cannot login to portal", "Invoice 4711 missing", "Outlook crashes on start")
ATTACHMENTS = (("report.pdf", "application", "pdf"), ("screenshot.png", "image", "png"),
               ("logfile.txt", "text", "plain"), ("data.xlsx", "application",
               "vnd.openxmlformats-officedocument.spreadsheetml.sheet"), ("photo.jpg", "image", "jpeg"))


def paragraph(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def body_text(rng: random.Random, reply: bool) -> str:
    text = "\n\n".join(paragraph(rng, rng.randint(15, 60)) for _ in range(rng.randint(1, 5)))
    if reply:
        quoted = "\n".join("> " + paragraph(rng, 12) for _ in range(rng.randint(5, 30)))
        text += "\n\nOn Mon, 1 Jan 2024 at 10:00, Helpdesk <help@example.org> wrote:\n" + quoted
    return text + "\n\n-- \nKind regards\nA. User\n"


def make_mail(rng: random.Random, index: int) -> bytes:
    """One mail of the mixed corpus; the same index and seed give the same bytes."""
    kind = rng.random()
    msg = EmailMessage()
    msg["From"] = f"{rng.choice(['Jörg Müller', 'Anna Smith', 'Li Wei', 'Olga Ivanova'])} <user{index % 50}@example.com>"
    msg["To"] = "Helpdesk <help@example.org>"
    if rng.random() < 0.3:
        msg["Cc"] = "Team <team@example.org>, boss@example.org"
    msg["Date"] = format_datetime(datetime(2024, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=index))
    msg["Message-ID"] = f"<{index}.{rng.getrandbits(48):x}@mail.example.com>"
    reply = rng.random() < 0.3
    subject = rng.choice(SUBJECTS) if rng.random() < 0.6 else paragraph(rng, 6)
    msg["Subject"] = ("Re: " if reply else "") + subject
    if reply:
        msg["In-Reply-To"] = f"<ticket-{index}@helpdesk.example.org>"
        msg["References"] = f"<root-{index}@example.com> <ticket-{index}@helpdesk.example.org>"
    if kind < 0.1:  # auto-reply
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Autoreply"] = "yes"
        msg.replace_header("Subject", "Automatic reply: " + subject)
    for hop in range(rng.randint(2, 6)):
        msg["Received"] = f"from mx{hop}.example.net by mx{hop + 1}.example.net with ESMTPS id {index}{hop}"
    text = body_text(rng, reply)
    msg.set_content(text)
    if kind >= 0.35:  # HTML + text
        html = "<html><body>" + "".join(f"<p style=\"color:#333\">{p}</p>" for p in text.split("\n\n")) + "</body></html>"
        msg.add_alternative(html, subtype="html")
    for _ in range(rng.choices((0, 1, 2, 3), weights=(50, 30, 13, 7))[0]):
        name, maintype, subtype = rng.choice(ATTACHMENTS)
        size = min(int(rng.expovariate(1 / 27000)) + 500, 400_000)
        data = rng.randbytes(size) if maintype != "text" else paragraph(rng, size // 7).encode()
        if maintype == "text":
            msg.add_attachment(data.decode(), filename=name)
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    for number, part in enumerate(msg.walk()):  # fixed boundaries: same seed, same bytes
        if part.is_multipart():
            part.set_boundary(f"=_mailgate_{index}_{number}")
    return msg.as_bytes()


def corpus(count: int, seed: int = 20240101) -> list[bytes]:
    rng = random.Random(seed)
    return [make_mail(rng, index) for index in range(count)]


def stdlib_path(raw: bytes, read_attachments: bool = True) -> None:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    for name in ("from", "to", "cc", "subject", "date", "message-id", "in-reply-to", "references"):
        msg.get(name)
    body = msg.get_body(("plain", "html"))
    if body is not None:
        body.get_content()
    for attachment in msg.iter_attachments():
        if read_attachments:
            attachment.get_content()


def rate(function, mails: list[bytes], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for raw in mails:
            function(raw)
        best = min(best, time.perf_counter() - started)
    return len(mails) / best


def big_mail(megabytes: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = "a@example.com"
    msg["Subject"] = "big"
    msg.set_content("see attachment\n")
    # base64 grows data by 4/3 (plus line ends): this makes the raw mail ~`megabytes`.
    msg.add_attachment(random.Random(1).randbytes(megabytes * 1024 * 1024 * 3 // 4 - 100_000),
                       maintype="application", subtype="octet-stream", filename="big.bin")
    return msg.as_bytes()


def peak(function, raw: bytes) -> int:
    tracemalloc.start()
    try:
        function(raw)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--count", type=int, default=400)
    args.add_argument("--rounds", type=int, default=3)
    args.add_argument("--big-mb", type=int, default=25)
    options = args.parse_args()
    mails = corpus(options.count)
    mean = sum(map(len, mails)) / len(mails)
    print(f"corpus: {len(mails)} mails, mean {mean / 1024:.1f} KB, total {sum(map(len, mails)) / 2**20:.1f} MB")
    parse(mails[0])  # warm imports (nh3, html2text, bounce detectors)
    stdlib_rate = rate(stdlib_path, mails, options.rounds)
    listing_rate = rate(lambda raw: stdlib_path(raw, read_attachments=False), mails, options.rounds)
    parse_rate = rate(parse, mails, options.rounds)
    print(f"(a) stdlib policy.default + get_body + iter_attachments: {stdlib_rate:8.1f} msgs/s")
    print(f"    the same, attachments listed but not read:            {listing_rate:8.1f} msgs/s")
    print(f"(b) engine.parse.parse:                                 {parse_rate:8.1f} msgs/s")
    print(f"(b)/(a) = {parse_rate / stdlib_rate:.2f}x (goal >= 1.0x); "
          f"against the listing-only variant {parse_rate / listing_rate:.2f}x")
    raw = big_mail(options.big_mb)
    mb = len(raw) / 2**20
    for label, function in (("(a) stdlib", stdlib_path), ("(b) parse", parse)):
        used = peak(function, raw) / 2**20
        print(f"peak memory {label:10} for one {mb:.1f} MB mail: {used:6.1f} MB ({used / mb:.1f}x the mail)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

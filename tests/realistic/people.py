"""Who writes to the helpdesk: organisations, their people, each with a language, a mail client and habits."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from tests.realistic.languages import LANGUAGES, Language

# The shipped directory (rules/70-directory.yaml): example.com is Example Corp (staff, tickets
# not shared), acme.test is Acme Ltd (shares tickets, so colleagues may see each other's).
INTERNAL, SHARING = "example.com", "acme.test"
TECHNICIANS = (("Jane Doe", "jane.doe@example.com"), ("Rob Smith", "rob.smith@example.com"))
STEMS = ("north", "blue", "silver", "river", "oak", "summit", "harbour", "granite", "maple", "cedar", "falcon",
         "orchid", "copper", "lumen", "atlas", "vector", "meridian", "pioneer", "coral", "aspen")
TRADES = ("logistics", "bank", "clinic", "systems", "foods", "legal", "energy", "media", "retail", "pharma",
          "insurance", "motors", "labs", "travel", "build")
CLIENTS = (("outlook", 0.45), ("gmail", 0.25), ("apple", 0.12), ("thunderbird", 0.1), ("plain", 0.08))
DISCLAIMERS = (
    "This e-mail and any attachments are confidential and intended solely for the addressee. If you have "
    "received it in error, please notify the sender and delete it. Any unauthorised use or disclosure is prohibited.",
    "Please consider the environment before printing this e-mail.",
    "[EXTERNAL] This email originated from outside of the organization.",
)


@dataclass(frozen=True)
class Organisation:
    """A customer organisation: its mail domain, language and what its mail server adds."""

    domain: str
    language: Language
    disclaimer: str | None
    mx: str  # the outbound relay named in Received headers


@dataclass(frozen=True)
class Person:
    """One sender: address, language, mail client, signature habits and clock."""

    name: str
    address: str
    org: Organisation
    language: Language
    client: str
    charset: str
    clock_skew: int  # seconds: a few PCs have a wrong clock
    weight: float  # how much this person writes (a long tail, as in real helpdesks)

    @property
    def domain(self) -> str:
        return self.org.domain


def pick(rng: random.Random, weighted) -> object:
    """One item of ((item, weight), ...)."""
    items, weights = zip(*weighted)
    return rng.choices(items, weights)[0]


def organisations(rng: random.Random, count: int = 80) -> list[Organisation]:
    """example.com and acme.test first, then `count` external organisations."""
    en = LANGUAGES[0][0]
    orgs = [Organisation(INTERNAL, en, DISCLAIMERS[0], "mail.example.com"),
            Organisation(SHARING, en, None, "smtp.acme.test")]
    names = set()
    while len(orgs) < count + 2:
        name = f"{rng.choice(STEMS)}-{rng.choice(TRADES)}"
        if name in names:
            continue
        names.add(name)
        language = pick(rng, LANGUAGES)
        tld = {"de": "de.test", "fr": "fr.test", "pl": "pl.test", "ja": "jp.test"}.get(language.code, "test")
        domain = f"{name}.{tld}"
        disclaimer = rng.choice(DISCLAIMERS) if rng.random() < 0.35 else None
        orgs.append(Organisation(domain, language, disclaimer, f"mx{rng.randint(1, 4)}.{domain}"))
    return orgs


def people(rng: random.Random, count: int = 400) -> list[Person]:
    """`count` distinct senders: ~35 % staff of example.com, ~4 % of acme.test, the rest spread out."""
    orgs = organisations(rng)
    found: dict[str, Person] = {}
    while len(found) < count:
        roll = rng.random()
        org = orgs[0] if roll < 0.35 else orgs[1] if roll < 0.39 else rng.choice(orgs[2:])
        person = _person(rng, org, len(found))
        if person.address not in found and person.address not in {a for _, a in TECHNICIANS}:
            found[person.address] = person
    return list(found.values())


def _person(rng: random.Random, org: Organisation, rank: int) -> Person:
    # Staff of the international example.com speak many languages; customers mostly their organisation's.
    language = pick(rng, LANGUAGES) if org.domain == INTERNAL else org.language if rng.random() < 0.85 else LANGUAGES[0][0]
    first, last = rng.choice(language.first_names), rng.choice(language.last_names)
    local = _ascii(f"{first}.{last}" if rng.random() < 0.7 else f"{first[0]}{last}").lower()
    charset = pick(rng, language.charsets)
    skew = rng.choice((3 * 3600, -7200, 600)) if rng.random() < 0.02 else rng.randint(-20, 20)
    # Zipf-like: a few people write a lot (office managers), most write once or twice.
    weight = 1.0 / (rank + 1) ** 0.75
    return Person(f"{first} {last}", f"{local}@{org.domain}", org, language, pick(rng, CLIENTS), charset, skew, weight)


_ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ë": "e", "ç": "c",
                        "á": "a", "í": "i", "ó": "o", "ú": "u", "ñ": "n", "ł": "l", "ś": "s", "ż": "z",
                        "ą": "a", "ę": "e", "ã": "a", "õ": "o", "â": "a", "ê": "e", "î": "i", "ï": "i",
                        "ô": "o", "û": "u", "å": "a", "ø": "o", "ğ": "g"})


def _ascii(text: str) -> str:
    """An address local part from a name: transliterated, non-Latin names fall back to a number."""
    out = text.lower().translate(_ASCII)
    out = "".join(c for c in out if c.isascii() and (c.isalnum() or c in "._-"))
    return out.strip(".") or f"user{zlib.crc32(text.encode()) % 100000}"

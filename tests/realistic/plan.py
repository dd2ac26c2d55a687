"""The plan of a realistic mailbox: who writes what, when, on which thread (no bytes yet; render.py makes them)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tests.realistic.compose import message_id
from tests.realistic.machine import NEWSLETTERS
from tests.realistic.languages import EN, SYSTEMS
from tests.realistic.people import INTERNAL, SHARING, TECHNICIANS, Person, people

SPACING = timedelta(minutes=5)  # loop prevention's default window: people never send 3 mails within it


@dataclass
class Thread:
    """A conversation: started by a request (or a forward), answered later on."""

    id: str
    person: Person
    subject: str
    message_id: str
    arrival: datetime
    paragraphs: list[str]
    phase: int
    cc: list[Person] = field(default_factory=list)
    foreign: str | None = None  # the vendor's tag when the thread began as a forward


@dataclass
class Item:
    """One planned mail. `thread` is the thread of origin (None for mail on no thread)."""

    id: str
    kind: str
    phase: int
    arrival: datetime
    sender: str
    message_id: str
    person: Person | None = None
    thread: Thread | None = None
    data: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mix:
    """How many mails of each kind: 58 % new, 27 % replies, 8 % OOO, 2.5 % lists, 1.5 % bounces, 3 % other."""

    new: int
    forward: int
    tech: int
    replies: int
    ooo: int
    newsletter: int
    bounce: int
    loop: int
    spam: int
    long_subject: int
    duplicates: int
    sample: int

    @classmethod
    def of(cls, n: int) -> "Mix":
        replies, ooo, newsletter, bounce = round(n * 0.27), round(n * 0.08), round(n * 0.025), round(n * 0.015)
        loop, spam, long_subject = (12 if n >= 600 else 6), max(2, round(n * 0.003)), max(1, round(n * 0.0015))
        # Technicians write little by mail (at most 4 each before phase 3), so their phase-3 mails (the
        # #close and #priority cases of the store = decision sample) are decided, not refused as loops.
        duplicates, tech = max(2, round(n * 0.004)), 3
        # spam comes 2-3 times (~2.5), a long subject twice plus one more from the same sender
        other = loop + round(spam * 2.5) + long_subject * 2 + 1 + duplicates + tech
        new = n - replies - ooo - newsletter - bounce - other
        return cls(new=new, forward=max(2, round(new * 0.03)), tech=tech, replies=replies, ooo=ooo,
                   newsletter=newsletter, bounce=bounce, loop=loop, spam=spam, long_subject=long_subject,
                   duplicates=duplicates, sample=max(12, round(n * 0.02)))


# Phase 3 (the store = decision sample): one mail per sender, of these kinds in this order.
SAMPLE = ("new", "reply_full", "new_tech_close", "reply_tag_only", "ooo", "new", "reply_refs_only", "new_tech",
          "newsletter", "reply_full", "new", "reply_own", "spam", "new", "reply_tag_only", "bounce_ours", "new",
          "reply_full", "ooo", "new", "reply_refs_only", "long_subject", "new", "reply_full", "reply_tag_only",
          "newsletter", "new", "forward", "reply_colleague", "ooo", "new", "reply_full", "spam", "new",
          "reply_tag_only", "bounce_ours", "new", "reply_refs_only", "new", "reply_full")
# Phase-1 and phase-2 reply kinds and their shares of all replies.
REPLY_SHARES = (("reply_own", 1, 0.22), ("reply_colleague", 1, 0.08), ("reply_stranger", 1, 0.03),
                ("resend", 1, 0.04), ("reply_full", 2, 0.32), ("reply_tag_only", 2, 0.13),
                ("reply_refs_only", 2, 0.10), ("reply_foreign", 2, 0.03), ("reply_own", 2, 0.05))
TECH_REPLIES = 4
VENDOR_TAGS = (("[Ticket #{n}]", 0.3), ("(Issue #{n})", 0.3), ("[Ticket#{n}]", 0.2), ("[Ticket#2026011{big}]", 0.2))
VENDOR_SUBJECTS = ("Your support request: licence server unreachable", "Replacement part shipped",
                   "RMA approved for device SN-{n}", "Question about your order {n}", "Maintenance window on Saturday")


class Planner:
    """Builds every Item of the mailbox; deterministic for (n, seed, end)."""

    def __init__(self, n: int, seed: int, end: datetime, senders: int = 400):
        self.n, self.seed, self.end = n, seed, end
        self.rng = random.Random(f"{seed}:plan")
        self.people = people(random.Random(f"{seed}:people"), senders)
        internal = next(p.org for p in self.people if p.domain == INTERNAL)
        self.techs = [Person(name, address, internal, EN, "outlook", "utf-8", 0, 0.0) for name, address in TECHNICIANS]
        self.mix = Mix.of(n)
        self.items: list[Item] = []
        self.threads: list[Thread] = []
        self._subjects: dict[str, set[str]] = {}
        self._serial = 0
        self.windows = {1: (end - timedelta(days=4), end - timedelta(days=1)),
                        2: (end - timedelta(days=1), end - timedelta(minutes=25)),
                        3: (end - timedelta(minutes=15), end - timedelta(minutes=2))}

    # -- building ----------------------------------------------------------------------------------

    def build(self) -> list[Item]:
        sample = list(SAMPLE[: self.mix.sample]) + ["new"] * max(0, self.mix.sample - len(SAMPLE))
        taken = {k: sample.count(k) for k in set(sample)}
        news = self.mix.new - taken.get("new", 0) - self.mix.forward
        everyone = self.rng.sample(self.people, len(self.people))  # each person writes at least once
        for k in range(news):
            person = everyone[k] if k < len(everyone) else None
            self._new_thread(1 if self.rng.random() < 0.75 else 2, person=person)
        for _ in range(self.mix.forward - taken.get("forward", 0)):
            self._new_thread(1, forward=True)
        for _ in range(self.mix.tech - taken.get("new_tech", 0) - taken.get("new_tech_close", 0)):
            self._tech_new(1, self.rng.choice(("#priority Urgent", "#assign rsmith", "#close")))
        self._replies(self.mix.replies - sum(v for k, v in taken.items() if k.startswith("reply")))
        self._machine(taken)
        self._other(taken)
        self._space()
        self._sample(sample)
        self._exact()
        self._space()
        self._colleague_expectations()
        return sorted(self.items, key=lambda i: (i.phase, i.arrival, i.id))

    def _id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial:05d}"

    def _moment(self, phase: int, after: datetime | None = None) -> datetime:
        """A time in the phase's window, mostly in office hours (CET), after `after` when given."""
        start, end = self.windows[phase]
        if after is not None:
            start = max(start, after + timedelta(minutes=20))
        if start >= end:
            return end - timedelta(seconds=self.rng.randint(1, 60))
        for _ in range(12):
            moment = start + (end - start) * self.rng.random()
            if 7 <= (moment.hour + 1) % 24 <= 18 or self.rng.random() < 0.15:
                break
        return moment.replace(microsecond=0)

    def _person(self) -> Person:
        return self.rng.choices(self.people, [p.weight for p in self.people])[0]

    def _subject(self, person: Person) -> str:
        lang = person.language
        seen = self._subjects.setdefault(person.address, set())
        for _ in range(20):
            subject = self.rng.choice(lang.subjects).format(
                n=self.rng.randint(100, 9999), sys=self.rng.choice(SYSTEMS), floor=self.rng.randint(1, 9),
                name=f"{self.rng.choice(lang.first_names)} {self.rng.choice(lang.last_names)}")
            if subject.lower() not in seen:
                break
        seen.add(subject.lower())
        return subject

    def _paragraphs(self, person: Person, count: int) -> list[str]:
        sentences = self.rng.sample(person.language.sentences, min(count, len(person.language.sentences)))
        cut = self.rng.randint(1, max(1, len(sentences) - 1))
        return [" ".join(sentences[:cut]), " ".join(sentences[cut:])] if len(sentences) > 1 else sentences

    def _new_thread(self, phase: int, forward: bool = False, person: Person | None = None,
                    arrival: datetime | None = None) -> Thread:
        person = person or self._person()
        rng = self.rng
        thread_id = self._id("t")
        subject = self._subject(person)
        foreign = None
        if forward:
            form = rng.choices([f for f, _ in VENDOR_TAGS], [w for _, w in VENDOR_TAGS])[0]
            number = rng.randint(1, max(2, int(self.n * 0.55))) if rng.random() < 0.7 else rng.randint(20000, 90000)
            foreign = form.format(n=number, big=f"{rng.randint(10 ** 8, 10 ** 9 - 1)}")
            vendor = rng.choice(VENDOR_SUBJECTS).format(n=rng.randint(10000, 99999))
            subject = f"{person.language.forward_prefix} {foreign} {vendor}"
        thread = Thread(thread_id, person, subject, message_id(rng, person), arrival or self._moment(phase),
                        self._paragraphs(person, rng.randint(2, 5)), phase, foreign=foreign)
        self.threads.append(thread)
        self.items.append(Item(thread_id, "forward" if forward else "new", phase, thread.arrival, person.address,
                               thread.message_id, person, thread))
        return thread

    def _tech_new(self, phase: int, token: str, tech: Person | None = None, arrival: datetime | None = None) -> None:
        tech = tech or self.rng.choice(self.techs)
        thread_id = self._id("t")
        subject = self.rng.choice(("Walk-up: {who} needs a new headset", "Phone call: {who} cannot print",
                                   "Walk-up: replaced toner on floor {f}", "Desk move for {who} on {d} January"))
        subject = subject.format(who=self._person().name, f=self.rng.randint(1, 9), d=self.rng.randint(16, 30))
        thread = Thread(thread_id, tech, subject, message_id(self.rng, tech), arrival or self._moment(phase),
                        ["Logged on behalf of the user, see details below.", token], phase)
        self.threads.append(thread)
        self.items.append(Item(thread_id, "new_tech", phase, thread.arrival, tech.address, thread.message_id, tech,
                               thread, {"token": token}))

    def _replies(self, total: int) -> None:
        shares = [(kind, phase, round(total * share)) for kind, phase, share in REPLY_SHARES]
        early = [t for t in self.threads if t.phase == 1 and t.arrival < self.windows[1][1] - timedelta(hours=2)
                 and t.person not in self.techs]
        phase1 = [t for t in self.threads if t.phase == 1 and t.person not in self.techs]
        phase2 = [t for t in self.threads if t.phase == 2 and t.person not in self.techs
                  and t.arrival < self.windows[2][1] - timedelta(hours=3)]
        forwards = [t for t in phase1 if t.foreign]
        acme = [t for t in early if t.person.domain == SHARING]
        shares.append(("reply_tech", 2, TECH_REPLIES))
        for kind, phase, count in shares:
            for _ in range(count):
                pool = {"reply_colleague": acme if acme and self.rng.random() < 0.6 else early,
                        "reply_foreign": forwards or phase1}.get(kind, early if phase == 1 else phase1)
                if kind == "reply_own" and phase == 2:
                    pool = phase2 or phase1
                self._reply(kind, phase, self.rng.choice(pool))

    def _reply(self, kind: str, phase: int, thread: Thread, arrival: datetime | None = None,
               person: Person | None = None) -> Item | None:
        rng = self.rng
        person = person or thread.person
        if kind in ("reply_colleague", "reply_stranger"):
            person = person if person is not thread.person else self._colleague(thread, kind)
            if person is None:
                kind, person = "reply_own", thread.person
        if kind == "reply_tech":
            person = rng.choice(self.techs)
        if kind == "resend":
            arrival = arrival or thread.arrival + timedelta(seconds=rng.randint(40, 150))
        elif arrival is None:
            arrival = (self._moment(1, thread.arrival) if phase == 1 and thread.phase == 1
                       else self._moment(2, thread.arrival if thread.phase == 2 else None))
        item = Item(self._id("r"), kind, phase, arrival, person.address, message_id(rng, person), person, thread,
                    {"token": rng.choice(("#priority High", "#assign rsmith", "#close"))} if kind == "reply_tech" else {})
        self.items.append(item)
        return item

    def _colleague(self, thread: Thread, kind: str) -> Person | None:
        """Someone of the requester's organisation; a colleague is put in Cc of the request.

        Colleagues are mostly people who wrote a request of their own before (so they are users);
        a stranger is someone who did not, and is not in Cc.
        """
        same = [p for p in self.people if p.domain == thread.person.domain and p is not thread.person]
        if not same:
            return None
        known = self._known_before(thread.arrival - timedelta(hours=1))
        if kind == "reply_stranger":
            return self.rng.choice([p for p in same if p not in thread.cc and p.address not in known] or same)
        colleague = self.rng.choice([p for p in same if p.address in known] or same)
        if colleague not in thread.cc and thread.person.domain != SHARING:
            thread.cc.append(colleague)
        return colleague

    def _machine(self, taken: dict) -> None:
        rng = self.rng
        for index in range(self.mix.ooo - taken.get("ooo", 0)):
            phase = 1 if index % 5 < 2 else 2
            thread = rng.choice([t for t in self.threads if t.phase == 1 and t.person not in self.techs])
            self.items.append(Item(self._id("o"), "ooo", phase, self._moment(phase, thread.arrival if phase == 1 else None),
                                   thread.person.address, message_id(rng, thread.person), thread.person, thread))
        for index in range(self.mix.newsletter - taken.get("newsletter", 0)):
            letter = index % 6
            self.items.append(Item(self._id("n"), "newsletter", 1 if index % 4 else 2, self._moment(1 if index % 4 else 2),
                                   NEWSLETTERS[letter].address, f"{rng.getrandbits(80):020x}@{NEWSLETTERS[letter].domain}",
                                   data={"letter": letter}))
        for index in range(self.mix.bounce - taken.get("bounce_ours", 0)):
            ours = index % 10 < 7
            thread = rng.choice([t for t in self.threads if t.phase == 1 and t.person not in self.techs])
            kind, phase = ("bounce_ours", 2) if ours else ("bounce_foreign", 1)
            self.items.append(Item(self._id("b"), kind, phase, self._moment(phase), f"mailer-daemon@{thread.person.org.mx}",
                                   f"{rng.getrandbits(64):016X}.{rng.getrandbits(20)}@{thread.person.org.mx}",
                                   thread=thread if ours else None))

    def _other(self, taken: dict) -> None:
        rng = self.rng
        start = self._moment(1)
        host = f"srv-db-{rng.randint(1, 9):02d}"
        for k in range(self.mix.loop):
            self.items.append(Item(self._id("l"), "loop_burst", 1, start + timedelta(seconds=15 * k + rng.randint(0, 9)),
                                   "alerts@monitoring.northwind.test", f"alert.{rng.getrandbits(64):016x}@monitoring.northwind.test",
                                   data={"host": host, "seq": k}))
        for k in range(self.mix.spam - taken.get("spam", 0)):
            self.items.append(Item(self._id("s"), "spam", 1, self._moment(1), "", f"{rng.getrandbits(96):024x}@spam.invalid",
                                   data={"index": k, "copies": rng.choice((1, 2))}))
        writers = rng.sample([p for p in self.people if p.domain == INTERNAL], self.mix.long_subject)
        for k, person in enumerate(writers):
            when = self._moment(1)
            self.items.append(Item(self._id("g"), "long_subject", 1, when, person.address, message_id(rng, person), person,
                                   data={"copies": 1, "index": k}))
            if k == 0:  # and another one soon after: a second notice about the same cause
                self.items.append(Item(self._id("g"), "long_subject", 1, when + timedelta(minutes=rng.randint(6, 20)),
                                       person.address, message_id(rng, person), person, data={"copies": 0, "index": k + 7}))
        humans = [i for i in self.items if i.kind in ("new", "reply_own") and i.phase == 1]
        for item in rng.sample(humans, self.mix.duplicates):
            item.data["copies"] = 1

    def _exact(self) -> None:
        """Exactly n deliveries (copies included): add or drop plain requests nobody answers."""
        missing = self.n - len(self.items) - sum(i.data.get("copies", 0) for i in self.items)
        for _ in range(max(0, missing)):
            self._new_thread(1)
        answered = {i.thread.id for i in self.items if i.thread and i.id != i.thread.id}
        spare = [i for i in self.items if i.kind == "new" and i.phase == 1 and i.id not in answered
                 and not i.data.get("copies") and not i.thread.cc]
        for item in spare[:max(0, -missing)]:
            self.items.remove(item)
            self.threads.remove(item.thread)

    def _space(self) -> None:
        """No sender has more than 2 mails within 5 minutes (copies added later make at most 4)."""
        latest = self.windows[2][1] + timedelta(minutes=8)  # phase 2 is never in the future of the poll reading it
        for _ in range(6):
            moved = False
            by_sender = self._by_sender()
            for items in by_sender.values():
                items.sort(key=lambda i: i.arrival)
                for k in range(2, len(items)):
                    if items[k].arrival - items[k - 2].arrival < SPACING:
                        items[k].arrival = items[k - 2].arrival + SPACING + timedelta(seconds=self.rng.randint(10, 1200))
                        moved = True
            for item in self.items:  # a reply comes after the mail it answers
                if item.thread and item.id != item.thread.id and item.arrival <= item.thread.arrival:
                    item.arrival = item.thread.arrival + timedelta(seconds=self.rng.randint(60, 3600))
                    moved = True
            if not moved:
                break
        by_sender = self._by_sender()
        for item in self.items:
            if item.phase == 2 and item.arrival > latest:
                item.arrival = self._spaced_before(latest, item, by_sender.get(item.sender, []))

    def _by_sender(self) -> dict[str, list[Item]]:
        by_sender: dict[str, list[Item]] = {}
        for item in self.items:
            if item.kind not in ("loop_burst", "spam", "newsletter", "bounce_ours", "bounce_foreign"):
                by_sender.setdefault(item.sender, []).append(item)
        return by_sender

    def _spaced_before(self, latest: datetime, item: Item, mine: list[Item]) -> datetime:
        """A time before `latest` (and after the mail it answers) with at most one other mail of
        its sender within 5 minutes either side: pulling late mail back must not make a loop."""
        earliest = item.thread.arrival + timedelta(seconds=60) if item.thread and item.id != item.thread.id else None
        moment = latest
        for step in range(200):
            moment = latest - timedelta(seconds=self.rng.randint(1, 600) + 300 * step)
            near = [o for o in mine if o is not item and abs(o.arrival - moment) < SPACING]
            if len(near) <= 1 and (earliest is None or moment > earliest):
                return moment
        return moment

    def _sample(self, kinds: list[str]) -> None:
        """Phase 3: the store = decision sample, one mail per sender, none depending on another."""
        used: set[str] = set()
        start, end = self.windows[3]
        threads = [t for t in self.threads if t.phase == 1 and t.person not in self.techs and not t.foreign]
        letters = iter(range(6))
        for k, kind in enumerate(kinds):
            arrival = start + (end - start) * (k + 0.5) / len(kinds)
            if kind in ("new", "forward"):
                person = self.rng.choice([p for p in self.people if p.address not in used])
                used.add(person.address)
                self._new_thread(3, forward=kind == "forward", person=person, arrival=arrival)
            elif kind.startswith("new_tech"):
                tech = next(t for t in self.techs if t.address not in used)
                used.add(tech.address)
                self._tech_new(3, "#close" if kind == "new_tech_close" else "#priority Urgent", tech, arrival)
            elif kind in ("reply_full", "reply_tag_only", "reply_refs_only", "reply_own", "reply_colleague",
                          "ooo", "bounce_ours"):
                thread = self.rng.choice([t for t in threads if t.person.address not in used
                                          and (kind != "reply_colleague" or t.person.domain == SHARING)])
                if kind == "ooo":
                    used.add(thread.person.address)
                    self.items.append(Item(self._id("o"), "ooo", 3, arrival, thread.person.address,
                                           message_id(self.rng, thread.person), thread.person, thread))
                elif kind == "bounce_ours":
                    used.add(thread.person.address)
                    self.items.append(Item(self._id("b"), "bounce_ours", 3, arrival, f"mailer-daemon@{thread.person.org.mx}",
                                           f"{self.rng.getrandbits(64):016X}@{thread.person.org.mx}", thread=thread))
                else:
                    person = thread.person
                    if kind == "reply_colleague":
                        person = next((p for p in self.people if p.domain == thread.person.domain and
                                       p.address not in used and p is not thread.person and p.address in self._requesters()), None)
                        if person is None:
                            kind, person = "reply_own", thread.person
                    used.add(person.address)
                    self._reply(kind, 3, thread, arrival, person)
            elif kind == "newsletter":
                letter = next(letters)
                self.items.append(Item(self._id("n"), "newsletter", 3, arrival, NEWSLETTERS[letter].address,
                                       f"{self.rng.getrandbits(80):020x}@{NEWSLETTERS[letter].domain}", data={"letter": letter}))
            elif kind == "spam":
                self.items.append(Item(self._id("s"), "spam", 3, arrival, "", f"{self.rng.getrandbits(96):024x}@spam.invalid",
                                       data={"index": k, "copies": 0}))
            elif kind == "long_subject":
                person = next(p for p in self.people if p.domain == INTERNAL and p.address not in used)
                used.add(person.address)
                self.items.append(Item(self._id("g"), "long_subject", 3, arrival, person.address,
                                       message_id(self.rng, person), person, data={"copies": 0, "index": k}))

    def _known_before(self, moment: datetime) -> set[str]:
        return {i.sender for i in self.items if i.kind == "new" and i.arrival < moment}

    def _requesters(self) -> set[str]:
        return {i.sender for i in self.items if i.kind == "new"}

    def _colleague_expectations(self) -> None:
        """A colleague's reply lands when the colleague is a user who may see the ticket (F-REF-3):
        known (an earlier request made their user) and either in Cc of the request (then on the
        distribution list) or in an organisation that shares tickets; otherwise it is refused."""
        first_request: dict[str, datetime] = {}
        for item in self.items:
            if item.kind in ("new", "forward", "new_tech"):
                first = first_request.get(item.sender)
                first_request[item.sender] = min(first, item.arrival) if first else item.arrival
        for item in self.items:
            if item.kind not in ("reply_colleague", "reply_stranger"):
                continue
            known = first_request.get(item.sender)
            thread = item.thread
            on_list = item.person in thread.cc and known is not None and known < thread.arrival
            shares = thread.person.domain == SHARING and known is not None and known < item.arrival
            item.kind = "reply_colleague" if (on_list or shares) else "reply_stranger"


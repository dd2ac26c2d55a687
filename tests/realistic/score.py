"""Score a run from the store against the ground truth: the bars of issue 9 and what explains them."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from tests.realistic.decisions import compare
from tests.realistic.harness import MAILBOX, Run
from tests.realistic.storeview import LogRow, StoreView
from tests.realistic.truth import MACHINE, REPLIES, Truth

ACCEPTED = ("create_ticket", "add_note", "bundle")
DUPLICATE = ("duplicate", "already_processed")
NOT_NOTICES = ("auto_reply", "login_credentials", "closed_updated", "closed_not_updated")
NOTICE_WINDOW = timedelta(minutes=60)
EXAMPLES = 8
DESCRIBED = 30  # examples traced per measure: each costs two queries
PER_CAUSE = 3


@dataclass
class Measure:
    """One line of the score table; `ok` is None for lines that carry no bar."""

    name: str
    value: str
    bar: str = ""
    ok: bool | None = None
    examples: list[str] = field(default_factory=list)


class Score:
    """Every measure of one run, computed once from the store."""

    def __init__(self, run: Run):
        self.run = run
        view = StoreView(run.store_url)
        try:
            self.log = {row.uid: row for row in view.log(MAILBOX)}
            self.outbox = view.outbox()
            self.stored = view.stored_message_ids()
            self.view = view
            self.truths = [d.truth for d in run.deliveries]
            self.by_index = {t.index: t for t in self.truths}
            self.thread_ticket = {t.thread: r.ticket for t in self.truths if t.origin
                                  for r in [self.row(t)] if r and r.outcome == "create_ticket"}
            self.measures = {m.name: m for m in self._measures()}
        finally:
            view.close()

    def row(self, truth: Truth) -> LogRow | None:
        return self.log.get(truth.uid) if truth.uid is not None else None

    def describe_all(self, truths: list[Truth], expected=lambda t: "") -> list[str]:
        """Examples for a list of misses: a few per cause (outcome/reason and kind), so a rare cause is not
        hidden behind a frequent one, then how many more there are."""
        by_cause: dict[tuple, list[Truth]] = defaultdict(list)
        for t in truths:
            by_cause[(_cause(self.row(t)), t.kind)].append(t)
        chosen = []
        for rank in range(PER_CAUSE):
            chosen += [group[rank] for group in by_cause.values() if rank < len(group)]
        chosen = chosen[:DESCRIBED]
        lines = [self.describe(t, expected(t)) for t in chosen]
        return lines + ([f"... and {len(truths) - len(chosen)} more"] if len(truths) > len(chosen) else [])

    def describe(self, truth: Truth, expected: str = "") -> str:
        """One example line: which mail, what it is, what the store made of it and why (the trace's hits)."""
        row = self.row(truth)
        got = f"{row.outcome}/{row.reason} ticket {row.ticket}" if row else "never processed"
        why = ""
        if row:
            steps = self.view.trace(MAILBOX, row.key)
            hits = [f"{s.get('stage')}/{s.get('rule')}: {s.get('detail')}" for s in steps if s.get("hit")]
            refs = [str(s.get("detail")) for s in steps if s.get("rule") == "ticket_reference"]
            why = "; ".join((refs[:1] if refs else []) + hits[-2:])
        return f"#{truth.index} {truth.kind} from {truth.sender} (uid {truth.uid}){expected}: {got} [{why}]"

    # -- measures ----------------------------------------------------------------------------------

    def _measures(self) -> list[Measure]:
        return [self._replies(), *self._machine(), self._human_loops(), self._notices(), self._copies_twice(),
                self._copies_of_rejected(), self._jams(), self._store_equals_decision(), self._forwards(),
                self._loop_burst(), self._new_requests(), self._strangers(), self._bounces_filed(), self._unthreaded()]

    def _replies(self) -> Measure:
        """Replies with our tag or a References chain to a stored message land on their thread's ticket."""
        eligible, landed, by_kind, missed = 0, 0, Counter(), []
        total_kind = Counter()
        for t in self._first_copies(REPLIES):
            ticket = self.thread_ticket.get(t.thread)
            if t.expect != "note" or ticket is None:
                continue
            if t.tag != ticket and not any(ref in self.stored for ref in t.references):
                continue
            eligible += 1
            total_kind[t.kind] += 1
            row = self.row(t)
            if row and row.outcome in ACCEPTED and row.ticket == ticket:
                landed += 1
                by_kind[t.kind] += 1
            else:
                missed.append(t)
        share = landed / eligible if eligible else 1.0
        kinds = ", ".join(f"{k.removeprefix('reply_')} {by_kind[k]}/{n}" for k, n in sorted(total_kind.items()))
        causes = Counter(_cause(self.row(t)) for t in missed)
        kinds += "; missed: " + ", ".join(f"{k} {v}" for k, v in causes.most_common()) if causes else ""
        return Measure("replies on the right ticket", f"{landed}/{eligible} ({share:.1%}); {kinds}", ">= 99 %",
                       share >= 0.99, self.describe_all(missed, lambda t: f" (thread ticket {self.thread_ticket[t.thread]})"))

    def _machine(self) -> list[Measure]:
        machine = self._first_copies(MACHINE)
        tickets = self.describe_all([t for t in machine if (r := self.row(t)) and r.outcome == "create_ticket"])
        notes = self.describe_all([t for t in machine if (r := self.row(t)) and r.outcome in ("add_note", "bundle")
                                   and not (t.kind == "bounce_ours" and r.ticket == self.thread_ticket.get(t.thread))])
        ids = {t.message_id for t in machine}
        robots = {t.sender for t in self.truths if t.kind in MACHINE and t.kind != "ooo"}
        answered = [f"outbox {o.id} {o.kind} to {o.to}: {o.headers.get('subject', '')}" for o in self.outbox
                    if (o.headers.get("in-reply-to") or "").strip("<>") in ids or o.to in robots]
        count = len(machine)
        return [Measure("machine mail -> tickets", f"{_count(tickets)} of {count}", "0", not tickets, tickets),
                Measure("machine mail -> notes (a bounce's own ticket excepted, F-REF-9)", f"{_count(notes)} of {count}",
                        "0", not notes, notes),
                Measure("machine mail answered (mail sent back)", str(len(answered)), "0", not answered, answered)]

    def _human_loops(self) -> Measure:
        looped = [t for t in self.truths if t.human and t.copy_of is None and (r := self.row(t)) and "loop" in r.reason]
        humans = sum(1 for t in self.truths if t.human and t.copy_of is None)
        phases = Counter(t.phase for t in looped)
        return Measure("human mail refused as a loop", f"{len(looped)} of {humans}"
                       + (f" (by phase: {dict(sorted(phases.items()))})" if looped else ""), "0", not looped,
                       self.describe_all(looped))

    def _notices(self) -> Measure:
        """At most one error notice per sender and cause within any 60 minutes of sending."""
        groups: dict[tuple[str, str], list] = defaultdict(list)
        for out in self.outbox:
            if out.kind in NOT_NOTICES or "digest" in out.kind:
                continue
            about = re.search(r"^From:\s+(\S+)", out.body, re.M)
            cause = re.search(r"^Reason:\s+(\S+)", out.body, re.M)
            groups[((about.group(1) if about else out.to).lower(), cause.group(1) if cause else out.kind)].append(out.created_at)
        worst, over = 0, []
        for (sender, cause), times in sorted(groups.items()):
            times.sort()
            most = max(sum(1 for u in times if t <= u < t + NOTICE_WINDOW) for t in times)
            worst = max(worst, most)
            if most > 1:
                over.append(f"{most} notices about {sender} ({cause}) within 60 min")
        over.sort(key=lambda line: -int(line.split()[0]))
        total = sum(len(v) for v in groups.values())
        return Measure("error notices per sender and cause per 60 min (max)",
                       f"{worst} ({total} notices; {len(over)} sender/cause pairs over 1)", "<= 1", worst <= 1, over)

    def _copies_twice(self) -> Measure:
        copies = [t for t in self.truths if t.copy_of is not None]
        twice = self.describe_all([t for t in copies if (r := self.row(t)) and r.outcome in ACCEPTED])
        return Measure("second copies that made a ticket or note again", f"{_count(twice)} of {len(copies)}", "0",
                       not twice, twice)

    def _copies_of_rejected(self) -> Measure:
        """A second copy of anything is a logged duplicate, whatever the first copy's outcome (issue 9)."""
        copies = [t for t in self.truths if t.copy_of is not None
                  and (first := self.row(self.by_index[t.copy_of])) and first.outcome not in ACCEPTED]
        again = self.describe_all([t for t in copies if not (r := self.row(t)) or r.reason not in DUPLICATE])
        return Measure("second copies of refused mail not logged as duplicates", f"{_count(again)} of {len(copies)}",
                       "0", not again, again)

    def _jams(self) -> Measure:
        stuck = [(p.phase, uid, error) for p in self.run.polls for uid, error in p.stuck]
        lines = [f"phase {phase}: uid {uid} ({self._kind_of_uid(uid)}) blocked the poll: {_error(error)}"
                 for phase, uid, error in stuck]
        unprocessed = [t for t in self.truths if t.uid is not None and t.uid not in self.log
                       and t.uid not in {uid for _, uid, _ in stuck}]
        lines += self.describe_all(unprocessed)
        return Measure("mails an operator had to move away (jams) / left unprocessed",
                       f"{len(stuck)} / {len(unprocessed)}", "0 / 0", not stuck and not unprocessed, lines)

    def _kind_of_uid(self, uid: int) -> str:
        found = next((t for t in self.truths if t.uid == uid), None)
        return f"#{found.index} {found.kind}{' copy' if found.copy_of is not None else ''}" if found else "?"

    def _store_equals_decision(self) -> Measure:
        problems = compare(self.run, self.view, self.log)
        checked = len(self.run.dry_runs)
        bad = len({p.split(" ", 1)[0] for p in problems})
        return Measure("store = decision (phase-3 sample, dry-run first)", f"{checked - bad}/{checked} equal",
                       f"{checked}/{checked}", not problems, problems)

    def _forwards(self) -> Measure:
        forwards = self._first_copies(("forward",))
        missed = [t for t in forwards if not ((r := self.row(t)) and r.outcome == "create_ticket")]
        forms = Counter(re.sub(r"\d{13,}", "<16 digits>", re.sub(r"(?<!\d)\d{1,12}(?!\d)", "N", t.variant)) for t in forwards)
        causes = Counter(_cause(self.row(t)) for t in missed)
        return Measure("forwards with a vendor's tag misfiled", f"{len(missed)} of {len(forwards)} "
                       f"({', '.join(f'{k} {v}' for k, v in sorted(forms.items()))})"
                       + ("; " + ", ".join(f"{k} {v}" for k, v in causes.most_common()) if causes else ""),
                       "0", not missed, self.describe_all(missed))

    def _loop_burst(self) -> Measure:
        burst = [t for t in self.truths if t.kind == "loop_burst" and t.expect == "reject"]
        refused = [t for t in burst if (r := self.row(t)) and "loop" in r.reason]
        return Measure("a looping script's mails beyond 5 in 5 min refused", f"{len(refused)} of {len(burst)}",
                       f"{len(burst)}", len(refused) == len(burst), self.describe_all([t for t in burst if t not in refused]))

    def _new_requests(self) -> Measure:
        new = self._first_copies(("new", "new_tech", "forward"))
        own = [t for t in new if (r := self.row(t)) and r.outcome == "create_ticket"]
        why = Counter(f"{r.outcome}/{r.reason}" if (r := self.row(t)) else "unprocessed" for t in new if t not in own)
        return Measure("new requests -> a ticket of their own", f"{len(own)}/{len(new)} ({len(own) / max(1, len(new)):.1%})"
                       + (f"; others: {dict(why.most_common())}" if why else ""))

    def _strangers(self) -> Measure:
        strangers = self._first_copies(("reply_stranger",))
        refused = [t for t in strangers if (r := self.row(t)) and r.outcome == "reject"]
        return Measure("replies from people who may not see the ticket, refused (F-REF-3)",
                       f"{len(refused)} of {len(strangers)}")

    def _bounces_filed(self) -> Measure:
        bounces = [t for t in self._first_copies(("bounce_ours",)) if t.thread in self.thread_ticket]
        filed = [t for t in bounces if (r := self.row(t)) and r.ticket == self.thread_ticket[t.thread]]
        return Measure("bounces of our mail filed on their ticket (F-REF-9)", f"{len(filed)} of {len(bounces)}")

    def _unthreaded(self) -> Measure:
        replies = [t for t in self._first_copies(REPLIES + ("resend",)) if t.thread not in self.thread_ticket]
        firsts = {self._origin_index(t) for t in replies} - {None}
        origins = Counter(f"{r.outcome}/{r.reason}" if (r := self.row(self.by_index[i])) else "unprocessed" for i in firsts)
        return Measure("replies whose thread's first mail made no ticket (not scored above)",
                       f"{len(replies)}" + (f"; first mails: {dict(origins.most_common())}" if replies else ""))

    def _origin_index(self, truth: Truth) -> int | None:
        return next((t.index for t in self.truths if t.item == truth.thread and t.copy_of is None), None)

    def _first_copies(self, kinds) -> list[Truth]:
        return [t for t in self.truths if t.kind in kinds and t.copy_of is None]

    # -- output ------------------------------------------------------------------------------------

    def table(self) -> str:
        """The score as a Markdown table, then the polls."""
        lines = ["| measure | value | bar | |", "|---|---|---|---|"]
        for m in self.measures.values():
            mark = "" if m.ok is None else "pass" if m.ok else "**FAIL**"
            lines.append(f"| {m.name} | {m.value} | {m.bar} | {mark} |")
        return "\n".join(lines)

    def summary(self) -> str:
        run = self.run
        sizes = [len(d.raw) for d in run.deliveries]
        senders = len({t.sender for t in self.truths})
        head = (f"{len(sizes)} mails ({', '.join(f'phase {p.phase}: {p.mails}' for p in run.polls)}), {senders} senders, "
                f"mean {sum(sizes) / len(sizes) / 1024:.1f} KiB; store {run.dialect}")
        polls = "; ".join(f"phase {p.phase}: {p.mails} mails in {p.seconds:.1f} s = {p.rate:.0f} msgs/s"
                          + (f" ({p.runs} runs)" if p.runs > 1 else "") for p in run.polls)
        return f"{head}\npolls: {polls}"

    def examples(self, limit: int = EXAMPLES) -> str:
        out = []
        for m in self.measures.values():
            if m.examples and m.ok is False:
                out.append(f"{m.name}: {len(m.examples)} example(s)")
                out += [f"  - {line}" for line in m.examples[:limit]]
        return "\n".join(out)


def _count(lines: list[str]) -> int:
    """How many examples a describe_all() list stands for (it may end in '... and N more')."""
    if lines and lines[-1].startswith("... and "):
        return len(lines) - 1 + int(lines[-1].split()[2])
    return len(lines)


def _cause(row: LogRow | None) -> str:
    """outcome/reason of a miss, and whether it went onto some (other) ticket."""
    if row is None:
        return "unprocessed"
    return f"{row.outcome}/{row.reason}" + (" on another ticket" if row.ticket else "")


def _error(output: str) -> str:
    """The database's own words from a failed poll's output (they come first), else its last line."""
    found = re.search(r"\((?:sqlite3|psycopg)[\w.]*\) [^\n\[]{0,160}", output)
    return found.group(0).strip() if found else output.strip().splitlines()[-1][:200]

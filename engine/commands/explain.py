"""`mailgate explain REF`: evaluate a processed mail again under today's config and state, next to what was recorded."""

from __future__ import annotations

from datetime import datetime, timezone

from engine.commands.output import add_format_option, opened_store, print_json, table, when
from engine.errors import MailgateError, UsageError
from engine.commands.runtime import add_store_option
from engine.commands.terminal import safe_line


def add_arguments(parser) -> None:
    """Register the command's options."""
    parser.add_argument("ref", metavar="REF", help="a message key or Message-ID, as `mailgate log` prints them")
    parser.add_argument("--mailbox", help="the mailbox, when the mail reached several")
    add_format_option(parser)
    add_store_option(parser)


def run(args) -> int:
    """Print recorded and current decision side by side; 0 when explained, 1 when the mail is gone."""
    from engine.commands.log_show import resolve

    with opened_store(args) as (ruleset, store):
        entries = resolve(store, args.ref, args.mailbox)
        if len(entries) > 1:
            where = ", ".join(f"{e.mailbox} ({e.message_key})" for e in entries)
            raise UsageError(f"{args.ref!r} reached {len(entries)} mailboxes: {where}; say which with --mailbox")
        entry = entries[0]
        decision = _evaluate_again(store, ruleset, entry)
    recorded = entry.summary or {"outcome": entry.outcome, "reason": entry.reason, "ticket": entry.ticket_number}
    now = decision.summary()
    rows = [(name, recorded.get(name), now.get(name)) for name in dict.fromkeys([*recorded, *now])]
    differences = [name for name, before, after in rows if before != after]
    if args.format == "json":
        print_json({"id": entry.id, "mailbox": entry.mailbox, "key": entry.message_key, "at": entry.created_at,
                    "recorded": recorded, "now": now, "differences": differences, "same": not differences,
                    "trace": [vars(step) for step in decision.trace]})
        return 0
    _print(entry, rows, differences, decision)
    return 0


def _evaluate_again(store, ruleset, entry):
    from engine.evaluate import evaluate
    from engine.parse import parse

    try:
        mailbox = ruleset.mailbox(entry.mailbox)
    except KeyError:
        raise MailgateError(f"mailbox {entry.mailbox} is no longer configured: nothing to evaluate against") from None
    raw, size = _raw(store, ruleset, entry)
    message = parse(raw)
    if size > len(raw):  # only its header was fetched: the size checks see the real size (F-PRE-7)
        from dataclasses import replace

        message = replace(message, size=size)
    with store.snapshot() as reads:
        view = _OwnEntryIgnored(reads, entry)
        return evaluate(message, ruleset, view, datetime.now(timezone.utc), mailbox.name)


def _raw(store, ruleset, entry) -> tuple[bytes, int]:
    """The mail's bytes from the kept raw mail or the quarantine; MailgateError once pruned."""
    from engine.run.housekeeping import keep_raw_days

    kept = store.raw_mail(entry.raw_sha256) if entry.raw_sha256 else None
    if kept is not None:
        return kept.content, kept.size
    if entry.outcome == "quarantine":
        item = store.quarantine_item(mailbox=entry.mailbox, message_key=entry.message_key)
        if item is not None:
            return item.raw, item.size
    days = keep_raw_days(ruleset)
    raise MailgateError(
        f"the mail of entry {entry.id} ({entry.mailbox} / {entry.message_key}, processed {when(entry.created_at)}) "
        f"is no longer kept: processed mail is kept {days} day(s) (settings.store.keep_raw_mail_days)"
        + ("" if entry.raw_sha256 else ", and this one was processed while keeping was off or before mailgate kept mail")
        + "; `mailgate log show` still has its recorded decision and trace")


class _OwnEntryIgnored:
    """The store's StateView, minus the entry itself: its duplicate claim, its place in the
    loop count, the ticket it opened (auto-bundle), the auto-replies and notices it queued."""

    def __init__(self, reads, entry):
        from engine.store.state_view import StoreStateView

        self._view = StoreStateView(reads, "ticket store, this mail's own entry ignored")
        self._reads, self._entry = reads, entry
        self.description = self._view.description

    def __getattr__(self, name):
        return getattr(self._view, name)

    def _from_me(self, address: str) -> bool:
        from engine.store.base import fold_address

        return self._entry.sender == fold_address(address)

    def message_seen(self, duplicate_key: str):
        claim = self._reads.duplicate_key_seen(duplicate_key)
        if claim and (claim.mailbox, claim.source_key) == (self._entry.mailbox, self._entry.message_key):
            return None  # the claim is this entry's own
        return self._view.message_seen(duplicate_key)

    def sender_message_count(self, mailbox: str, address: str, since: datetime, until: datetime) -> int:
        count = self._view.sender_message_count(mailbox, address, since, until)
        arrived = self._entry.arrived_at or self._entry.created_at
        mine = self._entry.mailbox == mailbox and self._from_me(address) and since <= arrived <= until
        return max(0, count - 1) if mine else count

    def logged_since(self, reason: str, address: str, since: datetime) -> int:
        count = self._view.logged_since(reason, address, since)
        mine = self._entry.reason == reason and self._from_me(address) and self._entry.created_at > since
        return max(0, count - 1) if mine else count

    def last_notice(self, role: str, cause: str, about: str):
        # A notice this mail queued has the entry's own time (one clock per transaction);
        # an earlier one would have held it back, so ignoring it leaves no earlier notice.
        last = self._view.last_notice(role, cause, about)
        own = self._own_outbox(role)
        return None if last is not None and any(o.created_at == last for o in own) else last

    def recent_ticket_by_sender_subject(self, mailbox: str, address: str, subject: str, since: datetime,
                                        until: datetime):
        found = self._view.recent_ticket_by_sender_subject(mailbox, address, subject, since, until)
        mine = self._entry.outcome == "create_ticket" and found == self._entry.ticket_number
        return None if mine else found

    def auto_replies_sent(self, address: str, since: datetime) -> int:
        from engine.store.base import fold_address

        count = self._view.auto_replies_sent(address, since)
        return count - sum(fold_address(o.to_addr) == fold_address(address) and o.created_at >= since
                           for o in self._own_outbox("auto_reply"))

    def _own_outbox(self, kind: str) -> list:
        own = self._reads.outbox_messages(mailbox=self._entry.mailbox, message_key=self._entry.message_key)
        return [o for o in own if o.kind == kind]


def _print(entry, rows, differences, decision) -> None:
    print(safe_line(f"== entry {entry.id}: {entry.mailbox} / {entry.message_key}, processed {when(entry.created_at)}"))
    print(safe_line(f"   from {entry.sender or '?'}  subject {entry.subject!r}"))
    shown = [(name.replace("_", " "), _cell(before), _cell(after), "≠" if name in differences else "")
             for name, before, after in rows if before not in (None, [], {}) or after not in (None, [], {})]
    for line in table([("field", "recorded", "now", ""), *shown], (None, 48, 48, None)):
        print(line)
    print("same decision as recorded" if not differences else f"differs in: {', '.join(differences)}")
    print("why now:")
    for step in decision.trace:
        origin = f"  [{step.origin}]" if step.origin else ""
        print(safe_line(f"   {'HIT ' if step.hit else '    '}{step.stage}/{step.rule}: {step.detail}{origin}"))


def _cell(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(map(str, value))
    return "" if value is None else str(value)

"""What a batch's mails will ask the store, worked out with evaluate's own functions (read by engine/store/batch.py)."""

from __future__ import annotations

from datetime import datetime, timedelta

from engine.config.ruleset import Ruleset
from engine.evaluate.draft import arrival, duplicate_key
from engine.evaluate.reference import bundle_window
from engine.evaluate.sender import sender_address
from engine.message import Message
from engine.store.batch import BatchWants


def batch_wants(pairs: list[tuple[object, Message]], ruleset: Ruleset, mailbox: str, now: datetime) -> BatchWants:
    """The duplicate keys, senders, windows and Message-IDs of a batch of (fetched item, message).

    `now` is the clock before the batch's first mail: each mail's own is later, so every window it
    asks about starts after the floors here. Whatever is missed is asked of the database.
    """
    policy = ruleset.mailbox(mailbox).policy
    keys, senders, ids, addresses, arrivals = [], [], [], [], []
    for item, message in pairs:
        keys.append(duplicate_key(message))
        sender = sender_address(message)
        senders += [address for address in (sender, message.from_.address.lower() if message.from_ else None) if address]
        addresses += [sender, *(cc.address.strip().lower() for cc in message.cc)]
        arrivals.append(arrival(message, now, getattr(item, "arrived", None))[0])
        ids += [message.in_reply_to, *message.references, message.bounce.original_message_id if message.bounce else None]
    if not pairs:
        return BatchWants(mailbox)
    window = max(timedelta(minutes=policy.loop_prevention.window_minutes), bundle_window(policy))  # F-PRE-5, F-REF-7
    return BatchWants(
        mailbox=mailbox, duplicate_keys=tuple(keys), senders=tuple(dict.fromkeys(senders)),
        log_since=min(arrivals) - window,
        outbox_since=now - timedelta(minutes=policy.outgoing.auto_reply_window_minutes),
        message_ids=tuple(mid for mid in dict.fromkeys(ids) if mid), addresses=tuple(a for a in dict.fromkeys(addresses) if a))

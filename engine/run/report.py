"""What one poll of one mailbox did, and how the poller says it: the summary, the progress, the per-mail line."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from engine.run.stages import Stages


@dataclass
class MailboxReport:
    """What one poll of one mailbox did."""

    mailbox: str
    outcomes: Counter = field(default_factory=Counter)
    acked: int = 0
    ack_problems: list[str] = field(default_factory=list)
    error: str | None = None
    auth_failed: bool = False
    skipped: str | None = None  # why the mailbox was not polled (another poller holds it)
    reached: bool = False  # the source listed its mail: a later failure is not "not reached"
    to_do: int = 0  # new mail this poll means to process (at most polling.max_messages)
    reasons: Counter = field(default_factory=Counter)  # (outcome, reason) -> mails
    outbox: Counter = field(default_factory=Counter)  # queued, sent, retrying, failed
    stages: Stages = field(default_factory=Stages)  # where the time went (`poll --once --timings`, metrics)
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        """Mail processed so far (any outcome, a retry included)."""
        return sum(self.outcomes.values())

    def summary(self) -> str:
        """One line: the outcomes, acknowledgements, outbox and error; or why nothing was done."""
        if self.skipped:
            return f"{self.mailbox}: skipped, {self.skipped}"
        if self.error and not self.reached:
            return f"{self.mailbox}: not reached, nothing fetched: {self.error}"
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.outcomes.items()))
        if not counts:
            counts = f"none of {self.to_do} new mail processed" if self.to_do else "no new mail"
        mail = ", ".join(f"{self.outbox[k]} {k}" for k in ("queued", "sent", "retrying", "failed") if self.outbox[k])
        tail = f"; error: {self.error}" if self.error else ""
        return f"{self.mailbox}: {counts}; {self.acked} acknowledged" + (f"; outbox: {mail}" if mail else "") + tail

    def progress(self) -> str:
        """`help: 40/400 mail, 35.2/s`: how far this poll is."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        return f"{self.mailbox}: {self.done}/{self.to_do} mail, {self.done / elapsed:.1f}/s"


def mail_line(mailbox: str, key: str, applied) -> str:
    """The service's line per mail: key, sender, subject, outcome, reason, ticket, mail queued."""
    who = f" from {applied.sender}" if getattr(applied, "sender", None) else ""
    subject = f" {applied.subject[:80]!r}" if getattr(applied, "subject", None) else ""
    ticket = f", ticket #{applied.ticket}" if applied.ticket else ""
    queued = f", {applied.outbox} mail queued" if applied.outbox else ""
    return f"{mailbox} {key}{who}{subject}: {applied.outcome} ({applied.reason}){ticket}{queued}"

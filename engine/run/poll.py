"""Poll one mailbox: fetch -> parse -> evaluate -> apply (one transaction each) -> outbox -> ack."""

from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from engine.apply.apply import Applied, apply
from engine.config.ruleset import MailboxConfig, Ruleset
from engine.decision import Outcome
from engine.errors import AuthError, MailgateError
from engine.evaluate import evaluate, evaluate_failure
from engine.message import Message
from engine.parse import parse
from engine.run.monitor import record_auth_failure, record_auth_success
from engine.apply.smtp import SmtpSettings, deliver_due
from engine.run.fetch_ahead import LockedSource, fetched_ahead
from engine.run.batch_wants import batch_wants
from engine.run.fetching import batches, logged_lookup, plan
from engine.run.parse_ahead import ParseSettings, parse_bounded, parsed_ahead
from engine.run.report import MailboxReport, mail_line
from engine.run.stages import Stages
from engine.sources.base import AfterAction
from engine.sources.settings import after_action
from engine.errors import DuplicateMessage, TransactionLost, TransientStoreError
from engine.store.directory_cache import DirectoryCache
from engine.store.state_view import StoreStateView

log = logging.getLogger("mailgate.poll")
QUARANTINE_HEADER = "X-Mailgate-Quarantine"
RETRY = "retry"  # not an outcome: the store was busy, the message waits for the next poll
Clock = Callable[[], datetime]


TRANSIENT_TRIES = 3


def process_message(store, ruleset: Ruleset, mailbox: MailboxConfig, key: str, raw: bytes, now: datetime,
                    message: Message | None = None, directory: DirectoryCache | None = None, *,
                    arrived: datetime | None = None, replay: bool = False) -> Applied:
    """Decide and apply one message in one transaction; a failure quarantines it (F-FAIL-1).

    A transient store failure (lock, deadlock, a ticket number another poller took)
    evaluates the message again; if it keeps failing the message is left
    unacknowledged ("retry") for the next poll, never quarantined. `arrived` is the
    source's arrival time (None: the mail's headers tell). `replay` processes a kept
    message again as if new (F-FAIL-2): its first log row and claim are released first.
    """
    # Parsed already by the worker (engine.run.parse_ahead), or now, in it: within the budget either way.
    message = message or parse_bounded(raw, ParseSettings.of(ruleset, mailbox))
    for attempt in range(TRANSIENT_TRIES):
        try:
            return _decide_and_apply(store, ruleset, mailbox, key, raw, message, now, directory, arrived, replay)
        except DuplicateMessage:
            return Applied("ignore", "already_processed")  # another poller committed it first
        except TransactionLost:
            raise  # the store failed, not the message: neither quarantine nor acknowledge it
        except TransientStoreError as err:
            log.warning("%s/%s: %s (try %d of %d)", mailbox.name, key, err, attempt + 1, TRANSIENT_TRIES)
        except MailgateError as err:
            return quarantine(store, ruleset, mailbox, key, raw, f"{type(err).__name__}: {err}", now, message, arrived)
        except Exception as err:  # noqa: BLE001 - one bad message must never block the mailbox
            log.exception("processing %s/%s failed", mailbox.name, key)
            return quarantine(store, ruleset, mailbox, key, raw, f"{type(err).__name__}: {err}", now, message, arrived)
    return Applied(RETRY, "store_busy")


def _decide_and_apply(store, ruleset, mailbox, key, raw, message, now, directory=None, arrived=None,
                      replay=False) -> Applied:
    # No look-up of (mailbox, key) first: the fetch skipped logged keys already, and should
    # another poller log this one meanwhile, log_processing raises DuplicateMessage and the
    # whole transaction rolls back. A quarantined key may be logged again (replay).
    with store.transaction(directory) as tx:
        if replay:  # judged again as it arrived then, and not a duplicate of itself
            arrived = tx.release_for_replay(mailbox.name, key) or arrived
        decision = evaluate(message, ruleset, StoreStateView(tx), now, mailbox.name, arrived)
        return apply(tx, decision, message, raw, key)


def quarantine(store, ruleset: Ruleset, mailbox: MailboxConfig, key: str, raw: bytes, error: str,
               now: datetime, message: Message | None = None, arrived: datetime | None = None) -> Applied:
    """Keep the raw bytes and the reason, tell the error user; the poll goes on with the next message.

    The failure is a decision like any other (evaluate_failure -> apply), so the
    notice, the log row and the trace take the one path every outcome takes; its
    duplicate key is claimed too, so a second copy is logged as a duplicate of it.
    """
    message = message or parse(raw)
    with store.transaction() as tx:
        if tx.processed(mailbox.name, key) is not None:  # kept already (a replay that failed again)
            return Applied("quarantine", "processing_failed", kept=True)
        state = StoreStateView(tx)
        try:
            decision = evaluate_failure(message, ruleset, state, now, mailbox.name, error, arrived=arrived)
        except Exception:  # noqa: BLE001 - rendering the notice may be what failed: keep the mail, skip the notice
            log.exception("%s/%s: the error notice could not be rendered", mailbox.name, key)
            decision = evaluate_failure(message, ruleset, state, now, mailbox.name, error, notify=False, arrived=arrived)
        return apply(tx, decision, message, raw, key)


def apply_batch(store, ruleset: Ruleset, mailbox: MailboxConfig, pairs, clock: Clock,
                directory: DirectoryCache, should_stop: Callable[[], bool], stages: Stages | None = None) -> list[tuple]:
    """Decide and apply a batch, in arrival order, in as few transactions as it takes.

    Committing once per batch instead of once per message is the poller's fast path;
    it stays crash-safe because the batch is acknowledged only after the commit.
    A message that fails in the batch ends that transaction: what came before it is
    committed, it is retried alone (process_message quarantines it or leaves it for
    the next poll), and the messages after it follow in a new transaction. So a reply
    is never applied before the mail it answers; when the failed message must wait
    for the next poll, everything after it waits too. When a transaction itself is
    lost (full disk, lost connection, serialisation failure, a failed commit),
    TransactionLost ends the poll and nothing of that batch is acknowledged.
    """
    pending, results, stages = list(pairs), [], stages or Stages()
    while pending and not should_stop():
        done, failed = _apply_until_failure(store, ruleset, mailbox, pending, clock, directory, should_stop, stages)
        results += done
        if failed is None:
            break
        item, message = failed
        applied = process_message(store, ruleset, mailbox, item.key, item.raw, clock(), message, directory,
                                  arrived=item.arrived)
        results.append((item, applied))
        pending = pending[len(done) + 1:]
        if applied.outcome == RETRY:  # later mail may answer this one: it waits too, in order
            results += [(later, Applied(RETRY, "after_a_message_that_waits")) for later, _ in pending]
            break
    return results


class _Careful(Exception):
    """A message failed in a batch applied without savepoints: roll it back, apply it message by message."""


def _apply_until_failure(store, ruleset, mailbox, pairs, clock, directory, should_stop, stages):
    """Apply `pairs` in one transaction up to the first that fails; return what was applied and that one.

    The batch is applied first without a savepoint per message: those were two statements per
    mail, and on PostgreSQL two round trips. Should any message fail, that transaction is rolled
    back whole and the batch applied again with a savepoint around each message, so what came
    before the failed one is committed, as it always was.
    """
    try:
        return _apply_in_one(store, ruleset, mailbox, pairs, clock, directory, should_stop, stages, careful=False)
    except _Careful:
        return _apply_in_one(store, ruleset, mailbox, pairs, clock, directory, should_stop, stages, careful=True)


def _apply_in_one(store, ruleset, mailbox, pairs, clock, directory, should_stop, stages, *, careful: bool):
    done, failed = [], None
    pairs = [(item, _full(item, message)) for item, message in pairs]
    # The fast path reads what the batch will ask at once (engine/store/batch.py); the careful one asks as it goes.
    ahead = None if careful else _wants(pairs, ruleset, mailbox, clock)
    try:
        with store.transaction(directory, batch=ahead is not None) as tx:
            if ahead is not None:
                with stages.timing("evaluate"):  # what evaluate will ask, read at once
                    tx.read_ahead(ahead)
            for item, message in pairs:
                if should_stop():
                    break  # the message in hand was finished; the rest waits for the next poll
                try:
                    with tx.savepoint() if careful else nullcontext():
                        with stages.timing("evaluate"):
                            decision = evaluate(message, ruleset, StoreStateView(tx), clock(),
                                                mailbox.name, item.arrived)
                        with stages.timing("apply"):
                            done.append((item, apply(tx, decision, message, item.raw, item.key)))
                except TransactionLost:
                    raise
                except Exception as err:  # noqa: BLE001 - this message takes the careful path, after what came before
                    if not careful:
                        raise _Careful() from err  # rolls the whole transaction back
                    if isinstance(err, DuplicateMessage):
                        done.append((item, Applied("ignore", "already_processed")))
                        continue
                    failed = (item, message)
                    break
            if ahead is not None:
                with stages.timing("apply"):  # what apply held, written at once
                    _flush(tx)
            committing = time.perf_counter()
        stages.add("commit", time.perf_counter() - committing)
    except MailgateError as err:  # the commit failed, or TransactionLost from a savepoint
        raise TransactionLost(f"the batch was not committed, so none of it is acknowledged: {err}") from err
    return done, failed


def _flush(tx) -> None:
    """Send the rows the batch held for one statement per table; a unique key taken meanwhile
    (another poller) or any failure applies the batch again the careful way, as a failed mail does."""
    try:
        tx.flush()
    except TransactionLost:
        raise
    except Exception as err:  # noqa: BLE001 - rolls the whole transaction back
        raise _Careful() from err


def _wants(pairs, ruleset, mailbox, clock):
    try:
        return batch_wants(pairs, ruleset, mailbox.name, clock())
    except Exception as err:  # noqa: BLE001 - a mail evaluate would fail on too: the careful path finds it
        raise _Careful() from err


def _full(item, message: Message | None) -> Message:
    """The parsed message; for one fetched as its header only, with its real size (F-PRE-7)."""
    message = message or parse(item.raw)
    return replace(message, size=item.size) if item.truncated else message


def poll_mailbox(store, ruleset: Ruleset, mailbox: MailboxConfig, source, clock: Clock,
                 smtp: SmtpSettings | None = None, should_stop: Callable[[], bool] = lambda: False,
                 progress: Callable[[MailboxReport], None] | None = None,
                 still_ours: Callable[[], bool] = lambda: True) -> MailboxReport:
    """One poll: each batch is committed, then mail is sent, then the batch is acknowledged.

    `still_ours` is asked before every acknowledgement: a poller that lost the
    mailbox's lease stops there, and the next holder acknowledges what was committed.
    """
    report, parsed = MailboxReport(mailbox.name), None
    source = LockedSource(source)  # fetched ahead by a thread (engine/run/fetch_ahead.py), acknowledged here
    action = after_action(mailbox)
    folder = mailbox.options.get("quarantine_folder")  # quarantined mail is moved there (F-FAIL-1)
    quarantine_action = AfterAction.move(folder, create_folder=True) if folder else None
    acks = _Acks(store, source, mailbox.name, report)
    try:
        polling = mailbox.options["polling"]
        stages = report.stages
        with stages.timing("fetch"):
            keys = list(source.list_keys())
            found = plan(keys, polling["max_messages"], logged_lookup(keys, lambda some: store.logged_keys(mailbox.name, some)))
        report.reached, report.to_do = True, len(found.new)
        if progress and found.new:
            progress(report)
        # Logged keys still on the server lost their ack to a crash: finish it first (F-PRE-6).
        with stages.timing("ack"):
            acks(found.logged, action)
        directory = DirectoryCache()  # users, organisations and groups, for the transactions of this poll
        limit = mailbox.options["size_limits"]["max_message_mb"] * 1024 * 1024
        parse_settings = ParseSettings.of(ruleset, mailbox)  # the time budget per mail, the HTML option
        fetched = stages.timed("fetch", fetched_ahead(batches(source, found.new, polling["batch_size"], limit)))
        parsed = _parsed(fetched, parse_settings, stages)
        for batch, messages in parsed:
            done, quarantined = [], []
            results = apply_batch(store, ruleset, mailbox, zip(batch, messages), clock, directory, should_stop, stages)
            for item, applied in results:
                report.outcomes[applied.outcome] += 1
                report.reasons[applied.outcome, applied.reason] += 1
                report.outbox["queued"] += applied.outbox
                log.info("%s", mail_line(mailbox.name, item.key, applied))
                if applied.outcome == "quarantine" and quarantine_action:
                    quarantined.append((item.key, applied.reason))
                elif applied.outcome != RETRY:  # a message not committed is never acknowledged
                    done.append(item.key)
            if not still_ours():
                report.error = "the mailbox's lease was lost: stopped before acknowledging (its new holder will)"
                break
            with stages.timing("ack"):
                _send(store, smtp, report)
                acks(done, action)
                for key, reason in quarantined:  # each moved copy says why it is there (F-FAIL-1)
                    acks([key], replace(quarantine_action, header=(QUARANTINE_HEADER, reason)))
            if progress:
                progress(report)
            if should_stop():
                break
        # Mail waiting for a retry goes out even in a poll without new mail (F-OUT-5).
        _send(store, smtp, report)
        record_auth_success(store, mailbox.name)
    except AuthError as err:
        report.error, report.auth_failed = str(err), True
        record_auth_failure(store, ruleset, mailbox, str(err), clock())
    except MailgateError as err:
        report.error = str(err)
    finally:
        if parsed is not None:
            parsed.close()  # the fetch thread ends before the source closes
        _close(source)
    return report


def _parsed(fetched, settings: ParseSettings, stages: Stages):
    """parsed_ahead, the time it keeps the poller waiting counted to "parse" (its fetching is counted apart)."""
    ahead = parsed_ahead(fetched, settings, stages)
    while True:
        fetching, begin = stages.seconds["fetch"], time.perf_counter()
        try:
            item = next(ahead)
        except StopIteration:
            return
        finally:
            stages.add("parse", time.perf_counter() - begin - (stages.seconds["fetch"] - fetching))
        yield item


def _send(store, smtp: SmtpSettings | None, report: MailboxReport) -> None:
    if smtp is None:
        return
    result = deliver_due(store, smtp)
    report.outbox.update(sent=result.sent, retrying=result.retrying, failed=result.failed)
    for error in result.errors:
        log.warning("outbox: %s", error)


class _Acks:
    """Acknowledge keys at the source, and write down what became of each (`mailgate log show`)."""

    def __init__(self, store, source, mailbox: str, report: MailboxReport):
        self.store, self.source, self.mailbox, self.report = store, source, mailbox, report

    def __call__(self, keys: list[str], action) -> None:
        keys = list(dict.fromkeys(keys))
        if not keys:
            return
        result = self.source.ack(keys, action)
        self.report.acked += len(result.done)
        self.report.ack_problems += list(result.problems)
        for problem in result.problems:
            log.warning("ack: %s", problem)
        self._record(result.done, describe(action))
        self._record([*result.kept, *result.stale], f"{describe(action)} failed: left where it was")

    def _record(self, keys, words: str) -> None:
        if not keys:
            return
        try:
            with self.store.transaction() as tx:
                tx.set_after_action(self.mailbox, keys, words)
        except MailgateError as err:  # only the record is lost; the mail was handled
            log.warning("%s: after-processing action not recorded: %s", self.mailbox, err)


def describe(action) -> str:
    """An after-processing action in words, as `mailgate log show` prints it."""
    if action is None or action.kind == "none":
        return "left on the server as it was"
    if action.kind == "move":
        return f"moved to {action.folder}"
    return {"mark_read": "marked read", "delete": "deleted"}[action.kind]


def _close(source) -> None:
    try:
        source.close()
    except MailgateError as err:
        log.warning("closing the source: %s", err)


OUTCOMES = tuple(o.value for o in Outcome)

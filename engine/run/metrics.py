"""Prometheus metrics of the poller: served on --metrics-port, or written to a file for node_exporter."""

from __future__ import annotations

import logging

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics,
                               start_http_server, write_to_textfile)

from engine.errors import MailgateError
from engine.run.report import MailboxReport
from engine.run.stages import STAGES

log = logging.getLogger("mailgate.metrics")
POLL_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
OUTBOX_STATUSES = ("pending", "held", "sent", "failed", "expired")


class Metrics:
    """Counters the poller adds to after each mailbox poll; gauges read from the store after each cycle.

    The gauges come from the store, not from this process, so with several pollers
    on one store each reports the same outbox, quarantine and last success.
    """

    def __init__(self, textfile: str | None = None) -> None:
        self.textfile = textfile  # written after each cycle, for node_exporter's textfile collector
        disable_created_metrics()  # no `_created` twin per series: it doubles the output and no alert reads it
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages = Counter("mailgate_messages", "Mail processed, by mailbox, outcome and reason",
                                ["mailbox", "outcome", "reason"], registry=r)
        self.poll_seconds = Histogram("mailgate_poll_duration_seconds", "Wall time of one poll of one mailbox",
                                      ["mailbox"], buckets=POLL_BUCKETS, registry=r)
        self.stage_seconds = Counter("mailgate_stage_seconds", "Time spent per stage (engine/run/stages.py)",
                                     ["mailbox", "stage"], registry=r)
        self.errors = Counter("mailgate_poll_errors", "Polls that ended with an error", ["mailbox"], registry=r)
        self.sent = Counter("mailgate_outbox_delivered", "Outbox mail handed to SMTP, by result",
                            ["result"], registry=r)
        self.outbox = Gauge("mailgate_outbox_messages", "Outbox mail by status", ["status"], registry=r)
        self.quarantine = Gauge("mailgate_quarantine_messages", "Mail waiting in the quarantine", registry=r)
        self.last_success = Gauge("mailgate_last_success_timestamp_seconds",
                                  "Unix time of the mailbox's last poll without an error", ["mailbox"], registry=r)
        self.interval = Gauge("mailgate_poll_interval_seconds", "The mailbox's configured polling interval",
                              ["mailbox"], registry=r)

    def observe_poll(self, report: MailboxReport, seconds: float) -> None:
        """Count one poll's mail, time, stages, error and deliveries."""
        name = report.mailbox
        if report.skipped:
            return  # another poller holds it: that poller counts it
        for (outcome, reason), n in report.reasons.items():
            self.messages.labels(name, outcome, reason).inc(n)
        self.poll_seconds.labels(name).observe(seconds)
        for stage in STAGES:
            self.stage_seconds.labels(name, stage).inc(report.stages.seconds.get(stage, 0.0))
        if report.error:
            self.errors.labels(name).inc()
        else:
            self.errors.labels(name).inc(0)  # present from the first poll, so rate() sees it start at 0
        for result in ("sent", "retrying", "failed"):
            self.sent.labels(result).inc(report.outbox.get(result, 0))

    def observe_store(self, store, ruleset) -> None:
        """Outbox depth, quarantine size, last success per mailbox, intervals: as the store has them now
        (then the text file is written, when there is one)."""
        try:
            depth, waiting, statuses = store.outbox_depth(), store.quarantine_count(), store.mailbox_statuses()
        except MailgateError as err:  # the store is down: the polls say so; keep the last values
            log.warning("metrics not refreshed from the store: %s", err)
            return
        for status in OUTBOX_STATUSES:
            self.outbox.labels(status).set(depth.get(status, 0))
        self.quarantine.set(waiting)
        for mailbox in ruleset.mailboxes:
            self.interval.labels(mailbox.name).set(mailbox.policy.polling.interval_seconds)
            status = statuses.get(mailbox.name)
            if status is not None and status.last_success_at is not None:
                self.last_success.labels(mailbox.name).set(status.last_success_at.timestamp())
        if self.textfile:
            self.write(self.textfile)

    def serve(self, port: int, address: str) -> None:
        """Answer GET /metrics on address:port from a background thread."""
        try:
            start_http_server(port, addr=address, registry=self.registry)
        except OSError as err:
            raise MailgateError(f"cannot serve metrics on {address}:{port}: {err.strerror or err}") from None
        log.info("metrics on http://%s:%d/metrics", address, port)

    def write(self, path: str) -> None:
        """Write the metrics to `path` (Prometheus text format, replaced atomically)."""
        try:
            write_to_textfile(path, self.registry)
        except OSError as err:
            raise MailgateError(f"cannot write metrics to {path}: {err.strerror or err}") from None

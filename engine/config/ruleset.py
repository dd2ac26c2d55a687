"""The compiled, immutable Ruleset the engine trusts after validation (F-CFG-5)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from engine.config.freeze import FrozenDict
from engine.config.routes import RouteIndex
from engine.config.rule_index import RuleIndex
from engine.config.sections import MailboxPolicy, RulesKnobs, Settings


@dataclass(frozen=True)
class Filter:
    """A sender or subject filter (F-PRE-3), or an address mailgate never sends to (F-OUT-8)."""

    pattern: str
    match: str  # partial | full | regex (| domain, for never_send_to)
    origin: str
    regex: Any = field(default=None, compare=False, repr=False)
    path: tuple = field(default=(), compare=False, repr=False)  # where in its file, for validate's warnings


@dataclass(frozen=True)
class Keyword:
    """A phrase that bounces mail unprocessed (F-PRE-4)."""

    phrase: str
    where: str  # subject | body | both
    reason: str
    notify_sender: bool
    origin: str
    path: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class ExcludedText:
    """A disclaimer removed from bodies, matched across white space (F-BODY-1)."""

    name: str
    source: str  # the text or regex as written
    is_regex: bool
    origin: str
    regex: Any = field(default=None, compare=False, repr=False)
    path: tuple = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class BlockedAttachment:
    """One attachment-blocking rule (F-ATT-2); every set field must match."""

    name: str | None
    extension: str | None
    content_type: str | None
    sha256: str | None
    max_bytes: int | None
    reason: str
    origin: str


@dataclass(frozen=True)
class TokenDef:
    """An email token that may appear in bodies (F-TOK-1)."""

    name: str
    effect: str
    values: tuple[str, ...]
    fields: tuple[str, ...]
    roles: tuple[str, ...]
    origin: str


@dataclass(frozen=True)
class SubjectRule:
    """A subject text that selects a type/subtype or a quick pick (F-NEW-2)."""

    text: str  # lower-cased
    mode: str  # exact | contains
    order: int  # declaration order, breaks ties
    type: str | None
    subtype: str | None
    quick_pick: str | None
    origin: str
    path: tuple = field(default=(), compare=False, repr=False)  # of the pattern itself


@dataclass(frozen=True)
class Template:
    """An outgoing-mail template (F-OUT-1..4), compiled in the sandbox."""

    name: str
    subject: str
    body: str
    origin: str
    compiled_subject: Any = field(default=None, compare=False, repr=False)
    compiled_body: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class MailboxConfig:
    """One mailbox. The engine reads its `policy` (typed, each knob with its origin); `options` is
    the raw mapping with schema defaults filled in, which the sources read; `written` says where
    the mailbox file wrote each key (path under `mailbox:` -> file:line)."""

    name: str
    address: str
    protocol: str
    active: bool
    options: FrozenDict
    origin: str
    policy: MailboxPolicy | None = None
    written: FrozenDict = field(default_factory=FrozenDict, repr=False)


@dataclass(frozen=True)
class Ruleset:
    """Everything the engine reads, merged from all files in sorted file order."""

    mailboxes: tuple[MailboxConfig, ...]
    settings: Settings  # the rules' `settings`, typed (also knobs.settings)
    knobs: RulesKnobs  # settings, limits, filters.accept_from: what mailbox policies fall back to
    sender_filters: tuple[Filter, ...]
    subject_filters: tuple[Filter, ...]
    recipient_filters: tuple[Filter, ...]  # filters.never_send_to (F-OUT-8)
    keywords: tuple[Keyword, ...]
    excluded_text: tuple[ExcludedText, ...]
    blocked_attachments: tuple[BlockedAttachment, ...]
    tokens: tuple[TokenDef, ...]
    priorities: tuple[str, ...]
    classes: tuple[str, ...]
    categories: tuple[str, ...]
    types: FrozenDict  # type name -> tuple of subtype names
    quick_picks: FrozenDict  # name -> FrozenDict of its fields (+ origin)
    subject_rules: tuple[SubjectRule, ...]
    user_templates: FrozenDict
    directory: FrozenDict  # users, groups, organisations
    reference_forms: tuple[str, ...]
    reference_tag: str
    reply_prefixes: tuple[str, ...]
    templates: FrozenDict  # name -> Template
    config_dir: str
    grammar_digest: str
    origins: FrozenDict = field(default_factory=FrozenDict)  # "references" -> "file:line" or "default", for the trace
    routes: RouteIndex = field(default_factory=lambda: RouteIndex(()))  # routing rules in order, indexed
    calendars: FrozenDict = field(default_factory=FrozenDict)  # name -> Calendar (business hours for routes)

    @cached_property
    def index(self) -> RuleIndex:
        """The matchers of every rule, built on first use and kept with this ruleset."""
        return RuleIndex(self)

    def mailbox(self, name: str) -> MailboxConfig:
        """The mailbox called `name` (KeyError when there is none)."""
        for mailbox in self.mailboxes:
            if mailbox.name == name:
                return mailbox
        raise KeyError(name)

    def with_mailbox(self, mailbox: MailboxConfig) -> "Ruleset":
        """This ruleset with `mailbox` in place of the one of the same name."""
        mailboxes = tuple(mailbox if m.name == mailbox.name else m for m in self.mailboxes)
        return dataclasses.replace(self, mailboxes=mailboxes)

"""Compile validated files into one frozen Ruleset: regexes, templates, grammar (F-CFG-5)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from engine.config.defaults import fill_defaults
from engine.config.freeze import FrozenDict, freeze
from engine.config.load import LoadedFile
from engine.config.overlay import locate
from engine.config.policy import DEFAULT
from engine.config.resolve import SINGLE_SECTIONS, fill_mailbox, mailbox_policy, mailbox_written, rules_knobs
from engine.config.recipients import recipient_match, recipient_pieces
from engine.config.ruleset import (BlockedAttachment, ExcludedText, Filter, Keyword, MailboxConfig,
                                   Ruleset, SubjectRule, Template, TokenDef)
from engine.config.schemas import schema_for
from engine.config.routes import Calendar, RouteIndex, build_routes
from engine.config.templates import environment, template_sources
from engine.config.validate import check
from engine.errors import ConfigError
from engine.config.patterns import compile_safe
from engine.config.token_grammar import parser

DEFAULT_REFERENCE_FORMS = ("Issue #{id}",)


def load_ruleset(config_dir: Path) -> Ruleset:
    """Validate `config_dir` and compile it; raise ConfigError listing every problem."""
    files, problems = check(Path(config_dir))
    if problems:
        raise ConfigError(problems)
    return compile_files(files, Path(config_dir).resolve())


class _Origin:
    """Builds 'file:line' labels for the trace: where each value was written, an overlay file included."""

    def __init__(self, loaded: LoadedFile):
        self.loaded = loaded

    def __call__(self, *path) -> str:
        owner, there = locate(self.loaded, path)
        return f"{owner.label}:{owner.mark(there)[0]}"

    def path(self, *path) -> tuple:
        """The path in the file named by __call__ (validate's warnings put the column there)."""
        return locate(self.loaded, path)[1]


def _rules_data(files):
    """Each rules file with the defaults of its entries filled (rule lists are concatenated, so
    per file is right for them); its single knobs are merged across files first, in rules_knobs()."""
    for loaded in files:
        if loaded.kind == "rules":
            entries = {k: v for k, v in loaded.data.items() if k not in SINGLE_SECTIONS}
            entries["filters"] = {k: v for k, v in (loaded.data.get("filters") or {}).items() if k != "accept_from"}
            yield loaded, fill_defaults(entries, schema_for("rules"), "rules"), _Origin(loaded)


def compile_files(files: list[LoadedFile], config_dir: Path) -> Ruleset:
    """The Ruleset of already-validated files, merged in their (sorted) order."""
    rules = list(_rules_data(files))
    knobs = rules_knobs([loaded for loaded, _, _ in rules])
    references = {}
    for _, data, _ in rules:
        references.update({k: v for k, v in data.get("references", {}).items() if k == "tag"})
    forms = tuple(f for _, d, _ in rules for f in d.get("references", {}).get("subject", [])) or DEFAULT_REFERENCE_FORMS
    return Ruleset(
        mailboxes=tuple(sorted(_mailboxes(files, knobs), key=lambda m: m.name)),
        settings=knobs.settings,
        knobs=knobs,
        sender_filters=tuple(_filters(rules, "senders")),
        subject_filters=tuple(_filters(rules, "subjects")),
        recipient_filters=tuple(_recipient_filters(rules)),
        keywords=tuple(Keyword(k["phrase"], k["where"], k.get("reason", ""), k["notify_sender"], o("keywords", i),
                               o.path("keywords", i, "phrase"))
                       for _, d, o in rules for i, k in enumerate(d.get("keywords", []))),
        excluded_text=tuple(_excluded(rules)),
        blocked_attachments=tuple(_blocked(rules)),
        tokens=tuple(_tokens(rules)),
        priorities=_concat(rules, "priorities"),
        classes=_concat(rules, "classes"),
        categories=_concat(rules, "categories"),
        types=FrozenDict((t["name"], tuple(s["name"] for s in t.get("subtypes", [])))
                         for _, d, _ in rules for t in d.get("types", [])),
        quick_picks=FrozenDict((q["name"], freeze({**q, "origin": o("quick_picks", i)}))
                               for _, d, o in rules for i, q in enumerate(d.get("quick_picks", []))),
        subject_rules=tuple(_subject_rules(rules)),
        user_templates=FrozenDict((u["name"], freeze(u)) for _, d, _ in rules for u in d.get("user_templates", [])),
        directory=freeze(_directory(rules)),
        reference_forms=forms,
        reference_tag=references.get("tag", forms[0]),
        reply_prefixes=_concat(rules, "reply_prefixes"),
        templates=FrozenDict(_templates(rules)),
        config_dir=str(config_dir),
        grammar_digest=_grammar_digest(),
        origins=FrozenDict(_single_origins(rules)),
        routes=RouteIndex(build_routes((r, o("routes", i), o.path("routes", i))
                                       for _, d, o in rules for i, r in enumerate(d.get("routes", [])))),
        calendars=FrozenDict((c["name"], Calendar.build(c, o("calendars", i)))
                             for _, d, o in rules for i, c in enumerate(d.get("calendars", []))),
    )


_SINGLE = {"references": ("references", "subject")}


def _single_origins(rules):
    """Where each single setting was written (the last file wins, as when merging), else 'default'."""
    found = dict.fromkeys(_SINGLE, DEFAULT)
    for loaded, _, origin in rules:
        for name, path in _SINGLE.items():
            section = loaded.data.get(path[0]) or {}
            if path[1] in section:
                found[name] = origin(*path)
    return found


def _concat(rules, key) -> tuple:
    return tuple(item for _, data, _ in rules for item in data.get(key, []))


def _mailboxes(files, knobs):
    for loaded in files:
        if loaded.kind == "mailbox":
            options, written = fill_mailbox(loaded.data["mailbox"]), mailbox_written(loaded)
            yield MailboxConfig(options["name"], options["address"], options["protocol"], options["active"],
                                freeze(options), _Origin(loaded)("mailbox"), mailbox_policy(options, written, knobs),
                                written)


def _filters(rules, section):
    for _, data, origin in rules:
        for i, item in enumerate(data.get("filters", {}).get(section, [])):
            item = {"pattern": item, "match": "partial"} if isinstance(item, str) else item
            regex = compile_safe(item["pattern"]) if item["match"] == "regex" else None
            yield Filter(item["pattern"], item["match"], origin("filters", section, i), regex,
                         origin.path("filters", section, i))


def _recipient_filters(rules):
    """filters.never_send_to: a string entry may hold several, comma-separated as seed 004 writes them."""
    for _, data, origin in rules:
        for i, item in enumerate(data.get("filters", {}).get("never_send_to", [])):
            where, path = origin("filters", "never_send_to", i), origin.path("filters", "never_send_to", i)
            if isinstance(item, dict):
                regex = compile_safe(item["pattern"]) if item["match"] == "regex" else None
                yield Filter(item["pattern"].strip(), item["match"], where, regex, path)
                continue
            for piece in recipient_pieces(item):
                yield Filter(piece.lstrip("@"), recipient_match(piece), where, None, path)


def whitespace_tolerant(text: str) -> str:
    """A regex matching `text` with any run of white space (line breaks too) between its words."""
    return r"\s+".join(re.escape(word) for word in text.split())


def _excluded(rules):
    for _, data, origin in rules:
        for i, item in enumerate(data.get("excluded_text", [])):
            is_regex = "regex" in item
            source = item["regex"] if is_regex else item["text"]
            regex = compile_safe(source) if is_regex else compile_safe(whitespace_tolerant(source), built=True)
            yield ExcludedText(item["name"], source, is_regex, origin("excluded_text", i), regex,
                               origin.path("excluded_text", i, "regex" if is_regex else "text"))


def _blocked(rules):
    for _, data, origin in rules:
        for i, item in enumerate(data.get("attachments", {}).get("blocked", [])):
            ext = item.get("extension")
            yield BlockedAttachment(item.get("name"), ext and ("." + ext.lstrip(".")).lower(),
                                    item.get("content_type"), item.get("sha256"), item.get("max_bytes"),
                                    item.get("reason", ""), origin("attachments", "blocked", i))


def _tokens(rules):
    for _, data, origin in rules:
        for i, item in enumerate(data.get("tokens", [])):
            yield TokenDef(item["name"].lower(), item["effect"], tuple(item.get("values", [])),
                           tuple(item.get("fields", [])), tuple(item["roles"]), origin("tokens", i))


def _subject_rules(rules):
    order = 0
    for _, data, origin in rules:
        for i, kind in enumerate(data.get("types", [])):
            targets = [((kind["name"], None), kind.get("match"), ("types", i))]
            targets += [((kind["name"], sub["name"]), sub.get("match"), ("types", i, "subtypes", j))
                        for j, sub in enumerate(kind.get("subtypes", []))]
            for (type_name, subtype), match, path in targets:
                for mode, j, text in _match_items(match):
                    order += 1  # the pattern's own line: an overlay's pattern is cited in the overlay file
                    yield SubjectRule(text.lower(), mode, order, type_name, subtype, None, origin(*path, "match", mode, j),
                                      origin.path(*path, "match", mode, j))
        for i, pick in enumerate(data.get("quick_picks", [])):
            for mode, j, text in _match_items(pick.get("match")):
                order += 1
                yield SubjectRule(text.lower(), mode, order, pick.get("type"), pick.get("subtype"), pick["name"],
                                  origin("quick_picks", i, "match", mode, j), origin.path("quick_picks", i, "match", mode, j))


def _match_items(match):
    for mode in ("exact", "contains"):
        for j, text in enumerate((match or {}).get(mode, [])):
            yield mode, j, text


def _directory(rules) -> dict:
    merged = {"users": [], "groups": [], "organisations": []}
    for _, data, _ in rules:
        for key in merged:
            merged[key] += data.get("directory", {}).get(key, [])
    return merged


def _templates(rules):
    for loaded, _, origin in rules:
        parts: dict = {}
        for name, part, source, *_ in template_sources(loaded):
            parts.setdefault(name, {})[part] = source
        for name, sources in parts.items():
            env = environment()
            yield name, Template(name, sources["subject"], sources["body"], origin("templates", name),
                                 env.from_string(sources["subject"]), env.from_string(sources["body"]))


def _grammar_digest() -> str:
    parser()  # load the Lark grammar now, so a broken grammar fails at load time
    grammar = Path(__file__).resolve().parent / "tokens.lark"
    return hashlib.sha256(grammar.read_bytes()).hexdigest()

"""Email tokens in the body: parse with the Lark grammar, check roles, apply or refuse (F-TOK-1..3)."""

from __future__ import annotations

import re
from dataclasses import replace

from engine.config.ruleset import TokenDef
from engine.decision import Outcome, TokenResult
from engine.evaluate.authenticity import authenticity
from engine.evaluate.draft import Draft
from engine.parse.reply import own_text
from engine.config.token_grammar import Token, TokenSyntaxError, parse_token, parser

parser()  # read tokens.lark now, at import: evaluate() itself never opens a file

STAGE = "tokens"
_CANDIDATE = re.compile(r"^[ \t]*(#[A-Za-z][A-Za-z0-9_-]*)(.*)$", re.MULTILINE)


def apply_tokens(d: Draft) -> None:
    """Every token line of the sender's own text becomes an applied effect or a refusal."""
    if d.outcome not in (Outcome.CREATE_TICKET, Outcome.ADD_NOTE, Outcome.BUNDLE) or d.note is None:
        return
    if "#" not in d.message.text and "#" not in (d.message.html or ""):  # most mail has no token
        return
    if d.message.bounce is not None or d.message.auto_generated.value:
        d.step(STAGE, "machine_mail", False, "no tokens from a bounce or auto-generated mail")
        return
    # Not the text of a forwarded, attached or quoted mail: its tokens are someone else's.
    text = own_text(d.message.text, d.message.html)
    for match in _CANDIDATE.finditer(text):
        definition = d.index.tokens.get(match.group(1)[1:].lower())
        if definition is None:
            continue  # a hashtag, not a token
        line = match.group(0).strip()
        result = _evaluate(d, definition, parse_token(line), line)
        d.tokens.append(result)
        d.step(STAGE, definition.name, result.applied, result.reason or f"{result.effect} {result.value}".strip(), definition.origin)
    refused = [t for t in d.tokens if not t.applied]
    if refused:
        lines = "\n".join(f"- {t.line}: {t.reason}" for t in refused)
        d.note = replace(d.note, text=f"{d.note.text}\n\nTokens refused:\n{lines}")


def _evaluate(d: Draft, definition: TokenDef, parsed, line: str) -> TokenResult:
    refuse = lambda reason: TokenResult(line, definition.name, False, definition.effect, "", reason, definition.origin)  # noqa: E731
    if isinstance(parsed, TokenSyntaxError):
        return refuse(f"malformed at column {parsed.column}: expected {parsed.expected}")
    role = _role(d)
    if role not in definition.roles:
        return refuse(f"a {role} may not use #{definition.name} (allowed: {', '.join(definition.roles)})")
    unauthentic = _unauthentic(d, role)
    if unauthentic:
        return refuse(f"{unauthentic}; #{definition.name} needs an authentic sender")
    if definition.effect == "close" and d.user is None and not d.policy.unknown_senders.close_anonymously:
        return refuse("unknown senders may not close tickets")
    value, problem = _EFFECTS[definition.effect](d, definition, parsed)
    if problem:
        return refuse(problem)
    return TokenResult(line, definition.name, True, definition.effect, value, "", definition.origin)


def _unauthentic(d: Draft, role: str) -> str:
    """Why the From cannot be trusted to change a ticket, or '' (F-TOK-3).

    A DMARC failure from a trusted server refuses every token. A technician's tokens
    also need an aligned DKIM or DMARC pass, unless tokens.require_authentication is none.
    """
    verdict = authenticity(d)
    if verdict.dmarc_failed:
        return f"the sender's address failed authentication ({verdict.detail})"
    if role == "technician" and d.policy.tokens.require_authentication == "aligned_pass" \
            and not verdict.aligned_pass:
        return f"a technician's address must pass DKIM or DMARC for its domain ({verdict.detail})"
    return ""


def _role(d: Draft) -> str:
    # Roles come from the directory entry of the From address; a spoofed From is why acting
    # tokens default to technicians only (F-TOK-3).
    return d.user.role if d.user is not None else "requester"


def _choice(wanted: str, allowed) -> str | None:
    return next((a for a in allowed if a.lower() == wanted.lower()), None)


def _one_arg(parsed: Token) -> str | None:
    return " ".join(parsed.args) if parsed.args and parsed.key is None else None


def _set_field(field: str, pool: str):
    def effect(d: Draft, definition: TokenDef, parsed: Token):
        wanted = _one_arg(parsed)
        allowed = definition.values or getattr(d.ruleset, pool)
        value = _choice(wanted, allowed) if wanted else None
        if value is None:
            return "", f"'{wanted or ''}' is not one of: {', '.join(allowed)}"
        d.ticket[field] = value
        return value, ""
    return effect


def _set_type(d: Draft, definition: TokenDef, parsed: Token):
    wanted = _one_arg(parsed) or ""
    type_name, _, subtype = wanted.partition("/")
    kind = _choice(type_name, d.ruleset.types)
    if kind is None:
        return "", f"'{type_name}' is not a type"
    sub = _choice(subtype, d.ruleset.types[kind]) if subtype else None
    if subtype and sub is None:
        return "", f"'{subtype}' is not a subtype of {kind}"
    d.ticket.update({"type": kind, "subtype": sub})
    return f"{kind}/{sub}" if sub else kind, ""


def _set_custom(d: Draft, definition: TokenDef, parsed: Token):
    if parsed.key is None:
        return "", 'write #{0} "Field" = "value"'.format(definition.name)
    field = _choice(parsed.key, definition.fields)
    if field is None:
        return "", f"'{parsed.key}' is not one of: {', '.join(definition.fields)}"
    d.ticket["custom_fields"] = tuple(sorted({**dict(d.ticket.get("custom_fields", ())), field: parsed.value}.items()))
    return f"{field}={parsed.value}", ""


def _assign(d: Draft, definition: TokenDef, parsed: Token):
    target = _one_arg(parsed)
    if not target:
        return "", "name a technician login or a group"
    user = d.state.user_by_login(target)
    if user is not None and user.is_technician:
        d.ticket.update({"assignee_user": user.login, "assignee_group": None})
        return user.login, ""
    group = d.state.group(target)
    if group is not None:
        d.ticket.update({"assignee_user": None, "assignee_group": group.name})
        return group.name, ""
    return "", f"'{target}' is neither a technician nor a group"


def _status(status: str):
    def effect(d: Draft, definition: TokenDef, parsed: Token):
        if parsed.args or parsed.key:
            return "", f"#{definition.name} takes no value"
        d.ticket["status"] = status
        return status, ""
    return effect


_EFFECTS = {
    "set_priority": _set_field("priority", "priorities"),
    "set_category": _set_field("category", "categories"),
    "set_class": _set_field("ticket_class", "classes"),
    "set_type": _set_type,
    "set_custom_field": _set_custom,
    "assign": _assign,
    "close": _status("closed"),
    "reopen": _status("open"),
}

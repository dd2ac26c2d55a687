"""New tickets: mailbox defaults, quick pick and type from the subject, CC list (F-NEW-1..3)."""

from __future__ import annotations

from engine.decision import Outcome
from engine.evaluate.draft import Draft
from engine.evaluate.sender import acting_technician, create_sender_if_needed, new_user
from engine.config.matching import normalise
from engine.parse.subject import strip_prefixes

STAGE = "new_ticket"


def create(d: Draft) -> bool:
    """Everything that is not a reply becomes a new ticket, if unknown senders may create one (F-USR-3)."""
    if d.user is None and d.requester == d.sender and not d.policy.unknown_senders.create_anonymously:
        d.step(STAGE, "create_anonymously", True, "unknown senders may not create tickets",
               d.policy.unknown_senders.where("create_anonymously"))
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "anonymous_create", f"{d.sender} is unknown and may not create tickets")
    create_sender_if_needed(d)
    defaults = d.policy.new_tickets
    assignee = defaults.assignee
    d.ticket = {
        "number": d.state.next_ticket_number(), "new": True, "subject": d.message.subject.strip() or "(no subject)",
        "requester": d.requester, "organisation": _organisation(d), "type": defaults.issue_type,
        "subtype": defaults.issue_subtype, "quick_pick": defaults.quick_pick,
        "ticket_class": defaults.ticket_class, "category": defaults.category,
        "priority": defaults.priority, "assignee_user": assignee and assignee.user,
        "assignee_group": assignee and assignee.group, "logging_technician": acting_technician(d),
        "source_mailbox": d.mailbox.name,
    }
    d.step(STAGE, "mailbox_defaults", True, _describe(d.ticket), d.policy.where("new_tickets"))
    if defaults.quick_pick:
        _apply_quick_pick(d, defaults.quick_pick, defaults.where("quick_pick"))
    if defaults.derive_from_subject:
        _derive_from_subject(d)
    _cc(d)
    return d.finish(Outcome.CREATE_TICKET, "new_ticket")


def _organisation(d: Draft) -> str | None:
    if d.user is not None:
        return d.user.organisation
    created = next((u for u in d.users_to_create if u.email == d.requester), None)
    return created.organisation if created else None


def _describe(fields: dict) -> str:
    keys = ("type", "subtype", "quick_pick", "priority", "ticket_class", "category", "assignee_user", "assignee_group")
    return ", ".join(f"{k}={fields[k]}" for k in keys if fields.get(k)) or "no defaults"


def _apply_quick_pick(d: Draft, name: str, origin: str | None) -> None:
    pick = d.ruleset.quick_picks[name]
    fields = {"quick_pick": name, "type": pick.get("type"), "subtype": pick.get("subtype"),
              "priority": pick.get("priority"), "ticket_class": pick.get("class"), "category": pick.get("category")}
    assignee = pick.get("assignee") or {}
    if assignee:
        fields.update({"assignee_user": assignee.get("user"), "assignee_group": assignee.get("group")})
    d.ticket.update({k: v for k, v in fields.items() if v is not None or k.startswith("assignee")})
    d.step(STAGE, "quick_pick", True, f"{name}: {_describe(fields)}", origin)


def _derive_from_subject(d: Draft) -> None:
    """Longest exact/contains match wins, declaration order breaks ties (F-NEW-2)."""
    subject = normalise(strip_prefixes(d.message.subject, d.ruleset.reply_prefixes))
    candidates = list(d.index.subject_exact.get(subject, ()))
    candidates += [hit[2] for hit in d.index.subject_contains.find(subject, whole_words=True)]
    if not candidates:
        d.step(STAGE, "subject_match", False, "no type or quick pick matches the subject")
        return
    best = min(candidates, key=lambda rule: (-len(rule.text), rule.order))
    d.step(STAGE, "subject_match", True, _chosen(best, len(candidates)), best.origin)
    if best.quick_pick:
        _apply_quick_pick(d, best.quick_pick, best.origin)
    else:
        d.ticket.update({"type": best.type, "subtype": best.subtype})


def _chosen(rule, matched: int) -> str:
    """What the winning pattern chose, so the trace answers "why this type?" without reading the YAML."""
    if rule.quick_pick:
        target = f"quick pick {rule.quick_pick}"
    else:
        target = f"type {rule.type}" + (f", subtype {rule.subtype}" if rule.subtype else "")
    others = f" ({matched - 1} other pattern(s) matched: the longest wins, then the first declared)" if matched > 1 else ""
    return f"{rule.mode} '{rule.text}' chose {target}{others}"


def _cc(d: Draft) -> None:
    """CC recipients join the distribution list: existing users only, or created (F-NEW-3)."""
    cc_policy = d.policy.cc
    policy, origin = cc_policy.policy, cc_policy.where("policy")
    if policy == "ignore":
        return
    own = {d.mailbox.address.lower(), *(m.address.lower() for m in d.ruleset.mailboxes), d.sender or ""}
    for cc in d.message.cc:
        address = cc.address.strip().lower()
        if "@" not in address or address in own or address in d.distribution_adds:
            continue
        known = d.state.user_by_email(address)
        if known is None and policy == "existing_users":
            d.step(STAGE, "cc", False, f"{address} is not a user; not added", origin)
            continue
        if known is None:
            d.users_to_create.append(new_user(d, address, cc.name, policy, cc_policy.user_template))
        d.distribution_adds.append(address)
        d.step(STAGE, "cc", True, f"{address} joins the distribution list" + ("" if known else " (new user)"),
               origin)

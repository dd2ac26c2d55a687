"""Who sent it: match a user, apply accept_from and the unknown-sender policy (F-USR-1..4, F-PRE-3)."""

from __future__ import annotations

import re

from engine.decision import NewUser, Outcome
from engine.evaluate.draft import Draft
from engine.message import Message

STAGE = "sender"


def identify(d: Draft) -> bool:
    """Match the sender to a user by address, case-insensitively (F-USR-1)."""
    address = d.sender
    if not address:
        d.step(STAGE, "sender_address", False, "no usable From, Sender or Return-Path")
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "no_sender", "the message has no sender address")
    d.user = d.state.user_by_email(address)
    detail = f"{address} is {d.user.login} ({d.user.role})" if d.user else f"{address} is unknown"
    d.step(STAGE, "match_user", d.user is not None, detail)
    return False


def sender_address(message: Message) -> str | None:
    """The lower-cased address the mail counts as from: From, else Sender, else Return-Path."""
    for candidate in (message.from_, message.sender):
        if candidate and "@" in candidate.address:
            return candidate.address.strip().lower()
    return_path = (message.return_path or "").strip("<> ")
    return return_path.lower() if "@" in return_path else None


_ACCEPTS = {
    "everyone": lambda user: True,
    "requesters": lambda user: user is not None and not user.is_technician,
    "technicians": lambda user: user is not None and user.is_technician,
    "both": lambda user: user is not None,
}


def accept_from(d: Draft) -> bool:
    """Only the configured kinds of sender get mail processed (F-PRE-3 accept_from)."""
    rule = d.policy.accept_from
    accepted = _ACCEPTS[rule](d.user)
    d.step(STAGE, "accept_from", not accepted, f"accept_from: {rule}", d.policy.where("accept_from"))
    return False if accepted else d.finish(Outcome.IGNORE, "sender_not_accepted", f"only {rule} may write here")


def resolve_requester(d: Draft) -> bool:
    """Known users act as themselves; unknown ones follow the mailbox policy (F-USR-2, F-USR-3)."""
    if d.user is not None:
        d.requester, d.requester_role = d.user.email.lower(), d.user.role
        return False
    unknown = d.policy.unknown_senders
    if unknown.default_user:  # every unknown sender maps to one user (F-USR-3)
        return _act_as(d, unknown.default_user, "default_user")
    if unknown.policy == "submit_as":
        return _act_as(d, unknown.submit_as, "submit_as")
    if unknown.policy == "reject":
        d.step(STAGE, "unknown_sender_policy", True, "reject", unknown.where("policy"))
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "unknown_sender", f"{d.sender} is not a known user")
    d.requester = d.sender
    d.step(STAGE, "unknown_sender_policy", True, unknown.policy, unknown.where("policy"))
    return False


def _act_as(d: Draft, login: str, rule: str) -> bool:
    user = d.state.user_by_login(login)
    origin = d.policy.unknown_senders.where(rule)
    if user is None:  # validated at load time, but the directory may have changed since
        d.step(STAGE, rule, True, f"user {login} not found", origin)
        d.notify.append("error_notice")
        return d.finish(Outcome.REJECT, "unknown_sender", f"{rule} user {login} does not exist")
    d.requester, d.requester_role = user.email.lower(), user.role
    d.step(STAGE, rule, True, f"{d.sender} acts as {login}", origin)
    return False


def new_user(d: Draft, address: str, name: str, policy: str, template: str | None) -> NewUser:
    """The user to create for an unknown address, by template or by defaults (F-USR-2, F-NEW-3)."""
    unknown = d.policy.unknown_senders
    role, organisation, location = "requester", unknown.organisation, unknown.location
    if policy == "create_from_template" and template:
        spec = d.ruleset.user_templates[template]
        role, organisation, location = spec["role"], spec.get("organisation"), spec.get("location")
    domain_org = _organisation_for(d, address) if unknown.organisation_from_domain else None
    login = address.split("@")[0]
    display = name or re.sub(r"[._-]+", " ", login).strip().title()
    return NewUser(email=address, login=address, name=display, role=role,
                   organisation=domain_org or organisation, location=location,
                   send_credentials=unknown.send_login_credentials)


def _organisation_for(d: Draft, address: str) -> str | None:
    domain = address.rpartition("@")[2].lower()
    organisation = d.state.organisation_by_domain(domain)
    if organisation:
        return organisation.name
    if d.policy.unknown_senders.create_organisation_for_unknown_domain:
        if domain not in d.organisations_to_create:
            d.organisations_to_create.append(domain)
        return domain
    return None


def create_sender_if_needed(d: Draft) -> None:
    """Queue the unknown sender's user record when the policy creates users."""
    if d.user is not None or d.requester != d.sender:
        return
    unknown = d.policy.unknown_senders
    if unknown.policy in ("create_with_defaults", "create_from_template"):
        user = new_user(d, d.sender, d.sender_name, unknown.policy, unknown.user_template)
        d.users_to_create.append(user)
        d.step(STAGE, "create_user", True, f"{user.email} as {user.role}" + (f" in {user.organisation}" if user.organisation else ""))


def acting_technician(d: Draft) -> str | None:
    """Who a mail's ticket or note counts for: a technician sender as themself, else the
    mailbox's logging technician (F-USR-4)."""
    defaults = d.policy.new_tickets
    if d.user is not None and d.user.is_technician and defaults.use_linked_technician:
        return d.user.login
    return defaults.logging_technician

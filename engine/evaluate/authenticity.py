"""Is the From address authentic? Authentication-Results from trusted servers only (RFC 8601, F-TOK-3)."""

from __future__ import annotations

from dataclasses import dataclass

from engine.evaluate.draft import Draft
from engine.parse.auth_results import MethodResult, parse_authentication_results

STAGE = "authentication"
MAX_HEADERS = 100  # Authentication-Results headers read per mail; a real one has a few
FAILING = ("fail", "permerror", "temperror")  # a DMARC verdict that must not be outvoted


@dataclass(frozen=True)
class Authenticity:
    """What the trusted servers say about the From domain."""

    aligned_pass: bool  # DMARC pass, or DKIM pass for the From domain (or its parent/subdomain)
    dmarc_failed: bool  # a trusted server wrote dmarc=fail / permerror / temperror
    detail: str  # human words for the trace and refusals


def authenticity(d: Draft) -> Authenticity:
    """The verdict for this mail, worked out once and traced with its reasons."""
    if d.authenticity is None:
        trusted = trusted_authserv_ids(d)
        d.authenticity = judge(d.message.headers, trusted, _from_domain(d))
        d.step(STAGE, "authentication_results", d.authenticity.aligned_pass, d.authenticity.detail,
               d.policy.authentication.where("trusted_authserv_ids"))
    return d.authenticity


def trusted_authserv_ids(d: Draft) -> tuple[str, ...]:
    """The mailbox's trusted_authserv_ids, else the global ones (settings.authentication)."""
    return tuple(i.lower() for i in d.policy.authentication.trusted_authserv_ids or ())


def judge(headers, trusted: tuple[str, ...], domain: str) -> Authenticity:
    """Read EVERY Authentication-Results header; only those from `trusted` servers count."""
    values = [v for k, v in headers if k == "authentication-results"][:MAX_HEADERS]
    parsed = [p for p in map(parse_authentication_results, values) if p is not None]
    mine = [p for p in parsed if p.authserv_id in trusted]
    ignored = sorted({p.authserv_id for p in parsed if p.authserv_id not in trusted})
    note = f"; ignored from untrusted {', '.join(ignored[:5])}" if ignored else ""
    if not trusted:
        return Authenticity(False, False, "no trusted_authserv_ids configured: no result is trusted" + note)
    if not mine:
        return Authenticity(False, False, f"no Authentication-Results from {', '.join(trusted)}" + note)
    results = [(p.authserv_id, r) for p in mine for r in p.results]
    # A failing verdict counts whatever domain it names: two From headers must not split the vote.
    failed = [f"dmarc={r.result} by {who}" for who, r in results if r.method == "dmarc" and r.result in FAILING]
    if failed:
        return Authenticity(False, True, ", ".join(failed) + note)
    passed = [f"{r.method}=pass by {who}" for who, r in results if _aligned_pass(r, domain)]
    if passed:
        return Authenticity(True, False, f"{', '.join(passed)} for {domain}" + note)
    seen = ", ".join(_describe(r) for _, r in results) or "no results"
    return Authenticity(False, False, f"no DKIM or DMARC pass aligned with {domain or 'the From'}: {seen}" + note)


def _aligned_pass(r: MethodResult, domain: str) -> bool:
    if r.result != "pass" or not domain:
        return False
    if r.method == "dmarc":
        named = r.prop("header.from")  # a verdict that names no domain is about the From (RFC 7489)
        return named is None or named == domain
    if r.method == "dkim":
        signer = r.prop("header.d") or (r.prop("header.i") or "").rpartition("@")[2]
        return bool(signer) and _aligned(signer, domain)
    return False  # SPF checks the envelope, not the From a reader sees


def _aligned(signer: str, domain: str) -> bool:
    """DMARC relaxed alignment without a public-suffix list: the same domain, a parent or a subdomain.

    A parent can only be a public suffix if its owner signs for it, which a registry does not.
    """
    signer, domain = signer.strip(".").lower(), domain.strip(".").lower()
    return signer == domain or domain.endswith("." + signer) or signer.endswith("." + domain)


def _describe(r: MethodResult) -> str:
    about = r.prop("header.d") or r.prop("header.from") or r.prop("smtp.mailfrom")
    return f"{r.method}={r.result}" + (f" for {about}" if about else "")


def _from_domain(d: Draft) -> str:
    address = d.message.from_.address if d.message.from_ else ""
    return address.rpartition("@")[2].strip().lower() if "@" in address else ""

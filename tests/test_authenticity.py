"""Authentication-Results (RFC 8601) and the From authenticity verdict that email tokens need.

SPEC IDs proved here: F-TOK-3.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.evaluate.authenticity import judge
from engine.parse.auth_results import parse_authentication_results

TRUSTED = ("mx.example.com",)


def verdict(*values: str, domain: str = "example.com", trusted=TRUSTED):
    return judge(tuple(("authentication-results", v) for v in values), trusted, domain)


def test_parse_reads_authserv_id_version_comments_and_properties_F_TOK_3():
    parsed = parse_authentication_results(
        'MX.Example.COM 1; dkim=pass (2048-bit key; "unprotected") header.d=Example.com header.s=sel;'
        ' spf = pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dmarc=pass (p=reject) header.from=example.com')
    assert parsed.authserv_id == "mx.example.com"
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "pass"), ("dmarc", "pass")]
    assert parsed.results[0].prop("header.d") == "example.com" and parsed.results[1].prop("smtp.mailfrom") == "example.com"


def test_a_header_without_authserv_id_vouches_for_nothing_F_TOK_3():
    # Microsoft 365 writes results without an authserv-id: nothing says which server wrote them.
    assert parse_authentication_results("spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.com; dmarc=pass") is None
    assert parse_authentication_results("mx.example.com; none").results == ()


def test_only_trusted_servers_count_and_every_header_is_read_F_TOK_3():
    assert verdict("mx.example.com; dmarc=pass header.from=example.com").aligned_pass
    forged = verdict("evil.test; dmarc=pass header.from=example.com")
    assert not forged.aligned_pass and "ignored from untrusted evil.test" in forged.detail
    second = verdict("mx.example.com; dkim=pass header.d=example.com", "mx.example.com; dmarc=fail header.from=example.com")
    assert second.dmarc_failed and not second.aligned_pass
    assert not verdict("mx.example.com; dmarc=pass", trusted=()).aligned_pass  # nothing trusted: nothing passes


def test_dkim_must_be_aligned_with_the_from_domain_F_TOK_3():
    assert verdict("mx.example.com; dkim=pass header.d=example.com").aligned_pass
    assert verdict("mx.example.com; dkim=pass header.d=mail.example.com").aligned_pass  # relaxed alignment
    assert verdict("mx.example.com; dkim=pass header.i=@example.com").aligned_pass
    own = verdict("mx.example.com; spf=fail smtp.mailfrom=attacker.test; dkim=pass header.d=attacker.test")
    assert not own.aligned_pass and not own.dmarc_failed
    assert not verdict("mx.example.com; dkim=pass header.d=notexample.com").aligned_pass
    assert not verdict("mx.example.com; spf=pass smtp.mailfrom=example.com").aligned_pass  # SPF is the envelope
    assert not verdict("mx.example.com; dmarc=pass header.from=other.test").aligned_pass


def test_failing_dmarc_verdicts_outweigh_any_pass_F_TOK_3():
    for result in ("fail", "permerror", "temperror"):
        judged = verdict(f"mx.example.com; dkim=pass header.d=example.com; dmarc={result} header.from=example.com")
        assert judged.dmarc_failed and not judged.aligned_pass, result
    assert not verdict("mx.example.com; dkim=fail header.d=example.com").aligned_pass


def test_comment_and_quote_tricks_do_not_fake_a_result_F_TOK_3():
    assert not verdict("mx.example.com; dkim=fail (dmarc=pass header.from=example.com) header.d=example.com").aligned_pass
    assert not verdict('mx.example.com; dkim=fail header.b="x; dmarc=pass"').aligned_pass
    assert not verdict("mx.example.com (; dmarc=pass)").aligned_pass


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet='ab ();"\\=x.', max_size=40))
def test_comments_and_segments_read_a_run_at_a_time_as_the_character_walk_F_TOK_3(text):
    """The fast paths (no quotes, no escapes, no comments) give what the walk, the reference, gives."""
    from engine.parse.auth_results import _split, _uncomment, _walk_split, _walk_uncomment

    assert _uncomment(text) == _walk_uncomment(text)
    assert _split(text) == _walk_split(text)

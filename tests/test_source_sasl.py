"""SASL mechanisms and the `auth: auto` / forbid_plaintext_login choice, without a server.

SPEC IDs proved here: F-MB-3, F-MB-4.
"""

from __future__ import annotations

import pytest

from engine.errors import SourceError
from engine.sources import sasl
from engine.sources.base import AfterAction
from engine.sources.imap import ImapSettings, ImapSource, uid_set

OFFER = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-1", "SCRAM-SHA-256", sasl.LOGIN_COMMAND]


def test_scram_sha_256_matches_the_rfc_7677_example():
    scram = sasl.Scram("SCRAM-SHA-256", "user", "pencil", nonce="rOprNGfwEbeRWgbNEkqO")
    assert scram(b"") == b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    final = scram(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                  b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    assert final == (b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                     b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    assert scram(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=") == b""


def test_scram_rejects_a_server_that_does_not_know_the_password():
    scram = sasl.Scram("SCRAM-SHA-256", "user", "pencil", nonce="abc")
    scram(b"")
    scram(b"r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    with pytest.raises(SourceError, match="signature"):
        scram(b"v=AAAA")


def test_auto_prefers_challenge_response_over_cleartext_F_MB_4():
    pick = lambda offer, **kw: sasl.choose(offer, "auto", tls_active=kw.get("tls", True),
                                           forbid_plaintext=True, have_token=kw.get("token", False))
    assert pick(OFFER) == "SCRAM-SHA-256"
    assert pick(["PLAIN", "CRAM-MD5", sasl.LOGIN_COMMAND]) == "CRAM-MD5"
    assert pick(["PLAIN", sasl.LOGIN_COMMAND]) == "PLAIN"  # AUTHENTICATE PLAIN over LOGIN
    assert pick(["XOAUTH2", "OAUTHBEARER", "PLAIN"], token=True) == "OAUTHBEARER"


def test_forbid_plaintext_login_without_tls_F_MB_4():
    with pytest.raises(SourceError, match="without TLS"):
        sasl.choose(["PLAIN", sasl.LOGIN_COMMAND], "auto", tls_active=False,
                    forbid_plaintext=True, have_token=False)
    with pytest.raises(SourceError, match="without TLS"):
        sasl.choose(["XOAUTH2"], "auto", tls_active=False, forbid_plaintext=True, have_token=True)
    assert sasl.choose(["PLAIN"], "auto", tls_active=False, forbid_plaintext=False,
                       have_token=False) == "PLAIN"


def test_an_explicit_list_is_tried_in_the_admins_order_F_MB_4():
    assert sasl.choose(OFFER, ["plain", "scram-sha-256"], tls_active=True,
                       forbid_plaintext=True, have_token=False) == "PLAIN"
    assert sasl.choose(OFFER, ["login"], tls_active=True, forbid_plaintext=True,
                       have_token=False) == sasl.LOGIN_COMMAND
    with pytest.raises(SourceError, match="offers none"):
        sasl.choose(["PLAIN"], ["cram-md5"], tls_active=True, forbid_plaintext=True, have_token=False)


def test_cram_md5_answers_the_rfc_2195_example():
    mech = sasl.mechanism("CRAM-MD5", "tim", "tanstaaftanstaaf", None)
    assert mech(b"<1896.697170952@postoffice.reston.mci.net>") == b"tim b913a602c7eda7a495b4e6e7334d3890"


def test_an_unknown_tls_mode_is_refused_F_MB_3():
    with pytest.raises(SourceError, match="tls mode"):
        ImapSource(ImapSettings("h", "u", tls="ssl"))


def test_uid_sets_are_compressed_into_ranges():
    assert uid_set([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"
    assert uid_set([7]) == "7"


def test_after_actions_are_checked():
    assert AfterAction.move("Done", create_folder=True).create_folder
    with pytest.raises(ValueError):
        AfterAction("move")
    with pytest.raises(ValueError):
        AfterAction("archive")


def test_passwords_never_show_in_settings_reprs_F_CFG_3():
    """F-CFG-3: a resolved secret must not leak into logs or tracebacks through a repr."""
    from engine.apply.smtp import SmtpSettings
    from engine.sources.imap import ImapSettings
    from engine.sources.pop3 import Pop3Settings

    for settings in (ImapSettings("mail.example.com", "u", password="s3cret-pw"),
                     Pop3Settings("mail.example.com", "u", password="s3cret-pw"),
                     SmtpSettings(password="s3cret-pw")):
        assert "s3cret-pw" not in repr(settings)

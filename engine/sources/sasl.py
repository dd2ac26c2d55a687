"""SASL client mechanisms and the `auth: auto` choice shared by the IMAP and POP3 sources."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from typing import Callable, Iterable, Optional, Sequence, Union

from engine.errors import SourceError

# Most secure first. "LOGIN-COMMAND" stands for the protocol's own clear-text login
# (IMAP LOGIN, POP3 USER/PASS); the SASL LOGIN mechanism is obsolete and not offered.
LOGIN_COMMAND = "LOGIN-COMMAND"
TOKEN_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")
PASSWORD_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", LOGIN_COMMAND)
# These put the password (or a bearer token) on the wire as is: only over TLS when
# forbid_plaintext_login is set. SCRAM and CRAM-MD5 never reveal the password.
CLEARTEXT = frozenset({"PLAIN", LOGIN_COMMAND, "OAUTHBEARER", "XOAUTH2"})
CONFIG_NAMES = {"login": LOGIN_COMMAND, "user": LOGIN_COMMAND}
# The secret reaches the server as is, so it can always check it: a refusal is about the credentials.
SELF_EVIDENT = frozenset({"PLAIN", LOGIN_COMMAND, "OAUTHBEARER", "XOAUTH2"})
# A server's verdict on the credentials: IMAP response codes (RFC 5530), POP3's (RFC 3206).
CREDENTIALS_VERDICT = re.compile(r"\s*(?:NO\s+|-ERR\s+)?\[(AUTHENTICATIONFAILED|AUTHORIZATIONFAILED|EXPIRED|AUTH)\]",
                                 re.IGNORECASE)

Mechanism = Callable[[bytes], bytes]


def normalise(names: Union[str, Sequence[str]]) -> Union[str, tuple[str, ...]]:
    """Config spelling (`auto`, or a list like `[scram-sha-256, login]`) to mechanism names."""
    if isinstance(names, str):
        if names.lower() == "auto":
            return "auto"
        names = [names]
    return tuple(CONFIG_NAMES.get(n.lower(), n.upper()) for n in names)


def choose(
    advertised: Iterable[str],
    allowed: Union[str, Sequence[str]],
    *,
    tls_active: bool,
    forbid_plaintext: bool,
    have_token: bool,
) -> str:
    """Pick the mechanism to use, or raise SourceError saying why none is acceptable.

    `advertised` holds the server's SASL mechanisms plus LOGIN_COMMAND when its clear-text
    login is available. With `auto` the most secure advertised mechanism wins; with a list
    the first one in the admin's order that the server offers.
    """
    return candidates(advertised, allowed, tls_active=tls_active, forbid_plaintext=forbid_plaintext,
                      have_token=have_token)[0]


def candidates(
    advertised: Iterable[str],
    allowed: Union[str, Sequence[str]],
    *,
    tls_active: bool,
    forbid_plaintext: bool,
    have_token: bool,
    shared: bool = False,
) -> list[str]:
    """Every acceptable mechanism, best first (what `choose` picks, then the fallbacks, F-MB-17).

    With `shared` (a shared mailbox, F-MB-18) CRAM-MD5 is left out: it cannot name the mailbox.
    """
    offered = {m.upper() for m in advertised} - ({"CRAM-MD5"} if shared else set())
    wanted = normalise(allowed)
    if wanted == "auto":
        wanted = TOKEN_MECHANISMS if have_token else PASSWORD_MECHANISMS
    usable, refused = [], []
    for name in wanted:
        if name not in offered:
            continue
        (refused if name in CLEARTEXT and forbid_plaintext and not tls_active else usable).append(name)
    if usable:
        return usable
    if refused:
        raise SourceError(
                          f"refusing {', '.join(refused)} without TLS (forbid_plaintext_login is on); "
                          "use tls: implicit or starttls, or a challenge-response mechanism"
                          )
    raise SourceError(
                      f"the server offers none of the allowed authentication methods {list(wanted)}; "
                      f"it offers {sorted(offered) or 'nothing'}"
                      )


def worth_another(name: str, server_words: str) -> bool:
    """After `name` was refused with `server_words`: might the next mechanism get in (F-MB-17)?

    Not when the server ruled on the credentials themselves (RFC 5530 [AUTHENTICATIONFAILED]
    and kin, RFC 3206 [AUTH]) through a mechanism it can always check: the password or token
    reached it as is, so another mechanism would only repeat a wrong password. A
    challenge-response refusal is different: a server that stores hashed passwords cannot
    check SCRAM or CRAM-MD5 and says "authentication failed" all the same (Dovecot does).
    A refusal without a verdict ([UNAVAILABLE], [SYS/TEMP], a mechanism it does not
    implement after all) is worth the next mechanism too.
    """
    return not (CREDENTIALS_VERDICT.match(server_words) and name in SELF_EVIDENT)


def mechanism(name: str, username: str, password: Optional[str], token: Optional[str],
              authzid: Optional[str] = None) -> Mechanism:
    """A callable answering server challenges for SASL mechanism `name`.

    `authzid` is the mailbox to open with `username`'s credentials (a shared mailbox,
    F-MB-18): PLAIN and SCRAM carry it as the authorization identity (RFC 4616, 5802),
    OAUTHBEARER in its GS2 header, XOAUTH2 as its `user` (Microsoft's way for shared
    mailboxes). CRAM-MD5 cannot carry one.
    """
    if name == "PLAIN":
        return lambda _challenge: f"{authzid or ''}\0{username}\0{password}".encode()
    if name == "CRAM-MD5" and not authzid:
        return _cram_md5(username, password or "")
    if name.startswith("SCRAM-"):
        return Scram(name, username, password or "", authzid=authzid)
    if name == "XOAUTH2":
        return _bearer(f"user={authzid or username}\1auth=Bearer {token}\1\1".encode(), b"")
    if name == "OAUTHBEARER":
        return _bearer(f"n,a={_saslname(authzid or username)},\1auth=Bearer {token}\1\1".encode(), b"\1")
    raise SourceError(f"unsupported SASL mechanism {name}" + (" for a shared mailbox" if authzid else ""))


def _bearer(first: bytes, after_error: bytes) -> Mechanism:
    """Send the token once; a second challenge is the server's error JSON (RFC 7628 3.2.3),
    answered with the dummy response that ends the exchange, never with the token again."""
    sent = []

    def respond(_challenge: bytes) -> bytes:
        if sent:
            return after_error
        sent.append(True)
        return first

    return respond


def _cram_md5(username: str, password: str) -> Mechanism:
    def respond(challenge: bytes) -> bytes:
        digest = hmac.new(password.encode(), challenge, hashlib.md5).hexdigest()
        return f"{username} {digest}".encode()

    return respond


def _saslname(name: str) -> str:
    return name.replace("=", "=3D").replace(",", "=2C")


class Scram:
    """RFC 5802 SCRAM client (no channel binding); verifies the server's signature too."""

    def __init__(self, name: str, username: str, password: str, nonce: Optional[str] = None,
                 authzid: Optional[str] = None) -> None:
        self.hash = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[name.upper()]
        self.password = password.encode()
        self.nonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = f"n={_saslname(username)},r={self.nonce}"
        self.gs2_header = f"n,a={_saslname(authzid)}," if authzid else "n,,"
        self.step = 0
        self.server_signature = b""

    def __call__(self, challenge: bytes) -> bytes:
        self.step += 1
        if self.step == 1:
            return f"{self.gs2_header}{self.first_bare}".encode()
        if self.step == 2:
            return self._final(challenge.decode())
        self._verify(challenge.decode())
        return b""

    def _hmac(self, key: bytes, msg: bytes) -> bytes:
        return hmac.new(key, msg, self.hash).digest()

    def _final(self, server_first: str) -> bytes:
        attrs = dict(part.split("=", 1) for part in server_first.split(","))
        if not attrs.get("r", "").startswith(self.nonce):
            raise SourceError("SCRAM: the server's nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac(self.hash, self.password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        without_proof = f"c={base64.b64encode(self.gs2_header.encode()).decode()},r={attrs['r']}"
        auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        client_key = self._hmac(salted, b"Client Key")
        signature = self._hmac(hashlib.new(self.hash, client_key).digest(), auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        self.server_signature = self._hmac(self._hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _verify(self, server_final: str) -> None:
        attrs = dict(part.split("=", 1) for part in server_final.split(",") if "=" in part)
        if "v" in attrs and base64.b64decode(attrs["v"]) != self.server_signature:
            raise SourceError("SCRAM: the server's signature is wrong (not the real server?)")

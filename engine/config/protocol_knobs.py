"""Knobs only some protocols read: written on another protocol's mailbox they are refused, never ignored."""

from __future__ import annotations

from collections.abc import Mapping

NETWORK = frozenset({"imap", "pop3", "ews", "graph"})
PROTOCOLS = NETWORK | {"maildir"}

# Key path under `mailbox:` -> (protocols whose source reads it, what to do on the others:
# one hint, or one per protocol).
READ_BY: dict[tuple, tuple[frozenset, str | dict]] = {
    ("folder",): (frozenset({"imap", "ews", "graph"}),
                  {"maildir": "remove `folder`: a maildir mailbox reads the directory at maildir.path "
                              "(point that at a sub-folder's directory to read it)",
                   "pop3": "remove `folder`: POP3 has one mailbox and no folders"}),
    ("fetch",): (frozenset({"imap", "ews", "graph", "maildir"}),
                 "POP3 has no read flag: every message not in the processing log is fetched; remove `fetch` "
                 "(pop3.leave_on_server keeps mail on the server)"),
    ("quarantine_folder",): (frozenset({"imap", "ews", "graph", "maildir"}),
                             "POP3 has no folders to move mail into: remove `quarantine_folder` "
                             "(quarantined mail is kept in the store)"),
    ("server",): (NETWORK, "a maildir mailbox has no server: remove `server`"),
    ("auth",): (NETWORK, "a maildir mailbox has no login: remove `auth`"),
    ("server", "host"): (frozenset({"imap", "pop3", "ews"}),
                         "Graph's host follows auth.oauth.cloud or graph.base_url: remove `server.host`"),
    ("server", "port"): (frozenset({"imap", "pop3"}), "{protocol} speaks HTTPS to its endpoint URL: remove `server.port`"),
    ("server", "tls"): (frozenset({"imap", "pop3"}), "{protocol} always uses HTTPS: remove `server.tls`"),
    ("auth", "method"): (frozenset({"imap", "pop3", "ews"}), "Graph signs in with auth.oauth only: remove `auth.method`"),
    ("auth", "username"): (frozenset({"imap", "pop3", "ews"}), "Graph signs in with auth.oauth only: remove `auth.username`"),
    ("auth", "password"): (frozenset({"imap", "pop3", "ews"}), "Graph signs in with auth.oauth only: remove `auth.password`"),
    ("auth", "forbid_plaintext_login"): (frozenset({"imap", "pop3"}),
                                         "{protocol} logs in over HTTPS only: remove `auth.forbid_plaintext_login`"),
    ("auth", "allow_ntlm"): (frozenset({"ews"}), "only EWS can log in with NTLM: remove `auth.allow_ntlm`"),
    ("maildir",): (frozenset({"maildir"}), "remove `maildir`, or set protocol: maildir"),
    ("pop3",): (frozenset({"pop3"}), "remove `pop3`, or set protocol: pop3"),
    ("ews",): (frozenset({"ews"}), "remove `ews`, or set protocol: ews"),
    ("graph",): (frozenset({"graph"}), "remove `graph`, or set protocol: graph"),
}


def unread_knob_problems(mailbox: Mapping) -> list[tuple[tuple, str, str]]:
    """(key path under `mailbox`, problem, hint) for every knob the mailbox's protocol never reads."""
    protocol = mailbox.get("protocol")
    if protocol not in PROTOCOLS:
        return []  # the schema has refused it already
    problems, refused = [], []
    for path, (protocols, hint) in READ_BY.items():
        if protocol in protocols or not _written(mailbox, path) or any(path[:len(r)] == r for r in refused):
            continue
        refused.append(path)
        hint = (hint[protocol] if isinstance(hint, dict) else hint).format(protocol=protocol)
        readers = ", ".join(sorted(protocols))
        problems.append((path, f"`{'.'.join(path)}` has no effect with protocol {protocol} (only {readers} read it)",
                         hint))
    return problems


def _written(data, path: tuple) -> bool:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True

"""What validate checks of the outgoing settings (settings.smtp) beyond the schema."""

from __future__ import annotations

from engine.config.load import LoadedFile
from engine.config.problems import Problem
from engine.config.protocols import oauth_problems, tls_version_problems
from engine.config.recipients import recipient_pieces

BASE = ("settings", "smtp")


def outgoing_problems(loaded: LoadedFile) -> list[Problem]:
    """Problems of one rules file's settings.smtp and filters.never_send_to, each at its file:line."""
    smtp = ((loaded.data.get("settings") or {}).get("smtp")) or {}
    found = tls_version_problems(smtp, ()) + _oauth_shape(smtp)
    return [loaded.problem(BASE + path, what, hint, at_value=bool(path) and path[-1] in ("transport", "tls_max_version"))
            for path, what, hint in found] + _never_send_to_problems(loaded)


def _never_send_to_problems(loaded: LoadedFile) -> list[Problem]:
    """Every comma-separated part of a never_send_to string is an address, an @domain or a text of 2+ characters."""
    problems = []
    for i, item in enumerate((loaded.data.get("filters") or {}).get("never_send_to") or []):
        if not isinstance(item, str):
            continue
        for piece in recipient_pieces(item):
            if len(piece.lstrip("@").strip(".")) < 2 or piece.count("@") > 1:
                problems.append(loaded.problem(
                    ("filters", "never_send_to", i), f"never_send_to part {piece!r} of {item!r} is no address, "
                    "@domain or text of two characters or more",
                    "write them comma-separated: name@example.com, @example.com, mailer-daemon", at_value=True))
    return problems


def _oauth_shape(smtp: dict) -> list[tuple[tuple, str, str]]:
    oauth, transport = smtp.get("oauth"), smtp.get("transport", "smtp")
    if not oauth:
        return [] if transport != "graph" else [(("transport",), "transport graph needs settings.smtp.oauth",
                                                 "add oauth: {mailbox: NAME} to send with a mailbox's app "
                                                 "registration (Mail.Send), or its own client settings")]
    found = []
    if smtp.get("password"):
        found.append((("password",), "settings.smtp has both a password and oauth",
                      "drop the password: with oauth the login is AUTH XOAUTH2 (or Graph)"))
    if oauth.get("mailbox"):
        if set(oauth) - {"mailbox"}:
            found.append((("oauth",), "settings.smtp.oauth takes either mailbox or the client settings, not both",
                          "keep mailbox: NAME to share that mailbox's auth.oauth, or drop it and write them here"))
        return found
    found += oauth_problems(oauth, ("oauth",))
    if transport == "graph" and oauth.get("provider", "microsoft") != "microsoft":
        found.append((("transport",), "transport graph is Microsoft Graph: it needs provider microsoft",
                      "use transport: smtp with AUTH XOAUTH2 for other providers (e.g. smtp.gmail.com)"))
    return found


def outgoing_reference_problems(files: list[LoadedFile], index) -> list[Problem]:
    """settings.smtp.oauth's `mailbox:` names a mailbox that has auth.oauth (checked once every file is read)."""
    boxes = index.get("mailbox", {})
    problems = []
    for loaded in files:
        oauth = (((loaded.data.get("settings") or {}).get("smtp")) or {}).get("oauth") or {} \
            if loaded.kind == "rules" else {}
        name = oauth.get("mailbox")
        if not name:
            continue
        entry = boxes.get(name)
        has_oauth = entry is not None and ((entry.file.data["mailbox"].get("auth") or {}).get("oauth"))
        if not has_oauth:
            what = (f"settings.smtp.oauth names mailbox '{name}', which does not exist" if entry is None else
                    f"settings.smtp.oauth names mailbox '{name}', which has no auth.oauth")
            problems.append(loaded.problem(BASE + ("oauth", "mailbox"), what,
                                           "name a mailbox whose auth.oauth is the app registration to send with",
                                           at_value=True))
    return problems

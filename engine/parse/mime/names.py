"""Attachment file names: made safe to save on any system, made up for unnamed parts, made unique."""

from __future__ import annotations

import mimetypes
import re

from engine.parse.mime.charset import no_surrogates

MAX_LENGTH = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Bidirectional overrides make `invoice\u202efdp.exe` look like `invoiceexe.pdf`.
_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# NTFS alternate data streams: Windows saves `evil.exe::$DATA` as evil.exe.
_STREAM = re.compile(r"(?::[^:]*)?:\$[A-Za-z_]*$")
_FILE_LIKE_ID = re.compile(r"^([^@<>/\\]+\.[A-Za-z0-9]{2,6})@")
_STEMS = {
    "message/delivery-status": "delivery-status.txt",
    "message/global-delivery-status": "delivery-status.txt",
    "message/disposition-notification": "disposition-notification.txt",
    "message/global-disposition-notification": "disposition-notification.txt",
    "message/feedback-report": "feedback-report.txt",
    "text/rfc822-headers": "headers.txt",
    "message/global-headers": "headers.txt",
    "text/plain": "document.txt",
    "text/html": "document.html",
    "text/calendar": "invite.ics",
}
_EXTENSIONS = {"image/jpeg": ".jpg", "image/jpg": ".jpg", "image/pjpeg": ".jpg", "text/plain": ".txt"}


def safe_name(name: str, notes: list[str]) -> str:
    """A sender's file name as Windows and Unix would save it; each change noted."""
    clean = no_surrogates(_CONTROL.sub("", name))
    clean = re.split(r"[/\\]", clean)[-1]  # path parts: ../../etc/passwd is passwd
    if clean != name:
        notes.append("path or control characters removed from a file name")
    if _BIDI.search(clean):
        clean = _BIDI.sub("", clean)
        notes.append("bidirectional control characters removed from a file name")
    if _STREAM.search(clean):
        clean = _STREAM.sub("", clean)
        notes.append("NTFS stream suffix removed from a file name")
    trimmed = clean.strip(" .\t")
    if trimmed != clean.strip():
        notes.append("leading or trailing dots and spaces removed from a file name")
    return _shortened(trimmed.strip(), notes)


def _shortened(name: str, notes: list[str]) -> str:
    if len(name) <= MAX_LENGTH:
        return name
    notes.append(f"file name cut to {MAX_LENGTH} characters")
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16 and " " not in ext:
        return stem[: MAX_LENGTH - len(ext) - 1].rstrip(" .") + "." + ext
    return name[:MAX_LENGTH].rstrip(" .")


def made_up(ctype: str, content_id: str | None, subject: str | None) -> str:
    """The name people expect for a part that has none (as mature helpdesks name them)."""
    if ctype in ("message/rfc822", "message/global"):
        title = (subject or "").strip()
        return f"{_no_path(title)[:MAX_LENGTH - 4]}.eml" if title else "Mail.eml"
    match = _FILE_LIKE_ID.match(content_id or "")
    if match:  # Outlook: <image001.png@01D9...>
        return _no_path(match.group(1))
    if ctype in _STEMS:
        return _STEMS[ctype]
    major = ctype.split("/", 1)[0]
    ext = _EXTENSIONS.get(ctype) or mimetypes.guess_extension(ctype, strict=False) or ""
    stem = major if major in ("image", "audio", "video") else "file"
    return stem + ext


def _no_path(text: str) -> str:
    # a subject like "1/2 done" names a file, not a folder
    return _CONTROL.sub("", re.sub(r"[/\\]", "_", text)).strip(" .") or "Mail"


def unique(names: list[str]) -> list[str]:
    """Names made unique in order: image.png, image1.png, image2.png (case-blind, as Windows)."""
    seen: set[str] = set()
    out = []
    for name in names:
        candidate = name
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        number = 0
        while candidate.lower() in seen:
            number += 1
            candidate = f"{stem}{number}{dot}{ext}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out

"""read_messages(): raw .eml, mbox (one mail per entry) and Outlook .msg files."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine.errors import UsageError
from engine.parse.inputs import msg_to_mime, read_messages
from engine.parse import parse


def test_raw_eml_is_one_message(tmp_path):
    path = tmp_path / "one.eml"
    path.write_bytes(b"Subject: hello\r\n\r\nbody\r\n")
    assert list(read_messages(path)) == [(str(path), b"Subject: hello\r\n\r\nbody\r\n")]


def test_kind_is_told_by_content_not_extension(corpus):
    # mime4j's RFC 822 files are called .msg: they must not go to the Outlook reader.
    path = corpus / "mime4j" / "testmsgs" / "basic-plain.msg"
    ((label, raw),) = read_messages(path)
    assert label == str(path) and raw == path.read_bytes()


MBOX = (
    b"From alice@example.com Mon Jan  1 00:00:00 2024\n"
    b"Subject: first\n\nline\n>From the start\n>>From deeper\n\n"
    b"From bob@example.com Mon Jan  1 00:01:00 2024\n"
    b"Subject: second\n\nFrom inside a paragraph is not a separator\n\n"
    b"From carol@example.com Mon Jan  1 00:02:00 2024\n"
    b"Subject: third\n\nlast\n"
)


def test_mbox_yields_one_labelled_message_per_mail(tmp_path):
    path = tmp_path / "box.mbox"
    path.write_bytes(MBOX)
    items = list(read_messages(path))
    assert [label for label, _ in items] == [f"{path}#1", f"{path}#2", f"{path}#3"]
    assert [parse(raw).subject for _, raw in items] == ["first", "second", "third"]
    assert items[0][1].endswith(b"line\nFrom the start\n>From deeper\n")  # mboxrd unescaping
    assert b"From inside a paragraph" in items[1][1]


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        list(read_messages(tmp_path / "nope.eml"))


def test_non_msg_ole_bytes_are_a_usage_error():
    with pytest.raises(UsageError):
        msg_to_mime(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)


# --- Outlook .msg: built with extract-msg's own OLE writer, so the fixture is real -----


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def write_msg(path: Path, subject: str, body: str, headers: str | None, attachment=None) -> Path:
    """Write a minimal Outlook .msg (MAPI streams in an OLE file) with extract-msg's writer."""
    from extract_msg.ole_writer import OleWriter

    count = 1 if attachment else 0
    writer = OleWriter()
    writer.addEntry("__properties_version1.0", b"\0" * 8 + struct.pack("<IIII", 0, count, 0, count) + b"\0" * 8)
    writer.addEntry("__substg1.0_001A001F", _utf16("IPM.Note"))
    writer.addEntry("__substg1.0_0037001F", _utf16(subject))
    writer.addEntry("__substg1.0_1000001F", _utf16(body))
    if headers:
        writer.addEntry("__substg1.0_007D001F", _utf16(headers))
    writer.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    if attachment:
        name, mime, data = attachment
        folder = "__attach_version1.0_#00000000"
        writer.addEntry(folder, storage=True)
        # PR_ATTACH_METHOD (0x3705, PT_LONG) = 1: the data is in the next stream
        writer.addEntry(f"{folder}/__properties_version1.0", b"\0" * 8 + struct.pack("<HHII", 3, 0x3705, 6, 1) + b"\0" * 4)
        writer.addEntry(f"{folder}/__substg1.0_37010102", data)
        writer.addEntry(f"{folder}/__substg1.0_3707001F", _utf16(name))
        writer.addEntry(f"{folder}/__substg1.0_370E001F", _utf16(mime))
    writer.write(str(path))
    return path


def test_outlook_msg_with_transport_headers(tmp_path):
    headers = (
        "From: J\u00f6rg <joerg@example.com>\r\nTo: help@example.org\r\n"
        "Subject: Drucker kaputt\r\nMessage-ID: <outlook-1@example.com>\r\n"
        "Date: Tue, 02 Jan 2024 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\r\n"
    )
    path = write_msg(tmp_path / "mail.msg", "Drucker kaputt", "Der Drucker druckt nicht.\r\n", headers)
    ((label, raw),) = read_messages(path)
    message = parse(raw)
    assert label == str(path)
    assert message.subject == "Drucker kaputt"
    assert (message.from_.address, message.from_.name) == ("joerg@example.com", "Jörg")
    assert message.message_id == "outlook-1@example.com"
    assert message.date == "2024-01-02T10:00:00+01:00"
    assert message.text.strip() == "Der Drucker druckt nicht."


def test_outlook_msg_without_headers_keeps_subject_and_attachment(tmp_path):
    path = write_msg(tmp_path / "bare.msg", "Protokoll anbei", "siehe Anhang\r\n", None,
                     attachment=("error.log", "text/plain", b"disk full\n"))
    ((_, raw),) = read_messages(path)
    message = parse(raw)
    assert message.subject == "Protokoll anbei"
    assert message.text.strip() == "siehe Anhang"
    assert [(a.filename, a.data) for a in message.attachments] == [("error.log", b"disk full\n")]

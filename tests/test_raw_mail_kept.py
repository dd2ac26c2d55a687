"""Kept raw mail (what `mailgate explain` and `log show` read, F-MB-10): compressed in the store by the parse
worker, found by the SHA-256 of the mail's own bytes and read back byte for byte on SQLite and PostgreSQL;
rows kept before compression (schema version 6) still read.

SPEC IDs proved here: F-MB-10.
"""

from __future__ import annotations

import base64
import hashlib
import random
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, insert, select

import engine.run.parse_ahead as ahead
from engine.packed import ZSTD, pack, unpack
from engine.store import Store
from engine.store.migrate import LATEST, MIGRATIONS, migrate
from engine.store.schema import UTCDateTime, raw_mail
from engine.store.store import make_engine
from tests.polltools import make_mail

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


def attached_mail(seed: int = 1) -> bytes:
    """A mail as they come: CRLF, 8-bit text, a base64 attachment of random bytes, no final newline."""
    data = random.Random(seed).randbytes(12_000)
    body = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (b"From: Ann <ann@acme.test>\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=latin-1\r\n'
            b"\r\nDrucker kaputt, Gr\xfc\xdfe\r\n" * 3 + b"\x00 stray NUL, \xff\xfe not UTF-8\r\n--b\r\n"
            b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" + body.encode()
            + b"--b--")


@pytest.fixture
def store(store_url: str):
    opened = Store.open(store_url, clock=lambda: T0)
    yield opened
    opened.close()


def stored_rows(store: Store) -> dict[str, tuple]:
    with store._engine.connect() as conn:
        return {row.sha256: (row.codec, bytes(row.content), row.size)
                for row in conn.execute(select(raw_mail.c.sha256, raw_mail.c.codec, raw_mail.c.content, raw_mail.c.size))}


def test_kept_mail_is_stored_compressed_and_read_back_byte_for_byte_F_MB_10(store: Store) -> None:
    mails = [attached_mail(), make_mail("Printer") * 40, b"x"]  # the last one cannot shrink: kept as it came
    with store.transaction() as tx:
        shas = [tx.keep_raw_mail(raw) for raw in mails]
    assert shas == [hashlib.sha256(raw).hexdigest() for raw in mails]
    rows = stored_rows(store)
    for sha, raw in zip(shas, mails):
        kept = store.raw_mail(sha)
        assert (kept.content, kept.size) == (raw, len(raw))
    assert [rows[sha][0] for sha in shas] == [ZSTD, ZSTD, None]
    assert len(rows[shas[0]][1]) < 0.85 * len(mails[0])  # random bytes in base64: ~75 %
    assert len(rows[shas[1]][1]) < 0.1 * len(mails[1])
    assert rows[shas[2]][1] == b"x"


def test_the_same_mail_kept_again_is_one_row_and_a_header_keeps_the_whole_size_F_MB_10(store: Store) -> None:
    raw = attached_mail()
    header = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    with store.transaction() as tx:
        first = tx.keep_raw_mail(raw)
        assert tx.keep_raw_mail(raw) == first  # one INSERT ... ON CONFLICT DO NOTHING: no error, no second row
        only_header = tx.keep_raw_mail(header, 123_456)  # only the header was fetched (F-PRE-7)
    with store.transaction() as tx:
        assert tx.keep_raw_mail(raw) == first
    assert set(stored_rows(store)) == {first, only_header}
    assert (store.raw_mail(only_header).content, store.raw_mail(only_header).size) == (header, 123_456)


def test_the_parse_workers_packing_is_what_the_store_keeps_F_MB_10(store: Store) -> None:
    raws = [make_mail(f"Request {i}", body="The printer jams.\n" * 50) for i in range(ahead.MIN_BATCH)]
    batch = [SimpleNamespace(key=str(i), raw=raw) for i, raw in enumerate(raws)]
    try:
        [(_, messages)] = list(ahead.parsed_ahead([batch], ahead.ParseSettings(seconds=60)))  # a budget: always the worker
    finally:
        ahead.shutdown()
    for raw, message in zip(raws, messages):
        assert message.packed.sha256 == hashlib.sha256(raw).hexdigest()
        assert unpack(message.packed.content, message.packed.codec) == raw
    with store.transaction() as tx:
        sha = tx.keep_raw_mail(raws[0], packed=messages[0].packed)
        # A packing of other bytes is never stored for these: they are packed again.
        other = tx.keep_raw_mail(raws[1] + b"more", packed=messages[1].packed)
    assert store.raw_mail(sha).content == raws[0]
    assert (other, store.raw_mail(other).content) == (hashlib.sha256(raws[1] + b"more").hexdigest(), raws[1] + b"more")


def test_a_row_kept_before_compression_still_reads_F_MB_10(store_url: str) -> None:
    raw = attached_mail(2)
    sha = hashlib.sha256(raw).hexdigest()
    version_6 = Table("raw_mail", MetaData(), Column("sha256", String(64), primary_key=True),
                      Column("size", Integer, nullable=False), Column("content", LargeBinary, nullable=False),
                      Column("created_at", UTCDateTime, nullable=False))
    engine = make_engine(store_url)
    try:
        assert migrate(engine, MIGRATIONS[:6]) == 6
        with engine.begin() as conn:
            conn.execute(insert(version_6).values(sha256=sha, size=len(raw), content=raw, created_at=T0))
        assert migrate(engine) == LATEST
        with Store(engine) as store:
            assert store.raw_mail(sha).content == raw
            with store.transaction() as tx:  # kept again: the old row stays as it is
                assert tx.keep_raw_mail(raw, packed=pack(raw)) == sha
            assert stored_rows(store)[sha][:2] == (None, raw)
            assert store.raw_mail(sha).content == raw
    finally:
        engine.dispose()


def test_an_unknown_codec_is_an_error_not_wrong_bytes() -> None:
    with pytest.raises(ValueError, match="unknown codec 'brotli'"):
        unpack(b"...", "brotli")

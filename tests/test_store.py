"""The ticket store, run whole on SQLite and on a private PostgreSQL (SPEC section 6).

SPEC IDs proved here: F-BODY-4, F-FAIL-1, F-FAIL-2, F-MB-9, F-MB-10, F-MB-11, F-NEW-3, F-OUT-1, F-OUT-4, F-OUT-5, F-PRE-5, F-PRE-6, F-REF-1, F-REF-3, F-REF-4, F-REF-7, F-TOK-1, F-USR-1, F-USR-2.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Table, create_engine, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError

from engine.errors import StoreError
from engine.store import DuplicateMessage, SchemaTooNew, Store, TransientStoreError
from engine.store.directory_import import import_directory
from engine.errors import DirectoryError
from engine.store.migrate import LATEST, MIGRATIONS, Migration, migrate, schema_version
from engine.store.outbox import RETRY_DELAYS
from engine.store.schema import blobs, metadata, processing_log
from engine.store.store import make_engine
from tests.fakeclock import T0, FakeClock

def _count(store: Store, table: Table) -> int:
    engine = create_engine(store._engine.url)
    with engine.connect() as conn:
        value = conn.execute(select(func.count()).select_from(table)).scalar()
    engine.dispose()
    return value


# --- migrations -----------------------------------------------------------------


def test_open_migrates_an_empty_database_to_schema_py(store_url: str) -> None:
    with Store.open(store_url) as store:
        engine = store._engine
        with engine.connect() as conn:
            versions = conn.execute(select(schema_version.c.version)).scalars().all()
        tables = set(inspect(engine).get_table_names())
        assert versions == [v.version for v in MIGRATIONS] and versions[-1] == LATEST
        assert set(metadata.tables) | {"schema_version"} == tables
        for name, table in metadata.tables.items():
            assert {c["name"] for c in inspect(engine).get_columns(name)} == set(table.c.keys())


def test_reopening_is_idempotent_and_keeps_data(store_url: str) -> None:
    with Store.open(store_url) as store:
        with store.transaction() as tx:
            number = tx.create_ticket("kept")
    with Store.open(store_url) as store:
        assert store.ticket(number).subject == "kept"
        with store._engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(schema_version)).scalar() == len(MIGRATIONS)


def test_pollers_opening_a_fresh_store_together_migrate_it_once_SPEC_6(store_url: str) -> None:
    barrier, errors, opened = threading.Barrier(4), [], []

    def open_store() -> None:
        barrier.wait(timeout=30)
        try:
            opened.append(Store.open(store_url))
        except Exception as err:  # reported below with the others
            errors.append(err)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(opened) == 4
    with opened[0]._engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema_version)).scalar() == len(MIGRATIONS)
    for store in opened:
        store.close()


def test_a_newer_store_than_the_code_is_a_clear_error(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(insert(schema_version).values(version=LATEST + 1, description="future", applied_at=T0))
    engine.dispose()
    with pytest.raises(SchemaTooNew, match=f"schema version {LATEST + 1}.*upgrade mailgate"):
        Store.open(store_url)


def test_a_failing_migration_step_leaves_the_database_as_it_was(store_url: str) -> None:
    Store.open(store_url).close()

    def broken(conn) -> None:
        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))
        raise RuntimeError("step 2 broke")

    engine = make_engine(store_url)
    with pytest.raises(RuntimeError):
        migrate(engine, MIGRATIONS + (Migration(LATEST + 1, "broken", broken),))
    assert "half_done" not in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(select(func.max(schema_version.c.version))).scalar() == LATEST
    engine.dispose()


@pytest.mark.postgres
def test_a_version_1_store_keeps_its_rows_through_every_later_step(store_url: str) -> None:
    """Version 2 rebuilds the outbox on SQLite (a CHECK cannot change there) and alters it on PostgreSQL."""
    from engine.store.history import v1_metadata

    engine = make_engine(store_url)
    try:
        assert migrate(engine, MIGRATIONS[:1]) == 1
        old = v1_metadata().tables
        with engine.begin() as conn:
            conn.execute(insert(old["outbox"]).values(
                id=7, kind="auto_reply", to_addr="Ann@Acme.test", to_key="ann@acme.test", headers="[]", body="hi",
                message_id="m7@x", status="failed", attempts=3, next_attempt_at=T0, last_error="550", created_at=T0))
            conn.execute(insert(old["processing_log"]).values(
                mailbox="help", message_key="k1", outcome="ignore", reason="auto_generated", trace="[]",
                created_at=T0, updated_at=T0))
        assert migrate(engine) == LATEST
        with Store(engine) as store:
            [row] = store.outbox_messages()
            assert (row.id, row.status, row.attempts, row.last_error, row.message_key) == (7, "failed", 3, "550", None)
            [entry] = store.processing_log()
            assert (entry.message_key, entry.subject, entry.summary) == ("k1", None, None)
            with store.transaction() as tx:
                assert tx.set_outbox_status(7, "held", allowed_from=("failed",))
            with pytest.raises(StoreError), store.transaction() as tx:
                tx._exec(text("UPDATE outbox SET status = 'lost' WHERE id = 7"))  # the CHECK came along
            inspector = inspect(engine)
            for name, table in metadata.tables.items():
                found = {i["name"] for i in inspector.get_indexes(name) if not i.get("duplicates_constraint")}
                assert found == {i.name for i in table.indexes}, name
    finally:
        engine.dispose()


def test_a_plain_postgresql_url_uses_psycopg_3(postgres_url: str) -> None:
    with Store.open(postgres_url.replace("postgresql+psycopg://", "postgresql://")) as store:
        assert store.dialect == "postgresql" and store.tickets() == []


def test_an_unreachable_database_is_a_transient_error_without_the_password() -> None:
    with pytest.raises(TransientStoreError, match="cannot open the store") as caught:
        Store.open("postgresql://mailgate:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(caught.value)


def test_a_locked_database_is_transient_a_broken_write_is_not(tmp_path: Path, monkeypatch) -> None:
    import sqlite3

    import engine.store.store as store_module

    monkeypatch.setattr(store_module, "SQLITE_BUSY_SECONDS", 0.2)
    path = tmp_path / "locked.db"
    store = Store.open(f"sqlite:///{path}")
    with pytest.raises(StoreError) as caught:
        with store.transaction() as tx:
            tx.add_note(12345, "no such ticket")  # foreign key
    assert not isinstance(caught.value, TransientStoreError)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        with pytest.raises(TransientStoreError, match="locked"):
            with store.transaction() as tx:
                tx.create_ticket("waits, then gives up")
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_unsupported_url_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="unsupported store URL"):
        Store.open("mysql://nobody@localhost/x")


# --- processing log and duplicates (F-PRE-6, SPEC 6) -------------------------------


def test_processing_log_key_is_unique_in_the_database_F_PRE_6(store: Store) -> None:
    row = dict(mailbox="help", message_key="k1", outcome="ignore", reason="", trace="[]",
               created_at=T0, updated_at=T0)
    with store._engine.begin() as conn:
        conn.execute(insert(processing_log).values(**row))
    with pytest.raises(IntegrityError):
        with store._engine.begin() as conn:  # bypassing every Python check
            conn.execute(insert(processing_log).values(**row))


def test_second_delivery_rolls_back_its_whole_transaction_F_PRE_6(store: Store) -> None:
    with store.transaction() as tx:
        number = tx.create_ticket("first")
        tx.log_processing("help", "k1", "create_ticket", "new", ticket_number=number)
    with pytest.raises(DuplicateMessage):
        with store.transaction() as tx:
            tx.create_ticket("second")
            tx.log_processing("help", "k1", "create_ticket", "new")
    assert [t.subject for t in store.tickets()] == ["first"]
    assert store.processed("help", "k1").ticket_number == number
    assert store.processed("other", "k1") is None


def test_two_stores_racing_on_one_message_make_one_ticket_F_PRE_6(store_url: str) -> None:
    stores = [Store.open(store_url), Store.open(store_url)]
    rounds, results = 8, []
    lock = threading.Lock()

    def worker(store: Store, barrier: threading.Barrier, key: str) -> None:
        barrier.wait(timeout=30)
        for _ in range(5):  # as a poller does: a transient error means evaluate again and retry
            try:
                with store.transaction() as tx:
                    number = tx.create_ticket(f"from {key}", number=tx.next_ticket_number())
                    tx.log_processing("help", key, "create_ticket", "new", ticket_number=number)
                outcome = "won"
            except DuplicateMessage:
                outcome = "duplicate"
            except TransientStoreError:
                continue
            break
        with lock:
            results.append((key, outcome))

    for n in range(rounds):
        barrier = threading.Barrier(len(stores))
        threads = [threading.Thread(target=worker, args=(s, barrier, f"key{n}")) for s in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    for n in range(rounds):
        assert sorted(o for k, o in results if k == f"key{n}") == ["duplicate", "won"]
    assert len(stores[0].tickets(limit=1000)) == rounds
    assert _count(stores[0], processing_log) == rounds
    for s in stores:
        s.close()


def test_same_mail_in_two_mailboxes_is_claimed_once_F_PRE_6(store: Store) -> None:
    with store.transaction() as tx:
        assert tx.claim_message_key("mid+date+from+digest", "sales")
        number = tx.create_ticket("once")
        tx.set_message_key_ticket("mid+date+from+digest", number)
    with store.transaction() as tx:
        assert not tx.claim_message_key("mid+date+from+digest", "support")
    seen = store.duplicate_key_seen("mid+date+from+digest")
    assert (seen.mailbox, seen.ticket_number) == ("sales", number)
    assert store.duplicate_key_seen("other") is None


def test_quarantined_message_can_be_logged_again_on_replay_F_FAIL_2(store: Store) -> None:
    with store.transaction() as tx:
        tx.log_processing("help", "k9", "quarantine", "parse_error", {"error": "boom"})
    with store.transaction() as tx:
        number = tx.create_ticket("replayed")
        tx.log_processing("help", "k9", "create_ticket", "new", [{"step": "x"}], ticket_number=number)
    entry = store.processed("help", "k9")
    assert (entry.outcome, entry.ticket_number, entry.trace) == ("create_ticket", number, [{"step": "x"}])
    with pytest.raises(DuplicateMessage):
        with store.transaction() as tx:
            tx.log_processing("help", "k9", "create_ticket", "new")


def test_loop_counts_and_auto_bundle_lookups_F_PRE_5_F_REF_7(store: Store, clock: FakeClock) -> None:
    for n in range(3):
        with store.transaction() as tx:
            number = tx.create_ticket("Printer down") if n == 0 else None
            outcome = "create_ticket" if n == 0 else "bundle"
            tx.log_processing("help", f"k{n}", outcome, "", ticket_number=number or 1,
                              sender="Loop@Example.com", subject_key="printer down")
        clock.advance(minutes=2)
    assert store.sender_message_count("help", "loop@EXAMPLE.com", T0) == 3
    assert store.sender_message_count("help", "loop@example.com", T0 + timedelta(minutes=3)) == 1
    assert store.sender_message_count("other", "loop@example.com", T0) == 0
    assert store.recent_ticket_by_sender_subject("help", "LOOP@example.com", "printer down", T0) == 1
    assert store.recent_ticket_by_sender_subject("help", "loop@example.com", "printer down", clock.now) is None
    assert store.recent_ticket_by_sender_subject("help", "loop@example.com", "other", T0) is None
    # By arrival (F-REF-7): mail that arrived after `until` does not count, whenever it was processed.
    assert store.recent_ticket_by_sender_subject("help", "loop@example.com", "printer down", T0 - timedelta(minutes=5),
                                                 T0 - timedelta(minutes=1)) is None


def test_processing_log_listing_filters_by_mailbox_and_outcome_F_MB_10(store: Store) -> None:
    with store.transaction() as tx:
        tx.log_processing("a", "1", "ignore", "auto_generated", [{"rule": "auto", "hit": True}])
        tx.log_processing("a", "2", "reject", "too_big")
        tx.log_processing("b", "3", "ignore", "filtered")
    assert [e.message_key for e in store.processing_log()] == ["3", "2", "1"]
    assert [e.message_key for e in store.processing_log(mailbox="a")] == ["2", "1"]
    assert [e.message_key for e in store.processing_log(outcome="ignore")] == ["3", "1"]
    assert store.processing_log(mailbox="a", outcome="ignore")[0].trace == [{"rule": "auto", "hit": True}]


def test_the_after_processing_action_is_recorded_for_the_batchs_keys_only_F_MB_9(store: Store) -> None:
    with store.transaction() as tx:
        for mailbox, key in (("a", "1"), ("a", "2"), ("a", "3"), ("b", "1")):
            tx.log_processing(mailbox, key, "ignore", "auto_generated")
    for keys, action in ((["1", "2", "unknown"], "marked read"), (["3"], "moved to Done")):  # one statement, any length
        with store.transaction() as tx:
            tx.set_after_action("a", keys, action)
    found = {(e.mailbox, e.message_key): e.after_action for e in store.processing_log()}
    assert found == {("a", "1"): "marked read", ("a", "2"): "marked read", ("a", "3"): "moved to Done", ("b", "1"): None}


# --- people (F-USR-1, F-USR-2) -------------------------------------------------------


def test_user_match_is_case_insensitive_lowest_id_F_USR_1(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.create_user("pat1", email="Pat@Example.COM")
        tx.create_user("pat2", email="pat@example.com")
        accented = tx.create_user("emile", email="Émile@Exämple.org")
    assert store.user_by_email("PAT@example.com").id == first
    assert store.user_by_email(" pat@EXAMPLE.com ").login == "pat1"
    assert store.user_by_email("émile@EXÄMPLE.org").id == accented
    assert store.user_by_email("nobody@example.com") is None
    assert store.user_by_login("pat2").email == "pat@example.com"


def test_organisation_by_domain_is_the_first_match_F_USR_2(store: Store) -> None:
    with store.transaction() as tx:
        first = tx.create_organisation("Acme", domains=["ACME.example", "@acme.test"], shares_tickets=True)
        tx.create_organisation("Acme Two", domains=["acme.example"])
    found = store.organisation_by_domain("Acme.Example")
    assert (found.id, found.shares_tickets, found.domains) == (first, True, ("acme.example", "acme.test"))
    assert store.organisation_by_domain("other.example") is None


def test_groups_and_members(store: Store) -> None:
    with store.transaction() as tx:
        tech = tx.create_user("tech", role="technician")
        group = tx.create_group("Service Desk")
        assert tx.add_member(group, tech) and not tx.add_member(group, tech)
    assert store.group("Service Desk").member_ids == (tech,)
    assert store.user(tech).is_technician
    with pytest.raises(StoreError, match="role"):
        with store.transaction() as tx:
            tx.create_user("bad", role="admin")


# --- tickets, notes, attachments, distribution ----------------------------------------


def test_predicted_ticket_numbers_and_custom_fields_F_TOK_1(store: Store) -> None:
    assert store.next_ticket_number() == 1
    with store.transaction() as tx:
        first = tx.create_ticket("a", number=tx.next_ticket_number())
        second = tx.create_ticket("b")
        tx.set_custom_field(first, "Cost center", "42")
        tx.set_custom_field(first, "Cost center", "43")
        tx.set_custom_field(first, "Asset", "PC-7")
    assert (first, second, store.next_ticket_number()) == (1, 2, 3)
    assert store.custom_fields(first) == {"Asset": "PC-7", "Cost center": "43"}
    with pytest.raises(TransientStoreError, match="ticket number 2 was taken"):
        with store.transaction() as tx:
            tx.create_ticket("predicted before another poller took it", number=2)
    with store.transaction() as tx:
        group = tx.create_group("Desk")
    assert store.group_by_id(group).name == "Desk"


def test_ticket_fields_close_and_reopen_F_REF_4(store: Store, clock: FakeClock) -> None:
    with store.transaction() as tx:
        group = tx.create_group("Desk")
        number = tx.create_ticket("Printer", priority="High", ticket_class="Incident", source_mailbox="help")
    clock.advance(minutes=5)
    with store.transaction() as tx:
        tx.close_ticket(number)
    assert (store.ticket(number).status, store.ticket(number).closed_at) == ("closed", clock.now)
    with store.transaction() as tx:
        tx.reopen_ticket(number, assignee_group_id=group)
    ticket = store.ticket(number)
    assert (ticket.status, ticket.closed_at, ticket.assignee_group_id) == ("open", None, group)
    assert (ticket.priority, ticket.ticket_class, ticket.created_at) == ("High", "Incident", T0)
    with pytest.raises(StoreError, match="unknown ticket fields: colour"):
        with store.transaction() as tx:
            tx.set_ticket_fields(number, colour="red")


def test_ticket_by_message_id_finds_sent_mail_and_stored_notes_F_REF_1(store: Store) -> None:
    with store.transaction() as tx:
        a, b = tx.create_ticket("a"), tx.create_ticket("b")
        tx.enqueue_outbox("user@example.com", [("Subject", "[Ticket#1]")], "hi", "<out.1@mailgate.example>",
                          ticket_number=a, kind="auto_reply")
        tx.record_outgoing_message_id("<out.2@mailgate.example>", a)
        tx.add_note(b, "reply text", html="<p>reply text</p>", message_id=" <in.1@client.example> ",
                    hidden_from_portal=True)
    assert store.ticket_by_message_id("<out.1@mailgate.example>") == a
    assert store.ticket_by_message_id("out.2@mailgate.example") == a
    assert store.ticket_by_message_id("<in.1@client.example>") == b
    assert store.ticket_by_message_id("<unknown@x>") is None
    note = store.notes(b)[0]
    assert (note.html, note.hidden_from_portal, note.message_id) == ("<p>reply text</p>", True, "in.1@client.example")


def test_attachment_content_is_stored_once_by_sha256(store: Store) -> None:
    logo = bytes(range(256)) * 40
    with store.transaction() as tx:
        one, two = tx.create_ticket("one"), tx.create_ticket("two")
        note = tx.add_note(one, "with logo")
        tx.store_attachment(one, logo, filename="logo.png", content_type="image/png", note_id=note,
                            inline=True, content_id="<logo@x>")
        tx.store_attachment(two, logo, filename="copy.png", content_type="image/png")
    with store.transaction() as tx:
        tx.store_attachment(two, logo, filename="again.png")
    assert _count(store, blobs) == 1
    first = store.attachments(one)[0]
    assert (first.filename, first.size, first.inline, first.content_id, first.note_id) == (
        "logo.png", len(logo), True, "logo@x", note)
    assert {a.sha256 for a in store.attachments(two)} == {first.sha256}
    assert store.blob(first.sha256) == logo


def test_distribution_list_F_NEW_3(store: Store) -> None:
    with store.transaction() as tx:
        user = tx.create_user("cc", email="cc@example.com")
        number = tx.create_ticket("x")
        assert tx.add_distribution(number, "CC@example.com", user)
        assert not tx.add_distribution(number, "cc@EXAMPLE.com")
        assert tx.add_distribution(number, "outsider@example.net")
    assert [(d.address, d.user_id) for d in store.distribution_list(number)] == [
        ("CC@example.com", user), ("outsider@example.net", None)]


def test_who_can_see_a_ticket_F_REF_3(store: Store) -> None:
    with store.transaction() as tx:
        sharing = tx.create_organisation("Sharing", shares_tickets=True)
        private = tx.create_organisation("Private")
        req = tx.create_user("req", email="req@s.example", organisation_id=sharing)
        colleague = tx.create_user("colleague", organisation_id=sharing)
        cc = tx.create_user("cc", email="CC@elsewhere.example")
        tech = tx.create_user("tech", role="technician")
        stranger = tx.create_user("stranger")
        preq = tx.create_user("preq", organisation_id=private)
        pcolleague = tx.create_user("pcolleague", organisation_id=private)
        shared, closed_org = tx.create_ticket("a", requester_id=req), tx.create_ticket("b", requester_id=preq)
        tx.add_distribution(shared, "cc@elsewhere.example")
    for user in (req, colleague, cc, tech):
        assert store.can_see_ticket(shared, user)
    assert not store.can_see_ticket(shared, stranger)
    assert store.can_see_ticket(closed_org, preq) and not store.can_see_ticket(closed_org, pcolleague)
    assert not store.can_see_ticket(9999, req)


def test_a_snapshot_does_not_see_later_commits(store: Store) -> None:
    with store.transaction() as tx:
        tx.create_ticket("before")
    with store.snapshot() as view:
        assert len(view.tickets()) == 1
        with store.transaction() as tx:
            tx.create_ticket("during")
        assert len(view.tickets()) == 1
    assert len(store.tickets()) == 2


def test_in_memory_store_for_throwaway_runs() -> None:
    with Store.open("sqlite://") as store:
        with store.transaction() as tx:
            number = tx.create_ticket("dry")
        with store.snapshot() as view:
            assert view.ticket(number).subject == "dry"
        assert [t.number for t in store.tickets(mailbox=None)] == [number]
        assert store.tickets(mailbox="elsewhere") == []


def test_oversized_values_from_mail_are_stored_and_still_match_F_BODY_4(store: Store) -> None:
    huge_id = "<" + "ü" * 3000 + "@spam.example>"
    huge_sender = "x" * 4000 + "@Example.com"
    huge_key = "k" * 5000
    with store.transaction() as tx:
        number = tx.create_ticket("s" * 20000)
        tx.add_note(number, "n", message_id=huge_id, author_address=huge_sender)
        tx.store_attachment(number, b"a", filename="f" * 3000 + ".txt")
        tx.add_distribution(number, huge_sender)
        tx.log_processing("help", huge_key, "create_ticket", "new", ticket_number=number, sender=huge_sender)
        tx.quarantine("help", huge_key, b"raw", "e")
    assert store.ticket_by_message_id(huge_id) == number
    assert store.processed("help", huge_key).ticket_number == number
    assert store.sender_message_count("help", huge_sender.upper(), T0) == 1
    assert store.distribution_list(number)[0].address == huge_sender
    assert len(store.attachments(number)[0].filename) == 3004


def test_nul_and_lone_surrogates_store_alike_on_both_databases_F_BODY_4(store: Store) -> None:
    with store.transaction() as tx:
        number = tx.create_ticket("bad\x00subject")
        tx.add_note(number, "body \udcff end", html="<p>\x00</p>")
        tx.log_processing("help", "k", "create_ticket", "new", [{"text": "\udcfe"}], ticket_number=number)
    note = store.notes(number)[0]
    assert store.ticket(number).subject == "bad\ufffdsubject"
    assert note.text.startswith("body \ufffd") and note.text.endswith(" end") and note.html == "<p>\ufffd</p>"
    assert "\ufffd" in store.processed("help", "k").trace[0]["text"]


def test_outbox_keeps_the_recipient_as_written_F_OUT_1(store: Store) -> None:
    with store.transaction() as tx:
        box_id = tx.enqueue_outbox(" Jane.Doe@Example.com ", [], "x", "<r@x>", kind="auto_reply")
    assert store.outbox_message(box_id).to_addr == "Jane.Doe@Example.com"
    assert store.auto_replies_sent("jane.doe@example.COM", T0) == 1


# --- quarantine (F-FAIL-1) -------------------------------------------------------------


def test_quarantine_keeps_raw_bytes_identical_F_FAIL_1(store: Store) -> None:
    raw = b"From: x\r\nSubject: =?bogus?Q?\xff\xfe?=\r\n\r\n" + bytes(range(256)) + b"\x00\r\n.\r\n"
    with store.transaction() as tx:
        item = tx.quarantine("help", "k1", raw, "charset crash")
    listed = store.quarantined()
    assert [(q.id, q.size, q.raw, q.error) for q in listed] == [(item, len(raw), None, "charset crash")]
    assert store.quarantine_item(item).raw == raw
    with store.transaction() as tx:
        tx.mark_replayed(item)
    assert store.quarantined() == [] and len(store.quarantined(include_replayed=True)) == 1
    with store.transaction() as tx:
        assert tx.quarantine("help", "k1", raw, "still broken") == item
    assert store.quarantined(mailbox="help")[0].error == "still broken"
    assert store.quarantined(mailbox="other") == []


# --- outbox (F-OUT-1, F-OUT-5) -----------------------------------------------------------


@pytest.mark.parametrize("max_attempts", [1, 3, 8])
def test_outbox_retries_on_a_schedule_then_gives_up_after_max_attempts_F_OUT_5(store: Store, clock: FakeClock,
                                                                              max_attempts: int) -> None:
    """settings.smtp.max_attempts: that many failed attempts, the last delay repeated past the table."""
    with store.transaction() as tx:
        box_id = tx.enqueue_outbox("a@example.com", [("Subject", "hi")], "body", "<m1@x>")
    assert [m.id for m in store.due_outbox()] == [box_id]
    delays = [*RETRY_DELAYS, RETRY_DELAYS[-1], RETRY_DELAYS[-1]][:max_attempts - 1]
    for attempt, delay in enumerate(delays, start=1):
        with store.transaction() as tx:
            retry_at = tx.mark_outbox_failed(box_id, "421 try later", max_attempts=max_attempts)
        assert retry_at == clock.now + timedelta(seconds=delay)
        assert store.due_outbox(retry_at - timedelta(seconds=1)) == []
        assert [m.attempts for m in store.due_outbox(retry_at)] == [attempt]
        clock.now = retry_at
    with store.transaction() as tx:
        assert tx.mark_outbox_failed(box_id, "421 still", max_attempts=max_attempts) is None
    message = store.outbox_message(box_id)
    assert (message.status, message.attempts, message.last_error) == ("failed", max_attempts, "421 still")
    assert store.due_outbox(clock.now + timedelta(days=30)) == []


def test_outbox_permanent_failure_and_success_F_OUT_5(store: Store) -> None:
    with store.transaction() as tx:
        bad = tx.enqueue_outbox("a@example.com", [], "x", "<bad@x>")
        good = tx.enqueue_outbox("b@example.com", [], "y", "<good@x>", html="<p>y</p>")
        tx.mark_outbox_failed(bad, "550 no such user", max_attempts=8, permanent=True)
        tx.mark_outbox_sent(good)
    assert store.outbox_message(bad).status == "failed"
    sent = store.outbox_message(good)
    assert (sent.status, sent.attempts, sent.sent_at is not None, sent.html) == ("sent", 1, True, "<p>y</p>")
    assert store.due_outbox() == []


def test_only_one_sender_claims_a_due_message_F_OUT_5(store: Store) -> None:
    with store.transaction() as tx:
        box_id = tx.enqueue_outbox("a@example.com", [], "x", "<c@x>")
    with store.transaction() as tx:
        assert tx.claim_outbox(box_id)
    with store.transaction() as tx:
        assert not tx.claim_outbox(box_id)
    assert store.due_outbox() == []


def test_outbox_refuses_header_injection_F_OUT_4(store: Store) -> None:
    with pytest.raises(StoreError, match="line break"):
        with store.transaction() as tx:
            tx.enqueue_outbox("a@example.com", [("Subject", "hi\r\nBcc: victim@example.com")], "x", "<i@x>")


def test_auto_replies_are_counted_per_address_and_window_F_OUT_1(store: Store, clock: FakeClock) -> None:
    with store.transaction() as tx:
        tx.enqueue_outbox("Sender@Example.com", [], "thanks", "<ar1@x>", kind="auto_reply")
        tx.enqueue_outbox("sender@example.com", [], "notice", "<n1@x>", kind="notice")
    clock.advance(hours=2)
    assert store.auto_replies_sent("SENDER@example.com", T0) == 1
    assert store.auto_replies_sent("sender@example.com", clock.now - timedelta(hours=1)) == 0
    assert store.auto_replies_sent("other@example.com", T0) == 0


# --- monitor and leases (F-MB-11, SPEC 6) -------------------------------------------------


def test_auth_failure_monitor_counts_and_resets_F_MB_11(store: Store) -> None:
    for expected in (1, 2, 3):
        with store.transaction() as tx:
            assert tx.record_auth_failure("help", "AUTHENTICATIONFAILED") == expected
    with store.transaction() as tx:
        number = tx.create_ticket("Email monitor: help cannot log in", source="System - Email Monitor")
        tx.set_monitor_ticket("help", number)
    assert store.monitor_state("help").monitor_ticket == number
    with store.transaction() as tx:
        before = tx.record_auth_success("help")
    assert (before.auth_failures, before.monitor_ticket) == (3, number)
    state = store.monitor_state("help")
    assert (state.auth_failures, state.monitor_ticket) == (0, None)


def test_the_lease_record_says_who_polls_a_mailbox_SPEC_6(store_url: str, clock: FakeClock) -> None:
    """The row is for people (status); the lock in engine/store/leases.py does the excluding."""
    poller_a, poller_b = Store.open(store_url, clock=clock), Store.open(store_url, clock=clock)
    ttl = timedelta(seconds=60)
    with poller_a.transaction() as tx:
        tx.record_lease("help", "poller-a", ttl)
    assert (poller_b.lease("help").holder, poller_b.lease("help").expires_at) == ("poller-a", T0 + ttl)
    clock.advance(seconds=30)
    with poller_a.transaction() as tx:
        assert tx.renew_lease("help", "poller-a", ttl)
    assert poller_b.lease("help").expires_at == T0 + timedelta(seconds=90)
    with poller_b.transaction() as tx:  # poller-a died holding it; poller-b took its lock
        tx.record_lease("help", "poller-b", ttl)
    with poller_a.transaction() as tx:
        assert not tx.renew_lease("help", "poller-a", ttl)
        assert not tx.release_lease("help", "poller-a")
    with poller_b.transaction() as tx:
        assert tx.release_lease("help", "poller-b")
    assert poller_a.lease("help") is None
    poller_a.close()
    poller_b.close()


# --- directory import --------------------------------------------------------------------

DIRECTORY_YAML = """\
version: 1
organisations:
  - name: Acme Ltd
    domains: [acme.example, acme.test]
    shares_tickets: true
users:
  - login: alice
    name: Alice Example
    email: Alice@Acme.example
    role: technician
    organisation: Acme Ltd
    location: HQ
  - login: bob
    email: bob@acme.example
groups:
  - name: Service Desk
    members: [alice, bob]
"""


def test_directory_import_from_yaml(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "directory.yaml"
    path.write_text(DIRECTORY_YAML)
    summary = import_directory(store, path)
    assert summary.created == {"organisations": 1, "users": 2, "groups": 1}
    alice = store.user_by_email("alice@acme.example")
    org = store.organisation_by_domain("acme.test")
    assert (alice.name, alice.role, alice.organisation_id, alice.location) == ("Alice Example", "technician", org.id, "HQ")
    assert org.shares_tickets
    assert store.group("Service Desk").member_ids == (alice.id, store.user_by_login("bob").id)
    again = import_directory(store, path)
    assert again.created == {"organisations": 0, "users": 0, "groups": 0}
    assert again.updated == {"organisations": 1, "users": 2, "groups": 1}
    assert len(store.users()) == 2


def test_directory_import_from_csv(store: Store, tmp_path: Path) -> None:
    orgs = tmp_path / "orgs.csv"
    orgs.write_text("name,domains,shares_tickets\nAcme Ltd,acme.example;acme.test,yes\nOther,other.example,no\n")
    people = tmp_path / "users.csv"
    people.write_text("login,name,email,role,organisation\n"
                      "alice,\"Example, Alice\",alice@acme.example,technician,Acme Ltd\n"
                      "carol,Carol,carol@other.example,,Other\n")
    groups = tmp_path / "groups.csv"
    groups.write_text("name,members\nService Desk,alice carol\n")
    for path in (orgs, people, groups):
        import_directory(store, path)
    alice = store.user_by_email("ALICE@acme.example")
    assert (alice.name, alice.role) == ("Example, Alice", "technician")
    assert store.user_by_login("carol").role == "requester"
    assert store.organisation_by_domain("acme.test").shares_tickets
    assert not store.organisation_by_domain("other.example").shares_tickets
    assert len(store.group("Service Desk").member_ids) == 2


def test_directory_import_reports_every_problem_and_writes_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("users:\n  - login: ok\n    organisation: Nowhere\n"
                    "  - name: no login\n  - login: x\n    role: admin\n    colour: red\n")
    with pytest.raises(DirectoryError) as caught:
        import_directory(store, path)
    problems = "\n".join(caught.value.problems)
    assert f"{path}:4: users entry without 'login'" in problems
    assert f"{path}:5: role 'admin'" in problems and "unknown field 'colour'" in problems
    path.write_text("users:\n  - login: ok\n    organisation: Nowhere\n")
    with pytest.raises(DirectoryError, match="organisation 'Nowhere' does not exist"):
        import_directory(store, path)
    assert store.users() == []


# --- the PostgreSQL fixture itself --------------------------------------------------------


def test_missing_postgres_skips_locally_but_fails_in_ci(monkeypatch) -> None:
    from tests.servers.postgres import missing

    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="install it with"):
        missing("PostgreSQL is not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="install it with"):
        missing("PostgreSQL is not installed")

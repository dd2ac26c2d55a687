"""The EWS source: the real exchangelib stack against recorded Exchange SOAP responses on loopback HTTPS.

SPEC IDs proved here: F-FAIL-3, F-MB-1, F-MB-11, F-MB-4, F-MB-5, F-MB-8, F-MB-9, F-PRE-2.
"""

from __future__ import annotations

import base64

import pytest
import requests

from engine.errors import AuthError, SourceError
from engine.sources.oauth import OAuthSettings, TokenProvider
from engine.sources import ews_http
from engine.sources.base import AfterAction
from engine.sources.ews import EwsSettings, EwsSource
from tests.servers.ewsfake import Exchange
from tests.servers.graphfake import CLIENT_ID, GOOD_SECRET, TENANT, Entra
from tests.servers.msfake import msfake, msfake_server  # noqa: F401  (fixtures)
from tests.polltools import fetch_batches
from tests.secretwatch import secret

pytestmark = pytest.mark.ews
ADDRESS = "help@contoso.example"
LOGIN, PASSWORD = "CONTOSO\\helpdesk", secret("Winter-2026!")
ACK_OPS = {"UpdateItem", "MoveItem", "DeleteItem"}


@pytest.fixture
def exchange(msfake):  # noqa: F811
    ex = Exchange(msfake, Entra(msfake))
    ex.mailbox(ADDRESS, LOGIN, PASSWORD)
    return ex


def settings(msfake, exchange, **kw) -> EwsSettings:  # noqa: F811
    base = dict(email=ADDRESS, username="helpdesk", domain="CONTOSO", password=PASSWORD, autodiscover=False,
                endpoint_url=exchange.ews_url, ca_file=msfake.ca_file, version="Exchange2016", page_size=2)
    base.update(kw)
    return EwsSettings(**base)


def source(msfake, exchange, **kw) -> EwsSource:  # noqa: F811
    return EwsSource(settings(msfake, exchange, **kw))


def test_autodiscover_finds_the_ews_endpoint_F_MB_5(msfake, exchange):  # noqa: F811
    ids = exchange.mailbox(ADDRESS).add(2)
    src = source(msfake, exchange, autodiscover=True, endpoint_url=None, version=None,
                 autodiscover_url=exchange.autodiscover_url)
    keys = [f.key for b in fetch_batches(src, 10, 10) for f in b]
    assert keys == ids
    assert src.account().protocol.service_endpoint == exchange.ews_url
    assert msfake.seen("POST", "GetUserSettings") and msfake.seen("POST", "ExternalEwsUrl")


def test_explicit_server_builds_the_ews_url_F_MB_5(msfake, exchange):  # noqa: F811
    src = source(msfake, exchange, endpoint_url=None, server=f"127.0.0.1:{msfake.port}")
    assert src.server == exchange.ews_url
    assert src.test_connection().ok


def test_paging_and_mime_retrieval_F_MB_1(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    ids = box.add(5)
    batches = list(fetch_batches(source(msfake, exchange), max_messages=100, batch_size=3))
    assert [[f.key for f in b] for b in batches] == [ids[:3], ids[3:]]
    assert batches[0][0].raw == box.items[ids[0]].mime
    assert exchange.operations.count("FindItem") == 3  # pages of 2, 2 and 1
    assert exchange.operations.count("GetItem") == 2  # one GetItem per batch
    assert msfake.seen("POST", 'FieldURI="item:MimeContent"')


def test_max_messages_limits_the_listing_F_MB_8(msfake, exchange):  # noqa: F811
    exchange.mailbox(ADDRESS).add(5)
    assert sum(len(b) for b in fetch_batches(source(msfake, exchange), max_messages=3, batch_size=10)) == 3


def test_nothing_acknowledged_before_ack_F_MB_9(msfake, exchange):  # noqa: F811
    """Crash safety: listing and MIME download send no UpdateItem/MoveItem/DeleteItem."""
    box = exchange.mailbox(ADDRESS)
    box.add(4)
    src = source(msfake, exchange)
    assert sum(len(b) for b in fetch_batches(src, 10, 2)) == 4
    assert not ACK_OPS & set(exchange.operations)
    assert all(not i.is_read for i in box.items.values())


def test_mark_read_in_one_bulk_update_F_MB_9(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    ids = box.add(3)
    src = source(msfake, exchange)
    keys = [f.key for b in fetch_batches(src, 10, 10) for f in b]
    report = src.ack(keys, AfterAction.mark_read())
    assert report.ok and report.done == tuple(ids)
    assert exchange.operations.count("UpdateItem") == 1
    assert all(box.items[i].is_read for i in ids)
    assert list(fetch_batches(src, 10, 10)) == []


def test_delete_moves_to_deleted_items_in_bulk_F_MB_9(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    ids = box.add(3)
    report = source(msfake, exchange).ack(ids, AfterAction.delete())
    assert report.ok and exchange.operations.count("DeleteItem") == 1
    assert all(box.items[i].folder == box.distinguished["deleteditems"] for i in ids)
    assert msfake.seen("POST", 'DeleteType="MoveToDeletedItems"')


def test_move_reports_missing_folder_then_creates_it_F_MB_9(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    ids = box.add(2)
    src = source(msfake, exchange)
    kept = src.ack(ids, AfterAction.move("Processed"))
    assert kept.kept == tuple(ids) and "does not exist" in kept.problems[0]
    assert "MoveItem" not in exchange.operations
    done = source(msfake, exchange).ack(ids, AfterAction.move("Processed", create_folder=True))
    assert done.ok and exchange.operations.count("MoveItem") == 1
    target = box.folder_named("Processed")
    assert target and box.folders[target][1] == box.distinguished["msgfolderroot"]  # beside the Inbox
    assert sorted(i.folder for i in box.items.values()) == [target, target]


def test_item_gone_meanwhile_is_stale_F_MB_9(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    ids = box.add(2)
    del box.items[ids[0]]
    report = source(msfake, exchange).ack(ids, AfterAction.mark_read())
    assert report.stale == (ids[0],) and report.done == (ids[1],)


def test_meeting_requests_and_reports_are_fetched_like_mail_F_PRE_2(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    box.add(1, item_type="MeetingRequest", subject="Invitation: review")
    box.add(1, item_type="Message", subject="Automatic reply: away")
    raws = [f.raw for b in fetch_batches(source(msfake, exchange), 10, 10) for f in b]
    assert len(raws) == 2 and b"Invitation: review 0" in raws[0]


def test_wrong_password_is_auth_failure_F_MB_11(msfake, exchange):  # noqa: F811
    report = source(msfake, exchange, password="wrong").test_connection()
    assert not report.ok and report.auth_failed
    with pytest.raises(AuthError):
        list(fetch_batches(source(msfake, exchange, password="wrong"), 10, 10))


def test_ntlm_refused_when_not_allowed_seed_002(msfake, exchange):  # noqa: F811
    exchange.offered = ["NTLM", "Negotiate"]
    report = source(msfake, exchange).test_connection()
    assert not report.ok and report.auth_failed and "only NTLM" in report.error
    assert not [r for r in msfake.requests if r.headers.get("authorization", "").startswith(("NTLM", "Negotiate"))]
    with pytest.raises(SourceError, match="allow_ntlm is false"):
        source(msfake, exchange, auth=("ntlm",)).account()


def test_ntlm_never_leaves_the_adapter_when_refused_seed_002(msfake):  # noqa: F811
    ews_http.register(msfake.url, ews_http.HostPolicy(msfake.ca_file, allow_ntlm=False))
    session = requests.Session()
    session.mount("https://", ews_http.PolicyAdapter())
    with pytest.raises(ews_http.NtlmRefused):
        session.post(msfake.url + "/EWS/Exchange.asmx", headers={"Authorization": "NTLM TlRMTVNTUAABAAAA"})
    assert msfake.requests == []


def test_basic_preferred_over_ntlm_without_allow_ntlm_seed_002(msfake, exchange):  # noqa: F811
    src = source(msfake, exchange)
    assert src.test_connection().auth_mechanism == "basic"


def test_shared_mailbox_with_delegate_access_seed_002(msfake, exchange):  # noqa: F811
    shared = exchange.mailbox("support@contoso.example")
    shared.delegates.add(LOGIN)
    ids = shared.add(2)
    exchange.mailbox(ADDRESS).add(3)
    src = source(msfake, exchange, shared_mailbox="support@contoso.example")
    assert [f.key for b in fetch_batches(src, 10, 10) for f in b] == ids
    assert msfake.seen("POST", "<t:EmailAddress>support@contoso.example</t:EmailAddress>")
    assert src.ack(ids, AfterAction.mark_read()).ok
    shared.delegates.clear()
    report = source(msfake, exchange, shared_mailbox="support@contoso.example").test_connection()
    assert not report.ok and report.auth_failed and "ErrorAccessDenied" in report.error + report.server_text


def test_certificate_checked_by_default_seed_004(msfake, exchange):  # noqa: F811
    report = source(msfake, exchange, ca_file=None).test_connection()
    assert not report.ok and "certificate" in report.error.lower() and not report.auth_failed
    assert source(msfake, exchange).test_connection().ok  # with the CA that signed it


def test_oauth_client_credentials_with_impersonation_F_MB_4(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    ids = box.add(2)
    tokens = TokenProvider(OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, client_secret=GOOD_SECRET,
                                         authority_host=msfake.url, ca_file=msfake.ca_file), protocol="ews")
    src = EwsSource(settings(msfake, exchange, username=None, password=None), tokens)
    assert [f.key for b in fetch_batches(src, 10, 10) for f in b] == ids
    assert src.ack(ids, AfterAction.mark_read()).ok
    soap = msfake.seen("POST", "ExchangeImpersonation")
    assert soap and all(r.headers["authorization"].startswith("Bearer ") for r in soap)
    assert exchange.entra.scopes[0].startswith("https://outlook.office365.com/.default")
    report = src.test_connection()
    assert report.ok and report.auth_mechanism == "OAuth 2.0" and "token_valid_seconds" in report.extra


def test_revoked_token_is_replaced_F_MB_4(msfake, exchange):  # noqa: F811
    exchange.mailbox(ADDRESS).add(1)
    tokens = TokenProvider(OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, client_secret=GOOD_SECRET,
                                         authority_host=msfake.url, ca_file=msfake.ca_file), protocol="ews")
    src = EwsSource(settings(msfake, exchange, username=None, password=None), tokens)
    src.test_connection()
    exchange.entra.revoked.update(exchange.entra.issued)
    assert sum(len(b) for b in fetch_batches(src, 10, 10)) == 1
    assert len(exchange.entra.issued) == 2


def test_login_with_domain_and_basic_header_F_MB_5(msfake, exchange):  # noqa: F811
    src = source(msfake, exchange)
    src.test_connection()
    auth = [r.headers["authorization"] for r in msfake.requests if "authorization" in r.headers][0]
    assert base64.b64decode(auth.split()[1]).decode() == f"{LOGIN}:{PASSWORD}"


def test_server_busy_fails_this_poll_without_acking_F_FAIL_3(msfake, exchange):  # noqa: F811
    """EWS throttling (ErrorServerBusy) is a SourceError for the poller's backoff, not an auth failure."""
    exchange.mailbox(ADDRESS).add(2)
    src = source(msfake, exchange)
    src.test_connection()
    exchange.busy = 1
    with pytest.raises(SourceError) as err:
        list(fetch_batches(src, 10, 10))
    assert not isinstance(err.value, AuthError) and "ErrorServerBusy" in err.value.server_text
    assert sum(len(b) for b in fetch_batches(src, 10, 10)) == 2  # the next poll works


def test_subfolder_path_is_read_F_MB_1(msfake, exchange):  # noqa: F811
    box = exchange.mailbox(ADDRESS)
    sub = "c3ViZm9sZGVyLWhlbHBkZXNr"
    box.folders[sub] = ("Helpdesk", box.distinguished["inbox"])
    ids = box.add(2)
    box.add(1)  # stays in the Inbox itself
    for i in ids:
        box.items[i].folder = sub
    src = source(msfake, exchange, folder="Inbox/Helpdesk")
    assert [f.key for b in fetch_batches(src, 10, 10) for f in b] == ids
    assert "FindFolder" in exchange.operations
    assert source(msfake, exchange, folder="Inbox/Nope").test_connection().error.find("not found") > 0


def test_oauth_with_autodiscover_F_MB_5(msfake, exchange):  # noqa: F811
    ids = exchange.mailbox(ADDRESS).add(1)
    tokens = TokenProvider(OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, client_secret=GOOD_SECRET,
                                         authority_host=msfake.url, ca_file=msfake.ca_file), protocol="ews")
    src = EwsSource(settings(msfake, exchange, username=None, password=None, autodiscover=True, endpoint_url=None,
                             version=None, autodiscover_url=exchange.autodiscover_url), tokens)
    assert [f.key for b in fetch_batches(src, 10, 10) for f in b] == ids
    discover = msfake.seen("POST", "GetUserSettings")
    assert discover and discover[0].headers["authorization"].startswith("Bearer ")

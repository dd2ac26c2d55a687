"""The Graph source and the OAuth token provider against recorded Entra ID and Graph responses on loopback HTTPS.

SPEC IDs proved here: F-FAIL-3, F-MB-1, F-MB-11, F-MB-3, F-MB-4, F-MB-7, F-MB-9.
"""

from __future__ import annotations

import pytest

from engine.errors import AuthError, SourceError
from engine.sources.oauth import OAuthSettings, TokenProvider, credential_expiry
from engine.sources.base import AfterAction
from engine.sources.graph import GraphSettings, GraphSource, graph_base_url
from tests.servers.graphfake import CLIENT_ID, EXPIRED_SECRET, GOOD_SECRET, TENANT, Entra, Graph
from tests.servers.msfake import Reply, msfake, msfake_server  # noqa: F401  (fixtures)
from engine.run.fetching import FetchPlan
from tests.polltools import fetch_batches

pytestmark = pytest.mark.graph
USER = "helpdesk@contoso.example"
ACKS = ("PATCH", "DELETE")


@pytest.fixture
def entra(msfake):  # noqa: F811
    return Entra(msfake)


@pytest.fixture
def graph(msfake, entra):  # noqa: F811
    g = Graph(msfake, entra)
    g.mailbox(USER)
    return g


def tokens(msfake, secret=GOOD_SECRET, **kw) -> TokenProvider:  # noqa: F811
    settings = OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, client_secret=secret,
                             authority_host=msfake.url, ca_file=msfake.ca_file, **kw)
    return TokenProvider(settings, protocol="graph")


def source(msfake, graph, user=USER, secret=GOOD_SECRET, **kw) -> GraphSource:  # noqa: F811
    settings = GraphSettings(user=user, base_url=graph.base_url, ca_file=msfake.ca_file, **kw)
    return GraphSource(settings, tokens(msfake, secret), sleep=lambda s: waits.append(s))


waits: list[float] = []


def acks_seen(msfake) -> list:  # noqa: F811
    """Requests that change the mailbox: PATCH, DELETE, POST …/move, or any $batch."""
    return [r for r in msfake.requests if r.method in ACKS or "/move" in r.path or "$batch" in r.path]


def test_token_is_cached_and_refreshed_before_expiry_F_MB_4(msfake, entra):  # noqa: F811
    now = [1_000_000.0]
    provider = TokenProvider(tokens(msfake).settings, protocol="graph", clock=lambda: now[0])
    first = provider()
    assert provider() == first and provider.fetches == 1
    now[0] += 3599 - 301  # more than the 5-minute margin left: still the cached token
    assert provider() == first
    now[0] += 2  # inside the margin: a new one is fetched before the old one runs out
    assert provider() != first and provider.fetches == 2
    assert entra.scopes[-1].startswith("https://graph.microsoft.com/.default")


def test_token_never_shows_in_repr_or_str_F_MB_4(msfake, entra):  # noqa: F811
    provider = tokens(msfake)
    token = provider.token()
    for text in (repr(provider), str(provider), repr(token), str(token), repr(provider.settings)):
        assert token.value not in text and GOOD_SECRET not in text


def test_expired_secret_is_auth_error_with_aadsts_text_F_MB_11(msfake, entra):  # noqa: F811
    with pytest.raises(AuthError) as err:
        tokens(msfake, EXPIRED_SECRET)()
    assert "AADSTS7000222" in str(err.value) and "expired" in err.value.hint
    assert err.value.server_text.startswith("AADSTS7000222")


def test_wrong_secret_is_auth_error_with_aadsts_text_F_MB_11(msfake, entra):  # noqa: F811
    with pytest.raises(AuthError) as err:
        tokens(msfake, "wrong")()
    assert "AADSTS7000215" in str(err.value) and "Value, not its Secret ID" in err.value.hint


def test_wrong_secret_fails_test_connection_as_auth_failure_F_MB_7(msfake, graph):  # noqa: F811
    report = source(msfake, graph, secret="wrong").test_connection()
    assert not report.ok and report.auth_failed and "AADSTS7000215" in report.server_text


def test_test_connection_counts_and_reports_token_health_F_MB_7(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    ids = box.add(3)
    box.items[ids[0]].is_read = True
    report = source(msfake, graph).test_connection()
    assert report.ok, report.error
    assert (report.message_count, report.unread_count) == (3, 2)
    assert 3000 < report.extra["token_valid_seconds"] <= 3599
    assert "Application.Read.All" in report.extra["secret_expiry"]


def test_self_signed_server_refused_without_ca_file_F_MB_3(msfake, graph):  # noqa: F811
    graph.mailbox(USER).add(1)
    settings = GraphSettings(user=USER, base_url=graph.base_url)  # system CAs only
    src = GraphSource(settings, tokens(msfake))
    with pytest.raises(SourceError) as err:
        list(fetch_batches(src, 10, 10))
    assert "certificate" in str(err.value).lower()
    with pytest.raises(SourceError):
        TokenProvider(OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, client_secret=GOOD_SECRET,
                                    authority_host=msfake.url))()


def test_paging_follows_next_link_and_fetches_mime_F_MB_1(msfake, graph):  # noqa: F811
    ids = graph.mailbox(USER).add(7)
    src = source(msfake, graph, page_size=3)
    batches = list(fetch_batches(src, max_messages=100, batch_size=4))
    assert [len(b) for b in batches] == [4, 3]
    assert [f.key for b in batches for f in b] == ids
    assert batches[0][0].raw.startswith(b"Received: ") and b"Subject: Printer broken 0\r\n" in batches[0][0].raw
    assert len(msfake.seen("GET", "/messages?")) + len(msfake.seen("GET", "$skip")) >= 3  # three pages
    assert msfake.requests[-1].headers["prefer"] == 'IdType="ImmutableId"'


def test_nothing_acknowledged_before_ack_F_MB_9(msfake, graph):  # noqa: F811
    """Crash safety: fetching (all pages, all MIME) never marks, moves or deletes anything."""
    box = graph.mailbox(USER)
    box.add(5)
    src = source(msfake, graph, page_size=2)
    fetched = [f for b in fetch_batches(src, 100, 2) for f in b]
    assert len(fetched) == 5 and acks_seen(msfake) == []
    assert all(not i.is_read for i in box.items.values())


def test_mark_read_in_one_batch_F_MB_9(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    ids = box.add(3)
    src = source(msfake, graph)
    keys = [f.key for b in fetch_batches(src, 10, 10) for f in b]
    report = src.ack(keys, AfterAction.mark_read())
    assert report.ok and set(report.done) == set(ids)
    assert all(box.items[i].is_read for i in ids)
    assert len(msfake.seen("POST", "$batch")) == 1
    assert list(fetch_batches(src, 10, 10)) == []  # unread only: nothing left


def test_ack_uses_batches_of_twenty_F_MB_9(msfake, graph):  # noqa: F811
    ids = graph.mailbox(USER).add(45)
    report = source(msfake, graph).ack(ids, AfterAction.delete())
    assert report.ok and len(report.done) == 45
    batches = msfake.seen("POST", "$batch")
    assert [len(r.json()["requests"]) for r in batches] == [20, 20, 5]
    assert graph.mailbox(USER).items == {}


def test_move_creates_folder_when_allowed_else_reports_F_MB_9(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    ids = box.add(2)
    src = source(msfake, graph)
    kept = src.ack(ids, AfterAction.move("Processed"))
    assert kept.kept == tuple(ids) and "does not exist" in kept.problems[0]
    assert not msfake.seen("POST", "$batch")
    done = src.ack(ids, AfterAction.move("Processed", create_folder=True))
    assert done.ok
    target = next(fid for fid, name in box.folders.items() if name == "Processed")
    assert all(box.items[i].folder == target for i in ids)
    # A second move to the same folder finds it by display name instead of creating it again.
    again = source(msfake, graph).ack(box.add(1), AfterAction.move("Processed"))
    assert again.ok and list(box.folders.values()).count("Processed") == 1


def test_message_gone_meanwhile_is_stale_not_failure_F_MB_9(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    ids = box.add(2)
    del box.items[ids[0]]
    report = source(msfake, graph).ack(ids, AfterAction.mark_read())
    assert report.done == (ids[1],) and report.stale == (ids[0],)


def test_throttling_honours_retry_after_F_FAIL_3(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    box.add(2)
    box.throttle = 2
    waits.clear()
    fetched = [f for b in fetch_batches(source(msfake, graph), 10, 10) for f in b]
    assert len(fetched) == 2 and waits == [1.0, 1.0]
    assert len([r for r in msfake.requests if "/messages" in r.path]) >= 3


def test_throttled_sub_requests_in_batch_are_retried_F_FAIL_3(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    ids = box.add(3)
    box.batch_throttle = 2
    waits.clear()
    report = source(msfake, graph).ack(ids, AfterAction.mark_read())
    assert report.ok and waits == [1.0]
    assert [len(r.json()["requests"]) for r in msfake.seen("POST", "$batch")] == [3, 2]


def test_transient_5xx_bounded_retries_then_error_F_FAIL_3(msfake, graph):  # noqa: F811
    box = graph.mailbox(USER)
    box.add(1)
    box.failures = 2
    assert len(list(fetch_batches(source(msfake, graph, max_retries=2), 10, 10))[0]) == 1
    box.failures = 10
    with pytest.raises(SourceError) as err:
        list(fetch_batches(source(msfake, graph, max_retries=2), 10, 10))
    assert not isinstance(err.value, AuthError) and "after 2 retries" in str(err.value)


def test_expired_token_is_refreshed_once_F_MB_4(msfake, graph, entra):  # noqa: F811
    graph.mailbox(USER).add(1)
    src = source(msfake, graph)
    src.access_tokens()
    entra.revoked.add(entra.issued[-1])  # Graph now says the token expired
    assert len(list(fetch_batches(src, 10, 10))[0]) == 1
    assert len(entra.issued) == 2


def test_token_refused_after_refresh_is_auth_error_with_graph_code_F_MB_11(msfake, graph, entra):  # noqa: F811
    graph.mailbox(USER).add(1)
    src = source(msfake, graph)
    real_valid = entra.valid
    entra.valid = lambda token: False  # every token refused, even fresh ones
    try:
        with pytest.raises(AuthError) as err:
            list(fetch_batches(src, 10, 10))
    finally:
        entra.valid = real_valid
    assert "InvalidAuthenticationToken" in str(err.value) and "token is expired" in err.value.server_text
    assert len(entra.issued) == 2  # exactly one refresh


def test_shared_mailbox_is_read_by_user_address_F_MB_1(msfake, graph):  # noqa: F811
    shared = graph.mailbox("support.shared@contoso.example")
    ids = shared.add(2)
    graph.mailbox(USER).add(3)
    src = source(msfake, graph, user="support.shared@contoso.example")
    assert [f.key for b in fetch_batches(src, 10, 10) for f in b] == ids
    assert all("/users/support.shared%40contoso.example/" in r.path or "$batch" in r.path
               for r in msfake.requests if r.path.startswith("/v1.0"))


def test_unknown_mailbox_names_graph_error(msfake, graph):  # noqa: F811
    with pytest.raises(SourceError) as err:
        list(fetch_batches(source(msfake, graph, user="nobody@contoso.example"), 10, 10))
    assert "ErrorInvalidUser" in str(err.value)


def test_national_cloud_endpoints():
    assert graph_base_url("usgov") == "https://graph.microsoft.us/v1.0"
    assert graph_base_url("china") == "https://microsoftgraph.chinacloudapi.cn/v1.0"
    settings = OAuthSettings(client_id="c", tenant_id="t", client_secret="s", cloud="usgov-dod")
    assert settings.authority == "https://login.microsoftonline.us/t"


def test_credential_expiry_says_what_is_missing(msfake, graph):  # noqa: F811
    info = credential_expiry(tokens(msfake), graph.base_url)
    assert "unknown" in info  # the fake, like a mail-only app, has no Application.Read.All


def _key_and_certificate(days: int = 90) -> tuple[str, str]:
    """A PEM private key followed by its self-signed certificate, as admins keep them in one file."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailgate app")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    thumbprint = cert.fingerprint(hashes.SHA1()).hex().upper()
    return pem_key + cert.public_bytes(serialization.Encoding.PEM).decode(), thumbprint


def test_certificate_credential_signs_an_assertion_and_reports_expiry_F_MB_4(msfake, entra):  # noqa: F811
    import jwt

    pem, thumbprint = _key_and_certificate(days=30)
    provider = TokenProvider(OAuthSettings(client_id=CLIENT_ID, tenant_id=TENANT, private_key=pem,
                                           thumbprint=thumbprint, authority_host=msfake.url,
                                           ca_file=msfake.ca_file), protocol="graph")
    provider()
    form = msfake.seen("POST", "client_assertion=")[-1].text
    assertion = dict(p.split("=", 1) for p in form.split("&"))["client_assertion"]
    header = jwt.get_unverified_header(assertion)
    assert header["alg"] == "RS256" and "x5t" in header  # msal names the certificate by its thumbprint
    health = provider.health()
    assert 28 <= health["certificate_valid_days"] <= 30 and "secret_expiry" not in health


def test_google_service_account_uses_a_signed_jwt_grant(msfake):  # noqa: F811
    import jwt
    from urllib.parse import parse_qs

    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    pem, _ = _key_and_certificate()
    public = load_pem_private_key(pem.split("-----BEGIN CERTIFICATE")[0].encode(), None).public_key()
    url = msfake.url + "/token"
    msfake.on(lambda req: Reply(200, {"access_token": "ya29.fake", "expires_in": 3599})
              if req.path == "/token" else None)
    provider = TokenProvider(OAuthSettings(client_id="mail@proj.iam.gserviceaccount.com", provider="google",
                                           private_key=pem, token_url=url, subject="helpdesk@example.org",
                                           ca_file=msfake.ca_file))
    assert provider() == "ya29.fake"
    form = {k: v[0] for k, v in parse_qs(msfake.seen("POST", "/token")[-1].text).items()}
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], public, algorithms=["RS256"], audience=url)
    assert claims["sub"] == "helpdesk@example.org" and claims["scope"] == "https://mail.google.com/"


def test_credential_expiry_read_from_graph_when_permitted(msfake, graph):  # noqa: F811
    from tests.servers.msfake import fixture_json

    msfake.on(lambda req: Reply(200, fixture_json("graph", "application-credentials.json", base=graph.base_url))
              if req.path.startswith(f"/v1.0/applications(appId='{CLIENT_ID}')") else None)
    info = credential_expiry(tokens(msfake), graph.base_url)
    assert info["secrets"] == [{"name": "mailgate poller", "ends": "2027-05-23T15:00:00Z"}]
    assert info["certificates"][0]["ends"] == "2027-11-23T15:00:00Z"


def test_token_endpoint_outage_is_not_an_auth_failure_F_MB_11(msfake):  # noqa: F811
    msfake.on(lambda req: Reply(503, b"upstream down") if req.path == "/token" else None)
    provider = TokenProvider(OAuthSettings(client_id="c", client_secret="s", provider="generic",
                                           token_url=msfake.url + "/token", ca_file=msfake.ca_file))
    with pytest.raises(SourceError) as err:
        provider()
    assert not isinstance(err.value, AuthError) and "HTTP 503" in str(err.value)


def test_generic_provider_error_is_auth_error_with_its_words_F_MB_11(msfake):  # noqa: F811
    msfake.on(lambda req: Reply(400, {"error": "invalid_client", "error_description": "Client authentication failed"})
              if req.path == "/token" else None)
    provider = TokenProvider(OAuthSettings(client_id="c", client_secret="s", provider="generic",
                                           token_url=msfake.url + "/token", ca_file=msfake.ca_file))
    with pytest.raises(AuthError) as err:
        provider()
    assert err.value.server_text == "Client authentication failed"


def test_short_lived_tokens_are_still_reused_F_MB_4(msfake, entra):  # noqa: F811
    entra.expires_in = 120  # shorter than the 5-minute margin: refresh at half-life instead
    now = [1_000_000.0]
    provider = TokenProvider(tokens(msfake).settings, protocol="graph", clock=lambda: now[0])
    first = provider()
    now[0] += 59
    assert provider() == first
    now[0] += 2
    assert provider() != first and provider.fetches == 2


def test_processed_mail_never_stalls_the_budget_F_MB_8(msfake, graph):  # noqa: F811
    """fetch: all with more logged mail than max_messages: the poller skips before counting, so new mail is reached."""
    ids = graph.mailbox(USER).add(8)
    src = source(msfake, graph, unread_only=False, page_size=3)
    logged = set(ids[:6])  # processed earlier, still in the folder (mark_read, fetch: all)
    found = FetchPlan()
    keys = [f.key for b in fetch_batches(src, 2, 10, skip=logged.__contains__, found=found) for f in b]
    assert keys == ids[6:] and sorted(found.logged) == sorted(logged)


def test_arrival_time_comes_from_received_date_time(msfake, graph):  # noqa: F811
    graph.mailbox(USER).add(1)
    (item,) = [f for b in fetch_batches(source(msfake, graph), 10, 10) for f in b]
    assert item.arrived is not None and item.arrived.tzinfo is not None

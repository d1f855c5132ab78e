"""Connect and callback views: state, PKCE, next, provider errors, identity.

The browser is Django's test client; the provider is a loopback fake reached
over real HTTP for the code exchange, userinfo, discovery and JWKS.
"""

import base64
import hashlib

import pytest
from django.test import Client

from integrations import oauth_flow
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration
from tests.dbutil import raw_column
from tests.fake_provider import closed_port_url
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    bob,
    browser,
    callback,
    consent,
    fake,
    make_provider,
    pending,
    provider,
    start,
)

pytestmark = pytest.mark.django_db


def rejections():
    return list(AuditEvent.objects.filter(action="state_rejected").values_list("detail", flat=True))


# -- connect -----------------------------------------------------------------------


def test_connect_needs_login(provider):
    response = Client().get("/integrations/connect/fake/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_connect_unknown_or_inactive_provider_is_404(browser, provider):
    assert browser.get("/integrations/connect/nope/").status_code == 404
    provider.status = "inactive"
    provider.save()
    assert browser.get("/integrations/connect/fake/").status_code == 404


def test_connect_redirects_with_state_and_pkce_s256(browser, provider, fake):
    location, query = start(browser)
    assert location.startswith(fake.authorize_url + "?")
    assert query["response_type"] == "code"
    assert query["client_id"] == fake.client_id
    assert query["redirect_uri"] == "http://testserver/integrations/callback/fake/"
    assert query["scope"] == "read"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 43
    [(digest, entry)] = pending(browser).items()
    # The session keeps a digest of the state, never the state itself.
    assert digest == hashlib.sha256(query["state"].encode()).hexdigest()
    assert query["state"] not in str(browser.session.items())
    challenge = base64.urlsafe_b64encode(hashlib.sha256(entry["v"].encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == challenge.decode()
    assert entry["v"] not in location
    assert "nonce" not in query  # no openid scope


def test_each_connect_gets_a_new_state(browser, provider):
    states = {start(browser)[1]["state"] for _ in range(3)}
    assert len(states) == 3 and len(pending(browser)) == 3


def test_pkce_unsupported_sends_no_challenge(browser, fake):
    make_provider(fake, pkce="unsupported")
    _, query = start(browser)
    assert "code_challenge" not in query
    response = callback(browser, code="the-code", state=query["state"])
    assert response.status_code == 302
    assert "code_verifier" not in fake.requests_to("/token")[0]["form"]


def test_preset_authorize_params_are_sent_but_cannot_override_the_flow(browser, fake):
    make_provider(
        fake,
        metadata={
            "authorize_params": {"access_type": "offline", "state": "x", "code_challenge": "x"}
        },
    )
    _, query = start(browser)
    assert query["access_type"] == "offline"
    assert query["state"] != "x" and query["code_challenge"] != "x"


def test_openid_scope_sends_a_nonce(browser, fake):
    make_provider(fake, default_scopes=["openid", "email"])
    _, query = start(browser)
    assert query["nonce"] == next(iter(pending(browser).values()))["n"]


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http:evil.example",
        "javascript:alert(1)",
        "https://testserver.evil.example/",
    ],
)
def test_open_redirect_in_next_is_refused(browser, provider, next_url):
    response = browser.get("/integrations/connect/fake/", {"next": next_url})
    assert response.status_code == 400
    assert b"another site" in response.content
    assert oauth_flow.SESSION_KEY not in browser.session


def test_missing_endpoints_give_a_friendly_page(browser, fake):
    make_provider(fake, token_url="")
    response = browser.get("/integrations/connect/fake/")
    assert response.status_code == 503
    assert b"endpoints_missing" in response.content


# -- callback: state -------------------------------------------------------------------


def test_callback_needs_login(provider):
    response = Client().get("/integrations/callback/fake/", {"code": "c", "state": "s"})
    assert response.status_code == 302


def test_missing_state_is_rejected(browser, provider, fake):
    start(browser)
    response = callback(browser, code="c")
    assert response.status_code == 400
    assert rejections() == ["state_missing"]
    assert fake.requests == []


def test_forged_state_is_rejected(browser, provider, fake):
    start(browser)
    response = callback(browser, code="c", state="forged-" + "x" * 40)
    assert response.status_code == 400
    assert rejections() == ["state_unknown"]
    assert fake.requests == [] and not Integration.objects.exists()
    event = AuditEvent.objects.get(action="state_rejected")
    assert (event.outcome, event.target_type, event.ip_address) == (
        "denied",
        "integrations.provider",
        "127.0.0.1",
    )


def test_replayed_state_is_rejected(browser, provider, fake):
    _, query = start(browser)
    assert callback(browser, code="c1", state=query["state"]).status_code == 302
    response = callback(browser, code="c2", state=query["state"])
    assert response.status_code == 400
    assert rejections() == ["state_replayed"]
    assert len(fake.requests_to("/token")) == 1


def test_a_state_is_single_use_even_across_sessions_sharing_it(browser, provider, fake):
    """Two callbacks that loaded the same session data (concurrent requests):
    the shared cache lets only one through."""
    _, query = start(browser)
    saved = dict(browser.session.items())
    assert callback(browser, code="c1", state=query["state"]).status_code == 302
    session = browser.session
    session.update(saved)  # the second request still sees the pending state
    session.save()
    assert callback(browser, code="c2", state=query["state"]).status_code == 400
    assert rejections() == ["state_replayed"]


def test_expired_state_is_rejected(browser, provider, fake):
    _, query = start(browser)
    session = browser.session
    bucket = session[oauth_flow.SESSION_KEY]
    for entry in bucket["pending"].values():
        entry["t"] -= 601
    session[oauth_flow.SESSION_KEY] = bucket
    session.save()
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 400
    assert rejections() == ["state_expired"]
    assert fake.requests == []


def test_state_from_another_session_is_rejected(browser, provider, fake, alice):
    _, query = start(browser)
    other = Client()
    other.force_login(alice)  # the same user, another browser
    response = callback(other, code="c", state=query["state"])
    assert response.status_code == 400
    assert rejections() == ["state_unknown"]


def test_state_of_another_user_is_rejected(browser, provider, fake, bob):
    _, query = start(browser)
    mallory = Client()
    mallory.force_login(bob)
    assert callback(mallory, code="c", state=query["state"]).status_code == 400
    assert AuditEvent.objects.get(action="state_rejected").actor == bob


def test_state_for_another_provider_is_rejected(browser, provider, fake):
    make_provider(fake, slug="other")
    _, query = start(browser, "other")
    assert callback(browser, "fake", code="c", state=query["state"]).status_code == 400
    assert rejections() == ["state_wrong_provider"]


# -- callback: outcomes --------------------------------------------------------------


def test_callback_stores_sealed_tokens_and_identifies_the_account(browser, provider, fake, alice):
    _, query = start(browser)
    verifier = next(iter(pending(browser).values()))["v"]
    response = callback(browser, code="the-code", state=query["state"])
    integration = Integration.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/integrations/result/{integration.pk}/"

    [exchange] = fake.requests_to("/token")
    assert exchange["form"] == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "code_verifier": verifier,
        "redirect_uri": "http://testserver/integrations/callback/fake/",
    }
    assert exchange["headers"]["Authorization"].startswith("Basic ")
    assert fake.requests_to("/userinfo")[0]["headers"]["Authorization"] == (
        "Bearer " + integration.access_token
    )

    assert (integration.owner, integration.external_account_id, integration.label) == (
        alice,
        "fake-user-1",
        "alice@fake.test",
    )
    assert integration.requested_scopes == ["read"]
    for column in ("access_token", "refresh_token"):
        stored = raw_column(Integration, column, integration.pk)
        assert is_sealed(stored) and "fake-" not in stored
    assert AuditEvent.objects.filter(action="connect", outcome="success").count() == 1

    page = browser.get(response["Location"])
    assert page.status_code == 200
    assert b"alice@fake.test" in page.content and b"Connected Fake" in page.content
    assert integration.access_token.encode() not in page.content
    assert integration.refresh_token.encode() not in page.content


def test_reconnecting_the_same_account_updates_it(browser, provider, fake):
    for code in ("first", "second"):
        _, query = start(browser)
        assert callback(browser, code=code, state=query["state"]).status_code == 302
    integration = Integration.objects.get()
    assert integration.access_token.startswith("fake-access-0002")
    assert AuditEvent.objects.filter(action="update", detail="reconnected").count() == 1


def test_a_safe_next_is_followed(browser, provider):
    _, query = start(browser, next="/somewhere/else/?tab=1")
    response = callback(browser, code="c", state=query["state"])
    assert response["Location"] == "/somewhere/else/?tab=1"


def test_access_denied_gets_a_friendly_page(browser, provider, fake):
    _, query = start(browser)
    response = callback(
        browser, error="access_denied", error_description="The user said no", state=query["state"]
    )
    assert response.status_code == 200
    assert b"You cancelled the connection" in response.content
    assert not Integration.objects.exists() and fake.requests == []
    failure = AuditEvent.objects.get(action="connect")
    assert (failure.outcome, failure.detail) == ("failure", "access_denied")


def test_other_provider_errors_are_shown_safely(browser, provider):
    _, query = start(browser)
    response = callback(browser, error="<script>alert(1)</script>", state=query["state"])
    assert response.status_code == 400
    assert b"<script>" not in response.content
    assert b"provider_error" in response.content
    _, query = start(browser)
    response = callback(browser, error="server_error", state=query["state"])
    assert b"Fake had a problem" in response.content


def test_a_callback_without_code_is_an_error(browser, provider):
    _, query = start(browser)
    assert callback(browser, state=query["state"]).status_code == 400


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [(400, {"error": "invalid_grant"}, b"invalid_grant"), (503, "down", b"http_503")],
)
def test_a_failed_code_exchange_gets_a_friendly_page(browser, provider, fake, status, body, code):
    fake.script("/token", status, body)
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 502
    assert code in response.content
    assert not Integration.objects.exists()


def test_provider_unreachable_during_exchange(browser, fake):
    make_provider(fake, token_url=closed_port_url() + "/token")
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 502
    assert b"could not be reached" in response.content


def test_userinfo_failure_stores_nothing(browser, provider, fake):
    fake.script("/userinfo", 500, "oops")
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 502 and b"userinfo_failed" in response.content
    assert not Integration.objects.exists()


def test_a_mismatched_iss_parameter_is_refused(browser, fake):
    make_provider(fake, discovery_url=fake.discovery_url, token_url="", authorize_url="")
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"], iss="https://attacker.example")
    assert response.status_code == 400 and b"issuer_mismatch" in response.content
    assert fake.requests_to("/token") == []


@pytest.fixture
def iss_provider(fake):
    """A provider whose discovery promises ``iss`` in every authorization response."""
    fake.iss_parameter_supported = True
    return make_provider(fake, discovery_url=fake.discovery_url, token_url="", authorize_url="")


def test_the_iss_parameter_the_provider_sends_is_accepted(browser, iss_provider, fake):
    location, _ = start(browser)
    params = consent(location)
    assert params["iss"] == fake.issuer
    assert callback(browser, **params).status_code == 302
    assert Integration.objects.exists()


def test_a_missing_iss_is_refused_when_the_provider_promises_one(browser, iss_provider, fake):
    """RFC 9207 §2.4: the mix-up defence."""
    _, query = start(browser)
    response = callback(browser, state=query["state"], code="c")
    assert response.status_code == 400 and b"issuer_missing" in response.content
    assert fake.requests_to("/token") == [] and not Integration.objects.exists()
    failure = AuditEvent.objects.get(action="connect")
    assert (failure.outcome, failure.detail) == ("failure", "issuer_missing")


@pytest.mark.parametrize("iss", ["", "https://attacker.example", "IGNORED"])
def test_a_wrong_iss_is_refused_when_the_provider_promises_one(browser, iss_provider, fake, iss):
    location, _ = start(browser)
    params = consent(location)
    params["iss"] = fake.issuer + "/" if iss == "IGNORED" else iss
    response = callback(browser, **params)
    assert response.status_code == 400 and b"issuer_mismatch" in response.content
    assert fake.requests_to("/token") == []


def test_an_error_response_without_iss_still_gets_its_friendly_page(browser, iss_provider, fake):
    """Nothing is exchanged for an error; some providers (django-oauth-toolkit)
    leave iss out of error responses. A wrong iss there is still refused."""
    _, query = start(browser)
    response = callback(browser, state=query["state"], error="access_denied")
    assert response.status_code == 200 and b"You cancelled" in response.content
    _, query = start(browser)
    response = callback(
        browser, state=query["state"], error="access_denied", iss="https://attacker.example"
    )
    assert response.status_code == 400 and b"issuer_mismatch" in response.content


def test_the_iss_promise_can_come_from_the_providers_metadata(browser, fake):
    make_provider(
        fake,
        metadata={"authorization_response_iss_parameter_supported": True, "issuer": fake.issuer},
    )
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 400 and b"issuer_missing" in response.content


def test_without_the_promise_a_callback_without_iss_is_accepted(browser, fake):
    make_provider(fake, discovery_url=fake.discovery_url, token_url="", authorize_url="")
    _, query = start(browser)
    assert callback(browser, code="c", state=query["state"]).status_code == 302


def test_tokens_never_reach_logs_or_pages(browser, provider, fake, all_logs):
    _, query = start(browser)
    response = callback(browser, code="the-code", state=query["state"])
    page = browser.get(response["Location"])
    integration = Integration.objects.get()
    for secret in (integration.access_token, integration.refresh_token, query["state"], "the-code"):
        assert secret not in all_logs.text
        assert secret.encode() not in page.content


# -- OpenID Connect: discovery, ID token -----------------------------------------------


@pytest.fixture
def oidc(fake):
    return make_provider(
        fake,
        discovery_url=fake.discovery_url,
        token_url="",
        authorize_url="",
        revocation_url="",
        userinfo_url="",
        default_scopes=["openid", "email"],
    )


def _connect_oidc(browser, fake, **claims):
    _, query = start(browser)
    nonce = next(iter(pending(browser).values()))["n"]
    fake.id_token_claims = {"nonce": nonce, **claims}
    return callback(browser, code="c", state=query["state"])


def test_oidc_discovery_and_a_verified_id_token(browser, oidc, fake):
    response = _connect_oidc(browser, fake)
    assert response.status_code == 302, response.content
    integration = Integration.objects.get()
    assert integration.external_account_id == "fake-user-1"
    assert integration.metadata["identity"]["iss"] == fake.issuer
    assert len(fake.requests_to("/jwks")) == 1


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"nonce": "not-the-nonce"}, b"id_token_nonce_invalid"),
        ({"aud": "someone-else"}, b"id_token_aud_invalid"),
        ({"iss": "https://other.example"}, b"id_token_iss_invalid"),
        ({"exp": 1000}, b"id_token_exp_invalid"),
    ],
)
def test_a_bad_id_token_is_refused(browser, oidc, fake, claims, code):
    response = _connect_oidc(browser, fake, **claims)
    assert response.status_code == 502
    assert code in response.content
    assert not Integration.objects.exists()


def test_an_id_token_with_a_bad_signature_is_refused(browser, oidc, fake):
    original = fake.issue

    def tampered(form, headers):
        status, token = original(form)
        header, payload, signature = token["id_token"].split(".")
        token["id_token"] = ".".join([header, payload, signature[::-1]])
        return status, token

    fake.handlers["/token"] = tampered
    response = _connect_oidc(browser, fake)
    assert response.status_code == 502 and b"id_token_invalid" in response.content


def test_a_rotated_signing_key_is_fetched_again(browser, oidc, fake):
    from joserfc.jwk import RSAKey

    assert _connect_oidc(browser, fake).status_code == 302
    fake.key = RSAKey.generate_key(2048, parameters={"kid": "k2", "use": "sig"}, private=True)
    assert _connect_oidc(browser, fake).status_code == 302
    assert len(fake.requests_to("/jwks")) == 2


def test_discovery_with_a_foreign_issuer_is_refused(browser, oidc, fake):
    fake.issuer = "https://impostor.example"
    response = browser.get("/integrations/connect/fake/")
    assert response.status_code == 503
    assert b"discovery_issuer_mismatch" in response.content


# -- malformed provider responses: a failed, audited connection, never a 500 ----------


def _assert_refused(browser, response, code, canary, all_logs):
    assert response.status_code == 502
    assert code.encode() in response.content
    assert canary.encode() not in response.content
    assert not Integration.objects.exists()
    failure = AuditEvent.objects.get(action="connect")
    assert (failure.outcome, failure.detail) == ("failure", code)
    assert not any(
        canary in detail for detail in AuditEvent.objects.values_list("detail", flat=True)
    )
    assert canary not in all_logs.text


@pytest.mark.parametrize(
    "fields",
    [
        {"expires_in": 10**12},
        {"expires_in": -3600},
        {"scope": "read CANARY\x00write"},
        {"scope": "read CANARY\ud800"},
        {"token_type": "Bearer\x00CANARY"},
        {"token_type": "CANARY\udc00"},
        {"access_token": "CANARY\x00"},
        {"refresh_token": "CANARY\ud83d"},
    ],
    ids=[
        "expires_in-huge",
        "expires_in-negative",
        "scope-nul",
        "scope-surrogate",
        "token_type-nul",
        "token_type-surrogate",
        "access_token-nul",
        "refresh_token-surrogate",
    ],
)
def test_a_malformed_token_response_is_a_502_with_an_audited_failure(
    browser, provider, fake, canary, all_logs, fields
):
    """On PostgreSQL a NUL would reach the database as a DataError, a lone
    surrogate as an encoding error, a huge expires_in overflow datetime: all
    are refused before any of them (before userinfo too)."""
    original = fake.issue
    fields = {
        k: v.replace("CANARY", canary) if isinstance(v, str) else v for k, v in fields.items()
    }

    def malformed(form, headers):
        status, token = original(form)
        return status, {**token, **fields}

    fake.handlers["/token"] = malformed
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    _assert_refused(browser, response, "invalid_token_response", canary, all_logs)
    assert fake.requests_to("/userinfo") == []


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"sub": "CANARY\x00"}, "claim_sub_invalid"),
        ({"sub": "CANARY\ud800"}, "claim_sub_invalid"),
        ({"sub": "CANARY" * 20}, "claim_sub_invalid"),  # longer than an account id column
        ({"sub": {"CANARY": 1}}, "claim_sub_invalid"),
        ({"email": "CANARY\x00@fake.test"}, "claim_email_invalid"),
        ({"name": "Al\x00ice CANARY"}, "claim_name_invalid"),  # kept in metadata (JSON)
        ({"preferred_username": "CANARY\udfff"}, "claim_preferred_username_invalid"),
    ],
)
def test_malformed_userinfo_claims_are_a_502_with_an_audited_failure(
    browser, provider, fake, canary, all_logs, claims, code
):
    fake.userinfo = {
        "sub": "fake-user-1",
        "email": "alice@fake.test",
        **{
            k: v.replace("CANARY", canary) if isinstance(v, str) else {canary: 1}
            for k, v in claims.items()
        },
    }
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    _assert_refused(browser, response, code, canary, all_logs)


def test_an_integer_account_id_and_unicode_names_are_fine(browser, provider, fake):
    fake.userinfo = {"id": 12345, "name": "Zoë 🦊 Ünïcode", "login": "zoe"}
    _, query = start(browser)
    assert callback(browser, code="c", state=query["state"]).status_code == 302
    integration = Integration.objects.get()
    assert (integration.external_account_id, integration.label) == ("12345", "zoe")
    assert integration.metadata["identity"]["name"] == "Zoë 🦊 Ünïcode"

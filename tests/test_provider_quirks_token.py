"""Token-endpoint quirks (issue 26), end to end against the loopback fake.

Each family — a form-encoded answer, the token nested under a key, ``expires``
instead of ``expires_in``, an error inside a 200, ``instance_url`` kept as the
connection's API base, client authentication by HTTP Basic only, PKCE required
or unsupported, no refresh token, a refresh token that stays, rotation with
reuse detection — is set on the fake (its switch) and on the Provider (its
``metadata``/fields, as the catalog's entry would set them), then: connect
through our views (the browser follows the fake's /authorize redirect to our
callback), call the fake's API through ``tokens.session`` (and
``tokens.httpx_auth``), a refresh (the API answers 401 once), and disconnect
(what reached the fake's revocation endpoint). The tokens the fake issues hold
the canary: it must never be logged, shown or put in an exception message.
"""

import itertools
import json
from datetime import timedelta

import httpx
import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from integrations import tokens
from integrations.models import AuditEvent, Integration
from integrations.provider_calls import HostNotAllowed
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    CLIENT_SECRET,
    alice,
    browser,
    callback,
    connected,
    consent,
    expire,
    fake,
    make_provider,
    race_for_token,
    start,
)

pytestmark = pytest.mark.django_db

API_PURPOSE = "quirks test call"
POST = "client_secret_post"
FAILED, REAUTH = tokens.RefreshFailed, tokens.ReauthorizationRequired


@pytest.fixture
def canaried(fake, canary):
    """The fake issues tokens that hold the canary."""
    original = fake.issue
    numbers = itertools.count(1)

    def issue(form):
        status, token = original(form)
        n = next(numbers)
        token["access_token"] = f"{canary}-access-{n:04d}"
        if "refresh_token" in token:
            token["refresh_token"] = f"{canary}-refresh-{n:04d}"
        return status, token

    fake.issue = issue
    return fake


def loopback_alias(fake):
    """The fake's URL under another loopback host name (a host of its own)."""
    return fake.url.replace("127.0.0.1", "localhost")


def connect(browser, slug="fake"):
    """Connect through our views, the browser following the fake's redirect."""
    location, _ = start(browser, slug)
    return callback(browser, slug, **consent(location))


def revocations(fake):
    """What reached the fake's revocation endpoint: (token, hint) pairs."""
    return [(r["form"]["token"], r["form"]["token_type_hint"]) for r in fake.requests_to("/revoke")]


def assert_clean(canary, all_logs, *texts):
    assert canary not in all_logs.text
    for record in all_logs.records:
        assert canary not in record.getMessage() and canary not in repr(record.args)
    for text in texts:
        assert canary not in text
    for event in AuditEvent.objects.all():
        assert canary not in f"{event.detail} {event.purpose} {event.target_label}"


# -- the families ------------------------------------------------------------------------


def _form(fake):
    fake.token_format = "form"
    return {"metadata": {"token_response": {"format": "form"}}}


def _nested(fake):
    fake.token_path = "data"
    return {"metadata": {"token_response": {"path": "data"}}}


def _expires(fake):
    fake.expires_field = "expires"
    return {"metadata": {"token_response": {"expires_field": "expires"}}}


def _ok_envelope(fake):
    fake.ok_envelope = True
    fake.known_codes_only = True
    return {"metadata": {"token_response": {"ok_field": "ok"}}}


def _instance_url(fake):
    fake.instance_url = loopback_alias(fake)
    return {
        "base_url": fake.url,
        "metadata": {"token_response": {"keep": {"instance_url": "api_base_url"}}},
    }


def _basic(fake):
    fake.require_client_auth = "client_secret_basic"
    fake.client_secret = CLIENT_SECRET
    return {"metadata": {"token_endpoint_auth_method": "client_secret_basic"}}


def _pkce_required(fake):
    fake.pkce = "required"
    fake.known_codes_only = True
    return {"pkce": "required"}


def _pkce_unsupported(fake):
    fake.pkce = "unsupported"
    return {"pkce": "unsupported"}


def _rotating(fake):
    fake.revoke_on_reuse()
    return {"metadata": {"refresh": {"kind": "rotating"}}}


def _steady_refresh(fake):
    fake.rotate_refresh_tokens = False
    return {"metadata": {"refresh": {"kind": "refresh_token"}}}


def _slack_like(fake):
    """Several at once: the token nested, errors in a 200, a field kept."""
    fake.token_path = "authed_user"
    fake.ok_envelope = True
    fake.instance_url = loopback_alias(fake)
    return {
        "metadata": {
            "token_response": {
                "path": "authed_user",
                "ok_field": "ok",
                "keep": {"instance_url": "api_base_url"},
            }
        }
    }


def _form_and_basic(fake):
    fake.token_format = "form"
    fake.expires_field = "expires"
    fake.require_client_auth = "client_secret_basic"
    fake.client_secret = CLIENT_SECRET
    return {
        "metadata": {
            "token_endpoint_auth_method": "client_secret_basic",
            "token_response": {"format": "form", "expires_field": "expires"},
        }
    }


FAMILIES = {
    "form": _form,
    "nested": _nested,
    "expires": _expires,
    "ok_envelope": _ok_envelope,
    "instance_url": _instance_url,
    "basic": _basic,
    "pkce_required": _pkce_required,
    "pkce_unsupported": _pkce_unsupported,
    "rotating": _rotating,
    "steady_refresh": _steady_refresh,
    "slack_like": _slack_like,
    "form_and_basic": _form_and_basic,
}


def api_url(integration, fake):
    return (tokens.api_base_url(integration) or fake.url) + "/api/me"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_connects_calls_refreshes_and_disconnects(
    family, browser, alice, canaried, canary, all_logs
):
    fake = canaried
    make_provider(fake, **FAMILIES[family](fake))

    # Connect through our views.
    response = connect(browser)
    assert response.status_code == 302, response.content
    integration = Integration.objects.get()
    assert integration.status == "active"
    first_access, first_refresh = integration.access_token, integration.refresh_token
    assert first_access == f"{canary}-access-0001" and first_refresh == f"{canary}-refresh-0001"
    lifetime = integration.expires_at - timezone.now()
    assert timedelta(seconds=3500) < lifetime <= timedelta(seconds=3600)
    assert integration.granted_scopes == ["read"]
    [exchange] = fake.requests_to("/token")
    if family in ("basic", "form_and_basic"):
        assert exchange["headers"]["Authorization"].startswith("Basic ")
        assert "client_secret" not in exchange["form"]
    if family == "pkce_required":
        assert exchange["form"]["code_verifier"]
    if family == "pkce_unsupported":
        assert "code_verifier" not in exchange["form"]

    # A call through the package's session.
    with tokens.session(integration, purpose=API_PURPOSE, actor=alice) as api:
        answer = api.get(api_url(integration, fake), timeout=10)
    assert answer.status_code == 200 and answer.json()["sub"] == "fake-user-1"

    # A refresh: the API refuses the token once, the session refreshes and retries.
    fake.script("/api/me", 401, {"error": "invalid_token"})
    with tokens.session(integration, purpose=API_PURPOSE, actor=alice) as api:
        answer = api.get(api_url(integration, fake), timeout=10)
    assert answer.status_code == 200
    integration.refresh_from_db()
    assert integration.status == "active"
    assert integration.access_token == f"{canary}-access-0002"
    if family == "steady_refresh":
        assert integration.refresh_token == first_refresh  # the same one, kept
    else:
        assert integration.refresh_token == f"{canary}-refresh-0002"
    [refresh] = fake.refresh_requests()
    assert refresh["form"]["refresh_token"] == first_refresh
    lifetime = integration.expires_at - timezone.now()
    assert timedelta(seconds=3500) < lifetime <= timedelta(seconds=3600)

    # A second refresh, by expiry, through httpx.
    expire(integration)
    with httpx.Client(auth=tokens.httpx_auth(integration, purpose=API_PURPOSE)) as client:
        assert client.get(api_url(integration, fake)).status_code == 200
    integration.refresh_from_db()
    assert integration.access_token == f"{canary}-access-0003"
    assert len(fake.refresh_requests()) == 2
    if family == "steady_refresh":
        assert fake.refresh_requests()[1]["form"]["refresh_token"] == first_refresh
    if family == "rotating":
        # Each refresh sent the newest refresh token: the grant still stands.
        assert fake.reuse.grant_active(integration.refresh_token)
    if family in ("basic", "form_and_basic"):
        assert all(
            r["headers"]["Authorization"].startswith("Basic ") for r in fake.refresh_requests()
        )

    # Disconnect through the view: what reached the revocation endpoint.
    held_access, held_refresh = integration.access_token, integration.refresh_token
    response = browser.post(f"/integrations/{integration.pk}/disconnect/")
    assert response.status_code == 302
    revoked = [
        (r["form"]["token"], r["form"]["token_type_hint"]) for r in fake.requests_to("/revoke")
    ]
    assert revoked == [(held_refresh, "refresh_token"), (held_access, "access_token")]
    if family in ("basic", "form_and_basic"):
        assert all(
            r["headers"]["Authorization"].startswith("Basic ") and "client_secret" not in r["form"]
            for r in fake.requests_to("/revoke")
        )
    integration.refresh_from_db()
    assert integration.status == "revoked"
    page = browser.get("/integrations/").content.decode()
    assert_clean(canary, all_logs, page)


def test_rotating_refresh_never_reuses_a_retired_token(browser, alice, canaried, canary):
    """A provider that revokes the grant on reuse keeps it through many
    refreshes: each one sends the newest refresh token."""
    fake = canaried
    strict = fake.revoke_on_reuse()
    make_provider(fake, **_rotating_metadata())
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    for _ in range(4):
        assert tokens.refresh_integration(integration, force=True) == tokens.Outcome.REFRESHED
    sent = [r["form"]["refresh_token"] for r in fake.refresh_requests()]
    assert len(sent) == len(set(sent)) == 4
    assert strict.grant_active(integration.refresh_token)
    # What the fake does to a reuse (why the above matters): the grant is gone.
    replay = requests.post(
        fake.token_url,
        data={"grant_type": "refresh_token", "refresh_token": sent[0]},
        timeout=10,
    )
    assert replay.json()["error"] == "invalid_grant"
    assert not strict.grant_active(integration.refresh_token)
    with pytest.raises(tokens.ReauthorizationRequired) as info:
        tokens.refresh_integration(integration, force=True)
    assert info.value.code == "invalid_grant" and canary not in str(info.value)
    integration.refresh_from_db()
    assert integration.status == "needs_reauth"


@pytest.mark.django_db(transaction=True)
def test_threads_racing_on_a_rotating_form_provider_refresh_once(alice, canaried):
    """Workers racing for an expired token, each on its own connection, against a
    provider that answers in a form and revokes the grant on reuse: one refresh."""
    fake = canaried
    fake.delay = 0.2
    fake.token_format = "form"
    strict = fake.revoke_on_reuse()
    provider = make_provider(
        fake, metadata={"token_response": {"format": "form"}, **_rotating_metadata()["metadata"]}
    )
    integration = connected(alice, provider)
    expire(integration)
    outcomes = race_for_token(integration, 8)
    assert len(fake.refresh_requests()) == 1
    loaded = Integration.objects.get(pk=integration.pk)
    assert outcomes == [loaded.access_token] * 8
    assert loaded.status == "active" and strict.grant_active(loaded.refresh_token)


def _rotating_metadata():
    return {"metadata": {"refresh": {"kind": "rotating"}}}


def test_no_refresh_token_is_shown_as_not_renewable(browser, alice, canaried, canary, all_logs):
    fake = canaried
    fake.issue_refresh_tokens = False
    make_provider(fake, metadata={"refresh": {"kind": "none"}})
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    assert integration.refresh_token is None and not integration.can_refresh
    page = browser.get("/integrations/").content.decode()
    assert "This connection cannot renew itself; reconnect when it expires" in page
    with tokens.session(integration, purpose=API_PURPOSE, actor=alice) as api:
        assert api.get(f"{fake.url}/api/me", timeout=10).status_code == 200
    # A 401 cannot be cured by a refresh: the user must connect again.
    fake.script("/api/me", 401, {"error": "invalid_token"})
    with tokens.session(integration, purpose=API_PURPOSE, actor=alice) as api:
        with pytest.raises(tokens.ReauthorizationRequired) as info:
            api.get(f"{fake.url}/api/me", timeout=10)
    assert info.value.code == "no_refresh_token"
    assert fake.refresh_requests() == []
    integration.refresh_from_db()
    assert integration.status == "expired"
    held = integration.access_token
    assert browser.post(f"/integrations/{integration.pk}/disconnect/").status_code == 302
    revoked = [
        (r["form"]["token"], r["form"]["token_type_hint"]) for r in fake.requests_to("/revoke")
    ]
    assert revoked == [(held, "access_token")]
    assert_clean(canary, all_logs, str(info.value), page)


# -- without the setting, the family fails (the switches bite) -------------------------


@pytest.mark.parametrize(
    ("switch", "fields", "status", "code"),
    [
        (_form, {}, 502, "invalid_response"),
        (_nested, {}, 502, "invalid_token_response"),
        (
            _basic,
            {"metadata": {"token_endpoint_auth_method": "client_secret_post"}},
            502,
            "invalid_client",
        ),
        (_pkce_required, {"pkce": "unsupported"}, 400, "invalid_request"),
        (_pkce_unsupported, {"pkce": "supported"}, 400, "invalid_request"),
    ],
)
def test_without_the_providers_setting_the_family_fails(
    switch, fields, status, code, browser, canaried, canary, all_logs
):
    fake = canaried
    switch(fake)
    make_provider(fake, **fields)
    response = connect(browser)
    assert response.status_code == status
    assert code in response.content.decode()
    assert not Integration.objects.exists()
    assert_clean(canary, all_logs, response.content.decode())


def test_expires_without_the_setting_is_a_token_without_expiry(browser, canaried):
    _expires(canaried)
    make_provider(canaried)
    assert connect(browser).status_code == 302
    assert Integration.objects.get().expires_at is None


def test_pkce_required_refuses_an_exchange_without_a_valid_verifier(fake):
    """The fake's PKCE switch, as a provider requiring PKCE behaves."""
    fake.pkce = "required"
    fake.known_codes_only = True
    _, params = fake.authorize(
        {"redirect_uri": "http://x/cb", "state": "s", "code_challenge": "abc"}
    )
    assert params["error"] == "invalid_request"  # no code_challenge_method=S256
    _, params = fake.authorize(
        {
            "redirect_uri": "http://x/cb",
            "state": "s",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        }
    )
    answer = requests.post(
        fake.token_url,
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "code_verifier": "x" * 43,
        },
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


# -- instance_url: the connection's API base ------------------------------------------------


def test_a_kept_api_base_url_is_the_connections_host(browser, alice, canaried, canary):
    fake = canaried
    make_provider(fake, **_instance_url(fake))
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    base = loopback_alias(fake)
    assert integration.metadata["token_fields"] == {"api_base_url": base}
    assert tokens.api_base_url(integration) == base
    with tokens.session(
        integration, purpose=API_PURPOSE, actor=alice, allowed_hosts="provider"
    ) as api:
        assert api.get(f"{base}/api/me", timeout=10).json()["host"].startswith("localhost:")
        calls = len(fake.requests_to("/api/me"))
        # The provider's own base_url host is not this connection's API host.
        with pytest.raises(HostNotAllowed):
            api.get(f"{fake.url}/api/me", timeout=10)
    assert len(fake.requests_to("/api/me")) == calls
    # A refresh with a new instance_url moves the connection.
    fake.instance_url = base + "/v2"
    tokens.refresh_integration(integration, force=True)
    integration.refresh_from_db()
    assert tokens.api_base_url(integration) == base + "/v2"
    # A trailing slash is dropped from the base.
    fake.instance_url = base + "/v2/"
    tokens.refresh_integration(integration, force=True)
    integration.refresh_from_db()
    assert tokens.api_base_url(integration) == base + "/v2"
    # One without it keeps the old one.
    fake.instance_url = None
    tokens.refresh_integration(integration, force=True)
    integration.refresh_from_db()
    assert tokens.api_base_url(integration) == base + "/v2"
    assert canary not in json.dumps(integration.metadata)


def test_without_keep_the_provider_base_url_stays_the_host(browser, alice, canaried):
    fake = canaried
    fake.instance_url = loopback_alias(fake)
    make_provider(fake, base_url=fake.url)
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    assert "token_fields" not in integration.metadata
    with tokens.session(
        integration, purpose=API_PURPOSE, actor=alice, allowed_hosts="provider"
    ) as api:
        with pytest.raises(HostNotAllowed):
            api.get(f"{loopback_alias(fake)}/api/me", timeout=10)


UNSAFE_BASES = [
    "http://evil.example",
    "https://user:CANARY@evil.example",
    "https://evil.example@127.0.0.1",
    "ftp://evil.example",
    "https://",
    "https://evil.example/?q=1",
    "https://evil.example:99999",
    "not a url",
    "https://evil.example/\x00",
]


@pytest.mark.parametrize("instance_url", UNSAFE_BASES)
def test_an_unsafe_instance_url_refuses_the_connection(
    instance_url, browser, canaried, canary, all_logs
):
    fake = canaried
    make_provider(fake, **_instance_url(fake))
    fake.instance_url = instance_url.replace("CANARY", canary)
    response = connect(browser)
    assert response.status_code == 502
    assert b"invalid_token_response" in response.content
    assert not Integration.objects.exists()
    assert fake.requests_to("/userinfo") == []  # the token was sent nowhere
    assert_clean(canary, all_logs, response.content.decode())


def test_an_unsafe_instance_url_on_refresh_keeps_the_old_one_and_the_new_refresh_token(
    browser, canaried, canary, all_logs
):
    fake = canaried
    make_provider(fake, **_instance_url(fake))
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    fake.instance_url = f"https://{canary}@evil.example"
    with pytest.raises(tokens.RefreshFailed) as info:
        tokens.refresh_integration(integration, force=True)
    assert info.value.code == "invalid_token_response"
    integration.refresh_from_db()
    assert integration.status == "error"
    assert tokens.api_base_url(integration) == loopback_alias(fake)
    # The provider rotated: its new refresh token is kept, the access token is not.
    assert integration.refresh_token == f"{canary}-refresh-0002"
    assert integration.access_token == f"{canary}-access-0001"
    assert_clean(canary, all_logs, str(info.value), repr(info.value))


# -- bad answers ----------------------------------------------------------------------------


MALFORMED_FORMS = [
    "<html><body>CANARY</body></html>",
    "access_token=CANARY&access_token=other",  # a field twice
    "",
    "\udcff",  # not UTF-8 once sent
    "access_token=CANARY&" + "&".join(f"f{n}=x" for n in range(300)),
]


@pytest.mark.parametrize("body", MALFORMED_FORMS)
def test_a_malformed_form_answer_is_an_error_code(body, browser, fake, canary, all_logs):
    make_provider(fake, metadata={"token_response": {"format": "form"}})
    payload = body.replace("CANARY", canary)
    if "\udcff" in payload:
        fake.handlers["/token"] = lambda form, headers: (200, b"access_token=\xff\xfe")
    else:
        fake.script("/token", 200, payload)
    response = connect(browser)
    assert response.status_code == 502
    assert b"invalid_token_response" in response.content
    assert not Integration.objects.exists()
    assert_clean(canary, all_logs, response.content.decode())


@pytest.mark.parametrize(
    "answer",
    [
        {"access_token": "CANARY", "token_type": "Bearer"},  # no "data"
        {"data": "CANARY"},  # not an object
        {"data": ["CANARY"]},
        {"data": {"token_type": "Bearer"}},  # no access token in it
    ],
)
def test_a_missing_nested_path_is_an_error_code(answer, browser, fake, canary, all_logs):
    make_provider(fake, metadata={"token_response": {"path": "data"}})
    fake.script("/token", 200, json.loads(json.dumps(answer).replace("CANARY", canary)))
    response = connect(browser)
    assert response.status_code == 502
    assert b"invalid_token_response" in response.content
    assert_clean(canary, all_logs, response.content.decode())


def test_an_error_inside_a_200_at_connect_is_the_providers_code(
    browser, canaried, canary, all_logs
):
    fake = canaried
    fake.ok_envelope = True
    fake.known_codes_only = True
    make_provider(fake, metadata={"token_response": {"ok_field": "ok"}})
    _, query = start(browser)
    response = callback(browser, code="forged-code", state=query["state"])
    assert response.status_code == 502
    assert b"invalid_code" in response.content
    event = AuditEvent.objects.get(action="connect", outcome="failure")
    assert event.detail == "invalid_code"
    assert_clean(canary, all_logs, response.content.decode())


@pytest.mark.parametrize(
    ("answer", "error", "status"),
    [
        ({"ok": False, "error": "invalid_refresh_token", "detail": "CANARY"}, FAILED, "error"),
        ({"ok": False, "error": "invalid_grant"}, REAUTH, "needs_reauth"),
        ({"ok": False}, FAILED, "error"),
        ({"ok": "false", "error": "token_revoked"}, FAILED, "error"),
        ({"ok": False, "error": "CANARY is not a code"}, FAILED, "error"),
        ({"ok": True, "error": "ratelimited", "access_token": "CANARY"}, FAILED, "error"),
    ],
)
def test_an_error_inside_a_200_on_refresh_is_the_oauth_error_path(
    answer, error, status, browser, canaried, canary, all_logs
):
    """The provider's error code (``provider_error`` when there is none that is
    a code), as for an RFC 6749 error answer: ``invalid_grant`` needs the user."""
    code = answer.get("error", "provider_error")
    code = code if " " not in code else "provider_error"
    fake = canaried
    make_provider(fake, **_ok_envelope(fake))
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    held = integration.access_token, integration.refresh_token
    fake.script("/token", 200, json.loads(json.dumps(answer).replace("CANARY", canary)))
    with pytest.raises(error) as info:
        tokens.refresh_integration(integration, force=True)
    assert info.value.code == code
    integration.refresh_from_db()
    assert integration.status == status and integration.last_error == code
    assert (integration.access_token, integration.refresh_token) == held
    assert_clean(canary, all_logs, str(info.value), repr(info.value))


def test_a_form_error_answer_is_the_providers_code(browser, fake, canary, all_logs):
    """An error in a form body (GitHub answers in a form unless JSON is asked
    for): the provider's code, whatever the status."""
    make_provider(fake, metadata={"token_response": {"format": "form"}})
    fake.script("/token", 200, f"error=bad_verification_code&error_description={canary}")
    response = connect(browser)
    assert response.status_code == 502 and b"bad_verification_code" in response.content
    fake.script("/token", 400, f"error=invalid_grant&error_description={canary}")
    response = connect(browser)
    assert response.status_code == 502 and b"invalid_grant" in response.content
    assert_clean(canary, all_logs, response.content.decode())


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (503, "down", "http_503"),
        (500, {"error": "x"}, "http_500"),
        (404, "<html>", "http_404"),
        (400, "a=b", "http_400"),
    ],
)
def test_http_failures_keep_their_codes_with_a_shape(status, body, code, browser, fake):
    make_provider(fake, metadata={"token_response": {"format": "form", "path": "data"}})
    fake.script("/token", status, body)
    response = connect(browser)
    assert response.status_code == 502 and code.encode() in response.content


def test_a_transient_refresh_failure_with_a_shape_is_retried(browser, canaried):
    fake = canaried
    make_provider(fake, **_form(fake))
    assert connect(browser).status_code == 302
    integration = Integration.objects.get()
    fake.script("/token", 503, "busy")
    assert tokens.refresh_integration(integration, force=True) == tokens.Outcome.REFRESHED
    assert len(fake.refresh_requests()) == 2


@pytest.mark.parametrize(
    "setting",
    [
        {"format": "xml"},
        {"path": "a b"},
        {"keep": {"access_token": "token"}},
        {"keep": {"authed_user.access_token": "user"}},
        {"keep": {"instance_url": "Not A Name"}},
        {"keep": ["instance_url"]},
        {"expires_field": "a.b"},
        {"unknown": 1},
        "form",
    ],
)
def test_a_malformed_setting_refuses_to_start(setting, browser, fake):
    make_provider(fake, metadata={"token_response": setting})
    response = browser.get("/integrations/connect/fake/")
    assert response.status_code == 503
    assert b"token_response_invalid" in response.content
    assert fake.requests == []


def test_kept_fields_are_bounded_clean_text(browser, fake, canary, all_logs):
    make_provider(fake, metadata={"token_response": {"keep": {"team.id": "team_id"}}})
    original = fake.issue
    fake.handlers["/token"] = lambda form, headers: (
        200,
        {**original(form)[1], "team": {"id": "T\x00" + canary}},
    )
    response = connect(browser)
    assert response.status_code == 502 and b"invalid_token_response" in response.content
    fake.handlers["/token"] = lambda form, headers: (
        200,
        {**original(form)[1], "team": {"id": 12345, "name": canary}},
    )
    assert connect(browser).status_code == 302
    assert Integration.objects.get().metadata["token_fields"] == {"team_id": "12345"}
    assert_clean(canary, all_logs, response.content.decode())


def test_a_hand_edited_unsafe_api_base_url_is_refused_before_sending(alice, fake):
    provider = make_provider(fake, base_url=fake.url)
    integration, _ = tokens.connect(
        alice, provider, {"access_token": "stored-access-0001", "token_type": "Bearer"}
    )
    integration.metadata = {"token_fields": {"api_base_url": "http://evil.example"}}
    integration.save()
    with (
        tokens.session(integration, purpose=API_PURPOSE, allowed_hosts="provider") as api,
        pytest.raises(ImproperlyConfigured),
    ):
        api.get("http://evil.example/api/me", timeout=10)
    assert fake.requests_to("/api/me") == []

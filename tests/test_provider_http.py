"""No request to a provider follows a redirect: a 3xx is a failed, audited
request and the redirect's target receives nothing (no client secret, code,
PKCE verifier or token re-posted past the HTTPS-or-loopback check).

Each endpoint of the loopback fake answers with a redirect to a second fake,
``elsewhere``, that records every request it gets: it must get none.
"""

import pytest
import requests

from integrations import provider_http, tokens
from integrations.models import AuditEvent, Integration
from tests.fake_provider import FakeProvider
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    CLIENT_SECRET,
    alice,
    browser,
    callback,
    connected,
    expire,
    fake,
    make_provider,
    pending,
    provider,
    start,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def elsewhere():
    server = FakeProvider().start()
    yield server
    server.stop()


def connect_failures():
    return list(
        AuditEvent.objects.filter(action="connect", outcome="failure").values_list(
            "detail", flat=True
        )
    )


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_token_endpoint_redirect_is_refused_and_its_target_gets_nothing(
    browser, provider, fake, elsewhere, status
):
    fake.redirect("/token", elsewhere.token_url, status=status)
    _, query = start(browser)
    response = callback(browser, code="the-code", state=query["state"])
    assert response.status_code == 502
    assert b"redirect_refused" in response.content
    assert elsewhere.requests == []
    assert len(fake.requests_to("/token")) == 1
    assert connect_failures() == ["redirect_refused"]
    assert not Integration.objects.exists()


def test_a_userinfo_redirect_is_refused(browser, provider, fake, elsewhere):
    fake.redirect("/userinfo", elsewhere.userinfo_url)
    _, query = start(browser)
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 502 and b"userinfo_redirected" in response.content
    assert elsewhere.requests == []
    assert connect_failures() == ["userinfo_redirected"]


def test_a_discovery_redirect_is_refused(browser, fake, elsewhere):
    make_provider(fake, discovery_url=fake.discovery_url, token_url="", authorize_url="")
    fake.redirect("/.well-known/openid-configuration", elsewhere.discovery_url, status=302)
    response = browser.get("/integrations/connect/fake/")
    assert response.status_code == 503 and b"discovery_redirected" in response.content
    assert elsewhere.requests == []


def test_a_jwks_redirect_is_refused(browser, fake, elsewhere):
    make_provider(
        fake,
        discovery_url=fake.discovery_url,
        token_url="",
        authorize_url="",
        userinfo_url="",
        default_scopes=["openid"],
    )
    fake.redirect("/jwks", f"{elsewhere.url}/jwks")
    _, query = start(browser)
    fake.id_token_claims = {"nonce": next(iter(pending(browser).values()))["n"]}
    response = callback(browser, code="c", state=query["state"])
    assert response.status_code == 502 and b"jwks_redirected" in response.content
    assert elsewhere.requests == []
    assert not Integration.objects.exists()


def test_a_refresh_redirect_is_a_failed_refresh_and_nothing_is_re_posted(
    alice, provider, fake, elsewhere
):
    integration = connected(alice, provider)
    expire(integration)
    fake.redirect("/token", elsewhere.token_url)
    with pytest.raises(tokens.TokenUnavailable) as info:
        tokens.refresh_integration(integration)
    assert info.value.code == "redirect_refused"
    assert elsewhere.requests == []
    assert integration.refresh_token == "stored-refresh-token-0001"
    failure = AuditEvent.objects.get(action="refresh", outcome="failure")
    assert failure.detail == "redirect_refused"


def test_a_revocation_redirect_is_a_failed_revocation(alice, provider, fake, elsewhere):
    integration = connected(alice, provider)
    fake.redirect("/revoke", elsewhere.revocation_url)
    fake.redirect("/revoke", elsewhere.revocation_url, status=308)
    result = tokens.disconnect(alice, integration)
    assert result.failed == {
        "refresh_token": "redirect_refused",
        "access_token": "redirect_refused",
    }
    assert elsewhere.requests == []
    assert Integration.objects.get(pk=integration.pk).status == "revoked"


def test_no_call_site_can_ask_for_redirects(fake, elsewhere):
    """The session refuses even when a caller asks for redirects explicitly."""
    fake.redirect("/token", elsewhere.token_url)
    with provider_http.ProviderSession() as session:
        with pytest.raises(provider_http.RedirectRefused) as info:
            session.post(
                fake.token_url,
                data={"client_secret": CLIENT_SECRET},
                allow_redirects=True,
                timeout=5,
            )
    assert info.value.status_code == 307
    assert CLIENT_SECRET not in str(info.value)
    assert elsewhere.requests == []
    assert isinstance(info.value, requests.RequestException)

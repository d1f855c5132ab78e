"""Who reaches what: every endpoint and method as another user, as anonymous,
and with session authentication (CSRF enforced)."""

import pytest
from rest_framework.test import APIClient

from integrations import oauth
from integrations.models import AuditEvent, Credential, Integration, Provider

pytestmark = pytest.mark.django_db


def snapshot():
    """Every row of every table the API can change, sealed columns included."""
    return {
        model.__name__: sorted(map(repr, model.objects.values()))
        for model in (Provider, Integration, Credential)
    }


def audit_count():
    return AuditEvent.objects.count()


@pytest.fixture
def world(integration, credential, provider, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("a provider was called for someone else's integration")

    monkeypatch.setattr(oauth, "refresh_token_request", never)
    monkeypatch.setattr(oauth, "revoke_token_request", never)
    event = AuditEvent.objects.filter(target_id=str(credential.pk)).first()
    return {
        "integration": integration,
        "credential": credential,
        "provider": provider,
        "event": event,
    }


NOT_FOUND = {404}
FORBIDDEN = {403, 405}  # read-only or staff-only endpoints refuse before looking


def _requests(world):
    i, c, p, e = (world[k].pk for k in ("integration", "credential", "provider", "event"))
    return [
        ("get", f"/api/integrations/{i}/", NOT_FOUND),
        ("put", f"/api/integrations/{i}/", NOT_FOUND),
        ("patch", f"/api/integrations/{i}/", NOT_FOUND),
        ("delete", f"/api/integrations/{i}/", NOT_FOUND),
        ("post", f"/api/integrations/{i}/refresh/", NOT_FOUND),
        ("get", f"/api/credentials/{c}/", NOT_FOUND),
        ("put", f"/api/credentials/{c}/", NOT_FOUND),
        ("patch", f"/api/credentials/{c}/", NOT_FOUND),
        ("delete", f"/api/credentials/{c}/", NOT_FOUND),
        ("get", f"/api/audit-events/{e}/", NOT_FOUND),
        ("put", f"/api/audit-events/{e}/", FORBIDDEN),
        ("patch", f"/api/audit-events/{e}/", FORBIDDEN),
        ("delete", f"/api/audit-events/{e}/", FORBIDDEN),
        ("post", "/api/audit-events/", FORBIDDEN),
        ("post", "/api/providers/", FORBIDDEN),
        ("put", f"/api/providers/{p}/", FORBIDDEN),
        ("patch", f"/api/providers/{p}/", FORBIDDEN),
        ("delete", f"/api/providers/{p}/", FORBIDDEN),
    ]


BODY = {
    "name": "stolen",
    "label": "stolen",
    "status": "error",
    "slug": "stolen",
    "type": "bearer",
    "data": {"token": "stolen-token"},
}


@pytest.mark.parametrize("index", range(18))
def test_another_user_gets_404_or_403_and_nothing_changes(world, bob_api, index):
    method, url, expected = _requests(world)[index]
    before, events = snapshot(), audit_count()
    response = getattr(bob_api, method)(url, BODY, format="json")
    assert response.status_code in expected, (method, url, response.status_code)
    assert set(response.json()) == {"error"}
    assert snapshot() == before
    assert audit_count() == events


def test_lists_hold_only_ones_own(world, bob_api):
    for url in ("/api/integrations/", "/api/credentials/", "/api/audit-events/"):
        response = bob_api.get(url)
        assert response.status_code == 200
        assert response.json()["count"] == 0, url


@pytest.mark.parametrize("index", range(18))
def test_anonymous_gets_401(world, anon_api, index):
    method, url, _ = _requests(world)[index]
    before = snapshot()
    response = getattr(anon_api, method)(url, BODY, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"
    assert snapshot() == before


@pytest.mark.parametrize(
    "url", ["/api/providers/", "/api/integrations/", "/api/credentials/", "/api/audit-events/"]
)
def test_anonymous_lists_are_401(db, anon_api, url):
    assert anon_api.get(url).status_code == 401


def test_a_bad_token_is_401(db, anon_api):
    anon_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anon_api.get("/api/credentials/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


class TestSessionAuthentication:
    def test_reads_with_a_session(self, alice, credential):
        client = APIClient()
        client.force_login(alice)
        assert client.get("/api/credentials/").json()["count"] == 1

    def test_writes_need_the_csrf_token(self, alice):
        client = APIClient(enforce_csrf_checks=True)
        client.login(username="alice", password="alice-password-1")
        payload = {"name": "n", "type": "bearer", "data": {"token": "t"}}
        response = client.post("/api/credentials/", payload, format="json")
        assert response.status_code == 403
        assert "CSRF" in response.json()["error"]["message"]
        assert not Credential.objects.exists()

        client.get("/admin/login/")  # sets the CSRF cookie
        token = client.cookies["csrftoken"].value
        response = client.post("/api/credentials/", payload, format="json", HTTP_X_CSRFTOKEN=token)
        assert response.status_code == 201

"""/api/providers/ takes URL templates with declared placeholders (issue 26)."""

import pytest

from integrations.models import Provider

pytestmark = pytest.mark.django_db

LIST = "/api/providers/"
SHOPIFY = {
    "slug": "shopify",
    "name": "Shopify",
    "authorize_url": "https://{shop}.myshopify.com/admin/oauth/authorize",
    "token_url": "https://{shop}.myshopify.com/admin/oauth/access_token",
    "base_url": "https://{shop}.myshopify.com/admin/api/",
    "metadata": {
        "url_params": {
            "shop": {
                "label": "Your shop",
                "pattern": "[a-z0-9][a-z0-9-]*",
                "example": "acme",
                "level": "connection",
            }
        }
    },
}


def test_staff_create_a_provider_with_url_templates(staff_api):
    response = staff_api.post(LIST, SHOPIFY, format="json")
    assert response.status_code == 201, response.content
    assert Provider.objects.get().token_url == SHOPIFY["token_url"]


def test_an_undeclared_placeholder_is_a_400(staff_api):
    payload = {**SHOPIFY, "metadata": {}}
    response = staff_api.post(LIST, payload, format="json")
    assert response.status_code == 400
    assert "{shop}" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.parametrize(
    "metadata",
    [
        {"revocation": {"method": "hook", "hook": "nope"}},
        {"url_params": {"region": {"pattern": "eu|us"}}, "url_values": {"region": "evil.com/"}},
    ],
)
def test_bad_quirks_are_a_400(staff_api, metadata):
    response = staff_api.post(LIST, {**SHOPIFY, "metadata": metadata}, format="json")
    assert response.status_code == 400
    assert "evil.com/" not in response.content.decode()


def test_a_malformed_template_is_a_400(staff_api):
    payload = {**SHOPIFY, "token_url": "https://{Shop}.myshopify.com/"}
    assert staff_api.post(LIST, payload, format="json").status_code == 400


def test_disconnecting_says_how_the_provider_revokes(alice, make_client):
    from integrations import tokens

    provider = Provider.objects.create(
        slug="norevoke",
        name="No revoke",
        metadata={"revocation": {"method": "none", "note": "Remove the app there."}},
    )
    integration, _ = tokens.connect(
        alice, provider, {"access_token": "t" * 30, "token_type": "Bearer"}
    )
    response = make_client(alice).delete(f"/api/integrations/{integration.pk}/")
    assert response.status_code == 200
    assert response.json()["revocation"] == {
        "supported": False,
        "method": "none",
        "revoked": [],
        "failed": {},
    }

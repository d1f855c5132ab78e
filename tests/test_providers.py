"""Provider presets: data that becomes a working Provider with only client id/secret."""

import pytest
from django.core.exceptions import ValidationError

from integrations import oauth
from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Provider
from integrations.providers import PRESETS, create_provider_from_preset, get_preset, preset_choices
from tests.dbutil import raw_column

pytestmark = pytest.mark.django_db


def test_the_five_presets_are_offered():
    assert dict(preset_choices()) == {
        "google": "Google", "github": "GitHub", "slack": "Slack", "microsoft": "Microsoft",
        "oidc": "OpenID Connect provider",
    }


@pytest.mark.parametrize("key", ["google", "github", "slack", "microsoft"])
def test_each_preset_makes_a_valid_provider_from_client_id_and_secret(key, admin_user, canary):
    provider = create_provider_from_preset(key, client_id=f"{key}-client-id",
                                           client_secret=canary, actor=admin_user)
    provider.full_clean()
    assert (provider.slug, provider.auth_type, provider.status) == (key, "oauth2", "active")
    assert provider.metadata["preset"] == key
    assert provider.default_scopes
    assert provider.discovery_url or (provider.authorize_url and provider.token_url)
    stored = raw_column(Provider, "client_secret", provider.pk)
    assert is_sealed(stored) and canary not in stored
    events = AuditEvent.objects.filter(target_id=str(provider.pk)).order_by("created_at")
    assert [(e.action, e.actor) for e in events] == [("create", admin_user), ("update", admin_user)]
    assert all(canary not in e.detail for e in events)
    # Every URL a preset names is one the OAuth client accepts (HTTPS).
    for name in ("authorize_url", "token_url", "revocation_url", "userinfo_url", "discovery_url"):
        oauth.check_endpoint_url(getattr(provider, name), name)


def test_google_asks_for_offline_access():
    assert get_preset("google")["metadata"]["authorize_params"]["access_type"] == "offline"


def test_the_generic_oidc_preset_needs_a_discovery_url():
    with pytest.raises(ValidationError) as info:
        create_provider_from_preset("oidc", client_id="cid", client_secret="s" * 20)
    assert "discovery_url" in info.value.message_dict
    provider = create_provider_from_preset(
        "oidc", client_id="cid", client_secret="s" * 20, slug="acme-sso", name="Acme SSO",
        discovery_url="https://sso.acme.example/.well-known/openid-configuration",
    )
    assert (provider.slug, provider.name, provider.pkce) == ("acme-sso", "Acme SSO", "supported")


def test_a_client_id_is_required_and_overrides_are_checked():
    with pytest.raises(ValidationError):
        create_provider_from_preset("github", client_id="")
    with pytest.raises(ValidationError, match="not provider fields: client_secret_plain"):
        create_provider_from_preset("github", client_id="x", client_secret_plain="oops")
    with pytest.raises(KeyError, match="unknown provider preset 'nope'"):
        create_provider_from_preset("nope", client_id="x")
    assert not Provider.objects.exists()


def test_a_second_app_of_one_preset_needs_its_own_slug():
    create_provider_from_preset("github", client_id="one")
    with pytest.raises(ValidationError):
        create_provider_from_preset("github", client_id="two")
    create_provider_from_preset("github", client_id="two", slug="github-work", name="GitHub (work)")
    assert Provider.objects.count() == 2


def test_presets_are_data_and_get_preset_copies():
    preset = get_preset("google")
    preset["metadata"]["authorize_params"]["access_type"] = "online"
    assert PRESETS["google"]["metadata"]["authorize_params"]["access_type"] == "offline"

"""Admin additions: create a Provider from a preset, mark providers inactive,
disconnect integrations (revoking at the provider), a readable audit log."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from integrations.crypto import is_sealed
from integrations.models import AuditEvent, Integration, Provider
from tests.dbutil import raw_column
from tests.oauth_helpers import alice, connected, fake, provider  # noqa: F401

pytestmark = pytest.mark.django_db

PRESET_URL = "/admin/integrations/provider/from-preset/"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.test", "pw-root-123")


@pytest.fixture
def staff_client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_the_provider_list_links_to_create_from_preset(staff_client):
    html = staff_client.get("/admin/integrations/provider/").content.decode()
    assert PRESET_URL in html and "Add from preset" in html


def test_create_from_preset_seals_the_secret_and_audits(staff, staff_client, canary):
    page = staff_client.get(PRESET_URL).content.decode()
    assert "GitHub" in page and 'href="?preset=github"' in page
    page = staff_client.get(PRESET_URL, {"preset": "github"}).content.decode()
    assert "GitHub" in page and 'type="password"' in page
    response = staff_client.post(
        PRESET_URL, {"preset": "github", "client_id": "gh-client", "client_secret": canary}
    )
    assert response.status_code == 302, response.content.decode()
    provider = Provider.objects.get(slug="github")
    assert response["Location"] == reverse("admin:integrations_provider_change", args=[provider.pk])
    assert provider.client_id == "gh-client" and provider.metadata["preset"] == "github"
    stored = raw_column(Provider, "client_secret", provider.pk)
    assert is_sealed(stored) and canary not in stored
    assert AuditEvent.objects.filter(
        action="create", target_id=str(provider.pk), actor=staff, detail="from preset github"
    ).exists()
    change = staff_client.get(response["Location"]).content.decode()
    assert "/integrations/callback/github/" in change and canary not in change


def test_create_the_generic_oauth1_preset_with_its_endpoints(staff_client, canary):
    base = "https://api.example.com/oauth"
    response = staff_client.post(
        PRESET_URL,
        {
            "preset": "oauth1",
            "client_id": "consumer-key",
            "client_secret": canary,
            "slug": "example",
            "request_token_url": f"{base}/request_token",
            "authorize_url": f"{base}/authorize",
            "token_url": f"{base}/access_token",
            "userinfo_url": "https://api.example.com/me",
        },
    )
    assert response.status_code == 302, response.content.decode()
    provider = Provider.objects.get(slug="example")
    assert (provider.auth_type, provider.signature_method) == ("oauth1", "HMAC-SHA1")
    assert provider.request_token_url == f"{base}/request_token"
    assert provider.token_url == f"{base}/access_token"


def test_the_generic_oauth1_preset_without_endpoints_names_them(staff_client, canary):
    response = staff_client.post(
        PRESET_URL, {"preset": "oauth1", "client_id": "c", "client_secret": canary}
    )
    html = response.content.decode()
    assert response.status_code == 200 and canary not in html
    for name in ("request_token_url", "authorize_url", "token_url"):
        assert f'class="form-row errors field-{name}"' in html
    assert 'class="form-row errors field-userinfo_url"' not in html  # optional
    assert not Provider.objects.exists()


def test_create_from_preset_errors_never_render_the_secret(staff_client, canary):
    # The generic OIDC preset needs a discovery URL.
    response = staff_client.post(
        PRESET_URL, {"preset": "oidc", "client_id": "c", "client_secret": canary}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "required" in html and canary not in html
    assert not Provider.objects.exists()
    # A taken slug.
    staff_client.post(PRESET_URL, {"preset": "github", "client_id": "a"})
    response = staff_client.post(
        PRESET_URL, {"preset": "github", "client_id": "b", "client_secret": canary}
    )
    html = response.content.decode()
    assert response.status_code == 200 and canary not in html
    assert Provider.objects.count() == 1


def test_create_from_preset_needs_add_permission(django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_provider"))
    client = Client()
    client.force_login(user)
    assert client.get(PRESET_URL).status_code == 403
    assert "Add from preset" not in client.get("/admin/integrations/provider/").content.decode()


def test_mark_inactive_action(staff, staff_client):
    one = Provider.objects.create(slug="one", name="One")
    two = Provider.objects.create(slug="two", name="Two", status="inactive")
    response = staff_client.post(
        "/admin/integrations/provider/",
        {
            "action": "mark_inactive",
            "_selected_action": [str(one.pk), str(two.pk)],
        },
    )
    assert response.status_code == 302
    assert set(Provider.objects.values_list("status", flat=True)) == {"inactive"}
    assert (
        AuditEvent.objects.filter(
            action="update", target_id=str(one.pk), actor=staff, detail="admin: marked inactive"
        ).count()
        == 1
    )
    assert not AuditEvent.objects.filter(target_id=str(two.pk)).exists()


def test_disconnect_action_revokes_at_the_provider(staff, staff_client, alice, provider, fake):
    integration = connected(alice, provider)
    response = staff_client.post(
        "/admin/integrations/integration/",
        {
            "action": "disconnect_selected",
            "_selected_action": [str(integration.pk)],
        },
        follow=True,
    )
    assert "1 integration(s) disconnected." in response.content.decode()
    integration.refresh_from_db()
    assert integration.status == "revoked"
    assert raw_column(Integration, "access_token", integration.pk) is None
    assert len(fake.requests_to("/revoke")) == 2  # refresh and access token, at the provider
    event = AuditEvent.objects.get(action="disconnect", target_id=str(integration.pk))
    assert event.actor == staff
    assert Integration.objects.filter(pk=integration.pk).exists()  # kept, not deleted


def test_audit_log_is_readable_and_filterable(staff_client, alice, provider, fake):
    connected(alice, provider)
    html = staff_client.get("/admin/integrations/auditevent/").content.decode()
    assert "By action" in html and "By outcome" in html
    assert "Success" in html
    filtered = staff_client.get("/admin/integrations/auditevent/?action__exact=connect")
    assert filtered.status_code == 200


def test_the_preset_client_secret_is_hidden_from_error_reports(staff_client, canary):
    from django.views.debug import SafeExceptionReporterFilter

    response = staff_client.post(
        PRESET_URL, {"preset": "oidc", "client_id": "c", "client_secret": canary}
    )
    request = response.wsgi_request
    assert set(request.sensitive_post_parameters) == {"client_secret"}
    assert canary not in str(dict(SafeExceptionReporterFilter().get_post_parameters(request)))


def test_the_credential_provider_filter_names_plugin_credentials(staff_client, alice, provider):
    from integrations import credentials

    credentials.create_credential(
        alice, name="Mailer", credential_type="api_key", data={"api_key": "k" * 20}, plugin="mail"
    )
    html = staff_client.get("/admin/integrations/credential/").content.decode()
    filters = html[html.index('id="changelist-filter"') :]
    assert "None (a plugin)" in filters
    assert ">-</a>" not in filters  # Django's bare empty-choice label
    # The plugin stands where the provider would.
    assert '<td class="field-provider_or_plugin">mail</td>' in html
    listed = staff_client.get("/admin/integrations/credential/?provider__isnull=True")
    assert [c.name for c in listed.context["cl"].result_list] == ["Mailer"]


def test_the_integration_list_shows_the_last_error_under_the_status(staff_client, alice, provider):
    integration = connected(alice, provider)
    Integration.objects.filter(pk=integration.pk).update(status="error", last_error="timeout")
    html = staff_client.get("/admin/integrations/integration/").content.decode()
    assert 'Error<small class="last-error">timeout</small>' in html


@pytest.mark.parametrize(
    "url",
    [
        "/admin/integrations/provider/",
        "/admin/integrations/integration/",
        "/admin/integrations/credential/",
        "/admin/integrations/auditevent/",
    ],
)
def test_every_changelist_uses_the_layout_that_fits_1280px(staff_client, url):
    html = staff_client.get(url).content.decode()
    assert "integrations/admin.css" in html

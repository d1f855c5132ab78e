"""The admin shows that secrets are set, never what they are.

Secrets are entered through the admin's write-only inputs (and, for tokens,
through the token service, as the OAuth callback does); then every admin page
is fetched and searched for the canary.
"""

import json
import sys

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.core.signals import got_request_exception
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from integrations import credentials, tokens
from integrations.admin import sealed_status
from integrations.crypto import Keyring, is_sealed
from integrations.models import AuditEvent, Credential, Integration, Provider
from tests.conftest import assert_not_logged
from tests.dbutil import raw_column
from tests.settings import TEST_KEY_V1, TEST_KEY_V2

pytestmark = pytest.mark.django_db

Action = AuditEvent.Action


def admin_url(model, view, *args):
    return reverse(f"admin:integrations_{model._meta.model_name}_{view}", args=args)


def provider_post(**overrides):
    data = {
        "name": "Demo Cloud",
        "slug": "demo-cloud",
        "category": "storage",
        "auth_type": "oauth2",
        "status": "active",
        "description": "",
        "icon_url": "",
        "base_url": "https://api.example.com",
        "authorize_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
        "revocation_url": "",
        "userinfo_url": "",
        "discovery_url": "",
        "default_scopes": '["read"]',
        "pkce": "supported",
        "client_id": "demo-client-id",
        "new_client_secret": "",
        "metadata": "{}",
        # What the rendered form sends for fields with callable defaults.
        "initial-default_scopes": '["read"]',
        "initial-metadata": "{}",
    }
    data.update(overrides)
    return data


def credential_post(owner, **overrides):
    data = {
        "owner": str(owner.pk),
        "name": "Stripe live",
        "credential_type": "api_key",
        "provider": "",
        "plugin": "stripe",
        "expires_at_0": "",
        "expires_at_1": "",
        "secret_data": "",
    }
    data.update(overrides)
    return data


def credential_change_post(credential, **overrides):
    """A change form POST: owner and type are read-only there."""
    data = credential_post(
        credential.owner,
        name=credential.name,
        plugin=credential.plugin,
        provider=str(credential.provider_id or ""),
    )
    del data["owner"], data["credential_type"]
    data.update(overrides)
    return data


def page_text(response):
    return response.content.decode()


@pytest.fixture
def every_log(all_logs):
    """The strict capture of tests/conftest.py (kept as a name for these tests)."""
    return all_logs


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", password="not-a-secret-pw")


@pytest.fixture
def api_key(canary):
    return f"{canary}-sk-0123456789wxyz"


@pytest.fixture
def world(admin_client, owner, canary, api_key):
    """A provider and a credential created through the admin, an integration via OAuth's service."""
    response = admin_client.post(
        admin_url(Provider, "add"), provider_post(new_client_secret=canary)
    )
    assert response.status_code == 302, page_text(response)
    provider = Provider.objects.get(slug="demo-cloud")

    response = admin_client.post(
        admin_url(Credential, "add"),
        credential_post(
            owner, provider=str(provider.pk), secret_data=json.dumps({"api_key": api_key})
        ),
    )
    assert response.status_code == 302, page_text(response)
    credential = Credential.objects.get(owner=owner, name="Stripe live")

    integration, created = tokens.connect(
        owner,
        provider,
        {
            "access_token": f"{canary}-access",
            "refresh_token": f"{canary}-refresh",
            "expires_in": 3600,
            "scope": "read",
        },
        external_account_id="acct-42",
        label="Alice at Demo Cloud",
    )
    assert created
    return {"provider": provider, "credential": credential, "integration": integration}


def sealed_values(world):
    """Every sealed string the world holds: the admin shows none of these either."""
    provider, credential, integration = (
        world["provider"],
        world["credential"],
        world["integration"],
    )
    values = [
        raw_column(Provider, "client_secret", provider.pk),
        raw_column(Credential, "data", credential.pk),
        raw_column(Integration, "access_token", integration.pk),
        raw_column(Integration, "refresh_token", integration.pk),
    ]
    assert all(values)
    return values


class TestSecretsGoInSealed:
    def test_database_holds_them_sealed_and_the_services_read_them_back(
        self, world, owner, canary, api_key
    ):
        for value in sealed_values(world):
            assert is_sealed(value)
            assert canary not in value

        credential = world["credential"]
        secret = credentials.read_secret(owner, credential, purpose="test read-back")
        assert secret.reveal() == {"api_key": api_key}
        assert credential.hint == "wxyz"
        client_secret = credentials.read_client_secret(world["provider"], purpose="test")
        assert client_secret.reveal() == canary
        integration = Integration.objects.get(pk=world["integration"].pk)
        assert tokens.read_access_token(integration, purpose="test").reveal() == f"{canary}-access"
        assert integration.refresh_token == f"{canary}-refresh"

    def test_writes_are_audited_with_the_staff_user_as_actor(self, world, admin_user, owner):
        provider, credential = world["provider"], world["credential"]
        provider_events = AuditEvent.objects.filter(target_id=str(provider.pk))
        assert provider_events.filter(
            action=Action.UPDATE, actor=admin_user, detail="client secret replaced"
        ).exists()

        credential_events = AuditEvent.objects.filter(target_id=str(credential.pk))
        assert credential_events.filter(action=Action.CREATE, actor=admin_user).exists()
        staff_event = credential_events.get(actor=admin_user)
        assert staff_event.actor_label == admin_user.get_username()
        assert staff_event.ip_address == "127.0.0.1"

    def test_model_fields_for_secrets_are_not_in_the_forms(self, admin_client, world):
        for model, obj in (
            (Provider, world["provider"]),
            (Credential, world["credential"]),
            (Integration, world["integration"]),
        ):
            response = admin_client.get(admin_url(model, "change", obj.pk))
            form = response.context["adminform"].form
            for name in ("client_secret", "data", "access_token", "refresh_token"):
                assert name not in form.fields
            for name in ("new_client_secret", "secret_data"):
                assert not form.initial.get(name)
                if name in form.fields:
                    assert not form[name].value()


ADMIN_PAGES = [
    # (model, view, query string, expected status)
    (Provider, "changelist", "", 200),
    (Provider, "changelist", "?q=demo", 200),
    (
        Provider,
        "changelist",
        "?category__exact=storage&status__exact=active&auth_type__exact=oauth2",
        200,
    ),
    (Provider, "add", "", 200),
    (Provider, "change", "", 200),
    (Provider, "history", "", 200),
    (Provider, "delete", "", 200),
    (Integration, "changelist", "", 200),
    (Integration, "changelist", "?q=alice", 200),
    (Integration, "changelist", "?q=acct-42", 200),
    (Integration, "changelist", "?status__exact=active&provider__category__exact=storage", 200),
    (Integration, "changelist", "?provider__id__exact={provider}", 200),
    (Integration, "add", "", 403),
    (Integration, "change", "", 200),
    (Integration, "history", "", 200),
    (Integration, "delete", "", 200),
    (Credential, "changelist", "", 200),
    (Credential, "changelist", "?q=stripe", 200),
    (
        Credential,
        "changelist",
        "?credential_type__exact=api_key&provider__id__exact={provider}",
        200,
    ),
    (Credential, "add", "", 200),
    (Credential, "change", "", 200),
    (Credential, "history", "", 200),
    (Credential, "delete", "", 200),
    (AuditEvent, "changelist", "", 200),
    (AuditEvent, "changelist", "?q=alice", 200),
    (AuditEvent, "changelist", "?action__exact=create&outcome__exact=success", 200),
    (AuditEvent, "changelist", "?target_type=integrations.credential", 200),
    (AuditEvent, "change", "", 200),
    (AuditEvent, "history", "", 200),
    (AuditEvent, "delete", "", 403),
    (AuditEvent, "add", "", 403),
]


def _page_id(page):
    model, view, query, _status = page
    return f"{model._meta.model_name}-{view}{'-' + query if query else ''}"


class TestNoPageShowsASecret:
    @pytest.mark.parametrize("page", ADMIN_PAGES, ids=[_page_id(p) for p in ADMIN_PAGES])
    def test_page(self, every_log, admin_client, world, canary, page):
        model, view, query, status = page
        objects = {
            Provider: world["provider"],
            Integration: world["integration"],
            Credential: world["credential"],
            AuditEvent: AuditEvent.objects.filter(
                target_id=str(world["credential"].pk), action=Action.CREATE
            ).first(),
        }
        args = (objects[model].pk,) if view in ("change", "history", "delete") else ()
        url = admin_url(model, view, *args) + query.format(provider=world["provider"].pk)

        response = admin_client.get(url)

        assert response.status_code == status
        html = page_text(response)
        assert canary not in html
        for sealed in sealed_values(world):
            assert sealed not in html
        assert_not_logged(every_log, canary)
        if status == 200 and view == "changelist":
            assert response.context["cl"].result_count >= 1, url

    def test_status_columns_show_set_and_key_version(self, admin_client, world):
        html = page_text(admin_client.get(admin_url(Provider, "changelist")))
        assert "Sealed (key v2)" in html

        html = page_text(admin_client.get(admin_url(Integration, "changelist")))
        assert html.count("Sealed (key v2)") == 2  # access and refresh token

        html = page_text(admin_client.get(admin_url(Credential, "changelist")))
        assert "Sealed (key v2)" in html
        assert "…wxyz" in html

        html = page_text(admin_client.get(admin_url(Credential, "change", world["credential"].pk)))
        assert "Sealed (key v2)" in html
        assert "…wxyz" in html

    def test_history_names_fields_never_values(self, admin_client, world, canary):
        provider, credential = world["provider"], world["credential"]
        response = admin_client.post(
            admin_url(Provider, "change", provider.pk),
            provider_post(new_client_secret=f"{canary}-second"),
        )
        assert response.status_code == 302
        response = admin_client.post(
            admin_url(Credential, "change", credential.pk),
            credential_change_post(
                credential, secret_data=json.dumps({"api_key": f"{canary}-third-key"})
            ),
        )
        assert response.status_code == 302

        entries = LogEntry.objects.all()
        assert entries.count() == 4  # two additions, two changes
        for entry in entries:
            assert canary not in entry.change_message
            assert canary not in entry.object_repr
        provider_change = entries.get(object_id=str(provider.pk), action_flag=2)
        assert provider_change.get_change_message() == "Changed New client secret."
        credential_change = entries.get(object_id=str(credential.pk), action_flag=2)
        assert credential_change.get_change_message() == "Changed Secret data."
        for model, obj in ((Provider, provider), (Credential, credential)):
            html = page_text(admin_client.get(admin_url(model, "history", obj.pk)))
            assert canary not in html

    def test_sealed_status_texts(self, settings):
        v1 = Keyring.parse([TEST_KEY_V1]).encrypt(b"x", b"ctx")
        v2 = Keyring.parse([TEST_KEY_V2]).encrypt(b"x", b"ctx")
        assert sealed_status(None) == "Not set"
        assert sealed_status("") == "Not set"
        assert sealed_status("plain old secret") == "Legacy plaintext"
        assert sealed_status("$si1$2$not-base64!") == "Damaged sealed value"
        assert sealed_status(v2) == "Sealed (key v2)"
        assert sealed_status(v1) == "Sealed (key v1, not the primary key)"
        settings.INTEGRATIONS = {"ENCRYPTION_KEYS": [TEST_KEY_V1]}
        assert sealed_status(v2) == "Sealed (key v2, key not configured)"

    def test_legacy_plaintext_is_labelled_not_shown(self, admin_client, world, canary):
        provider = world["provider"]
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Provider._meta.db_table} SET client_secret = %s WHERE id = %s",
                [f"{canary}-legacy", Provider._meta.pk.get_db_prep_value(provider.pk, connection)],
            )
        for view in ("changelist", "change"):
            args = (provider.pk,) if view == "change" else ()
            html = page_text(admin_client.get(admin_url(Provider, view, *args)))
            assert "Legacy plaintext" in html
            assert canary not in html
        # Editing other fields leaves the legacy value for encrypt_legacy to seal.
        response = admin_client.post(
            admin_url(Provider, "change", provider.pk), provider_post(description="edited")
        )
        assert response.status_code == 302
        assert raw_column(Provider, "client_secret", provider.pk) == f"{canary}-legacy"
        assert Provider.objects.get(pk=provider.pk).description == "edited"


class TestProviderClientSecret:
    def test_blank_keeps_the_secret(self, admin_client, world, canary):
        provider = world["provider"]
        before = raw_column(Provider, "client_secret", provider.pk)
        response = admin_client.post(
            admin_url(Provider, "change", provider.pk), provider_post(name="Renamed")
        )
        assert response.status_code == 302
        assert raw_column(Provider, "client_secret", provider.pk) == before
        provider.refresh_from_db()
        assert provider.name == "Renamed"
        assert credentials.read_client_secret(provider, purpose="test").reveal() == canary

    def test_new_secret_replaces_it(self, admin_client, world, canary):
        provider = world["provider"]
        response = admin_client.post(
            admin_url(Provider, "change", provider.pk),
            provider_post(new_client_secret=f"{canary}-rotated"),
        )
        assert response.status_code == 302
        provider.refresh_from_db()
        assert credentials.read_client_secret(provider, purpose="test").reveal() == (
            f"{canary}-rotated"
        )

    def test_clear_removes_it(self, admin_client, admin_user, world):
        provider = world["provider"]
        response = admin_client.post(
            admin_url(Provider, "change", provider.pk), provider_post(clear_client_secret="on")
        )
        assert response.status_code == 302
        assert raw_column(Provider, "client_secret", provider.pk) is None
        assert AuditEvent.objects.filter(
            target_id=str(provider.pk), actor=admin_user, detail="client secret cleared"
        ).exists()
        html = page_text(admin_client.get(admin_url(Provider, "change", provider.pk)))
        assert "Not set" in html

    def test_new_and_clear_together_is_an_error_that_does_not_echo(
        self, admin_client, world, canary
    ):
        provider = world["provider"]
        before = raw_column(Provider, "client_secret", provider.pk)
        response = admin_client.post(
            admin_url(Provider, "change", provider.pk),
            provider_post(new_client_secret=f"{canary}-typed", clear_client_secret="on"),
        )
        assert response.status_code == 200
        assert "not both" in page_text(response)
        assert canary not in page_text(response)
        assert raw_column(Provider, "client_secret", provider.pk) == before

    def test_add_without_secret(self, admin_client):
        response = admin_client.post(admin_url(Provider, "add"), provider_post())
        assert response.status_code == 302
        provider = Provider.objects.get(slug="demo-cloud")
        assert raw_column(Provider, "client_secret", provider.pk) is None

    def test_blank_json_fields_take_their_defaults(self, admin_client):
        response = admin_client.post(
            admin_url(Provider, "add"), provider_post(default_scopes="", metadata="")
        )
        assert response.status_code == 302
        provider = Provider.objects.get(slug="demo-cloud")
        assert (provider.default_scopes, provider.metadata) == ([], {})

    def test_invalid_form_does_not_echo_the_secret(self, admin_client, canary):
        response = admin_client.post(
            admin_url(Provider, "add"),
            provider_post(new_client_secret=canary, token_url="not a url"),
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        assert canary not in page_text(response)
        assert not Provider.objects.exists()


class TestCredentialSecretData:
    def test_blank_keeps_the_data(self, admin_client, world, owner, api_key):
        credential = world["credential"]
        before = raw_column(Credential, "data", credential.pk)
        response = admin_client.post(
            admin_url(Credential, "change", credential.pk),
            credential_change_post(credential, name="Stripe renamed"),
        )
        assert response.status_code == 302
        assert raw_column(Credential, "data", credential.pk) == before
        credential.refresh_from_db()
        assert credential.name == "Stripe renamed"
        assert credential.hint == "wxyz"
        assert credentials.read_secret(owner, credential, purpose="test").reveal() == {
            "api_key": api_key
        }

    def test_new_data_replaces_it(self, admin_client, admin_user, world, owner, canary):
        credential = world["credential"]
        new = {"api_key": f"{canary}-replacement-key-abcd"}
        response = admin_client.post(
            admin_url(Credential, "change", credential.pk),
            credential_change_post(credential, secret_data=json.dumps(new)),
        )
        assert response.status_code == 302
        credential.refresh_from_db()
        assert credential.hint == "abcd"
        assert credentials.read_secret(owner, credential, purpose="test").reveal() == new
        events = AuditEvent.objects.filter(target_id=str(credential.pk), action=Action.UPDATE)
        (event,) = events
        assert event.actor == admin_user
        assert event.detail == f"secret replaced; on behalf of {owner.username}"

    @pytest.mark.parametrize(
        ("typed", "message"),
        [
            ('{"api_key": "{canary}"', "Enter a valid JSON object."),
            ("{canary}", "Enter a valid JSON object."),
            ('["{canary}"]', "Enter a JSON object."),
            ('{"token": "{canary}"}', "api_key: this key is required"),
            ('{"api_key": ""}', "api_key: this key is required"),
        ],
        ids=["truncated-json", "not-json", "not-an-object", "missing-key", "empty-key"],
    )
    def test_invalid_data_is_a_form_error_that_does_not_echo(
        self, every_log, admin_client, world, owner, canary, api_key, typed, message
    ):
        credential = world["credential"]
        before = raw_column(Credential, "data", credential.pk)
        response = admin_client.post(
            admin_url(Credential, "change", credential.pk),
            credential_change_post(credential, secret_data=typed.replace("{canary}", canary)),
        )
        assert response.status_code == 200
        form = response.context["adminform"].form
        assert any(message in error for error in form.errors["secret_data"])
        html = page_text(response)
        assert message in html
        assert canary not in html
        assert_not_logged(every_log, canary)
        assert raw_column(Credential, "data", credential.pk) == before
        assert credentials.read_secret(owner, credential, purpose="test").reveal() == {
            "api_key": api_key
        }

    def test_add_requires_data(self, admin_client, owner):
        response = admin_client.post(admin_url(Credential, "add"), credential_post(owner))
        assert response.status_code == 200
        assert "secret_data" in response.context["adminform"].form.errors
        assert not Credential.objects.exists()

    def test_add_with_an_error_elsewhere_does_not_echo(self, admin_client, world, owner, canary):
        # Same owner and name as the existing credential: a uniqueness error.
        response = admin_client.post(
            admin_url(Credential, "add"),
            credential_post(owner, secret_data=json.dumps({"api_key": f"{canary}-dup"})),
        )
        assert response.status_code == 200
        assert response.context["adminform"].form.errors
        assert canary not in page_text(response)
        assert Credential.objects.count() == 1

    def test_rename_onto_another_credentials_name_is_a_form_error(self, admin_client, world, owner):
        credentials.create_credential(
            owner, name="Other", credential_type="bearer", data={"token": "some-bearer-token"}
        )
        credential = world["credential"]
        response = admin_client.post(
            admin_url(Credential, "change", credential.pk),
            credential_change_post(credential, name="Other"),
        )
        assert response.status_code == 200
        assert "name" in response.context["adminform"].form.errors

    def test_delete_goes_through_the_service(self, admin_client, admin_user, world):
        credential = world["credential"]
        response = admin_client.post(
            admin_url(Credential, "delete", credential.pk), {"post": "yes"}
        )
        assert response.status_code == 302
        assert not Credential.objects.filter(pk=credential.pk).exists()
        (event,) = AuditEvent.objects.filter(target_id=str(credential.pk), action=Action.DELETE)
        assert event.actor == admin_user
        assert event.detail == f"on behalf of {credential.owner.username}"

    def test_bulk_delete_action_goes_through_the_service(self, admin_client, admin_user, world):
        credential = world["credential"]
        response = admin_client.post(
            admin_url(Credential, "changelist"),
            {"action": "delete_selected", "_selected_action": [str(credential.pk)], "post": "yes"},
        )
        assert response.status_code == 302
        assert not Credential.objects.exists()
        assert AuditEvent.objects.filter(
            target_id=str(credential.pk), action=Action.DELETE, actor=admin_user
        ).exists()


class TestIntegrationAdmin:
    def test_no_token_inputs(self, admin_client, world):
        integration = world["integration"]
        response = admin_client.get(admin_url(Integration, "change", integration.pk))
        html = page_text(response)
        assert set(response.context["adminform"].form.fields) == {"label", "status", "metadata"}
        for name in ("access_token", "refresh_token"):
            assert f'name="{name}' not in html
        assert admin_client.get(admin_url(Integration, "add")).status_code == 403

    def test_edit_keeps_tokens_even_if_refreshed_meanwhile(
        self, admin_client, world, monkeypatch, canary
    ):
        """The admin writes only the columns it changed: no lost token refresh."""
        from integrations.admin import IntegrationAdmin

        integration = world["integration"]
        original_get_object = IntegrationAdmin.get_object

        def get_object_then_refresh(self, request, object_id, from_field=None):
            obj = original_get_object(self, request, object_id, from_field)
            if request.method == "POST":
                tokens.store_token_response(
                    Integration.objects.get(pk=obj.pk),
                    {"access_token": f"{canary}-fresh", "refresh_token": f"{canary}-rotated"},
                )
            return obj

        monkeypatch.setattr(IntegrationAdmin, "get_object", get_object_then_refresh)
        response = admin_client.post(
            admin_url(Integration, "change", integration.pk),
            {"label": "Relabelled", "status": "active", "metadata": "{}"},
        )
        assert response.status_code == 302
        integration = Integration.objects.get(pk=integration.pk)
        assert integration.label == "Relabelled"
        assert integration.access_token == f"{canary}-fresh"
        assert integration.refresh_token == f"{canary}-rotated"

    def test_delete_is_audited(self, admin_client, admin_user, world):
        integration = world["integration"]
        response = admin_client.post(
            admin_url(Integration, "delete", integration.pk), {"post": "yes"}
        )
        assert response.status_code == 302
        assert not Integration.objects.exists()
        assert AuditEvent.objects.filter(
            target_id=str(integration.pk), action=Action.DELETE, actor=admin_user
        ).exists()

    @pytest.mark.parametrize("model", [Integration, Credential])
    def test_changelist_query_count_does_not_grow_with_rows(
        self, admin_client, django_user_model, world, model
    ):
        provider = world["provider"]

        def count_queries():
            with CaptureQueriesContext(connection) as queries:
                response = admin_client.get(admin_url(model, "changelist"))
            assert response.status_code == 200
            return len(queries)

        before = count_queries()
        for n in range(4):
            user = django_user_model.objects.create_user(f"user{n}")
            tokens.connect(user, provider, {"access_token": f"access-token-{n}"})
            credentials.create_credential(
                user,
                name=f"key {n}",
                credential_type="api_key",
                data={"api_key": f"api-key-{n}"},
                provider=provider,
            )
        assert count_queries() == before


class TestAuditEventAdmin:
    def test_read_only(self, admin_client, world):
        event = AuditEvent.objects.first()
        count = AuditEvent.objects.count()

        assert admin_client.get(admin_url(AuditEvent, "add")).status_code == 403
        assert (
            admin_client.post(
                admin_url(AuditEvent, "add"), {"action": "create", "outcome": "success"}
            ).status_code
            == 403
        )
        response = admin_client.get(admin_url(AuditEvent, "change", event.pk))
        assert response.status_code == 200
        assert not response.context["adminform"].form.fields
        assert response.context["has_change_permission"] is False
        assert (
            admin_client.post(
                admin_url(AuditEvent, "change", event.pk),
                {"action": "delete", "outcome": "failure", "actor_label": "mallory"},
            ).status_code
            == 403
        )
        assert admin_client.get(admin_url(AuditEvent, "delete", event.pk)).status_code == 403
        assert (
            admin_client.post(
                admin_url(AuditEvent, "delete", event.pk), {"post": "yes"}
            ).status_code
            == 403
        )

        response = admin_client.get(admin_url(AuditEvent, "changelist"))
        assert "delete_selected" not in page_text(response)
        response = admin_client.post(
            admin_url(AuditEvent, "changelist"),
            {"action": "delete_selected", "_selected_action": [str(event.pk)], "post": "yes"},
        )
        assert AuditEvent.objects.count() == count
        refreshed = AuditEvent.objects.get(pk=event.pk)
        assert (refreshed.action, refreshed.actor_label) == (event.action, event.actor_label)

    def test_list_columns_and_date_hierarchy(self, admin_client, world):
        response = admin_client.get(admin_url(AuditEvent, "changelist"))
        html = page_text(response)
        for header in ("Created at", "Actor label", "Action", "Outcome", "Target", "Detail"):
            assert header in html
        # Targets by their verbose names, not the raw model labels.
        results = html[html.index('id="result_list"') :]
        results = results[: results.index("</table>")]
        assert "Credential: Stripe live" in results
        assert "integrations.credential" not in results
        filters = html[html.index('id="changelist-filter"') :]
        assert ">Credential</a>" in filters and ">Provider</a>" in filters
        assert ">integrations.credential</a>" not in filters
        response = admin_client.get(
            admin_url(AuditEvent, "changelist") + "?target_type=integrations.credential"
        )
        assert {event.target_type for event in response.context["cl"].result_list} == {
            "integrations.credential"
        }
        today = world["credential"].created_at
        response = admin_client.get(
            admin_url(AuditEvent, "changelist")
            + f"?created_at__year={today.year}&created_at__month={today.month}"
        )
        assert response.status_code == 200
        assert response.context["cl"].result_count >= 3


class TestAccess:
    PAGES = [
        (Provider, "changelist"),
        (Integration, "changelist"),
        (Credential, "changelist"),
        (AuditEvent, "changelist"),
        (Provider, "add"),
        (Credential, "add"),
    ]

    @pytest.mark.parametrize(("model", "view"), PAGES)
    def test_non_staff_are_sent_to_login(self, client, owner, model, view):
        url = admin_url(model, view)
        for logged_in in (False, True):
            if logged_in:
                client.force_login(owner)
            response = client.get(url)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("admin:login"))

    def test_view_only_staff_get_no_write_only_inputs(self, client, django_user_model, world):
        staff = django_user_model.objects.create_user("viewer", is_staff=True)
        staff.user_permissions.add(
            Permission.objects.get(codename="view_provider"),
            Permission.objects.get(codename="view_credential"),
        )
        client.force_login(staff)
        for model, obj in ((Provider, world["provider"]), (Credential, world["credential"])):
            response = client.get(admin_url(model, "change", obj.pk))
            assert response.status_code == 200
            html = page_text(response)
            assert "Sealed (key v2)" in html
            assert 'name="new_client_secret"' not in html
            assert 'name="secret_data"' not in html
            assert "New client secret" not in html
            assert "Secret data" not in html
            assert client.post(admin_url(model, "change", obj.pk), {}).status_code == 403


class TestLogs:
    def test_a_whole_admin_session_logs_no_secret(self, every_log, admin_client, owner, canary):
        """Everything at DEBUG from every logger, while secrets go in, fail and get replaced."""
        assert (
            admin_client.post(
                admin_url(Provider, "add"), provider_post(new_client_secret=canary)
            ).status_code
            == 302
        )
        provider = Provider.objects.get()
        assert (
            admin_client.post(
                admin_url(Provider, "add"),
                provider_post(slug="other", new_client_secret=canary, clear_client_secret="on"),
            ).status_code
            == 200
        )
        assert (
            admin_client.post(
                admin_url(Credential, "add"),
                credential_post(owner, secret_data=json.dumps({"api_key": f"{canary}-key-1234"})),
            ).status_code
            == 302
        )
        credential = Credential.objects.get()
        for typed in ('{"api_key": "%s"' % canary, '{"token": "%s"}' % canary):
            assert (
                admin_client.post(
                    admin_url(Credential, "change", credential.pk),
                    credential_change_post(credential, secret_data=typed),
                ).status_code
                == 200
            )
        assert (
            admin_client.post(
                admin_url(Credential, "change", credential.pk),
                credential_change_post(
                    credential, secret_data=json.dumps({"api_key": f"{canary}-key-5678"})
                ),
            ).status_code
            == 302
        )
        integration, _ = tokens.connect(owner, provider, {"access_token": f"{canary}-access"})
        event = AuditEvent.objects.first()
        for model, obj in (
            (Provider, provider),
            (Credential, credential),
            (Integration, integration),
            (AuditEvent, event),
        ):
            for view in ("changelist", "change", "history", "delete"):
                args = () if view == "changelist" else (obj.pk,)
                admin_client.get(admin_url(model, view, *args))
        admin_client.post(admin_url(AuditEvent, "change", event.pk), {"action": "delete"})

        logged = {record.name for record in every_log.records}
        assert "django.request" in logged  # the capture works: the 403s were logged
        assert_not_logged(every_log, canary)


class TestErrorReports:
    def test_secret_post_parameters_are_marked_sensitive(self, admin_client, owner, canary):
        response = admin_client.post(
            admin_url(Credential, "add"),
            credential_post(owner, name="", secret_data=json.dumps({"api_key": canary})),
        )
        assert response.status_code == 200  # name is required
        request = response.wsgi_request
        assert set(request.sensitive_post_parameters) >= {"new_client_secret", "secret_data"}
        filtered = SafeExceptionReporterFilter().get_post_parameters(request)
        assert canary not in str(dict(filtered))

        response = admin_client.post(
            admin_url(Provider, "add"), provider_post(name="", new_client_secret=canary)
        )
        filtered = SafeExceptionReporterFilter().get_post_parameters(response.wsgi_request)
        assert canary not in str(dict(filtered))

    @pytest.mark.parametrize("model", [Provider, Credential])
    def test_error_report_of_a_failed_save_holds_no_secret(
        self, admin_client, owner, canary, monkeypatch, model
    ):
        """A crash while saving: the 500 report hides the POST data and the frames' locals."""

        def explode(*args, **kwargs):
            raise RuntimeError("storage unavailable")

        reports = []

        def report(sender, request, **kwargs):
            reports.append(ExceptionReporter(request, *sys.exc_info()).get_traceback_html())

        # Fail inside the service, after it has received the secret.
        monkeypatch.setattr("integrations.audit.record", explode)
        if model is Provider:
            url, data = admin_url(Provider, "add"), provider_post(new_client_secret=canary)
        else:
            url = admin_url(Credential, "add")
            data = credential_post(owner, secret_data=json.dumps({"api_key": canary}))

        got_request_exception.connect(report)
        try:
            with pytest.raises(RuntimeError):
                admin_client.post(url, data)
        finally:
            got_request_exception.disconnect(report)

        assert len(reports) == 1
        html = reports[0]
        assert "storage unavailable" in html
        assert canary not in html

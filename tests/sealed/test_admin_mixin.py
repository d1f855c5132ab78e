"""SealedFieldsAdminMixin on a project's own models, through the real admin.

The models (tests/testapp) are third-party style: ``Webhook`` has an AutoField
key, no timestamps and some sealed fields; ``ArchivedWebhook`` is its proxy;
``Mailbox`` has a UUID key (values bound to the row) and an ``auto_now`` column.
"""

import json
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.admin import AdminSite
from django.test import RequestFactory
from django.test.utils import override_settings
from django.urls import reverse
from django.utils import timezone
from django.views.debug import SafeExceptionReporterFilter

from integrations.admin import SealedFieldsAdmin
from integrations.conf import app_settings
from integrations.crypto import Keyring, generate_key
from integrations.models import AuditEvent
from integrations.sealed.resealing import reseal_action_finished
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1
from tests.testapp.admin import WebhookAdmin
from tests.testapp.models import ArchivedWebhook, Mailbox, Webhook

pytestmark = pytest.mark.django_db

DAMAGED = "$si1$2$not-base64!"


def url(model, view, *args):
    return reverse(f"admin:testapp_{model._meta.model_name}_{view}", args=args)


def under_old_key(create):
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
        return create()


@pytest.fixture
def never_decrypts():
    """Opening any value fails the test: pages must read headers only."""
    with mock.patch.object(Keyring, "decrypt", side_effect=AssertionError("decrypted")):
        yield


def key_version(model, column, pk):
    return app_settings.keyring.key_version(raw_column(model, column, pk))


def run_reseal(client, model, pks):
    return client.post(
        url(model, "changelist"),
        {"action": "reseal_with_primary_key", "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def webhook_post(**overrides):
    return {
        "url": "https://example.com/hook",
        "signing_secret": "",
        "headers": "",
        "notes": "",
        **overrides,
    }


class TestStatusColumns:
    def test_changelist_shows_each_state_from_the_header(
        self, admin_client, canary, never_decrypts
    ):
        current = Webhook.objects.create(url="a", signing_secret=canary)
        old = under_old_key(lambda: Webhook.objects.create(url="b", headers={"k": canary}))
        legacy = Webhook.objects.create(url="c")
        write_raw(Webhook, "signing_secret", legacy.pk, f"{canary}-legacy")
        write_raw(Webhook, "headers", legacy.pk, DAMAGED)
        foreign = Webhook.objects.create(url="d")
        write_raw(
            Webhook,
            "signing_secret",
            foreign.pk,
            Keyring.parse([generate_key(9)]).encrypt(canary.encode(), b"x"),
        )

        html = admin_client.get(url(Webhook, "changelist")).content.decode()

        assert html.count("Not set") == 3  # current.headers, old.signing_secret, foreign.headers
        assert "Sealed (key v2)" in html
        assert "Sealed (key v1, not the primary key)" in html
        assert "Legacy plaintext" in html
        assert "Damaged sealed value" in html
        assert "Sealed (key v9, key not configured)" in html
        assert canary not in html
        assert current.pk and old.pk

    def test_a_listed_column_and_the_change_page_of_a_uuid_model(
        self, admin_client, canary, never_decrypts
    ):
        mailbox = under_old_key(lambda: Mailbox.objects.create(address="a@x", password=canary))
        html = admin_client.get(url(Mailbox, "changelist")).content.decode()
        assert "Sealed (key v1, not the primary key)" in html
        assert "column-password_status" in html  # the project's own column
        html = admin_client.get(url(Mailbox, "change", mailbox.pk)).content.decode()
        assert "Stored password" in html
        assert "Sealed (key v1, not the primary key)" in html
        assert canary not in html

    def test_proxy_model(self, admin_client, canary, never_decrypts):
        under_old_key(lambda: Webhook.objects.create(url="a", signing_secret=canary))
        html = admin_client.get(url(ArchivedWebhook, "changelist")).content.decode()
        assert "Sealed (key v1, not the primary key)" in html
        assert canary not in html


class TestResealAction:
    def test_old_key_and_legacy_values_of_the_selected_rows_only(
        self, admin_client, admin_user, canary
    ):
        chosen = under_old_key(
            lambda: Webhook.objects.create(url="a", signing_secret=canary, headers={"k": canary})
        )
        write_raw(Webhook, "headers", chosen.pk, json.dumps({"k": f"{canary}-legacy"}))
        other = under_old_key(lambda: Webhook.objects.create(url="b", signing_secret=canary))

        page = run_reseal(admin_client, Webhook, [chosen.pk]).content.decode()

        assert "2 value(s) re-sealed with key version 2" in page
        assert canary not in page
        assert key_version(Webhook, "signing_secret", chosen.pk) == 2
        assert key_version(Webhook, "headers", chosen.pk) == 2
        assert key_version(Webhook, "signing_secret", other.pk) == 1
        loaded = Webhook.objects.get(pk=chosen.pk)
        assert (loaded.signing_secret, loaded.headers) == (canary, {"k": f"{canary}-legacy"})
        event = AuditEvent.objects.get(action="reseal")
        assert (event.actor, event.target_type) == (admin_user, "testapp.webhook")
        assert canary not in event.detail

    def test_uuid_keys_and_unreadable_rows_named(self, admin_client, canary):
        mailbox = under_old_key(lambda: Mailbox.objects.create(address="a@x", password=canary))
        broken = Mailbox.objects.create(address="b@x", password="x")
        write_raw(
            Mailbox,
            "password",
            broken.pk,
            Keyring.parse([generate_key(9)]).encrypt(canary.encode(), b"x"),
        )

        page = run_reseal(admin_client, Mailbox, [mailbox.pk, broken.pk]).content.decode()

        assert "1 value(s) re-sealed with key version 2" in page
        assert f"password pk={broken.pk} (UnknownKeyVersionError)" in page
        assert canary not in page
        assert Mailbox.objects.get(pk=mailbox.pk).password == canary
        assert AuditEvent.objects.get(action="reseal").outcome == "failure"

    def test_proxy_model_reseals_the_concrete_table(self, admin_client, canary):
        hook = under_old_key(lambda: Webhook.objects.create(url="a", signing_secret=canary))
        page = run_reseal(admin_client, ArchivedWebhook, [hook.pk]).content.decode()
        assert "1 value(s) re-sealed with key version 2" in page
        assert key_version(Webhook, "signing_secret", hook.pk) == 2

    def test_the_signal_carries_counts_never_values(self, admin_client, canary):
        hook = under_old_key(lambda: Webhook.objects.create(url="a", signing_secret=canary))
        received = []
        reseal_action_finished.connect(
            lambda **kw: received.append(kw), weak=False, dispatch_uid="test-admin-mixin"
        )
        try:
            run_reseal(admin_client, Webhook, [hook.pk])
        finally:
            reseal_action_finished.disconnect(dispatch_uid="test-admin-mixin")
        [sent] = received
        assert sent["sender"] is Webhook
        assert sent["pks"] == [hook.pk]
        assert sum(r.resealed for r in sent["reports"]) == 1
        assert canary not in repr(sent["reports"])


class TestWrites:
    def test_untouched_save_keeps_sealed_columns_byte_identical(self, admin_client, canary):
        hook = under_old_key(lambda: Webhook.objects.create(url="a", signing_secret=canary))
        # Legacy plaintext is left for encrypt_legacy (opening it is refused).
        write_raw(Webhook, "headers", hook.pk, json.dumps({"k": f"{canary}-legacy"}))
        before = {c: raw_column(Webhook, c, hook.pk) for c in ("signing_secret", "headers")}

        response = admin_client.post(url(Webhook, "change", hook.pk), webhook_post(notes="edited"))

        assert response.status_code == 302
        assert {c: raw_column(Webhook, c, hook.pk) for c in before} == before
        assert Webhook.objects.get(pk=hook.pk).notes == "edited"

    def test_a_value_written_meanwhile_is_not_overwritten(self, admin_client, canary):
        hook = Webhook.objects.create(url="a", signing_secret="old")
        meanwhile = Webhook._meta.get_field("signing_secret").seal_for_pk(f"{canary}-new", hook.pk)
        original_save_form = WebhookAdmin.save_form

        def refreshed_meanwhile(self, request, form, change):
            write_raw(Webhook, "signing_secret", hook.pk, meanwhile)
            return original_save_form(self, request, form, change)

        with mock.patch.object(WebhookAdmin, "save_form", refreshed_meanwhile):
            response = admin_client.post(
                url(Webhook, "change", hook.pk), webhook_post(notes="edited")
            )

        assert response.status_code == 302
        assert raw_column(Webhook, "signing_secret", hook.pk) == meanwhile

    def test_what_a_project_save_model_assigns_is_saved(self, admin_client):
        hook = Webhook.objects.create(url="a", signing_secret="kept")
        original_save_model = WebhookAdmin.save_model

        def stamping(self, request, obj, form, change):
            obj.notes = f"edited by {request.user}"
            return original_save_model(self, request, obj, form, change)

        with mock.patch.object(WebhookAdmin, "save_model", stamping):
            response = admin_client.post(url(Webhook, "change", hook.pk), webhook_post(url="b"))

        assert response.status_code == 302
        loaded = Webhook.objects.get(pk=hook.pk)
        assert (loaded.url, loaded.notes, loaded.signing_secret) == ("b", "edited by admin", "kept")

    def test_typing_replaces_and_clearing_empties(self, admin_client, canary):
        hook = Webhook.objects.create(url="a", signing_secret="old", headers={"a": 1})
        response = admin_client.post(
            url(Webhook, "change", hook.pk),
            webhook_post(signing_secret=canary, **{"headers-clear": "on"}),
        )
        assert response.status_code == 302
        loaded = Webhook.objects.get(pk=hook.pk)
        assert (loaded.signing_secret, loaded.headers) == (canary, None)
        assert key_version(Webhook, "signing_secret", hook.pk) == 2

    def test_auto_now_columns_are_written_with_the_change(self, admin_client, canary):
        mailbox = Mailbox.objects.create(address="a@x", password=canary)
        long_ago = timezone.now() - timedelta(days=30)
        Mailbox.objects.filter(pk=mailbox.pk).update(touched_at=long_ago)
        password = raw_column(Mailbox, "password", mailbox.pk)

        response = admin_client.post(
            url(Mailbox, "change", mailbox.pk), {"address": "b@x", "password": ""}
        )

        assert response.status_code == 302
        loaded = Mailbox.objects.get(pk=mailbox.pk)
        assert (loaded.address, loaded.touched_at > long_ago) == ("b@x", True)
        assert raw_column(Mailbox, "password", mailbox.pk) == password

    def test_our_admin_base_saves_a_model_without_updated_at(self, admin_user):
        """SealedFieldsAdmin once saved ``update_fields=[..., "updated_at"]``."""
        hook = Webhook.objects.create(url="a", signing_secret="kept")
        model_admin = SealedFieldsAdmin(Webhook, AdminSite())
        request = RequestFactory().post("/")
        request.user = admin_user
        obj = model_admin.get_object(request, str(hook.pk))
        form = model_admin.get_form(request, obj, change=True)(
            {"url": "b", "notes": ""}, instance=obj
        )
        assert form.is_valid(), form.errors
        model_admin.save_model(request, form.save(commit=False), form, change=True)
        assert Webhook.objects.get(pk=hook.pk).url == "b"
        assert Webhook.objects.get(pk=hook.pk).signing_secret == "kept"


class TestSecretsStayServerSide:
    def test_sealed_inputs_are_hidden_from_error_reports_and_never_rendered(
        self, admin_client, canary
    ):
        # "url" is required: the form comes back with the typed values.
        response = admin_client.post(
            url(Webhook, "add"),
            webhook_post(url="", signing_secret=canary, headers=json.dumps({"k": canary})),
        )
        assert response.status_code == 200
        request = response.wsgi_request
        assert {"signing_secret", "headers"} <= set(request.sensitive_post_parameters)
        filtered = SafeExceptionReporterFilter().get_post_parameters(request)
        assert canary not in str(dict(filtered))
        assert canary not in response.content.decode()
        assert not Webhook.objects.exists()

    def test_change_page_and_history_never_show_the_value(self, admin_client, canary):
        hook = Webhook.objects.create(url="a", signing_secret=canary, headers={"k": canary})
        admin_client.post(
            url(Webhook, "change", hook.pk), webhook_post(signing_secret=f"{canary}-2")
        )
        for view in ("change", "history"):
            html = admin_client.get(url(Webhook, view, hook.pk)).content.decode()
            assert canary not in html

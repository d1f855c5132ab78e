"""Sealed fields are write-only in any project's ModelForm and plain ModelAdmin.

``Connection`` (tests/testapp) is registered with ``admin.site.register`` and no
customisation, as a project would: everything here goes through Django's real
admin change view.
"""

import json
import logging
import uuid
from unittest import mock

import pytest
from django import forms
from django.contrib.admin.models import LogEntry
from django.urls import reverse

from integrations.sealed.formfields import KEEP, STORED
from integrations.sealed.redaction import redact
from tests.dbutil import raw_column
from tests.testapp.models import Account, Connection

pytestmark = pytest.mark.django_db

SEALED_COLUMNS = ("api_key", "access_token", "refresh_token", "settings", "extra")


def change_url(obj):
    return reverse("admin:testapp_connection_change", args=[obj.pk])


def stored(obj):
    return {column: raw_column(Connection, column, obj.pk) for column in SEALED_COLUMNS}


def untouched_post(**overrides):
    """What a browser posts for the change form when nothing is typed."""
    data = {"name": "acme", **{column: "" for column in SEALED_COLUMNS}, "_save": "Save"}
    data.update(overrides)
    return data


@pytest.fixture
def connection_row(canary):
    return Connection.objects.create(
        name="acme",
        api_key=f"key-{canary}",
        access_token=f"access-{canary}",
        refresh_token=f"refresh-{canary}",
        settings={"secret": canary},
        extra={"list": [canary, 1]},
    )


def assert_no_secret(html, obj, canary):
    assert canary not in html
    for sealed in stored(obj).values():
        if sealed:
            assert sealed not in html


class TestPlainModelAdmin:
    def test_change_page_renders_no_value(self, admin_client, connection_row, canary):
        html = admin_client.get(change_url(connection_row)).content.decode()
        assert_no_secret(html, connection_row, canary)
        assert 'name="api_key"' in html and 'type="password"' in html
        assert 'name="settings"' in html
        assert 'name="access_token-clear"' in html and 'name="extra-clear"' in html
        assert 'name="api_key-clear"' not in html  # neither nullable nor blank: no clear
        assert "initial-settings" not in html  # no hidden initial carrying the value

    def test_saving_untouched_keeps_every_value(self, admin_client, connection_row, canary):
        before = stored(connection_row)
        response = admin_client.post(change_url(connection_row), untouched_post())
        assert response.status_code == 302, response.content.decode()[:2000]
        assert stored(connection_row) == before  # not even re-sealed
        loaded = Connection.objects.get(pk=connection_row.pk)
        assert loaded.api_key == f"key-{canary}"
        assert loaded.access_token == f"access-{canary}"
        assert loaded.refresh_token == f"refresh-{canary}"
        assert loaded.settings == {"secret": canary}
        assert loaded.extra == {"list": [canary, 1]}
        entry = LogEntry.objects.get(object_id=str(connection_row.pk))
        assert entry.get_change_message() == "No fields changed."

    def test_typing_replaces(self, admin_client, connection_row, canary):
        response = admin_client.post(
            change_url(connection_row),
            untouched_post(api_key=" new key ", settings='{"n": [1, 2]}', extra="[]"),
        )
        assert response.status_code == 302
        loaded = Connection.objects.get(pk=connection_row.pk)
        assert loaded.api_key == " new key "
        assert loaded.settings == {"n": [1, 2]}
        assert loaded.extra == []
        assert loaded.access_token == f"access-{canary}"
        message = LogEntry.objects.get(object_id=str(connection_row.pk)).get_change_message()
        assert "Api key" in message and "Settings" in message and "Access token" not in message

    def test_clear_empties_nullable_and_blank_values(self, admin_client, connection_row):
        response = admin_client.post(
            change_url(connection_row),
            untouched_post(
                **{"access_token-clear": "on", "refresh_token-clear": "on", "extra-clear": "on"}
            ),
        )
        assert response.status_code == 302
        assert raw_column(Connection, "access_token", connection_row.pk) is None
        assert raw_column(Connection, "refresh_token", connection_row.pk) == ""
        assert raw_column(Connection, "extra", connection_row.pk) is None
        loaded = Connection.objects.get(pk=connection_row.pk)
        assert loaded.api_key.startswith("key-")

    def test_clear_of_a_required_value_is_ignored(self, admin_client, connection_row):
        before = stored(connection_row)
        response = admin_client.post(
            change_url(connection_row),
            untouched_post(**{"api_key-clear": "on", "settings-clear": "on"}),
        )
        assert response.status_code == 302
        assert stored(connection_row) == before

    def test_clear_and_typed_is_an_error_that_shows_neither(
        self, admin_client, connection_row, canary
    ):
        before = stored(connection_row)
        typed = f"typed-{canary}"
        response = admin_client.post(
            change_url(connection_row),
            untouched_post(access_token=typed, **{"access_token-clear": "on"}),
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "not both" in html
        assert typed not in html
        assert_no_secret(html, connection_row, canary)
        assert stored(connection_row) == before

    @pytest.mark.parametrize(
        "text",
        [
            '{"secret": "CANARY"',  # invalid JSON that quotes the canary
            '{"secret": "CANARY\\u0000"}',  # NUL
            "[" * 5000 + '"CANARY"' + "]" * 5000,  # nested thousands deep
            "[" * 101 + '"CANARY"' + "]" * 101,  # just over the limit
        ],
    )
    def test_bad_json_is_a_form_error_that_never_echoes(
        self, admin_client, connection_row, canary, text
    ):
        before = stored(connection_row)
        response = admin_client.post(
            change_url(connection_row), untouched_post(settings=text.replace("CANARY", canary))
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "errorlist" in html
        assert_no_secret(html, connection_row, canary)
        assert stored(connection_row) == before

    def test_json_at_the_depth_limit_is_accepted(self, admin_client, connection_row):
        text = "[" * 100 + "1" + "]" * 100
        response = admin_client.post(change_url(connection_row), untouched_post(settings=text))
        assert response.status_code == 302
        assert Connection.objects.get(pk=connection_row.pk).settings == json.loads(text)

    def test_form_error_elsewhere_renders_no_value(self, admin_client, connection_row, canary):
        typed = f"typed-{canary}"
        response = admin_client.post(
            change_url(connection_row),
            untouched_post(name="", api_key=typed, settings=json.dumps({"t": typed})),
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert typed not in html
        assert_no_secret(html, connection_row, canary)

    def test_add_requires_a_required_value_and_keeps_defaults(self, admin_client):
        url = reverse("admin:testapp_connection_add")
        response = admin_client.post(url, untouched_post(name="new"))
        assert response.status_code == 200
        assert "This field is required" in response.content.decode()
        assert not Connection.objects.exists()

        response = admin_client.post(url, untouched_post(name="new", api_key="k"))
        assert response.status_code == 302
        created = Connection.objects.get()
        assert created.api_key == "k"
        assert created.settings == {}
        assert created.access_token is None and created.extra is None
        assert created.refresh_token == ""

    @pytest.mark.parametrize("debug", [True, False])
    def test_error_page_after_typing_never_shows_it(
        self, client, admin_user, connection_row, canary, settings, debug, all_logs
    ):
        settings.DEBUG = debug
        settings.DEFAULT_EXCEPTION_REPORTER = "integrations.reporting.RedactingExceptionReporter"
        client.raise_request_exception = False
        client.force_login(admin_user)
        typed = f"typed-{uuid.uuid4().hex}"  # never registered by an earlier test
        with mock.patch.object(Connection, "save", side_effect=RuntimeError("database down")):
            response = client.post(
                change_url(connection_row),
                untouched_post(api_key=typed, settings=json.dumps({"k": typed})),
            )
        assert response.status_code == 500
        assert typed not in response.content.decode()
        # What the project's RedactingFilter lets through to its handlers.
        for record in all_logs.records:
            assert typed not in redact(logging.Formatter().format(record))


class TestPlainModelForm:
    class ConnectionForm(forms.ModelForm):
        class Meta:
            model = Connection
            fields = ["name", "api_key", "access_token", "settings", "extra"]

    def test_initial_is_never_the_value(self, connection_row, canary):
        form = self.ConnectionForm(instance=Connection.objects.get(pk=connection_row.pk))
        assert form["api_key"].initial is STORED
        assert form["api_key"].value() is None
        assert form["settings"].value() is None
        assert not form["api_key"].field.required or not form["api_key"].build_widget_attrs({}).get(
            "required"
        )
        assert_no_secret(form.as_p(), connection_row, canary)

    def test_blank_keeps_and_is_unchanged(self, connection_row, canary):
        instance = Connection.objects.get(pk=connection_row.pk)
        form = self.ConnectionForm({"name": "renamed"}, instance=instance)
        assert form.is_valid(), form.errors
        assert form.changed_data == ["name"]
        assert form.cleaned_data["api_key"] is KEEP
        form.save()
        loaded = Connection.objects.get(pk=connection_row.pk)
        assert (loaded.name, loaded.api_key, loaded.settings) == (
            "renamed",
            f"key-{canary}",
            {"secret": canary},
        )

    def test_typed_values_print_masked_and_are_never_registered(self, connection_row):
        """A typed value may sit in cleaned_data when an error report prints it
        (masked), but anyone can post a form: it must not become text the log
        filter erases (issue 10, item 17)."""
        chosen = f"/admin/login/{uuid.uuid4().hex}"
        instance = Connection.objects.get(pk=connection_row.pk)
        form = self.ConnectionForm(
            {"name": "", "api_key": chosen, "settings": json.dumps({"k": chosen})},
            instance=instance,
        )
        assert not form.is_valid()  # the name is required: the form is rejected
        assert chosen not in repr(form.cleaned_data)
        assert form.cleaned_data["api_key"] == chosen
        assert redact(f"GET {chosen}") == f"GET {chosen}"
        form = self.ConnectionForm({"name": "ok", "api_key": chosen}, instance=instance)
        assert form.is_valid(), form.errors
        saved = form.save()
        assert type(Connection.objects.get(pk=saved.pk).api_key) is str

    def test_existing_account_form_replaces_a_token(self, canary):
        class AccountForm(forms.ModelForm):
            class Meta:
                model = Account
                fields = ["label", "token", "data"]

        account = Account.objects.create(token=canary, data={"k": canary})
        form = AccountForm(
            {"label": "y", "token": "typed-new", "data": ""},
            instance=Account.objects.get(pk=account.pk),
        )
        assert form.is_valid(), form.errors
        form.save()
        loaded = Account.objects.get(pk=account.pk)
        assert loaded.token == "typed-new"
        assert loaded.data == {"k": canary}

"""Binary sealed columns in the admin, ModelForms and the status helpers: the
same write-only behaviour as text columns, and never a value in the HTML."""

from unittest import mock

import pytest
from django import forms
from django.test.utils import override_settings
from django.urls import reverse

from integrations.conf import app_settings
from integrations.crypto import Keyring
from integrations.sealed.status import sealed_key_version, sealed_state, sealed_status
from tests.dbutil import raw_column, write_raw
from tests.settings import TEST_KEY_V1
from tests.testapp.models import BinaryAccount

pytestmark = pytest.mark.django_db


def url(view, *args):
    return reverse(f"admin:testapp_binaryaccount_{view}", args=args)


def stored(pk, column="token"):
    value = raw_column(BinaryAccount, column, pk)
    return bytes(value) if isinstance(value, memoryview) else value


def post(**overrides):
    return {"label": "l", "token": "", "other_token": "", "data": "", "api_key": "", **overrides}


class TestAdmin:
    def test_changelist_and_change_page_never_show_a_value(self, admin_client, canary):
        account = BinaryAccount.objects.create(token=canary, data={"k": canary}, api_key=canary)
        with mock.patch.object(Keyring, "decrypt_binary", side_effect=AssertionError("opened")):
            page = admin_client.get(url("changelist")).content.decode()
        assert canary not in page
        assert "Sealed (key v2)" in page
        change = admin_client.get(url("change", account.pk)).content.decode()
        assert canary not in change
        sealed_text = stored(account.pk).decode("latin-1")
        assert sealed_text[7:] not in change  # nor the stored bytes

    def test_typing_replaces_blank_keeps_and_bytes_stay_bytes(self, admin_client, canary):
        account = BinaryAccount.objects.create(token="old", other_token="keep")
        kept = stored(account.pk, "other_token")
        response = admin_client.post(url("change", account.pk), post(token=canary))
        assert response.status_code == 302
        loaded = BinaryAccount.objects.get(pk=account.pk)
        assert (loaded.token, loaded.other_token) == (canary, "keep")
        assert stored(account.pk, "other_token") == kept
        assert isinstance(stored(account.pk), bytes)

    def test_reseal_action_on_binary_columns(self, admin_client, canary):
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
            account = BinaryAccount.objects.create(token=canary, api_key=canary)
        page = admin_client.post(
            url("changelist"),
            {"action": "reseal_with_primary_key", "_selected_action": [str(account.pk)]},
            follow=True,
        ).content.decode()
        assert "re-sealed with key version 2" in page
        assert canary not in page
        assert stored(account.pk).startswith(b"$si1$2$")
        assert BinaryAccount.objects.get(api_key=canary).token == canary


class TestForms:
    def test_model_form_is_write_only(self, canary):
        class Form(forms.ModelForm):
            class Meta:
                model = BinaryAccount
                fields = ["token", "data"]

        account = BinaryAccount.objects.create(token=canary, data={"k": canary})
        html = str(Form(instance=account))
        assert canary not in html
        form = Form({"token": "", "data": ""}, instance=account)
        assert form.is_valid(), form.errors
        form.save()
        assert BinaryAccount.objects.get(pk=account.pk).token == canary
        form = Form({"token": "new-value", "data": '{"n": 1}'}, instance=account)
        assert form.is_valid(), form.errors
        form.save()
        loaded = BinaryAccount.objects.get(pk=account.pk)
        assert (loaded.token, loaded.data) == ("new-value", {"n": 1})


class TestStatus:
    def test_states_of_stored_bytes(self):
        account = BinaryAccount.objects.create(token="t")
        raw = BinaryAccount.objects.get(pk=account.pk).token_sealed
        assert isinstance(raw, bytes)
        assert (sealed_state(raw), sealed_key_version(raw)) == ("sealed", 2)
        assert str(sealed_status(raw)) == "Sealed (key v2)"
        assert sealed_state(raw[:20]) == "damaged"
        # A binary column never holds plaintext: bytes without the prefix are damage.
        assert sealed_state(b"plain-bytes") == "damaged"
        assert str(sealed_status(b"plain-bytes")) == "Damaged sealed value"
        assert sealed_state("") == "not_set"

    def test_a_damaged_value_in_the_admin_is_shown_as_such(self, admin_client):
        account = BinaryAccount.objects.create(token="x")
        write_raw(BinaryAccount, "token", account.pk, b"$si1$2$short")
        page = admin_client.get(url("changelist")).content.decode()
        assert "Damaged sealed value" in page
        assert app_settings.keyring.primary_version == 2

"""JSON typed into our admin's forms is checked, never a 500 (PostgreSQL's jsonb
refuses NUL characters; thousands of levels break Python's parser and dumpdata)."""

import json

import pytest
from django.core.management import call_command

from integrations import credentials, tokens
from integrations.models import Credential, Integration, Provider
from tests.test_admin import admin_url, credential_post, provider_post

pytestmark = pytest.mark.django_db

BAD_JSON = {
    "nul": '{"note": "a\\u0000b"}',
    "nul_key": '{"a\\u0000": 1}',
    "deep": "[" * 100_000 + "]" * 100_000,
    "over_limit": "[" * 101 + "]" * 101,
}


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("alice", password="not-a-secret-pw")


@pytest.fixture
def provider():
    return Provider.objects.create(
        name="Demo Cloud", slug="demo-cloud", token_url="https://auth.example.com/token"
    )


@pytest.mark.parametrize("field", ["metadata", "default_scopes"])
@pytest.mark.parametrize("text", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_provider_json_is_a_form_error(admin_client, field, text):
    response = admin_client.post(admin_url(Provider, "add"), provider_post(**{field: text}))
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert not Provider.objects.exists()


@pytest.mark.parametrize("text", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_integration_metadata_is_a_form_error(admin_client, owner, provider, text):
    integration, _ = tokens.connect(
        owner, provider, {"access_token": "a", "expires_in": 60}, external_account_id="acct"
    )
    response = admin_client.post(
        admin_url(Integration, "change", integration.pk),
        {"label": "x", "status": "active", "metadata": text, "initial-metadata": "{}"},
    )
    assert response.status_code == 200
    assert "errorlist" in response.content.decode()
    assert Integration.objects.get(pk=integration.pk).metadata == {}


def test_accepted_json_survives_dumpdata(admin_client, capsys):
    nested = "[" * 99 + "]" * 99
    response = admin_client.post(
        admin_url(Provider, "add"), provider_post(metadata=json.dumps({"n": json.loads(nested)}))
    )
    assert response.status_code == 302
    call_command("dumpdata", "integrations.provider")
    assert json.loads(capsys.readouterr().out)[0]["fields"]["metadata"]["n"]


@pytest.mark.parametrize("nested", [150, 100_000])
@pytest.mark.parametrize("key", ["more", "api_key"])
def test_credential_secret_data_is_a_form_error(admin_client, owner, canary, nested, key):
    text = '{"api_key": "k", "%s": %s"%s"%s}' % (key, "[" * nested, canary, "]" * nested)
    _assert_refused(admin_client, owner, canary, text)


def test_credential_secret_data_with_nul_is_a_form_error(admin_client, owner, canary):
    _assert_refused(admin_client, owner, canary, '{"api_key": "%s\\u0000"}' % canary)


def _assert_refused(admin_client, owner, canary, text):
    response = admin_client.post(
        admin_url(Credential, "add"), credential_post(owner, secret_data=text)
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "errorlist" in html and canary not in html
    assert not Credential.objects.exists()


def test_credential_service_refuses_deep_data(owner):
    from django.core.exceptions import ValidationError

    deep = {"api_key": "k", "more": json.loads("[" * 150 + "]" * 150)}
    with pytest.raises(ValidationError) as info:
        credentials.create_credential(owner, name="deep", credential_type="api_key", data=deep)
    assert "data" in info.value.message_dict
    assert not Credential.objects.exists()

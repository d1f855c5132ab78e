"""Every JSON field a user or staff can write keeps the JSON limits (depth, NUL
characters) of the sealed JSON, through the API, the admin and forms, so no
stored value can break an admin page or ``dumpdata`` later (issue 23, item 10)."""

import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.forms import modelform_factory

from integrations import tokens
from integrations.models import Integration, Provider
from integrations.sealed.jsonlimits import MAX_JSON_DEPTH, JSONLimitsValidator

pytestmark = pytest.mark.django_db

LIST = "/api/providers/"


def nested(levels, leaf="x"):
    value = leaf
    for _ in range(levels):
        value = {"k": value}
    return value


def deep_body(levels):
    """The JSON text of a provider whose metadata is ``levels`` deep."""
    return '{"name": "Deep", "slug": "deep", "metadata": %s"x"%s}' % (
        '{"k": ' * levels,
        "}" * levels,
    )


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH + 1, 2_000, 100_000])
def test_the_api_refuses_metadata_nested_too_deep(staff_api, levels):
    response = staff_api.generic("POST", LIST, deep_body(levels), content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in {"parse_error", "invalid"}
    assert not Provider.objects.exists()


def test_the_api_refuses_it_on_update_too(staff_api):
    provider = Provider.objects.create(name="P", slug="p")
    body = '{"metadata": %s1%s}' % ('{"k": ' * 2_000, "}" * 2_000)
    response = staff_api.generic(
        "PATCH", f"{LIST}{provider.pk}/", body, content_type="application/json"
    )
    assert response.status_code == 400
    provider.refresh_from_db()
    assert provider.metadata == {}


def test_metadata_at_the_limit_is_accepted_and_dumps(staff_api):
    response = staff_api.generic(
        "POST", LIST, deep_body(MAX_JSON_DEPTH - 1), content_type="application/json"
    )
    assert response.status_code == 201, response.json()
    out = io.StringIO()
    call_command("dumpdata", "integrations.provider", stdout=out)
    assert json.loads(out.getvalue())[0]["fields"]["metadata"]["k"]


def test_the_serializer_refuses_a_deep_value_without_the_parser(staff_api):
    """The field's validator, not only the parser: a value built in Python."""
    from integrations.api.serializers import ProviderSerializer

    serializer = ProviderSerializer(
        data={"name": "Deep", "slug": "deep", "metadata": nested(MAX_JSON_DEPTH + 5)}
    )
    assert not serializer.is_valid()
    assert "metadata" in serializer.errors


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (Provider, "metadata"),
        (Provider, "default_scopes"),
        (Integration, "metadata"),
        (Integration, "requested_scopes"),
        (Integration, "granted_scopes"),
    ],
)
def test_every_json_model_field_carries_the_limits(model, name):
    assert JSONLimitsValidator() in model._meta.get_field(name).validators


def test_full_clean_and_model_forms_refuse_a_deep_value(django_user_model):
    owner = django_user_model.objects.create_user("alice")
    provider = Provider.objects.create(name="P", slug="p")
    integration, _ = tokens.connect(
        owner, provider, {"access_token": "a", "expires_in": 60}, external_account_id="acct"
    )
    integration.metadata = nested(2_000)
    with pytest.raises(ValidationError) as raised:
        integration.full_clean()
    assert "metadata" in raised.value.message_dict
    provider.metadata = {"note": "a\x00b"}
    with pytest.raises(ValidationError):
        provider.full_clean()
    # A project's own ModelForm (not our admin's form field) gets it too.
    form = modelform_factory(Provider, fields=["name", "slug", "metadata"])(
        data={"name": "P2", "slug": "p2", "metadata": json.dumps(nested(MAX_JSON_DEPTH + 1))}
    )
    assert not form.is_valid()
    assert "metadata" in form.errors

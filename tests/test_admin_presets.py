"""Admin "Add from preset" (issue 26): a list of every preset that a search and a
category filter narrow on the server (GET parameters, so it works without
JavaScript), and a form per preset holding only what that preset needs."""

import re

import pytest
from django.test import Client

from integrations.admin import providers as provider_admin
from integrations.models import Provider
from integrations.providers import PRESETS

pytestmark = pytest.mark.django_db

URL = "/admin/integrations/provider/from-preset/"

# Presets in the catalog's normalized shape, one of each kind the form handles.
API_KEY_PRESET = {
    "name": "Acme Mail",
    "slug": "acme-mail",
    "category": "email",
    "auth_type": "api_key",
    "description": "Acme Mail's sending API: each user enters an API key.",
    "base_url": "https://api.acme-mail.example/v3/",
    "metadata": {
        "icon": "sendgrid",
        "docs_url": "https://docs.acme-mail.example/keys",
        "credential_fields": {"api_key": {"label": "API key"}},
    },
}
REGION_PRESET = {
    "name": "Regional Pay",
    "slug": "regional-pay",
    "category": "payment",
    "auth_type": "oauth2",
    "description": "A payment platform with one API host per region.",
    "authorize_url": "https://{region}.regional-pay.example/oauth/authorize",
    "token_url": "https://{region}.regional-pay.example/oauth/token",
    "metadata": {
        "icon": "stripe",
        "docs_url": "https://docs.regional-pay.example/oauth",
        "url_params": {
            "region": {
                "label": "Region",
                "pattern": "^(eu|us|au)$",
                "example": "eu",
                "level": "provider",
            },
            "shop": {
                "label": "Shop",
                "pattern": "^[a-z0-9-]+$",
                "example": "my-shop",
                "level": "connection",
            },
        },
    },
}


@pytest.fixture(autouse=True)
def presets(monkeypatch):
    monkeypatch.setitem(PRESETS, "acme-mail", API_KEY_PRESET)
    monkeypatch.setitem(PRESETS, "regional-pay", REGION_PRESET)


@pytest.fixture
def staff_client(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", "r@x.test", "pw-12345"))
    return client


def shown(html):
    """The keys of the presets the list shows (rows without ``hidden``)."""
    return [
        key
        for key, attrs in re.findall(r'<tr data-preset="([^"]+)"([^>]*)>', html)
        if " hidden" not in attrs
    ]


def rows(html):
    return re.findall(r'<tr data-preset="([^"]+)"', html)


# -- the list ----------------------------------------------------------------------


def test_the_list_shows_every_preset_with_icon_name_category_and_auth_type(staff_client):
    html = staff_client.get(URL).content.decode()
    assert set(rows(html)) == set(PRESETS) and set(shown(html)) == set(PRESETS)
    names = [PRESETS[key]["name"].casefold() for key in rows(html)]
    assert names == sorted(names)  # by name
    row = html.split('<tr data-preset="acme-mail"')[1].split("</tr>")[0]
    assert 'src="/static/integrations/icons/sendgrid.svg"' in row
    assert 'href="?preset=acme-mail">Acme Mail</a>' in row
    assert "<td>Email</td>" in row and "<td>API key</td>" in row
    assert f'<span id="preset-shown">{len(PRESETS)}</span> / {len(PRESETS)}' in html
    assert '<p id="preset-empty" class="help" hidden>' in html
    # The script filters as one types; the page works without it (no inline script).
    assert "integrations/preset_filter.js" in html and "<script>" not in html


def test_search_matches_every_word_in_name_key_category_or_description(staff_client):
    html = staff_client.get(URL, {"q": "github"}).content.decode()
    assert shown(html) == ["github"] and '<span id="preset-shown">1</span>' in html
    assert 'value="github"' in html  # the box keeps what was typed
    assert shown(staff_client.get(URL, {"q": "  GitHub  "}).content.decode()) == ["github"]
    # Words anywhere: the description ("region"), the category label ("payment").
    assert shown(staff_client.get(URL, {"q": "region payment"}).content.decode()) == [
        "regional-pay"
    ]
    assert "acme-mail" in shown(staff_client.get(URL, {"q": "api key"}).content.decode())


def test_the_category_filter_narrows_and_combines_with_the_search(staff_client):
    html = staff_client.get(URL, {"category": "email"}).content.decode()
    emails = {k for k, p in PRESETS.items() if p.get("category") == "email"}
    assert "acme-mail" in emails and set(shown(html)) == emails
    assert f'<option value="email" selected>Email ({len(emails)})</option>' in html
    html = staff_client.get(URL, {"category": "authentication"}).content.decode()
    expected = {k for k, p in PRESETS.items() if p.get("category") == "authentication"}
    assert set(shown(html)) == expected and "acme-mail" not in shown(html)
    html = staff_client.get(URL, {"category": "email", "q": "github"}).content.decode()
    assert shown(html) == []


def test_no_match_says_so(staff_client):
    html = staff_client.get(URL, {"q": "no-such-provider-anywhere"}).content.decode()
    assert shown(html) == [] and '<span id="preset-shown">0</span>' in html
    assert '<p id="preset-empty" class="help">No preset matches this search.</p>' in html


@pytest.mark.parametrize(
    "params", [{"category": "nonsense"}, {"category": "<script>"}, {"q": ""}, {"q": "x" * 5000}]
)
def test_odd_parameters_never_break_the_list(staff_client, params):
    response = staff_client.get(URL, params)
    html = response.content.decode()
    assert (
        response.status_code == 200
        and "<script>" not in html.split("<body")[1].split("preset_filter.js")[0]
    )
    if "category" in params:
        assert set(shown(html)) == set(PRESETS)  # an unknown category filters nothing


def test_an_unknown_preset_shows_the_list(staff_client):
    html = staff_client.get(URL, {"preset": "nope"}).content.decode()
    assert "There is no such preset" in html and set(rows(html)) == set(PRESETS)
    response = staff_client.post(URL, {"preset": "nope", "client_id": "x"})
    assert response.status_code == 200 and not Provider.objects.exists()


# -- the form, per kind of preset ----------------------------------------------------


def fields(html):
    return re.findall(r'<div class="form-row[^"]* field-([a-z_]+)">', html)


def test_an_oauth_preset_asks_for_the_client_id_and_secret(staff_client):
    html = staff_client.get(URL, {"preset": "github"}).content.decode()
    assert fields(html) == ["client_id", "client_secret", "slug", "name"]
    assert '<input type="hidden" name="preset" value="github"' in html
    assert 'type="password"' in html and "Add provider from a preset: GitHub" in html
    docs = PRESETS["github"]["metadata"]["docs_url"]
    assert f'<a href="{docs}" rel="noopener noreferrer" target="_blank">' in html


def test_a_generic_preset_asks_for_its_required_endpoints(staff_client):
    html = staff_client.get(URL, {"preset": "oidc"}).content.decode()
    assert fields(html) == ["client_id", "client_secret", "discovery_url", "slug", "name"]
    assert '<label for="id_discovery_url" class="required">' in html
    html = staff_client.get(URL, {"preset": "oauth1"}).content.decode()
    assert fields(html)[2:6] == ["request_token_url", "authorize_url", "token_url", "userinfo_url"]


def test_an_api_key_preset_asks_for_nothing_secret(staff_client, monkeypatch):
    calls = []
    monkeypatch.setattr(
        provider_admin,
        "create_provider_from_preset",
        lambda key, **kwargs: (
            calls.append((key, kwargs))
            or Provider.objects.create(slug="acme-mail", name="Acme Mail", auth_type="api_key")
        ),
    )
    html = staff_client.get(URL, {"preset": "acme-mail"}).content.decode()
    assert fields(html) == ["slug", "name"]
    assert 'type="password"' not in html and "Client ID" not in html
    assert "each user enters their own key" in html
    response = staff_client.post(URL, {"preset": "acme-mail"}, follow=True)
    assert response.redirect_chain and calls == [
        (
            "acme-mail",
            {
                "client_id": "",
                "client_secret": None,
                "actor": calls[0][1]["actor"],
                "ip_address": "127.0.0.1",
            },
        )
    ]
    assert "Its users enter their own keys" in response.content.decode()


def test_provider_level_url_placeholders_are_asked_and_checked(staff_client, monkeypatch):
    calls = []
    monkeypatch.setattr(
        provider_admin,
        "create_provider_from_preset",
        lambda key, **kwargs: (
            calls.append(kwargs)
            or Provider.objects.create(slug="regional-pay", name="Regional Pay")
        ),
    )
    html = staff_client.get(URL, {"preset": "regional-pay"}).content.decode()
    # The region is the site's (provider level); the shop is each user's (not here).
    assert fields(html) == ["client_id", "client_secret", "url_region", "slug", "name"]
    assert '<label for="id_url_region" class="required">Region:</label>' in html
    assert 'placeholder="eu"' in html and "For example: eu" in html
    for bad in ("", "EU", "eu.evil.example", "eu/..", "xx"):
        response = staff_client.post(
            URL, {"preset": "regional-pay", "client_id": "cid", "url_region": bad}
        )
        assert response.status_code == 200, bad
        assert 'class="form-row errors field-url_region"' in response.content.decode(), bad
    assert not calls
    response = staff_client.post(
        URL,
        {"preset": "regional-pay", "client_id": "cid", "client_secret": "s3", "url_region": "eu"},
    )
    assert response.status_code == 302
    assert calls[0]["url_values"] == {"region": "eu"} and calls[0]["client_id"] == "cid"


def test_a_placeholder_error_from_the_service_lands_on_its_field(staff_client, monkeypatch):
    from django.core.exceptions import ValidationError

    def refuse(key, **kwargs):
        raise ValidationError({"region": "Not one of the regions.", "client_id": "Taken."})

    monkeypatch.setattr(provider_admin, "create_provider_from_preset", refuse)
    response = staff_client.post(
        URL, {"preset": "regional-pay", "client_id": "cid", "url_region": "us"}
    )
    html = response.content.decode()
    assert 'class="form-row errors field-url_region"' in html and "Not one of the regions." in html
    assert 'class="form-row errors field-client_id"' in html


def test_a_placeholder_with_a_default_is_optional(staff_client, monkeypatch):
    preset = {
        **REGION_PRESET,
        "metadata": {
            **REGION_PRESET["metadata"],
            "url_params": {
                "region": {**REGION_PRESET["metadata"]["url_params"]["region"], "default": "us"}
            },
        },
    }
    monkeypatch.setitem(PRESETS, "regional-pay", preset)
    html = staff_client.get(URL, {"preset": "regional-pay"}).content.decode()
    assert '<label for="id_url_region">Region:</label>' in html and 'value="us"' in html


def test_fields_of_another_preset_are_ignored(staff_client):
    response = staff_client.post(URL, {"preset": "github", "client_id": "x", "url_region": "eu"})
    assert response.status_code == 302  # github: its own fields only, the rest ignored
    provider = Provider.objects.get()
    assert provider.slug == "github" and "url_values" not in provider.metadata


def test_the_form_refuses_data_for_another_preset():
    form = provider_admin.ProviderFromPresetForm(
        {"preset": "github", "client_id": "x"}, preset="google"
    )
    assert not form.is_valid() and "preset" in form.errors


def test_the_preset_list_in_french(staff_client):
    from django.utils import translation

    html = staff_client.get(URL, {"q": "acme"}, HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    translation.activate("en")
    assert '<label for="preset-q">Rechercher</label>' in html
    assert "<td>Courriel</td>" in html and "Toutes les catégories" in html

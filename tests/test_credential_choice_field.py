"""CredentialChoiceField: a plugin form's choice among the user's own fitting
credentials (names, types and hints only), with a link to add one that comes back."""

from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from django import forms
from django.test import Client

from integrations import credentials
from integrations.forms import CredentialChoiceField
from integrations.models import Credential, Provider
from tests.oauth_helpers import alice, bob  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

RETURN_TO = "/plugins/weather/setup/?step=2&x=<b>"


@pytest.fixture
def weather():
    return Provider.objects.create(slug="weather", name="Weather")


@pytest.fixture
def owned(alice, bob, weather, canary):
    other = Provider.objects.create(slug="maps", name="Maps")

    def add(user, name, provider=None, plugin="", credential_type="api_key", data=None):
        return credentials.create_credential(
            user,
            name=name,
            credential_type=credential_type,
            provider=provider,
            plugin=plugin,
            data=data or {"api_key": f"{canary}-{name}-tail"},
        )

    return {
        "weather_key": add(alice, "Weather key", weather),
        "weather_basic": add(
            alice,
            "Weather login",
            weather,
            credential_type="basic",
            data={"username": "alice", "password": f"{canary}-pw"},
        ),
        "maps_key": add(alice, "Maps key", other),
        "plugin_key": add(alice, "Plugin key", plugin="weather-plugin"),
        "bobs_key": add(bob, "Bob weather key", weather),
    }


def plugin_form(user, data=None, **field_options):
    class PluginForm(forms.Form):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["credential"] = CredentialChoiceField(user=user, **field_options)

    return PluginForm(data)


def test_lists_only_the_users_fitting_credentials_by_name_type_and_hint(
    alice, weather, owned, canary
):
    form = plugin_form(alice, provider=weather)
    choices = [label for value, label in form.fields["credential"].choices if value]
    assert choices == ["Weather key (API key) …tail", "Weather login (Basic auth)"]
    html = str(form)
    assert canary not in html and "Bob" not in html and "Maps" not in html


def test_a_plugin_name_selects_by_plugin(alice, owned):
    form = plugin_form(alice, plugin="weather-plugin")
    assert [label for value, label in form.fields["credential"].choices if value] == [
        "Plugin key (API key) …tail"
    ]


def test_a_long_stored_hint_shows_at_most_four_characters(alice, weather, owned):
    Credential.objects.filter(pk=owned["weather_key"].pk).update(hint="abcdefgh")
    labels = [
        label
        for value, label in plugin_form(alice, provider=weather).fields["credential"].choices
        if value
    ]
    assert labels[0] == "Weather key (API key) …efgh"


@pytest.mark.parametrize("other", ["bobs_key", "maps_key"])
def test_another_users_or_an_unfitting_credential_is_refused_when_posted(
    alice, weather, owned, other
):
    form = plugin_form(alice, {"credential": str(owned[other].pk)}, provider=weather)
    assert not form.is_valid()
    assert "credential" in form.errors
    form = plugin_form(alice, {"credential": str(owned["weather_key"].pk)}, provider=weather)
    assert form.is_valid() and form.cleaned_data["credential"] == owned["weather_key"]


@pytest.mark.parametrize("posted", ["not-a-uuid", "' OR 1=1 --", ""])
def test_hostile_values_are_refused(alice, weather, owned, posted):
    assert not plugin_form(alice, {"credential": posted}, provider=weather).is_valid()


def test_an_anonymous_user_gets_no_choice(owned, weather):
    from django.contrib.auth.models import AnonymousUser

    assert plugin_form(AnonymousUser(), provider=weather).fields["credential"].queryset.count() == 0


def test_the_add_link_goes_to_the_add_page_and_comes_back(alice, weather, owned):
    html = str(plugin_form(alice, provider=weather, return_to=RETURN_TO))
    assert "<b>" not in html  # escaped
    start = html.index('href="') + len('href="')
    link = unescape(html[start : html.index('"', start)])
    assert urlsplit(link).path == "/integrations/credentials/add/"
    query = parse_qs(urlsplit(link).query)
    assert query == {"next": [RETURN_TO], "provider": [str(weather.pk)]}

    browser = Client()
    browser.force_login(alice)
    page = browser.get(link)
    assert page.status_code == 200
    assert f'<option value="{weather.pk}" selected>' in page.content.decode()
    response = browser.post(
        f"{link}&type=api_key",
        {"name": "New weather key", "provider": str(weather.pk), "api_key": "new-key-0123456789"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/plugins/weather/setup/?step=2&x=%3Cb%3E"  # RETURN_TO
    assert Credential.objects.filter(owner=alice, name="New weather key").exists()


@pytest.mark.parametrize(
    "hostile", ["https://evil.test/steal", "//evil.test/x", "javascript:alert(1)", "\\\\evil.test"]
)
def test_the_add_page_ignores_a_next_that_leaves_the_site(alice, hostile):
    browser = Client()
    browser.force_login(alice)
    url = "/integrations/credentials/add/?type=api_key"
    page = browser.get(url, {"next": hostile})
    assert "evil.test" not in page.content.decode() and "javascript:" not in page.content.decode()
    response = browser.post(f"{url}&next={hostile}", {"name": "K", "api_key": "key-0123456789"})
    assert response.status_code == 302 and response["Location"] == "/integrations/credentials/"


def test_without_return_to_there_is_no_link(alice, weather, owned):
    assert "Add a new one" not in str(plugin_form(alice, provider=weather))

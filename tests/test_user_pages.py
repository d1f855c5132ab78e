"""The user's pages: My connections and My credentials (server-rendered, Django test client).

Secrets go in through write-only inputs and never come back out: every page is
searched for the canary, and each change goes through the service layer (audited).
"""

import pytest
from django.test import Client
from django.urls import reverse

from integrations import credentials, tokens
from integrations.models import AuditEvent, Credential, Integration, Provider
from tests.oauth_helpers import alice, bob, connected, fake, make_provider, provider  # noqa: F401

pytestmark = pytest.mark.django_db

CANARY_KEY_SUFFIX = "-api-key-0123456789"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The credential pages count posts in the cache: every test starts from zero."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def alice_client(alice):
    client = Client(enforce_csrf_checks=False)
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


def _html(response):
    return response.content.decode()


# -- My connections -------------------------------------------------------------


def test_pages_need_a_login():
    client = Client()
    for name in (
        "integrations:connections",
        "integrations:credentials",
        "integrations:credential-add",
    ):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_connections_lists_providers_and_accounts_with_status(alice, alice_client, fake, canary):
    provider = make_provider(fake, name="Fake Cloud", category="storage")
    Provider.objects.create(slug="off", name="Switched Off", status="inactive")
    Provider.objects.create(slug="keys", name="Key Only", auth_type="api_key")
    active = connected(
        alice,
        provider,
        access=canary + "-access",
        refresh=canary + "-refresh",
        external_account_id="acct-1",
    )
    broken = connected(alice, provider, external_account_id="acct-2")
    Integration.objects.filter(pk=broken.pk).update(
        status="needs_reauth", last_error="invalid_grant"
    )
    gone = connected(alice, provider, external_account_id="acct-3")
    Integration.objects.filter(pk=gone.pk).update(status="revoked")

    html = _html(alice_client.get("/integrations/"))
    # Already connected: marked so, and offered as another account, not as new.
    assert "Connect Fake Cloud" not in html and "Storage" in html
    assert 'aria-label="Connect another Fake Cloud account"' in html
    assert "Switched Off" not in html and "Key Only" not in html
    assert str(active.pk) in html and str(broken.pk) in html
    assert str(gone.pk) not in html
    assert "Needs re-authorization" in html and "Reconnect" in html
    assert html.count("Reconnect") == 1
    assert f"/integrations/{active.pk}/disconnect/?next=/integrations/" in html
    assert "/integrations/connect/fake/?next=/integrations/" in html
    assert canary not in html


def test_connections_say_which_accounts_cannot_renew_themselves(alice, alice_client, provider):
    renewing = connected(alice, provider, external_account_id="acct-1")
    dying = connected(alice, provider, refresh=None, external_account_id="acct-2")
    lasting = connected(
        alice, provider, refresh=None, expires_in=None, external_account_id="acct-3"
    )
    html = _html(alice_client.get("/integrations/"))
    rows = {
        pk: html.split(f'data-integration="{pk}"')[1].split("</tr>")[0]
        for pk in (renewing.pk, dying.pk, lasting.pk)
    }
    note = "This connection cannot renew itself; reconnect when it expires"
    assert note in rows[dying.pk]
    assert dying.expires_at.isoformat(timespec="seconds")[:16] in rows[dying.pk]
    assert note not in rows[renewing.pk]
    assert note not in rows[lasting.pk]  # no expiry: nothing to renew


def test_connections_shows_only_the_users_own(alice, bob, bob_client, provider):
    mine = connected(alice, provider)
    html = _html(bob_client.get("/integrations/"))
    assert str(mine.pk) not in html and "not connected any account" in html


def test_disconnect_from_the_connections_page_returns_there(alice, alice_client, provider, fake):
    integration = connected(alice, provider)
    url = f"/integrations/{integration.pk}/disconnect/?next=/integrations/"
    page = alice_client.get(url)
    assert 'name="next" value="/integrations/"' in _html(page)
    response = alice_client.post(
        f"/integrations/{integration.pk}/disconnect/", {"next": "/integrations/"}
    )
    assert response.status_code == 302 and response["Location"] == "/integrations/"
    page = alice_client.get("/integrations/")
    assert "its access was revoked" in _html(page)
    assert Integration.objects.get(pk=integration.pk).status == "revoked"


def test_disconnect_ignores_an_offsite_next(alice, alice_client, provider, fake):
    integration = connected(alice, provider)
    response = alice_client.post(
        f"/integrations/{integration.pk}/disconnect/", {"next": "https://evil.example/"}
    )
    assert response["Location"] == f"/integrations/result/{integration.pk}/"


# -- My credentials -------------------------------------------------------------


def test_add_api_key_credential_is_sealed_audited_and_never_shown(alice, alice_client, canary):
    secret = canary + CANARY_KEY_SUFFIX
    page = alice_client.get("/integrations/credentials/add/?type=api_key")
    html = _html(page)
    assert 'type="password"' in html and 'name="api_key"' in html
    response = alice_client.post(
        "/integrations/credentials/add/?type=api_key",
        {"name": "Stripe", "plugin": "stripe", "api_key": secret},
    )
    assert response.status_code == 302 and response["Location"] == "/integrations/credentials/"
    credential = Credential.objects.get(owner=alice)
    assert credential.credential_type == "api_key" and credential.data == {"api_key": secret}
    assert canary not in credential.data_sealed
    assert AuditEvent.objects.filter(
        action="create", target_id=str(credential.pk), actor=alice
    ).exists()
    listing = _html(alice_client.get(response["Location"]))
    assert "Stripe" in listing and "Saved the credential" in listing
    assert "Set" in listing and "…6789" in listing
    edit = _html(alice_client.get(f"/integrations/credentials/{credential.pk}/edit/"))
    assert canary not in listing and canary not in edit


@pytest.mark.parametrize(
    ("credential_type", "post", "data"),
    [
        ("bearer", {"token": "tok-123"}, {"token": "tok-123"}),
        ("basic", {"username": "ann", "password": "pw-1"}, {"username": "ann", "password": "pw-1"}),
        ("custom", {"custom_data": '{"a": "1", "b": 2}'}, {"a": "1", "b": 2}),
    ],
)
def test_each_type_gets_friendly_fields(alice, alice_client, credential_type, post, data):
    url = f"/integrations/credentials/add/?type={credential_type}"
    html = _html(alice_client.get(url))
    for name in post:
        assert f'name="{name}"' in html
    response = alice_client.post(url, {"name": "one", **post})
    assert response.status_code == 302, _html(response)
    assert Credential.objects.get(owner=alice).data == data


def test_an_invalid_form_does_not_render_the_posted_secret(alice_client, canary):
    response = alice_client.post(
        "/integrations/credentials/add/?type=basic",
        {"name": "", "username": canary + "-user", "password": canary + "-pw"},
    )
    assert response.status_code == 200
    assert "This field is required" in _html(response)
    assert canary not in _html(response)
    response = alice_client.post(
        "/integrations/credentials/add/?type=custom",
        {"name": "x", "custom_data": '{"k": "' + canary},
    )
    assert "Enter a valid JSON object." in _html(response) and canary not in _html(response)
    assert not Credential.objects.exists()


@pytest.mark.parametrize("nested", [101, 100_000])
def test_custom_data_nested_too_deep_is_a_form_error(alice_client, canary, nested):
    text = '{"k": %s"%s"%s}' % ("[" * nested, canary, "]" * nested)
    response = alice_client.post(
        "/integrations/credentials/add/?type=custom", {"name": "x", "custom_data": text}
    )
    assert response.status_code == 200
    assert "nested more than 100 levels" in _html(response) and canary not in _html(response)
    assert not Credential.objects.exists()


def test_unknown_type_is_404(alice_client):
    assert alice_client.get("/integrations/credentials/add/?type=nope").status_code == 404


def test_duplicate_name_is_a_form_error(alice, alice_client):
    credentials.create_credential(alice, name="dup", credential_type="bearer", data={"token": "t"})
    response = alice_client.post(
        "/integrations/credentials/add/?type=bearer", {"name": "dup", "token": "t2"}
    )
    assert response.status_code == 200 and "already have a credential" in _html(response)


def test_edit_keeps_the_secret_unless_a_new_one_is_typed(alice, alice_client, canary):
    credential = credentials.create_credential(
        alice, name="old", credential_type="api_key", data={"api_key": canary}
    )
    url = f"/integrations/credentials/{credential.pk}/edit/"
    html = _html(alice_client.get(url))
    assert 'value="old"' in html and canary not in html
    response = alice_client.post(url, {"name": "renamed", "api_key": ""})
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.name == "renamed" and credential.data == {"api_key": canary}
    assert "The secret was kept" in _html(alice_client.get("/integrations/credentials/"))

    response = alice_client.post(url, {"name": "renamed", "api_key": "new-key"})
    credential.refresh_from_db()
    assert credential.data == {"api_key": "new-key"}
    assert AuditEvent.objects.filter(action="update", detail="secret replaced").count() == 1


def test_edit_basic_needs_both_parts_to_replace(alice, alice_client):
    credential = credentials.create_credential(
        alice, name="b", credential_type="basic", data={"username": "u", "password": "p"}
    )
    url = f"/integrations/credentials/{credential.pk}/edit/"
    response = alice_client.post(url, {"name": "b", "password": "new"})
    assert response.status_code == 200 and "Enter this too" in _html(response)
    credential.refresh_from_db()
    assert credential.data == {"username": "u", "password": "p"}


def test_delete_confirms_then_deletes(alice, alice_client):
    credential = credentials.create_credential(
        alice, name="gone", credential_type="bearer", data={"token": "t"}
    )
    url = f"/integrations/credentials/{credential.pk}/delete/"
    assert "Delete “gone”?" in _html(alice_client.get(url))
    assert Credential.objects.filter(pk=credential.pk).exists()
    response = alice_client.post(url)
    assert response.status_code == 302
    assert not Credential.objects.filter(pk=credential.pk).exists()
    assert AuditEvent.objects.filter(action="delete", target_id=str(credential.pk)).exists()


def test_another_users_credential_is_404(alice, bob_client):
    credential = credentials.create_credential(
        alice, name="mine", credential_type="bearer", data={"token": "t"}
    )
    for suffix in ("edit/", "delete/"):
        url = f"/integrations/credentials/{credential.pk}/{suffix}"
        assert bob_client.get(url).status_code == 404
        assert bob_client.post(url, {"name": "stolen"}).status_code == 404
    assert Credential.objects.get(pk=credential.pk).name == "mine"
    assert "mine" not in _html(bob_client.get("/integrations/credentials/"))


def test_forms_need_csrf(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(
        "/integrations/credentials/add/?type=bearer", {"name": "x", "token": "t"}
    )
    assert response.status_code == 403
    html = _html(client.get("/integrations/credentials/add/?type=bearer"))
    assert 'name="csrfmiddlewaretoken"' in html


def test_secret_post_parameters_are_hidden_from_error_reports(alice, rf, canary):
    from django.views.debug import SafeExceptionReporterFilter

    from integrations import views

    request = rf.post(
        "/integrations/credentials/add/?type=api_key", {"name": "n", "api_key": canary}
    )
    request.user = alice
    request._dont_enforce_csrf_checks = True
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore

    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    views.credential_add(request)
    cleansed = SafeExceptionReporterFilter().get_post_parameters(request)
    assert cleansed["api_key"] != canary and cleansed["name"] == "n"


# -- races and rate limits --------------------------------------------------------


@pytest.fixture
def name_taken_after_validation(monkeypatch, bob):
    """Another request takes the credential name ``clash`` after the form and the
    service have checked it is free, and before the row is written."""
    from integrations import forms as credential_forms

    clean_name = credential_forms.CredentialForm.clean_name

    def clean_then_lose_the_race(form):
        name = clean_name(form)
        credentials.create_credential(
            form.user, name="clash", credential_type="bearer", data={"token": "the other request's"}
        )
        return name

    full_clean = Credential.full_clean
    monkeypatch.setattr(credential_forms.CredentialForm, "clean_name", clean_then_lose_the_race)
    monkeypatch.setattr(
        Credential,
        "full_clean",
        lambda self, *args, **kwargs: full_clean(
            self,
            *args,
            validate_unique=False,
            validate_constraints=False,
            **{
                k: v
                for k, v in kwargs.items()
                if k not in ("validate_unique", "validate_constraints")
            },
        ),
    )


def test_adding_a_name_taken_in_a_race_is_a_form_error(
    alice, alice_client, canary, name_taken_after_validation
):
    response = alice_client.post(
        "/integrations/credentials/add/?type=api_key", {"name": "clash", "api_key": canary}
    )
    assert response.status_code == 200
    html = _html(response)
    assert "already have a credential with this name" in html and canary not in html
    assert list(Credential.objects.filter(owner=alice).values_list("name", flat=True)) == ["clash"]
    assert Credential.objects.get(owner=alice).data == {"token": "the other request's"}


def test_renaming_to_a_name_taken_in_a_race_is_a_form_error(
    alice, alice_client, canary, name_taken_after_validation
):
    mine = credentials.create_credential(
        alice, name="mine", credential_type="api_key", data={"api_key": canary}
    )
    response = alice_client.post(
        f"/integrations/credentials/{mine.pk}/edit/", {"name": "clash", "api_key": ""}
    )
    assert response.status_code == 200
    assert "already have a credential with this name" in _html(response)
    mine.refresh_from_db()
    assert mine.name == "mine" and mine.data == {"api_key": canary}


@pytest.fixture
def credential_rate(settings):
    def set_rate(value):
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {"integrations_credentials": value},
        }

    return set_rate


def test_credential_posts_over_the_limit_are_429_and_change_nothing(
    alice, alice_client, credential_rate
):
    credential_rate("2/min")
    url = "/integrations/credentials/add/?type=bearer"
    assert alice_client.post(url, {"name": "one", "token": "t1"}).status_code == 302
    mine = Credential.objects.get(owner=alice)
    assert (
        alice_client.post(
            f"/integrations/credentials/{mine.pk}/edit/", {"name": "renamed", "token": ""}
        ).status_code
        == 302
    )
    for response in (
        alice_client.post(url, {"name": "two", "token": "t2"}),
        alice_client.post(f"/integrations/credentials/{mine.pk}/delete/"),
    ):
        assert response.status_code == 429
        assert 0 < int(response["Retry-After"]) <= 60
        assert "Too many changes" in _html(response)
    assert list(Credential.objects.filter(owner=alice).values_list("name", flat=True)) == [
        "renamed"
    ]
    assert alice_client.get(url).status_code == 200  # reading the pages is not counted


@pytest.mark.api
def test_the_pages_and_the_api_share_one_limit(alice, alice_client, bob_client, credential_rate):
    from rest_framework.test import APIClient

    credential_rate("2/min")
    api = APIClient()
    api.force_login(alice)
    assert api.get("/api/credentials/").status_code == 200
    url = "/integrations/credentials/add/?type=bearer"
    assert alice_client.post(url, {"name": "one", "token": "t1"}).status_code == 302
    assert alice_client.post(url, {"name": "two", "token": "t2"}).status_code == 429
    assert api.get("/api/credentials/").status_code == 429
    assert bob_client.post(url, {"name": "one", "token": "t1"}).status_code == 302  # per user


# -- how the pages look (issue 25) ---------------------------------------------------


def _card(html, slug):
    """The provider card of ``slug``, from just after ``<li class="card provider``."""
    for part in html.split('<li class="card provider')[1:]:
        if f'data-provider="{slug}"' in part.split(">")[0]:
            return part.split("</li>")[0]
    raise AssertionError(f"no card for {slug}")


def test_provider_cards_show_category_protocol_and_a_distinct_avatar(alice_client, fake):
    # The demo's two providers: the same first letter, two avatars told apart.
    make_provider(fake, name="Fake Cloud", slug="demo", category="storage")
    make_provider(fake, name="Demo (OAuth 1.0a)", slug="demo-oauth1", auth_type="oauth1")
    html = _html(alice_client.get("/integrations/"))
    cloud, oauth1 = _card(html, "demo"), _card(html, "demo-oauth1")
    assert '<span class="tag">Storage</span><span class="tag">OAuth 2</span>' in cloud
    # "Other" says nothing: only the protocol is shown.
    assert '<span class="tag">OAuth 1</span>' in oauth1 and "Other" not in oauth1
    assert '<span class="icon" aria-hidden="true" style="background-color: ' in cloud
    assert ">FC</span>" in cloud and ">DO</span>" in oauth1

    def colour(card):
        return card.split("background-color: ")[1].split('"')[0]

    assert colour(cloud) != colour(oauth1)


def test_connected_providers_are_marked_and_others_offered(alice, alice_client, fake):
    cloud = make_provider(fake, name="Fake Cloud")
    make_provider(fake, name="Fake Mail", slug="fake-mail")
    connected(alice, cloud, external_account_id="acct-1")
    html = _html(alice_client.get("/integrations/"))
    assert _card(html, "fake").startswith(' connected"')
    assert _card(html, "fake-mail").startswith('"')
    cloud_card, mail_card = _card(html, "fake"), _card(html, "fake-mail")
    assert '<span class="status status-active">Connected</span>' in cloud_card
    assert "Connect another account" in cloud_card and 'class="button secondary"' in cloud_card
    assert "Connected</span>" not in mail_card and ">Connect Fake Mail</a>" in mail_card


def test_last_refresh_says_not_yet_just_now_ago_or_not_needed(alice, alice_client, fake):
    from datetime import timedelta

    from django.utils import timezone

    oauth2 = make_provider(fake, name="Fake Cloud")
    oauth1 = make_provider(fake, name="Fake One", slug="fake-one", auth_type="oauth1")
    never = connected(alice, oauth2, external_account_id="a-1")
    recent = connected(alice, oauth2, external_account_id="a-2")
    older = connected(alice, oauth2, external_account_id="a-3")
    signed, _ = tokens.connect(
        alice,
        oauth1,
        {"oauth_token": "t-0001", "oauth_token_secret": "s-0001"},
        external_account_id="a-4",
    )
    now = timezone.now()
    Integration.objects.filter(pk=recent.pk).update(last_refreshed_at=now)
    Integration.objects.filter(pk=older.pk).update(last_refreshed_at=now - timedelta(minutes=5))
    html = _html(alice_client.get("/integrations/"))

    def row(integration):
        return html.split(f'data-integration="{integration.pk}"')[1].split("</tr>")[0]

    assert "Not yet" in row(never) and "connected just now" in row(never)
    assert ">just now</time>" in row(recent)
    assert ">5\xa0minutes ago</time>" in row(older)
    assert "Not needed" in row(signed) and "OAuth 1.0a tokens do not expire" in row(signed)
    assert "never (connected" not in html and "0\xa0minutes" not in html


def test_credential_pages_wording_and_buttons(alice_client):
    html = _html(alice_client.get("/integrations/credentials/"))
    assert "here or anywhere" not in html
    assert "its last four characters" in html
    add_links = html.split('class="add-links"')[1].split("</div>")[0]
    # Every type offered alike: none looks selected.
    assert add_links.count('class="button secondary"') == 4
    assert 'class="button"' not in add_links

    html = _html(alice_client.get("/integrations/credentials/add/?type=custom"))
    assert ">Add custom credential</button>" in html and "Add Custom" not in html
    placeholder = html.split('placeholder="')[1].split('"')[0]
    assert (
        placeholder == "{&quot;account&quot;: &quot;...&quot;, &quot;secret&quot;: &quot;...&quot;}"
    )
    assert 'A JSON object, for example {"account": "...", "secret": "..."}' in html.replace(
        "&quot;", '"'
    )
    actions = html.split('<div class="form-actions">')[1].split("</div>")[0]
    assert 'class="button secondary"' in actions and ">Cancel</a>" in actions


def test_every_page_links_a_favicon_that_exists(alice_client):
    from django.contrib.staticfiles import finders

    html = _html(alice_client.get("/integrations/"))
    assert '<link rel="icon" href="/static/integrations/favicon.svg"' in html
    assert '<link rel="icon" href="/static/integrations/favicon.ico"' in html
    assert finders.find("integrations/favicon.ico") and finders.find("integrations/favicon.svg")
    # Browsers that ask /favicon.ico anyway (and the admin's pages) are sent there.
    response = Client().get("/favicon.ico")
    assert (
        response.status_code == 301 and response["Location"] == "/static/integrations/favicon.ico"
    )


@pytest.mark.api
def test_the_api_docs_are_linked_from_the_site(alice_client):
    html = _html(alice_client.get("/"))
    nav = html.split('<nav aria-label="Main">')[1].split("</nav>")[0]
    assert '<a href="/api/docs/">API docs</a>' in nav
    assert ">Read the API docs</a>" in html


def test_the_home_page_marks_connected_providers(alice, alice_client, fake):
    cloud = make_provider(fake, name="Fake Cloud")
    make_provider(fake, name="Fake Mail", slug="fake-mail")
    connected(alice, cloud)
    html = _html(alice_client.get("/"))
    assert ">Open my connections</a>" in html and ">Open my credentials</a>" in html
    assert _card(html, "fake").startswith(' connected"')
    assert ">See my connections</a>" in _card(html, "fake")
    assert ">Connect Fake Mail</a>" in _card(html, "fake-mail")

"""Provider icons on the pages (issue 26): the ``provider_icon`` tag, and My
connections grouped by category with icons and the accounts already connected."""

import re

import pytest
from django.template import Context, Template
from django.test import Client
from django.utils import translation

from integrations.models import Integration, Provider
from tests.oauth_helpers import alice, connected  # noqa: F401

pytestmark = pytest.mark.django_db


def _provider(slug, name, **fields):
    return Provider.objects.create(
        slug=slug,
        name=name,
        authorize_url="https://auth.example.com/authorize",
        token_url="https://auth.example.com/token",
        client_id="client",
        **fields,
    )


def render(provider, args=""):
    template = Template("{% load integrations_ui %}{% provider_icon provider " + args + " %}")
    return template.render(Context({"provider": provider}))


# -- the tag ----------------------------------------------------------------------


def test_a_provider_with_a_shipped_icon_shows_it_from_the_static_files():
    html = render(Provider(slug="stripe", name="Stripe", metadata={"icon": "stripe"}))
    assert html.startswith('<img class="provider-icon shipped" ')
    assert 'src="/static/integrations/icons/stripe.svg"' in html
    assert 'alt="Stripe" width="32" height="32"' in html
    assert "referrerpolicy" not in html  # nothing leaves the site


def test_alt_and_size_can_be_given():
    html = render(Provider(slug="x", name="X", metadata={"icon": "x"}), 'size=24 alt=""')
    assert 'alt="" width="24" height="24"' in html


def test_an_icon_url_staff_set_wins_and_is_loaded_without_referrer():
    provider = Provider(
        slug="acme", name="Acme", icon_url="https://cdn.acme.example/logo.png", metadata={}
    )
    html = render(provider)
    assert 'src="https://cdn.acme.example/logo.png"' in html
    assert 'referrerpolicy="no-referrer"' in html and 'alt="Acme"' in html
    provider.metadata = {"icon": "stripe"}  # their own choice still wins
    assert "cdn.acme.example" in render(provider)


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"icon": "no-such-icon"},
        {"icon": "../../../settings"},  # never a path out of the icons
        {"icon": "Stripe"},
        {"icon": ["stripe"]},
        {"icon": "stripe.svg"},
        "not a dict",
        None,
    ],
)
def test_without_a_shipped_icon_the_letter_avatar_stands_in(metadata):
    html = render(Provider(slug="acme-pay", name="Acme Pay", metadata=metadata))
    assert "<img" not in html
    assert html.startswith('<span class="icon" role="img" aria-label="Acme Pay" ')
    assert ">AP</span>" in html


def test_a_decorative_avatar_is_hidden_from_screen_readers():
    html = render(Provider(slug="acme", name="Acme", metadata={}), 'alt=""')
    assert '<span class="icon" aria-hidden="true" style="background-color: #' in html


def test_a_preset_never_loads_a_remote_icon():
    # Presets are data of this package: their icon_url is not a staff choice.
    preset = {"name": "Old", "slug": "old", "icon_url": "https://old.example/favicon.ico"}
    assert "old.example" not in render(preset) and ">O</span>" in render(preset)
    preset["metadata"] = {"icon": "github"}
    html = render(preset)
    assert 'src="/static/integrations/icons/github.svg"' in html and "old.example" not in html


def test_names_are_escaped():
    html = render(Provider(slug="x", name='<b>"Evil"</b>', metadata={"icon": "x"}))
    assert "<b>" not in html and "&lt;b&gt;&quot;Evil&quot;&lt;/b&gt;" in html


# -- My connections -----------------------------------------------------------------


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def _groups(html):
    """[(category, heading, [provider slugs])] in page order."""
    groups = []
    for part in html.split('<section class="provider-group"')[1:]:
        category = re.search(r'data-category="([^"]+)"', part)[1]
        heading = re.search(r"<h3[^>]*>([^<]+)</h3>", part)[1]
        part = part.split("</section>")[0]
        groups.append(
            (category, heading, re.findall(r'<li class="card[^"]*" data-provider="([^"]+)"', part))
        )
    return groups


def test_providers_are_grouped_by_category_with_their_icons(alice_client):
    _provider("stripe", "Stripe", category="payment", metadata={"icon": "stripe"})
    _provider("paypal", "PayPal", category="payment", metadata={"icon": "paypal"})
    _provider("google", "Google", category="authentication", metadata={"icon": "google"})
    _provider("acme", "Acme", metadata={})  # other, no icon
    _provider("gone", "Gone", category="payment", status="inactive")
    html = alice_client.get("/integrations/").content.decode()
    assert _groups(html) == [
        ("payment", "Payment", ["paypal", "stripe"]),
        ("authentication", "Authentication", ["google"]),
        ("other", "Other", ["acme"]),
    ]
    assert '<nav class="category-nav" aria-label="Categories">' in html
    assert 'href="#category-payment">Payment <span class="muted">(2)</span>' in html
    assert 'src="/static/integrations/icons/stripe.svg" alt=""' in html  # its name is next to it
    assert '<span class="tag">Payment</span>' in html
    assert "icons/acme.svg" not in html and ">A</span>" in html


def test_one_category_needs_no_category_links(alice_client):
    _provider("stripe", "Stripe", category="payment", metadata={"icon": "stripe"})
    html = alice_client.get("/integrations/").content.decode()
    assert "category-nav" not in html and [g[0] for g in _groups(html)] == ["payment"]


def test_categories_are_translated(alice_client):
    _provider("stripe", "Stripe", category="payment")
    _provider("mail", "Mail", category="email")
    with translation.override("fr"):
        html = alice_client.get("/integrations/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    headings = [heading for _, heading, _ in _groups(html)]
    assert headings == ["Paiement", "Courriel"]


def test_connected_providers_are_marked_with_the_number_of_accounts(alice, alice_client):
    stripe = _provider("stripe", "Stripe", category="payment")
    google = _provider("google", "Google", category="authentication")
    _provider("paypal", "PayPal", category="payment")
    for account in ("acct-1", "acct-2"):
        connected(alice, stripe, external_account_id=account)
    connected(alice, google, external_account_id="g-1")
    stale = connected(alice, google, external_account_id="g-2")
    stale.status = Integration.Status.NEEDS_REAUTH  # to reconnect: not counted
    stale.save(update_fields=["status"])
    html = alice_client.get("/integrations/").content.decode()

    def card(slug):
        cards = html.split('id="available-providers"')[1]
        return cards.split(f'data-provider="{slug}">')[1].split("</li>")[0]

    assert '<span class="status status-active">Connected</span>' in card("stripe")
    assert '<span class="count muted">2 accounts</span>' in card("stripe")
    assert '<span class="status status-active">Connected</span>' in card("google")
    assert "accounts</span>" not in card("google")  # one account counted: no number
    assert "Connected</span>" not in card("paypal") and ">Connect PayPal</a>" in card("paypal")


def test_the_count_and_the_category_links_in_french(alice, alice_client):
    stripe = _provider("stripe", "Stripe", category="payment")
    _provider("mail", "Mail", category="email")
    connected(alice, stripe, external_account_id="acct-1")
    connected(alice, stripe, external_account_id="acct-2")
    html = alice_client.get("/integrations/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    translation.activate("en")
    assert '<span class="count muted">2 comptes</span>' in html
    assert 'aria-label="Catégories"' in html and ">Paiement <span" in html

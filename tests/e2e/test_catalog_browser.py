"""The provider catalog's screens in a real browser (Debian's Chromium, Playwright):
the admin's "Add from preset" list filters as one types and picks a category (and
without JavaScript, on the server), and shows the shipped icons; My connections
shows the providers by category, with their icons and the accounts connected."""

import re

import pytest

from integrations.models import Provider
from integrations.providers import PRESETS
from tests.e2e.browser import (
    new_page,
    running_chromium,
    screenshot,
    sync_playwright_or_skip,
)
from tests.oauth_helpers import connected

sync_playwright = sync_playwright_or_skip()
from playwright.sync_api import expect  # noqa: E402  (after the skip check)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-1"
ACME_MAIL = {
    "name": "Acme Mail",
    "slug": "acme-mail",
    "category": "email",
    "auth_type": "api_key",
    "description": "Acme Mail's sending API: each user enters an API key.",
    "base_url": "https://api.acme-mail.example/v3/",
    "metadata": {"icon": "sendgrid", "credential_fields": {"api_key": {"label": "API key"}}},
}
REGIONAL_PAY = {
    "name": "Regional Pay",
    "slug": "regional-pay",
    "category": "payment",
    "auth_type": "oauth2",
    "description": "A payment platform with one API host per region.",
    "authorize_url": "https://{region}.regional-pay.example/oauth/authorize",
    "token_url": "https://{region}.regional-pay.example/oauth/token",
    "metadata": {
        "icon": "stripe",
        "url_params": {
            "region": {
                "label": "Region",
                "pattern": "^(eu|us)$",
                "example": "eu",
                "level": "provider",
            }
        },
    },
}


@pytest.fixture(scope="module")
def chromium():
    with running_chromium() as browser:
        yield browser


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


@pytest.fixture(autouse=True)
def presets(monkeypatch):
    # The live server runs in this process: it sees these as well.
    monkeypatch.setitem(PRESETS, "acme-mail", ACME_MAIL)
    monkeypatch.setitem(PRESETS, "regional-pay", REGIONAL_PAY)


@pytest.fixture
def page(chromium, live_server):
    page = new_page(chromium, live_server.url)
    yield page
    page.context.close()


def admin_sign_in(page, django_user_model):
    django_user_model.objects.create_superuser("operator", "ops@demo.test", PASSWORD)
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()


def assert_loaded(page, images):
    """Every image of the locator is in view, loaded and decoded (naturalWidth > 0)."""
    count = images.count()
    assert count
    for index in range(count):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=image.element_handle()
        )


def visible_presets(page):
    return page.locator("#preset-list tbody tr:visible").evaluate_all(
        "rows => rows.map(row => row.dataset.preset)"
    )


def test_the_preset_list_filters_as_one_types_and_shows_icons(page, django_user_model):
    admin_sign_in(page, django_user_model)
    page.goto("/admin/integrations/provider/")
    page.get_by_role("link", name="Add from preset").click()
    expect(page.get_by_role("heading", name="Add provider from a preset")).to_be_visible()
    assert sorted(visible_presets(page)) == sorted(PRESETS)
    assert_loaded(page, page.locator('#preset-list img[src*="/icons/"]'))

    search = page.get_by_role("searchbox", name="Search")
    expect(page.locator("#preset-filter[data-enhanced]")).to_have_count(1)  # the script is on
    search.press_sequentially("regiona")  # no submit: the list narrows as one types
    expect(page.locator("#preset-shown")).to_have_text("1")
    assert visible_presets(page) == ["regional-pay"]
    assert "q=regiona" in page.url  # a reload or a shared link keeps the filter
    search.fill("")
    page.get_by_label("Category").select_option("email")
    emails = sorted(key for key, entry in PRESETS.items() if entry["category"] == "email")
    expect(page.locator("#preset-shown")).to_have_text(str(len(emails)))
    assert "acme-mail" in emails and sorted(visible_presets(page)) == emails
    assert_loaded(page, page.locator('tr[data-preset="acme-mail"] img'))
    screenshot(page, "admin-presets")
    # In the admin's dark theme the icons keep their white tile (brand colours read).
    page.wait_for_load_state("load")  # the stylesheets, which a click does not wait for
    page.emulate_media(color_scheme="dark")
    icon = page.locator('tr[data-preset="acme-mail"] img')
    assert icon.evaluate("i => getComputedStyle(i).backgroundColor") == "rgb(255, 255, 255)"
    body = page.locator("body").evaluate("b => getComputedStyle(b).backgroundColor")
    assert body != "rgb(255, 255, 255)", body  # the page itself is dark
    page.emulate_media(color_scheme="light")
    search.fill("no such provider")
    expect(page.locator("#preset-empty")).to_be_visible()
    assert visible_presets(page) == []

    page.get_by_label("Category").select_option("")
    search.fill("regional")
    page.get_by_role("link", name="Regional Pay").click()
    expect(
        page.get_by_role("heading", name="Add provider from a preset: Regional Pay")
    ).to_be_visible()
    expect(page.get_by_label("Region")).to_have_attribute("placeholder", "eu")
    expect(page.get_by_label("Client ID")).to_be_visible()
    assert_loaded(page, page.locator("h1 img.provider-icon"))


def test_the_preset_list_filters_without_javascript(chromium, live_server, django_user_model):
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(live_server.url) else route.abort()
        ),
    )
    page = context.new_page()
    try:
        admin_sign_in(page, django_user_model)
        page.goto("/admin/integrations/provider/from-preset/")
        page.get_by_label("Category").select_option("payment")
        page.get_by_role("searchbox", name="Search").fill("regional")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(
            re.compile(r"category=payment.*q=regional|q=regional.*category=payment")
        )
        expect(page.locator("#preset-shown")).to_have_text("1")
        assert visible_presets(page) == ["regional-pay"]
    finally:
        context.close()


def test_my_connections_shows_categories_icons_and_connected_accounts(page, django_user_model):
    alice = django_user_model.objects.create_user("alice", password=PASSWORD)
    endpoints = {
        "authorize_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
        "client_id": "cid",
    }
    stripe = Provider.objects.create(
        slug="stripe-connect",
        name="Stripe",
        category="payment",
        metadata={"icon": "stripe-connect"},
        **endpoints,
    )
    Provider.objects.create(
        slug="paypal", name="PayPal", category="payment", metadata={"icon": "paypal"}, **endpoints
    )
    google = Provider.objects.create(
        slug="google",
        name="Google",
        category="authentication",
        metadata={"icon": "google"},
        **endpoints,
    )
    connected(alice, stripe, external_account_id="acct-1")
    connected(alice, stripe, external_account_id="acct-2")
    connected(alice, google, external_account_id="me@example.com")

    page.goto("/accounts/login/?next=/integrations/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="My connections")).to_be_visible()

    headings = page.locator("#available-providers h3").all_inner_texts()
    assert headings == ["Payment", "Authentication"]
    nav = page.get_by_role("navigation", name="Categories")
    nav.get_by_role("link", name="Authentication").click()
    expect(page).to_have_url(re.compile("#category-authentication$"))

    payment = page.get_by_role("region", name="Payment")
    stripe_card = payment.locator('li[data-provider="stripe-connect"]')
    expect(stripe_card.locator(".status")).to_have_text("Connected")
    expect(stripe_card.locator(".count")).to_have_text("2 accounts")
    expect(payment.locator('li[data-provider="paypal"]').get_by_role("link")).to_have_text(
        "Connect PayPal"
    )
    google_card = page.get_by_role("region", name="Authentication").locator("li")
    expect(google_card.locator(".status")).to_have_text("Connected")
    expect(google_card.locator(".count")).to_have_count(0)
    assert_loaded(page, page.locator('#available-providers img[src*="/icons/"]'))
    assert page.locator('#available-providers img[src*="/icons/"]').count() == 3
    screenshot(page, "connections-by-category")

"""The user pages and the admin in a real browser (Debian's Chromium, Playwright).

On pytest-django's live_server, with the demo authorization server registered
against it: a user signs in, connects the demo provider end to end, sees the
connection active, adds an API-key credential, renames it without retyping the
secret, deletes it and disconnects; staff sign in to the admin and see only
masked values. After each flow no secret appears in any page's HTML.
"""

import re

import pytest

from config.demo_provider.registration import register_demo_provider
from integrations import credentials, tokens
from integrations.models import AuditEvent, Credential, Integration
from tests.e2e.browser import (
    PageRecorder,
    new_page,
    running_chromium,
    screenshot,
    sync_playwright_or_skip,
)

sync_playwright = sync_playwright_or_skip()
from playwright.sync_api import expect  # noqa: E402  (after the skip check)

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "correct-horse-battery-1"


@pytest.fixture(scope="module")
def chromium():
    with running_chromium() as browser:
        yield browser


@pytest.fixture(autouse=True)
def _plain_http_cookies(settings):
    # The live server speaks plain HTTP on loopback: cookies cannot be Secure.
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def demo(live_server):
    provider, _application = register_demo_provider(live_server.url)
    return provider


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user(
        "alice", email="alice@demo.test", password=PASSWORD
    )


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("operator", "ops@demo.test", PASSWORD)


@pytest.fixture
def page(chromium, live_server):
    page = new_page(chromium, live_server.url)
    yield page
    page.context.close()


def sign_in(page, username, *, next_url="/integrations/"):
    page.goto(f"/accounts/login/?next={next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(username, exact=True).first).to_be_visible()


def site_logs(caplog):
    """The site's log lines (the demo authorization server is another party)."""
    return "\n".join(
        f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        for record in caplog.records
        if not record.name.startswith(("oauthlib", "oauth2_provider", "urllib3"))
        and not (record.name == "django.template" and "oauth2_provider/" in record.getMessage())
    )


def record_not_found(page):
    """The URLs the browser got a 404 for (a missing favicon, a broken asset)."""
    missing = []
    page.on("response", lambda response: response.status == 404 and missing.append(response.url))
    return missing


def test_user_connects_manages_a_credential_and_disconnects(page, demo, alice, canary, all_logs):
    recorder = PageRecorder(page)
    missing = record_not_found(page)
    sign_in(page, "alice")

    # My connections: the demo provider is offered, nothing is connected yet.
    expect(page.get_by_role("heading", name="My connections")).to_be_visible()
    expect(page.locator("#no-connections")).to_be_visible()
    recorder.snapshot()

    # Connect, consent at the provider, come back to My connections.
    page.get_by_role("link", name="Connect Demo").click()
    expect(page.get_by_text("Authorize Sealed Integrations demo?")).to_be_visible()
    recorder.snapshot()
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(re.compile(r"/integrations/$"))
    expect(page.locator(".messages")).to_contain_text("Connected Demo as alice@demo.test")
    row = page.locator("#connected-accounts tbody tr", has_text="Demo")
    expect(row).to_have_count(1)
    expect(row.locator(".status")).to_have_text("Active")
    expect(row).to_contain_text("alice@demo.test")
    expect(row.locator("td").nth(3)).to_contain_text("Not yet")
    # The card now says so, and offers another account rather than the same again.
    card = page.locator("#available-providers li", has_text="Demo")
    expect(card.locator(".status")).to_have_text("Connected")
    expect(card.get_by_role("link", name="Connect another Demo account")).to_be_visible()
    expect(page.get_by_role("link", name="Connect Demo")).to_have_count(0)
    recorder.snapshot()
    screenshot(page, "connections")

    integration = Integration.objects.get(owner=alice, provider=demo)
    access, refresh = integration.access_token, integration.refresh_token
    assert integration.status == "active" and access and refresh

    # My credentials: add an API key; the list says it is set, with a short hint.
    api_key = f"{canary}-sk-live-4242"
    page.get_by_role("link", name="My credentials").click()
    expect(page.locator("#no-credentials")).to_be_visible()
    # The types are offered alike: none looks chosen already.
    add_links = page.locator(".add-links a")
    expect(add_links).to_have_count(4)
    for index in range(4):
        expect(add_links.nth(index)).to_have_class("button secondary")
    page.get_by_role("link", name="API key", exact=True).click()
    page.get_by_label("Name").fill("Stripe")
    page.get_by_label("Plugin or service").fill("stripe")
    secret_input = page.get_by_label("API key")
    expect(secret_input).to_have_attribute("type", "password")
    secret_input.fill(api_key)
    page.get_by_role("button", name="Add API key").click()
    expect(page.locator(".messages")).to_contain_text("Saved the credential “Stripe”")
    row = page.locator("#credentials tbody tr", has_text="Stripe")
    expect(row).to_contain_text("Set")
    expect(row).to_contain_text("…4242")
    recorder.snapshot()
    screenshot(page, "credentials")
    credential = Credential.objects.get(owner=alice)
    assert credential.data == {"api_key": api_key}

    # Edit the name without retyping the secret: the secret is kept.
    row.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("API key")).to_have_value("")
    recorder.snapshot()
    page.get_by_label("Name").fill("Stripe (live)")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator(".messages")).to_contain_text("The secret was kept.")
    expect(page.locator("#credentials")).to_contain_text("Stripe (live)")
    recorder.snapshot()
    credential.refresh_from_db()
    assert credential.name == "Stripe (live)" and credential.data == {"api_key": api_key}

    # Delete, with a confirmation page.
    page.locator("#credentials tbody tr", has_text="Stripe (live)").get_by_role(
        "link", name="Delete"
    ).click()
    expect(page.get_by_role("heading", name="Delete “Stripe (live)”?")).to_be_visible()
    # Cancel stands apart from the button, not glued to it. A click does not wait for
    # the stylesheet as goto does: measured before it arrives, the page is unstyled.
    page.wait_for_load_state("load")
    delete_box = page.get_by_role("button", name="Delete").bounding_box()
    cancel_box = page.get_by_role("link", name="Cancel").bounding_box()
    assert cancel_box["x"] - (delete_box["x"] + delete_box["width"]) >= 8
    recorder.snapshot()
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".messages")).to_contain_text("Deleted the credential")
    expect(page.locator("#no-credentials")).to_be_visible()
    assert not Credential.objects.exists()

    # Disconnect the integration, with a confirmation; it is revoked at the provider.
    page.get_by_role("link", name="My connections").click()
    page.locator("#connected-accounts tbody tr", has_text="Demo").get_by_role(
        "link", name="Disconnect"
    ).click()
    expect(page.get_by_role("heading", name="Disconnect Demo?")).to_be_visible()
    recorder.snapshot()
    page.get_by_role("button", name="Disconnect").click()
    page.wait_for_url(re.compile(r"/integrations/$"))
    expect(page.locator(".messages")).to_contain_text("its access was revoked")
    expect(page.locator("#no-connections")).to_be_visible()
    integration.refresh_from_db()
    assert integration.status == "revoked" and integration.access_token is None
    assert (
        AuditEvent.objects.filter(
            action="revoke", outcome="success", target_id=str(integration.pk)
        ).count()
        == 2
    )

    # The home page: the way in, with the API docs linked.
    page.goto("/")
    expect(page.get_by_role("link", name="Open my connections")).to_be_visible()
    expect(page.get_by_role("navigation").get_by_role("link", name="API docs")).to_be_visible()
    screenshot(page, "home")

    # Sign out.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()
    # No page asked for something that is not there (the favicon included).
    assert not missing, missing

    # No secret in any page's HTML, nor in the site's logs.
    recorder.assert_absent(canary, api_key, access, refresh)
    logged = site_logs(all_logs)
    for secret in (canary, access, refresh):
        assert secret not in logged


def test_needs_reauth_shows_a_reconnect_button(page, demo, alice, canary):
    integration, _ = tokens.connect(
        alice,
        demo,
        {
            "access_token": f"{canary}-access",
            "refresh_token": f"{canary}-refresh",
            "expires_in": 3600,
        },
        external_account_id="x-1",
        label="old account",
    )
    Integration.objects.filter(pk=integration.pk).update(
        status="needs_reauth", last_error="invalid_grant"
    )
    recorder = PageRecorder(page)
    sign_in(page, "alice")
    row = page.locator("#connected-accounts tbody tr", has_text="old account")
    expect(row.locator(".status")).to_have_text("Needs re-authorization")
    reconnect = row.get_by_role("link", name="Reconnect")
    expect(reconnect).to_have_attribute("href", "/integrations/connect/demo/?next=/integrations/")
    recorder.assert_absent(canary)


def test_staff_see_only_masked_values_in_the_admin(page, demo, alice, staff, canary):
    api_key = f"{canary}-admin-key-9876"
    credentials.create_credential(
        alice, name="Mailer", credential_type="api_key", data={"api_key": api_key}, plugin="mailer"
    )
    tokens.connect(
        alice,
        demo,
        {
            "access_token": f"{canary}-access",
            "refresh_token": f"{canary}-refresh",
            "expires_in": 3600,
        },
        external_account_id="acct-9",
        label="alice@demo.test",
    )
    recorder = PageRecorder(page)
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()

    page.goto("/admin/integrations/credential/")
    row = page.locator("#result_list tbody tr", has_text="Mailer")
    expect(row).to_contain_text("Sealed (key v2)")
    expect(row).to_contain_text("…9876")
    recorder.snapshot()
    row.get_by_role("link", name="Mailer").click()
    expect(page.get_by_label("Secret data")).to_have_value("")
    recorder.snapshot()

    page.goto("/admin/integrations/integration/")
    row = page.locator("#result_list tbody tr", has_text="alice@demo.test")
    expect(row.locator("td.field-access_token_status")).to_have_text("Sealed (key v2)")
    expect(row.locator("td.field-refresh_token_status")).to_have_text("Sealed (key v2)")
    recorder.snapshot()
    # At 1280 px with the admin's navigation open, every changelist shows all its
    # columns: nothing cut off or hidden behind a sideways scroll.
    page.set_viewport_size({"width": 1280, "height": 720})
    for model in ("integration", "credential", "provider", "auditevent"):
        page.goto(f"/admin/integrations/{model}/")
        expect(page.locator("#nav-sidebar")).to_be_visible()
        overflow = page.locator("#changelist .results").evaluate(
            "results => results.scrollWidth - results.clientWidth"
        )
        assert overflow <= 0, f"{model}: {overflow} px of columns cut off"
    page.goto("/admin/integrations/integration/")
    screenshot(page, "admin")

    page.goto("/admin/integrations/provider/")
    expect(page.get_by_role("link", name="Add from preset")).to_be_visible()
    expect(page.locator("#result_list")).to_contain_text("Sealed (key v2)")
    recorder.snapshot()
    page.get_by_role("link", name="Add from preset").click()
    page.get_by_role("link", name="GitHub", exact=True).click()  # a preset from the list
    expect(page.get_by_label("Client secret")).to_have_attribute("type", "password")
    recorder.snapshot()

    page.goto("/admin/integrations/auditevent/")
    expect(page.locator("#changelist-filter")).to_contain_text("By action")
    # Targets by their names, not the models' labels.
    expect(page.locator("#result_list")).to_contain_text("Credential: Mailer")
    expect(page.locator("#result_list")).not_to_contain_text("integrations.credential")
    recorder.snapshot()

    recorder.assert_absent(canary, api_key)

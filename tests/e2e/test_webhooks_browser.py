"""The webhooks' admin in a real browser: a staff user adds an endpoint, copies the
secret from the one page that shows it, and a receiver on loopback verifies a
delivery with it; the delivery log fits the screen and replays."""

import pytest

from integrations import credentials, webhooks
from integrations.models import WebhookDelivery
from tests.e2e.browser import sync_playwright_or_skip
from tests.webhook_receiver import Receiver

sync_playwright_or_skip()

from playwright.sync_api import expect  # noqa: E402  (after the skip check)
from standardwebhooks import Webhook  # noqa: E402

from tests.e2e.test_browser import (  # noqa: E402, F401  (fixtures)
    PASSWORD,
    _plain_http_cookies,
    alice,
    chromium,
    page,
    staff,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings):
    settings.INTEGRATIONS = {**settings.INTEGRATIONS, "WEBHOOK_ALLOW_PRIVATE_URLS": True}
    server = Receiver().start()
    yield server
    server.stop()


def test_staff_add_an_endpoint_copy_its_secret_once_and_replay(
    page, alice, staff, receiver, canary
):
    page.goto("/admin/login/?next=/admin/")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto("/admin/integrations/webhookendpoint/add/")
    page.get_by_label("URL").fill(receiver.url("/hooks"))
    page.get_by_label("credential.created").check()
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("heading", name="The endpoint's signing secret")).to_be_visible()
    secret = page.locator("#webhook-secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("link", name="Continue to the endpoint").click()
    expect(page.locator("body")).not_to_contain_text(secret)
    expect(page.locator("body")).to_contain_text("set (shown once")

    credentials.create_credential(
        alice, name="Mail", credential_type="api_key", data={"api_key": f"{canary}-WXYZ"}
    )
    assert webhooks.deliver_due() == {"succeeded": 1}
    _path, headers, body = receiver.requests[0]
    assert Webhook(secret).verify(body, headers)["type"] == "credential.created"

    page.set_viewport_size({"width": 1280, "height": 720})
    for model in ("webhookendpoint", "webhookdelivery"):
        page.goto(f"/admin/integrations/{model}/")
        expect(page.locator("#nav-sidebar")).to_be_visible()
        overflow = page.locator("#changelist .results").evaluate(
            "results => results.scrollWidth - results.clientWidth"
        )
        assert overflow <= 0, f"{model}: {overflow} px of columns cut off"
        expect(page.locator("body")).not_to_contain_text(canary)
    page.locator("#result_list tbody input.action-select").first.check()
    page.locator("select[name=action]").select_option("replay")
    page.get_by_role("button", name="Run").click()
    expect(page.locator(".messagelist")).to_contain_text("1 replay queued.")
    assert WebhookDelivery.objects.filter(status="pending").count() == 1
    expect(page.locator("#result_list")).to_contain_text("#1 · 204")

"""My connections' "Test connection" against the demo provider over real HTTP:
the provider says who the account is, also after the token expired (one
refresh), and never a token on the page (issue 12, item 7)."""

import pytest

from integrations.models import AuditEvent, Integration
from tests.e2e.test_demo_provider import (  # noqa: F401 (fixtures)
    TokenRequests,
    alice,
    browser,
    demo,
)
from tests.oauth_helpers import expire

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("demo")]


def _test_connection(browser, integration):
    browser.get("/integrations/")  # the page with the button (and a fresh CSRF cookie)
    response = browser.post(f"/integrations/{integration.pk}/test/", {})
    assert response.status_code == 302
    return browser.get(response.headers["Location"]).text


def _assert_no_token_seen(browser, integration):
    integration.refresh_from_db()
    for text in browser.seen:
        assert integration.access_token not in text
        assert integration.refresh_token not in text


def test_the_provider_says_who_the_account_is(browser):
    browser.connect()
    integration = Integration.objects.get()
    with TokenRequests() as token_requests:
        page = _test_connection(browser, integration)
    assert "Demo says this account is" in page
    assert integration.label and integration.label in page  # who the provider says
    assert token_requests.count == 0
    assert AuditEvent.objects.filter(action="use", purpose="test connection").count() == 1
    _assert_no_token_seen(browser, integration)


def test_it_keeps_working_after_the_token_expired(browser):
    browser.connect()
    integration = Integration.objects.get()
    old = integration.access_token
    expire(integration)
    with TokenRequests() as token_requests:
        page = _test_connection(browser, integration)
        page_again = _test_connection(browser, integration)
    assert "Demo says this account is" in page and "Demo says this account is" in page_again
    assert token_requests.count == 1  # refreshed once, then the new token serves
    integration.refresh_from_db()
    assert integration.access_token != old and integration.status == "active"
    _assert_no_token_seen(browser, integration)


def test_another_users_integration_is_not_found(browser, django_user_model):
    browser.connect()
    integration = Integration.objects.get()
    integration.owner = django_user_model.objects.create_user("mallory")
    integration.save(update_fields=["owner"])
    browser.get("/integrations/")
    assert browser.post(f"/integrations/{integration.pk}/test/", {}).status_code == 404


def test_only_post(browser):
    browser.connect()
    integration = Integration.objects.get()
    assert browser.get(f"/integrations/{integration.pk}/test/").status_code == 405

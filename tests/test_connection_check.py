"""Test connection (integrations.connection_check) when things go wrong: the
page says why, by code, and never shows a token."""

import pytest

from integrations import connection_check
from integrations.models import Provider
from tests.oauth_helpers import alice, connected, fake, make_provider, provider  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_provider_without_userinfo_says_so(alice, fake):
    integration = connected(alice, make_provider(fake, slug="nouserinfo", userinfo_url=""))
    result = connection_check.check_connection(alice, integration)
    assert (result.ok, result.code) == (False, "no_userinfo_endpoint")


def test_a_failing_provider_is_a_code_not_an_exception(alice, provider, fake):
    integration = connected(alice, provider)
    fake.script("/userinfo", 503, {"error": "down"})
    result = connection_check.check_connection(alice, integration)
    assert (result.ok, result.code) == (False, "http_503")


def test_userinfo_that_is_not_an_object_is_invalid(alice, provider, fake):
    integration = connected(alice, provider)
    fake.script("/userinfo", 200, '["not", "an", "object"]', {"Content-Type": "application/json"})
    assert connection_check.check_connection(alice, integration).code == "invalid_userinfo"


def test_the_page_reports_the_code_and_never_a_token(alice, provider, fake, client):
    integration = connected(alice, provider, access="access-token-canary-0123456789")
    fake.script("/userinfo", 503, {"error": "down"})
    client.force_login(alice)
    response = client.post(f"/integrations/{integration.pk}/test/", follow=True)
    html = response.content.decode()
    assert "http_503" in html and "access-token-canary-0123456789" not in html
    assert Provider.objects.filter(slug="fake").exists()

"""Django's technical 500 page and admins' error e-mails never show a secret.

Each test drives a real code path to a real unhandled exception, with DEBUG on
(the page a developer sees) and the project's exception reporter, and looks for
a canary secret anywhere in the page: frame locals, POST data, META, the URL.
Failures that no input can cause (a database going away, a buggy receiver in
the hosting project) are injected with signal receivers, not by patching our
code.
"""

import html
import sys
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models.signals import pre_save
from django.test import Client, RequestFactory, override_settings
from django.utils import timezone
from django.views.debug import ExceptionReporter, technical_500_response

from integrations import credentials, tokens
from integrations.crypto import generate_key
from integrations.models import Credential, Integration, Provider
from integrations.redaction import Secret
from integrations.reporting import RedactingExceptionReporter, SecretSafeExceptionReporterFilter
from tests.dbutil import write_raw
from tests.oauth_helpers import alice, fake, make_provider, provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug_page(settings):
    """The developer's setup: DEBUG on, the project's reporter and filter."""
    settings.DEBUG = True
    assert settings.DEFAULT_EXCEPTION_REPORTER == "integrations.reporting.RedactingExceptionReporter"
    return settings


def error_page(client, method, url, data=None, **extra):
    response = getattr(client, method)(url, data or {}, **extra)
    assert response.status_code == 500, response.content[:500]
    return response.content.decode()


def browser_for(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def assert_hidden(page, *secrets):
    for secret in secrets:
        assert secret not in page
        assert html.escape(secret) not in page


@contextmanager
def failing_save(model, message="database went away"):
    """The database fails when ``model`` is saved (as a lost connection would)."""
    def fail(**kwargs):
        raise DatabaseError(message)
    pre_save.connect(fail, sender=model, dispatch_uid="test-reporting-fail")
    try:
        yield
    finally:
        pre_save.disconnect(sender=model, dispatch_uid="test-reporting-fail")


# -- the five leaks of issue 10, item 11 -------------------------------------------

def test_a_failed_callback_does_not_show_the_token_response(debug_page, alice, provider, fake,
                                                            canary):
    from tests.test_oauth_views import pending, start

    fake.script("/token", 200, {"access_token": f"{canary}-access", "token_type": "Bearer",
                                "refresh_token": f"{canary}-refresh", "expires_in": 3600})
    browser = browser_for(alice)
    _, query = start(browser)
    assert pending(browser)
    with failing_save(Integration):
        page = error_page(browser, "get", "/integrations/callback/fake/",
                          {"code": "the-code-0123456789", "state": query["state"]})
    assert "DatabaseError" in page and "database went away" in page
    assert "integrations/views.py" in page  # the frames are still shown
    assert_hidden(page, canary, query["state"], "the-code-0123456789")


def test_a_credential_posted_during_a_race_is_not_shown(debug_page, alice, canary):
    """Another request creates the same name between the form's check and the insert."""
    def race(instance, **kwargs):
        if instance.pk is None or not Credential.objects.filter(pk=instance.pk).exists():
            pre_save.disconnect(race, sender=Credential)
            credentials.create_credential(alice, name=instance.name, credential_type="api_key",
                                          data={"api_key": "the-other-request-key"})

    pre_save.connect(race, sender=Credential)
    try:
        page = error_page(browser_for(alice), "post",
                          "/integrations/credentials/add/?type=api_key",
                          {"name": "stripe", "api_key": canary, "plugin": "stripe"})
    finally:
        pre_save.disconnect(race, sender=Credential)
    assert "IntegrityError" in page
    assert "api_key" in page  # the parameter is listed, its value is not
    assert_hidden(page, canary, "the-other-request-key")


def test_a_client_secret_typed_in_the_admin_is_not_shown(debug_page, admin_user, canary):
    from tests.test_admin import admin_url, provider_post

    with failing_save(Provider):
        page = error_page(browser_for(admin_user), "post", admin_url(Provider, "add"),
                          provider_post(new_client_secret=canary))
    assert "DatabaseError" in page
    assert "new_client_secret" in page
    assert_hidden(page, canary)


def test_a_legacy_plaintext_token_is_not_shown(debug_page, alice, provider, canary):
    integration, _ = tokens.connect(alice, provider, {"access_token": "sealed-access-0123456789",
                                                      "token_type": "Bearer"},
                                    external_account_id="acct-legacy")
    write_raw(Integration, "access_token", integration.pk, f"{canary}-legacy-plaintext")
    page = error_page(browser_for(alice), "post", f"/integrations/{integration.pk}/disconnect/")
    assert "NotSealedError" in page
    assert_hidden(page, canary)


def test_a_valid_key_next_to_a_bad_entry_is_not_shown(debug_page, alice):
    valid = generate_key(2)
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [valid, "1:not-a-key!"]}):
        page = error_page(browser_for(alice), "post",
                          "/integrations/credentials/add/?type=api_key",
                          {"name": "stripe", "api_key": "sk-0123456789abcdef", "plugin": "x"})
    assert "KeyringError" in page
    assert_hidden(page, valid, valid.partition(":")[2], "sk-0123456789abcdef")

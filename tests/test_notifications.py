"""NOTIFY_REAUTH_BY_EMAIL: the owner hears by e-mail when an integration must be
connected again; the message never holds a secret and its templates can be
overridden."""

import pytest
from django.test.utils import override_settings

from integrations import tokens
from tests.conftest import assert_not_logged
from tests.oauth_helpers import (  # noqa: F401 (fixtures)
    alice,
    bob,
    connected,
    expire,
    fake,
    provider,
)
from tests.settings import INTEGRATIONS, TEMPLATES

NOTIFY = {**INTEGRATIONS, "NOTIFY_REAUTH_BY_EMAIL": True}

pytestmark = pytest.mark.django_db


def refused(user, provider, fake, capture, *, refresh):
    integration = connected(user, provider, access=f"{refresh}-access", refresh=refresh)
    expire(integration)
    fake.script("/token", 400, {"error": "invalid_grant"})
    with capture(execute=True), pytest.raises(tokens.ReauthorizationRequired):
        tokens.get_valid_token(integration, purpose="sync")
    return integration


def test_the_owner_is_emailed_once_without_a_secret(
    alice, provider, fake, mailoutbox, canary, all_logs, django_capture_on_commit_callbacks
):
    with override_settings(INTEGRATIONS=NOTIFY):
        integration = refused(
            alice, provider, fake, django_capture_on_commit_callbacks, refresh=f"{canary}-refresh"
        )
        # Still refused: the status does not change again, so no second e-mail.
        with (
            django_capture_on_commit_callbacks(execute=True),
            pytest.raises(tokens.ReauthorizationRequired),
        ):
            tokens.get_valid_token(integration, purpose="sync")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["alice@example.test"]
    assert message.subject == "Connect Fake again"
    assert "invalid_grant" in message.body and "/integrations/" in message.body
    assert canary not in message.subject + message.body + str(message.message())
    assert_not_logged(all_logs, canary)


def test_off_by_default(alice, provider, fake, mailoutbox, django_capture_on_commit_callbacks):
    refused(alice, provider, fake, django_capture_on_commit_callbacks, refresh="rt-0001-abcdef")
    assert mailoutbox == []


def test_an_owner_without_an_address_gets_nothing(
    bob, provider, fake, mailoutbox, django_capture_on_commit_callbacks
):
    with override_settings(INTEGRATIONS=NOTIFY):
        refused(bob, provider, fake, django_capture_on_commit_callbacks, refresh="rt-0002-abcdef")
    assert mailoutbox == []


def test_the_templates_can_be_overridden(
    alice, provider, fake, mailoutbox, tmp_path, django_capture_on_commit_callbacks
):
    folder = tmp_path / "integrations" / "email"
    folder.mkdir(parents=True)
    (folder / "reauth_subject.txt").write_text("[Acme] {{ provider_name }} needs you\n")
    (folder / "reauth_body.txt").write_text("Reconnect at https://acme.test{{ connections_path }}")
    templates = [{**TEMPLATES[0], "DIRS": [tmp_path, *TEMPLATES[0]["DIRS"]]}]
    with override_settings(INTEGRATIONS=NOTIFY, TEMPLATES=templates):
        refused(alice, provider, fake, django_capture_on_commit_callbacks, refresh="rt-0003-abcdef")
    assert mailoutbox[0].subject == "[Acme] Fake needs you"
    assert mailoutbox[0].body == "Reconnect at https://acme.test/integrations/"

import pytest
from django.core import checks
from django.db import models
from django.test.utils import isolate_apps, override_settings

from integrations.checks import (
    check_exception_reporter,
    check_keyring,
    check_plaintext_reads,
    check_unique_purposes,
)
from integrations.crypto import generate_key
from integrations.fields import EncryptedTokenField
from tests.settings import TEST_KEY_V2

CANARY_KEY = "1:" + "Q2FuYXJ5S2V5Q2FuYXJ5S2V5Q2FuYXJ5S2V5Q2Fu"  # 30 bytes: invalid on purpose


def ids(messages):
    return [message.id for message in messages]


def test_valid_configuration_passes():
    assert check_keyring() == []
    assert check_unique_purposes() == []


@pytest.mark.parametrize(
    ("keys", "check_id", "fragment"),
    [
        ([], "integrations.E001", "no encryption keys"),
        ("", "integrations.E001", "no encryption keys"),
        ([CANARY_KEY], "integrations.E002", "key version 1 is 30 bytes"),
        (["not-a-key"], "integrations.E002", "does not start with a version"),
        ([generate_key(3), generate_key(3)], "integrations.E003", "key version 3 is listed twice"),
    ],
)
def test_key_problems_are_errors(keys, check_id, fragment):
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": keys}):
        (error,) = check_keyring()
    assert error.id == check_id
    assert error.level == checks.ERROR
    assert fragment in error.msg
    assert CANARY_KEY[2:] not in error.msg + (error.hint or "")


def test_unknown_setting_is_an_error():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "ENCRYPTON_KEYS": []}):
        (error,) = check_keyring()
    assert error.id == "integrations.E004"
    assert "ENCRYPTON_KEYS" in error.msg


def test_wrong_type_is_an_error():
    with override_settings(
        INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "ALLOW_PLAINTEXT_READS": "yes"}
    ):
        assert ids(check_keyring()) == ["integrations.E004"]


@pytest.mark.parametrize(("debug", "expected"), [(False, ["integrations.W001"]), (True, [])])
def test_plaintext_reads_warn_outside_debug(debug, expected):
    with override_settings(
        DEBUG=debug, INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "ALLOW_PLAINTEXT_READS": True}
    ):
        assert ids(check_plaintext_reads()) == expected


@pytest.mark.django_db
def test_manage_py_check_fails_on_broken_keys():
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": ["1:short"]}):
        with pytest.raises(SystemCheckError, match="integrations.E002"):
            call_command("check", "--deploy")


@isolate_apps("tests.testapp")
def test_field_checks():
    class Broken(models.Model):
        no_purpose = EncryptedTokenField()
        bad_purpose = EncryptedTokenField(purpose="has spaces|and pipes")
        indexed = EncryptedTokenField(purpose="testapp.broken.indexed", db_index=True)
        unique = EncryptedTokenField(purpose="testapp.broken.unique", unique=True)

        class Meta:
            app_label = "testapp"

    found = {f.name: ids(f.check()) for f in Broken._meta.local_fields if f.name != "id"}
    assert found == {
        "no_purpose": ["integrations.E010"],
        "bad_purpose": ["integrations.E012"],
        "indexed": ["integrations.E013"],
        "unique": ["integrations.E013"],
    }
    assert (
        'purpose="testapp.broken.no_purpose"'
        in Broken._meta.get_field("no_purpose").check()[0].hint
    )


@isolate_apps("tests.testapp")
def test_shared_purpose_is_an_error():
    class One(models.Model):
        token = EncryptedTokenField(purpose="shared.purpose")

        class Meta:
            app_label = "testapp"

    class Two(models.Model):
        secret = EncryptedTokenField(purpose="shared.purpose")

        class Meta:
            app_label = "testapp"

    from django.apps import apps

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(apps, "get_models", lambda: [One, Two])
        (error,) = check_unique_purposes()
    assert error.id == "integrations.E011"
    assert "testapp.One.token" in error.msg and "testapp.Two.secret" in error.msg


def _env_var_only_named_as_the_demo_s(text):
    """The setting is what a project sets; the hint speaks to any project, so it
    names neither the demo nor its environment variable."""
    assert "INTEGRATIONS['ENCRYPTION_KEYS']" in text
    assert "INTEGRATIONS_ENCRYPTION_KEYS" not in text, text
    assert "demo" not in text.lower(), text


def test_missing_keys_hint_speaks_of_the_setting_not_the_demo_variable():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": []}):
        (error,) = check_keyring()
    assert error.hint.startswith("Set INTEGRATIONS['ENCRYPTION_KEYS'] in your settings")
    _env_var_only_named_as_the_demo_s(error.hint)


def test_django_default_exception_reporter_is_a_warning(settings):
    assert check_exception_reporter() == []
    settings.DEFAULT_EXCEPTION_REPORTER = "django.views.debug.ExceptionReporter"
    (warning,) = check_exception_reporter()
    assert warning.id == "integrations.W002"
    assert warning.level == checks.WARNING
    settings.DEFAULT_EXCEPTION_REPORTER = "no.such.Reporter"
    assert ids(check_exception_reporter()) == ["integrations.W002"]

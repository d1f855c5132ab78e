import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test.utils import override_settings

from integrations.conf import app_settings
from integrations.crypto import Keyring, RetiredKeyVersionError, generate_key
from tests.settings import TEST_KEY_V2

PROVIDED = Keyring.parse([generate_key(40)])


def provide_keyring():
    return PROVIDED


KEY_41, KEY_40 = generate_key(41), generate_key(40)
PROVIDED_TWO = Keyring.parse([KEY_41, KEY_40])


def provide_two_keys():
    return PROVIDED_TWO


def provide_nonsense():
    return "not a keyring"


def test_defaults():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2]}):
        assert app_settings.ALLOW_PLAINTEXT_READS is False
        assert app_settings.KEY_PROVIDER is None


def test_reloads_when_settings_change():
    before = app_settings.keyring
    assert app_settings.keyring is before  # built once, not per use
    new_key = generate_key(5)
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": new_key}):
        assert app_settings.keyring.primary_version == 5
    assert app_settings.keyring.primary_version == before.primary_version


def test_key_provider_replaces_the_key_list():
    with override_settings(INTEGRATIONS={"KEY_PROVIDER": "tests.test_conf.provide_keyring"}):
        assert app_settings.keyring is PROVIDED


def test_min_decryption_version_applies_to_a_key_provider_s_keyring():
    current = PROVIDED_TWO.encrypt(b"x")
    retired = Keyring.parse([KEY_40]).encrypt(b"y")
    assert PROVIDED_TWO.decrypt(retired) == b"y"
    with override_settings(
        INTEGRATIONS={
            "KEY_PROVIDER": "tests.test_conf.provide_two_keys",
            "MIN_DECRYPTION_VERSION": 41,
        }
    ):
        keyring = app_settings.keyring
        assert keyring.min_decryption_version == 41 and keyring.versions == (41, 40)
        assert keyring.decrypt(current) == b"x"
        with pytest.raises(RetiredKeyVersionError):
            keyring.decrypt(retired)
    assert PROVIDED_TWO.min_decryption_version is None  # the provider's own object is untouched


def test_key_provider_with_a_primary_below_the_minimum_fails_check_e005():
    from integrations.checks import check_keyring

    with override_settings(
        INTEGRATIONS={
            "KEY_PROVIDER": "tests.test_conf.provide_two_keys",
            "MIN_DECRYPTION_VERSION": 42,
        }
    ):
        (error,) = check_keyring()
    assert error.id == "integrations.E005"


def test_key_provider_must_return_a_keyring():
    with override_settings(INTEGRATIONS={"KEY_PROVIDER": "tests.test_conf.provide_nonsense"}):
        with pytest.raises(ImproperlyConfigured, match="must return a Keyring"):
            app_settings.keyring


def test_unknown_names():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], "TYPO": 1}):
        with pytest.raises(ImproperlyConfigured, match="unknown INTEGRATIONS setting"):
            app_settings.ALLOW_PLAINTEXT_READS
    with pytest.raises(AttributeError):
        app_settings.NOT_A_SETTING


def test_settings_must_be_a_dict():
    with override_settings(INTEGRATIONS=["1:abc"]):
        with pytest.raises(ImproperlyConfigured, match="must be a dict"):
            app_settings.ENCRYPTION_KEYS


def test_oauth_settings_defaults():
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2]}):
        assert app_settings.REFRESH_MARGIN_SECONDS == 60
        assert app_settings.STATE_TTL_SECONDS == 600
        assert app_settings.HTTP_TIMEOUT_SECONDS == 10
        assert app_settings.DISCOVERY_CACHE_SECONDS == 3600


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REFRESH_MARGIN_SECONDS", -1),
        ("REFRESH_MARGIN_SECONDS", "60"),
        ("REFRESH_MARGIN_SECONDS", True),
        ("STATE_TTL_SECONDS", 0),
        ("HTTP_TIMEOUT_SECONDS", 0),
        ("HTTP_TIMEOUT_SECONDS", None),
        ("DISCOVERY_CACHE_SECONDS", 1.5),
    ],
)
def test_oauth_settings_are_validated(name, value):
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V2], name: value}):
        with pytest.raises(ImproperlyConfigured, match=name):
            getattr(app_settings, name)


def test_oauth_settings_accept_good_values():
    with override_settings(
        INTEGRATIONS={
            "ENCRYPTION_KEYS": [TEST_KEY_V2],
            "REFRESH_MARGIN_SECONDS": 0,
            "HTTP_TIMEOUT_SECONDS": 2.5,
        }
    ):
        assert app_settings.REFRESH_MARGIN_SECONDS == 0
        assert app_settings.HTTP_TIMEOUT_SECONDS == 2.5


def test_the_hosting_project_keeps_database_connections():
    import config.settings as project

    assert project.DATABASES["default"]["CONN_MAX_AGE"] >= 60
    assert project.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True

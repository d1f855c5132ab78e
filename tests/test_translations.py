"""Translations: the shipped French catalogs are complete, compiled and used.

The demo project picks the language from the browser's ``Accept-Language``
(LocaleMiddleware); without that header everything stays English, which the rest
of the suite relies on. API error ``code`` values never change with the language:
programs read them; only ``message`` is for people.
"""

import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.core import checks
from django.test import Client
from django.test.utils import override_settings
from django.utils import translation

import integrations
from integrations.checks import check_required_apps
from integrations.forms import CredentialForm
from integrations.models import Credential
from integrations.sealed import checks as sealed_checks
from tests.conftest import API_INSTALLED
from tests.oauth_helpers import alice, connected, fake, make_provider  # noqa: F401

PACKAGE = Path(integrations.__file__).resolve().parent
ROOT = PACKAGE.parent
# The package's catalogs, then the demo site's own (config/locale: home, login, layout).
PACKAGE_CATALOGS = sorted(PACKAGE.rglob("locale/*/LC_MESSAGES/django.po"))
CATALOGS = PACKAGE_CATALOGS + sorted((ROOT / "config").glob("locale/*/LC_MESSAGES/django.po"))
FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}


@pytest.fixture(autouse=True)
def _back_to_the_default_language():
    """LocaleMiddleware activates the request's language for the thread and
    leaves it active: later tests (which expect English) must not inherit it."""
    yield
    translation.deactivate()


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


def _html(response):
    return response.content.decode()


def test_both_apps_ship_a_french_catalog():
    assert {
        path.relative_to(PACKAGE).parts[:-4] for path in PACKAGE_CATALOGS if path.parts[-3] == "fr"
    } == {(), ("sealed",)}
    assert (ROOT / "config/locale/fr/LC_MESSAGES/django.po").is_file()


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_message_is_translated(path):
    catalog = polib.pofile(str(path))
    assert len(catalog) > 0
    assert not catalog.fuzzy_entries(), [e.msgid for e in catalog.fuzzy_entries()]
    assert not catalog.untranslated_entries(), [e.msgid for e in catalog.untranslated_entries()]
    assert not catalog.obsolete_entries(), [e.msgid for e in catalog.obsolete_entries()]
    assert not catalog.metadata_is_fuzzy
    for entry in catalog:
        # The same placeholders on both sides, or a page would crash or lose a value.
        for translated in entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]:
            assert _placeholders(translated) == _placeholders(entry.msgid), entry.msgid


def _placeholders(text):
    return sorted(re.findall(r"%\(\w+\)[a-z]", text))


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_compiled_catalog_is_up_to_date(path):
    """The committed .mo holds exactly what the .po says (run compilemessages)."""
    source = polib.pofile(str(path))
    compiled = polib.mofile(str(path.with_suffix(".mo")))

    def pairs(catalog):
        return {
            (entry.msgctxt, entry.msgid, entry.msgid_plural): tuple(
                sorted(entry.msgstr_plural.items())
            )
            if entry.msgid_plural
            else entry.msgstr
            for entry in catalog
            if entry.msgid and not entry.obsolete
        }

    assert pairs(compiled) == pairs(source)


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs GNU gettext's msgfmt")
@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_catalog_passes_msgfmt_check(path, tmp_path):
    """Format strings and plural forms as gettext itself checks them."""
    msgfmt = shutil.which("msgfmt")
    result = subprocess.run(
        [msgfmt, "--check", "-o", str(tmp_path / "django.mo"), str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


# -- pages ------------------------------------------------------------------------


@pytest.mark.django_db
def test_my_connections_in_french_from_accept_language(alice, alice_client, fake):
    provider = make_provider(fake, name="Fake Cloud", category="storage")
    make_provider(fake, name="Fake Mail", slug="fake-mail", category="email")
    connected(alice, provider, external_account_id="acct-1")

    html = _html(alice_client.get("/integrations/", **FRENCH))
    assert '<html lang="fr">' in html
    assert "<h1>Mes connexions</h1>" in html
    assert "Comptes connectés" in html and "Connecter Fake Mail" in html
    assert "Connecter un autre compte" in html  # Fake Cloud, already connected
    assert "Pas encore" in html  # never refreshed
    assert "Stockage" in html  # a choice label
    assert "Actif" in html  # the integration's status
    assert "My connections" not in html and "Connected accounts" not in html


@pytest.mark.django_db
def test_the_demo_home_and_login_pages_in_french(alice_client):
    html = _html(Client().get("/", **FRENCH))
    assert "<h1>Démo de Sealed Integrations</h1>" in html
    assert "Se connecter pour commencer" in html and "Log in" not in html
    html = _html(Client().get("/accounts/login/", **FRENCH))
    assert "<h1>Se connecter</h1>" in html and "No login yet" not in html
    html = _html(alice_client.get("/", **FRENCH))
    assert "Ouvrir mes connexions" in html
    if API_INSTALLED:  # the API docs card exists only with the api extra
        assert "Documentation de l’API" in html


@pytest.mark.django_db
def test_model_names_in_french(admin_client):
    html = _html(admin_client.get("/admin/", **FRENCH))
    for name in ("Fournisseurs", "Intégrations", "Identifiants", "Événements d’audit"):
        assert name in html
    assert "Audit events" not in html and "Credentials" not in html


@pytest.mark.django_db
def test_without_accept_language_the_pages_stay_english(alice_client):
    html = _html(alice_client.get("/integrations/credentials/"))
    assert '<html lang="en' in html and "<h1>My credentials</h1>" in html


@pytest.mark.django_db
def test_my_credentials_and_its_messages_in_french(alice_client, canary):
    response = alice_client.post(
        "/integrations/credentials/add/?type=api_key",
        {"name": "Clé <b>“prod”</b>", "api_key": canary},
        **FRENCH,
    )
    assert response.status_code == 302
    html = _html(alice_client.get(response["Location"], **FRENCH))
    assert "<h1>Mes identifiants</h1>" in html
    # The message is translated and the user's name is still escaped in it.
    assert "Identifiant « Clé &lt;b&gt;“prod”&lt;/b&gt; » enregistré." in html
    assert "Clé d’API" in html and "Défini" in html
    assert canary not in html


@pytest.mark.django_db
def test_a_form_validation_error_in_french(alice_client, canary):
    credential_url = "/integrations/credentials/add/?type=custom"
    html = _html(
        alice_client.post(credential_url, {"name": "x", "custom_data": f'["{canary}"'}, **FRENCH)
    )
    assert "Saisissez un objet JSON valide." in html
    assert "Données secrètes (JSON)" in html  # the field's label
    assert canary not in html


@pytest.mark.django_db
def test_form_errors_follow_the_active_language(alice):
    """Lazy messages are translated when shown, not when the module was imported."""
    Credential.objects.create(
        owner=alice, name="taken", credential_type="api_key", data={"api_key": "k"}
    )
    form_data = {"name": "taken", "api_key": "k"}
    with translation.override("fr"):
        french = CredentialForm(form_data, user=alice, credential_type="api_key")
        assert french.errors["name"] == ["Vous avez déjà un identifiant portant ce nom."]
    with translation.override("en"):
        english = CredentialForm(form_data, user=alice, credential_type="api_key")
        assert english.errors["name"] == ["You already have a credential with this name."]


# -- the API --------------------------------------------------------------------


@pytest.mark.api
@pytest.mark.django_db
def test_api_error_messages_in_french_with_the_codes_unchanged(alice, canary):
    from rest_framework.test import APIClient

    from integrations.api.api_tokens import create_api_token

    api = APIClient()
    token, _expires_at = create_api_token(alice)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    missing = api.get("/api/credentials/00000000-0000-4000-8000-000000000000/", **FRENCH)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert missing.json()["error"]["message"] == "Non trouvé."

    invalid = api.post(
        "/api/credentials/",
        {"name": "n", "type": "basic", "data": {"username": canary}},
        format="json",
        **FRENCH,
    )
    assert invalid.status_code == 400
    error = invalid.json()["error"]
    assert error["code"] == "invalid" and error["message"] == "Saisie invalide."
    assert error["fields"]["data"] == [
        "password: cette clé est obligatoire et doit être une chaîne non vide"
    ]
    assert canary not in invalid.content.decode()

    english = api.get("/api/credentials/00000000-0000-4000-8000-000000000000/")
    assert english.json()["error"] == {"code": "not_found", "message": "Not found.", "fields": {}}


# -- system checks --------------------------------------------------------------


@override_settings(DEFAULT_EXCEPTION_REPORTER="django.views.debug.ExceptionReporter")
def test_check_messages_are_translatable():
    with translation.override("fr"):
        [warning] = sealed_checks.check_exception_reporter()
    assert warning.id == "integrations.W002"
    assert warning.msg.startswith("DEFAULT_EXCEPTION_REPORTER n’est pas")
    assert warning.hint.startswith("Définissez DEFAULT_EXCEPTION_REPORTER")


def test_required_apps_check_in_french(monkeypatch):
    monkeypatch.setattr(
        "integrations.checks.apps.is_installed", lambda name: name != "django.contrib.messages"
    )
    with translation.override("fr"):
        errors = check_required_apps()
    assert [error.id for error in errors] == ["integrations.E020"]
    assert errors[0].msg == (
        "« integrations » a besoin de 'django.contrib.messages' dans "
        "INSTALLED_APPS (les messages de résultat des pages utilisateur)."
    )
    assert isinstance(errors[0], checks.Error)


@pytest.mark.django_db
def test_connect_session_pages_in_french():
    response = Client().get("/integrations/connect-session/not-a-token/", follow=True, **FRENCH)
    assert response.status_code == 404
    assert "Ce lien de connexion n’est pas valide" in _html(response)


def test_webhook_and_connect_session_names_in_french():
    from integrations.models import AuditEvent, ConnectSession, WebhookDelivery, WebhookEndpoint

    with translation.override("fr"):
        assert str(WebhookEndpoint._meta.verbose_name) == "point de terminaison de webhook"
        assert str(WebhookDelivery.Status.ABANDONED.label) == "Abandonnée"
        assert str(ConnectSession._meta.verbose_name_plural) == "sessions de connexion"
        assert str(AuditEvent.Action.CONNECT_REFUSED.label) == "Session de connexion refusée"


def test_host_metadata_errors_in_french():
    from django.core.exceptions import ValidationError

    from integrations.host_metadata import validate_host_metadata

    with translation.override("fr"), pytest.raises(ValidationError) as raised:
        validate_host_metadata(tags=["Not A Tag"])
    assert "Une étiquette fait de 1 à 64 caractères" in str(raised.value)


@pytest.mark.api  # the page is on only with the API (it creates connect sessions)
def test_the_demo_spa_page_in_french(alice_client):
    response = alice_client.get("/demo/spa/", **FRENCH)
    assert response.status_code == 200
    page = _html(response)
    assert "Se connecter depuis une application monopage" in page
    assert "Essayer l’application monopage" in _html(alice_client.get("/", **FRENCH))

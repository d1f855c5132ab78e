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
from importlib.util import find_spec

import django
import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError
from django.db.models.signals import pre_save
from django.test import Client, override_settings

from integrations import credentials, tokens
from integrations.crypto import generate_key
from integrations.models import AuditEvent, Credential, Integration, Provider
from integrations.reporting import RedactingExceptionReporter, SecretSafeExceptionReporterFilter
from tests.dbutil import write_raw
from tests.oauth_helpers import alice, fake, make_provider, provider  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def debug_page(settings):
    """The developer's setup: DEBUG on, the project's reporter and filter."""
    settings.DEBUG = True
    assert (
        settings.DEFAULT_EXCEPTION_REPORTER == "integrations.reporting.RedactingExceptionReporter"
    )
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


def test_a_failed_callback_does_not_show_the_token_response(
    debug_page, alice, provider, fake, canary
):
    from tests.test_oauth_views import pending, start

    fake.script(
        "/token",
        200,
        {
            "access_token": f"{canary}-access",
            "token_type": "Bearer",
            "refresh_token": f"{canary}-refresh",
            "expires_in": 3600,
        },
    )
    browser = browser_for(alice)
    _, query = start(browser)
    assert pending(browser)
    with failing_save(Integration):
        page = error_page(
            browser,
            "get",
            "/integrations/callback/fake/",
            {"code": "the-code-0123456789", "state": query["state"]},
        )
    assert "DatabaseError" in page and "database went away" in page
    assert "integrations/views.py" in page  # the frames are still shown
    assert_hidden(page, canary, query["state"], "the-code-0123456789")


def test_a_credential_posted_during_a_race_is_not_shown(debug_page, alice, canary):
    """Another request creates the same name between the form's check and the insert."""

    def race(instance, **kwargs):
        if instance.pk is None or not Credential.objects.filter(pk=instance.pk).exists():
            pre_save.disconnect(race, sender=Credential)
            credentials.create_credential(
                alice,
                name=instance.name,
                credential_type="api_key",
                data={"api_key": "the-other-request-key"},
            )

    pre_save.connect(race, sender=Credential)
    try:
        page = error_page(
            browser_for(alice),
            "post",
            "/integrations/credentials/add/?type=api_key",
            {"name": "stripe", "api_key": canary, "plugin": "stripe"},
        )
    finally:
        pre_save.disconnect(race, sender=Credential)
    assert "IntegrityError" in page
    assert "api_key" in page  # the parameter is listed, its value is not
    assert_hidden(page, canary, "the-other-request-key")


def test_a_client_secret_typed_in_the_admin_is_not_shown(debug_page, admin_user, canary):
    from tests.test_admin import admin_url, provider_post

    with failing_save(Provider):
        page = error_page(
            browser_for(admin_user),
            "post",
            admin_url(Provider, "add"),
            provider_post(new_client_secret=canary),
        )
    assert "DatabaseError" in page
    assert "new_client_secret" in page
    assert_hidden(page, canary)


def test_a_legacy_plaintext_token_is_not_shown(debug_page, alice, provider, canary):
    """A legacy plaintext token read while migrating (ALLOW_PLAINTEXT_READS) sits in
    the locals of the disconnect when the database fails under it."""
    integration, _ = tokens.connect(
        alice,
        provider,
        {"access_token": "sealed-access-0123456789", "token_type": "Bearer"},
        external_account_id="acct-legacy",
    )
    write_raw(Integration, "access_token", integration.pk, f"{canary}-legacy-plaintext")
    debug_page.INTEGRATIONS = {**debug_page.INTEGRATIONS, "ALLOW_PLAINTEXT_READS": True}
    with failing_save(AuditEvent):
        page = error_page(browser_for(alice), "post", f"/integrations/{integration.pk}/disconnect/")
    assert "DatabaseError" in page
    assert_hidden(page, canary)


def test_a_valid_key_next_to_a_bad_entry_is_not_shown(debug_page, alice):
    valid = generate_key(2)
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [valid, "1:not-a-key!"]}):
        page = error_page(
            browser_for(alice),
            "post",
            "/integrations/credentials/add/?type=api_key",
            {"name": "stripe", "api_key": "sk-0123456789abcdef", "plugin": "x"},
        )
    assert "KeyringError" in page
    assert_hidden(page, valid, valid.partition(":")[2], "sk-0123456789abcdef")


# -- DEBUG off: the error e-mail to ADMINS -------------------------------------------


@pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer")
def test_the_error_email_hides_the_same_secrets_with_debug_off(settings, alice, mailoutbox, canary):
    settings.DEBUG = False
    # Django 6 takes addresses; 5.2 takes (name, address) pairs.
    settings.ADMINS = (
        ["ops@example.test"] if django.VERSION >= (6,) else [("Ops", "ops@example.test")]
    )
    with failing_save(Credential):
        response = browser_for(alice).post(
            "/integrations/credentials/add/?type=basic",
            {"name": "db", "username": f"{canary}-user", "password": f"{canary}-password"},
        )
    assert response.status_code == 500
    assert canary.encode() not in response.content
    (email,) = mailoutbox
    assert "DatabaseError" in email.body
    bodies = [email.body] + [content for content, _ in getattr(email, "alternatives", [])]
    for body in bodies:
        assert_hidden(body, canary)


# -- outside a request, and frames that are not ours --------------------------------


def _keyring_failure_reports():
    """Reports of building the keyring from settings (no key in this frame's locals)."""
    from integrations.conf import app_settings
    from integrations.crypto import KeyringError

    try:
        app_settings.keyring
    except KeyringError:
        return [
            reporter.get_traceback_html()
            for reporter in (
                RedactingExceptionReporter(None, *sys.exc_info()),
                RedactingExceptionReporter(None, *sys.exc_info(), is_email=True),
            )
        ] + [RedactingExceptionReporter(None, *sys.exc_info()).get_traceback_text()]
    raise AssertionError("the keyring was built")


def test_the_keyring_parser_frames_never_show_a_key():
    valid = generate_key(3)
    with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": f"{valid},2:short"}):
        reports = _keyring_failure_reports()
    html_page, html_email, text = reports
    for report in (html_page, html_email):  # the text rendering lists no locals at all
        assert "spec" in report  # the local's name, not its value
    for report in reports:
        assert "KeyringError" in report and "keyring.py" in report
        assert_hidden(report, valid.partition(":")[2])


def project_view(request):
    """A hosting project's view that uses a revealed secret and then fails."""
    owner = get_user_model().objects.get(username="alice")
    secret = credentials.read_secret(owner, Credential.objects.get(owner=owner), purpose="call")
    api_key = secret.reveal()["api_key"]
    note = "visible-note-of-the-project"
    raise RuntimeError(f"the vendor refused {api_key[:3]}... ({note})")


urlpatterns = [
    __import__("django.urls", fromlist=["path"]).path("project/", project_view),
]


@pytest.mark.urls("tests.test_reporting")
def test_frames_of_other_code_keep_their_locals_redacted(debug_page, alice, canary):
    credentials.create_credential(
        alice, name="vendor", credential_type="api_key", data={"api_key": f"{canary}-vendor-key"}
    )
    page = error_page(browser_for(alice), "get", "/project/", {"page": "2"})
    assert "visible-note-of-the-project" in page  # other code's locals are still shown
    assert "project_view" in page and "RuntimeError" in page
    assert "read_secret" not in page or "credentials.py" in page
    assert_hidden(page, canary)


def test_the_filter_is_active_with_debug_on(settings, rf):
    settings.DEBUG = True
    request = rf.post("/elsewhere/", {"password": "hunter2-hunter2", "q": "fine"})
    request.COOKIES["remember_me"] = "cookie-secret-0123"
    safe = SecretSafeExceptionReporterFilter()
    assert safe.is_active(request)
    assert "cookie-secret-0123" not in str(safe.get_safe_cookies(request))
    posted = safe.get_post_parameters(request)
    assert posted["q"] == "fine" and "hunter2" not in str(posted)


def test_every_view_of_the_app_hides_its_request_data(rf):
    safe = SecretSafeExceptionReporterFilter()
    paths = [
        "/integrations/credentials/add/",
        "/admin/integrations/provider/add/",
        "/admin/integrations/provider/from-preset/",
    ]
    if find_spec("rest_framework"):  # the API is there with the api extra
        paths.append("/api/credentials/")
    for path in paths:
        request = rf.post(path, {"name": "n", "anything": "typed-0123456789"})
        assert safe.handled_by_our_view(request), path
        assert "typed-0123456789" not in str(safe.get_post_parameters(request))
    for path in ("/admin/auth/user/add/", "/accounts/login/", "/no/such/page/"):
        assert not safe.handled_by_our_view(rf.post(path)), path


def test_the_project_filter_also_covers_the_demo_provider(rf, settings):
    from django.utils.module_loading import import_string

    project_filter = import_string(settings.DEFAULT_EXCEPTION_REPORTER_FILTER)()
    assert isinstance(project_filter, SecretSafeExceptionReporterFilter)
    assert project_filter.handled_by_our_view(rf.post("/o/token/"))
    assert project_filter.handled_by_our_view(rf.post("/integrations/credentials/add/"))
    assert not SecretSafeExceptionReporterFilter().handled_by_our_view(rf.post("/o/token/"))


# -- key wrapper options and the environment they come from (issue 23, item 6) --------

# Computed, so that the page's source-code context (this file) cannot show them.
WRAPPER_PIN = "pin-6-canary-" + str(4700 + 11)
SHORT_PIN = "7q" + "3z9"  # short: hidden where it is a whole value, whatever its name


def failing_view(request):
    """A project's view that fails outside our code: its request's META is shown."""
    raise RuntimeError("the project's view failed")


urlpatterns.append(__import__("django.urls", fromlist=["path"]).path("fails/", failing_view))


@pytest.fixture
def wrapper_in_the_environment(settings, monkeypatch):
    """The HSM how-to's configuration: the PIN from an environment variable, which
    runserver copies into every request's META; a second token's PIN under a name
    that suggests nothing."""
    monkeypatch.setenv("HSM_PIN", WRAPPER_PIN)
    monkeypatch.setenv("HSM2_UNLOCK", SHORT_PIN)
    settings.INTEGRATIONS = {
        **settings.INTEGRATIONS,
        "KEY_WRAPPER": {
            "BACKEND": "tests.keywrappers.LocalAesWrapper",
            "OPTIONS": {"PIN": WRAPPER_PIN, "SO_PIN": SHORT_PIN},
        },
    }
    settings.HSM_PIN = WRAPPER_PIN  # a project setting of its own, named like the variable
    settings.HSM_USER_PASSPHRASE = SHORT_PIN
    return {"HSM_PIN": WRAPPER_PIN, "HSM2_UNLOCK": SHORT_PIN, "AWS_SECRET_ACCESS_KEY": "aws-x"}


@pytest.mark.urls("tests.test_reporting")
def test_the_wrapper_pin_is_hidden_on_the_debug_page(debug_page, wrapper_in_the_environment):
    browser = Client(raise_request_exception=False)
    page = error_page(browser, "get", "/fails/", **wrapper_in_the_environment)
    assert "the project&#x27;s view failed" in page
    assert "HSM_PIN" in page and "HSM2_UNLOCK" in page  # the names are listed
    assert_hidden(page, WRAPPER_PIN, SHORT_PIN, "aws-x")


@pytest.mark.urls("tests.test_reporting")
@pytest.mark.filterwarnings("ignore:Django 2028 will not have a default mailer")
def test_the_wrapper_pin_is_hidden_in_the_error_email(
    settings, wrapper_in_the_environment, mailoutbox
):
    settings.DEBUG = False
    settings.ADMINS = (
        ["ops@example.test"] if django.VERSION >= (6,) else [("Ops", "ops@example.test")]
    )
    response = Client(raise_request_exception=False).get("/fails/", **wrapper_in_the_environment)
    assert response.status_code == 500
    (email,) = mailoutbox
    assert "RuntimeError" in email.body and "HSM_PIN" in email.body
    for body in [email.body] + [content for content, _ in getattr(email, "alternatives", [])]:
        assert_hidden(body, WRAPPER_PIN, SHORT_PIN, "aws-x")


@pytest.mark.parametrize(
    ("name", "hidden"),
    [
        ("HSM_PIN", True),
        ("SOFTHSM2_USER_PIN", True),
        ("PIN", True),
        ("SO_PIN", True),
        ("KEY_PASSPHRASE", True),
        ("KEY_WRAPPER", True),
        ("AWS_SESSION_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("SHIPPING_COUNTRY", False),
        ("PINGDOM_URL", False),
        ("MAPPING", False),
    ],
)
def test_settings_named_like_wrapper_secrets_are_hidden(name, hidden):
    safe = SecretSafeExceptionReporterFilter()
    cleansed = safe.cleanse_setting(name, "some-value-0123")
    assert (cleansed == safe.cleansed_substitute) is hidden

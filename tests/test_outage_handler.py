"""integrations.unavailable.server_error, the project's ``handler500``: an
outage met OUTSIDE the app's views — Django's admin, the session middleware
saving a session, AuthenticationMiddleware's lazy user — is a 503 +
Retry-After with nothing logged per request; every other error stays
Django's own 500. And the refusals PostgreSQL answers when it is full ("too
many clients") count as outages, in the pages and the API alike."""

import logging

import pytest
from django.test import Client

from tests.faults.outage_helpers import (
    assert_refused_cleanly,
    database_refusing_connections,
    no_outage_left,  # noqa: F401 (fixture)
    outage_records,
)

pytestmark = [
    pytest.mark.usefixtures("no_outage_left"),
    pytest.mark.urls("tests.outage_urls"),
]
TOO_MANY = "connection failed: FATAL:  sorry, too many clients already"


def client(user=None):
    """A client that gets the response Django sends, not the exception."""
    browser = Client(raise_request_exception=False)
    if user is not None:
        browser.force_login(user)
    return browser


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("root", password="pw-root-123")


def request_errors(all_logs):
    return [r for r in all_logs.records if r.name == "django.request" and r.levelno >= 40]


@pytest.mark.django_db
@pytest.mark.parametrize("refusal", [None, TOO_MANY], ids=["down", "too-many-clients"])
def test_the_admin_answers_503_while_the_database_refuses(staff, all_logs, refusal):
    browser = client(staff)
    with database_refusing_connections(refusal):
        for _ in range(3):
            assert_refused_cleanly(browser.get("/admin/"))
            assert_refused_cleanly(browser.get("/admin/integrations/integration/"))
    assert not request_errors(all_logs)
    [warning] = outage_records(all_logs, logging.WARNING)
    assert "database 'default'" in warning.getMessage()
    assert client(staff).get("/admin/").status_code == 200  # back


@pytest.mark.django_db
def test_a_session_saved_after_the_view_answers_503(all_logs):
    with database_refusing_connections():
        response = client().get("/outage-test/touch-session/")
    assert_refused_cleanly(response)
    assert not request_errors(all_logs)
    assert client().get("/outage-test/touch-session/").status_code == 200


@pytest.mark.django_db
def test_the_lazy_user_of_the_authentication_middleware_answers_503(staff, all_logs):
    browser = client(staff)
    with database_refusing_connections(TOO_MANY):
        assert_refused_cleanly(browser.get("/outage-test/who/"))
    assert not request_errors(all_logs)
    assert browser.get("/outage-test/who/").content == b"signed in"


@pytest.mark.django_db
def test_an_api_client_gets_the_503_in_the_apis_error_shape(staff):
    browser = client(staff)
    with database_refusing_connections():
        response = browser.get("/outage-test/who/", HTTP_ACCEPT="application/json")
    assert_refused_cleanly(response, json=True)


@pytest.mark.django_db
@pytest.mark.parametrize("refusal", [None, TOO_MANY], ids=["down", "too-many-clients"])
def test_the_app_pages_and_api_answer_503_when_postgresql_is_full(staff, all_logs, refusal):
    pytest.importorskip("rest_framework")
    from tests.faults.outage_helpers import api_client

    api = api_client(staff)
    browser = client(staff)
    with database_refusing_connections(refusal):
        assert_refused_cleanly(browser.get("/integrations/"))
        assert_refused_cleanly(api.get("/api/integrations/"), json=True)
    assert not request_errors(all_logs)


def test_a_bug_is_still_djangos_500_and_logged(all_logs):
    response = client().get("/outage-test/bug/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert b"Server Error (500)" in response.content
    assert request_errors(all_logs)  # logged (and mailed to the admins) as before


@pytest.mark.django_db
def test_an_error_on_a_working_connection_is_not_an_outage(all_logs):
    response = client().get("/outage-test/query-error/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert not outage_records(all_logs, logging.WARNING)

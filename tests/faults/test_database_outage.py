"""The database refuses connections: the app's pages and its API answer 503 +
Retry-After (no trace, one warning per outage), and work again when it is back.

Two ways to break it: in every suite, the connection is pointed where no
database is (a closed port on PostgreSQL, a folder that does not exist on
SQLite), so connecting fails as with a server that is down; under ``make
faults``, the private cluster the test database lives in is stopped and
started again (``pg_cluster``).
"""

import logging

import pytest
from django.db import close_old_connections

from tests.faults.outage_helpers import (
    api_client,
    assert_refused_cleanly,
    database_refusing_connections,
    no_outage_left,  # noqa: F401 (fixture)
    outage_records,
)
from tests.oauth_helpers import alice, browser  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("no_outage_left")]


@pytest.fixture
def api(alice):  # noqa: F811
    pytest.importorskip("rest_framework")
    return api_client(alice)


@pytest.mark.django_db
def test_pages_and_api_answer_503_while_the_database_refuses_connections(
    browser,  # noqa: F811
    api,
    all_logs,
):
    with database_refusing_connections():
        for _ in range(3):
            assert_refused_cleanly(browser.get("/integrations/"))
            assert_refused_cleanly(browser.get("/integrations/credentials/"))
            assert_refused_cleanly(api.get("/api/credentials/"), json=True)
            assert_refused_cleanly(api.get("/api/integrations/"), json=True)
        french = browser.get("/integrations/", HTTP_ACCEPT_LANGUAGE="fr")
        assert_refused_cleanly(french)
        assert "momentanément indisponible" in french.content.decode()
    [warning] = outage_records(all_logs, logging.WARNING)
    message = warning.getMessage()
    assert "database 'default'" in message and "OperationalError" in message
    assert not [r for r in all_logs.records if r.name == "django.request"]

    # Back (the real connection again): the same requests work.
    assert browser.get("/integrations/").status_code == 200
    assert api.get("/api/credentials/").status_code == 200


@pytest.mark.django_db
def test_a_site_template_that_needs_the_database_falls_back_to_the_standalone_page(
    browser,  # noqa: F811
    settings,
):
    engine = dict(settings.TEMPLATES[0], APP_DIRS=False)
    engine["OPTIONS"] = dict(
        engine["OPTIONS"],
        loaders=[
            (
                "django.template.loaders.locmem.Loader",
                {
                    "integrations/base.html": (
                        "{{ request.session.items }}{% block content %}{% endblock %}"
                    )
                },
            ),
            "django.template.loaders.app_directories.Loader",
        ],
    )
    settings.TEMPLATES = [engine]
    with database_refusing_connections():
        response = browser.get("/integrations/credentials/")
    assert_refused_cleanly(response)
    assert response.content.decode().startswith("<!doctype html>")


def serve(method, path, **kwargs):
    """One request as a WSGI server makes it: Django's test client skips the
    ``close_old_connections`` of ``request_started``, which is what drops a
    connection the server broke."""
    close_old_connections()
    try:
        return method(path, **kwargs)
    finally:
        close_old_connections()


@pytest.mark.django_db(transaction=True)
def test_pages_and_api_answer_503_while_postgresql_is_down_then_work(
    pg_cluster,
    browser,  # noqa: F811
    api,
    all_logs,
):
    assert serve(browser.get, "/integrations/").status_code == 200
    pg_cluster.stop()
    try:
        for _ in range(3):
            assert_refused_cleanly(serve(browser.get, "/integrations/"))
            assert_refused_cleanly(serve(api.get, "/api/credentials/"), json=True)
    finally:
        pg_cluster.start()
    assert len(outage_records(all_logs, logging.WARNING)) == 1
    assert not [r for r in all_logs.records if r.name == "django.request"]

    assert serve(browser.get, "/integrations/").status_code == 200
    assert serve(api.get, "/api/credentials/").status_code == 200
    [back] = outage_records(all_logs, logging.INFO)
    assert "database 'default' (postgresql) is available again" in back.getMessage()


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_drops_mid_session_is_an_outage_too(
    pg_cluster,
    browser,  # noqa: F811
    api,
):
    """A restart under open connections (the test client keeps its connection
    between requests): the first request after it meets a dropped connection."""
    assert browser.get("/integrations/").status_code == 200
    pg_cluster.restart()
    assert_refused_cleanly(browser.get("/integrations/"))
    assert serve(browser.get, "/integrations/").status_code == 200

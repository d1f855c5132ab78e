"""The pages' layout: ``integrations/base.html``, a complete default page that a
project overrides to show them inside its own layout.

A fresh ``startproject`` has no ``base.html``: the pages must render there all
the same (they answered 500 ``TemplateDoesNotExist`` when they extended it).
"""

import pytest
from django.test import Client
from django.urls import reverse

from tests.oauth_helpers import alice, connected, fake, make_provider, provider  # noqa: F401

pytestmark = pytest.mark.django_db

PAGES = ("integrations:connections", "integrations:credentials", "integrations:credential-add")


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def project_without_templates(settings):
    """Like ``startproject``: no template directory of the project's own."""
    settings.TEMPLATES = [dict(settings.TEMPLATES[0], DIRS=[])]


@pytest.mark.usefixtures("project_without_templates")
@pytest.mark.parametrize("name", PAGES)
def test_the_pages_render_in_a_project_without_a_base_template(alice_client, name):
    response = alice_client.get(reverse(name))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.startswith("<!doctype html>")
    assert "integrations/integrations.css" in html  # the stylesheet comes with the layout
    assert 'href="/integrations/credentials/"' in html  # its own navigation
    assert "Sealed Integrations</a>" not in html  # not the demo's header


@pytest.mark.usefixtures("project_without_templates")
def test_the_default_layout_shows_the_flash_messages(alice_client, alice, provider):  # noqa: F811
    integration = connected(alice, provider)
    response = alice_client.post(
        reverse("integrations:disconnect", args=[integration.pk]), follow=True
    )
    assert response.status_code == 200
    assert 'class="messages"' in response.content.decode()


@pytest.mark.parametrize("name", PAGES)
def test_a_project_overrides_the_layout_to_use_its_own(alice_client, name):
    # The demo project's templates/integrations/base.html extends its base.html.
    html = alice_client.get(reverse(name)).content.decode()
    assert 'class="brand" href="/">' in html and "Sealed Integrations</a>" in html
    assert html.count("<html") == 1

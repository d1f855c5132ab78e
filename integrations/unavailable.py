"""The pages' answer when the cache or the database is down: 503 + ``Retry-After``.

Every view of :mod:`integrations.views` is wrapped in
:func:`refuse_when_unavailable`, so the app's pages refuse cleanly inside any
project, with nothing to add to ``MIDDLEWARE`` and without changing how the
project's own pages fail. (The API does the same in its exception handler,
:mod:`integrations.api.errors`.) What counts as an outage, and its one log
line, is :mod:`integrations.outages`.

The page is the site's (``integrations/unavailable.html`` extends
``integrations/base.html``, which the project may override with its
layout), rendered without touching the database when that is what is
down: no user (shown as signed out) and no flash messages, which both need it.
If the site's template still cannot be rendered, a standalone page with the
same text is served.

Outside the app's views — Django's admin, ``SessionMiddleware`` saving a
session, ``AuthenticationMiddleware``'s lazy user, the project's own pages —
an outage reaches Django's ``handler500``. :func:`server_error` is a
``handler500`` for the hosting project's root URLconf that answers those with
the same 503 (JSON in the API's error shape for API requests) and leaves every
other exception to Django's own 500 page.
"""

import sys
from functools import wraps

from django.contrib.auth.models import AnonymousUser
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext
from django.views import defaults

from .outages import ServiceUnavailable, retry_after, unavailable_database


def unavailable_response(request, *, database):
    """The 503 page, with ``Retry-After``. ``database``: it is down, so the
    page must not look up the user or the session's messages."""
    seconds = retry_after()
    context = {"retry_after": seconds}
    if database:
        context.update(user=AnonymousUser(), messages=())
    try:
        html = render_to_string("integrations/unavailable.html", context, request=request)
    except Exception:  # noqa: BLE001 - the site's template needs what is down
        html = render_to_string(
            "integrations/unavailable_standalone.html", {"retry_after": seconds}
        )
    response = HttpResponse(html, status=503)
    response["Retry-After"] = str(seconds)
    mark_logged(response)
    return response


def mark_logged(response):
    """Keep Django from logging this 503 as an error (and mailing the admins)
    on every request: :mod:`integrations.outages` logged the outage once."""
    response._has_been_logged = True  # django.utils.log.log_response's own flag


def refuse_when_unavailable(view):
    """Decorate a page view: a cache or database outage met while it runs is a
    503 page with ``Retry-After`` instead of a 500."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ServiceUnavailable:
            return unavailable_response(request, database=False)
        except (OperationalError, InterfaceError) as exc:
            if unavailable_database(exc) is None:
                raise
            return unavailable_response(request, database=True)

    return wrapper


def outage_of(exc):
    """``"database"`` or ``"cache"`` when ``exc`` is an outage of that backend
    (:mod:`integrations.outages` counts it), else ``None``."""
    if isinstance(exc, ServiceUnavailable):
        return "cache"
    if isinstance(exc, (OperationalError, InterfaceError)) and unavailable_database(exc):
        return "database"
    return None


# The API's URL namespace (integrations.api.urls), whose 503 is JSON.
_API_NAMESPACE = "integrations_api"


def _wants_json(request):
    match = getattr(request, "resolver_match", None)
    if match is not None and _API_NAMESPACE in match.app_names:
        return True
    return request.get_preferred_type(["text/html", "application/json"]) == "application/json"


def server_error(request, template_name=defaults.ERROR_500_TEMPLATE_NAME):
    """A ``handler500`` (``handler500 = "integrations.unavailable.server_error"``
    in the root URLconf): the exception being handled, when it is a cache or
    database outage, is answered 503 + ``Retry-After`` and not logged again;
    anything else gets Django's own 500 (``django.views.defaults.server_error``).

    Django calls the handler inside its ``except`` block, so
    :func:`sys.exc_info` is the exception. Not called with ``DEBUG`` on (the
    debug page is shown instead)."""
    backend = outage_of(sys.exc_info()[1])
    if backend is None:
        return defaults.server_error(request, template_name)
    if not _wants_json(request):
        return unavailable_response(request, database=backend == "database")
    seconds = retry_after()
    message = gettext("The service is temporarily unavailable. Try again later.")
    response = JsonResponse(
        {"error": {"code": "service_unavailable", "message": message, "fields": {}}},
        status=503,
    )
    response["Retry-After"] = str(seconds)
    mark_logged(response)
    return response

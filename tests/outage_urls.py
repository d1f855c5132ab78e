"""The project's URLconf plus views that meet the database only outside a
view's own code (tests/test_outage_handler.py): in the session middleware,
in the lazy ``request.user``, or not at all."""

from django.db import OperationalError
from django.http import HttpResponse
from django.urls import path

from config.urls import handler500, urlpatterns

__all__ = ["handler500", "urlpatterns"]


def touch_session(request):
    """Touches nothing but the session, which SessionMiddleware saves after it."""
    request.session["seen"] = True
    return HttpResponse("ok")


def who(request):
    """``request.user`` loads the session and the user when it is first read."""
    return HttpResponse("signed in" if request.user.is_authenticated else "anonymous")


def bug(request):
    raise RuntimeError("a bug, not an outage")


def query_error(request):
    """An operational error on a live connection (a bad query, a deadlock)."""
    from django.db import connection

    connection.ensure_connection()
    raise OperationalError("deadlock detected")


urlpatterns = [
    *urlpatterns,
    path("outage-test/touch-session/", touch_session),
    path("outage-test/who/", who),
    path("outage-test/bug/", bug),
    path("outage-test/query-error/", query_error),
]

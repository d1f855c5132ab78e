"""The app's pages; include under ``/integrations/``::

path("integrations/", include("integrations.urls")),
"""

from django.urls import path

from . import connect_views, views

app_name = "integrations"

urlpatterns = [
    path("", views.connections, name="connections"),
    path("credentials/", views.credential_list, name="credentials"),
    path("credentials/add/", views.credential_add, name="credential-add"),
    path("credentials/<uuid:pk>/edit/", views.credential_edit, name="credential-edit"),
    path("credentials/<uuid:pk>/delete/", views.credential_delete, name="credential-delete"),
    path("connect/<slug:provider>/", views.connect, name="connect"),
    # The callback finishes connect sessions' flows too (connect_views), and hands
    # every other callback to views.callback.
    path("callback/<slug:provider>/", connect_views.callback, name="callback"),
    path("result/<uuid:pk>/", views.connect_result, name="connect-result"),
    path("<uuid:pk>/disconnect/", views.disconnect, name="disconnect"),
    path("<uuid:pk>/test/", views.test_connection, name="test-connection"),
    path(
        "connect-session/<uuid:pk>/form/",
        connect_views.session_form,
        name="connect-session-form",
    ),
    path(
        "connect-session/<uuid:pk>/values/",
        connect_views.session_values,
        name="connect-session-values",
    ),
    path(
        "connect-session/refused/<slug:code>/",
        connect_views.refused,
        name="connect-session-refused",
    ),
    path("connect-session/<str:token>/", connect_views.open_session, name="connect-session"),
]

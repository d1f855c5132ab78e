"""The demo OAuth 1.0a server's URLs, mounted at ``/oauth1/`` by ``config/urls.py``."""

from django.urls import path

from . import views

app_name = "demo_oauth1"

urlpatterns = [
    path("initiate/", views.initiate, name="initiate"),
    path("authorize/", views.authorize, name="authorize"),
    path("token/", views.token, name="token"),
    path("me/", views.me, name="me"),
    path("invalidate_token/", views.invalidate_token, name="invalidate-token"),
]

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from config import views

urlpatterns = [
    path("", views.home, name="home"),
    # Browsers ask for /favicon.ico on every page (the admin's too): the app's icon.
    path("favicon.ico", views.favicon),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("integrations/", include("integrations.urls")),
]

if settings.API_ENABLED:
    # The REST API needs the `api` extra (DRF); the rest of the app works without it.
    urlpatterns.append(path("api/", include("integrations.api.urls")))

if "oauth2_provider" in settings.INSTALLED_APPS:
    # The local demo authorization server (DEBUG only; see config/demo_provider).
    urlpatterns.append(path("o/", include("oauth2_provider.urls")))
    # Its OAuth 1.0a twin (Authlib's Django OAuth 1 server; see config/demo_provider).
    urlpatterns.append(path("oauth1/", include("config.demo_provider.urls")))
    if settings.API_ENABLED:
        # A page that plays a single-page app: it connects through a connect session.
        urlpatterns += [
            path("demo/spa/", views.spa_demo, name="demo-spa"),
            path("demo/spa/token/", views.spa_demo_token, name="demo-spa-token"),
        ]

# An outage met outside the app's views (the admin, the session and
# authentication middleware, the project's own pages) is a 503 + Retry-After,
# not a 500 with a trace; every other error is Django's own 500 page.
handler500 = "integrations.unavailable.server_error"

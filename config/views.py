"""The demo site's pages: the home page (who is logged in, which providers to
connect) and, with the demo providers on, a page that plays a single-page app
connecting through a connect session."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from integrations import connect_sessions, tokens
from integrations.models import Integration, Provider
from integrations.oauth_flow import client_ip


def home(request):
    providers = Provider.objects.filter(
        status=Provider.Status.ACTIVE,
        auth_type__in=[Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1],
    ).only("slug", "name", "description", "icon_url")
    connected = set()
    if request.user.is_authenticated:
        # Marked on the cards, so an account already connected is not offered as new.
        connected = set(
            tokens.list_integrations(request.user)
            .filter(status=Integration.Status.ACTIVE)
            .values_list("provider_id", flat=True)
        )
    return render(
        request, "home.html", {"providers": providers, "connected_provider_ids": connected}
    )


def favicon(request):
    """Browsers ask for /favicon.ico on every page, the admin's too: send them to
    the app's icon (resolved per request, so a hashed static storage works)."""
    return redirect(static("integrations/favicon.ico"), permanent=True)


# -- the demo's single-page app (DEMO_PROVIDER, with the REST API) ----------------------

# The demo page's API token lives this long: enough to create one connect session.
SPA_TOKEN_LIFETIME = timedelta(minutes=5)


def _demo_only():
    if not settings.DEMO_PROVIDER or not settings.API_ENABLED:
        raise Http404


@login_required
@require_GET
@ensure_csrf_cookie
def spa_demo(request):
    """A page that plays a single-page app: it gets an API token for the
    signed-in user from :func:`spa_demo_token`, asks ``POST /api/connect-sessions/``
    for a popup session with ``fetch`` and opens it with ``integrations/connect.js``.
    The token stays in the page's memory; it is revoked once the session exists."""
    _demo_only()
    providers = Provider.objects.filter(status=Provider.Status.ACTIVE).only("slug", "name")
    origin = f"{request.scheme}://{request.get_host()}"
    allowed = origin in connect_sessions.allowed_origins()
    response = render(
        request,
        "demo_spa.html",
        {"providers": providers, "origin": origin, "origin_allowed": allowed},
    )
    # It opens a popup whose pages must be able to post back to it.
    response["Cross-Origin-Opener-Policy"] = "same-origin-allow-popups"
    return response


@never_cache
@login_required
@require_POST
def spa_demo_token(request):
    """A short-lived API token for the signed-in user (CSRF-checked POST): what an
    app's own back end hands its front end. Audited as ``api_token_created``."""
    _demo_only()
    from integrations.api.api_tokens import create_api_token

    token, expires_at = create_api_token(
        request.user,
        expiry=SPA_TOKEN_LIFETIME,
        actor=request.user,
        ip_address=client_ip(request),
        purpose="demo single-page app",
    )
    return JsonResponse({"token": token, "expires_at": expires_at.isoformat()})

"""The demo site's home page: who is logged in and which providers to connect."""

from django.shortcuts import redirect, render
from django.templatetags.static import static

from integrations import tokens
from integrations.models import Integration, Provider


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

"""The demo site's home page: who is logged in and which providers to connect."""

from django.shortcuts import render

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

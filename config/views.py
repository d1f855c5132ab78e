"""The demo site's home page: who is logged in and which providers to connect."""

from django.shortcuts import render

from integrations.models import Provider


def home(request):
    providers = Provider.objects.filter(
        status=Provider.Status.ACTIVE,
        auth_type__in=[Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1],
    ).only("slug", "name")
    return render(request, "home.html", {"providers": providers})

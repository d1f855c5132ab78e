"""The demo OAuth 1.0a server's endpoints (see :mod:`.oauth1_server`)."""

from authlib.oauth1.errors import OAuth1Error
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from .models import OAuth1Client, OAuth1Token
from .oauth1_server import require_oauth, server


def _callback_registered(request):
    """A careful provider accepts only callbacks registered for the client."""
    oauth_request = server.create_oauth1_request(request)
    client = OAuth1Client.objects.filter(client_id=oauth_request.client_id or "").first()
    callback = oauth_request.redirect_uri
    return client is None or not callback or callback in client.redirect_uris.split()


@csrf_exempt
@require_POST
def initiate(request):
    if not _callback_registered(request):
        return HttpResponse("error=invalid_callback", status=400)
    return server.create_temporary_credentials_response(request)


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def authorize(request):
    try:
        oauth_request = server.check_authorization_request(request)
    except OAuth1Error as error:
        return HttpResponse(f"error={error.error}", status=400)
    if request.method == "GET":
        client = OAuth1Client.objects.filter(
            client_id=oauth_request.credential.get_client_id()
        ).first()
        return render(
            request,
            "demo_provider/oauth1_authorize.html",
            {"client": client, "oauth_token": oauth_request.token},
        )
    grant_user = request.user if "allow" in request.POST else None
    return server.create_authorization_response(request, grant_user)


@csrf_exempt
@require_POST
def token(request):
    return server.create_token_response(request)


@require_oauth()
def me(request):
    credential = request.oauth1_credential
    user = credential.user
    return JsonResponse(
        {
            "id": str(user.pk),
            "username": user.get_username(),
            "name": user.get_full_name() or user.get_username(),
            "email": user.email,
        }
    )


@csrf_exempt
@require_POST
@require_oauth()
def invalidate_token(request):
    credential = request.oauth1_credential
    OAuth1Token.objects.filter(pk=credential.pk).delete()
    return JsonResponse({"revoked": True})

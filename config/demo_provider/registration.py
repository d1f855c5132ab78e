"""Registering the demo authorization servers as the ``demo`` (OAuth 2) and
``demo-oauth1`` (OAuth 1.0a) Providers."""

import secrets
from urllib.parse import urlsplit

from django.db import transaction
from oauth2_provider.models import get_application_model

from integrations import credentials
from integrations.models import Provider

from .models import OAuth1Client

APPLICATION_NAME = "Sealed Integrations demo"
SLUG = "demo"
SCOPES = ["openid", "profile", "email", "read"]


OAUTH1_SLUG = "demo-oauth1"
OAUTH1_CLIENT_NAME = "Sealed Integrations demo (OAuth 1.0a)"


def _redirect_uris(base, slug=SLUG):
    uris = [f"{base}/integrations/callback/{slug}/"]
    parts = urlsplit(base)
    for a, b in (("127.0.0.1", "localhost"), ("localhost", "127.0.0.1")):
        if parts.hostname == a:
            uris.append(uris[0].replace(f"//{a}", f"//{b}", 1))
    return uris


@transaction.atomic
def register_demo_provider(base_url):
    """Create or update the DOT application and the matching Provider for the
    server at ``base_url`` (e.g. ``http://127.0.0.1:8000``); the client secret is
    new each time and reaches the Provider only through the service layer.
    Returns ``(provider, application)``."""
    Application = get_application_model()
    base = base_url.rstrip("/")
    client_secret = secrets.token_urlsafe(48)
    application = Application.objects.filter(name=APPLICATION_NAME).first() or Application(
        name=APPLICATION_NAME
    )
    application.client_type = Application.CLIENT_CONFIDENTIAL
    application.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    application.redirect_uris = " ".join(_redirect_uris(base))
    application.algorithm = Application.RS256_ALGORITHM
    application.skip_authorization = False
    application.client_secret = client_secret  # DOT stores only a hash of it
    application.save()

    provider, _ = Provider.objects.update_or_create(
        slug=SLUG,
        defaults={
            "name": "Demo",
            # An OpenID Connect server: it signs users in and says who they are.
            "category": Provider.Category.AUTHENTICATION,
            "auth_type": Provider.AuthType.OAUTH2,
            "status": Provider.Status.ACTIVE,
            "description": "The local demo authorization server (django-oauth-toolkit).",
            "base_url": f"{base}/o/",
            "discovery_url": f"{base}/o/.well-known/openid-configuration",
            # Discovery has no revocation endpoint (RFC 8414 metadata has); name it.
            "revocation_url": f"{base}/o/revoke_token/",
            "authorize_url": "",
            "token_url": "",
            "userinfo_url": "",
            "client_id": application.client_id,
            "default_scopes": SCOPES,
            "pkce": Provider.PKCE.REQUIRED,
            "metadata": {"demo": True, "introspection_url": f"{base}/o/introspect/"},
        },
    )
    credentials.set_client_secret(provider, client_secret, actor=None)
    return provider, application


@transaction.atomic
def register_demo_oauth1_provider(base_url, *, signature_method="HMAC-SHA1", rsa_public_key=""):
    """Create or update the demo OAuth 1.0a client and the matching ``demo-oauth1``
    Provider for the server at ``base_url``; a new client secret each time,
    reaching the Provider only through the service layer (for ``RSA-SHA1`` the
    caller sets the Provider's secret to its private key and passes the public
    key here). Returns ``(provider, client)``."""
    base = base_url.rstrip("/")
    client_secret = secrets.token_urlsafe(48)
    client = OAuth1Client.objects.filter(name=OAUTH1_CLIENT_NAME).first() or OAuth1Client(
        name=OAUTH1_CLIENT_NAME, client_id=secrets.token_urlsafe(24)
    )
    client.client_secret = client_secret
    client.rsa_public_key = rsa_public_key
    client.redirect_uris = " ".join(_redirect_uris(base, OAUTH1_SLUG))
    client.save()

    provider, _ = Provider.objects.update_or_create(
        slug=OAUTH1_SLUG,
        defaults={
            "name": "Demo (OAuth 1.0a)",
            "category": Provider.Category.OTHER,
            "auth_type": Provider.AuthType.OAUTH1,
            "status": Provider.Status.ACTIVE,
            "description": "The local demo OAuth 1.0a server (Authlib).",
            "base_url": f"{base}/oauth1/",
            "request_token_url": f"{base}/oauth1/initiate/",
            "authorize_url": f"{base}/oauth1/authorize/",
            "token_url": f"{base}/oauth1/token/",
            "userinfo_url": f"{base}/oauth1/me/",
            "revocation_url": f"{base}/oauth1/invalidate_token/",
            "discovery_url": "",
            "client_id": client.client_id,
            "default_scopes": [],
            "signature_method": signature_method,
            "metadata": {
                "demo": True,
                "account_id_field": "id",
                "account_label_fields": ["email", "username"],
            },
        },
    )
    credentials.set_client_secret(provider, client_secret, actor=None)
    return provider, client

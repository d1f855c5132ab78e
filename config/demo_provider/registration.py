"""Registering the demo authorization server as the ``demo`` Provider."""

import secrets
from urllib.parse import urlsplit

from django.db import transaction
from oauth2_provider.models import get_application_model

from integrations import credentials
from integrations.models import Provider

APPLICATION_NAME = "Sealed Integrations demo"
SLUG = "demo"
SCOPES = ["openid", "profile", "email", "read"]


def _redirect_uris(base):
    uris = [f"{base}/integrations/callback/{SLUG}/"]
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
            "category": Provider.Category.OTHER,
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

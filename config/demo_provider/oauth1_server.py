"""The demo OAuth 1.0a authorization server: Authlib's Django OAuth 1 server.

Endpoints (under ``/oauth1/``): ``initiate`` (temporary credentials, RFC 5849
§2.1), ``authorize`` (the user's consent, §2.2), ``token`` (§2.3), ``me`` (a
protected resource: who the token belongs to) and ``invalidate_token`` (a signed
revocation, like X's). Temporary credentials and nonces live in the cache, as
Authlib's ``CacheAuthorizationServer`` keeps them. Signatures are verified by
Authlib (HMAC-SHA1, RSA-SHA1, PLAINTEXT) and, for HMAC-SHA256, by oauthlib over
Authlib's signature base string.
"""

import hmac
from types import SimpleNamespace

from authlib.integrations.django_oauth1 import CacheAuthorizationServer, ResourceProtector
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from oauthlib.oauth1.rfc5849.signature import sign_hmac_sha256_with_client

from .models import OAuth1Client, OAuth1Token

METHODS = ["HMAC-SHA1", "HMAC-SHA256", "RSA-SHA1", "PLAINTEXT"]


def verify_hmac_sha256(request):
    if not request.client_secret:
        return False
    base_string = generate_signature_base_string(request)
    keys = SimpleNamespace(
        client_secret=request.client_secret, resource_owner_secret=request.token_secret or ""
    )
    expected = sign_hmac_sha256_with_client(base_string, keys)
    return hmac.compare_digest(expected, request.signature or "")


class _Methods:
    # A dict of our own: Authlib's class attribute stays as it is.
    SIGNATURE_METHODS = {
        **CacheAuthorizationServer.SIGNATURE_METHODS,
        "HMAC-SHA256": verify_hmac_sha256,
    }
    SUPPORTED_SIGNATURE_METHODS = METHODS


class DemoAuthorizationServer(_Methods, CacheAuthorizationServer):
    pass


class DemoResourceProtector(_Methods, ResourceProtector):
    pass


def _server():
    return DemoAuthorizationServer(OAuth1Client, OAuth1Token)


def _protector():
    return DemoResourceProtector(OAuth1Client, OAuth1Token)


server = _server()
require_oauth = _protector()

"""The OAuth 1.0a client (RFC 5849), on Authlib: sign, identify, revoke.

The provider-facing half of OAuth 1.0a; the connect flow that keeps request
tokens in the session is :mod:`.oauth1_flow`, a service built on this. It
shares :mod:`integrations.oauth`'s errors and endpoint checks.

* :func:`build_client` and :func:`signing_auth`: Authlib's signers with the
  provider's client credentials (the caller reads the client secret, audited,
  and hands it in as a :class:`Secret`); :mod:`integrations.provider_calls` puts
  :func:`signing_auth` on each request.
* :func:`identify`: the account behind an access token — the token response's
  extra parameters (X's ``user_id`` and ``screen_name``), then a signed call to
  the userinfo URL.
* :func:`revoke_token_request`: the signed revocation call a preset names (X's
  ``invalidate_token``).

Signatures are Authlib's (HMAC-SHA1, RSA-SHA1, PLAINTEXT); HMAC-SHA256 combines
Authlib's signature base string with oauthlib's HMAC-SHA256 — no signing is
written here. PLAINTEXT sends the secrets themselves, so it is refused unless
every endpoint is HTTPS (not even loopback HTTP). For RSA-SHA1 the provider's
sealed client secret holds the PEM private key.

Every request goes through a session that never follows a redirect
(:mod:`integrations.provider_http`). No message, log line or audit event here
ever holds a token, token secret, verifier or client secret.
"""

import logging
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth1Auth, OAuth1Session
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth1.rfc5849.signature import sign_hmac_sha256_with_client

from .conf import app_settings
from .models import Provider
from .oauth import (
    IdentityError,
    ProviderMisconfigured,
    ProviderRequestFailed,
    check_endpoint_url,
    provider_url,
    request_failure,
)
from .oauth import StateError as StateError
from .provider_data import TOKEN_MAX_LENGTH, checked_text
from .provider_http import NoRedirects, RedirectRefused

logger = logging.getLogger(__name__)
# Parameters of a token response that are credentials, never claims.
_CREDENTIAL_PARAMS = frozenset({"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"})
# Authorization URL parameters the flow sets itself.
RESERVED_AUTHORIZE_PARAMS = frozenset({"oauth_token", "oauth_callback"})


# -- signing: Authlib's signers, plus HMAC-SHA256 -----------------------------------


def _sign_hmac_sha256(client, request):
    """HMAC-SHA256 over Authlib's signature base string, by oauthlib."""
    base_string = generate_signature_base_string(request)
    keys = SimpleNamespace(
        client_secret=client.client_secret or "", resource_owner_secret=client.token_secret or ""
    )
    return sign_hmac_sha256_with_client(base_string, keys)


_SIGNERS = {**ClientAuth.SIGNATURE_METHODS, "HMAC-SHA256": _sign_hmac_sha256}


class InsecureRequestRefused(ProviderMisconfigured):
    """A PLAINTEXT-signed request to a URL that is not HTTPS, refused before it is
    signed: PLAINTEXT puts the client secret and the token secret themselves in
    the request. Same rule as the PLAINTEXT provider's endpoints: HTTPS only, not
    even loopback HTTP (a local proxy or tunnel may forward it in the clear)."""

    default_code = "plaintext_needs_https"


def check_signed_request_url(signature_method, url):
    """Raise :class:`InsecureRequestRefused` unless ``url`` may carry a request
    signed with ``signature_method`` (any URL for the HMAC and RSA methods)."""
    if signature_method != Provider.SignatureMethod.PLAINTEXT:
        return
    try:
        scheme = urlsplit(str(url)).scheme
    except ValueError:
        scheme = ""
    if scheme != "https":
        raise InsecureRequestRefused()


class SigningAuth(OAuth1Auth):
    """Authlib's ``requests`` OAuth 1 signer, knowing HMAC-SHA256 as well, and
    refusing to sign a PLAINTEXT request for a URL that is not HTTPS."""

    SIGNATURE_METHODS = _SIGNERS

    def __repr__(self):
        return f"<{type(self).__name__} {self.signature_method}>"

    @sensitive_variables()
    def prepare(self, method, uri, headers=None, body=None):
        # Every signature goes through here: requests' __call__, httpx (in
        # provider_calls) and the flow's own session (OAuth1Session's auth).
        check_signed_request_url(self.signature_method, uri)
        return super().prepare(method, uri, headers, body)


class ProviderClient(NoRedirects, OAuth1Session):
    """Authlib's OAuth 1 session, refusing redirects (see :mod:`.provider_http`):
    the request token, access token, userinfo and revocation requests use it."""

    auth_class = SigningAuth

    def request(self, method, url, *args, **kwargs):
        kwargs.setdefault("timeout", app_settings.HTTP_TIMEOUT_SECONDS)
        return super().request(method, url, *args, **kwargs)

    def parse_response_token(self, status_code, text):
        # Authlib names every 4xx/5xx "fetch_token_denied"; a provider that is
        # down or throttling is a passing failure, not a refusal (502, retry).
        if status_code >= 500 or status_code == 429:
            raise TokenEndpointUnavailable(status_code)
        return super().parse_response_token(status_code, text)


class TokenEndpointUnavailable(Exception):
    """A token endpoint answered 5xx or 429 (its body is never kept)."""

    def __init__(self, status_code):
        super().__init__(f"the token endpoint answered HTTP {status_code}")
        self.status_code = status_code


def token_endpoint_failure(exc, refused):
    """The :class:`ProviderRequestFailed` for a failed token request: Authlib
    reports any 4xx answer as ``fetch_token_denied`` (its message quotes the
    body, which is dropped here), named ``refused`` instead; 5xx and 429 are
    passing failures."""
    if isinstance(exc, TokenEndpointUnavailable):
        return ProviderRequestFailed(f"http_{exc.status_code}", transient=True)
    failure = request_failure(exc)
    if failure.code == "fetch_token_denied":
        return ProviderRequestFailed(refused)
    return failure


# -- endpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    request_token_url: str
    authorize_url: str
    token_url: str
    userinfo_url: str
    revocation_url: str


def endpoints(provider, url_values=None):
    """The provider's OAuth 1.0a endpoints, placeholders filled (the
    connection's ``url_values`` and the provider's), each checked (HTTPS, or
    HTTP on loopback; HTTPS only for PLAINTEXT, which sends the secrets themselves)."""
    ends = Endpoints(
        request_token_url=provider_url(provider, "request_token_url", url_values),
        authorize_url=provider_url(provider, "authorize_url", url_values),
        token_url=provider_url(provider, "token_url", url_values),
        userinfo_url=provider_url(provider, "userinfo_url", url_values),
        revocation_url=provider_url(provider, "revocation_url", url_values),
    )
    for name in ("request_token_url", "authorize_url", "token_url", "userinfo_url"):
        check_endpoint_url(getattr(ends, name), name)
    check_endpoint_url(ends.revocation_url, "revocation_url")
    if provider.signature_method == Provider.SignatureMethod.PLAINTEXT:
        for name in ("request_token_url", "token_url", "userinfo_url", "revocation_url"):
            url = getattr(ends, name)
            if url and urlsplit(url).scheme != "https":
                raise ProviderMisconfigured(f"{name}_plaintext_needs_https")
    return ends


@sensitive_variables()
def _client_credentials(provider, client_secret):
    """``(client_secret, rsa_key)`` for signing from the provider's client secret
    (a :class:`Secret` the caller read, audited): for RSA-SHA1 it is the PEM
    private key; otherwise it is the shared secret."""
    value = client_secret.reveal() if client_secret else None
    if provider.signature_method == Provider.SignatureMethod.RSA_SHA1:
        if not value:
            raise ProviderMisconfigured("rsa_key_missing")
        return None, value
    return value, None


@sensitive_variables()
def build_client(provider, *, client_secret, token=None, token_secret=None, **kwargs):
    """An Authlib ``OAuth1Session`` for ``provider`` signing with its method and
    client credentials, and ``token`` when given."""
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")
    shared_secret, rsa_key = _client_credentials(provider, client_secret)
    return ProviderClient(
        client_id=provider.client_id,
        client_secret=shared_secret,
        rsa_key=rsa_key,
        token=token,
        token_secret=token_secret,
        signature_method=provider.signature_method or Provider.SignatureMethod.HMAC_SHA1,
        **kwargs,
    )


@sensitive_variables()
def signing_auth(provider, token, token_secret, *, client_secret, url_values=None):
    """The :class:`SigningAuth` that signs a request with the access ``token``
    and its secret (``provider_calls`` applies it to requests and httpx)."""
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")
    endpoints(provider, url_values)  # PLAINTEXT over plain HTTP is refused here too
    shared_secret, rsa_key = _client_credentials(provider, client_secret)
    return SigningAuth(
        client_id=provider.client_id,
        client_secret=shared_secret,
        rsa_key=rsa_key,
        token=token,
        token_secret=token_secret,
        signature_method=provider.signature_method or Provider.SignatureMethod.HMAC_SHA1,
    )


def checked_credentials(token, what):
    """``(oauth_token, oauth_token_secret)`` of a provider response, checked."""

    def error(_message):
        return ProviderRequestFailed(f"invalid_{what}_response")

    if not isinstance(token, dict):
        raise error("")
    value = checked_text(token.get("oauth_token"), "oauth_token", max_length=4096, error=error)
    secret = checked_text(
        token.get("oauth_token_secret", ""),
        "oauth_token_secret",
        max_length=TOKEN_MAX_LENGTH,
        error=error,
    )
    if not value:
        raise error("")
    return value, secret


@sensitive_variables()
def identify(provider, ends, token, access_token, token_secret, *, client_secret):
    """Claims about the account: the token response's own parameters (X sends
    ``user_id`` and ``screen_name``), then a signed GET of the userinfo URL."""
    claims = {
        key: value
        for key, value in token.items()
        if key not in _CREDENTIAL_PARAMS and isinstance(value, (str, int))
    }
    if not ends.userinfo_url:
        return claims
    client = build_client(
        provider, client_secret=client_secret, token=access_token, token_secret=token_secret
    )
    try:
        with client:
            response = client.get(ends.userinfo_url, headers={"Accept": "application/json"})
            response.raise_for_status()
            info = response.json()
    except RedirectRefused:
        raise IdentityError("userinfo_redirected") from None
    except (requests.RequestException, ValueError):
        raise IdentityError("userinfo_failed") from None
    if not isinstance(info, dict):
        raise IdentityError("userinfo_failed")
    claims.update(info)
    return claims


# -- revocation ---------------------------------------------------------------------


@sensitive_variables()
def revoke_token_request(provider, token, token_secret, *, revocation_url, client_secret):
    """A signed POST to the provider's revocation URL (X's ``invalidate_token``);
    any 2xx is success, anything else :class:`ProviderRequestFailed`."""
    client = build_client(
        provider, client_secret=client_secret, token=token, token_secret=token_secret
    )
    try:
        with client:
            response = client.post(revocation_url)
    except Exception as exc:  # noqa: BLE001
        raise request_failure(exc) from None
    if not 200 <= response.status_code < 300:
        raise ProviderRequestFailed(
            f"http_{response.status_code}", transient=response.status_code >= 500
        )

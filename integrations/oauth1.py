"""The OAuth 1.0a client (RFC 5849), on Authlib: connect, identify, sign, revoke.

The flow mirrors :mod:`integrations.oauth` (OAuth 2) and shares its errors,
endpoint checks, ``next`` handling and :class:`~integrations.oauth.Authorization`:

* :func:`begin_authorization` obtains a request token (temporary credentials,
  §2.1) with ``oauth_callback`` pointing at our callback, remembers it in the
  user's session and returns the provider's authorization URL. The session keeps
  the request token only as a SHA-256 digest, and its secret **sealed** with the
  keyring (bound to that digest): the secret never leaves the server in clear,
  even with Django's signed-cookie session backend. A pending request token is
  single use (a shared-cache marker makes it so across processes), bound to the
  session and the user, and expires after ``STATE_TTL_SECONDS`` like OAuth 2 state.
* :func:`complete_authorization` takes ``oauth_token`` + ``oauth_verifier``,
  exchanges them for the access token and its secret (§2.3), and identifies the
  account with a signed call to the userinfo URL (and the extra parameters of the
  token response, e.g. X's ``user_id`` and ``screen_name``).
* :func:`signing_auth` builds the Authlib signer :mod:`integrations.provider_calls`
  puts on each request; :func:`revoke_token_request` makes the signed revocation
  call a preset names (X's ``invalidate_token``).

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
import time
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import urlsplit

import requests
from authlib.integrations.requests_client import OAuth1Auth, OAuth1Session
from authlib.oauth1 import ClientAuth
from authlib.oauth1.rfc5849.signature import generate_signature_base_string
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth1.rfc5849.signature import sign_hmac_sha256_with_client

from .conf import app_settings
from .credentials import read_client_secret
from .crypto import CryptoError
from .models import Provider
from .oauth import Authorization as Authorization
from .oauth import (
    AuthorizationDenied,
    IdentityError,
    ProviderMisconfigured,
    ProviderRequestFailed,
    account_from_claims,
    authorize_params,
    check_endpoint_url,
    error_code,
    make_room,
    reject_state,
    request_failure,
    safe_next_url,
    save_bucket,
    session_bucket,
    state_digest,
    take_pending,
)
from .oauth import StateError as StateError
from .oauth import _public_claims as public_claims
from .provider_data import TOKEN_MAX_LENGTH, checked_text
from .provider_http import NoRedirects, RedirectRefused

logger = logging.getLogger(__name__)

SESSION_KEY = "_integrations_oauth1"
# Parameters of a token response that are credentials, never claims.
_CREDENTIAL_PARAMS = frozenset({"oauth_token", "oauth_token_secret", "oauth_callback_confirmed"})
# Authorization URL parameters the flow sets itself.
_RESERVED = frozenset({"oauth_token", "oauth_callback"})
_SEALED_CONTEXT = "integrations.oauth1.request_token_secret:"


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


def _failure(exc, refused):
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


def endpoints(provider):
    """The provider's OAuth 1.0a endpoints, each checked (HTTPS, or HTTP on
    loopback; HTTPS only for PLAINTEXT, which sends the secrets themselves)."""
    ends = Endpoints(
        request_token_url=provider.request_token_url,
        authorize_url=provider.authorize_url,
        token_url=provider.token_url,
        userinfo_url=provider.userinfo_url,
        revocation_url=provider.revocation_url,
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
def _client_credentials(provider, *, purpose, actor):
    """``(client_secret, rsa_key)`` for signing: for RSA-SHA1 the sealed client
    secret is the PEM private key; otherwise it is the shared secret."""
    secret = read_client_secret(provider, purpose=purpose, actor=actor)
    value = secret.reveal() if secret else None
    if provider.signature_method == Provider.SignatureMethod.RSA_SHA1:
        if not value:
            raise ProviderMisconfigured("rsa_key_missing")
        return None, value
    return value, None


@sensitive_variables()
def build_client(provider, *, purpose, actor=None, token=None, token_secret=None, **kwargs):
    """An Authlib ``OAuth1Session`` for ``provider`` signing with its method and
    client credentials (read for ``purpose``, audited), and ``token`` when given."""
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")
    client_secret, rsa_key = _client_credentials(provider, purpose=purpose, actor=actor)
    return ProviderClient(
        client_id=provider.client_id,
        client_secret=client_secret,
        rsa_key=rsa_key,
        token=token,
        token_secret=token_secret,
        signature_method=provider.signature_method or Provider.SignatureMethod.HMAC_SHA1,
        **kwargs,
    )


@sensitive_variables()
def signing_auth(provider, token, token_secret, *, purpose, actor=None):
    """The :class:`SigningAuth` that signs a request with the access ``token``
    and its secret (``provider_calls`` applies it to requests and httpx)."""
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")
    endpoints(provider)  # PLAINTEXT over plain HTTP is refused here too
    client_secret, rsa_key = _client_credentials(provider, purpose=purpose, actor=actor)
    return SigningAuth(
        client_id=provider.client_id,
        client_secret=client_secret,
        rsa_key=rsa_key,
        token=token,
        token_secret=token_secret,
        signature_method=provider.signature_method or Provider.SignatureMethod.HMAC_SHA1,
    )


# -- the pending request token, bound to the session --------------------------------


def _now():
    return time.time()


def _bucket(request):
    return session_bucket(request, SESSION_KEY)


def _save(request, bucket):
    save_bucket(request, bucket, SESSION_KEY)


@sensitive_variables()
def _seal(secret, digest):
    return app_settings.keyring.encrypt(secret.encode("utf-8"), _SEALED_CONTEXT + digest)


@sensitive_variables()
def _open(sealed, digest):
    return app_settings.keyring.decrypt(sealed, _SEALED_CONTEXT + digest).decode("utf-8")


def _checked_credentials(token, what):
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
def begin_authorization(request, provider, *, next_url=""):
    """Obtain a request token and return the provider's authorization URL; the
    request token (digest) and its secret (sealed) wait in the session."""
    next_url = safe_next_url(request, next_url)
    ends = endpoints(provider)
    if not ends.request_token_url or not ends.authorize_url or not ends.token_url:
        raise ProviderMisconfigured("endpoints_missing")
    callback = request.build_absolute_uri(reverse("integrations:callback", args=[provider.slug]))
    client = build_client(
        provider, purpose="obtain a request token", actor=request.user, redirect_uri=callback
    )
    try:
        with client:
            response = client.fetch_request_token(ends.request_token_url)
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise _failure(exc, "request_token_refused") from None
    request_token, secret = _checked_credentials(response, "request_token")
    # RFC 5849 §2.1: OAuth 1.0a servers confirm the callback (the 1.0 session
    # fixation fix); a server that does not is speaking 1.0.
    if str(response.get("oauth_callback_confirmed", "")).lower() != "true":
        raise ProviderRequestFailed("callback_not_confirmed")
    extra = {k: v for k, v in authorize_params(provider).items() if k not in _RESERVED}
    url = client.create_authorization_url(ends.authorize_url, request_token=request_token, **extra)

    digest = state_digest(request_token)
    bucket = _bucket(request)
    pending = bucket["pending"]
    now = _now()
    make_room(pending, now)
    pending[digest] = {
        "p": provider.slug,
        "u": str(request.user.pk),
        "t": now,
        "s": _seal(secret, digest),
        "next": next_url,
    }
    _save(request, bucket)
    return url


@sensitive_variables()
def consume_request_token(request, provider, request_token):
    """The pending entry of ``request_token``, removed from the session (single
    use), with its secret opened. Anything else is audited and a :class:`StateError`."""
    if not request_token:
        raise reject_state(request, provider, "oauth_token_missing")
    entry = take_pending(
        request, provider, request_token, reasons="oauth_token", session_key=SESSION_KEY
    )
    digest = state_digest(request_token)
    try:
        entry["secret"] = _open(entry.get("s") or "", digest)
    except (CryptoError, UnicodeError, TypeError):
        raise reject_state(request, provider, "oauth_token_unreadable") from None
    return entry


@sensitive_variables()
def complete_authorization(request, provider):
    """Check the callback, exchange the request token and verifier for the
    access token and its secret, and identify the account. A callback that
    names no pending request token of this session and user is a
    :class:`StateError` before anything else."""
    params = request.GET
    # X sends ``denied=<request token>`` when the user declines.
    denied = params.get("denied")
    request_token = params.get("oauth_token") or denied or ""
    if not request_token and ("error" in params or denied is not None):
        raise AuthorizationDenied(error_code(params.get("error") or "access_denied"))
    entry = consume_request_token(request, provider, request_token)
    if denied is not None:
        raise AuthorizationDenied("access_denied")
    if "error" in params:
        raise AuthorizationDenied(error_code(params.get("error")))
    verifier = params.get("oauth_verifier", "")
    if not verifier:
        raise AuthorizationDenied("missing_verifier")
    if len(verifier) > 1024:
        raise AuthorizationDenied("invalid_verifier")
    ends = endpoints(provider)
    client = build_client(
        provider,
        purpose="exchange a request token",
        actor=request.user,
        token=request_token,
        token_secret=entry["secret"],
    )
    try:
        with client:
            token = dict(client.fetch_access_token(ends.token_url, verifier=verifier))
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise _failure(exc, "access_token_refused") from None
    access_token, token_secret = _checked_credentials(token, "token")
    claims = identify(provider, ends, token, access_token, token_secret, actor=request.user)
    external_id, label = account_from_claims(provider, claims)
    return Authorization(
        token={"oauth_token": access_token, "oauth_token_secret": token_secret},
        external_account_id=external_id,
        label=label,
        requested_scopes=[],
        next_url=entry.get("next") or "",
        claims=public_claims(claims),
    )


@sensitive_variables()
def identify(provider, ends, token, access_token, token_secret, *, actor=None):
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
        provider,
        purpose="identify the connected account",
        actor=actor,
        token=access_token,
        token_secret=token_secret,
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
def revoke_token_request(provider, token, token_secret, *, revocation_url, actor=None):
    """A signed POST to the provider's revocation URL (X's ``invalidate_token``);
    any 2xx is success, anything else :class:`ProviderRequestFailed`."""
    client = build_client(
        provider, purpose="revoke a token", actor=actor, token=token, token_secret=token_secret
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

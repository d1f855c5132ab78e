"""The OAuth 1.0a connect flow (RFC 5849), as a service of this app.

* :func:`begin_authorization` obtains a request token (temporary credentials,
  §2.1) with ``oauth_callback`` pointing at our callback, remembers it in the
  user's session and returns the provider's authorization URL. The session keeps
  the request token only as a SHA-256 digest, and its secret **sealed** with the
  keyring (bound to that digest): the secret never leaves the server in clear,
  even with Django's signed-cookie session backend. A pending request token is
  single use (a shared-cache marker makes it so across processes), bound to the
  session and the user, and expires after ``STATE_TTL_SECONDS`` like OAuth 2 state
  (:mod:`.oauth_flow`, whose session helpers it shares).
* :func:`complete_authorization` takes ``oauth_token`` + ``oauth_verifier``,
  exchanges them for the access token and its secret (§2.3), and identifies the
  account (:func:`.oauth1.identify`).

The client secret is read here, audited for each step, and handed to the
provider-facing client (:mod:`.oauth1`).
"""

import time

from django.urls import reverse
from django.views.decorators.debug import sensitive_variables

from .conf import app_settings
from .credential_store import read_client_secret
from .crypto import CryptoError
from .oauth import (
    AuthorizationDenied,
    ProviderMisconfigured,
    ProviderRequestFailed,
    account_from_claims,
    authorize_params,
    error_code,
    public_claims,
)
from .oauth1 import (
    RESERVED_AUTHORIZE_PARAMS,
    build_client,
    checked_credentials,
    endpoints,
    identify,
    token_endpoint_failure,
)
from .oauth_flow import (
    Authorization,
    checked_url_values,
    make_room,
    reject_state,
    safe_next_url,
    save_bucket,
    session_bucket,
    state_digest,
    take_pending,
)

SESSION_KEY = "_integrations_oauth1"
_SEALED_CONTEXT = "integrations.oauth1.request_token_secret:"


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


@sensitive_variables()
def begin_authorization(request, provider, *, next_url="", url_values=None, connect_session=None):
    """Obtain a request token and return the provider's authorization URL; the
    request token (digest) and its secret (sealed) wait in the session, with
    the connection's ``url_values`` (checked) for the URL placeholders.
    ``connect_session``: as :func:`.oauth_flow.begin_authorization`'s."""
    next_url = safe_next_url(request, next_url)
    url_values = checked_url_values(provider, url_values)
    ends = endpoints(provider, url_values)
    if not ends.request_token_url or not ends.authorize_url or not ends.token_url:
        raise ProviderMisconfigured("endpoints_missing")
    callback = request.build_absolute_uri(reverse("integrations:callback", args=[provider.slug]))
    client = build_client(
        provider,
        client_secret=read_client_secret(
            provider, purpose="obtain a request token", actor=request.user
        ),
        redirect_uri=callback,
    )
    try:
        with client:
            response = client.fetch_request_token(ends.request_token_url)
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise token_endpoint_failure(exc, "request_token_refused") from None
    request_token, secret = checked_credentials(response, "request_token")
    # RFC 5849 §2.1: OAuth 1.0a servers confirm the callback (the 1.0 session
    # fixation fix); a server that does not is speaking 1.0.
    if str(response.get("oauth_callback_confirmed", "")).lower() != "true":
        raise ProviderRequestFailed("callback_not_confirmed")
    extra = {
        k: v for k, v in authorize_params(provider).items() if k not in RESERVED_AUTHORIZE_PARAMS
    }
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
        "uv": url_values,
    }
    if connect_session:
        pending[digest]["cs"] = str(connect_session)
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
    url_values = checked_url_values(provider, entry.get("uv"))
    ends = endpoints(provider, url_values)
    client = build_client(
        provider,
        client_secret=read_client_secret(
            provider, purpose="exchange a request token", actor=request.user
        ),
        token=request_token,
        token_secret=entry["secret"],
    )
    try:
        with client:
            token = dict(client.fetch_access_token(ends.token_url, verifier=verifier))
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise token_endpoint_failure(exc, "access_token_refused") from None
    access_token, token_secret = checked_credentials(token, "token")
    claims = identify(
        provider,
        ends,
        token,
        access_token,
        token_secret,
        client_secret=read_client_secret(
            provider, purpose="identify the connected account", actor=request.user
        ),
    )
    external_id, label = account_from_claims(provider, claims)
    return Authorization(
        token={"oauth_token": access_token, "oauth_token_secret": token_secret},
        external_account_id=external_id,
        label=label,
        requested_scopes=[],
        next_url=entry.get("next") or "",
        claims=public_claims(claims),
        url_values=url_values,
    )

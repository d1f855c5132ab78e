"""The OAuth 2 authorization-code flow, as a service of this app: start it, and
finish it when the provider sends the browser back.

``state`` is random, single use, bound to the user's session and to the user,
and expires after ``STATE_TTL_SECONDS``. The session keeps only a SHA-256 digest
of the state next to the PKCE verifier and the nonce, so neither ever leaves the
server; a shared-cache marker makes the state single use across processes as
well. The OAuth 1.0a flow (:mod:`.oauth1_flow`) keeps its request tokens the
same way. The provider-facing steps (endpoints, the Authlib client, the checks
of the code exchange, identifying the account) are :mod:`.oauth`'s; the client
secret is read here, audited, and handed to them.
"""

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.cache import cache
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_variables

from . import audit, provider_quirks, provider_urls
from .conf import app_settings
from .credential_store import read_client_secret
from .models import AuditEvent
from .oauth import (
    AuthorizationDenied,
    ProviderMisconfigured,
    ProviderRequestFailed,
    StateError,
    UnsafeRedirect,
    account_from_claims,
    authorize_params,
    build_client,
    cache_key,
    check_response_issuer,
    endpoints,
    error_code,
    identify,
    public_claims,
    rename_client_id,
    request_failure,
    split_supported_scopes,
    uses_pkce,
)
from .outages import cache_guard
from .provider_data import (
    TokenResponseError,
    read_token_response,
)
from .token_answers import kept_fields

logger = logging.getLogger("integrations.oauth")

SESSION_KEY = "_integrations_oauth"
# Authorizations a session may have under way at once (several tabs); the
# oldest is dropped beyond this.
MAX_PENDING = 10
# Digests of consumed states remembered per session, to tell a replay from a forgery.
MAX_USED = 20


# -- state, bound to the session ----------------------------------------------------


def state_digest(state):
    """What the session keeps of a state or request token (never the value)."""
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def _now():
    return time.time()


def safe_next_url(request, next_url):
    """``next_url`` if it stays on this site, ``""`` if empty; else :class:`UnsafeRedirect`."""
    if not next_url:
        return ""
    if url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return next_url
    raise UnsafeRedirect()


def client_ip(request):
    return request.META.get("REMOTE_ADDR") or None


def session_bucket(request, key=SESSION_KEY):
    """The flows' pending authorizations in the session (OAuth 2 state, OAuth
    1.0a request tokens: one key each), with the digests of those used up."""
    bucket = request.session.get(key)
    if not isinstance(bucket, dict):
        bucket = {}
    bucket.setdefault("pending", {})
    bucket.setdefault("used", [])
    return bucket


def save_bucket(request, bucket, key=SESSION_KEY):
    request.session[key] = bucket
    request.session.modified = True


def make_room(pending, now):
    """Drop expired entries, then the oldest, so that one more fits."""
    ttl = app_settings.STATE_TTL_SECONDS
    for digest in [d for d, e in pending.items() if now - e.get("t", 0) > ttl]:
        del pending[digest]
    while len(pending) >= MAX_PENDING:
        del pending[min(pending, key=lambda d: pending[d].get("t", 0))]


class InvalidURLValue(ProviderMisconfigured):
    """A value a user entered for a URL placeholder that does not fit it."""

    default_code = "url_value_invalid"


def checked_url_values(provider, url_values):
    """The connection-level URL values a user entered (a Shopify shop), checked
    against their patterns; :class:`ProviderMisconfigured` with the
    placeholder's name and the reason otherwise (``url_value_shop_pattern``)."""
    try:
        return provider_urls.check_connection_values(provider, url_values)
    except provider_urls.URLTemplateError as exc:
        raise InvalidURLValue(exc.code) from None


@sensitive_variables()
def begin_authorization(request, provider, *, next_url="", url_values=None, connect_session=None):
    """Start connecting ``provider``: remember state, verifier and nonce in the
    session and return the provider's authorization URL to redirect to.

    ``url_values`` are the values of the provider's connection-level URL
    placeholders (``{"shop": "acme"}``), checked here; they wait in the pending
    authorization and are kept in the new integration's metadata.
    ``connect_session`` (a :class:`~integrations.models.ConnectSession` id) marks
    the flow as a connect session's: its callback runs as that session's user."""
    next_url = safe_next_url(request, next_url)
    url_values = checked_url_values(provider, url_values)
    ends = endpoints(provider, url_values)
    if not ends.authorize_url or not ends.token_url:
        raise ProviderMisconfigured("endpoints_missing")
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")

    scopes, left_out = split_supported_scopes(
        [s for s in provider.default_scopes if isinstance(s, str)], ends
    )
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64) if uses_pkce(provider) else None  # 86 characters
    nonce = secrets.token_urlsafe(24) if "openid" in scopes else None
    redirect_uri = request.build_absolute_uri(
        reverse("integrations:callback", args=[provider.slug])
    )
    separator = provider_quirks.scope_separator(provider)
    client = build_client(provider, redirect_uri=redirect_uri, scope=separator.join(scopes) or None)
    extra = authorize_params(provider)
    # OIDC Core §11: a provider may ignore offline_access (and so issue no
    # refresh token) unless the user is asked to consent. A preset that knows
    # better sets its own prompt.
    if "offline_access" in scopes:
        extra.setdefault("prompt", "consent")
    if nonce:
        extra["nonce"] = nonce
    url, _ = client.create_authorization_url(
        ends.authorize_url, state=state, code_verifier=verifier, **extra
    )
    url = rename_client_id(url, provider_quirks.client_id_param(provider))

    bucket = session_bucket(request)
    pending = bucket["pending"]
    now = _now()
    make_room(pending, now)
    pending[state_digest(state)] = {
        "p": provider.slug,
        "u": str(request.user.pk),
        "t": now,
        "v": verifier,
        "n": nonce,
        "r": redirect_uri,
        "s": scopes,
        "x": left_out,
        "next": next_url,
        "uv": url_values,
    }
    if connect_session:
        pending[state_digest(state)]["cs"] = str(connect_session)
    save_bucket(request, bucket)
    return url


def reject_state(request, provider, reason):
    audit.record(
        AuditEvent.Action.STATE_REJECTED,
        actor=request.user,
        target=provider,
        outcome=AuditEvent.Outcome.DENIED,
        detail=reason,
        ip_address=client_ip(request),
    )
    return StateError(reason)


@sensitive_variables()
def consume_state(request, provider):
    """The pending authorization the callback's ``state`` names, removed from the
    session (single use). A bad state is audited and raises :class:`StateError`."""
    state = request.GET.get("state", "")
    if not state:
        raise reject_state(request, provider, "state_missing")
    return take_pending(request, provider, state, reasons="state")


def peek_pending(request, value, *, session_key=SESSION_KEY):
    """The pending entry ``value`` names, left in the session (or ``None``)."""
    if not value:
        return None
    entry = session_bucket(request, session_key)["pending"].get(state_digest(value))
    return entry if isinstance(entry, dict) else None


def take_pending(request, provider, value, *, reasons, session_key=SESSION_KEY):
    """The pending entry ``value`` (an OAuth 2 state, an OAuth 1.0a request token)
    names, removed from the session: single use, unexpired, for this provider
    and this user. Anything else is audited and a :class:`StateError` whose code
    starts with ``reasons`` (``state_replayed``, ``oauth_token_expired``...)."""
    digest = state_digest(value)
    bucket = session_bucket(request, session_key)
    entry = bucket["pending"].pop(digest, None)
    if entry is None:
        reason = "replayed" if digest in bucket["used"] else "unknown"
        raise reject_state(request, provider, f"{reasons}_{reason}")
    bucket["used"] = [*bucket["used"], digest][-MAX_USED:]
    save_bucket(request, bucket, session_key)
    # Two concurrent callbacks with one state would both find it in the
    # session they loaded; the shared cache lets only one through. With the
    # cache down nothing goes through (CacheUnavailable, a 503): the session is
    # not saved on a 5xx, so the state stays pending and single-use.
    ttl = app_settings.STATE_TTL_SECONDS
    with cache_guard():
        first_use = cache.add(cache_key(f"{session_key}-used", digest), True, ttl + 60)
    if not first_use:
        raise reject_state(request, provider, f"{reasons}_replayed")
    if _now() - entry.get("t", 0) > ttl:
        raise reject_state(request, provider, f"{reasons}_expired")
    if entry.get("p") != provider.slug:
        raise reject_state(request, provider, f"{reasons}_wrong_provider")
    if entry.get("u") != str(request.user.pk):
        raise reject_state(request, provider, f"{reasons}_wrong_user")
    return entry


# -- the callback -----------------------------------------------------------------


@dataclass
class Authorization:
    """What a successful callback yields; ``token`` is the raw token response."""

    token: dict = field(repr=False)
    external_account_id: str
    label: str
    requested_scopes: list
    next_url: str
    claims: dict = field(default_factory=dict, repr=False)
    # Scopes of the provider's configuration left out: its discovery does not list them.
    left_out_scopes: list = field(default_factory=list)
    # The connection's values for the provider's URL placeholders (a Shopify shop).
    url_values: dict = field(default_factory=dict)

    def integration_metadata(self):
        """What the new integration's metadata keeps of this authorization."""
        metadata = {}
        if self.claims:
            metadata["identity"] = self.claims
        if self.url_values:
            metadata["url_values"] = dict(self.url_values)
        return metadata or None


@sensitive_variables()
def complete_authorization(request, provider):
    """Check the callback, exchange the code (with the PKCE verifier) and identify
    the account. Raises :class:`StateError` (a 400) before anything else."""
    entry = consume_state(request, provider)
    params = request.GET
    url_values = checked_url_values(provider, entry.get("uv"))
    ends = endpoints(provider, url_values)
    check_response_issuer(params, ends)
    if "error" in params:
        raise AuthorizationDenied(error_code(params.get("error")))
    code = params.get("code")
    if not code:
        raise AuthorizationDenied("missing_code")
    try:  # what the provider's redirect says of the connection (Intuit's realmId)
        from_callback = provider_urls.check_callback_values(provider, params)
    except provider_urls.URLTemplateError as exc:
        raise AuthorizationDenied(exc.code) from None

    client = build_client(
        provider,
        client_secret=read_client_secret(
            provider, purpose="exchange an authorization code", actor=request.user
        ),
        redirect_uri=entry["r"],
    )
    exchange = {"code": code, "redirect_uri": entry["r"]}
    if entry.get("v"):
        exchange["code_verifier"] = entry["v"]
    try:
        token = dict(
            client.fetch_token(
                ends.token_url,
                grant_type="authorization_code",
                auth=client.token_request_auth(),
                **exchange,
            )
        )
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise request_failure(exc) from None
    try:  # before the access token is sent anywhere (userinfo) or stored
        read_token_response(token, now=datetime.now(UTC))
        kept_fields(provider.metadata, token)  # e.g. an api_base_url that is not https
    except TokenResponseError as exc:
        logger.warning("provider %s sent an unusable token response: %s", provider.slug, exc)
        raise ProviderRequestFailed("invalid_token_response") from None
    claims = identify(client, provider, ends, token, nonce=entry.get("n"))
    if provider_quirks.account_source(provider) == "token_response":
        document = provider_quirks.token_response_claims(token)
        external_id, label = account_from_claims(provider, document)
    else:
        external_id, label = account_from_claims(provider, claims)
    return Authorization(
        token=token,
        external_account_id=external_id,
        label=label,
        requested_scopes=list(entry.get("s") or []),
        next_url=entry.get("next") or "",
        claims=public_claims(claims),
        left_out_scopes=list(entry.get("x") or []),
        url_values={**url_values, **from_callback},
    )

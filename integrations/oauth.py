"""The OAuth 2 / OpenID Connect client, on Authlib.

What lives here:

* **Endpoints**: a Provider's own URLs, with blanks filled from its OpenID
  Connect discovery document when it has a ``discovery_url`` (cached).
* **The authorization-code flow with PKCE** (:func:`begin_authorization`,
  :func:`complete_authorization`): ``state`` is random, single use, bound to the
  user's session and to the user, and expires after ``STATE_TTL_SECONDS``. The
  session keeps only a SHA-256 digest of the state next to the PKCE verifier and
  the nonce, so neither ever leaves the server; a shared-cache marker makes the
  state single use across processes as well.
* **The account behind a token**: the userinfo endpoint, and a verified ID token
  (signature from the provider's JWKS, issuer, audience, expiry, nonce).
* **Token endpoint calls** for refresh and RFC 7009 revocation, used by
  :mod:`integrations.tokens` (the service layer that stores the results).

Every request to a provider goes through a session that never follows a
redirect (:mod:`integrations.provider_http`), and what a provider sends is
checked by :mod:`integrations.provider_data` before it is stored or used.

Failures are :class:`OAuthFlowError` subclasses whose ``code`` is a short
machine-readable reason (``invalid_grant``, ``network_error``, ``http_503``,
``state_expired``…). No message, log line or audit event here ever holds a
token, code, verifier, state or client secret.
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ipaddress import ip_address as parse_ip
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import urllib3
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.core.cache import cache
from django.views.decorators.debug import sensitive_variables
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey
from joserfc.jws import extract_compact

from . import provider_quirks, provider_urls
from .conf import app_settings
from .models import Provider
from .outages import CacheUnavailable, cache_guard
from .provider_data import (
    ACCOUNT_ID_MAX_LENGTH,
    CLAIM_MAX_LENGTH,
    checked_text,
)
from .provider_http import NoRedirects, ProviderSession, RedirectRefused
from .sealed.redaction import register_query_parameter
from .token_answers import ERROR_CODE_RE, TokenAnswerError, compliance_hook, shape_of

logger = logging.getLogger(__name__)
# Error codes providers return, as we display and record them.
_CODE_RE = ERROR_CODE_RE
# Parameters a preset may not override in the authorization request.
_RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "client_id",
        "response_type",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    }
)
_ASYMMETRIC_ALGS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES384",
        "ES512",
        "EdDSA",
    }
)
_SYMMETRIC_ALGS = frozenset({"HS256", "HS384", "HS512"})
_ID_TOKEN_LEEWAY = 120
_WELL_KNOWN = "/.well-known/openid-configuration"
_ISS_SUPPORTED = "authorization_response_iss_parameter_supported"


# -- errors -------------------------------------------------------------------


class OAuthFlowError(Exception):
    """A failure of the OAuth flow or of a call to the provider.

    ``code`` is short and machine readable (never a secret); ``transient`` says
    whether trying again later may succeed (network errors, 5xx). ``unsent``
    says the provider certainly did not act on the request (the connection was
    never made, or it answered 429/503 or ``temporarily_unavailable``): only
    then may the very same request be sent again at once. After a read timeout,
    a dropped connection or another 5xx the provider may have acted, e.g.
    rotated the refresh token we sent, so sending it again would be a reuse.
    ``retry_after`` is the wait the provider asked for (seconds), if any.
    """

    default_code = "oauth_error"

    def __init__(self, code=None, *, transient=False, unsent=False, retry_after=None):
        self.code = code or self.default_code
        self.transient = transient
        self.unsent = unsent
        self.retry_after = retry_after
        super().__init__(self.code)


class ProviderMisconfigured(OAuthFlowError):
    """The provider cannot be used: an endpoint is missing or unsafe, discovery failed."""

    default_code = "provider_misconfigured"


class StateError(OAuthFlowError):
    """The callback's ``state`` is missing, unknown, replayed, expired or not this user's."""

    default_code = "state_invalid"


class UnsafeRedirect(OAuthFlowError):
    """A ``next`` URL that leaves this site."""

    default_code = "unsafe_next"


class AuthorizationDenied(OAuthFlowError):
    """The provider redirected back with an error (the user declined, or worse)."""

    default_code = "access_denied"


class ProviderRequestFailed(OAuthFlowError):
    """A request to the provider failed: an OAuth error response, HTTP or network."""

    default_code = "provider_error"


class IdentityError(OAuthFlowError):
    """The connected account could not be identified (userinfo, ID token)."""

    default_code = "identity_failed"


def error_code(value):
    """A provider-supplied error code, or ``"provider_error"`` if it is not one."""
    if isinstance(value, str) and _CODE_RE.fullmatch(value):
        return value
    return ProviderRequestFailed.default_code


# Answers in which the provider says it did not process the request.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})


def _never_sent(exc):
    """True when a requests error happened before the request left: the
    connection was refused, timed out or failed its TLS handshake."""
    if isinstance(exc, (requests.ConnectTimeout, requests.exceptions.SSLError)):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)  # NewConnectionError too


def retry_after_seconds(response):
    """The ``Retry-After`` of an HTTP answer in seconds (a number or an HTTP
    date), or ``None``."""
    value = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
    if not value:
        return None
    if value.isdigit():
        return float(min(int(value), 86400))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def request_failure(exc):
    """The :class:`ProviderRequestFailed` for an exception raised by a provider call."""
    if isinstance(exc, RedirectRefused):
        return ProviderRequestFailed("redirect_refused")
    if isinstance(exc, TokenAnswerError):  # a token answer that cannot be read
        return ProviderRequestFailed(exc.code)
    if isinstance(exc, OAuthError):
        code = error_code(getattr(exc, "error", None))
        return ProviderRequestFailed(
            code,
            transient=code in ("server_error", "temporarily_unavailable"),
            unsent=code == "temporarily_unavailable",
        )
    if isinstance(exc, requests.ConnectionError) and _never_sent(exc):
        return ProviderRequestFailed("network_error", transient=True, unsent=True)
    if isinstance(exc, requests.Timeout):
        return ProviderRequestFailed("timeout", transient=True)
    if isinstance(exc, requests.ConnectionError):
        return ProviderRequestFailed("connection_lost", transient=True)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        status = exc.response.status_code
        unsent = status in _NOT_PROCESSED_STATUSES
        return ProviderRequestFailed(
            f"http_{status}",
            transient=status >= 500 or unsent,
            unsent=unsent,
            retry_after=retry_after_seconds(exc.response) if unsent else None,
        )
    if isinstance(exc, requests.RequestException):
        return ProviderRequestFailed("network_error", transient=True)
    if isinstance(exc, ValueError):  # a body that is not a JSON object
        return ProviderRequestFailed("invalid_response", transient=True)
    return ProviderRequestFailed("provider_error", transient=True)


def _refuse_unprocessed(response):
    """Authlib hook: a 429 or 503 is the provider saying it did not process the
    request, whatever its body says (an OAuth-style JSON error included)."""
    if response.status_code in _NOT_PROCESSED_STATUSES:
        raise requests.HTTPError(f"HTTP {response.status_code}", response=response)
    return response


# -- endpoints ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str = ""
    token_url: str = ""
    revocation_url: str = ""
    userinfo_url: str = ""
    jwks_uri: str = ""
    issuer: str = ""
    id_token_algs: tuple = ()
    # RFC 9207: the provider puts ``iss`` in every authorization response.
    iss_parameter_supported: bool = False
    # Discovery's ``scopes_supported``; None when the provider does not say.
    scopes_supported: tuple | None = None
    # Where refresh requests go when not to the token URL (metadata refresh_url).
    refresh_url: str = ""


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return parse_ip(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url, name):
    """Refuse an endpoint that would send secrets in the clear: HTTPS, or HTTP on loopback."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ProviderMisconfigured(f"{name}_invalid") from None
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url
    raise ProviderMisconfigured(f"{name}_not_https")


def _http_get_json(url, what):
    try:
        with ProviderSession() as session:
            response = session.get(
                url,
                timeout=app_settings.HTTP_TIMEOUT_SECONDS,
                headers={"Accept": "application/json"},
            )
            response.raise_for_status()
            document = response.json()
    except RedirectRefused:
        raise ProviderMisconfigured(f"{what}_redirected") from None
    except (requests.RequestException, ValueError):
        raise ProviderMisconfigured(f"{what}_unavailable", transient=True) from None
    if not isinstance(document, dict):
        raise ProviderMisconfigured(f"{what}_invalid")
    return document


def cache_key(kind, url):
    return f"integrations:oauth:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


def _cached(key):
    """A cached provider document, or ``None``: with the cache down, a miss
    (the document is fetched again; the outage is logged once)."""
    try:
        with cache_guard():
            return cache.get(key)
    except CacheUnavailable:
        return None


def _keep(key, document):
    if not app_settings.DISCOVERY_CACHE_SECONDS:
        return
    try:
        with cache_guard():
            cache.set(key, document, app_settings.DISCOVERY_CACHE_SECONDS)
    except CacheUnavailable:
        pass  # fetched again next time


def discovery_document(url, *, refresh=False):
    """The OpenID Connect discovery document at ``url`` (cached)."""
    check_endpoint_url(url, "discovery_url")
    key = cache_key("discovery", url)
    document = None if refresh else _cached(key)
    if document is None:
        document = _http_get_json(url, "discovery")
        issuer = document.get("issuer")
        # OIDC Discovery §4.3: the issuer is the URL the document was fetched
        # from, minus the well-known suffix. Multi-tenant issuers ("{tenantid}")
        # are checked per ID token instead.
        if url.endswith(_WELL_KNOWN) and isinstance(issuer, str) and "{" not in issuer:
            if issuer.rstrip("/") != url[: -len(_WELL_KNOWN)].rstrip("/"):
                raise ProviderMisconfigured("discovery_issuer_mismatch")
        _keep(key, document)
    return document


def provider_url(provider, name, url_values=None):
    """The provider's URL field ``name`` with its ``{placeholders}`` filled
    (:func:`provider_urls.resolve`: provider-level values, and the
    connection's ``url_values``) and checked; ``""`` when the field is blank.
    A value missing or unsafe is :class:`ProviderMisconfigured` (its code
    names the placeholder, never the value)."""
    try:
        url = provider_urls.resolve(getattr(provider, name) or "", provider, url_values)
    except provider_urls.URLTemplateError as exc:
        raise ProviderMisconfigured(exc.code) from None
    return check_endpoint_url(url, name)


def metadata_url(provider, key, url_values=None):
    """A URL the provider's metadata holds (``refresh_url``), filled and checked
    as :func:`provider_url` does; ``""`` when absent."""
    url = provider_quirks.refresh_url(provider) if key == "refresh_url" else ""
    try:
        url = provider_urls.resolve(url, provider, url_values)
    except provider_urls.URLTemplateError as exc:
        raise ProviderMisconfigured(exc.code) from None
    return check_endpoint_url(url, key)


def endpoints(provider, url_values=None):
    """The provider's endpoints: its own fields first, then its discovery
    document. ``url_values`` are a connection's values for the placeholders
    its users fill in (a Shopify shop)."""
    discovery_url = provider_url(provider, "discovery_url", url_values)
    document = discovery_document(discovery_url) if discovery_url else {}

    def own(name):
        return provider_url(provider, name, url_values)

    def pick(own, name):
        value = own or document.get(name) or ""
        return value if isinstance(value, str) else ""

    algs = document.get("id_token_signing_alg_values_supported") or ()
    iss_supported = provider.metadata.get(_ISS_SUPPORTED, document.get(_ISS_SUPPORTED))
    scopes_supported = document.get("scopes_supported")
    resolved = Endpoints(
        authorize_url=pick(own("authorize_url"), "authorization_endpoint"),
        token_url=pick(own("token_url"), "token_endpoint"),
        revocation_url=pick(own("revocation_url"), "revocation_endpoint"),
        userinfo_url=pick(own("userinfo_url"), "userinfo_endpoint"),
        jwks_uri=pick(provider.metadata.get("jwks_uri"), "jwks_uri"),
        issuer=pick(provider.metadata.get("issuer"), "issuer"),
        id_token_algs=tuple(a for a in algs if isinstance(a, str)),
        iss_parameter_supported=iss_supported is True,
        scopes_supported=(
            tuple(s for s in scopes_supported if isinstance(s, str))
            if isinstance(scopes_supported, list)
            else None
        ),
        refresh_url=metadata_url(provider, "refresh_url", url_values),
    )
    for name in ("authorize_url", "token_url", "revocation_url", "userinfo_url", "jwks_uri"):
        check_endpoint_url(getattr(resolved, name), name)
    return resolved


# -- the Authlib client -------------------------------------------------------------


class ProviderClient(NoRedirects, OAuth2Session):
    """Authlib's requests session, refusing redirects (see :mod:`.provider_http`):
    the token, refresh, revocation and userinfo requests all go through it.

    ``client_id_param`` is the provider's name for the client id (TikTok's
    ``client_key``) in the requests' bodies; ``json_token_requests`` sends the
    token endpoint's requests (code exchange, refresh) as a JSON object
    (Notion). Both are applied to the request as sent, after the client
    authentication (Authlib 1.9 has no hook on the code exchange's request)."""

    client_id_param = "client_id"
    json_token_requests = False

    def client_auth(self, auth_method):
        inner = super().client_auth(auth_method)
        if self.client_id_param == "client_id":
            return inner
        return RewrittenBody(inner, client_id_param=self.client_id_param)

    def token_request_auth(self):
        """The client authentication of a token endpoint request."""
        inner = OAuth2Session.client_auth(self, self.token_endpoint_auth_method)
        if self.client_id_param == "client_id" and not self.json_token_requests:
            return inner
        return RewrittenBody(
            inner, client_id_param=self.client_id_param, as_json=self.json_token_requests
        )


class RewrittenBody(requests.auth.AuthBase):
    """A requests auth: the client authentication ``inner``, then the form body
    rewritten the provider's way (the client id renamed; the whole as JSON)."""

    def __init__(self, inner, *, client_id_param="client_id", as_json=False):
        self.inner = inner
        self.client_id_param = client_id_param
        self.as_json = as_json

    def __call__(self, request):
        request = self.inner(request)
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        fields = parse_qsl(body or "", keep_blank_values=True)
        if self.client_id_param != "client_id":
            fields = [
                (self.client_id_param if name == "client_id" else name, value)
                for name, value in fields
            ]
        if self.as_json:
            body = json.dumps(dict(fields))
            request.headers["Content-Type"] = "application/json"
        else:
            body = urlencode(fields)
        request.body = body.encode("utf-8")
        request.headers["Content-Length"] = str(len(request.body))
        return request


def rename_client_id(url, name):
    """The authorization ``url`` with its ``client_id`` parameter called ``name``."""
    if name == "client_id":
        return url
    parts = urlsplit(url)
    query = [
        (name if key == "client_id" else key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def split_supported_scopes(scopes, ends):
    """``(asked, left_out)``: the scopes to ask for, and those left out because the
    provider's discovery document does not list them in ``scopes_supported``.

    A preset asks for the scopes most providers know (``offline_access`` for a
    refresh token), but a provider may answer ``invalid_scope`` to one it does not
    support (django-oauth-toolkit does), failing the whole connect. When discovery
    does not say which scopes it supports, every scope is asked for.
    """
    if ends.scopes_supported is None:
        return list(scopes), []
    supported = set(ends.scopes_supported)
    return [s for s in scopes if s in supported], [s for s in scopes if s not in supported]


def uses_pkce(provider):
    """S256 is sent unless the provider says it does not support PKCE."""
    return provider.pkce != Provider.PKCE.UNSUPPORTED


@sensitive_variables()
def build_client(provider, *, client_secret=None, redirect_uri=None, scope=None):
    """An Authlib ``OAuth2Session`` for ``provider``, authenticating with
    ``client_secret`` (a :class:`Secret` the caller read, audited, for its
    purpose); without one it carries no secret (an authorization URL needs none).
    """
    client_secret = client_secret.reveal() if client_secret else None
    method = provider.metadata.get("token_endpoint_auth_method") or (
        "client_secret_basic" if client_secret else "none"
    )
    try:
        shape = shape_of(provider.metadata)
    except TokenAnswerError as exc:
        raise ProviderMisconfigured(exc.code) from None
    client = ProviderClient(
        client_id=provider.client_id,
        client_secret=client_secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge_method="S256" if uses_pkce(provider) else None,
        default_timeout=app_settings.HTTP_TIMEOUT_SECONDS,
    )
    client.client_id_param = provider_quirks.client_id_param(provider)
    client.json_token_requests = provider_quirks.token_request_format(provider) == "json"
    if shape.reshapes:
        # The provider's token answers (code exchange and refresh) made plain
        # RFC 6749 JSON before Authlib reads them (:mod:`.token_answers`).
        hook = compliance_hook(shape)
        client.register_compliance_hook("access_token_response", hook)
        client.register_compliance_hook("refresh_token_response", hook)
    return client


def authorize_params(provider):
    """Extra authorization parameters from the provider's metadata (e.g. Google's
    ``access_type=offline``), without the ones the flow itself sets."""
    params = provider.metadata.get("authorize_params") or {}
    if not isinstance(params, dict):
        return {}
    return {
        key: value
        for key, value in params.items()
        if isinstance(key, str) and isinstance(value, str) and key not in _RESERVED_AUTHORIZE_PARAMS
    }


def check_response_issuer(params, ends):
    """RFC 9207 §2.4, the mix-up defence: an ``iss`` in the authorization
    response must name the provider we sent the user to, and a response with a
    code from a provider that says it always sends one
    (``authorization_response_iss_parameter_supported``) must have one.

    An error response without ``iss`` is let through to its friendly page:
    nothing is exchanged for it, and django-oauth-toolkit, for one, leaves
    ``iss`` out of its error responses."""
    if "iss" not in params:
        if ends.iss_parameter_supported and "error" not in params:
            raise AuthorizationDenied("issuer_missing")
        return
    if ends.issuer and params["iss"] != ends.issuer:
        raise AuthorizationDenied("issuer_mismatch")


def _claim_error(name):
    code = f"claim_{name}_invalid"
    code = code if _CODE_RE.fullmatch(code) else "claim_invalid"
    return lambda _message: IdentityError(code)


def _claim_text(claims, name, max_length):
    """The claim ``name`` as text (an integer id becomes its digits); ``""`` when
    absent; :class:`IdentityError` when it is not clean, bounded text."""
    value = claims.get(name)
    if value is None or value == "":
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return checked_text(value, name, max_length=max_length, error=_claim_error(name))


def public_claims(claims):
    """The identity claims worth keeping in an integration's metadata."""
    keep = ("sub", "id", "email", "email_verified", "name", "preferred_username", "login", "iss")
    kept = {}
    for name in keep:
        value = claims.get(name)
        if isinstance(value, str):
            checked_text(value, name, max_length=CLAIM_MAX_LENGTH, error=_claim_error(name))
        if isinstance(value, (str, int, bool)):
            kept[name] = value
    return kept


def _path_text(document, path, max_length, *, strict=False):
    """The value at ``path`` (:func:`provider_quirks.lookup`) as checked text;
    ``""`` when absent, or (unless ``strict``: an account id must be text or a
    number) when not a string or number."""
    value = provider_quirks.lookup(document, path)
    if not strict and (not isinstance(value, (str, int)) or isinstance(value, bool)):
        return ""
    return _claim_text({path: value}, path, max_length)


def account_from_claims(provider, claims):
    """``(external account id, label)`` from the fields the provider's metadata
    names (``account``: ``id`` and ``label`` as keys or dotted JSON paths such
    as ``team.id`` or ``data.0.login``; or the older ``account_id_field`` and
    ``account_label_fields``). Every value used is checked
    (:func:`provider_data.checked_text`)."""
    _source, ids, labels = provider_quirks.account_rule(provider)
    external_id = ""
    for path in ids:
        external_id = _path_text(claims, path, ACCOUNT_ID_MAX_LENGTH, strict=True)
        if external_id:
            break
    label = ""
    for path in labels:
        label = _path_text(claims, path, CLAIM_MAX_LENGTH)
        if label:
            break
    return external_id, label[:255]


@sensitive_variables()
def identify(client, provider, ends, token, *, nonce=None):
    """Claims about the connected account: a verified ID token, then userinfo."""
    claims: dict[str, Any] = {}
    id_token = token.get("id_token")
    if isinstance(id_token, str) and id_token:
        verified = verify_id_token(
            id_token,
            provider,
            ends,
            client_secret=client.client_secret,
            nonce=nonce,
            required=not ends.userinfo_url,
        )
        claims.update(verified or {})
    elif nonce and not ends.userinfo_url:
        raise IdentityError("id_token_missing")
    if ends.userinfo_url:
        headers, params = _userinfo_placement(provider, token.get("access_token"))
        try:
            response = client.get(
                ends.userinfo_url,
                withhold_token=True,
                headers={**headers, "Accept": "application/json"},
                params=params,
            )
            response.raise_for_status()
            info = response.json()
        except RedirectRefused:
            raise IdentityError("userinfo_redirected") from None
        except (requests.RequestException, ValueError):
            raise IdentityError("userinfo_failed") from None
        if not isinstance(info, dict):
            raise IdentityError("userinfo_failed")
        # OIDC Core §5.3.2: userinfo must be about the ID token's subject.
        if "sub" in claims and "sub" in info and str(info["sub"]) != str(claims["sub"]):
            raise IdentityError("userinfo_subject_mismatch")
        claims.update(info)
    return claims


@sensitive_variables()
def _userinfo_placement(provider, access_token):
    """``(headers, query parameters)`` carrying the access token to userinfo:
    as the provider's ``access_token_placement`` says (Mailchimp's
    ``Authorization: OAuth``, Shopify's ``X-Shopify-Access-Token``), else
    ``Authorization: Bearer``."""
    rule = provider_quirks.access_token_placement(provider)
    if rule is None:
        return {"Authorization": f"Bearer {access_token}"}, None
    if rule["in"] == "query":
        # urllib3 logs URLs: the log filter masks this parameter's value.
        register_query_parameter(rule["name"])
        return {}, {rule["name"]: access_token}
    return {rule["name"]: f"{rule['prefix']}{access_token}"}, None


def _jwks(uri, *, refresh=False):
    key = cache_key("jwks", uri)
    document = None if refresh else _cached(key)
    if document is None:
        document = _http_get_json(uri, "jwks")
        _keep(key, document)
    try:
        return KeySet.import_key_set(document)
    except (JoseError, ValueError, TypeError, KeyError):
        raise IdentityError("jwks_invalid") from None


def _expected_issuer(ends, claims):
    issuer = ends.issuer
    if "{tenantid}" in issuer and isinstance(claims.get("tid"), str):
        issuer = issuer.replace("{tenantid}", claims["tid"])
    return issuer


@sensitive_variables()
def verify_id_token(id_token, provider, ends, *, client_secret=None, nonce=None, required=True):
    """The claims of a verified ID token; ``None`` when it cannot be verified
    and is not ``required`` (userinfo identifies the account instead)."""
    try:
        header = extract_compact(id_token.encode("ascii")).headers()
    except (JoseError, ValueError, UnicodeError):
        raise IdentityError("id_token_invalid") from None
    alg = header.get("alg")
    if ends.id_token_algs and alg not in ends.id_token_algs:
        raise IdentityError("id_token_alg_unexpected")
    if alg in _SYMMETRIC_ALGS and client_secret:
        key = OctKey.import_key(client_secret)
    elif alg in _ASYMMETRIC_ALGS and ends.jwks_uri:
        key = _jwks(ends.jwks_uri)
        kid = header.get("kid")
        if kid and not any(k.kid == kid for k in key):
            key = _jwks(ends.jwks_uri, refresh=True)  # the provider rotated its keys
    elif required:
        raise IdentityError("id_token_unverifiable")
    else:
        return None
    try:
        claims = jwt.decode(id_token, key, algorithms=[alg]).claims
    except (JoseError, ValueError, TypeError):
        raise IdentityError("id_token_invalid") from None

    options: dict[str, Any] = {
        "sub": {"essential": True},
        "exp": {"essential": True},
        "aud": {"essential": True, "value": provider.client_id},
    }
    issuer = _expected_issuer(ends, claims)
    if issuer:
        options["iss"] = {"essential": True, "value": issuer}
    if nonce:
        options["nonce"] = {"essential": True, "value": nonce}
    try:
        jwt.JWTClaimsRegistry(leeway=_ID_TOKEN_LEEWAY, **options).validate(claims)
    except JoseError as exc:
        claim = getattr(exc, "claim", None) or "claims"
        raise IdentityError(f"id_token_{error_code(claim)}_invalid") from None
    return claims


# -- refresh and revocation ---------------------------------------------------------


@sensitive_variables()
def refresh_token_request(provider, refresh_token, *, client_secret=None, url_values=None):
    """The provider's token response to a refresh (a dict); raises
    :class:`OAuthFlowError` (``code`` ``invalid_grant``, ``network_error``…).
    ``url_values``: the connection's values for the URL placeholders."""
    ends = endpoints(provider, url_values)
    url = ends.refresh_url or ends.token_url
    if not url:
        raise ProviderMisconfigured("token_url_missing")
    client = build_client(provider, client_secret=client_secret)
    client.register_compliance_hook("refresh_token_response", _refuse_unprocessed)
    try:
        return dict(
            client.refresh_token(url, refresh_token=refresh_token, auth=client.token_request_auth())
        )
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise request_failure(exc) from None


@sensitive_variables()
def revoke_token_request(provider, token, token_type_hint, *, revocation_url, client_secret=None):
    """Revoke one token at the provider (RFC 7009 §2); raises :class:`OAuthFlowError`."""
    client = build_client(provider, client_secret=client_secret)
    try:
        response = client.revoke_token(revocation_url, token=token, token_type_hint=token_type_hint)
    except Exception as exc:  # noqa: BLE001
        raise request_failure(exc) from None
    if response.status_code != 200:
        code = f"http_{response.status_code}"
        try:
            body = response.json()
            if isinstance(body, dict) and "error" in body:
                code = error_code(body["error"])
        except ValueError:
            pass
        raise ProviderRequestFailed(code, transient=response.status_code >= 500)

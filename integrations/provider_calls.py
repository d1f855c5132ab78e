"""Calling a provider's API with a stored secret: ``requests`` sessions and ``httpx`` auth.

One *policy* per connection decides what a request carries; two thin adapters
put it on the wire:

* :class:`ProviderCallSession`, a ``requests.Session`` (redirects refused, as
  on every provider request: see :mod:`provider_http`);
* :class:`ProviderCallAuth`, an ``httpx.Auth`` for ``httpx.Client`` and
  ``httpx.AsyncClient`` (the async flow runs the policy in Django's
  thread-sensitive executor, so the ORM is never called from the event loop).

For an integration the policy asks :func:`get_valid_token` before every
request (a token about to expire is refreshed first, exactly once across
workers). A 401 answer means the provider no longer accepts the token:
:func:`refresh_rejected` refreshes once (or takes the token another
worker already refreshed) and the request is sent once more; whatever the retry
answers is the answer. A credential (API key, basic, bearer) cannot be
refreshed, so its 401 is returned as it is. An OAuth 1.0a integration's requests
are signed instead (:class:`SignedPlacement`, Authlib's signer with the access
token and its secret); nothing is refreshed and its 401 is returned as it is.

Every request is one hand-out of the secret, audited as ``use`` with the
purpose: a retry after a 401 is a second request and a second event. The secret
is set on each outgoing request only, never kept on the session or the auth
object; the last :class:`Secret` is held while they live, so the log filter
redacts the value wherever it appears (an API key placed in the query string
is in the URL that ``urllib3`` and ``httpx`` log).
"""

import base64
from urllib.parse import urlsplit

import httpx
import requests
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.http.request import validate_host
from django.views.decorators.debug import sensitive_variables

from . import audit, credential_store, oauth1, provider_quirks, provider_urls
from .models import AuditEvent, Credential, Integration
from .provider_http import NoRedirects
from .redaction import redact
from .sealed.redaction import mask_query_parameters, register_query_parameter
from .token_answers import API_BASE_URL, KEPT_KEY, checked_base_url
from .token_errors import ReauthorizationRequired
from .token_reading import get_signing_credentials, get_valid_token
from .token_refresh import refresh_rejected
from .token_store import is_oauth1, read_access_token

UNAUTHORIZED = 401
# allowed_hosts="provider": the host of the provider's base_url.
PROVIDER_HOSTS = "provider"

# Where an API key goes when the provider's metadata does not say.
DEFAULT_API_KEY_PLACEMENT = {"in": "header", "name": "Authorization", "prefix": "Bearer "}
_PLACES = ("header", "query")


class Placement:
    """What a request must carry for one secret: headers and query parameters.

    Its ``repr`` names the header and parameter names only.
    """

    __slots__ = ("headers", "params", "value")

    def __init__(self, value, *, headers=None, params=None):
        self.value = value  # the plain secret, to recognise a rejected token
        self.headers = headers or {}
        self.params = params or {}
        for name in self.params:
            # The URL carries the secret, and urllib3/httpx log URLs: the log
            # filter masks this parameter's value, however short it is.
            register_query_parameter(name)

    def __repr__(self):
        return f"Placement(headers={sorted(self.headers)!r}, params={sorted(self.params)!r})"

    def prepare(self, request):
        """Put the secret on a ``requests.PreparedRequest`` (a copy is returned)."""
        request = request.copy()
        request.headers.update(self.headers)
        if self.params:
            request.prepare_url(request.url, self.params)
        return request

    def apply(self, request):
        """Put the secret on an ``httpx.Request`` (in place: httpx's auth flow
        yields the same request), replacing what a previous attempt set."""
        request.headers.update(self.headers)
        for name, value in self.params.items():
            request.url = request.url.copy_set_param(name, value)
        return request


class SignedPlacement:
    """An OAuth 1.0a signature (RFC 5849) on each request, by Authlib's signer
    (:func:`integrations.oauth1.signing_auth`): a fresh nonce and timestamp per
    request, over the method, URL, query and form body. Its ``repr`` names the
    signature method only."""

    __slots__ = ("auth", "value")
    params: dict = {}  # the secret is never in the URL

    def __init__(self, value, auth):
        self.value = value
        self.auth = auth

    def __repr__(self):
        return f"SignedPlacement({self.auth.signature_method})"

    @sensitive_variables()
    def prepare(self, request):
        """Sign a copy of a ``requests.PreparedRequest``."""
        return self.auth(request.copy())

    @sensitive_variables()
    def apply(self, request):
        """A signed copy of an ``httpx.Request`` (the body was read first)."""
        headers = dict(request.headers)
        headers.pop("authorization", None)
        url, headers, body = self.auth.prepare(
            request.method, str(request.url), headers, request.content
        )
        if isinstance(body, str):
            body = body.encode("utf-8")
        signed = httpx.Request(request.method, url, headers=headers, content=body)
        signed.extensions = request.extensions
        return signed


class HostNotAllowed(Exception):
    """A request to a host the session's ``allowed_hosts`` does not list: refused
    before it is sent (and before the secret is read, for an integration's token),
    audited as a denied ``use``."""

    code = "host_not_allowed"

    def __init__(self, host):
        super().__init__(f"requests to host {host!r} are not allowed by this session")
        self.host = host


def checked_allowed_hosts(allowed_hosts):
    """``allowed_hosts`` as given to a session: ``None`` (any host),
    :data:`PROVIDER_HOSTS`, or host names (``".example.com"`` for a domain and its
    subdomains, as in Django's ``ALLOWED_HOSTS``), lower-cased."""
    if allowed_hosts is None or allowed_hosts == PROVIDER_HOSTS:
        return allowed_hosts
    if isinstance(allowed_hosts, str) or not all(isinstance(h, str) for h in allowed_hosts):
        raise TypeError("allowed_hosts must be None, 'provider' or a list of host names")
    return tuple(host.lower() for host in allowed_hosts)


def provider_base_url(provider, url_values=None):
    """The provider's ``base_url`` with its ``{placeholders}`` filled (the
    provider's values and a connection's ``url_values``); ``""`` when it has
    none, ``None`` when a value is missing or unsafe (then no host is allowed)."""
    if provider is None:
        return ""
    try:
        return provider_urls.resolve(provider.base_url or "", provider, url_values)
    except provider_urls.URLTemplateError:
        return None


def api_base_url(integration):
    """The base URL of ``integration``'s calls: the ``api_base_url`` kept from
    its token answer (the provider's ``token_response.keep``, e.g. Salesforce's
    ``instance_url``), else its provider's ``base_url`` with the placeholders
    filled (the connection's own ``url_values``: a Shopify shop), ``""`` if
    neither, without a trailing slash. A kept value that is not a safe URL
    (edited by hand) is ImproperlyConfigured; a placeholder value that is
    missing or unsafe gives ``""`` (no host is then allowed)."""
    kept = (integration.metadata or {}).get(KEPT_KEY)
    value = kept.get(API_BASE_URL) if isinstance(kept, dict) else None
    if value:
        try:
            return checked_base_url(value).rstrip("/")
        except ValueError:
            raise ImproperlyConfigured(
                f"integration {integration.pk}: metadata {KEPT_KEY}.{API_BASE_URL} "
                "must be an https URL"
            ) from None
    resolved = provider_base_url(integration.provider, provider_urls.connection_values(integration))
    return (resolved or "").rstrip("/")


def _allowed(allowed_hosts, provider, base_url=None):
    if allowed_hosts != PROVIDER_HOSTS:
        return allowed_hosts
    if base_url is None:
        base_url = provider_base_url(provider)
    if base_url is None or (not base_url and provider is not None and provider.base_url):
        return ()  # placeholders without a sound value: no host is allowed
    host = urlsplit(base_url).hostname if base_url else None
    if not host:
        raise ImproperlyConfigured(
            "allowed_hosts='provider' needs the provider's base_url"
            + (f" (provider {provider.slug!r} has none)" if provider is not None else "")
        )
    return (host.lower(),)


def refuse_other_hosts(allowed_hosts, provider, url, *, actor, target, purpose, base_url=None):
    """Raise :class:`HostNotAllowed` (audited) unless ``url``'s host is allowed.
    ``base_url`` (a connection's own, :func:`api_base_url`) replaces the
    provider's ``base_url`` (its placeholders filled with the provider's
    values) for ``allowed_hosts="provider"``."""
    if allowed_hosts is None:
        return
    try:
        host = (urlsplit(str(url)).hostname or "").lower()
    except ValueError:
        host = ""
    if host and validate_host(host, _allowed(allowed_hosts, provider, base_url)):
        return
    audit.record(
        AuditEvent.Action.USE,
        actor=actor,
        target=target,
        purpose=purpose,
        outcome=AuditEvent.Outcome.DENIED,
        detail=HostNotAllowed.code,
    )
    raise HostNotAllowed(host)


def authorization(scheme, value):
    return Placement(value, headers={"Authorization": f"{scheme} {value}"})


class IntegrationTokens:
    """The policy for an integration's access token: the valid token now, and
    one forced refresh after the provider rejected it."""

    refreshable = True

    def __init__(self, integration, *, purpose, actor=None, allowed_hosts=None):
        if not purpose:
            raise ValueError("reading a secret needs a stated purpose")
        self.integration_id = getattr(integration, "pk", integration)
        self.purpose = purpose
        self.actor = actor
        self.allowed_hosts = checked_allowed_hosts(allowed_hosts)
        self._held = None  # the last Secret handed out, so logs redact it meanwhile

    def __repr__(self):
        return f"IntegrationTokens(integration={self.integration_id}, purpose={self.purpose!r})"

    def _row(self):
        # A fresh instance per request: a session may be shared by threads.
        return Integration.objects.select_related("provider").get(pk=self.integration_id)

    def _placement(self, integration, secret):
        self._held = secret
        rule = provider_quirks.access_token_placement(integration.provider)
        if rule is not None:  # metadata access_token_placement (Shopify's header)
            if rule["in"] == "query":
                return Placement(secret.reveal(), params={rule["name"]: secret.reveal()})
            return Placement(
                secret.reveal(), headers={rule["name"]: f"{rule['prefix']}{secret.reveal()}"}
            )
        token_type = integration.token_type or "Bearer"
        scheme = "Bearer" if token_type.lower() == "bearer" else token_type
        return authorization(scheme, secret.reveal())

    @sensitive_variables()
    def _signed(self, integration):
        token, token_secret = get_signing_credentials(
            integration, purpose=self.purpose, actor=self.actor
        )
        self._held = (token, token_secret)
        auth = oauth1.signing_auth(
            integration.provider,
            token.reveal(),
            token_secret.reveal(),
            client_secret=credential_store.read_client_secret(
                integration.provider, purpose=self.purpose, actor=self.actor
            ),
            url_values=provider_urls.connection_values(integration),
        )
        return SignedPlacement(token.reveal(), auth)

    def _refuse_insecure(self, integration, url):
        """A PLAINTEXT signature would put the secrets themselves on a URL that
        is not HTTPS: refused and audited before any secret is read."""
        try:
            oauth1.check_signed_request_url(integration.provider.signature_method, url)
        except oauth1.InsecureRequestRefused as exc:
            audit.record(
                AuditEvent.Action.USE,
                actor=self.actor,
                target=integration,
                purpose=self.purpose,
                outcome=AuditEvent.Outcome.DENIED,
                detail=exc.code,
            )
            raise

    @sensitive_variables()
    def current(self, url=None):
        """What the next request to ``url`` must carry."""
        integration = self._row()
        if url is not None:
            refuse_other_hosts(
                self.allowed_hosts,
                integration.provider,
                url,
                actor=self.actor,
                target=integration,
                purpose=self.purpose,
                base_url=(
                    api_base_url(integration) if self.allowed_hosts == PROVIDER_HOSTS else None
                ),
            )
        if is_oauth1(integration):
            if url is not None:
                self._refuse_insecure(integration, url)
            return self._signed(integration)
        secret = get_valid_token(integration, purpose=self.purpose, actor=self.actor)
        return self._placement(integration, secret)

    @sensitive_variables()
    def after_unauthorized(self, rejected):
        integration = self._row()
        if is_oauth1(integration):
            return None  # nothing to refresh: the 401 is the answer
        refresh_rejected(integration, rejected.value, actor=self.actor)
        secret = read_access_token(integration, purpose=self.purpose, actor=self.actor)
        if secret is None:
            raise ReauthorizationRequired(integration.status, status=integration.status)
        return self._placement(integration, secret)

    async def acurrent(self, url=None):
        return await sync_to_async(self.current, thread_sensitive=True)(url)

    async def aafter_unauthorized(self, rejected):
        return await sync_to_async(self.after_unauthorized, thread_sensitive=True)(rejected)


def api_key_placement(provider):
    """Where an API key goes for ``provider``: its ``metadata["api_key"]``
    (``{"in": "header"|"query", "name": ..., "prefix": ...}``) or the default,
    ``Authorization: Bearer <key>``. A malformed setting is ImproperlyConfigured."""
    configured = (provider.metadata or {}).get("api_key") if provider is not None else None
    if configured is None:
        return DEFAULT_API_KEY_PLACEMENT
    where = f"provider {provider.slug!r}: metadata api_key"
    if not isinstance(configured, dict):
        raise ImproperlyConfigured(f"{where} must be an object")
    place, name = configured.get("in", "header"), configured.get("name")
    prefix = configured.get("prefix", "")
    if place not in _PLACES:
        raise ImproperlyConfigured(f"{where}: 'in' must be one of {', '.join(_PLACES)}")
    if not isinstance(name, str) or not name.strip() or not isinstance(prefix, str):
        raise ImproperlyConfigured(f"{where}: 'name' must be a non-empty string, 'prefix' a string")
    return {"in": place, "name": name.strip(), "prefix": prefix}


@sensitive_variables()
def credential_placement(credential, data):
    """The placement of a credential's secret ``data`` by its type."""
    kind = credential.credential_type
    if kind == Credential.Type.BEARER:
        return authorization("Bearer", data["token"])
    if kind == Credential.Type.BASIC:
        pair = f"{data['username']}:{data['password']}".encode()
        return authorization("Basic", base64.b64encode(pair).decode("ascii"))
    if kind == Credential.Type.API_KEY:
        rule, key = api_key_placement(credential.provider), data["api_key"]
        if rule["in"] == "query":
            return Placement(key, params={rule["name"]: key})
        return Placement(key, headers={rule["name"]: f"{rule['prefix']}{key}"})
    raise ValueError(
        f"a {kind} credential has no standard placement; "
        "read_secret() it and build the request yourself"
    )


class CredentialSecret:
    """The policy for a credential: its secret on every request; nothing to refresh."""

    refreshable = False

    def __init__(self, user, credential, *, purpose, allowed_hosts=None):
        if not purpose:
            raise ValueError("reading a secret needs a stated purpose")
        self.user = user
        self.credential_id = getattr(credential, "pk", credential)
        self.purpose = purpose
        self.allowed_hosts = checked_allowed_hosts(allowed_hosts)
        self._held = None

    def __repr__(self):
        return f"CredentialSecret(credential={self.credential_id}, purpose={self.purpose!r})"

    @sensitive_variables()
    def current(self, url=None):
        # Read first: reading another user's credential is what gets audited
        # (reveal_denied); the host is checked before anything is sent.
        secret = credential_store.read_secret(self.user, self.credential_id, purpose=self.purpose)
        self._held = secret
        credential = credential_store.get_credential(self.user, self.credential_id)
        if url is not None:
            refuse_other_hosts(
                self.allowed_hosts,
                credential.provider,
                url,
                actor=self.user,
                target=credential,
                purpose=self.purpose,
            )
        return credential_placement(credential, secret.reveal())

    def after_unauthorized(self, rejected):
        return None

    async def acurrent(self, url=None):
        return await sync_to_async(self.current, thread_sensitive=True)(url)

    async def aafter_unauthorized(self, rejected):
        return None


def _without_secret(exc, placement):
    """``exc`` as raised, or, when the secret is in the URL (which ``requests``
    quotes in connection errors), the same exception type with the message
    redacted (the secret's parameter masked by name, whatever the value's
    length) and no chained cause that still quotes it."""
    if not placement.params:
        return exc
    return type(exc)(redact(mask_query_parameters(str(exc), placement.params)))


class ProviderCallSession(NoRedirects, requests.Session):
    """A ``requests.Session`` whose every request carries the policy's secret.

    Redirects are never followed (a 3xx raises ``RedirectRefused`` from
    ``request``): following one would re-send the secret elsewhere.
    """

    def __init__(self, policy):
        super().__init__()
        self.policy = policy

    def __repr__(self):
        return f"<{type(self).__name__} {self.policy!r}>"

    @sensitive_variables()
    def send(self, request, **kwargs):
        kwargs["allow_redirects"] = False
        placement = self.policy.current(request.url)
        response = self._send(request, placement, kwargs)
        if response.status_code != UNAUTHORIZED or not self.policy.refreshable:
            return response
        if request.body is not None and not isinstance(request.body, (bytes, str)):
            return response  # a streamed body cannot be sent twice
        retry = self.policy.after_unauthorized(placement)
        if retry is None:  # nothing to refresh (OAuth 1.0a): the 401 is the answer
            return response
        response.close()
        return self._send(request, retry, kwargs)

    @sensitive_variables()
    def _send(self, request, placement, kwargs):
        try:
            return super().send(placement.prepare(request), **kwargs)
        except requests.RequestException as exc:
            cleaned = _without_secret(exc, placement)
            if cleaned is exc:
                raise
            raise cleaned from None


class ProviderCallAuth(httpx.Auth):
    """An ``httpx.Auth`` that puts the policy's secret on every request, with
    one refresh and one retry after a 401 (the body is read first, to resend)."""

    requires_request_body = True

    def __init__(self, policy):
        self.policy = policy

    def __repr__(self):
        return f"<{type(self).__name__} {self.policy!r}>"

    def sync_auth_flow(self, request):
        request.read()
        placement = self.policy.current(str(request.url))
        response = yield placement.apply(request)
        if response.status_code == UNAUTHORIZED and self.policy.refreshable:
            retry = self.policy.after_unauthorized(placement)
            if retry is not None:
                yield retry.apply(request)

    async def async_auth_flow(self, request):
        await request.aread()
        placement = await self.policy.acurrent(str(request.url))
        response = yield placement.apply(request)
        if response.status_code == UNAUTHORIZED and self.policy.refreshable:
            retry = await self.policy.aafter_unauthorized(placement)
            if retry is not None:
                yield retry.apply(request)

"""Connect sessions: a one-time URL that runs a provider's connect flow for an
API user, from a browser that has no session of this site (a single-page or a
mobile app's browser tab or popup).

``POST /api/connect-sessions/`` calls :func:`create`; the browser opening the
URL calls :func:`claim` (the views in :mod:`integrations.connect_views`). The URL's
token is random (256 bits) and only its SHA-256 digest is stored. It is single
use: :func:`claim` marks it used with one conditional UPDATE, so two requests
racing with the same URL (any processes, any database) get exactly one flow.
The flow then runs as the session's user, without logging anyone in: the
pending OAuth entry in the browser's (anonymous) Django session carries the
connect session's id, and the callback resolves the user from it.

Where the result goes is checked before anything starts: ``return_url``'s
origin and a popup's opener origin must be listed, exactly (scheme, host and
port), in ``INTEGRATIONS["CONNECT_ALLOWED_ORIGINS"]``. Every refusal (unknown,
replayed, expired, another user's, a wrong origin) is audited as
``connect_refused`` with its code; nothing here ever sees a provider token.
"""

import hashlib
import secrets
import uuid
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit, provider_urls, ratelimit
from .conf import app_settings
from .host_metadata import validate_host_metadata
from .models import AuditEvent, ConnectSession, Integration, Provider

Action = AuditEvent.Action
Outcome = ConnectSession.Outcome

MAX_RETURN_URL_LENGTH = 2000
_DEFAULT_PORTS = {"http": 80, "https": 443}


class ConnectSessionError(Exception):
    """A request for or a use of a connect session that is refused; ``code`` is
    a stable, non-secret reason (``origin_not_allowed``, ``replayed``...)."""

    def __init__(self, code, message=""):
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class RateLimited(ConnectSessionError):
    """Too many refused one-time URLs from one client address in the window
    (``integrations_connect_refusals``): answered with a 429, not audited."""

    def __init__(self, retry_after):
        super().__init__("rate_limited")
        self.retry_after = retry_after


def count_refusal(ip_address):
    """Count one refusal for the client at ``ip_address``; :class:`RateLimited`
    beyond the rate, so that an anonymous flood of bad URLs writes a bounded
    number of audit rows. The cache down refuses (a 503), as every limit does."""
    usage = ratelimit.hit_key(ratelimit.CONNECT_REFUSALS_SCOPE, f"ip:{ip_address or ''}")
    if not usage.allowed:
        raise RateLimited(usage.retry_after)


# -- origins ------------------------------------------------------------------------


def origin_of(url):
    """``scheme://host[:port]`` of an absolute http(s) URL (default port left
    out, host lower-cased), or ``None`` for anything else: relative, another
    scheme, user info, a backslash or control character."""
    if not isinstance(url, str) or not url or len(url) > MAX_RETURN_URL_LENGTH:
        return None
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def bare_origin(value):
    """``origin_of(value)`` when ``value`` is an origin alone (a trailing "/" at
    most: no path, query or fragment), else ``None``."""
    origin = origin_of(value)
    if origin is None:
        return None
    parts = urlsplit(value)
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value or "#" in value:
        return None
    return origin


def allowed_origins():
    """The origins of ``CONNECT_ALLOWED_ORIGINS`` (an entry that is not an origin
    alone is a configuration mistake and is ignored)."""
    return {
        origin
        for origin in map(bare_origin, app_settings.CONNECT_ALLOWED_ORIGINS)
        if origin is not None
    }


def is_allowed_origin(origin):
    return bool(origin) and origin in allowed_origins()


# -- creating -----------------------------------------------------------------------


def token_digest(token):
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_host_data(metadata, tags):
    """``(metadata, tags)`` cleaned, within the limits of the integration's
    ``host_metadata`` and ``tags`` (:mod:`.metadata_fields`); ``{}``/``[]`` when
    not given. Else a :class:`ConnectSessionError` (``metadata_invalid``,
    ``tags_invalid``) whose message never quotes the value."""
    try:
        metadata, tags = validate_host_metadata(metadata=metadata, tags=tags)
    except ValidationError as exc:
        field = "metadata" if "metadata" in exc.message_dict else "tags"
        raise ConnectSessionError(f"{field}_invalid", "; ".join(exc.message_dict[field])) from None
    return metadata or {}, tags or []


def check_url_values(provider, url_values, *, integration=None):
    """The values of ``provider``'s connection-level URL placeholders, checked
    (``{}`` when none are given: the browser is asked for them). A reconnect
    without values keeps the integration's. Else a :class:`ConnectSessionError`
    (``url_values_invalid``) naming the placeholder, never quoting the value."""
    params = provider_urls.connection_params(provider)
    if url_values in (None, {}):
        if integration is not None and params:
            kept = provider_urls.connection_values(integration)
            try:
                return provider_urls.check_connection_values(provider, kept)
            except provider_urls.URLTemplateError:
                return {}  # asked for again in the browser
        return {}
    if not isinstance(url_values, dict):
        raise ConnectSessionError("url_values_invalid", _("url_values must be a JSON object."))
    unknown = sorted(name for name in url_values if name not in params)
    if unknown:
        raise ConnectSessionError(
            "url_values_invalid",
            _("url_values: %(name)s is not a value this provider asks for when connecting.")
            % {"name": str(unknown[0])[:40]},
        )
    for name, spec in params.items():
        reason = provider_urls.value_error(spec, url_values.get(name))
        if reason:
            raise ConnectSessionError(
                "url_values_invalid",
                _("url_values: %(name)s is missing or does not match its pattern.")
                % {"name": name},
            )
    return {name: url_values[name] for name in params}


def _refuse(code, *, actor, ip_address=None, session=None, provider=None, detail=""):
    target = session if session is not None else provider
    audit.record(
        Action.CONNECT_REFUSED,
        actor=actor,
        target=target,
        outcome=AuditEvent.Outcome.DENIED,
        detail=detail or code,
        ip_address=ip_address,
    )


def create(
    user,
    provider,
    *,
    mode=ConnectSession.Mode.REDIRECT,
    return_url="",
    origin="",
    metadata=None,
    tags=None,
    integration=None,
    url_values=None,
    ip_address=None,
):
    """A new connect session for ``user``; returns ``(session, token)``. The
    token goes into the one-time URL and is not stored (only its digest).

    Refused (audited, :class:`ConnectSessionError`) before anything is stored:
    a return URL or popup origin not allowed, metadata beyond the limits, an
    integration that is not ``user``'s or not at ``provider``, ``url_values``
    that do not fit the provider's connection-level URL placeholders (a Shopify
    shop). ``metadata`` and ``tags`` become the connected integration's
    ``host_metadata`` and ``tags``; ``url_values``, when not given for such a
    provider, are asked for in the browser (a reconnect reuses the
    integration's)."""
    if mode not in ConnectSession.Mode.values:
        raise ConnectSessionError("mode_invalid", _("mode must be redirect or popup."))
    if return_url:
        return_origin = origin_of(return_url)
        if not is_allowed_origin(return_origin):
            _refuse("origin_not_allowed", actor=user, provider=provider, ip_address=ip_address)
            raise ConnectSessionError(
                "origin_not_allowed",
                _("return_url is not on an allowed origin (CONNECT_ALLOWED_ORIGINS)."),
            )
    else:
        return_origin = None
    if mode == ConnectSession.Mode.POPUP:
        if origin:
            wanted = bare_origin(origin)
        else:
            wanted = return_origin
        if not is_allowed_origin(wanted):
            _refuse("origin_not_allowed", actor=user, provider=provider, ip_address=ip_address)
            raise ConnectSessionError(
                "origin_not_allowed",
                _("The popup's origin is not allowed (CONNECT_ALLOWED_ORIGINS)."),
            )
        result_origin = wanted
    else:
        if not return_url:
            raise ConnectSessionError(
                "return_url_required", _("A redirect-mode session needs a return_url.")
            )
        result_origin = return_origin
    metadata, tags = check_host_data(metadata, tags)
    if integration is not None:
        if integration.owner_id != user.pk:
            _refuse(
                "other_users_integration",
                actor=user,
                ip_address=ip_address,
                provider=provider,
            )
            raise ConnectSessionError("integration_not_found", _("No such integration."))
        if integration.provider_id != provider.pk:
            raise ConnectSessionError(
                "integration_provider_mismatch", _("The integration is at another provider.")
            )
    url_values = check_url_values(provider, url_values, integration=integration)
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        session = ConnectSession.objects.create(
            token_digest=token_digest(token),
            user=user,
            provider=provider,
            integration=integration,
            reconnect=integration is not None,
            mode=mode,
            return_url=return_url or "",
            origin=result_origin or "",
            metadata=metadata,
            tags=tags,
            url_values=url_values,
            expires_at=timezone.now() + timedelta(seconds=app_settings.CONNECT_SESSION_TTL_SECONDS),
        )
        audit.record(
            Action.CONNECT_SESSION,
            actor=user,
            target=session,
            detail=f"{provider.slug} {mode}{' reconnect' if integration else ''}"[:255],
            ip_address=ip_address,
        )
    return session, token


# -- using ----------------------------------------------------------------------------


def claim(token, *, browser_user=None, ip_address=None):
    """The connect session the one-time URL's ``token`` names, marked used.

    Refused (audited, :class:`ConnectSessionError`): ``unknown``, ``wrong_user``
    (the browser is signed in here as someone else), ``expired``, ``replayed``
    (used already: exactly one of any number of concurrent claims wins),
    ``user_inactive``, ``provider_unavailable``. The refused session, when known, is on the
    exception as ``session``. Beyond ``integrations_connect_refusals`` refusals from
    ``ip_address`` in the window: :class:`RateLimited`, audited no more."""
    digest = token_digest(token or "")
    session = (
        ConnectSession.objects.select_related("user", "provider", "integration")
        .filter(token_digest=digest)
        .first()
    )
    if session is None:
        count_refusal(ip_address)
        _refuse("unknown", actor=browser_user, ip_address=ip_address)
        raise ConnectSessionError("unknown")
    error = None
    signed_in = browser_user is not None and getattr(browser_user, "is_authenticated", False)
    now = timezone.now()
    if signed_in and browser_user.pk != session.user_id:
        error = "wrong_user"
    elif session.used_at is not None:
        error = "replayed"
    elif session.expires_at <= now:
        error = "expired"
    elif not session.user.is_active:
        error = "user_inactive"
    elif session.provider.status != Provider.Status.ACTIVE:
        error = "provider_unavailable"
    elif not ConnectSession.objects.filter(
        pk=session.pk, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now):
        error = "replayed"  # another request claimed it between our read and now
    if error:
        count_refusal(ip_address)
        _refuse(
            error,
            actor=browser_user if signed_in else session.user,
            session=session,
            ip_address=ip_address,
            detail=error if not signed_in or error == "wrong_user" else f"{error} (signed in)",
        )
        if error in ("expired", "user_inactive", "provider_unavailable"):
            finish(session, Outcome.FAILED, error=error)
        exc = ConnectSessionError(error)
        exc.session = session  # type: ignore[attr-defined]
        raise exc
    session.used_at = now
    return session


def in_flow(session_id):
    """The claimed, unfinished connect session ``session_id``, or ``None``."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:
        return None
    return (
        ConnectSession.objects.select_related("user", "provider", "integration")
        .filter(pk=pk, used_at__isnull=False, finished_at__isnull=True)
        .first()
    )


def refuse_in_flow(code, session, *, browser_user=None, ip_address=None):
    """Audit a refusal during the flow (a callback for a finished session...);
    :class:`RateLimited` (nothing audited) beyond the client's rate."""
    count_refusal(ip_address)
    signed_in = browser_user is not None and getattr(browser_user, "is_authenticated", False)
    _refuse(
        code,
        actor=browser_user if signed_in else (session.user if session else None),
        session=session,
        ip_address=ip_address,
    )


def finish(session, outcome, *, error="", integration=None, credential=None):
    """Record the outcome once (a conditional UPDATE); False if already finished."""
    values = {"finished_at": timezone.now(), "outcome": outcome, "error": error[:64]}
    if integration is not None:
        values["integration"] = integration
    if credential is not None:
        values["credential"] = credential
    done = bool(
        ConnectSession.objects.filter(pk=session.pk, finished_at__isnull=True).update(**values)
    )
    if done:
        for name, value in values.items():
            setattr(session, name, value)
    return done


def result(session, *, outcome=None, error=None):
    """What the host app is told: never a token. ``outcome``/``error`` override
    the session's own (a refused replay is told ``failed``/``replayed``
    without changing the session)."""
    outcome = outcome or session.outcome or Outcome.FAILED
    error = session.error if error is None else error
    body = {
        "type": "sealed-integrations:connect",
        "connect_session_id": str(session.pk),
        "outcome": outcome,
        "provider": session.provider.slug,
        "integration_id": "",
        "credential_id": "",
        "error": "" if outcome == Outcome.CONNECTED else (error or "failed"),
    }
    if outcome == Outcome.CONNECTED and session.integration_id:
        body["integration_id"] = str(session.integration_id)
    if outcome == Outcome.CONNECTED and session.credential_id:
        body["credential_id"] = str(session.credential_id)
    return body


def result_url(session, body):
    """``return_url`` with the result's fields added to its query (replacing
    any of the same names)."""
    parts = urlsplit(session.return_url)
    names = ("connect_session_id", "outcome", "integration_id", "credential_id", "error")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in names]
    query += [(name, body[name]) for name in names if body[name]]
    return urlunsplit(parts._replace(query=urlencode(query)))


def reconnect_mismatch(session, external_account_id):
    """True when a reconnect signed in to another account than the integration's."""
    integration: Integration | None = session.integration if session.reconnect else None
    if integration is None or not integration.external_account_id:
        return False
    return integration.external_account_id != external_account_id


# -- retention ------------------------------------------------------------------------


def purge(*, batch_size=1000, now=None):
    """Delete the connect sessions that expired more than
    ``CONNECT_SESSION_RETENTION_DAYS`` ago (used or not: a session expires a
    few minutes after it is made), ``batch_size`` rows per statement so that no
    transaction grows with the backlog. Returns how many were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=app_settings.CONNECT_SESSION_RETENTION_DAYS)
    return _delete_in_batches(ConnectSession.objects.filter(expires_at__lt=cutoff), batch_size)


def _delete_in_batches(queryset, batch_size):
    deleted = 0
    while True:
        pks = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not pks:
            return deleted
        _total, by_model = queryset.model.objects.filter(pk__in=pks).delete()
        deleted += by_model.get(queryset.model._meta.label, 0)
        if len(pks) < batch_size:
            return deleted

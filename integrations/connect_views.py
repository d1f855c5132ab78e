"""The browser side of connect sessions (:mod:`integrations.connect_sessions`).

``/integrations/connect-session/<token>/`` is the one-time URL: it needs no
sign-in. It claims the session (single use), then starts the provider's flow
*as the session's user* without logging anyone in: ``request.user`` is that
user for the request, and the pending OAuth entry it leaves in the browser's
anonymous Django session names the connect session. The provider sends the
browser back to the usual ``/integrations/callback/<provider>/``; :func:`callback`
sees that entry and finishes the flow for the session's user, or hands any
other callback to :func:`integrations.views.callback` unchanged. Providers that
take an API key, basic auth or a bearer token get a hosted form instead.

The result (``connected``, ``denied``, ``failed`` with an ``error`` code; the
integration or credential id; never a token) goes back by a redirect to the
session's ``return_url`` or, in popup mode, by a page whose static script
``postMessage``\\ s it to the exact origin the API call named.
"""

import json
import logging
from functools import wraps

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from . import (
    connect_sessions,
    credentials,
    forms,
    oauth,
    oauth1_flow,
    oauth_flow,
    provider_urls,
    tokens,
    views,
)
from .connect_sessions import ConnectSessionError
from .models import ConnectSession, Provider
from .unavailable import refuse_when_unavailable

logger = logging.getLogger(__name__)

Outcome = ConnectSession.Outcome
# The connect sessions whose hosted form this browser may post (claimed here).
FORM_SESSION_KEY = "_integrations_connect_forms"
_OAUTH = (Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1)
# The result page runs one static script of this site and nothing else.
_POPUP_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_REFUSED = {
    "unknown": (
        404,
        _("This connect link is not valid. Ask the application for a new one."),
    ),
    "wrong_user": (
        403,
        _(
            "This connect link was made for another account than the one signed in "
            "here. Sign out, or ask the application for a new link."
        ),
    ),
    "finished": (
        400,
        _("This connection attempt is already finished. Ask the application for a new link."),
    ),
    "not_this_browser": (
        404,
        _("This connection form was opened in another browser. Ask for a new link."),
    ),
    "origin_not_allowed": (
        400,
        _("The application's address is no longer allowed to receive the result."),
    ),
}


def _limited(view):
    """Too many refused connect URLs from this client: a 429 with ``Retry-After``,
    nothing audited (:func:`connect_sessions.count_refusal`)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except connect_sessions.RateLimited as exc:
            response = render(
                request,
                "integrations/rate_limited.html",
                {"retry_after": exc.retry_after},
                status=429,
            )
            response["Retry-After"] = str(exc.retry_after)
            return _private(response)

    return wrapper


def _private(response, session=None):
    """No Referer leaks the one-time URL. A popup session's pages keep their
    opener: a Cross-Origin-Opener-Policy of same-origin (Django's default) would
    cut the popup off from the app that opened it, so they say unsafe-none; every
    other page keeps the project's policy."""
    response["Referrer-Policy"] = "no-referrer"
    if session is not None and session.mode == ConnectSession.Mode.POPUP:
        response["Cross-Origin-Opener-Policy"] = "unsafe-none"
    return response


def _refused_page(request, code, provider=None):
    status, message = _REFUSED.get(code, (400, _REFUSED["finished"][1]))
    return _private(views._error_page(request, provider, code, status=status, message=message))


def _deliver(request, session, *, outcome=None, error=None):
    """Tell the host app the result: a redirect to ``return_url``, or the popup page."""
    body = connect_sessions.result(session, outcome=outcome, error=error)
    if not connect_sessions.is_allowed_origin(session.origin):
        connect_sessions.refuse_in_flow(
            "origin_not_allowed", session, ip_address=oauth_flow.client_ip(request)
        )
        return _refused_page(request, "origin_not_allowed")
    if session.mode == ConnectSession.Mode.POPUP:
        response = render(
            request,
            "integrations/connect_session_result.html",
            {"result": body, "payload": json.dumps(body), "origin": session.origin},
        )
        response["Content-Security-Policy"] = _POPUP_CSP
        return _private(response, session)
    return _private(HttpResponseRedirect(connect_sessions.result_url(session, body)), session)


@refuse_when_unavailable
@_limited
@never_cache
@require_GET
def open_session(request, token):
    """The one-time URL: claim the session, then start the provider's flow."""
    ip = oauth_flow.client_ip(request)
    try:
        session = connect_sessions.claim(token, browser_user=request.user, ip_address=ip)
    except connect_sessions.RateLimited:
        raise  # a 429 (_limited)
    except ConnectSessionError as exc:
        known = getattr(exc, "session", None)
        if known is None or exc.code == "wrong_user":
            # Redirected, so that the 4xx Django logs ("Forbidden: <path>") names a
            # URL without the token.
            return _private(redirect("integrations:connect-session-refused", code=exc.code))
        return _deliver(request, known, outcome=Outcome.FAILED, error=exc.code)
    provider = session.provider
    if provider.auth_type not in _OAUTH:
        _allow_form(request, session)
        return _private(redirect("integrations:connect-session-form", pk=session.pk), session)
    if provider_urls.connection_params(provider) and not session.url_values:
        # The user's own value (their shop) first, with the same checked form.
        _allow_form(request, session)
        return _private(redirect("integrations:connect-session-values", pk=session.pk), session)
    return _begin(request, session, session.url_values or None)


def _allow_form(request, session):
    """Let this browser (only) post the claimed session's follow-up form."""
    ids = [i for i in request.session.get(FORM_SESSION_KEY, []) if isinstance(i, str)]
    request.session[FORM_SESSION_KEY] = [*ids, str(session.pk)][-10:]


def _begin(request, session, url_values):
    """Start the provider's flow for ``session``: a redirect to the provider."""
    provider = session.provider
    # The flow runs as the session's user, for this request only: nobody is logged in.
    request.user = session.user
    try:
        url = views._flow(provider).begin_authorization(
            request, provider, connect_session=session.pk, url_values=url_values
        )
    except oauth.OAuthFlowError as exc:
        logger.warning("cannot start connect session for provider %s: %s", provider.slug, exc.code)
        connect_sessions.finish(session, Outcome.FAILED, error=exc.code)
        return _deliver(request, session)
    return _private(HttpResponseRedirect(url), session)


@never_cache
@require_GET
def refused(request, code):
    """Why a one-time URL was refused (already audited when it was)."""
    if code not in ("unknown", "wrong_user"):
        code = "unknown"
    return _refused_page(request, code)


def _connect_session_id(request, slug):
    """The connect session the callback's pending entry names, if it is one's.

    An OAuth 1.0a server may report an error without the request token
    (``?error=access_denied``): then the newest OAuth 1.0a connect-session entry
    of this provider in this browser's session is the one it answers. (OAuth 2
    errors carry the state: RFC 6749 §4.1.2.1.)"""
    entry = oauth_flow.peek_pending(request, request.GET.get("state", ""))
    if entry is None:
        token = request.GET.get("oauth_token") or request.GET.get("denied") or ""
        entry = oauth_flow.peek_pending(request, token, session_key=oauth1_flow.SESSION_KEY)
    if entry is None and "error" in request.GET and not request.GET.get("state"):
        candidates = [
            e
            for e in oauth_flow.session_bucket(request, oauth1_flow.SESSION_KEY)["pending"].values()
            if isinstance(e, dict) and e.get("cs") and e.get("p") == slug
        ]
        if candidates:
            entry = max(candidates, key=lambda e: e.get("t", 0))
    return (entry or {}).get("cs")


@refuse_when_unavailable
@_limited
@sensitive_variables()
@never_cache
@require_GET
def callback(request, provider):
    """The provider's redirect back: a connect session's flow finishes here for
    the session's user; any other callback is :func:`integrations.views.callback`."""
    session_id = _connect_session_id(request, provider)
    if session_id is None:
        return views.callback(request, provider)
    provider = views._active_oauth_provider(provider)
    ip = oauth_flow.client_ip(request)
    session = connect_sessions.in_flow(session_id)
    if session is None:
        known = ConnectSession.objects.filter(pk=session_id).first()
        connect_sessions.refuse_in_flow("finished", known, browser_user=request.user, ip_address=ip)
        return _refused_page(request, "finished")
    if request.user.is_authenticated and request.user.pk != session.user_id:
        connect_sessions.refuse_in_flow(
            "wrong_user", session, browser_user=request.user, ip_address=ip
        )
        return _refused_page(request, "wrong_user")
    request.user = session.user
    try:
        authorization = views._flow(provider).complete_authorization(request, provider)
    except oauth.StateError as exc:  # audited by the flow
        connect_sessions.finish(session, Outcome.FAILED, error=exc.code)
        return _deliver(request, session)
    except oauth.AuthorizationDenied as exc:
        views._record_failure(request, provider, exc.code, ip)
        denied = exc.code == "access_denied"
        connect_sessions.finish(
            session, Outcome.DENIED if denied else Outcome.FAILED, error=exc.code
        )
        return _deliver(request, session)
    except oauth.OAuthFlowError as exc:
        views._record_failure(request, provider, exc.code, ip)
        logger.warning("connect session for provider %s failed: %s", provider.slug, exc.code)
        connect_sessions.finish(session, Outcome.FAILED, error=exc.code)
        return _deliver(request, session)
    if connect_sessions.reconnect_mismatch(session, authorization.external_account_id):
        views._record_failure(request, provider, "wrong_account", ip)
        connect_sessions.finish(session, Outcome.FAILED, error="wrong_account")
        return _deliver(request, session)
    try:
        with transaction.atomic():
            integration, _created = tokens.connect(
                session.user,
                provider,
                authorization.token,
                external_account_id=authorization.external_account_id,
                label=authorization.label,
                requested_scopes=authorization.requested_scopes,
                metadata=authorization.integration_metadata(),
                ip_address=ip,
            )
            # The host app's ids, checked when the session was made (given: replaced).
            if session.metadata or session.tags:
                tokens.set_host_metadata(
                    integration,
                    metadata=session.metadata or None,
                    tags=session.tags or None,
                    actor=session.user,
                    ip_address=ip,
                )
    except (tokens.TokenResponseError, tokens.ValidationError):
        views._record_failure(request, provider, "invalid_token_response", ip)
        connect_sessions.finish(session, Outcome.FAILED, error="invalid_token_response")
        return _deliver(request, session)
    connect_sessions.finish(session, Outcome.CONNECTED, integration=integration)
    return _deliver(request, session)


def _followed_session(request, pk, *, oauth_only):
    """The claimed, unfinished session ``pk`` whose follow-up form this browser
    may post, or the refusal page (audited)."""
    ip = oauth_flow.client_ip(request)
    if str(pk) not in request.session.get(FORM_SESSION_KEY, []):
        known = ConnectSession.objects.filter(pk=pk).first()
        connect_sessions.refuse_in_flow(
            "not_this_browser", known, browser_user=request.user, ip_address=ip
        )
        return None, _refused_page(request, "not_this_browser")
    session = connect_sessions.in_flow(pk)
    if session is None or (session.provider.auth_type in _OAUTH) != oauth_only:
        known = ConnectSession.objects.filter(pk=pk).first()
        connect_sessions.refuse_in_flow("finished", known, browser_user=request.user, ip_address=ip)
        return None, _refused_page(request, "finished")
    if request.user.is_authenticated and request.user.pk != session.user_id:
        connect_sessions.refuse_in_flow(
            "wrong_user", session, browser_user=request.user, ip_address=ip
        )
        return None, _refused_page(request, "wrong_user")
    return session, None


@refuse_when_unavailable
@_limited
@never_cache
@require_http_methods(["GET", "POST"])
def session_values(request, pk):
    """The values an OAuth provider's URLs need of this user (their Shopify
    shop), for the connect session this browser claimed: the connect page's
    pattern-checked form, then the provider's flow with them."""
    session, refused_page = _followed_session(request, pk, oauth_only=True)
    if session is None:
        return refused_page
    provider = session.provider
    if request.method == "POST" and "cancel" in request.POST:
        connect_sessions.finish(session, Outcome.DENIED, error="access_denied")
        return _deliver(request, session)
    form = forms.ConnectionValuesForm(
        request.POST if request.method == "POST" else None, provider=provider
    )
    if request.method == "POST" and form.is_valid():
        url_values = form.url_values
        ConnectSession.objects.filter(pk=session.pk).update(url_values=url_values)
        request.session[FORM_SESSION_KEY] = [
            i for i in request.session.get(FORM_SESSION_KEY, []) if i != str(pk)
        ]
        return _begin(request, session, url_values)
    return _private(
        render(
            request,
            "integrations/connect_session_values.html",
            {"form": form, "provider": provider},
            status=400 if request.method == "POST" else 200,
        ),
        session,
    )


@refuse_when_unavailable
@_limited
@sensitive_post_parameters(*forms.SECRET_PARAMETERS)
@sensitive_variables()
@never_cache
@require_http_methods(["GET", "POST"])
def session_form(request, pk):
    """The hosted form of an API-key, basic-auth or bearer-token provider, for
    the connect session this browser claimed."""
    ip = oauth_flow.client_ip(request)
    session, refused_page = _followed_session(request, pk, oauth_only=False)
    if session is None:
        return refused_page
    provider = session.provider
    if request.method == "POST" and "cancel" in request.POST:
        connect_sessions.finish(session, Outcome.DENIED, error="access_denied")
        return _deliver(request, session)
    form = forms.CredentialForm(
        request.POST or None,
        user=session.user,
        credential_type=provider.auth_type,
        initial={"name": provider.name},
    )
    del form.fields["provider"], form.fields["plugin"]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            credential = credentials.create_credential(
                session.user,
                name=data["name"],
                credential_type=provider.auth_type,
                data=data["data"],
                provider=provider,
                ip_address=ip,
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            connect_sessions.finish(session, Outcome.CONNECTED, credential=credential)
            request.session[FORM_SESSION_KEY] = [
                i for i in request.session.get(FORM_SESSION_KEY, []) if i != str(pk)
            ]
            return _deliver(request, session)
    return _private(
        render(
            request,
            "integrations/connect_session_form.html",
            {"form": form, "provider": provider},
        ),
        session,
    )

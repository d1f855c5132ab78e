"""The app's pages: connect and callback views for OAuth providers, and the
user's "My connections" and "My credentials" pages. Thin: the work is in
:mod:`integrations.oauth` (the flow), :mod:`integrations.tokens` and
:mod:`integrations.credentials` (storage); secrets are never rendered.

``/integrations/connect/<provider>/`` starts the authorization-code flow (or,
for an OAuth 1.0a provider, obtains a request token) and
``/integrations/callback/<provider>/`` finishes it. Both need a logged-in user.
A bad ``state`` is a 400 (and an audit event); a provider that reports an error
or cannot be reached gets a friendly page; a token never reaches a page, a
message or a log line. Every view is wrapped in
:func:`~integrations.unavailable.refuse_when_unavailable`: with the cache or the
database down it answers a 503 page with ``Retry-After``, never a 500.
"""

import logging
from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from . import (
    audit,
    connection_check,
    credentials,
    forms,
    oauth,
    oauth1_flow,
    oauth_flow,
    provider_quirks,
    provider_urls,
    secret_status,
    tokens,
)
from .models import AuditEvent, Credential, Integration, Provider
from .ratelimit import CREDENTIALS_SCOPE, REFRESH_SCOPE, limit_posts
from .unavailable import refuse_when_unavailable

logger = logging.getLogger(__name__)

# What the user is told, by error code. Anything else gets the generic text.
# Lazy: translated into the language of the request that shows them.
_FRIENDLY = {
    "access_denied": gettext_lazy(
        "You cancelled the connection, or %(provider)s did not allow it. Nothing was saved."
    ),
    "network_error": gettext_lazy(
        "%(provider)s could not be reached. Please try again in a moment."
    ),
    "timeout": gettext_lazy("%(provider)s took too long to answer. Please try again in a moment."),
    "invalid_grant": gettext_lazy(
        "%(provider)s did not accept the authorization (it may have expired). Please try again."
    ),
    "temporarily_unavailable": gettext_lazy(
        "%(provider)s is temporarily unavailable. Please try again later."
    ),
    "server_error": gettext_lazy("%(provider)s had a problem. Please try again later."),
    "unsafe_next": gettext_lazy(
        "That link would have sent you to another site after connecting, so it was refused."
    ),
}
_GENERIC = gettext_lazy("Connecting to %(provider)s did not work (%(code)s). Nothing was saved.")
_STATE = gettext_lazy(
    "This connection attempt is not valid: it expired, was already used, or was started "
    "from another browser session. Please start again."
)


def _active_oauth_provider(slug):
    return get_object_or_404(
        Provider,
        slug=slug,
        status=Provider.Status.ACTIVE,
        auth_type__in=[Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1],
    )


def _flow(provider):
    """The connect flow for the provider's protocol: both offer
    ``begin_authorization`` and ``complete_authorization`` with the same errors."""
    return oauth1_flow if provider.auth_type == Provider.AuthType.OAUTH1 else oauth_flow


def _error_page(request, provider, code, *, status, message=None):
    name = provider.name if provider else _("the provider")
    if message is None:
        message = _FRIENDLY.get(code, _GENERIC) % {"provider": name, "code": code}
    return render(
        request,
        "integrations/connect_error.html",
        {"provider": provider, "code": code, "message": message},
        status=status,
    )


@refuse_when_unavailable
@never_cache
@login_required
@require_GET
def connect(request, provider):
    """Send the user to the provider to authorize (state, PKCE, nonce in the session).

    A provider whose URLs need a value of each user (their Shopify shop) first
    gets a small form for it; sent back here (GET), the checked values start
    the flow and travel with it to the new integration."""
    provider = _active_oauth_provider(provider)
    next_url = request.GET.get("next", "")
    url_values = None
    if provider_urls.connection_params(provider):
        submitted = any(key.startswith("url-") for key in request.GET)
        form = forms.ConnectionValuesForm(request.GET if submitted else None, provider=provider)
        if not form.is_valid():
            return render(
                request,
                "integrations/connect_values.html",
                {"provider": provider, "form": form, "next": _safe_next(request, next_url)},
                status=400 if submitted else 200,
            )
        url_values = form.url_values
    try:
        url = _flow(provider).begin_authorization(
            request, provider, next_url=next_url, url_values=url_values
        )
    except oauth.UnsafeRedirect as exc:
        return _error_page(request, provider, exc.code, status=400)
    except oauth.OAuthFlowError as exc:
        logger.warning("cannot start connecting provider %s: %s", provider.slug, exc.code)
        return _error_page(request, provider, exc.code, status=502 if exc.transient else 503)
    return HttpResponseRedirect(url)


@refuse_when_unavailable
@sensitive_variables()
@never_cache
@login_required
@require_GET
def callback(request, provider):
    """Finish the flow: check state, exchange the code, store sealed tokens."""
    provider = _active_oauth_provider(provider)
    ip = oauth_flow.client_ip(request)
    try:
        authorization = _flow(provider).complete_authorization(request, provider)
    except oauth.StateError as exc:
        return _error_page(request, provider, exc.code, status=400, message=_STATE)
    except oauth.AuthorizationDenied as exc:
        _record_failure(request, provider, exc.code, ip)
        return _error_page(
            request, provider, exc.code, status=200 if exc.code == "access_denied" else 400
        )
    except oauth.OAuthFlowError as exc:
        _record_failure(request, provider, exc.code, ip)
        logger.warning("connecting provider %s failed: %s", provider.slug, exc.code)
        return _error_page(request, provider, exc.code, status=502)
    try:
        integration, created = tokens.connect(
            request.user,
            provider,
            authorization.token,
            external_account_id=authorization.external_account_id,
            label=authorization.label,
            requested_scopes=authorization.requested_scopes,
            metadata=authorization.integration_metadata(),
            ip_address=ip,
        )
    except (tokens.TokenResponseError, tokens.ValidationError):
        _record_failure(request, provider, "invalid_token_response", ip)
        return _error_page(request, provider, "invalid_token_response", status=502)
    names = {"provider": provider.name, "label": integration.label}
    if integration.label:
        text = (
            _("Connected %(provider)s as %(label)s.")
            if created
            else _("Reconnected %(provider)s as %(label)s.")
        ) % names
    else:
        text = (_("Connected %(provider)s.") if created else _("Reconnected %(provider)s.")) % names
    messages.success(request, text, fail_silently=True)
    if "offline_access" in authorization.left_out_scopes and not integration.can_refresh:
        messages.warning(
            request,
            _(
                "%(provider)s does not offer offline access (its discovery document does not "
                "list the offline_access scope), so it gave no refresh token: this connection "
                "cannot renew itself. Connect again when it expires."
            )
            % names,
            fail_silently=True,
        )
    if authorization.next_url:
        # Checked when the flow started; checked again, it never leaves the site.
        try:
            return HttpResponseRedirect(oauth_flow.safe_next_url(request, authorization.next_url))
        except oauth.UnsafeRedirect:
            pass
    return redirect("integrations:connect-result", pk=integration.pk)


def _record_failure(request, provider, code, ip):
    audit.record(
        AuditEvent.Action.CONNECT,
        actor=request.user,
        target=provider,
        outcome=AuditEvent.Outcome.FAILURE,
        detail=code,
        ip_address=ip,
    )


@refuse_when_unavailable
@never_cache
@login_required
@require_GET
def connect_result(request, pk):
    """A small page saying which account is connected (the owner's only)."""
    try:
        integration = tokens.get_integration(request.user, pk)
    except Integration.DoesNotExist:
        raise Http404("no such integration") from None
    return render(request, "integrations/connect_result.html", {"integration": integration})


@refuse_when_unavailable
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def disconnect(request, pk):
    """Confirm (GET), then revoke at the provider and erase the tokens (POST)."""
    try:
        integration = tokens.get_integration(request.user, pk)
    except Integration.DoesNotExist:
        raise Http404("no such integration") from None
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    if request.method == "GET":
        return render(
            request,
            "integrations/disconnect_confirm.html",
            {
                "integration": integration,
                "next": next_url,
                "revocation": provider_quirks.revocation(integration.provider),
            },
        )
    result = tokens.disconnect(request.user, integration, ip_address=oauth_flow.client_ip(request))
    names = {"provider": integration.provider.name}
    if result.fully_revoked:
        text = _("Disconnected %(provider)s; its access was revoked.") % names
    elif result.revocation_supported:
        text = (
            _(
                "Disconnected %(provider)s. The tokens were erased here, but "
                "revoking them at the provider did not fully succeed."
            )
            % names
        )
    else:
        text = (
            _(
                "Disconnected %(provider)s. The tokens were erased here; "
                "%(provider)s cannot revoke them from this site."
            )
            % names
        )
        note = provider_quirks.revocation(integration.provider)["note"]
        if result.method == "none" and note:
            text = f"{text} {note}"  # what the user must do at the provider instead
    messages.success(request, text, fail_silently=True)
    if next_url:
        return HttpResponseRedirect(next_url)
    return redirect("integrations:connect-result", pk=integration.pk)


@refuse_when_unavailable
@never_cache
@login_required
@require_http_methods(["POST"])
@limit_posts(REFRESH_SCOPE)
def test_connection(request, pk):
    """Ask the provider who the account is, with the stored (refreshed) token.

    Each one may refresh (an expired token, or a 401): it counts against the
    user's refresh limit, the refresh endpoint's counter; the token service also
    limits forced refreshes per integration."""
    try:
        integration = tokens.get_integration(request.user, pk)
    except Integration.DoesNotExist:
        raise Http404("no such integration") from None
    result = connection_check.check_connection(request.user, integration)
    names = {"provider": integration.provider.name}
    if result.ok:
        names["account"] = result.label or result.account_id or _("(no name given)")
        messages.success(
            request, _("%(provider)s says this account is %(account)s.") % names, fail_silently=True
        )
    else:
        names["code"] = result.code
        messages.error(
            request,
            _("%(provider)s could not be reached with this connection (%(code)s).") % names,
            fail_silently=True,
        )
    return redirect("integrations:connections")


def _safe_next(request, next_url):
    """``next_url`` when it stays on this site, else ""."""
    try:
        return oauth_flow.safe_next_url(request, next_url)
    except oauth.UnsafeRedirect:
        return ""


# -- the user's pages: connections and credentials -------------------------------

_HIDDEN_STATUSES = (Integration.Status.REVOKED,)
_NEEDS_RECONNECT = (Integration.Status.NEEDS_REAUTH, Integration.Status.EXPIRED)


@refuse_when_unavailable
@never_cache
@login_required
@require_GET
def connections(request):
    """My connections: the accounts connected, and the providers to connect,
    grouped by category (in the categories' order), each marked with the number
    of accounts connected there."""
    providers = Provider.objects.filter(
        status=Provider.Status.ACTIVE,
        auth_type__in=[Provider.AuthType.OAUTH2, Provider.AuthType.OAUTH1],
    ).only("slug", "name", "category", "auth_type", "icon_url", "description", "metadata")
    integrations = [
        integration
        for integration in tokens.list_integrations(request.user)
        .exclude(status__in=_HIDDEN_STATUSES)
        .order_by("provider__name", "label")
    ]
    # Marked on their cards, so an account already there is not offered as if it
    # were new (a second account at one provider stays possible).
    connected_counts = Counter(
        integration.provider_id
        for integration in integrations
        if integration.status not in _NEEDS_RECONNECT
    )
    by_category: dict[str, list[Provider]] = {}
    for provider in sorted(providers, key=lambda provider: provider.name.casefold()):
        provider.connected_count = connected_counts[provider.pk]  # type: ignore[attr-defined]
        by_category.setdefault(provider.category, []).append(provider)
    provider_groups = [
        {"category": value, "label": label, "providers": by_category[value]}
        for value, label in Provider.Category.choices
        if value in by_category
    ]
    return render(
        request,
        "integrations/connections.html",
        {
            "providers": [provider for group in provider_groups for provider in group["providers"]],
            "provider_groups": provider_groups,
            "integrations": integrations,
            "connected_provider_ids": set(connected_counts),
            "needs_reconnect": _NEEDS_RECONNECT,
        },
    )


def _owned_credential(request, pk):
    try:
        return credentials.get_credential(request.user, pk)
    except Credential.DoesNotExist:
        raise Http404("no such credential") from None


@refuse_when_unavailable
@never_cache
@login_required
@require_GET
def credential_list(request):
    """My credentials: name, type, provider, whether the secret is set, updated."""
    rows = [
        {"credential": credential, "is_set": secret_status.is_set(credential.data_sealed)}
        for credential in credentials.list_credentials(request.user).order_by("name")
    ]
    return render(
        request,
        "integrations/credential_list.html",
        {
            "rows": rows,
            "types": Credential.Type.choices,
        },
    )


@refuse_when_unavailable
@sensitive_post_parameters(*forms.SECRET_PARAMETERS)
@sensitive_variables()
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@limit_posts(CREDENTIALS_SCOPE)
def credential_add(request):
    """Add a credential; the type (``?type=``) picks the secret inputs."""
    credential_type = request.GET.get("type") or Credential.Type.API_KEY
    if credential_type not in Credential.Type.values:
        raise Http404("unknown credential type")
    # ?next= (a form's CredentialChoiceField link) is where a saved credential
    # returns to, when it stays on this site; ?provider= and ?plugin= prefill.
    try:
        next_url = oauth_flow.safe_next_url(request, request.GET.get("next", ""))
    except oauth.UnsafeRedirect:
        next_url = ""
    form = forms.CredentialForm(
        request.POST or None,
        user=request.user,
        credential_type=credential_type,
        initial={"provider": request.GET.get("provider"), "plugin": request.GET.get("plugin", "")},
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            credential = credentials.create_credential(
                request.user,
                name=data["name"],
                credential_type=credential_type,
                data=data["data"],
                provider=data["provider"],
                plugin=data["plugin"],
                ip_address=oauth_flow.client_ip(request),
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request, _("Saved the credential “%(name)s”.") % {"name": credential.name}
            )
            return redirect(next_url or "integrations:credentials")
    return render(
        request,
        "integrations/credential_form.html",
        {
            "form": form,
            "credential": None,
            "credential_type": credential_type,
            "type_label": Credential.Type(credential_type).label,
            "types": Credential.Type.choices,
            "next_url": next_url,
        },
    )


@refuse_when_unavailable
@sensitive_post_parameters(*forms.SECRET_PARAMETERS)
@sensitive_variables()
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@limit_posts(CREDENTIALS_SCOPE)
def credential_edit(request, pk):
    """Edit a credential; blank secret inputs keep the stored secret."""
    credential = _owned_credential(request, pk)
    form = forms.CredentialForm(
        request.POST or None,
        user=request.user,
        credential_type=credential.credential_type,
        credential=credential,
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        changes = {"name": data["name"], "provider": data["provider"], "plugin": data["plugin"]}
        if data["data"] is not None:
            changes["data"] = data["data"]
        try:
            credential = credentials.update_credential(
                request.user, credential, ip_address=oauth_flow.client_ip(request), **changes
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            text = (
                _("Updated the credential “%(name)s”.")
                if "data" in changes
                else _("Updated the credential “%(name)s”. The secret was kept.")
            )
            messages.success(request, text % {"name": credential.name})
            return redirect("integrations:credentials")
    return render(
        request,
        "integrations/credential_form.html",
        {
            "form": form,
            "credential": credential,
            "credential_type": credential.credential_type,
            "type_label": credential.get_credential_type_display(),
            "is_set": secret_status.is_set(credential.data_sealed),
        },
    )


@refuse_when_unavailable
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
@limit_posts(CREDENTIALS_SCOPE)
def credential_delete(request, pk):
    """Confirm (GET), then delete (POST) a credential."""
    credential = _owned_credential(request, pk)
    if request.method == "POST":
        name = credential.name
        credentials.delete_credential(
            request.user, credential, ip_address=oauth_flow.client_ip(request)
        )
        messages.success(request, _("Deleted the credential “%(name)s”.") % {"name": name})
        return redirect("integrations:credentials")
    return render(
        request, "integrations/credential_confirm_delete.html", {"credential": credential}
    )

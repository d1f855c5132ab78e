"""Revocation outside RFC 7009: the ``bearer`` family, and the named provider
functions a provider's metadata may point at for what no standard covers
(``metadata["revocation"] = {"method": "hook", "hook": NAME}``).

A small registry (:data:`REVOCATION`), protocol-layer like :mod:`.oauth`: each
function talks to the provider and raises :class:`~.oauth.OAuthFlowError`
(a code, never a token) when it fails; the service layer
(:mod:`integrations.revocation`) reads the secrets, audits and erases.
``Provider.clean`` refuses an unknown name (the names are
:data:`provider_quirks.REVOCATION_HOOKS`); using one is ImproperlyConfigured.
"""

from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured
from django.views.decorators.debug import sensitive_variables

from .conf import app_settings
from .oauth import (
    ProviderMisconfigured,
    ProviderRequestFailed,
    check_endpoint_url,
    provider_url,
    request_failure,
)
from .provider_http import ProviderSession

GITHUB_API = "https://api.github.com"
STRIPE_DEAUTHORIZE = "https://connect.stripe.com/oauth/deauthorize"


def _succeeded(response):
    if not 200 <= response.status_code < 300:
        raise ProviderRequestFailed(
            f"http_{response.status_code}", transient=response.status_code >= 500
        )


@sensitive_variables()
def github_grant(provider, *, access_token, client_secret, account_id="", url_values=None):
    """GitHub: delete the app's whole grant for the user (every token of it),
    ``DELETE /applications/{client_id}/grant`` with the OAuth app's client id
    and secret as basic auth and ``{"access_token": ...}`` as the JSON body;
    GitHub answers 204. The provider's ``revocation_url``, when set, is that
    grant URL (GitHub Enterprise Server: ``https://HOST/api/v3/applications/
    <client id>/grant``); else github.com's for the provider's client id."""
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")
    secret = client_secret.reveal() if client_secret else None
    if not secret:
        raise ProviderMisconfigured("client_secret_missing")
    url = provider_url(provider, "revocation_url", url_values) or (
        f"{GITHUB_API}/applications/{quote(provider.client_id, safe='')}/grant"
    )
    try:
        with ProviderSession() as session:
            response = session.delete(
                url,
                auth=(provider.client_id, secret),
                json={"access_token": access_token},
                headers={"Accept": "application/vnd.github+json"},
                timeout=app_settings.HTTP_TIMEOUT_SECONDS,
            )
            response.close()
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise request_failure(exc) from None
    _succeeded(response)


@sensitive_variables()
def stripe_deauthorize(provider, *, access_token, client_secret, account_id="", url_values=None):
    """Stripe Connect: disconnect the connected account from the platform,
    ``POST https://connect.stripe.com/oauth/deauthorize`` with the platform's
    ``client_id`` (``ca_…``) and the account's ``stripe_user_id`` (the
    integration's account id), authenticated with the platform's secret key
    (the provider's client secret) as Bearer. Every token of the connection
    stops working. The provider's ``revocation_url``, when set, is that URL."""
    if not provider.client_id:
        raise ProviderMisconfigured("client_id_missing")
    if not account_id:
        raise ProviderMisconfigured("account_id_missing")
    secret = client_secret.reveal() if client_secret else None
    if not secret:
        raise ProviderMisconfigured("client_secret_missing")
    url = provider_url(provider, "revocation_url", url_values) or STRIPE_DEAUTHORIZE
    try:
        with ProviderSession() as session:
            response = session.post(
                url,
                data={"client_id": provider.client_id, "stripe_user_id": account_id},
                headers={"Authorization": f"Bearer {secret}", "Accept": "application/json"},
                timeout=app_settings.HTTP_TIMEOUT_SECONDS,
            )
            response.close()
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise request_failure(exc) from None
    _succeeded(response)


REVOCATION = {"github_grant": github_grant, "stripe_deauthorize": stripe_deauthorize}


@sensitive_variables()
def revoke_bearer_request(access_token, *, revocation_url, http_method="POST"):
    """Revoke by calling ``revocation_url`` with the access token as
    ``Authorization: Bearer`` (Dropbox's ``token/revoke``, Slack's
    ``auth.revoke``); any 2xx is success, anything else
    :class:`ProviderRequestFailed`."""
    check_endpoint_url(revocation_url, "revocation_url")
    try:
        with ProviderSession() as session:
            response = session.request(
                http_method,
                revocation_url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=app_settings.HTTP_TIMEOUT_SECONDS,
            )
            response.close()
    except Exception as exc:  # noqa: BLE001 - classified, never re-raised with its text
        raise request_failure(exc) from None
    if not 200 <= response.status_code < 300:
        raise ProviderRequestFailed(
            f"http_{response.status_code}", transient=response.status_code >= 500
        )


def revocation_hook(name):
    """The revocation function registered as ``name``; ImproperlyConfigured
    for a name that is not (``Provider.clean`` refuses it before it is stored)."""
    try:
        return REVOCATION[name]
    except (KeyError, TypeError):
        raise ImproperlyConfigured(f"unknown revocation hook {name!r}") from None

"""Test connection: ask the provider who the connected account is.

The loop users care about — stored tokens, a call to the provider's API, a
refresh when the token has expired — exercised on demand from My connections.
The call goes through :func:`integrations.tokens.session`, so an expired token is
refreshed first (exactly once), a 401 gets one refresh and one retry, and the use
is audited with the purpose ``"test connection"``. What comes back is the
account's id and label from the userinfo claims (checked like the connect
flow's), never a token.
"""

from dataclasses import dataclass

import requests

from . import oauth, provider_urls, tokens
from .conf import app_settings

PURPOSE = "test connection"


@dataclass(frozen=True)
class ConnectionCheck:
    """The answer: ``ok`` with who the provider says the account is, or a ``code``."""

    ok: bool
    account_id: str = ""
    label: str = ""
    code: str = ""


def check_connection(user, integration) -> ConnectionCheck:
    """Call the provider's userinfo endpoint with ``integration``'s token for ``user``.

    ``integration`` must be the user's (look it up with
    :func:`tokens.get_integration`); another user's is refused and audited by the
    token service. Failures are codes, never exceptions, so a page can say why.
    """
    provider = integration.provider
    try:
        userinfo_url = oauth.endpoints(
            provider, provider_urls.connection_values(integration)
        ).userinfo_url
        if not userinfo_url:
            return ConnectionCheck(False, code="no_userinfo_endpoint")
        with tokens.session(integration, purpose=PURPOSE, actor=user) as session:
            response = session.get(
                userinfo_url,
                timeout=app_settings.HTTP_TIMEOUT_SECONDS,
                headers={"Accept": "application/json"},
            )
        if response.status_code != 200:
            return ConnectionCheck(False, code=f"http_{response.status_code}")
        claims = response.json()
        if not isinstance(claims, dict):
            return ConnectionCheck(False, code="invalid_userinfo")
        account_id, label = oauth.account_from_claims(provider, claims)
    except tokens.TokenUnavailable as exc:
        return ConnectionCheck(False, code=exc.code or "token_unavailable")
    except oauth.OAuthFlowError as exc:
        return ConnectionCheck(False, code=exc.code or "provider_error")
    except ValueError:  # a body that is not JSON
        return ConnectionCheck(False, code="invalid_userinfo")
    except requests.RequestException:
        return ConnectionCheck(False, code="provider_unreachable")
    return ConnectionCheck(True, account_id=account_id, label=label)

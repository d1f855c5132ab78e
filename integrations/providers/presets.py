"""Provider presets: data only. Each is the non-secret part of a Provider.

A staff user picks one and adds the client id and secret the provider issued
(:func:`integrations.providers.create_provider_from_preset`). Keys of
``metadata`` the OAuth client reads:

* ``authorize_params`` — extra authorization request parameters. When the
  scopes include ``offline_access`` the client sends ``prompt=consent`` (OpenID
  Connect Core §11 lets a provider ignore ``offline_access`` without it, and
  then no refresh token comes back) unless these set a ``prompt`` of their own;
* ``token_endpoint_auth_method`` — ``client_secret_basic`` (default with a
  secret), ``client_secret_post`` or ``none``;
* ``account_id_field`` / ``account_label_fields`` — which userinfo/ID token
  claims name the connected account (default ``sub`` or ``id``; ``email``,
  ``preferred_username``, ``login``, ``name``);
* ``docs_url`` — where the provider documents its OAuth setup.

``required`` lists fields the staff user must still fill in (besides the client
id and secret), e.g. the generic OIDC provider's discovery URL.

What each provider needs to issue a refresh token, so that a connection renews
itself instead of dying at its first expiry:

* Google: ``access_type=offline``, and ``prompt=consent`` (otherwise a user
  who connected before gets no new refresh token).
* Generic OpenID Connect: the ``offline_access`` scope with ``prompt=consent``
  (sent automatically, see above). A provider whose discovery document does not
  list ``offline_access`` in ``scopes_supported`` is not asked for it (the flow
  asks only for supported scopes; some refuse the others with ``invalid_scope``).
* Microsoft: the ``offline_access`` scope is enough; ``prompt=select_account``
  keeps the automatic ``prompt=consent`` away, which tenants that allow only
  admin consent would refuse.
* GitHub (OAuth app): no refresh token, and the token does not expire.
* Slack: no refresh token and no expiry, unless the app turned on token
  rotation (then Slack issues refresh tokens).

A connection stored without a refresh token but with an expiry is shown as one
that cannot renew itself (My connections, and ``can_refresh`` in the API).
"""

from typing import Any

# Preset key -> Provider field values (plus ``required``): plain JSON-like data.
PRESETS: dict[str, dict[str, Any]] = {
    "google": {
        "name": "Google",
        "slug": "google",
        "category": "authentication",
        "description": "Google accounts (OpenID Connect). Refresh tokens need offline access.",
        "icon_url": "https://www.google.com/favicon.ico",
        "base_url": "https://www.googleapis.com/",
        "discovery_url": "https://accounts.google.com/.well-known/openid-configuration",
        "revocation_url": "https://oauth2.googleapis.com/revoke",
        "default_scopes": ["openid", "email", "profile"],
        "pkce": "supported",
        "metadata": {
            "authorize_params": {"access_type": "offline", "prompt": "consent"},
            "docs_url": "https://developers.google.com/identity/protocols/oauth2/web-server",
        },
    },
    "github": {
        "name": "GitHub",
        "slug": "github",
        "category": "other",
        "description": "GitHub accounts (OAuth app). Its tokens do not expire and come "
        "without a refresh token. GitHub revokes grants with its own API, "
        "not RFC 7009, so disconnecting erases the tokens here only.",
        "icon_url": "https://github.com/favicon.ico",
        "base_url": "https://api.github.com/",
        "authorize_url": "https://github.com/login/oauth/authorize",
        "token_url": "https://github.com/login/oauth/access_token",
        "userinfo_url": "https://api.github.com/user",
        "default_scopes": ["read:user", "user:email"],
        "pkce": "supported",
        "metadata": {
            "account_id_field": "id",
            "account_label_fields": ["login", "email", "name"],
            "token_endpoint_auth_method": "client_secret_post",
            "docs_url": "https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/"
            "authorizing-oauth-apps",
        },
    },
    "slack": {
        "name": "Slack",
        "slug": "slack",
        "category": "communication",
        "description": "Slack workspaces (Sign in with Slack, OpenID Connect). Tokens "
        "come without a refresh token unless the app uses token rotation.",
        "icon_url": "https://slack.com/favicon.ico",
        "base_url": "https://slack.com/api/",
        "discovery_url": "https://slack.com/.well-known/openid-configuration",
        "default_scopes": ["openid", "email", "profile"],
        "pkce": "unsupported",
        "metadata": {
            "token_endpoint_auth_method": "client_secret_post",
            "docs_url": "https://api.slack.com/authentication/sign-in-with-slack",
        },
    },
    "microsoft": {
        "name": "Microsoft",
        "slug": "microsoft",
        "category": "authentication",
        "description": "Microsoft work, school and personal accounts (Microsoft identity "
        "platform, OpenID Connect). Microsoft has no revocation endpoint.",
        "icon_url": "https://www.microsoft.com/favicon.ico",
        "base_url": "https://graph.microsoft.com/v1.0/",
        "discovery_url": "https://login.microsoftonline.com/common/v2.0/"
        ".well-known/openid-configuration",
        "default_scopes": ["openid", "email", "profile", "offline_access", "User.Read"],
        "pkce": "supported",
        "metadata": {
            "authorize_params": {"prompt": "select_account"},
            "docs_url": "https://learn.microsoft.com/en-us/entra/identity-platform/"
            "v2-oauth2-auth-code-flow",
        },
    },
    "oidc": {
        "name": "OpenID Connect provider",
        "slug": "oidc",
        "category": "authentication",
        "description": "Any OpenID Connect provider: set its discovery URL "
        "(https://issuer/.well-known/openid-configuration). Asks for "
        "offline_access with prompt=consent to get a refresh token.",
        "default_scopes": ["openid", "email", "profile", "offline_access"],
        "pkce": "supported",
        "metadata": {},
        "required": ["discovery_url"],
    },
    # OAuth 1.0a (RFC 5849): see docs/howto/oauth1.md. Tokens never expire and
    # have no refresh token; ``signature_method`` defaults to HMAC-SHA1.
    "oauth1": {
        "name": "OAuth 1.0a provider",
        "slug": "oauth1",
        "auth_type": "oauth1",
        "category": "other",
        "description": "Any OAuth 1.0a provider: set its request-token, authorization "
        "and access-token URLs (and a userinfo URL to identify the account).",
        "signature_method": "HMAC-SHA1",
        "metadata": {},
        "required": ["request_token_url", "authorize_url", "token_url"],
    },
    "trello": {
        "name": "Trello",
        "slug": "trello",
        "auth_type": "oauth1",
        "category": "other",
        "description": "Trello boards (OAuth 1.0a; the client id is the API key, the "
        "secret the OAuth secret). Revoking needs Trello's own API: disconnecting "
        "erases the tokens here only.",
        "icon_url": "https://trello.com/favicon.ico",
        "base_url": "https://api.trello.com/1/",
        "request_token_url": "https://trello.com/1/OAuthGetRequestToken",
        "authorize_url": "https://trello.com/1/OAuthAuthorizeToken",
        "token_url": "https://trello.com/1/OAuthGetAccessToken",
        "userinfo_url": "https://api.trello.com/1/members/me",
        "signature_method": "HMAC-SHA1",
        "metadata": {
            "authorize_params": {"scope": "read", "expiration": "never", "name": "Integrations"},
            "account_id_field": "id",
            "account_label_fields": ["username", "fullName"],
            "docs_url": "https://developer.atlassian.com/cloud/trello/guides/rest-api/"
            "authorization/",
        },
    },
    "x": {
        "name": "X",
        "slug": "x",
        "auth_type": "oauth1",
        "category": "social",
        "description": "X (Twitter) user context, OAuth 1.0a (consumer key and secret). "
        "The account comes from the access-token response; disconnecting "
        "invalidates the token at X.",
        "icon_url": "https://x.com/favicon.ico",
        "base_url": "https://api.x.com/",
        "request_token_url": "https://api.x.com/oauth/request_token",
        "authorize_url": "https://api.x.com/oauth/authorize",
        "token_url": "https://api.x.com/oauth/access_token",
        "revocation_url": "https://api.x.com/1.1/oauth/invalidate_token",
        "signature_method": "HMAC-SHA1",
        "metadata": {
            "account_id_field": "user_id",
            "account_label_fields": ["screen_name"],
            "docs_url": "https://docs.x.com/resources/fundamentals/authentication/oauth-1-0a/"
            "obtaining-user-access-tokens",
        },
    },
}

"""Local authorization servers for the demo and the tests: OAuth 2 and OAuth 1.0a.

OAuth 2 / OpenID Connect: django-oauth-toolkit (under ``/o/``), configured like a
careful real provider: PKCE required, refresh tokens rotated, an RFC 7009
revocation endpoint, RFC 7662 introspection, OpenID Connect discovery, userinfo
and RS256 ID tokens.

OAuth 1.0a: Authlib's Django OAuth 1 server (under ``/oauth1/``,
:mod:`.oauth1_server`): registered callbacks only, every signature verified
(HMAC-SHA1, HMAC-SHA256, RSA-SHA1, PLAINTEXT), a protected ``me`` resource and a
signed ``invalidate_token``.

``config/settings.py`` installs both when ``DEBUG`` is on (or
``DEMO_PROVIDER=true``), and ``manage.py setup_demo`` (run by ``make run``)
registers them as the ``demo`` and ``demo-oauth1`` Providers. They are part of the
hosting project, never of the reusable app.
"""

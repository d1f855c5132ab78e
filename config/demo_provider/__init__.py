"""A local OAuth 2 / OpenID Connect authorization server for the demo and the tests.

django-oauth-toolkit, configured like a careful real provider: PKCE required,
refresh tokens rotated, an RFC 7009 revocation endpoint, RFC 7662 introspection,
OpenID Connect discovery, userinfo and RS256 ID tokens. ``config/settings.py``
installs it when ``DEBUG`` is on (or ``DEMO_PROVIDER=true``), and
``manage.py setup_demo`` (run by ``make run``) registers it as the ``demo``
Provider. It is part of the hosting project, never of the reusable app.
"""

"""HTTP to a provider's endpoints: a redirect is never followed.

Every request to a provider (token, refresh, revocation, userinfo, discovery,
JWKS) goes through a session built on :class:`NoRedirects`. Following a
redirect would re-send what the request carries — the client secret, an
authorization code, a PKCE verifier, a token — to wherever the ``Location``
header points, past the HTTPS-or-loopback check the endpoint URL passed. So a
3xx answer is a failed request (:class:`RedirectRefused`) and its target
receives nothing. Forcing ``allow_redirects=False`` in ``request`` covers every
call site: Authlib's ``fetch_token``, ``refresh_token`` and ``revoke_token`` and
every ``get``/``post`` end there. (``max_redirects = 0`` is no substitute:
requests consults it even with redirects off, to prepare ``response.next``.)
"""

import requests


class RedirectRefused(requests.RequestException):
    """A provider endpoint answered with a redirect; the request was not re-sent."""

    def __init__(self, response):
        self.status_code = response.status_code
        # Only the status: the Location may carry anything, and it is not ours to log.
        super().__init__(
            f"provider endpoint answered {response.status_code}; redirects are refused"
        )


class NoRedirects:
    """Mix into a ``requests.Session`` (before it) so that it never follows a redirect."""

    def request(self, method, url, *args, **kwargs):
        kwargs["allow_redirects"] = False
        response = super().request(method, url, *args, **kwargs)  # type: ignore[misc]  # a mixin
        if 300 <= response.status_code < 400:
            response.close()
            raise RedirectRefused(response)
        return response


class ProviderSession(NoRedirects, requests.Session):
    """A plain session for a provider's public documents (discovery, JWKS)."""

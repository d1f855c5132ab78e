"""Refresh-token reuse detection for the loopback FakeProvider, as strict as
oidc-provider and Auth0: a refresh token works once; presenting a rotated one
again revokes the whole grant (every token issued from it, the newest
included) and answers ``invalid_grant``.

``strict = RevokeOnReuse(fake)`` installs it as the token endpoint's handler
(scripted answers still come first); ``strict.grant_active(token)`` says
whether a token's grant still stands.
"""

import itertools
import threading


class RevokeOnReuse:
    def __init__(self, fake):
        self.fake = fake
        self.grant_of = {}  # refresh or access token -> grant number
        self.used = set()  # refresh tokens presented once
        self.revoked = set()  # grant numbers
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        fake.handlers["/token"] = self

    def grant_active(self, token):
        with self._lock:
            return token in self.grant_of and self.grant_of[token] not in self.revoked

    def __call__(self, form, headers):
        if form.get("grant_type") != "refresh_token":
            return self.fake.issue(form)
        presented = form.get("refresh_token", "")
        with self._lock:
            # A refresh token never seen here (stored by the test) starts a grant.
            grant = self.grant_of.setdefault(presented, next(self._numbers))
            if grant in self.revoked:
                return 400, {"error": "invalid_grant", "error_description": "grant revoked"}
            if presented in self.used:
                self.revoked.add(grant)
                return 400, {"error": "invalid_grant", "error_description": "refresh token reused"}
            self.used.add(presented)
        status, token = self.fake.issue(form)
        with self._lock:
            self.grant_of[token["access_token"]] = grant
            self.grant_of[token["refresh_token"]] = grant
        return status, token

"""Refresh-token reuse detection for the loopback FakeProvider, as strict as
oidc-provider and Auth0: a refresh token works once; presenting a rotated one
again revokes the whole grant (every token issued from it, the newest
included) and answers ``invalid_grant``.

``strict = RevokeOnReuse(fake)`` installs it as the token endpoint's handler
(scripted answers still come first); ``strict.grant_active(token)`` says
whether a token's grant still stands; ``strict.ledger()`` what each grant
went through (for the scale bed's storm checks: one refresh per grant, none lost).
"""

import hashlib
import itertools
import threading


def digest(token):
    """A short SHA-256 of a token: what a ledger names tokens by, never the token."""
    return hashlib.sha256(token.encode()).hexdigest()[:24]


class RevokeOnReuse:
    def __init__(self, fake):
        self.fake = fake
        self.grant_of = {}  # refresh or access token -> grant number
        self.used = set()  # refresh tokens presented once
        self.revoked = set()  # grant numbers
        self.first = {}  # grant number -> the refresh token that started it
        self.latest = {}  # grant number -> the newest refresh token issued from it
        self.refreshes = {}  # grant number -> refreshes answered with new tokens
        self.reused = 0  # refresh tokens presented again (each revoked its grant)
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
            grant = self.grant_of.get(presented)
            if grant is None:
                grant = self.grant_of[presented] = next(self._numbers)
                self.first[grant] = self.latest[grant] = presented
            if grant in self.revoked:
                return 400, {"error": "invalid_grant", "error_description": "grant revoked"}
            if presented in self.used:
                self.revoked.add(grant)
                self.reused += 1
                return 400, {"error": "invalid_grant", "error_description": "refresh token reused"}
            self.used.add(presented)
        status, token = self.fake.issue(form)
        with self._lock:
            self.grant_of[token["access_token"]] = grant
            self.grant_of[token["refresh_token"]] = grant
            self.latest[grant] = token["refresh_token"]
            self.refreshes[grant] = self.refreshes.get(grant, 0) + 1
        return status, token

    def ledger(self):
        """Every grant as ``{digest of its first refresh token: [refreshes,
        digest of its newest refresh token, revoked]}``, plus the reuse count:
        JSON-ready, and no token in it."""
        with self._lock:
            grants = {
                digest(first): [
                    self.refreshes.get(grant, 0),
                    digest(self.latest[grant]),
                    grant in self.revoked,
                ]
                for grant, first in self.first.items()
            }
            return {"grants": grants, "reused": self.reused}

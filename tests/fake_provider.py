"""A scriptable OAuth 2 / OIDC provider on a loopback port, for hermetic tests
and the refresh benchmark: real HTTP, no Django, no database.

By default the token endpoint answers every grant with fresh, numbered tokens
(a rotated refresh token each time), the revocation endpoint answers 200, and
userinfo describes one account. ``script(path, status, body)`` queues one
answer for an endpoint (``redirect(path, location)`` a redirect);
``handlers[path]`` replaces its logic. Every request is recorded (path, form,
headers) for the test to inspect; nothing is printed.

Strictness a test can switch on, as certified providers behave:

* ``/authorize`` answers like a consenting user: a redirect to the client's
  ``redirect_uri`` with a code bound to that authorization request, plus
  ``iss`` when ``iss_parameter_supported`` (RFC 9207; discovery says so too).
* ``offline_access_needs_consent``: a code issues a refresh token only when
  its authorization request asked for ``offline_access`` with ``prompt=consent``
  (OpenID Connect Core §11), as panva's oidc-provider does.
* ``scopes_supported`` (a list): discovery lists it, and ``/authorize`` answers
  ``error=invalid_scope`` to any other scope, as django-oauth-toolkit does.

Provider quirks (issue 26, URL templates and friends; :meth:`FakeProvider.quirk_answer`):

* ``tenants`` (a set): every endpoint is served under ``/t/<tenant>/`` for
  those tenants only (another tenant, or a bare path, is a 404), like a
  per-shop or per-tenant host; ``tenant_url(tenant)`` is that base.
* ``comma_scopes``: scopes are joined with ``,`` (Facebook, Strava): an
  authorization request whose scope holds a space is ``invalid_scope``.
* ``account_in_token`` (a dict): merged into the code exchange's answer (the
  account only in the token response, nested, like Slack's ``authed_user``).
* ``bearer_revocation`` (an HTTP method): ``/bearer-revoke`` ends the grant of
  the access token sent as ``Authorization: Bearer`` (Dropbox, Slack).
* ``grant_client_secret`` (str): ``DELETE /applications/<client_id>/grant``
  with basic auth ``client_id:secret`` and ``{"access_token": ...}`` ends the
  grant, 204 (GitHub).
* ``api_token_header`` (str): ``/api`` wants the access token in this header
  and nothing else (Shopify's ``X-Shopify-Access-Token``); by default ``/api``
  wants ``Authorization: Bearer``; ``api_token_query`` (str): in this query
  parameter instead. A revoked or unknown token is a 401.
"""

import base64
import copy
import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

_KEY = []


def _signing_key():
    """One RSA key per test run (generating one takes a while)."""
    if not _KEY:
        _KEY.append(RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}, private=True))
    return _KEY[0]


class FakeProvider:
    def __init__(self, *, delay=0.0, client_id="fake-client"):
        self.delay = delay
        self.client_id = client_id
        self.requests = []
        self.scripts = defaultdict(deque)
        self.handlers = {}
        self.userinfo = {"sub": "fake-user-1", "email": "alice@fake.test"}
        # Claims to put in an ID token on code exchange (None: no ID token).
        self.id_token_claims = None
        self.issued = 0
        self.iss_parameter_supported = False
        self.offline_access_needs_consent = False
        self.scopes_supported = None  # None: discovery does not say, any scope goes
        self.grants = {}  # code -> the authorization request's parameters
        # Called as on_answer(path) once an answer is made, before it is sent: a
        # test breaks something of ours there (the provider has acted by then).
        self.on_answer = None
        self.losses = deque()  # (path, seconds): answers made, then never sent
        # -- provider quirks (see the module docstring) --
        self.tenants = None
        self.comma_scopes = False
        self.account_in_token = None
        self.bearer_revocation = None
        self.grant_client_secret = None
        self.api_token_header = None
        self.api_token_query = None
        self.access_tokens = set()  # every access token issued
        self.revoked = set()  # access tokens whose grant was ended
        self._lock = threading.Lock()
        self.key = _signing_key()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    # -- lifecycle ------------------------------------------------------------

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    # -- endpoints --------------------------------------------------------------

    @property
    def token_url(self):
        return f"{self.url}/token"

    @property
    def revocation_url(self):
        return f"{self.url}/revoke"

    @property
    def userinfo_url(self):
        return f"{self.url}/userinfo"

    @property
    def authorize_url(self):
        return f"{self.url}/authorize"

    @property
    def discovery_url(self):
        return f"{self.url}/.well-known/openid-configuration"

    def script(self, path, status, body, headers=None, *, times=1):
        """Queue one answer (``body`` a dict for JSON, or a str) for ``path``
        (``times`` answers: a failure that outlasts the retries of a refresh)."""
        self.scripts[path].extend([(status, body, headers or {})] * times)

    def lose_answer(self, path="/token", *, stall=0.0):
        """Act on the next request to ``path`` (issue, rotate…), then send no
        answer: drop the connection after ``stall`` seconds (a stall longer than
        the client's timeout is a read timeout)."""
        self.losses.append((path, stall))

    def redirect(self, path, location, status=307):
        """Queue a redirect to ``location`` as the next answer for ``path``."""
        self.script(path, status, "", {"Location": location})

    def authorize(self, query):
        """What the authorization endpoint does for a consenting user: the
        ``(redirect_uri, params)`` it sends the browser back to."""
        with self._lock:
            code = f"fake-code-{len(self.grants) + 1:04d}"
            self.grants[code] = dict(query)
        params = {"code": code, "state": query.get("state", "")}
        if self.comma_scopes and " " in query.get("scope", ""):
            params = {"error": "invalid_scope", "state": query.get("state", "")}
        unsupported = set(query.get("scope", "").split()) - set(self.scopes_supported or ())
        if self.scopes_supported is not None and unsupported:
            params = {"error": "invalid_scope", "state": query.get("state", "")}
        if self.iss_parameter_supported:
            params["iss"] = self.issuer
        return query.get("redirect_uri", ""), params

    def requests_to(self, path):
        return [r for r in self.requests if r["path"] == path]

    def refresh_requests(self):
        return [
            r for r in self.requests_to("/token") if r["form"].get("grant_type") == "refresh_token"
        ]

    # -- default behaviour ----------------------------------------------------------

    def issue(self, form):
        with self._lock:
            self.issued += 1
            n = self.issued
        token = {
            "access_token": f"fake-access-{n:04d}-{'a' * 24}",
            "refresh_token": f"fake-refresh-{n:04d}-{'r' * 24}",
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": form.get("scope") or "read",
        }
        grant = (
            self.grants.get(form.get("code"))
            if form.get("grant_type") == "authorization_code"
            else None
        )
        if grant is not None:
            token["scope"] = grant.get("scope", "")
            if self.offline_access_needs_consent and not self.offline_granted(grant):
                del token["refresh_token"]
        if grant is not None and self.account_in_token is not None:
            token.update(copy.deepcopy(self.account_in_token))
        with self._lock:
            self.access_tokens.add(token["access_token"])
        if form.get("grant_type") == "authorization_code" and self.id_token_claims is not None:
            claims = {
                "iss": self.issuer,
                "aud": self.client_id,
                "sub": self.userinfo.get("sub"),
                "iat": int(time.time()),
                "exp": int(time.time()) + 300,
                **self.id_token_claims,
            }
            token["id_token"] = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        return 200, token

    @staticmethod
    def offline_granted(grant):
        """OIDC Core §11: offline access needs the scope and a consent prompt."""
        return (
            "offline_access" in grant.get("scope", "").split()
            and "consent" in grant.get("prompt", "").split()
        )

    def discovery(self):
        document = {
            "authorization_response_iss_parameter_supported": self.iss_parameter_supported,
            "issuer": self.issuer,
            "authorization_endpoint": self.authorize_url,
            "token_endpoint": self.token_url,
            "userinfo_endpoint": self.userinfo_url,
            "revocation_endpoint": self.revocation_url,
            "jwks_uri": f"{self.url}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }
        if self.scopes_supported is not None:
            document["scopes_supported"] = list(self.scopes_supported)
        return 200, document

    # -- provider quirks ---------------------------------------------------------------

    def tenant_url(self, tenant):
        return f"{self.url}/t/{tenant}"

    def _live(self, token):
        return token in self.access_tokens and token not in self.revoked

    def quirk_answer(self, path, form, headers, record):
        """The answer of a quirk endpoint, or ``None`` for the usual endpoints."""
        method = record["method"] if record else "GET"
        if path == "/revoke" and form.get("token") in self.access_tokens:
            with self._lock:
                self.revoked.add(form["token"])  # RFC 7009: then answers as usual
        if path == "/bearer-revoke" and self.bearer_revocation:
            if method != self.bearer_revocation:
                return 405, {"error": "method_not_allowed"}
            token = headers.get("Authorization", "").removeprefix("Bearer ")
            if not headers.get("Authorization", "").startswith("Bearer ") or not self._live(token):
                return 401, {"error": "invalid_token"}
            with self._lock:
                self.revoked.add(token)
            return 200, {"ok": True}
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "applications" and parts[3] == "grant":
            if self.grant_client_secret is None:
                return 404, {"message": "Not Found"}
            if method != "DELETE":
                return 404, {"message": "Not Found"}
            expected = f"{self.client_id}:{self.grant_client_secret}".encode()
            if parts[2] != self.client_id or headers.get(
                "Authorization"
            ) != "Basic " + base64.b64encode(expected).decode("ascii"):
                return 401, {"message": "Bad credentials"}
            try:
                body = json.loads(record.get("body") or "{}")
            except ValueError:
                return 400, {"message": "Problems parsing JSON"}
            if not isinstance(body, dict) or not self._live(body.get("access_token")):
                return 422, {"message": "Validation Failed"}
            with self._lock:
                self.revoked.update(self.access_tokens)  # the whole grant
            return 204, ""
        if path == "/api":
            if self.api_token_header:
                token = headers.get(self.api_token_header, "")
            elif self.api_token_query:
                token = form.get(self.api_token_query, "")
            else:
                token = headers.get("Authorization", "").removeprefix("Bearer ")
            if not self._live(token):
                return 401, {"error": "invalid_token"}
            return 200, {"ok": True, "tenant": record.get("tenant") if record else None}
        return None

    def _tenant_path(self, path, record):
        """``path`` without its ``/t/<tenant>`` prefix, or ``None`` when it
        names no served tenant."""
        parts = path.split("/", 3)
        if len(parts) < 4 or parts[1] != "t" or parts[2] not in self.tenants:
            return None
        if record is not None:
            record["tenant"] = parts[2]
        return "/" + parts[3]

    def _answer(self, path, form, headers, record=None):
        if self.tenants is not None:
            path = self._tenant_path(path, record)
            if path is None:
                return 404, {"error": "unknown_tenant"}
        quirk = self.quirk_answer(path, form, headers, record)
        if quirk is not None and not self.scripts[path]:
            return quirk
        if self.scripts[path]:
            return self.scripts[path].popleft()
        if path == "/authorize":
            redirect_uri, params = self.authorize(form)
            return 302, "", {"Location": f"{redirect_uri}?{urlencode(params)}"}
        if path in self.handlers:
            return self.handlers[path](form, headers)
        if path == "/token":
            return self.issue(form)
        if path == "/revoke":
            return 200, ""
        if path == "/userinfo":
            if not headers.get("Authorization", "").startswith("Bearer "):
                return 401, {"error": "invalid_token"}
            return 200, self.userinfo
        if path == "/.well-known/openid-configuration":
            return self.discovery()
        if path == "/jwks":
            return 200, {"keys": [self.key.as_dict(private=False)]}
        return 404, {"error": "not_found"}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                parts = urlsplit(self.path)
                form = dict(parse_qsl(raw or parts.query))
                record = {
                    "path": parts.path,
                    "method": self.command,
                    "form": form,
                    "headers": dict(self.headers),
                    "body": raw,
                }
                with fake._lock:
                    fake.requests.append(record)
                if fake.delay:
                    time.sleep(fake.delay)
                status, body, *extra = fake._answer(parts.path, form, dict(self.headers), record)
                if fake.on_answer is not None:
                    fake.on_answer(parts.path)
                if fake.losses and fake.losses[0][0] == parts.path:
                    _path, stall = fake.losses.popleft()
                    time.sleep(stall)
                    self.close_connection = True  # the answer is lost
                    return
                payload = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
                self.send_response(status)
                self.send_header(
                    "Content-Type", "application/json" if isinstance(body, dict) else "text/plain"
                )
                for name, value in (extra[0] if extra else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle
            do_DELETE = _handle

            def log_message(self, *args):  # quiet
                pass

        return Handler


def closed_port_url():
    """A loopback URL where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"

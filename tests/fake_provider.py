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

Token-endpoint quirks (issue 26; the provider catalog's ``token_response``,
``refresh``, ``pkce`` and ``token_endpoint_auth_method``), each a switch, all
off by default (see "token-endpoint quirks" below): a form-encoded answer, the
token nested under a key, ``expires`` instead of ``expires_in``, errors inside
a 200 (``{"ok": false, "error": ...}``), ``instance_url`` in the answer, client
authentication by HTTP Basic only, PKCE required or unsupported, no refresh
token, a refresh token that does not rotate, codes that must be known and are
single use, and (``revoke_on_reuse()``) rotation with reuse detection. ``/api/me``
is an API endpoint that accepts only access tokens this fake issued and did not
revoke.

Provider quirks of URLs, scopes, accounts, revocation and calls (issue 26;
"provider quirks: tenants and friends" below), each a switch, all off by default:

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
  grant, 204 (GitHub); with ``deauthorize_account`` (str) too, ``POST
  /oauth/deauthorize`` with ``Authorization: Bearer <secret>``, ``client_id``
  and ``stripe_user_id`` (that account) ends every token, 200 (Stripe Connect).
* ``api_token_header`` (str): ``/api`` wants the access token in this header
  and nothing else (Shopify's ``X-Shopify-Access-Token``); by default ``/api``
  wants ``Authorization: Bearer``; ``api_token_query`` (str): in this query
  parameter instead. A revoked or unknown token is a 401.
"""

import base64
import copy
import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

_KEY = []


def _signing_key():
    """One RSA key per test run (generating one takes a while)."""
    if not _KEY:
        _KEY.append(RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}, private=True))
    return _KEY[0]


class FakeProvider:
    def __init__(self, *, delay=0.0, client_id="fake-client", host="127.0.0.1", port=0):
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
        self._init_token_quirks()
        self._init_tenant_quirks()
        self._lock = threading.Lock()
        self.key = _signing_key()
        # ``host``/``port``: another address (the scale bed serves it in a network
        # namespace of its own, benchmarks/scale/provider_host.py).
        self.server = ThreadingHTTPServer((host, port), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
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
        refused = self._authorize_refused(query)
        if self.comma_scopes and " " in query.get("scope", ""):
            refused = "invalid_scope"
        if refused:
            params = {"error": refused, "state": query.get("state", "")}
        unsupported = set(query.get("scope", "").split()) - set(self.scopes_supported or ())
        if self.scopes_supported is not None and unsupported:
            params = {"error": "invalid_scope", "state": query.get("state", "")}
        if self.client_id_param and (
            "client_id" in query or query.get(self.client_id_param) != self.client_id
        ):
            params = {"error": "invalid_client", "state": query.get("state", "")}
        if self.callback_extra and "code" in params:
            params.update(self.callback_extra)
        if self.iss_parameter_supported:
            params["iss"] = self.issuer
        return query.get("redirect_uri", ""), params

    # -- token-endpoint quirks (issue 26) ------------------------------------------

    def _init_token_quirks(self):
        self.token_format = "json"  # "form": answers are x-www-form-urlencoded
        self.token_path = None  # "data": the token fields nested under this key
        self.expires_field = None  # "expires": the lifetime there, not in expires_in
        # Answers carry "ok": true; an error is a 200 {"ok": false, "error": code}.
        self.ok_envelope = False
        self.instance_url = None  # put in every token answer as instance_url
        # "client_secret_basic": any other client authentication is a 401 invalid_client
        # (with client_secret set, the secret must match too).
        self.require_client_auth = None
        self.client_secret = None
        self.pkce = None  # "required" | "unsupported"
        self.issue_refresh_tokens = True  # False: no refresh token, ever
        self.rotate_refresh_tokens = True  # False: a refresh answer has no new one
        self.known_codes_only = False  # a code must come from /authorize, once
        self.used_codes = set()
        self.api_tokens = set()  # access tokens /api/me accepts
        self.revoked = []  # tokens /revoke was asked to revoke
        self.reuse = None  # the RevokeOnReuse handler, once revoke_on_reuse()

    def revoke_on_reuse(self):
        """Rotate refresh tokens with reuse detection (tests/reuse_detection.py):
        a reused refresh token revokes the grant, and /api/me then refuses its
        access tokens."""
        from tests.reuse_detection import RevokeOnReuse

        self.reuse = RevokeOnReuse(self)
        return self.reuse

    def _token_error(self, status, code):
        if self.ok_envelope:
            return 200, {"ok": False, "error": code}
        return status, {"error": code}

    def _client_auth_refused(self, form, headers):
        """A 401 invalid_client unless the client authenticated as required."""
        if self.require_client_auth != "client_secret_basic":
            return None
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        try:
            pair = base64.b64decode(value, validate=True).decode() if scheme == "Basic" else ""
        except ValueError:
            pair = ""
        client_id, _, secret = pair.partition(":")
        matches = unquote(client_id) == self.client_id and (
            self.client_secret is None or unquote(secret) == self.client_secret
        )
        if not matches or "client_secret" in form:
            return 401, {"error": "invalid_client"}, {"WWW-Authenticate": 'Basic realm="fake"'}
        return None

    def _authorize_refused(self, query):
        """PKCE required: a code_challenge (S256); unsupported: none."""
        challenge = query.get("code_challenge")
        if self.pkce == "required" and (
            not challenge or query.get("code_challenge_method") != "S256"
        ):
            return "invalid_request"
        if self.pkce == "unsupported" and (challenge or "code_challenge_method" in query):
            return "invalid_request"
        return None

    def _code_refused(self, form):
        """The checks of a code exchange the switches ask for: an error code or None."""
        code = form.get("code")
        grant = self.grants.get(code)
        if self.known_codes_only:
            with self._lock:
                if grant is None or code in self.used_codes:
                    return "invalid_code" if self.ok_envelope else "invalid_grant"
                self.used_codes.add(code)
        verifier = form.get("code_verifier")
        if self.pkce == "unsupported" and verifier is not None:
            return "invalid_request"
        if self.pkce == "required":
            challenge = (grant or {}).get("code_challenge")
            if not verifier or not challenge:
                return "invalid_grant"
            digest = hashlib.sha256(verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge:
                return "invalid_grant"
        return None

    def _client_id_refused(self, form):
        """With ``client_id_param``: the client id under that name only."""
        if self.client_id_param and (
            "client_id" in form or form.get(self.client_id_param) != self.client_id
        ):
            return 401, {"error": "invalid_client"}
        return None

    def _request_shape_refused(self, path, form, headers, record):
        """The token-request quirks: a JSON body, refreshes at their own path."""
        if self.json_token_requests and not (record or {}).get("json"):
            return 415, {"error": "invalid_request"}
        if not self.json_token_requests and (record or {}).get("json"):
            return 400, {"error": "invalid_request"}
        refreshing = form.get("grant_type") == "refresh_token"
        if self.refresh_path and refreshing != (path == self.refresh_path):
            return 400, {"error": "unsupported_grant_type"}
        return self._client_id_refused(form)

    def _token_endpoint(self, form, headers):
        refused = self._client_auth_refused(form, headers)
        if refused is not None:
            return refused
        if form.get("grant_type") == "authorization_code":
            code = self._code_refused(form)
            if code:
                return self._token_error(400, code)
        handler = self.handlers.get("/token")
        answer = handler(form, headers) if handler else self.issue(form)
        return self.shape_token_answer(*answer, grant_type=form.get("grant_type"))

    def shape_token_answer(self, status, body, headers=None, *, grant_type=None):
        """A plain answer made as the switches say: (status, body[, headers])."""
        if not isinstance(body, dict):
            return (status, body, headers) if headers else (status, body)
        body = dict(body)
        if "access_token" in body:
            if not self.issue_refresh_tokens or (
                not self.rotate_refresh_tokens and grant_type == "refresh_token"
            ):
                body.pop("refresh_token", None)
            self.api_tokens.add(body["access_token"])
            if self.expires_field and "expires_in" in body:
                body[self.expires_field] = body.pop("expires_in")
            if self.instance_url is not None:
                body["instance_url"] = self.instance_url
            if self.token_path:
                names = ("access_token", "refresh_token", "token_type", "scope", "id_token")
                names += ("expires_in", self.expires_field or "expires_in")
                body = {
                    **{k: v for k, v in body.items() if k not in names},
                    self.token_path: {k: v for k, v in body.items() if k in names},
                }
            if self.ok_envelope:
                body = {"ok": True, **body}
        elif "error" in body and self.ok_envelope:
            status, body = 200, {"ok": False, "error": body["error"]}
        if self.token_format == "form":
            flat = {k: v for k, v in body.items() if isinstance(v, (str, int, bool))}
            content_type = {"Content-Type": "application/x-www-form-urlencoded"}
            return status, urlencode(flat), {**(headers or {}), **content_type}
        return (status, body, headers) if headers else (status, body)

    def api_me(self, headers):
        """An API endpoint: the caller's account, for an access token issued here,
        not revoked (nor its grant, under reuse detection)."""
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        accepted = scheme == "Bearer" and token in self.api_tokens and token not in self.revoked
        if accepted and self.reuse is not None and token in self.reuse.grant_of:
            accepted = self.reuse.grant_active(token)
        if not accepted:
            return 401, {"error": "invalid_token"}
        return 200, {**self.userinfo, "host": headers.get("Host", "")}

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
        if grant is not None and self.account_in_token is not None:
            token.update(copy.deepcopy(self.account_in_token))
        if grant is not None:
            token["scope"] = grant.get("scope", "")
            if self.offline_access_needs_consent and not self.offline_granted(grant):
                del token["refresh_token"]
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

    # -- provider quirks: tenants and friends -----------------------------------------

    def _init_tenant_quirks(self):
        self.tenants = None
        self.comma_scopes = False
        self.account_in_token = None
        self.bearer_revocation = None
        self.grant_client_secret = None
        self.deauthorize_account = None
        self.api_token_header = None
        self.api_token_query = None
        # Token-request quirks (issue 26, more): refreshes only at this path
        # (UPS's /security/v1/oauth/refresh), the token endpoint refusing them.
        self.refresh_path = None
        # The token endpoint (and refresh_path) take a JSON body only (Notion).
        self.json_token_requests = False
        # The client id's name in /authorize, /token and /revoke (TikTok's client_key).
        self.client_id_param = None
        # Parameters added to the redirect back after consent (Intuit's realmId).
        self.callback_extra = None
        # /userinfo wants the token as (header, prefix) (Mailchimp's "OAuth ").
        self.userinfo_token_header = None
        self.userinfo_token_query = None  # or in this query parameter

    def tenant_url(self, tenant):
        return f"{self.url}/t/{tenant}"

    def _live(self, token):
        return token in self.api_tokens and token not in self.revoked

    def quirk_answer(self, path, form, headers, record):
        """The answer of a quirk endpoint, or ``None`` for the usual endpoints."""
        method = record["method"] if record else "GET"
        if path == "/bearer-revoke" and self.bearer_revocation:
            if method != self.bearer_revocation:
                return 405, {"error": "method_not_allowed"}
            scheme, _, token = headers.get("Authorization", "").partition(" ")
            if scheme != "Bearer" or not self._live(token):
                return 401, {"error": "invalid_token"}
            with self._lock:
                self.revoked.append(token)
            return 200, {"ok": True}
        if path == "/oauth/deauthorize" and self.deauthorize_account is not None:
            if method != "POST":
                return 404, {"error": "not_found"}
            if headers.get("Authorization") != f"Bearer {self.grant_client_secret}":
                return 401, {"error": "invalid_client"}
            if form.get("client_id") != self.client_id:
                return 400, {"error": "invalid_client"}
            if form.get("stripe_user_id") != self.deauthorize_account:
                return 400, {"error": "invalid_request"}
            with self._lock:
                self.revoked.extend(self.api_tokens)  # every token of the account
            return 200, {"stripe_user_id": self.deauthorize_account}
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "applications" and parts[3] == "grant":
            if self.grant_client_secret is None or method != "DELETE":
                return 404, {"message": "Not Found"}
            expected = f"{self.client_id}:{self.grant_client_secret}".encode()
            basic = "Basic " + base64.b64encode(expected).decode("ascii")
            if parts[2] != self.client_id or headers.get("Authorization") != basic:
                return 401, {"message": "Bad credentials"}
            try:
                body = json.loads(record.get("body") or "{}")
            except ValueError:
                return 400, {"message": "Problems parsing JSON"}
            if not isinstance(body, dict) or not self._live(body.get("access_token")):
                return 422, {"message": "Validation Failed"}
            with self._lock:
                self.revoked.extend(self.api_tokens)  # the whole grant
            return 204, ""
        if path == "/api":
            if self.api_token_header:
                token = headers.get(self.api_token_header, "")
            elif self.api_token_query:
                token = form.get(self.api_token_query, "")
            else:
                scheme, _, token = headers.get("Authorization", "").partition(" ")
                token = token if scheme == "Bearer" else ""
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
        quirk = self.quirk_answer(path, form, headers, record) if not self.scripts[path] else None
        if quirk is not None:
            return quirk
        if self.scripts[path]:
            return self.scripts[path].popleft()
        if path == "/authorize":
            redirect_uri, params = self.authorize(form)
            return 302, "", {"Location": f"{redirect_uri}?{urlencode(params)}"}
        if path == "/token" or (self.refresh_path and path == self.refresh_path):
            refused = self._request_shape_refused(path, form, headers, record)
            if refused is not None:
                return refused
            return self._token_endpoint(form, headers)
        if path in self.handlers:
            return self.handlers[path](form, headers)
        if path == "/revoke":
            refused = self._client_auth_refused(form, headers) or self._client_id_refused(form)
            if refused is not None:
                return refused
            if form.get("token"):
                self.revoked.append(form["token"])
            return 200, ""
        if path == "/api/me":
            return self.api_me(headers)
        if path == "/userinfo":
            if self.userinfo_token_header or self.userinfo_token_query:
                name, prefix = self.userinfo_token_header or (None, "")
                value = headers.get(name, "") if name else form.get(self.userinfo_token_query, "")
                if not value.startswith(prefix) or not self._live(value[len(prefix) :]):
                    return 401, {"error": "invalid_token"}
                return 200, self.userinfo
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
                is_json = (self.headers.get("Content-Type") or "").startswith("application/json")
                try:
                    document = json.loads(raw) if is_json and raw else None
                except ValueError:
                    document = None
                if isinstance(document, dict):  # a JSON object of strings: its fields
                    form = {k: v for k, v in document.items() if isinstance(v, str)}
                else:
                    form = dict(parse_qsl(raw or parts.query))
                record = {
                    "path": parts.path,
                    "method": self.command,
                    "form": form,
                    "headers": dict(self.headers),
                    "body": raw,
                    "json": isinstance(document, dict),
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
                if isinstance(body, bytes):  # sent as it is (not UTF-8, say)
                    payload = body
                else:
                    payload = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
                self.send_response(status)
                extra_headers = extra[0] if extra else {}
                if "Content-Type" not in extra_headers:
                    self.send_header(
                        "Content-Type",
                        "application/json" if isinstance(body, dict) else "text/plain",
                    )
                for name, value in extra_headers.items():
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

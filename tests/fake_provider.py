"""A scriptable OAuth 2 / OIDC provider on a loopback port, for hermetic tests
and the refresh benchmark: real HTTP, no Django, no database.

By default the token endpoint answers every grant with fresh, numbered tokens
(a rotated refresh token each time), the revocation endpoint answers 200, and
userinfo describes one account. ``script(path, status, body)`` queues one
answer for an endpoint; ``handlers[path]`` replaces its logic. Every request is
recorded (path, form, headers) for the test to inspect; nothing is printed.
"""

import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

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
        self._lock = threading.Lock()
        self.key = _signing_key()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        daemon=True)

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

    def script(self, path, status, body):
        """Queue one answer (``body`` a dict for JSON, or a str) for ``path``."""
        self.scripts[path].append((status, body))

    def requests_to(self, path):
        return [r for r in self.requests if r["path"] == path]

    def refresh_requests(self):
        return [r for r in self.requests_to("/token") if r["form"].get("grant_type") == "refresh_token"]

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
        if form.get("grant_type") == "authorization_code" and self.id_token_claims is not None:
            claims = {
                "iss": self.issuer, "aud": self.client_id, "sub": self.userinfo.get("sub"),
                "iat": int(time.time()), "exp": int(time.time()) + 300,
                **self.id_token_claims,
            }
            token["id_token"] = jwt.encode({"alg": "RS256", "kid": self.key.kid}, claims, self.key)
        return 200, token

    def discovery(self):
        return 200, {
            "issuer": self.issuer,
            "authorization_endpoint": self.authorize_url,
            "token_endpoint": self.token_url,
            "userinfo_endpoint": self.userinfo_url,
            "revocation_endpoint": self.revocation_url,
            "jwks_uri": f"{self.url}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    def _answer(self, path, form, headers):
        if self.scripts[path]:
            return self.scripts[path].popleft()
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
                record = {"path": parts.path, "method": self.command, "form": form,
                          "headers": dict(self.headers)}
                with fake._lock:
                    fake.requests.append(record)
                if fake.delay:
                    time.sleep(fake.delay)
                status, body = fake._answer(parts.path, form, dict(self.headers))
                payload = json.dumps(body).encode() if isinstance(body, dict) else body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json" if isinstance(body, dict)
                                 else "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

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

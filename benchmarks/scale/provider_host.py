"""The scale bed's OAuth provider host: ``tests.fake_provider.FakeProvider``
served on the provider namespace's address, strict as a certified provider (it
rotates refresh tokens and revokes a grant whose refresh token is reused:
``tests/reuse_detection.py``), with two control endpoints for the scenarios:

* ``GET /_stats``: what it answered — refresh requests, successful refreshes,
  grants seen, grants revoked for reuse, and a histogram of successful
  refreshes per grant (``{"1": 9998, "2": 2}``: two grants refreshed twice).
  ``?detail=1`` adds ``per_grant``: successful refreshes keyed by
  ``grant_key(first refresh token)`` (a short SHA-256, never the token), so a
  scenario that seeded the tokens can tell which grant was refreshed how often.
* ``GET /_ledger``: per grant (keyed by ``tests.reuse_detection.digest`` of its
  first refresh token) its refreshes, a digest of its newest refresh token and
  whether it was revoked: the storm's "none lost" check compares the newest
  with what the database stores (benchmarks/scale/checks.py).
* ``POST /_reset``: forget every request, grant and token (between scenarios).

Run by the bed inside its namespace: ``python -m benchmarks.scale.provider_host
--host 10.228.0.20 --port 8000``. It prints one line when it listens and serves
until killed.
"""

import argparse
import hashlib
import signal
import sys
import threading
from collections import Counter


def grant_key(refresh_token):
    """The name /_stats gives a grant: a hash of the refresh token it started
    with (the scenario that stored that token computes the same)."""
    return hashlib.sha256(refresh_token.encode()).hexdigest()[:16]


class Stats:
    """Counts kept beside the provider's own request log (bounded by the run)."""

    def __init__(self, fake):
        self.fake = fake
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        from tests.reuse_detection import RevokeOnReuse

        with self.fake._lock:
            self.fake.requests.clear()
            self.fake.api_tokens.clear()
            self.fake.revoked.clear()
        strict = RevokeOnReuse(self.fake)
        self.fake.reuse = strict
        with self.lock:
            self.refresh_requests = 0
            self.successes = Counter()  # grant number -> successful refreshes
            self.first_token = {}  # grant number -> grant_key of its first refresh token
        inner = strict.__call__

        def counting(form, headers):
            refreshing = form.get("grant_type") == "refresh_token"
            status, body, *rest = inner(form, headers)
            if refreshing:
                presented = form.get("refresh_token", "")
                grant = strict.grant_of.get(presented)
                with self.lock:
                    self.refresh_requests += 1
                    if grant is not None:
                        self.first_token.setdefault(grant, grant_key(presented))
                        if status == 200:
                            self.successes[grant] += 1
            return (status, body, *rest)

        self.fake.handlers["/token"] = counting
        return 200, {"reset": True}

    def answer(self, form, headers):
        strict = self.fake.reuse
        with self.lock:
            histogram = Counter(self.successes.values())
            body = {
                "refresh_requests": self.refresh_requests,
                "refreshes": sum(self.successes.values()),
                "grants": len(self.first_token),
                "grants_refreshed": len(self.successes),
                "grants_revoked": len(strict.revoked),
                "refreshes_per_grant": {str(k): v for k, v in sorted(histogram.items())},
                "requests": len(self.fake.requests),
            }
            if form.get("detail"):
                body["per_grant"] = {
                    key: self.successes.get(grant, 0) for grant, key in self.first_token.items()
                }
        return 200, body


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args(argv)

    from tests.fake_provider import FakeProvider

    fake = FakeProvider(host=args.host, port=args.port, delay=args.delay)
    fake.server.socket.listen(1024)  # many workers at once: a deeper backlog than 5
    stats = Stats(fake)
    fake.handlers["/_stats"] = stats.answer
    fake.handlers["/_reset"] = lambda form, headers: stats.reset()
    fake.handlers["/_ledger"] = lambda form, headers: (200, fake.reuse.ledger())
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    fake.start()
    print(f"provider listening on {fake.url}", flush=True)
    # Serve until SIGTERM (or SIGKILL from the bed); checked every half second.
    while not stopping.wait(0.5):
        pass
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

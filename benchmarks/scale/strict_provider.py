"""The strict fake provider of the storm scenarios, and its ledger endpoint.

``strict_provider(fake)`` makes a tests.fake_provider.FakeProvider rotate
refresh tokens with reuse detection (a reused one revokes the grant) and answer
``GET /_ledger`` with what each grant went through (digests and counts, never
a token). A refresh token it has never seen starts a grant, so the seeded
tokens need no registration. ``python -m benchmarks.scale.strict_provider
--port N`` serves one on loopback (development without the bed).
"""

import argparse
import signal
import threading

from tests.fake_provider import FakeProvider
from tests.reuse_detection import RevokeOnReuse

LEDGER_PATH = "/_ledger"


def strict_provider(fake):
    strict = RevokeOnReuse(fake)
    fake.handlers[LEDGER_PATH] = lambda form, headers: (200, strict.ledger())
    return strict


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3600)
    args = parser.parse_args(argv)
    fake = FakeProvider().start()
    strict_provider(fake)
    print(fake.url, flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait(args.seconds)
    fake.stop()


if __name__ == "__main__":
    main()

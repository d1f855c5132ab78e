"""A burst of simultaneous requests against the API's credentials throttle, in
one OS process: ``python -m tests.ratelimit_burst <threads> <user_pk> <start_at>``.

Django is set up from ``tests.settings`` with the cache and key prefix the
environment gives (``CACHE_URL``, ``RATELIMIT_CACHE_PREFIX``); every thread
waits at a barrier, then until ``start_at`` (a Unix time shared with the other
processes), and asks the throttle once. Prints how many were allowed.
"""

import os
import sys
import threading
import time

from django.core.cache.backends.locmem import LocMemCache


class LatentLocMemCache(LocMemCache):
    """Django's local-memory cache with a network's latency before each call
    (as Redis has): other threads run meanwhile, as they do in a server."""

    LATENCY = 0.001

    def _wait(self):
        time.sleep(self.LATENCY)

    def get(self, *args, **kwargs):
        self._wait()
        return super().get(*args, **kwargs)

    def set(self, *args, **kwargs):
        self._wait()
        return super().set(*args, **kwargs)

    def add(self, *args, **kwargs):
        self._wait()
        return super().add(*args, **kwargs)

    def incr(self, *args, **kwargs):
        self._wait()
        return super().incr(*args, **kwargs)


def burst(threads, user_pk, start_at=0.0):
    """How many of ``threads`` simultaneous requests of one user the
    credentials throttle lets through."""
    from django.contrib.auth import get_user_model
    from django.test import RequestFactory

    from integrations.api.throttles import CredentialsThrottle

    user = get_user_model()(pk=user_pk, username=f"burst-{user_pk}")
    barrier = threading.Barrier(threads)
    allowed = []

    def one():
        request = RequestFactory().get("/api/credentials/")
        request.user = user
        barrier.wait()
        delay = start_at - time.time()
        if delay > 0:
            time.sleep(delay)
        allowed.append(CredentialsThrottle().allow_request(request, None))

    workers = [threading.Thread(target=one) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(allowed)


def main(threads, user_pk, start_at):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.RATELIMIT_CACHE_PREFIX = os.environ["RATELIMIT_CACHE_PREFIX"]
    print(burst(int(threads), int(user_pk), float(start_at)))


if __name__ == "__main__":
    main(*sys.argv[1:4])

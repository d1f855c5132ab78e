"""Reading an access token through the token service, with and without its audit row.

Each call loads the integration fresh from the database (as a request would)
and opens its access token; the measured call also writes the AuditEvent that
``tokens.read_access_token`` records. Per-call latencies give p50 and p95.
"""

import gc
import statistics
import time

from django.contrib.auth import get_user_model

from integrations import tokens
from integrations.models import AuditEvent, Integration, Provider
from integrations.sealed.redaction import Secret

from .common import Row, Section

P50_GOAL_SECONDS = 0.001


def _latencies(call, count):
    gc.collect()
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def _percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def section(quick):
    calls = 300 if quick else 3000
    user = get_user_model().objects.create_user("bench-service")
    provider = Provider.objects.create(slug="bench-service", name="Bench")
    integration, _ = tokens.connect(
        user, provider, {"access_token": "a" * 105, "refresh_token": "r" * 105, "expires_in": 3600}
    )
    pk = integration.pk

    def audited():
        fresh = Integration.objects.get(pk=pk)
        tokens.read_access_token(fresh, purpose="benchmark", actor=user)

    def unaudited():
        fresh = Integration.objects.get(pk=pk)
        Secret(fresh.access_token)

    # Warm up both, then interleave blocks so drift hits both sides alike.
    _latencies(audited, calls // 10)
    _latencies(unaudited, calls // 10)
    with_audit, without_audit = [], []
    for _ in range(5):
        with_audit += _latencies(audited, calls // 5)
        without_audit += _latencies(unaudited, calls // 5)

    rows = [
        Row(
            f"{name}, {len(with_audit):,} calls",
            _percentile(with_audit, q),
            _percentile(without_audit, q),
            "ms",
        )
        for name, q in (("p50 read_access_token", 0.50), ("p95 read_access_token", 0.95))
    ]
    p50 = statistics.median(with_audit)
    verdict = "ok" if p50 <= P50_GOAL_SECONDS else "OVER GOAL"
    notes = [
        "sealed = fresh load + open + AuditEvent insert; baseline = fresh load + open",
        f"goal: p50 <= 1 ms including the audit write: {p50 * 1e3:.3f} ms {verdict}",
    ]
    AuditEvent.objects.all()._raw_delete(AuditEvent.objects.db)
    return Section("service: read an access token (audited)", rows, notes)

"""Scenario "storm": ``size.grants`` access tokens expire at once.

Celery beat (one, on host 0) sends the shipped periodic task
``integrations.tasks.refresh_expiring_tokens`` every second
(benchmarks/scale/celery_app.py) to workers on TWO hosts (0 and 1), while
callers on host 2 ask ``tokens.get_valid_token`` for the same integrations
(``ops ask-tokens``: threads in one process, each on its own connection). No
API endpoint calls ``get_valid_token`` without forcing a refresh: the API's
``POST /api/integrations/<id>/refresh/`` always refreshes (and is limited per
integration), and the page's "Test connection" is limited per user; so the
callers use the token service directly, as an app's background job would.

The provider is strict (benchmarks/scale/strict_provider.py): it rotates
refresh tokens and revokes a grant whose rotated token comes back. Checks:
exactly one provider refresh per grant, none lost (every stored refresh token
is the provider's newest, no grant revoked), none left leased, all within the
bound.
"""

import os
import tempfile
import time
import uuid

from . import checks, driver, seeding
from .results import Check, ScenarioResult

WORKER_HOSTS = (0, 1)
ASKER_HOST = 2
ASKER_THREADS = 8


def bound_seconds(grants):
    """How long a storm may take: a minute for the short run, 20 grants/s at worst."""
    return max(60.0, grants / 20)


def run_storm(bed, size, *, tag, env=None, on_progress=None, extra_wait=0.0):
    """Seed, storm, settle and check; ``on_progress(done, workers)`` is called at
    each poll (the kill scenario kills a host from it). A dict of figures."""
    env = env or driver.app_env(bed)
    grants = size.grants
    bound = bound_seconds(grants) + extra_wait
    seeded = driver.op(
        bed,
        0,
        "seed-grants",
        "--tag",
        tag,
        "--count",
        grants,
        "--provider-url",
        driver.app_provider_url(bed),
        env=env,
        timeout=max(300, grants / 10),
    )
    digests = [seeding.digest(seeding.seed_refresh_token(tag, n)) for n in range(grants)]
    driver.purge_queue(bed, 0, env=env)
    ready = tempfile.mkdtemp(prefix="scale-ready-")
    env = {**env, "SCALE_READY_DIR": ready}
    workers = {host: driver.start_worker(bed, host, env=env) for host in WORKER_HOSTS}
    beat = driver.start_beat(bed, 0, env=env)
    asker = driver.start_op(
        bed,
        ASKER_HOST,
        "ask-tokens",
        "--tag",
        tag,
        "--threads",
        ASKER_THREADS,
        "--seconds",
        bound + 300,
        env=env,
    )
    # Everyone started (not counted), then every token expires at once.
    up = driver.wait_until(
        lambda: len(os.listdir(ready)) >= len(WORKER_HOSTS) + 2, timeout=180, every=0.5
    )
    if not up:
        driver.stop([beat, asker, *workers.values()])
        raise driver.OpFailed(f"storm: workers, beat and callers not all up: {os.listdir(ready)}")
    expired = driver.op(bed, 0, "expire-grants", "--tag", tag, env=env, timeout=120)
    started_at, t0 = expired["at"], time.monotonic() - max(0.0, time.time() - expired["at"])
    progress = []
    asks: dict = {}
    try:
        while True:
            done = driver.refreshed_grants(driver.provider_ledger(bed), digests)
            elapsed = time.monotonic() - t0
            progress.append((round(elapsed, 2), float(done)))
            if os.environ.get("SCALE_DEBUG"):
                print(f"storm {elapsed:.1f}s: {done}", flush=True)
            if on_progress is not None:
                on_progress(done, workers)
            if done >= grants or elapsed >= bound:
                break
            time.sleep(1.0)
        seconds = time.monotonic() - t0
        # The provider has answered every grant; wait until the database holds
        # every answer and no lease (bounded: a dead worker's lease must expire).
        state: dict = {"rows": []}

        def settled():
            state.update(driver.op(bed, 0, "grant-state", "--tag", tag, env=env, timeout=300))
            rows = state["rows"]
            return all(r["refreshed"] and not r["leased"] for r in rows)

        driver.wait_until(settled, timeout=30 + extra_wait, every=2.0)
        settled_seconds = time.monotonic() - t0
    finally:
        try:
            asks = driver.stop_op(asker, "ask-tokens", timeout=120)
        except driver.OpFailed as exc:
            asks = {"outcomes": {"op failed": 1}, "error": str(exc)}
        driver.stop([beat, *workers.values()])
    ledger = driver.provider_ledger(bed)
    rows = state["rows"]
    refresh_times = [r["refreshed"] for r in rows]
    provider_refreshes = sum(
        ledger["grants"][d][0] for d in digests if d in ledger.get("grants", {})
    )
    return {
        "tag": tag,
        "grants": grants,
        "seed_seconds": seeded.get("seconds"),
        "seconds": seconds,
        "settled_seconds": settled_seconds,
        "bound": bound,
        "rows": rows,
        "ledger": ledger,
        "provider_refreshes": provider_refreshes,
        "rate": checks.refresh_rate(refresh_times, started_at),
        "series": checks.completed_series(refresh_times, started_at),
        "provider_series": progress,
        "asks": asks,
    }


def table_row(figures, **extra):
    outcomes = figures["asks"].get("outcomes", {})
    latency = figures["asks"].get("latency", {})
    return {
        **extra,
        "grants": figures["grants"],
        "seconds": round(figures["seconds"], 1),
        "refreshes/s": round(figures["rate"], 1),
        "provider refreshes": figures["provider_refreshes"],
        "get_valid_token calls": sum(outcomes.values()),
        "call outcomes": ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) or "none",
        "call p50/p99 ms": f"{latency.get('p50_ms')}/{latency.get('p99_ms')}",
    }


def storm_checks(figures):
    return checks.storm_checks(
        figures["ledger"],
        figures["rows"],
        seconds=figures["seconds"],
        bound=figures["bound"],
    )


def run(bed, size):
    result = ScenarioResult("storm", f"Refresh storm: {size.grants} grants expiring at once")
    tag = f"st{uuid.uuid4().hex[:6]}"
    try:
        figures = run_storm(bed, size, tag=tag)
    except driver.OpFailed as exc:
        result.checks.append(Check("storm ran", False, str(exc)))
        return result
    result.table.append(table_row(figures))
    result.series["storm: refreshes stored"] = figures["series"]
    result.checks.extend(storm_checks(figures))
    result.notes.append(
        f"Celery beat every second on host 0, workers (2 processes each) on hosts "
        f"{', '.join(map(str, WORKER_HOSTS))}; {ASKER_THREADS} get_valid_token callers on "
        f"host {ASKER_HOST} (the token service called directly: no API endpoint reads a "
        f"token without forcing a refresh). Seeding took {figures['seed_seconds']} s; every "
        f"answer stored after {figures['settled_seconds']:.1f} s."
    )
    return result

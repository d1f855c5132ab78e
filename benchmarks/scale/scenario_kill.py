"""Scenario "kill": an app host dies (``kill -9`` of its gunicorn and its Celery
worker, every process it runs) in the middle of a refresh storm and, separately,
in the middle of a two-host key rotation. The others must finish the work and
lose nothing: the storm's and the rotation's own checks.

* Storm: host 1 (a worker host) dies once 30% of the grants are refreshed. A
  refresh it had leased stays leased until the lease expires; the lease lasts
  ``3 x HTTP_TIMEOUT_SECONDS + 5`` s (integrations/token_refresh.py), and
  ``HTTP_TIMEOUT_SECONDS`` is not read from the environment by config/settings.py,
  so the bed runs these processes with ``benchmarks.scale.settings`` (the shipped
  settings plus ``SCALE_HTTP_TIMEOUT_SECONDS``: 3 s here, a 14 s lease). An
  answer the provider gave and the dead worker never stored is in the refresh
  outbox (Redis, the bed's CACHE_URL): the worker that takes the lease over
  stores it without asking the provider again. Celery's own timeout does not
  matter here: tasks are acknowledged on receipt (no ``acks_late``), so a dead
  worker's task is simply gone and beat sends the next one a second later (the
  Redis transport's visibility timeout is not configurable from the
  environment either).
* Rotation: ``rotate_keys`` runs on hosts 1 and 2; host 1 dies once a third of
  the rows are re-sealed. PostgreSQL rolls back its open batch when its
  connection drops (the rows' locks go with it); host 2's run skips rows locked
  at the time (exit 3, "rows held by another process"), and a further run on
  host 2 finishes them.
"""

import dataclasses
import time
import uuid

from . import driver, scenario_rotation, scenario_storm
from .results import Check, ScenarioResult

KILLED = 1
STORM_AT = 0.3  # of the grants refreshed
ROTATION_AT = 1 / 3  # of the rows re-sealed
# What the kill proves (takeover after a lease expires, a rolled-back batch done
# again) does not grow with the counts, which the storm and rotation scenarios
# measure at full size: the full run kills a host in a smaller storm and rotation,
# which keeps `make scale-test` within its deadline.
MAX_GRANTS = 1_000
MAX_ROWS = 100_000
HTTP_TIMEOUT = 3  # seconds: a 14 s refresh lease


def lease_seconds():
    return 3 * HTTP_TIMEOUT + 5


def _kill_host(bed, index, procs=()):
    """kill -9 of everything the host runs (and of these processes, started there)."""
    driver.kill_now(list(procs))
    bed.hosts[index].kill()


def storm_part(bed, size, result):
    env = driver.app_env(
        bed,
        DJANGO_SETTINGS_MODULE="benchmarks.scale.settings",
        SCALE_HTTP_TIMEOUT_SECONDS=str(HTTP_TIMEOUT),
    )
    killed = {}

    def on_progress(done, workers):
        if not killed and done >= size.grants * STORM_AT:
            killed["at"] = time.monotonic()
            killed["done"] = done
            _kill_host(bed, KILLED, [workers[KILLED]])

    figures = scenario_storm.run_storm(
        bed,
        size,
        tag=f"ks{uuid.uuid4().hex[:6]}",
        env=env,
        on_progress=on_progress,
        extra_wait=2 * lease_seconds(),
    )
    row = scenario_storm.table_row(figures)
    result.table.append(
        {
            "part": f"storm, host {KILLED} killed",
            "work": f"{row['grants']} grants",
            "seconds": row["seconds"],
            "per second": f"{row['refreshes/s']} refreshes",
            "detail": f"provider refreshes {row['provider refreshes']}; get_valid_token "
            f"calls {row['get_valid_token calls']} ({row['call outcomes']})",
        }
    )
    result.series["kill: storm refreshes stored"] = figures["series"]
    result.checks.append(
        Check(
            "storm: a host was killed mid-storm",
            bool(killed),
            f"host {KILLED} killed with {killed.get('done', 0)} of {size.grants} grants refreshed"
            if killed
            else "the storm ended before the kill",
        )
    )
    result.checks.extend(
        Check(f"storm: {c.name}", c.ok, c.detail) for c in scenario_storm.storm_checks(figures)
    )


def rotation_part(bed, size, result):
    killed = {}

    def during_two(procs, version):
        """Kill host 1 once a third of the rows are under the new key."""
        now = time.monotonic()
        killed.setdefault("t0", now)
        if "after" in killed or procs[KILLED].poll() is not None:
            return
        if scenario_rotation.under_version(bed, version) >= size.rows * ROTATION_AT:
            killed["after"] = now - killed["t0"]
            _kill_host(bed, KILLED, [procs[KILLED]])

    figures = scenario_rotation.run_rotation(
        bed, size, tag=f"kr{uuid.uuid4().hex[:6]}", one_host=False, during_two=during_two
    )
    for row in scenario_rotation.phase_rows(figures):
        result.table.append(
            {
                "part": f"rotation, host {KILLED} killed",
                "work": f"{row['rows']} rows",
                "seconds": row["seconds"],
                "per second": f"{row['rows/s']} rows",
                "detail": f"re-sealed by runs that lived {row['re-sealed']}; exit statuses "
                f"{row['exit statuses']} (-9: killed)",
            }
        )
    result.checks.append(
        Check(
            "rotation: a host was killed mid-rotation",
            "after" in killed,
            f"host {KILLED} killed {killed['after']:.1f} s into the two-host rotation"
            if "after" in killed
            else "the rotation ended before the kill",
        )
    )
    result.checks.extend(
        Check(f"rotation: {c.name}", c.ok, c.detail) for c in figures["two_host_checks"]
    )
    passes = figures["finishing"]
    result.notes.append(
        f"Rotation: after the kill, {len(passes)} further run(s) on host "
        f"{scenario_rotation.FINISHING_HOST} re-sealed "
        f"{sum(r['resealed'] for r in passes)} rows the dead host's batch had rolled back "
        "or the survivor had skipped."
    )


def run(bed, size):
    result = ScenarioResult("kill", "A host killed (kill -9) mid-storm and mid-rotation")
    size = dataclasses.replace(
        size, grants=min(size.grants, MAX_GRANTS), rows=min(size.rows, MAX_ROWS)
    )
    for part in (storm_part, rotation_part):
        try:
            part(bed, size, result)
        except driver.OpFailed as exc:
            result.checks.append(Check(f"{part.__name__} ran", False, str(exc)))
        finally:
            try:  # bring the dead host back for whatever runs next
                if bed.hosts[KILLED].web is None:
                    bed.hosts[KILLED].start_web()
            except Exception as exc:  # noqa: BLE001 - reported, the next part still runs
                result.notes.append(f"host {KILLED} did not come back: {type(exc).__name__}")
    result.notes.append(
        f"Refresh lease {lease_seconds()} s (HTTP_TIMEOUT_SECONDS {HTTP_TIMEOUT} through "
        "benchmarks.scale.settings; not settable from the environment in config/settings.py)."
    )
    return result

"""Scenario "rotation": ``manage.py rotate_keys`` on ``size.rows`` sealed rows.

``size.rows`` credentials are sealed under the bed's primary key in the seeding
process and streamed with COPY (``ops seed-rows``: each value bound to its row
as ``EncryptedJSONField`` binds it, docs/FORMAT.md). Then, as a deployment
would: a new primary key on every app host (web servers restarted), and
``rotate_keys --model integrations.Credential`` from one host alone; then a
second new key, and ``rotate_keys`` from TWO hosts at once (its batches are
``FOR UPDATE SKIP LOCKED``, so they share the table) while the API creates and
updates credentials through all hosts. rows/s counts what the runs report
re-sealed, over the wall time.

Checks: nothing lost (every row opens to what was seeded or written, the count
is what was seeded plus what the API created) and nothing left under an old key.
"""

import json
import os
import tempfile
import time
import uuid

from . import checks, driver
from .results import Check, ScenarioResult

MODEL = "integrations.Credential"
BATCH_SIZE = 1000
FINISHING_HOST = 2  # the kill scenario kills host 1
MAX_PASSES = 3  # rotate_keys runs after a run reports rows held by another (exit 3)


def bound_seconds(rows):
    """How long one rotation may take: two minutes, or 300 rows/s at worst."""
    return max(120.0, rows / 300)


def rotate_argv():
    return ["rotate_keys", "--model", MODEL, "--json", f"--batch-size={BATCH_SIZE}"]


def rotate(bed, hosts, *, bound, env=None, during=None):
    """``rotate_keys`` from ``hosts`` at once: re-sealed rows, seconds, exit
    statuses. ``during(procs)`` is called every half second while they run
    (the kill scenario kills one from it); a killed run counts nothing."""
    env = env or driver.app_env(bed)
    t0 = time.monotonic()
    procs = {host: driver.manage(bed, host, *rotate_argv(), env=env) for host in hosts}
    deadline = t0 + bound
    while any(p.poll() is None for p in procs.values()) and time.monotonic() < deadline:
        if during is not None:
            during(procs)
        time.sleep(0.5)
    resealed, statuses = 0, {}
    for host, proc in procs.items():
        try:
            out, status = driver.finish(
                proc, f"rotate_keys on host {host}", timeout=5, ok=range(-20, 256)
            )
        except driver.OpFailed:
            statuses[host] = "timeout"
            continue
        statuses[host] = status
        resealed += reseal_count(out)
    return {"resealed": resealed, "seconds": time.monotonic() - t0, "statuses": statuses}


def reseal_count(out):
    """Rows a ``rotate_keys --json`` run re-sealed (0 if it printed no summary)."""
    try:
        summary = json.loads(out)
    except ValueError:
        return 0
    return sum(field.get("resealed", 0) for field in summary.get("fields", []))


def finish_rotation(bed, host, *, bound, env=None):
    """Run ``rotate_keys`` on one host until it says done (exit 0), a few times
    at most: rows a killed or concurrent run held are done then. The runs."""
    runs = []
    for _ in range(MAX_PASSES):
        run = rotate(bed, [host], bound=bound, env=env)
        runs.append(run)
        if run["statuses"][host] == 0:
            break
    return runs


def under_version(bed, version):
    """Credentials sealed under key ``version`` now (the driver asks PostgreSQL
    itself: cheap enough to poll)."""
    import psycopg

    header = f"$si1${version}$"
    with psycopg.connect(bed.direct_db_url.replace("postgres://", "postgresql://", 1)) as db:
        row = db.execute(
            "SELECT count(*) FROM integrations_credential WHERE substr(data, 1, %s) = %s",
            [len(header), header],
        ).fetchone()
    return row[0]


def rows_state(bed, tag, *, expected=None, env=None, timeout=900):
    args = ["--tag", tag] + (["--expected", expected] if expected else [])
    return driver.op(bed, 0, "rows-state", *args, env=env, timeout=timeout)


def api_token(bed, tag, env):
    """An API token for the tag's user (stdout of create_api_token; never printed)."""
    proc = driver.manage(bed, 0, "create_api_token", f"scale-{tag}", "--expiry-days", "1", env=env)
    out, _status = driver.finish(proc, "create_api_token", timeout=120)
    return out.strip().splitlines()[-1]


def run_rotation(bed, size, *, tag, one_host=True, during_two=None):
    """Seed, rotate from one host (unless ``one_host`` is False), rotate from
    two hosts while the API writes, check. A dict of figures."""
    rows = size.rows
    bound = bound_seconds(rows)
    bed.env.setdefault("API_THROTTLE_CREDENTIALS", "1000000/min")
    if not driver.keyring_entries(bed):
        driver.add_primary_key(bed)
        driver.restart_web(bed, range(len(bed.hosts)))
    seeded = driver.op(
        bed, 0, "seed-rows", "--tag", tag, "--count", rows, timeout=max(600, rows / 500)
    )
    figures = {"rows": rows, "seed_seconds": seeded.get("seconds"), "phases": []}
    if one_host:
        version = driver.add_primary_key(bed)
        driver.restart_web(bed, range(len(bed.hosts)))
        run = rotate(bed, [0], bound=bound)
        figures["phases"].append({"hosts": 1, **run})
        state = rows_state(bed, tag)
        figures["one_host_checks"] = checks.rotation_checks(
            state, expected_rows=rows, primary=version, label="one host"
        )
    version = driver.add_primary_key(bed)
    driver.restart_web(bed, range(len(bed.hosts)))
    env = driver.app_env(bed, SCALE_API_TOKEN=api_token(bed, tag, driver.app_env(bed)))
    expected_file = os.path.join(tempfile.mkdtemp(prefix="scale-writes-"), "expected.json")
    writer = driver.start_op(
        bed,
        0,
        "api-writes",
        *[arg for host in bed.hosts for arg in ("--base-url", host.base_url)],
        "--prefix",
        f"api-{tag}",
        "--seconds",
        bound + 60,
        "--out",
        expected_file,
        env=env,
    )
    try:
        two = rotate(
            bed,
            [1, 2],
            bound=bound,
            during=None if during_two is None else lambda procs: during_two(procs, version),
        )
    finally:
        writes = driver.stop_op(writer, "api-writes", timeout=120)
    figures["phases"].append({"hosts": 2, **two})
    # Rows a concurrent (or killed) run held, and values the API wrote under
    # the old key before its host restarted: one more pass does them.
    figures["finishing"] = finish_rotation(bed, FINISHING_HOST, bound=bound)
    with open(expected_file) as source:
        expected = json.load(source)
    certain, possible = checks.expected_api_rows(expected)
    state = rows_state(bed, tag, expected=expected_file)
    figures["writes"] = writes
    figures["two_host_checks"] = checks.rotation_checks(
        state,
        expected_rows=(rows + certain, rows + possible),
        primary=version,
        label="two hosts with API writes",
    )
    return figures


def startup_seconds(figures):
    """What a run costs with nothing to re-seal (process start-up and one scan
    of the table): the last finishing pass, when it re-sealed nothing."""
    last = figures["finishing"][-1] if figures.get("finishing") else None
    return last["seconds"] if last and last["resealed"] == 0 else 0.0


def phase_rows(figures, **extra):
    table = []
    overhead = startup_seconds(figures)
    for phase in figures["phases"]:
        seconds = phase["seconds"]
        net = seconds - overhead
        table.append(
            {
                **extra,
                "hosts": phase["hosts"],
                "rows": figures["rows"],
                "re-sealed": phase["resealed"],
                "seconds": round(seconds, 1),
                "rows/s": round(phase["resealed"] / seconds) if seconds else 0,
                "rows/s net of start-up": round(phase["resealed"] / net) if net > 0 else "-",
                "exit statuses": ", ".join(
                    f"host {h}: {s}" for h, s in sorted(phase["statuses"].items())
                ),
            }
        )
    return table


def run(bed, size):
    result = ScenarioResult("rotation", f"Key rotation: rotate_keys on {size.rows} sealed rows")
    tag = f"ro{uuid.uuid4().hex[:6]}"
    try:
        figures = run_rotation(bed, size, tag=tag)
    except driver.OpFailed as exc:
        result.checks.append(Check("rotation ran", False, str(exc)))
        return result
    result.table.extend(phase_rows(figures))
    result.checks.extend(figures["one_host_checks"] + figures["two_host_checks"])
    one, two = figures["phases"][0], figures["phases"][1]
    if one["seconds"] and two["seconds"]:
        speedup = (two["resealed"] / two["seconds"]) / max(one["resealed"] / one["seconds"], 1e-9)
        result.notes.append(f"Two hosts re-sealed {speedup:.2f}x the rows/s of one host.")
    statuses = figures["writes"].get("statuses", {})
    result.notes.append(
        f"API writes during the two-host rotation: {figures['writes'].get('requests', 0)} "
        f"requests ({', '.join(f'{k}: {v}' for k, v in sorted(statuses.items())) or 'none'}). "
        f"Finishing passes on one host afterwards: {len(figures['finishing'])}, re-sealing "
        f"{sum(r['resealed'] for r in figures['finishing'])} rows. Seeding {figures['rows']} "
        f"rows took {figures['seed_seconds']} s. 'Net of start-up' subtracts "
        f"{startup_seconds(figures):.1f} s, what a run with nothing to re-seal took "
        "(Django start-up and one scan of the table)."
    )
    return result

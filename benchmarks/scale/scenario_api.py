"""Scenario (a): the API's read/write mix from many clients against 1, 2 and 3
app hosts, on one PostgreSQL and one Redis.

For each host count and each client count of the size: throughput, p50/p99
latency, and the answers by class (2xx, 429, 503, other 5xx, no answer). The
checks: no 500 (nor any 5xx but 503), no request left unanswered, every 429 a
rate limit of ``credentials/`` with ``Retry-After``, every 503 with
``Retry-After``. The CPU seconds of each host, PostgreSQL and the load
generator are measured over each step, so the note can say what stopped
throughput from rising.
"""

import json
import os
import time

from .load import CONNECTION_ERROR, per_second, percentile, run_load
from .results import Check, ScenarioResult

RATE_LIMITED_OPS = {
    "list_credentials",
    "get_credential",
    "create_credential",
    "update_credential",
    "delete_credential",
}


def seed(bed, users):
    """Users, tokens, integrations and credentials (benchmarks/scale/seed_api.py)."""
    out = bed.tmp / "api-world.json"
    bed.python(
        [
            "-m",
            "benchmarks.scale.seed_api",
            "--users",
            users,
            "--provider-url",
            bed.provider_url,
            "--out",
            out,
        ],
        env={"DATABASE_URL": bed.direct_db_url},
    )
    world = json.loads(out.read_text())
    out.unlink()
    return world


def summarize(load, steps_cpu, seconds):
    records = load.records
    answered = [r for r in records if r.status != CONNECTION_ERROR]
    latencies = [r.latency for r in answered]
    counts = {
        "2xx": sum(200 <= r.status < 300 for r in records),
        "4xx": sum(400 <= r.status < 500 and r.status != 429 for r in records),
        "429": sum(r.status == 429 for r in records),
        "503": sum(r.status == 503 for r in records),
        "5xx": sum(r.status >= 500 and r.status != 503 for r in records),
        "no answer": sum(r.status == CONNECTION_ERROR for r in records),
    }
    # Throughput: answers that came within the step (those in flight at its end
    # finish later and count only for latency).
    done = sum(r.t + r.latency <= seconds for r in answered)
    return {
        "req/s": round(done / seconds, 1) if seconds else 0.0,
        "p50 ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99 ms": round(percentile(latencies, 0.99) * 1000, 1),
        **counts,
        **steps_cpu,
    }


def cpu_note(bed, hosts, before, after, loadgen, seconds):
    """The cores each part used over a step: {"host cores": [...], "pg": .., ...}."""
    used = {name: (after[name] - before.get(name, 0.0)) / seconds for name in after}
    host_names = [h.name.removeprefix(f"{bed.prefix}-") for h in bed.hosts[:hosts]]
    return {
        "hosts CPU %": "/".join(
            f"{100 * used[name] / bed.host_cpus:.0f}" if bed.cgroups.available else "-"
            for name in host_names
        ),
        "PG cores": round(used.get("pg", 0.0), 2),
        "load cores": round(loadgen / seconds, 2),
        "bed cores": round(sum(used.values()) + loadgen / seconds, 2),
    }


def bottleneck(bed, row, cores):
    """Which resource was the limit of a step, by the measured CPU."""
    host_use = [float(x) for x in row["hosts CPU %"].split("/") if x != "-"]
    if host_use and min(host_use) >= 85:
        return "the app hosts' CPU quota"
    if row["busy cores"] >= 0.85 * cores and row["bed cores"] < 0.7 * row["busy cores"]:
        return f"the machine's {cores} cores, busy with other work too"
    if row["busy cores"] >= 0.85 * cores:
        return f"the machine's {cores} cores"
    if row["PG cores"] >= 0.8:
        return "PostgreSQL's CPU"
    return "neither CPU (waits: locks, connections or the clients)"


def run(bed, size):
    result = ScenarioResult("api", "API read/write mix across app hosts")
    host_counts = [n for n in size.host_counts if n <= len(bed.hosts)]
    max_clients = max(size.clients)
    world = seed(bed, max_clients)
    cores = os.cpu_count() or 1
    timeline = 0.0
    by_hosts = {}
    unanswered = server_errors = 0
    bad_429 = bad_503 = 0
    for hosts in host_counts:
        bed.start_webs(hosts)
        urls = [h.base_url for h in bed.hosts[:hosts]]
        # Unrecorded warm-up: each worker's first requests import and connect.
        run_load(urls, world["tokens"], 4 * hosts, 2.0, keys_provider=world["keys_provider"])
        for clients in size.clients:
            load = run_load(
                urls,
                world["tokens"],
                clients,
                size.load_seconds,
                keys_provider=world["keys_provider"],
                probe=lambda: (bed.cpu_seconds(), bed.machine_busy_seconds(), time.monotonic()),
            )
            (before, busy_before, wall), (after, busy_after, wall_after) = load.probes
            wall = wall_after - wall
            busy = (busy_after - busy_before) / wall
            seconds = size.load_seconds
            cpu = cpu_note(bed, hosts, before, after, load.cpu_seconds, wall)
            row = {"hosts": hosts, "clients": clients, **summarize(load, cpu, seconds)}
            row["busy cores"] = round(busy, 2)
            row["limit"] = bottleneck(bed, row, cores)
            result.table.append(row)
            by_hosts.setdefault(hosts, []).append(row)
            unanswered += row["no answer"]
            server_errors += row["5xx"]
            bad_429 += sum(
                r.status == 429 and (r.op not in RATE_LIMITED_OPS or not r.retry_after)
                for r in load.records
            )
            bad_503 += sum(r.status == 503 and not r.retry_after for r in load.records)
            label = f"{hosts} host{'s' if hosts > 1 else ''}, {clients} clients"
            for t, count, p99 in per_second(load.records, seconds, timeline):
                result.series.setdefault(f"throughput {label} (req/s)", []).append((t, count))
                result.series.setdefault(f"p99 latency {label} (ms)", []).append((t, p99))
            timeline += seconds + 1
    result.checks = [
        Check("no 500 (nor any 5xx but 503)", server_errors == 0, f"{server_errors} answered 5xx"),
        Check("every request answered", unanswered == 0, f"{unanswered} without an answer"),
        Check(
            "429 only as the credentials rate limit, with Retry-After",
            bad_429 == 0,
            f"{bad_429} other 429",
        ),
        Check("503 only with Retry-After", bad_503 == 0, f"{bad_503} without it"),
    ]
    result.notes = notes(bed, by_hosts, cores)
    return result


def notes(bed, by_hosts, cores):
    best = {hosts: max(rows, key=lambda r: r["req/s"]) for hosts, rows in by_hosts.items()}
    said = [
        "Best throughput: "
        + ", ".join(
            f"{hosts} host{'s' if hosts > 1 else ''} {row['req/s']} req/s"
            for hosts, row in best.items()
        )
        + "."
    ]
    counts = sorted(best)
    stop = None
    for previous, hosts in zip(counts, counts[1:], strict=False):
        if best[hosts]["req/s"] < 1.15 * best[previous]["req/s"]:
            stop = hosts
            break
    if stop is None:
        last = best[counts[-1]]
        said.append(
            f"Throughput still rose with every host added (to {counts[-1]}); at the top "
            f"the limit was {last['limit']} (hosts at {last['hosts CPU %']} % of their quota, "
            f"PostgreSQL {last['PG cores']} cores, the bed {last['bed cores']} and the "
            f"whole machine {last['busy cores']} of {cores} cores)."
        )
    else:
        row = best[stop]
        said.append(
            f"Throughput stopped rising at {stop} hosts (under +15 % for the host added): "
            f"the limit there was {row['limit']} (hosts at {row['hosts CPU %']} % of their "
            f"quota, PostgreSQL {row['PG cores']} cores, the load generator "
            f"{row['load cores']}, the bed {row['bed cores']} and the whole machine "
            f"{row['busy cores']} of {cores} cores)."
        )
    if not bed.cgroups.available:
        said.append("No writable cgroup: the hosts shared every core, so hosts add no CPU.")
    else:
        said.append(f"Each app host had a CPU quota of {bed.host_cpus} core (cgroup).")
    return said

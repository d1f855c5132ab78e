"""Re-sealing large values: peak memory of rotate_keys, 1 MB values against small ones.

Batches are bounded by bytes as well as rows (``RESEAL_BATCH_BYTES``), so the
engine's memory must not grow with the size of the values. Each measurement
runs in a child process of its own (``python -m benchmarks.reseal_memory_bench
--child ...``) that creates its own throwaway database (a temporary file for
SQLite, so the table is not in the process's memory), inserts the rows one at a
time, resets its peak-RSS mark, rotates the column and reports its own peak
resident set size (``VmHWM`` from /proc/self/status; elsewhere
``resource.getrusage``'s ``ru_maxrss``, which then includes the inserts).

The baseline is the same child rotating the same number of small values (a
100-byte token) with the same batch size, measured in the same run.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Row, Section

ROOT = Path(__file__).resolve().parent.parent
LARGE = 2**20  # 1 MB values, as in issue 22
SMALL = 100
# Peak RSS with 1 MB values over the same run with small values: memory stays flat.
GOAL_RATIO = 2.0


def _peak_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _reset_peak():
    """Forget the peak so far (Linux >= 4.0); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def child(rows, size, batch_size, batch_bytes):
    """Runs in the child: create, rotate, print ``{"peak_mb", ...}`` as JSON."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    import gc

    from django.db import connection
    from django.test.utils import (
        override_settings,
        setup_test_environment,
        teardown_test_environment,
    )

    from integrations.sealed import resealing
    from tests.settings import TEST_KEY_V1
    from tests.testapp.models import Account

    folder = tempfile.mkdtemp(prefix="bench-mem-")
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = os.path.join(folder, "db.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = (
            f"bench_mem_{connection.settings_dict['NAME']}_{os.getpid()}"
        )
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        with override_settings(INTEGRATIONS={"ENCRYPTION_KEYS": [TEST_KEY_V1]}):
            for n in range(rows):  # one at a time: the inserts hold one value at once
                Account.objects.create(token=f"{n:06d}-" + "x" * (size - 7))
        gc.collect()
        reset = _reset_peak()
        start_mb = _peak_mb()
        started = time.perf_counter()
        report = resealing.reseal_field(
            Account,
            Account._meta.get_field("token"),
            batch_size=batch_size,
            batch_bytes=batch_bytes,
        )
        seconds = time.perf_counter() - started
        assert report.resealed == rows and report.remaining == 0, report
        peak_mb = _peak_mb()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)
    print(
        json.dumps({"peak_mb": peak_mb, "start_mb": start_mb, "reset": reset, "seconds": seconds})
    )


def _measure(rows, size, batch_size, batch_bytes=None):
    command = [
        sys.executable,
        "-m",
        "benchmarks.reseal_memory_bench",
        "--child",
        "--rows",
        str(rows),
        "--size",
        str(size),
        "--batch-size",
        str(batch_size),
    ]
    if batch_bytes is not None:
        command += ["--batch-bytes", str(batch_bytes)]
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"memory bench child failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def section(quick):
    rows = int(os.environ.get("BENCH_MEMORY_ROWS") or (60 if quick else 300))
    table, notes = [], []
    reset = True
    for batch_size in (20, 500):
        small = _measure(rows, SMALL, batch_size)
        large = _measure(rows, LARGE, batch_size)
        reset = reset and small["reset"] and large["reset"]
        table.append(
            Row(
                f"peak RSS, {rows} x 1 MB vs {rows} x {SMALL} B (batch {batch_size})",
                large["peak_mb"],
                small["peak_mb"],
                "MB",
                GOAL_RATIO,
            )
        )
        notes.append(
            f"batch {batch_size}: 1 MB values peak {large['peak_mb']:,.0f} MB "
            f"(+{large['peak_mb'] - large['start_mb']:,.0f} MB during the rotation, "
            f"{rows / large['seconds']:,.0f} rows/s); small values peak "
            f"{small['peak_mb']:,.0f} MB (+{small['peak_mb'] - small['start_mb']:,.0f} MB)"
        )
    from integrations.conf import app_settings

    notes.insert(
        0,
        f"rotate_keys in a child process per run, its own peak RSS; batches end at the "
        f"batch size or at RESEAL_BATCH_BYTES = {app_settings.RESEAL_BATCH_BYTES / 2**20:g} MiB "
        f"of stored values; goal: 1 MB values at <= {GOAL_RATIO:.1f}x the small values' peak",
    )
    if not reset:
        notes.append("peak RSS includes the inserts (no /proc/self/clear_refs here)")
    return Section("re-sealing large values: peak memory", table, notes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", action="store_true")
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--size", type=int, default=LARGE)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--batch-bytes", type=int, default=None)
    args = parser.parse_args()
    if args.child:
        child(args.rows, args.size, args.batch_size, args.batch_bytes)
    else:
        for key, value in _measure(args.rows, args.size, args.batch_size, args.batch_bytes).items():
            print(key, value)

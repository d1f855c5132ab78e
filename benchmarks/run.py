"""`make bench`: how much sealing costs, as ratios to baselines timed alongside.

Run from the repository root::

    .venv/bin/python benchmarks/run.py [--quick] [--only reseal ...]
    BENCH_ROWS=1000000 DATABASE_URL=postgres://... .venv/bin/python benchmarks/run.py
    make bench BENCH_ARGS="--only reseal"

``BENCH_ROWS`` sets the rows of the re-sealing section (default 100,000).

It uses ``benchmarks.settings`` (``tests.settings``' fixed test keys, plus fresh
keys for the peer packages of the ``peers`` section) and a throwaway test database
created the way Django's test runner creates one: SQLite in memory by default,
PostgreSQL when DATABASE_URL points there. A developer's database is never
touched. Nothing printed contains a key or a plaintext.

To add a section, write a ``section(quick) -> common.Section`` function and
list it in SECTIONS.
"""

import argparse
import os
import platform
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup()

import cryptography  # noqa: E402
from cryptography.hazmat.backends.openssl.backend import backend as openssl  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402

from benchmarks import (  # noqa: E402
    blind_index_bench,
    crypto_bench,
    orm_bench,
    peers_bench,
    refresh_bench,
    reseal_bench,
    reseal_memory_bench,
    service_bench,
    wrap_bench,
)
from benchmarks.common import format_section  # noqa: E402

SECTIONS = [
    crypto_bench.section,
    orm_bench.section,
    peers_bench.section,
    service_bench.section,
    refresh_bench.section,
    reseal_bench.section,
    reseal_memory_bench.section,
    wrap_bench.section,
    blind_index_bench.section,
]


@contextmanager
def test_database():
    """Create the test database for the run and drop it afterwards."""
    if connection.vendor != "sqlite":
        # Not the test runner's name, so a bench never clobbers the database
        # of a test run going on at the same time.
        connection.settings_dict["TEST"]["NAME"] = f"bench_{connection.settings_dict['NAME']}"
    setup_test_environment()
    old_name = connection.settings_dict["NAME"]
    # autoclobber: drop a database left behind by an interrupted bench
    # instead of prompting for it.
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def describe_database():
    if connection.vendor == "postgresql":
        major, minor = divmod(connection.pg_version, 10000)
        return f"PostgreSQL {major}.{minor} (test database {connection.settings_dict['NAME']})"
    if connection.vendor == "sqlite":
        import sqlite3

        where = "in memory" if connection.is_in_memory_db() else connection.settings_dict["NAME"]
        return f"SQLite {sqlite3.sqlite_version} (test database {where})"
    return f"{connection.display_name} (test database {connection.settings_dict['NAME']})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer values, rows and repeats: a smoke test"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only the sections whose module name contains NAME (e.g. reseal); repeatable",
    )
    args = parser.parse_args(argv)
    sections = [
        section
        for section in SECTIONS
        if not args.only or any(name in section.__module__ for name in args.only)
    ]

    started = time.perf_counter()
    with test_database():
        print(
            f"Sealed Integrations benchmarks{' (--quick)' if args.quick else ''}\n"
            f"Python {platform.python_version()}, Django {django.get_version()}, "
            f"cryptography {cryptography.__version__} ({openssl.openssl_version_text()}), "
            f"{os.cpu_count()} CPUs\n"
            f"Database: {describe_database()}\n"
            "Ratio = sealed / baseline, both timed in this run (the median of per-round "
            "ratios); times are medians over repeats after a warm-up; noise = the IQR of "
            "the ratios; floor = the ratio of the least a sealed column can cost (see each "
            "section). The machine's load average at the start: "
            f"{' '.join(f'{load:.2f}' for load in os.getloadavg())}.\n",
            flush=True,
        )
        for section in sections:
            print("\n".join(format_section(section(args.quick))) + "\n", flush=True)
    print(f"Total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

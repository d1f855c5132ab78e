"""``make faults``: the fault scenarios against real servers this run starts.

A private PostgreSQL cluster (``initdb`` in a temporary folder, on a free
port) holds the test database, so the tests can restart it and kill its
backends under the app; Redis servers are started by the tests themselves.
Everything is torn down at the end, whatever happened.

    python tests/faults/run.py [pytest arguments]
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.faults.servers import PrivatePostgres  # noqa: E402


def main(argv):
    cluster = PrivatePostgres().create().start()
    try:
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:{cluster.port}/faults",
            "FAULTS_PGDATA": str(cluster.datadir),
            "FAULTS_PGPORT": str(cluster.port),
            "BROWSER_TESTS": "0",
        }
        command = [sys.executable, "-m", "pytest", "-m", "faults", "-p", "no:cacheprovider", *argv]
        print("faults: PostgreSQL cluster on port", cluster.port, flush=True)
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run ``get_valid_token`` in separate OS processes against the test database.

Each process is a fresh interpreter running ``tests/race_worker.py`` with the
test settings, pointed at the database the test uses (the SQLite file or the
PostgreSQL test database), so it shares nothing with the test but the data.
The processes start together: each signals it is ready, then waits for "go".
"""

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url():
    """A DATABASE_URL naming the database this test runs on."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        user = quote(settings["USER"] or "", safe="")
        password = quote(settings["PASSWORD"] or "", safe="")
        auth = f"{user}:{password}@" if password else f"{user}@"
        host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
        return f"postgres://{auth}{host}:{port}/{settings['NAME']}"
    raise NotImplementedError(connection.vendor)


def run_in_processes(count, integration_pk, workdir, *, timeout=120, script="race_worker.py"):
    """What ``get_valid_token`` returned in each of ``count`` processes started
    together: the token, or ``ExceptionName:code``. (``script``: another script
    of tests/ taking the same arguments, e.g. bidx_worker.py.)"""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "PYTHONPATH": str(ROOT),
    }
    go = Path(workdir) / "go"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / script),
                str(integration_pk),
                str(Path(workdir) / f"ready-{index}"),
                str(go),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for index in range(count)
    ]
    try:
        deadline = time.monotonic() + timeout
        while len(list(Path(workdir).glob("ready-*"))) < count:
            if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                break
            time.sleep(0.05)
        go.touch()
        results = []
        for worker in workers:
            out, err = worker.communicate(timeout=timeout)
            assert worker.returncode == 0, err[-2000:]
            results.append(out.strip())
        return results
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()

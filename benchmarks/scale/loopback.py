"""A stand-in for the bed on plain loopback processes, to develop scenarios
without network namespaces: ``python -m benchmarks.scale.loopback storm``.

Same interface as the bed's ``Bed`` where the scenarios use it (``env``,
``hosts[i].run/start_web/stop_web/kill/base_url``, ``provider_url``,
``redis_url``); the hosts are only names, every process runs on 127.0.0.1, the
web server is Django's runserver and the provider runs in this process. Its
database is created afresh (``SCALE_DEV_DB``, default ``h_scen1`` on
127.0.0.1) and dropped at the end.
"""

import argparse
import importlib
import os
import signal
import subprocess
import sys
import time

import requests

from integrations.crypto import generate_key

from . import driver
from .results import FULL, SHORT


class LoopbackHost:
    def __init__(self, bed, index, port):
        self.bed = bed
        self.name = f"loop{index}"
        self.ip = "127.0.0.1"
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.procs = []
        self.web = None

    def run(self, argv, env=None, **popen_kw):
        proc = subprocess.Popen(argv, env=env, **popen_kw)
        self.procs.append(proc)
        return proc

    def start_web(self):
        argv = [driver.PYTHON, "manage.py", "runserver", "--noreload", f"127.0.0.1:{self.port}"]
        self.web = self.run(
            argv,
            env=driver.app_env(self.bed),
            cwd=str(driver.REPO),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(f"{self.base_url}/api/", timeout=2)
            except requests.RequestException:
                time.sleep(0.3)
                continue
            return
        raise RuntimeError(f"{self.name}: web server not up within 60 s")

    def stop_web(self):
        if self.web is not None:
            driver.stop([self.web])
            self.web = None

    def kill(self):
        driver.kill_now(self.procs)


class LoopbackBed:
    def __init__(self, *, hosts=3, db=None, port=56300):
        self.db = db or os.environ.get("SCALE_DEV_DB", "h_scen1")
        self.db_url = self.direct_db_url = f"postgres://postgres@127.0.0.1:5432/{self.db}"
        self.redis_url = "redis://127.0.0.1:6379/6"
        self.hosts = [LoopbackHost(self, i, port + 10 + i) for i in range(hosts)]
        self.env = {
            "DATABASE_URL": self.db_url,
            "CACHE_URL": self.redis_url,
            "CELERY_BROKER_URL": self.redis_url,
            "SECRET_KEY": "scale-loopback-" + "k" * 40,
            "DEBUG": "false",
            "DEMO_PROVIDER": "false",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "INTEGRATIONS_ENCRYPTION_KEYS": generate_key(1),
            "DB_CONN_MAX_AGE": "0",
        }

    def __enter__(self):
        from tests.fake_provider import FakeProvider

        from .strict_provider import strict_provider

        self._sql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        self._sql(f'CREATE DATABASE "{self.db}"')
        self.fake = FakeProvider().start()
        strict_provider(self.fake)
        self.provider_url = self.fake.url
        out = self.manage(["migrate", "--noinput"])
        if out.returncode:
            raise RuntimeError("migrate failed")
        for host in self.hosts:
            host.start_web()
        return self

    def __exit__(self, *exc):
        for host in self.hosts:
            host.stop_web()
            driver.stop([p for p in host.procs if p.poll() is None])
        self.fake.stop()
        if not os.environ.get("SCALE_KEEP_DB"):  # kept to look into
            self._sql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')

    def manage(self, argv, host=0):
        return subprocess.run(
            [driver.PYTHON, "manage.py", *argv],
            env=driver.app_env(self),
            cwd=str(driver.REPO),
            capture_output=True,
            text=True,
            timeout=600,
        )

    @staticmethod
    def _sql(statement):
        import psycopg

        with psycopg.connect(
            "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
        ) as db:
            db.execute(statement)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["storm", "rotation", "kill"])
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args(argv)
    module = importlib.import_module(f"benchmarks.scale.scenario_{args.scenario}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    with LoopbackBed() as bed:
        start = time.monotonic()
        result = module.run(bed, FULL if args.full else SHORT)
    print(f"{result.title}: {'ok' if result.ok else 'FAILED'} in {time.monotonic() - start:.1f} s")
    for row in result.table:
        print("  ", row)
    for check in result.checks:
        print("  ", "ok  " if check.ok else "FAIL", check.name, "-", check.detail)
    for note in result.notes:
        print("  ", note)
    for name, points in result.series.items():
        print("  ", name, points[-1] if points else None)


if __name__ == "__main__":
    main()

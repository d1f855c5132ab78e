"""Real servers a fault test can stop, restart or kill: a private PostgreSQL
cluster and a private Redis, each on a free loopback port in a temporary folder.

The shared services of the machine (PostgreSQL on 5432, Redis on 6379) are
never touched: other tests and other runs use them. ``make faults`` starts a
:class:`PrivatePostgres` and runs the fault tests with ``DATABASE_URL`` pointing
at it and ``FAULTS_PGDATA``/``FAULTS_PGPORT`` naming it, so a test can restart
the very database its Django connections use (:func:`current_cluster`).
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait(ready, *, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout} s")


def _accepts(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _pg_bin(name):
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)
    if not candidates:
        raise RuntimeError(f"PostgreSQL's {name} is not installed")
    return str(candidates[0])


class PrivatePostgres:
    """A PostgreSQL cluster of our own (``initdb`` in a temporary folder, trust
    auth on loopback), which a test may restart or whose backends it may kill.

    PostgreSQL refuses to run as root: as root, the cluster belongs to the
    ``postgres`` system user and its commands run as that user."""

    def __init__(self, datadir=None, port=None):
        self.datadir = Path(datadir) if datadir else None
        self.port = int(port) if port else None
        self.owned = datadir is None  # made (and removed) by us

    def _as_owner(self, args, **kwargs):
        if os.geteuid() == 0:
            args = ["runuser", "-u", "postgres", "--", *args]
        return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)

    def create(self, *, parent=None, port=None, listen="127.0.0.1", max_connections=100, conf=""):
        """initdb a new cluster. The scale bed (benchmarks/scale/bed.py) passes
        its own folder, port, listen addresses (a bridge's address beside
        loopback: its clients are in other network namespaces),
        ``max_connections`` and extra ``conf`` lines; the fault tests the defaults."""
        parent = Path(parent) if parent else Path(tempfile.mkdtemp(prefix="faults-pg-"))
        parent.mkdir(parents=True, exist_ok=True)
        self.datadir = parent / "data"
        self.datadir.parent.chmod(0o755)
        self.datadir.mkdir(mode=0o700)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.datadir, owner.pw_uid, owner.pw_gid)
            os.chown(self.datadir.parent, owner.pw_uid, owner.pw_gid)
        self.port = int(port) if port else free_port()
        self._as_owner(
            [
                _pg_bin("initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ]
        )
        with open(self.datadir / "postgresql.conf", "a") as pg_conf:
            pg_conf.write(
                f"\nport = {self.port}\nlisten_addresses = '{listen}'\n"
                f"unix_socket_directories = '{self.datadir.parent}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                f"max_connections = {int(max_connections)}\n{conf}"
            )
        return self

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def start(self):
        self._as_owner(
            [
                _pg_bin("pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.datadir.parent / "log"),
                "-w",
                "-t",
                "30",
                "start",
            ]
        )
        _wait(lambda: _accepts(self.port), timeout=30, what="PostgreSQL")
        return self

    def running(self):
        return _accepts(self.port)

    def start_if_stopped(self):
        if not self.running():
            self.start()

    def stop(self, mode="fast"):
        self._as_owner([_pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", mode, "-w", "stop"])

    def restart(self, down_for=0.0):
        """Stop (fast: every connection is dropped), stay down ``down_for``
        seconds, start again: a database blip."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def terminate_backends(self, database):
        """Kill every backend connected to ``database`` (as an operator's
        ``pg_terminate_backend`` or an OOM kill would), the server staying up."""
        self._as_owner(
            [
                _pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-tAc",
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                f"WHERE datname = '{database}' AND pid <> pg_backend_pid()",
            ]
        )

    def destroy(self):
        try:
            self.stop(mode="immediate")
        except subprocess.CalledProcessError:
            pass
        if self.owned and self.datadir is not None:
            shutil.rmtree(self.datadir.parent, ignore_errors=True)


def current_cluster():
    """The private cluster ``make faults`` started for this run, or ``None``
    (then the tests that restart the database are skipped)."""
    datadir, port = os.environ.get("FAULTS_PGDATA"), os.environ.get("FAULTS_PGPORT")
    if not datadir or not port:
        return None
    return PrivatePostgres(datadir, port)


class PrivateRedis:
    """A Redis server of our own on a free loopback port (nothing kept on disk),
    which a test may stop and start again on the same port."""

    def __init__(self, *, host="127.0.0.1", port=None, dir=None):
        # The scale bed gives its own address, port and folder; the tests the defaults.
        self.host = host
        self.port = int(port) if port else free_port()
        self.dir = str(dir) if dir else tempfile.mkdtemp(prefix="faults-redis-")
        self.process = None

    @property
    def url(self):
        return f"redis://{self.host}:{self.port}/0"

    def start(self, **popen_kw):
        """Run redis-server (``popen_kw``: extra Popen arguments, e.g. the scale
        bed's ``start_new_session``, so a Ctrl-C reaches the bed and not Redis)."""
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                # Off loopback (the scale bed's bridge, private to this machine),
                # clients in other network namespaces must be let in.
                *(["--protected-mode", "no"] if self.host != "127.0.0.1" else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **popen_kw,
        )
        _wait(lambda: _accepts(self.port, self.host), timeout=15, what="Redis")
        return self

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # down at once, as a crash
            self.process.wait(timeout=10)
        self.process = None

    def destroy(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

"""The multi-host scale test bed: app hosts as Linux network namespaces on this
machine, one PostgreSQL (directly, or through PgBouncer in transaction mode),
one Redis, and the fake OAuth provider on a host of its own.

    with Bed(SHORT, pgbouncer=False, hosts=3) as bed:
        for host in bed.hosts:
            host.start_web()
        bed.hosts[0].start_worker(beat=True)
        ...  # load against host.base_url; bed.provider.stats(); bed.cpu_seconds()

Layout (root, iproute2): a bridge ``sib0`` with 10.228.0.1/24 in the root
namespace, where PostgreSQL, PgBouncer and Redis listen on private ports;
namespaces ``sib-app1..N`` (10.228.0.11..) each with a veth on the bridge, and
``sib-prov`` (10.228.0.20) for the provider. Each app host has a CPU quota of
its own (cgroups.py), as if it were its own machine. Migrations run once at
start, on the direct connection.

Everything is torn down on exit, on Ctrl-C and on SIGTERM, and whatever a
crashed run left (namespaces, links, processes, cgroups, temp folders, named by
the prefix) is removed at the start. ``SCALE_BED_PREFIX`` / ``SCALE_BED_NET`` /
``SCALE_BED_PORT_BASE`` let two beds share a machine; a lock file makes two
runs with the same prefix wait for each other. Every wait is bounded.
"""

import base64
import fcntl
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from tests.faults.servers import PrivatePostgres, PrivateRedis

from .cgroups import Cgroups

REPO = Path(__file__).resolve().parents[2]
PREFIX = os.environ.get("SCALE_BED_PREFIX", "sib")
NET = os.environ.get("SCALE_BED_NET", "10.228.0")  # a /24: .1 the bridge
PORT_BASE = int(os.environ.get("SCALE_BED_PORT_BASE", "56200"))
# Each app host's CPU budget, in cores (2 cores here: 3 x 0.5 leaves room for
# PostgreSQL, Redis and the load generator).
HOST_CPUS = float(os.environ.get("SCALE_HOST_CPUS", "0.5"))
WEB_PORT = 8000
PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _sh(*argv, check=True, timeout=30):
    return subprocess.run(
        [str(a) for a in argv], check=check, capture_output=True, text=True, timeout=timeout
    )


def _accepts(host, port, timeout=0.3):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(ready, *, timeout, what, interval=0.1):
    """Poll ``ready()`` until true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready within {timeout} s")


def http_status(base_url, path="/", timeout=2.0):
    """The status of a GET, or None when nothing answers."""
    host, _, port = base_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _cmdline(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid):
    """Direct children of ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


class Host:
    """One app host: a network namespace with its own address and CPU budget."""

    def __init__(self, bed, name, ip):
        self.bed = bed
        self.name = name
        self.ip = ip
        self.base_url = f"http://{ip}:{WEB_PORT}"
        self.processes = []  # every Popen started here (kill() ends them all)
        self.web = None
        self.workers = []

    def __repr__(self):
        return f"<Host {self.name} {self.ip}>"

    def run(self, argv, env=None, **popen_kw):
        """Start ``argv`` inside this host (namespace and cgroup), with the bed's
        environment plus ``env``; its output goes to a log in the bed's folder
        unless ``stdout`` is given. In a session of its own (``kill()`` ends
        its whole process group)."""
        full_env = {**self.bed.process_env(), **(env or {})}
        argv = ["ip", "netns", "exec", self.name, *map(str, argv)]
        argv = self.bed.cgroups.join_argv(self.name, argv)
        if "stdout" not in popen_kw:
            log = open(self.bed.tmp / f"{self.name}.log", "ab")  # noqa: SIM115 (closed below)
            popen_kw.setdefault("stderr", subprocess.STDOUT)
            popen_kw["stdout"] = log
        else:
            log = None
        popen_kw.setdefault("cwd", REPO)
        popen_kw.setdefault("start_new_session", True)
        process = subprocess.Popen(argv, env=full_env, **popen_kw)
        if log is not None:
            log.close()  # the child holds its own copy
        self.processes.append(process)
        return process

    def start_web(self, *, workers=2, threads=4, timeout=90, wait=True):
        """gunicorn (gthread: ``workers`` processes x ``threads`` threads, the
        app imported once in the master: ``--preload``) on port 8000 of this
        host; returns once it answers HTTP (``wait=False``: at once, then
        ``wait_web()``)."""
        self.web = self.run(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"{self.ip}:{WEB_PORT}",
                "--workers",
                workers,
                "--threads",
                threads,
                "--worker-class",
                "gthread",
                "--timeout",
                30,
                "--graceful-timeout",
                5,
                "--backlog",
                2048,
                "--log-level",
                "warning",
                "--preload",
            ]
        )
        if wait:
            self.wait_web(timeout=timeout)
        return self.web

    def wait_web(self, timeout=90):
        """Until this host's gunicorn answers HTTP (bounded)."""
        wait_for(
            lambda: self.web.poll() is not None or http_status(self.base_url, "/api/") is not None,
            timeout=timeout,
            what=f"gunicorn on {self.name}",
            interval=0.2,
        )
        if self.web.poll() is not None:
            log = self.bed.tmp / f"{self.name}.log"
            raise RuntimeError(f"gunicorn on {self.name} exited: see {log}")
        return self.web

    def stop_web(self, timeout=15):
        """A graceful stop (SIGTERM to the master), then SIGKILL if it lingers."""
        if self.web is None:
            return
        _terminate(self.web, timeout)
        self.web = None

    def start_worker(self, *, beat=False, concurrency=2, queues=None):
        """A Celery worker (prefork, ``concurrency`` processes), with beat
        embedded when ``beat`` (one beat for the whole bed, as in production)."""
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency",
            concurrency,
            "-n",
            f"worker{len(self.workers) + 1}@{self.name}",
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
        ]
        if queues:
            argv += ["-Q", queues]
        if beat:
            argv += ["-B", "-s", self.bed.tmp / f"beat-{self.name}"]
        worker = self.run(argv)
        self.workers.append(worker)
        return worker

    def kill(self):
        """kill -9 of every process started here (gunicorn master and workers,
        Celery and its children), as a host dying would."""
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass
        self.bed.cgroups.kill_all(self.name)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.processes = [p for p in self.processes if p.poll() is None]
        self.web = None
        self.workers = []

    def cpu_seconds(self):
        return self.bed.cgroups.cpu_seconds(self.name)


def _terminate(process, timeout):
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except OSError:
        return
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # stray children too
    except OSError:
        pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


class ProviderHost(Host):
    """The fake OAuth provider's host (``benchmarks/scale/provider_host.py``)."""

    def __init__(self, bed, name, ip):
        super().__init__(bed, name, ip)
        self.url = self.base_url
        self.process = None

    def start(self, *, delay=0.0, timeout=60):
        self.process = self.run(
            [
                sys.executable,
                "-m",
                "benchmarks.scale.provider_host",
                "--host",
                self.ip,
                "--port",
                WEB_PORT,
                "--delay",
                delay,
            ]
        )
        wait_for(
            lambda: self.process.poll() is not None or http_status(self.url, "/_stats") == 200,
            timeout=timeout,
            what="the provider",
            interval=0.2,
        )
        if self.process.poll() is not None:
            raise RuntimeError(f"the provider exited: see {self.bed.tmp}/{self.name}.log")
        return self

    def _call(self, method, path, timeout=30.0):
        conn = http.client.HTTPConnection(self.ip, WEB_PORT, timeout=timeout)
        try:
            conn.request(method, path)
            response = conn.getresponse()
            return json.loads(response.read() or b"{}")
        finally:
            conn.close()

    def stats(self, detail=False):
        """What the provider answered (provider_host.py's ``/_stats``)."""
        return self._call("GET", "/_stats" + ("?" + urlencode({"detail": 1}) if detail else ""))

    def reset(self):
        return self._call("POST", "/_reset")

    @property
    def token_url(self):
        return f"{self.url}/token"


class Bed:
    """The bed (a context manager). ``size``: the scenario Size it is for;
    ``pgbouncer``: ``db_url`` goes through PgBouncer (transaction mode)
    rather than straight to PostgreSQL; ``hosts``: how many app hosts."""

    def __init__(
        self, size, *, pgbouncer=False, hosts=3, max_connections=100, host_cpus=None, migrate=True
    ):
        if not 1 <= hosts <= 9:
            raise ValueError("1 to 9 app hosts")
        self.size = size
        self.pgbouncer = pgbouncer
        self.host_count = hosts
        self.max_connections = max_connections
        self.host_cpus = HOST_CPUS if host_cpus is None else host_cpus
        self.prefix = PREFIX
        self.bridge = f"{PREFIX}0"
        self.gateway = f"{NET}.1"
        self.pg_port = PORT_BASE + 1
        self.pgbouncer_port = PORT_BASE + 2
        self.redis_port = PORT_BASE + 3
        self.cgroups = Cgroups(PREFIX)
        self.hosts = []
        self.provider = None
        self.tmp = None
        self._lock = None
        self._pg = None
        self._redis = None
        self._pgbouncer = None
        self._old_handlers = {}
        self.started_at = None
        self.migrate = migrate  # False: an empty database (the bed's own test)
        self.env = self._make_env()

    # -- URLs and environment --------------------------------------------------------

    @property
    def direct_db_url(self):
        return f"postgres://postgres@{self.gateway}:{self.pg_port}/bed"

    @property
    def pgbouncer_db_url(self):
        return f"postgres://postgres@{self.gateway}:{self.pgbouncer_port}/bed"

    @property
    def db_url(self):
        return self.pgbouncer_db_url if self.pgbouncer else self.direct_db_url

    @property
    def redis_url(self):
        return f"redis://{self.gateway}:{self.redis_port}/0"

    @property
    def provider_url(self):
        return f"http://{NET}.20:{WEB_PORT}"

    def _make_env(self):
        encryption_key = "1:" + base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")
        ips = [f"{NET}.{11 + i}" for i in range(self.host_count)]
        env = {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.db_url,
            "CACHE_URL": f"redis://{self.gateway}:{self.redis_port}/1",
            "CELERY_BROKER_URL": self.redis_url,
            "DEBUG": "false",
            "DEMO_PROVIDER": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "INTEGRATIONS_ENCRYPTION_KEYS": encryption_key,
            "ALLOWED_HOSTS": ",".join([*ips, "127.0.0.1", "localhost"]),
            # The shipped pool (config/database.py), sized to start_web's threads:
            # each gunicorn worker holds at most as many connections as it has
            # threads, so hosts x workers x 4 (+ Celery) bounds the total.
            "DB_POOL": "true",
            "DB_POOL_MIN_SIZE": "1",
            "DB_POOL_MAX_SIZE": "4",
            "DB_POOL_TIMEOUT": "10",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        if self.pgbouncer:
            # No server-side cursors, no prepared statements (transaction mode).
            env["DB_PGBOUNCER"] = "true"
        return env

    def process_env(self):
        """The environment of every process the bed starts in a host."""
        base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
        base["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        return {**base, **self.env}

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self):
        if os.geteuid() != 0:
            raise PermissionError("the scale bed needs root (network namespaces, cgroups)")
        self._take_lock()
        self._install_signal_handlers()
        try:
            cleanup_leftovers(PREFIX, self.cgroups)
            self._start()
        except BaseException:
            self.teardown()
            raise
        return self

    def __exit__(self, *exc):
        self.teardown()
        return False

    def _take_lock(self, wait=1200):
        self._lock = open(f"/run/{PREFIX}-bed.lock", "w")  # noqa: SIM115 (held until teardown)
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another {PREFIX} bed held the lock for {wait} s") from None
                if not told:
                    print(f"waiting for another {PREFIX} bed to finish...", flush=True)
                    told = True
                time.sleep(1)

    def _install_signal_handlers(self):
        if threading.current_thread() is not threading.main_thread():
            return

        def stop(signum, frame):
            raise SystemExit(128 + signum)

        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._old_handlers[sig] = signal.signal(sig, stop)

    def _start(self):
        self.started_at = time.monotonic()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-bed-"))
        self.tmp.chmod(0o755)
        self._network()
        self._start_postgres()
        self._start_pgbouncer()
        self._start_redis()
        self.hosts = [
            Host(self, f"{PREFIX}-app{i + 1}", f"{NET}.{11 + i}") for i in range(self.host_count)
        ]
        for host in self.hosts:
            self.cgroups.create(host.name, cpus=self.host_cpus)
        self.provider = ProviderHost(self, f"{PREFIX}-prov", f"{NET}.20")
        self.cgroups.create(self.provider.name)
        self.provider.start()
        if self.migrate:
            self.manage(["migrate", "--no-input"], env={"DATABASE_URL": self.direct_db_url})

    def _network(self):
        _sh("ip", "link", "add", self.bridge, "type", "bridge")
        _sh("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _sh("ip", "link", "set", self.bridge, "up")
        names = [(f"{PREFIX}-app{i + 1}", f"{NET}.{11 + i}") for i in range(self.host_count)]
        for name, ip in [*names, (f"{PREFIX}-prov", f"{NET}.20")]:
            _sh("ip", "netns", "add", name)
            veth = f"{name}-v"[:15]
            _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", name)
            _sh("ip", "link", "set", veth, "master", self.bridge, "up")
            _sh("ip", "-n", name, "addr", "add", f"{ip}/24", "dev", "eth0")
            _sh("ip", "-n", name, "link", "set", "eth0", "up")
            _sh("ip", "-n", name, "link", "set", "lo", "up")

    def _start_postgres(self):
        self.cgroups.create(f"{PREFIX}-pg")
        self._pg = PrivatePostgres()
        self._pg.create(
            parent=self.tmp / "pg",
            port=self.pg_port,
            listen=f"{self.gateway},127.0.0.1",
            max_connections=self.max_connections,
            conf="timezone = 'UTC'\nshared_buffers = 128MB\n",
        )
        with open(self._pg.datadir / "pg_hba.conf", "a") as hba:
            hba.write(f"host all all {NET}.0/24 trust\n")
        self._pg.start()
        postmaster = int((self._pg.datadir / "postmaster.pid").read_text().split()[0])
        for pid in [postmaster, *_children(postmaster)]:
            self.cgroups.move(pid, f"{PREFIX}-pg")
        self._psql("CREATE DATABASE bed")

    def _psql(self, sql, database="postgres"):
        return self._pg._as_owner(
            [
                shutil.which("psql") or "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.pg_port),
                "-U",
                "postgres",
                "-d",
                database,
                "-tAc",
                sql,
            ]
        ).stdout.strip()

    def _start_pgbouncer(self):
        folder = self.tmp / "pgbouncer"
        folder.mkdir()
        (folder / "userlist.txt").write_text('"postgres" ""\n')
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"bed = host={self.gateway} port={self.pg_port} dbname=bed\n"
            "[pgbouncer]\n"
            f"listen_addr = {self.gateway}\n"
            f"listen_port = {self.pgbouncer_port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            "max_client_conn = 2000\n"
            # Server connections per database/user pair: well under max_connections.
            f"default_pool_size = {max(10, self.max_connections // 2)}\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            f"pidfile = {folder / 'pgbouncer.pid'}\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
        )
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
            for item in folder.iterdir():
                shutil.chown(item, "postgres")
        self.cgroups.create(f"{PREFIX}-pgbouncer")
        argv = self.cgroups.join_argv(
            f"{PREFIX}-pgbouncer",
            ["runuser", "-u", "postgres", "--", PGBOUNCER, str(folder / "pgbouncer.ini")],
        )
        self._pgbouncer = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        wait_for(
            lambda: (
                self._pgbouncer.poll() is not None or _accepts(self.gateway, self.pgbouncer_port)
            ),
            timeout=30,
            what="PgBouncer",
        )
        if self._pgbouncer.poll() is not None:
            raise RuntimeError(f"PgBouncer exited: see {folder / 'pgbouncer.log'}")

    def _start_redis(self):
        self.cgroups.create(f"{PREFIX}-redis")
        (self.tmp / "redis").mkdir()
        self._redis = PrivateRedis(host=self.gateway, port=self.redis_port, dir=self.tmp / "redis")
        self._redis.start(start_new_session=True)
        self.cgroups.move(self._redis.process.pid, f"{PREFIX}-redis")

    # -- using it -------------------------------------------------------------------------

    def manage(self, argv, host=0, *, env=None, timeout=900, check=True):
        """``manage.py argv`` inside host ``host``'s namespace; its output captured."""
        return self.python(
            [str(REPO / "manage.py"), *argv], host, env=env, timeout=timeout, check=check
        )

    def python(self, argv, host=0, *, env=None, timeout=900, check=True):
        """``python argv`` (e.g. ``["-m", "benchmarks.scale.seed_api", ...]``)
        inside host ``host``'s namespace and CPU budget, with the bed's
        environment; waits (bounded) and returns the CompletedProcess."""
        target = self.hosts[host] if self.hosts else None
        full_env = {**self.process_env(), **(env or {})}
        command = [sys.executable, *map(str, argv)]
        if target is not None:
            command = self.cgroups.join_argv(
                target.name, ["ip", "netns", "exec", target.name, *command]
            )
        result = subprocess.run(
            command, env=full_env, cwd=REPO, capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            tail = (result.stderr or result.stdout)[-2000:]
            raise RuntimeError(
                f"python {' '.join(map(str, argv[:3]))} failed ({result.returncode}):\n{tail}"
            )
        return result

    def start_webs(self, count=None, **web_kw):
        """gunicorn on the first ``count`` hosts (all by default), started
        together and waited for together."""
        chosen = self.hosts[: count or len(self.hosts)]
        for host in chosen:
            if host.web is None:
                host.start_web(wait=False, **web_kw)
        for host in chosen:
            host.wait_web()
        return chosen

    def cpu_seconds(self):
        """CPU seconds used so far by each part: app hosts, provider, PostgreSQL,
        PgBouncer, Redis (0 when cgroups are unavailable)."""
        names = [h.name for h in self.hosts] + [f"{PREFIX}-prov"]
        names += [f"{PREFIX}-pg", f"{PREFIX}-pgbouncer", f"{PREFIX}-redis"]
        return {name.removeprefix(f"{PREFIX}-"): self.cgroups.cpu_seconds(name) for name in names}

    @staticmethod
    def machine_busy_seconds():
        """CPU seconds the whole machine spent busy (every process, ours or not:
        /proc/stat), to tell our load from other work on the same cores."""
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        ticks = [int(x) for x in fields]
        busy = sum(ticks[:8]) - ticks[3] - ticks[4]  # all but idle and iowait
        return busy / os.sysconf("SC_CLK_TCK")

    def facts(self):
        """What the report says about the bed."""
        return {
            "hosts": self.host_count,
            "host CPU quota": (
                f"{self.host_cpus} core each (cgroup v{self.cgroups.version})"
                if self.cgroups.available
                else "none (no writable cgroup: hosts share every core)"
            ),
            "cores": os.cpu_count(),
            "database": "PgBouncer (transaction mode)" if self.pgbouncer else "direct",
            "max_connections": self.max_connections,
        }

    def psql(self, sql):
        """One statement on the bed's database (as the postgres superuser)."""
        return self._psql(sql, database="bed")

    # -- teardown ---------------------------------------------------------------------------

    def teardown(self):
        """Stop everything, remove everything; never raises (warns instead)."""
        steps = [
            *[(f"kill {h.name}", h.kill) for h in self.hosts],
            ("kill provider", self.provider.kill if self.provider else None),
            ("stop pgbouncer", self._stop_pgbouncer),
            ("stop redis", self._redis.destroy if self._redis else None),
            ("stop postgres", self._pg.destroy if self._pg else None),
            ("keep logs", self._keep_logs),
            ("remove leftovers", lambda: cleanup_leftovers(PREFIX, self.cgroups)),
            ("remove folder", lambda: self.tmp and shutil.rmtree(self.tmp, ignore_errors=True)),
        ]
        for what, step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception as error:  # keep going: everything else must still go
                print(f"scale bed teardown: {what} failed: {error}", file=sys.stderr)
        self.hosts = []
        self.provider = None
        self._pg = self._redis = self._pgbouncer = None
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers = {}
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _keep_logs(self):
        """``SCALE_BED_LOGS=<folder>``: the hosts' logs are copied there first."""
        keep = os.environ.get("SCALE_BED_LOGS")
        if keep and self.tmp and self.tmp.is_dir():
            Path(keep).mkdir(parents=True, exist_ok=True)
            for log in [*self.tmp.glob("*.log"), *self.tmp.glob("pgbouncer/*.log")]:
                shutil.copy(log, Path(keep) / log.name)
            if (self.tmp / "pg" / "log").is_file():
                shutil.copy(self.tmp / "pg" / "log", Path(keep) / "postgresql.log")

    def _stop_pgbouncer(self):
        if self._pgbouncer is not None:
            _terminate(self._pgbouncer, 5)


def cleanup_leftovers(prefix, cgroups=None):
    """Remove what a bed with this prefix left: processes in its namespaces,
    the namespaces, its links, its servers (found by their temp folder) and
    cgroups, and the temp folders. Safe when nothing is left."""
    cgroups = cgroups or Cgroups(prefix)
    listed = _sh("ip", "netns", "list", check=False).stdout.split("\n")
    namespaces = [line.split()[0] for line in listed if line.startswith(f"{prefix}-")]
    for ns in namespaces:
        pids = _sh("ip", "netns", "pids", ns, check=False).stdout.split()
        for pid in pids:
            _kill_pid(int(pid))
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}-bed-*"):
        _stop_servers_in(folder)
    for name in cgroups.leftovers():
        cgroups.remove(name)
    for ns in namespaces:
        _sh("ip", "netns", "del", ns, check=False)
    links = _sh("ip", "-o", "link", "show", check=False).stdout.splitlines()
    for line in links:
        name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
        if name.startswith(prefix) and (name == f"{prefix}0" or name.startswith(f"{prefix}-")):
            _sh("ip", "link", "del", name, check=False)
    for folder in Path(tempfile.gettempdir()).glob(f"{prefix}-bed-*"):
        shutil.rmtree(folder, ignore_errors=True)


def _stop_servers_in(folder):
    """Kill the PostgreSQL, PgBouncer and Redis a crashed bed ran from ``folder``."""
    pid_files = [folder / "pg" / "data" / "postmaster.pid", folder / "pgbouncer" / "pgbouncer.pid"]
    for pid_file in pid_files:
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if str(folder) in _cmdline(pid) or "pgbouncer" in _cmdline(pid):
            for child in _children(pid):
                _kill_pid(child)
            _kill_pid(pid)
    for pid_dir in Path("/proc").glob("[0-9]*"):
        line = _cmdline(pid_dir.name)
        if line.startswith(("redis-server", shutil.which("redis-server") or "redis-server")):
            try:
                cwd = os.readlink(pid_dir / "cwd")
            except OSError:
                cwd = ""
            if cwd.startswith(str(folder)):
                _kill_pid(int(pid_dir.name))

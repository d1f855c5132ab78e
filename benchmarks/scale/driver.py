"""What the storm, rotation and kill scenarios share on the driver's side:
running ops and commands in a host, Celery workers and beat, the provider's
ledger, the keyring's next version. Every wait has a timeout.

A host runs processes through ``Host.run(argv, env=..., **popen_kw)`` (inside
its network namespace); they get the bed's environment (``bed.env``) plus
what a scenario adds, with the repository on ``PYTHONPATH``.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERY_APP = "benchmarks.scale.celery_app"
KEYS_VARIABLE = "INTEGRATIONS_ENCRYPTION_KEYS"


class OpFailed(RuntimeError):
    """An op or command in a host failed: its name, status and last stderr lines
    (ops never write a secret there)."""


def app_env(bed, **extra):
    env = {**os.environ, **bed.env, **extra}
    others = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p != str(REPO)]
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *others])  # this checkout first
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if getattr(bed, "redis_url", None):
        env.setdefault("CELERY_BROKER_URL", bed.redis_url)
    return env


def start(bed, host, argv, *, env=None, capture=True):
    """Start ``argv`` in host number ``host`` (from the repository's root)."""
    kwargs = {"cwd": str(REPO), "text": True}
    if capture:
        kwargs.update(stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elif os.environ.get("SCALE_LOG_DIR"):  # keep long-running processes' logs
        log = (
            Path(os.environ["SCALE_LOG_DIR"])
            / f"{argv[4] if len(argv) > 4 else 'proc'}-{host}-{time.monotonic_ns()}.log"
        )
        kwargs.update(stdout=log.open("w"), stderr=subprocess.STDOUT)
    else:
        kwargs.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return bed.hosts[host].run(argv, env=env or app_env(bed), **kwargs)


def finish(proc, name, *, timeout, ok=(0,)):
    """Wait for ``proc`` (killed after ``timeout``); its stdout and exit status."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise OpFailed(f"{name}: no answer within {timeout:.0f} s") from None
    if proc.returncode not in ok:
        tail = " | ".join((err or "").strip().splitlines()[-4:])
        raise OpFailed(f"{name}: exit status {proc.returncode}: {tail}")
    return out, proc.returncode


def last_json(out):
    lines = [line for line in out.strip().splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


def start_op(bed, host, op, *args, env=None):
    return start(bed, host, [PYTHON, "-m", "benchmarks.scale.ops", op, *map(str, args)], env=env)


def op(bed, host, name, *args, env=None, timeout=600):
    """Run one op (benchmarks/scale/ops.py) in a host: its JSON answer."""
    out, _status = finish(start_op(bed, host, name, *args, env=env), name, timeout=timeout)
    return last_json(out)


def stop_op(proc, name, *, timeout=60):
    """SIGTERM an op that runs until told (it prints its figures), then its answer."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    out, _status = finish(proc, name, timeout=timeout)
    return last_json(out)


def manage(bed, host, *argv, env=None):
    return start(bed, host, [PYTHON, "manage.py", *argv], env=env)


# -- Celery -------------------------------------------------------------------------


def start_worker(bed, host, *, env=None, concurrency=2):
    """A Celery worker of the bed's app in ``host`` (output discarded)."""
    argv = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--hostname=scale{host}-{time.monotonic_ns()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        f"--loglevel={os.environ.get('SCALE_CELERY_LOGLEVEL', 'WARNING')}",
    ]
    return start(bed, host, argv, env=env, capture=False)


def start_beat(bed, host, *, env=None):
    """The one Celery beat (the clock), its schedule in a fresh temporary file."""
    schedule = Path(tempfile.mkdtemp(prefix="scale-beat-")) / "schedule"
    argv = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        CELERY_APP,
        "beat",
        f"--schedule={schedule}",
        "--loglevel=WARNING",
    ]
    return start(bed, host, argv, env=env, capture=False)


def purge_queue(bed, host=0, *, env=None):
    """Drop tasks an earlier scenario left queued."""
    proc = start(bed, host, [PYTHON, "-m", "celery", "-A", CELERY_APP, "purge", "-f"], env=env)
    finish(proc, "celery purge", timeout=60, ok=(0, 1))


def stop(procs, *, timeout=20):
    """Stop processes this scenario started: SIGTERM, then SIGKILL after ``timeout``."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def kill_now(procs):
    """kill -9 (a host's death, for the processes this scenario started there)."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


# -- the provider and the keyring ------------------------------------------------------

FORWARD_PORT = 18080  # on each app host's loopback (benchmarks/scale/forward.py)


def app_provider_url(bed):
    """The provider's URL as the app hosts must register it: plain HTTP is
    allowed to loopback only, so through a forwarder on each host's loopback
    when the provider is elsewhere (the bed); as it is on loopback already."""
    url = bed.provider_url
    host = url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[0]
    if host in ("127.0.0.1", "localhost"):
        return url
    ensure_forwarders(bed)
    return f"http://127.0.0.1:{FORWARD_PORT}"


def ensure_forwarders(bed, *, timeout=60):
    """A forwarder to the provider on every app host's loopback (started again
    on a host whose processes were killed)."""
    target = bed.provider_url.split("://", 1)[1].split("/", 1)[0]
    forwarders = bed.__dict__.setdefault("_scale_forwarders", {})
    started = []
    for index, _host in enumerate(bed.hosts):
        proc = forwarders.get(index)
        if proc is None or proc.poll() is not None:
            argv = [PYTHON, "-m", "benchmarks.scale.forward", "--listen", FORWARD_PORT]
            forwarders[index] = start(bed, index, [*argv, "--to", target], capture=False)
            started.append(index)
    if started:
        # Up once it prints its line; polled through the process's own check.
        probe = [
            PYTHON,
            "-c",
            "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)",
            str(FORWARD_PORT),
        ]

        def up():
            return all(start(bed, i, probe).wait(timeout=30) == 0 for i in started)

        if not wait_until(up, timeout=timeout, every=0.5):
            raise OpFailed("provider forwarders not up on every host")


def provider_ledger(bed, *, timeout=30):
    """The strict provider's ledger (benchmarks/scale/strict_provider.py)."""
    answer = requests.get(f"{bed.provider_url}/_ledger", timeout=timeout)
    answer.raise_for_status()
    return answer.json()


def refreshed_grants(ledger, seed_digests):
    """How many of these grants the provider has refreshed at least once."""
    grants = ledger.get("grants", {})
    return sum(1 for d in seed_digests if d in grants and grants[d][0] >= 1)


def keyring_entries(bed):
    """The bed's keyring entries, primary first (``bed.env``)."""
    spec = bed.env.get(KEYS_VARIABLE, "")
    return [entry.strip() for entry in spec.split(",") if entry.strip()]


def add_primary_key(bed):
    """A new primary key version on the bed (the older ones kept to decrypt);
    the new version. Processes started afterwards use it."""
    from integrations.crypto import generate_key

    entries = keyring_entries(bed)
    version = max((int(e.split(":", 1)[0]) for e in entries), default=0) + 1
    bed.env[KEYS_VARIABLE] = ",".join([generate_key(version), *entries])
    return version


def restart_web(bed, hosts):
    """Restart the web servers of ``hosts`` (they read bed.env again)."""
    for host in hosts:
        bed.hosts[host].stop_web()
    for host in hosts:
        bed.hosts[host].start_web()


def wait_until(predicate, *, timeout, every=0.5):
    """Poll ``predicate()`` until true or ``timeout`` seconds: whether it became true."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)

"""The scale bed (benchmarks/scale/bed.py) comes up and leaves nothing behind:
no namespace, link, process, cgroup or temp folder, even after a host's
processes were started and killed. Needs root and iproute2's ``ip netns``."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.scale,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("ip"),
        reason="the scale bed needs root and iproute2 (ip netns)",
    ),
    pytest.mark.skipif(
        not shutil.which("redis-server") or not Path("/usr/sbin/pgbouncer").exists(),
        reason="the scale bed needs redis-server and pgbouncer",
    ),
]


IP = shutil.which("ip") or "/usr/sbin/ip"


def namespaces(prefix):
    listed = subprocess.run([IP, "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(f"{prefix}-")]


def links(prefix):
    listed = subprocess.run([IP, "-o", "link", "show"], capture_output=True, text=True).stdout
    names = [line.split(":")[1].strip().split("@")[0] for line in listed.splitlines()]
    return [name for name in names if name == f"{prefix}0" or name.startswith(f"{prefix}-")]


def processes_under(folder):
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(folder).encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


def accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_the_bed_comes_up_and_tears_down_cleanly():
    from benchmarks.scale.bed import Bed
    from benchmarks.scale.results import SHORT

    with Bed(SHORT, hosts=2, pgbouncer=True, migrate=False) as bed:
        prefix, tmp = bed.prefix, bed.tmp
        assert sorted(namespaces(prefix)) == [f"{prefix}-app1", f"{prefix}-app2", f"{prefix}-prov"]
        assert [host.ip for host in bed.hosts] == ["10.228.0.11", "10.228.0.12"]
        assert bed.psql("SELECT current_database()") == "bed"
        assert accepts(bed.gateway, bed.pgbouncer_port) and accepts(bed.gateway, bed.redis_port)
        assert bed.db_url != bed.direct_db_url  # through PgBouncer
        assert bed.env["DATABASE_URL"] == bed.db_url
        assert bed.provider.stats()["refreshes"] == 0
        # A process in a host reaches the servers on the bridge and the provider.
        reach = (
            "import socket, sys; "
            f"socket.create_connection(('{bed.gateway}', {bed.pg_port}), timeout=5).close(); "
            f"socket.create_connection(('{bed.provider.ip}', 8000), timeout=5).close()"
        )
        probe = bed.hosts[1].run([sys.executable, "-c", reach])
        assert probe.wait(timeout=60) == 0
        sleeper = bed.hosts[0].run(["sleep", "300"])
        bed.hosts[0].kill()
        assert sleeper.poll() == -9
        assert tmp.is_dir()

    assert namespaces(prefix) == []
    assert links(prefix) == []
    assert not tmp.exists()
    assert list(Path(tempfile.gettempdir()).glob(f"{prefix}-bed-*")) == []
    assert processes_under(tmp) == []
    assert not any(Path("/sys/fs/cgroup/cpu").glob(f"{prefix}-*"))
    assert not accepts("127.0.0.1", bed.pg_port)

"""CPU budgets and CPU accounting for the bed's processes, with Linux cgroups.

This machine is one box with a few cores; the bed's "hosts" are network
namespaces on it, so without a budget every app host would share all the cores
and adding a host would add no capacity. Each app host gets a cgroup with a CPU
quota (``cpus``: 0.5 is half a core), as it would get its own machine; the
servers (PostgreSQL, Redis, PgBouncer, the provider) get a cgroup each with no
quota, only to count their CPU seconds, so a scenario can say which one was the
limit.

cgroup v2 (``/sys/fs/cgroup/cgroup.controllers``: ``cpu.max``, ``cpu.stat``)
and cgroup v1 (``cpu/`` with ``cpu.cfs_quota_us``, ``cpuacct/`` with
``cpuacct.usage``) are both handled; when neither is writable, ``available`` is
false and the bed runs without budgets (and says so).
"""

import os
import shlex
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


def _writable(path):
    return path.is_dir() and os.access(path, os.W_OK)


class Cgroups:
    def __init__(self, prefix):
        self.prefix = prefix
        if (ROOT / "cgroup.controllers").is_file() and _writable(ROOT):
            self.version = 2
        elif _writable(ROOT / "cpu") and _writable(ROOT / "cpuacct"):
            self.version = 1
        else:
            self.version = None
        self.quotas = {}  # name -> cpus

    @property
    def available(self):
        return self.version is not None

    def _dirs(self, name):
        if self.version == 2:
            return [ROOT / name]
        if self.version == 1:
            return [ROOT / "cpu" / name, ROOT / "cpuacct" / name]
        return []

    def create(self, name, cpus=None):
        """A cgroup ``name`` (prefixed), with a quota of ``cpus`` cores if given."""
        if not self.available:
            return
        if self.version == 2:
            control = ROOT / "cgroup.subtree_control"
            if "cpu" not in control.read_text().split():
                control.write_text("+cpu")
        for folder in self._dirs(name):
            folder.mkdir(exist_ok=True)
        if cpus:
            quota = max(1000, int(cpus * PERIOD_US))
            if self.version == 2:
                (ROOT / name / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (ROOT / "cpu" / name / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (ROOT / "cpu" / name / "cpu.cfs_quota_us").write_text(str(quota))
            self.quotas[name] = cpus

    def join_argv(self, name, argv):
        """``argv`` run by a shell that first moves itself into the cgroup (its
        children inherit it), then execs: the command keeps the shell's pid."""
        if not self.available:
            return list(argv)
        moves = "; ".join(
            f"echo $$ > {shlex.quote(str(folder / 'cgroup.procs'))}" for folder in self._dirs(name)
        )
        return ["sh", "-c", f'{moves}; exec "$@"', "sh", *argv]

    def move(self, pid, name):
        """Move a running process (all its threads) into the cgroup."""
        for folder in self._dirs(name):
            try:
                (folder / "cgroup.procs").write_text(str(pid))
            except OSError:
                pass  # it exited meanwhile

    def pids(self, name):
        found = set()
        for folder in self._dirs(name)[:1]:
            try:
                found.update(int(p) for p in (folder / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return found

    def cpu_seconds(self, name):
        """CPU seconds (user + system) used by the cgroup's processes so far."""
        try:
            if self.version == 2:
                for line in (ROOT / name / "cpu.stat").read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
            if self.version == 1:
                return int((ROOT / "cpuacct" / name / "cpuacct.usage").read_text()) / 1e9
        except OSError:
            pass
        return 0.0

    def kill_all(self, name):
        for pid in self.pids(name):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def remove(self, name, timeout=10.0):
        """Kill what is left in the cgroup and remove it (bounded wait)."""
        deadline = time.monotonic() + timeout
        while self.pids(name) and time.monotonic() < deadline:
            self.kill_all(name)
            time.sleep(0.1)
        for folder in reversed(self._dirs(name)):
            # A cgroup is removable once its last process is reaped.
            while folder.exists() and time.monotonic() < deadline:
                try:
                    folder.rmdir()
                except OSError:
                    time.sleep(0.1)

    def leftovers(self):
        """Names of this prefix's cgroups (a crashed run's, or ours)."""
        names = set()
        for base in [ROOT] if self.version == 2 else [ROOT / "cpu", ROOT / "cpuacct"]:
            if self.available and base.is_dir():
                names.update(p.name for p in base.glob(f"{self.prefix}-*") if p.is_dir())
        return sorted(names)

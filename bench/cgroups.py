"""CPU quotas for function processes, as Lambda gives them: init on a whole core, invocations at
the memory's share of a vCPU (memory / 1769 MB, the size at which Lambda gives one vCPU).

cgroup v1 (`cpu.cfs_quota_us` / `cpu.cfs_period_us` under the cpu controller's mount) or v2
(`cpu.max`), whichever has the cpu controller. Every group lives under one parent made for the
bench run (`Groups`); each cold start gets fresh groups, so that no run starts in a period
whose quota an earlier process spent.

A process is started inside its init group: on v1 the spawning thread joins the group for
the moment of the fork (a child starts in its parent thread's cgroup) and leaves it at once, so
the process is spawned as fast as without a quota; on v2, which moves whole processes only, the
child joins it between fork and exec. When init ends (its first `GET /next`), the harness moves
the whole process (`cgroup.procs`: every thread) into the share group.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

# Lambda: "at 1,769 MB, a function has the equivalent of one vCPU".
FULL_VCPU_MB = 1769


def share(memory_mb: int) -> float:
    """The fraction of a vCPU Lambda gives `memory_mb`."""
    return memory_mb / FULL_VCPU_MB


def quota_us(memory_mb: int, period_us: int) -> int:
    return max(1000, round(share(memory_mb) * period_us))  # the kernel's floor is 1 ms


class CgroupError(Exception):
    """The CPU quotas cannot be set up: the bench stops."""


def _mounts() -> list[tuple[str, str, str]]:
    rows = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4:
            rows.append((fields[1], fields[2], fields[3]))
    return rows


def find_hierarchy() -> tuple[int, Path]:
    """(1, the v1 cpu controller's mount) or (2, the v2 mount where the cpu controller is
    available), preferring v1 where both exist (a v2 mount without the controller is no use)."""
    for mount, kind, options in _mounts():
        if kind == "cgroup" and "cpu" in options.split(","):
            return 1, Path(mount)
    for mount, kind, _ in _mounts():
        if kind == "cgroup2":
            controllers = Path(mount, "cgroup.controllers")
            if controllers.exists() and "cpu" in controllers.read_text().split():
                return 2, Path(mount)
    raise CgroupError("no cgroup hierarchy with the cpu controller (v1 cpu or v2 cpu.max) is mounted")


def _write(path: Path, value: str):
    try:
        path.write_text(value)
    except OSError as e:
        raise CgroupError(f"cannot write {value!r} to {path}: {e}") from e


class Group:
    def __init__(self, groups: "Groups", path: Path, quota: int | None):
        self.groups = groups
        self.path = path
        self.quota = quota
        try:
            path.mkdir()
        except OSError as e:
            raise CgroupError(f"cannot create {path}: {e}") from e
        period = groups.period_us
        if groups.version == 1:
            _write(path / "cpu.cfs_period_us", str(period))
            _write(path / "cpu.cfs_quota_us", str(quota if quota is not None else -1))
        else:
            _write(path / "cpu.max", f"{quota if quota is not None else 'max'} {period}")

    def add_process(self, pid: int):
        _write(self.path / "cgroup.procs", str(pid))

    def throttling(self) -> dict:
        """nr_periods, nr_throttled and throttled time (µs) so far."""
        stat = {}
        for line in (self.path / "cpu.stat").read_text().splitlines():
            name, _, value = line.partition(" ")
            stat[name] = int(value)
        if self.groups.version == 1:
            throttled_us = stat.get("throttled_time", 0) // 1000
        else:
            throttled_us = stat.get("throttled_usec", 0)
        return {"periods": stat.get("nr_periods", 0), "throttled": stat.get("nr_throttled", 0),
                "throttled_ms": throttled_us / 1000}

    def pids(self) -> list[int]:
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def remove(self):
        remove_tree(self.path)


class Groups:
    """The bench run's parent group, `<mount>/<name>`; `scripts/bench.sh` removes it should the
    harness die without doing so."""

    def __init__(self, name: str, period_us: int = 100_000):
        self.version, self.mount = find_hierarchy()
        self.period_us = period_us
        self.root = self.mount / name
        self.lock = threading.Lock()
        self.count = 0
        if self.root.exists():
            remove_tree(self.root)
        try:
            self.root.mkdir()
        except OSError as e:
            raise CgroupError(f"cannot create {self.root} (root needed): {e}") from e
        if self.version == 2:
            # Children of this group may only get the cpu controller if it is enabled here.
            _write(self.root / "cgroup.subtree_control", "+cpu")

    def group(self, label: str, memory_mb: int | None) -> Group:
        """A fresh group: a whole core (memory_mb None) or the share of `memory_mb`."""
        with self.lock:
            self.count += 1
            name = f"{self.count:05d}-{label}"
        quota = self.period_us if memory_mb is None else quota_us(memory_mb, self.period_us)
        return Group(self, self.root / name, quota)

    def spawn(self, group: Group, command: list[str], **popen_args) -> subprocess.Popen:
        """Starts `command` inside `group`."""
        if self.version == 1:
            own = _own_v1_group(self.mount)
            tid = threading.get_native_id()
            with self.lock:  # one thread at a time borrows a group
                _write(group.path / "tasks", str(tid))
                try:
                    return subprocess.Popen(command, **popen_args)
                finally:
                    _write(own / "tasks", str(tid))
        procs = str(group.path / "cgroup.procs").encode()

        def join():  # between fork and exec: no Python objects, no locks
            fd = os.open(procs, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)
        return subprocess.Popen(command, preexec_fn=join, **popen_args)

    def close(self):
        remove_tree(self.root)


def _own_v1_group(mount: Path) -> Path:
    for line in Path("/proc/thread-self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            return mount / path.lstrip("/")
    raise CgroupError("this thread is in no cpu cgroup")


def remove_tree(path: Path):
    """Removes a cgroup and the groups under it, ending any process left in them."""
    if not path.exists():
        return
    for child in sorted((p for p in path.iterdir() if p.is_dir()), reverse=True):
        remove_tree(child)
    for attempt in range(50):
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            pids = []
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            path.rmdir()
            return
        except OSError:
            time.sleep(0.05)
    raise CgroupError(f"cannot remove {path}")


def available() -> str:
    """Why quotas cannot be used here, or '' when they can (for a check before a long run)."""
    try:
        version, mount = find_hierarchy()
    except CgroupError as e:
        return str(e)
    probe = mount / f"ingest-bench-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as e:
        return f"cannot create a cgroup under {mount} (cgroup v{version}): {e}"
    return ""


def main(argv: list[str]) -> int:
    """`check`: exit 1, saying why, when quotas cannot be used here. `remove <name>`: remove
    the bench run's group <name> and end what is left in it (scripts/bench.sh's clean-up)."""
    if argv == ["check"]:
        problem = available()
        if problem:
            print(f"error: CPU quotas are not available: {problem}")
            return 1
        version, mount = find_hierarchy()
        print(f"cgroup v{version} at {mount}: usable")
        return 0
    if len(argv) == 2 and argv[0] == "remove" and argv[1] and "/" not in argv[1] and argv[1] not in (".", ".."):
        try:
            _, mount = find_hierarchy()
        except CgroupError:
            return 0
        remove_tree(mount / argv[1])
        return 0
    print("usage: cgroups.py check | cgroups.py remove <name>")
    return 2


if __name__ == "__main__":
    import sys
    raise SystemExit(main(sys.argv[1:]))

"""Memory cgroups: one bound on all the memory a sandboxed run can hold.

RLIMIT_AS bounds each process's address space, but not memory held outside it: a
`memfd_create` file or a SysV shared-memory segment that is unmapped again, files on a
tmpfs, pipe and socket buffers. A memory cgroup charges all of these (anonymous pages,
shmem/tmpfs/memfd pages, kernel memory) to the run that touched them, and kills a process
of the run (the OOM killer, inside the group only) when the run passes its limit.

Where the host offers one (probed once: cgroup v1 ``memory`` hierarchy, or cgroup v2 with
the ``memory`` controller delegated to us, both writable by this process), every sandbox
slot gets a group ``ppocoder-<pid>/s<slot>`` below this process's own cgroup; a cold run
joins it before bubblewrap starts (`Group.wrap`), a warm run (zygote fork) joins it as its
first step. The group is reused run after run (its limit is set before each run); an
OOM kill during a run is read from the group's counters afterwards (`Group.oom_kills`),
and the run ends as a runtime error ("memory limit exceeded"), never a pass.

``PPOCODER_MEMCG=0`` switches cgroups off (the fallback: size-limited tmpfs and a seccomp
filter that denies `memfd_create`, `shmget` and `msgget`; see `rewards.execution.seccomp`).
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from functools import cache

MEMORY_SHARE = 1.25
"""A run's group limit: this share of its ``memory_mb``, plus `SLACK_MB` (the judge's
interpreter and the page cache of what the run reads). A bomb of any kind stops below
1.5x ``memory_mb`` from 64 MB up."""
SLACK_MB = 16


def limit_bytes(memory_mb: int) -> int:
    """The group limit of a run with `memory_mb` of memory."""
    return (int(memory_mb * MEMORY_SHARE) + SLACK_MB) << 20


@dataclass(frozen=True)
class Controller:
    """Where this process makes its groups: a cgroup directory and the hierarchy version."""

    root: str
    """``<mount>/<own cgroup>/ppocoder-<pid>``."""
    version: int


def _own_cgroup(version: int) -> str | None:
    """This process's cgroup path in the v1 ``memory`` or the v2 hierarchy."""
    try:
        with open("/proc/self/cgroup", encoding="utf-8") as f:
            for line in f:
                _id, controllers, path = line.rstrip("\n").split(":", 2)
                if version == 1 and "memory" in controllers.split(","):
                    return path
                if version == 2 and _id == "0":
                    return path
    except OSError:
        pass
    return None


def _write(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as f:
        f.write(value)


def _candidates() -> list[tuple[str, int]]:
    """(directory to make groups in, version), best first."""
    out = []
    own = _own_cgroup(1)
    if own is not None and os.path.isfile("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        out.append((os.path.normpath("/sys/fs/cgroup/memory/" + own), 1))
    own2 = _own_cgroup(2)
    for mount in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if own2 is not None and os.path.isfile(f"{mount}/cgroup.controllers"):
            base = os.path.normpath(mount + "/" + own2)
            try:
                with open(f"{base}/cgroup.controllers", encoding="ascii") as f:
                    if "memory" in f.read().split():
                        out.append((base, 2))
            except OSError:
                pass
    return out


def _remove_tree(path: str) -> None:
    """Remove a group and its children (groups with processes stay)."""
    try:
        children = [e.path for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return
    for child in children:
        _remove_tree(child)
    try:
        os.rmdir(path)
    except OSError:
        pass


def _remove_stale(base: str) -> None:
    """Remove the groups of scorer processes that are gone (killed before their atexit)."""
    try:
        entries = list(os.scandir(base))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.removeprefix("ppocoder-")
        if entry.name.startswith("ppocoder-") and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            _remove_tree(entry.path)


def _try(base: str, version: int) -> Controller | None:
    root = os.path.join(base, f"ppocoder-{os.getpid()}")
    try:
        _remove_stale(base)
        if version == 2:
            _write(f"{base}/cgroup.subtree_control", "+memory")
        os.makedirs(root, exist_ok=True)
        if version == 2:
            _write(f"{root}/cgroup.subtree_control", "+memory")
        probe = Group(Controller(root, version), "probe")
        probe.prepare(64 << 20)
        os.rmdir(probe.path)
    except OSError:
        _remove_tree(root)
        return None
    atexit.register(_remove_tree, root)
    return Controller(root, version)


@cache
def controller() -> Controller | None:
    """The memory-cgroup controller of this process, or None (probed once)."""
    if os.environ.get("PPOCODER_MEMCG", "").strip() in ("0", "off", "false", "no"):
        return None
    for base, version in _candidates():
        found = _try(base, version)
        if found is not None:
            return found
    return None


def mechanism() -> str:
    """What bounds memory outside the address space: ``memcg`` (v1), ``memcg2`` or ``seccomp``."""
    found = controller()
    if found is None:
        return "seccomp"
    return "memcg" if found.version == 1 else "memcg2"


class Group:
    """One reusable memory group (one sandbox slot's)."""

    def __init__(self, ctl: Controller, name: str):
        self.ctl = ctl
        self.path = os.path.join(ctl.root, name)
        os.makedirs(self.path, exist_ok=True)
        self._kills = 0

    @property
    def join_file(self) -> str:
        """The file a process writes ``0`` into to join this group itself.

        cgroup v1: ``tasks``, which moves the writing thread only. A process joins as its
        first step, while it has one thread (what it starts later is born inside), and the
        kernel then skips the hierarchy-wide lock that moving a whole process takes: taking
        that lock waits for an RCU grace period unless another move came just before
        (Linux 6.18, moves 20 ms apart: 10 ms for the process, 0.3 ms for the thread).
        cgroup v2: ``cgroup.procs`` (its threads file is only for threaded groups)."""
        return f"{self.path}/{'tasks' if self.ctl.version == 1 else 'cgroup.procs'}"

    def prepare(self, limit: int) -> None:
        """Set the limit (and no swap) for the next run; remember the OOM-kill count.
        A group removed behind our back (a cleaner of stale groups) is made again."""
        try:
            self._prepare(limit)
        except FileNotFoundError:
            os.makedirs(self.path, exist_ok=True)
            self._prepare(limit)

    def _prepare(self, limit: int) -> None:
        if self.ctl.version == 1:
            memsw = f"{self.path}/memory.memsw.limit_in_bytes"
            try:  # memsw must stay >= the limit: order the writes by direction
                _write(f"{self.path}/memory.limit_in_bytes", str(limit))
                if os.path.exists(memsw):
                    _write(memsw, str(limit))
            except OSError:
                if os.path.exists(memsw):
                    _write(memsw, str(limit))
                _write(f"{self.path}/memory.limit_in_bytes", str(limit))
            _write(f"{self.path}/memory.max_usage_in_bytes", "0")
        else:
            _write(f"{self.path}/memory.max", str(limit))
            if os.path.exists(f"{self.path}/memory.swap.max"):
                _write(f"{self.path}/memory.swap.max", "0")
        self._kills = self.oom_kills()

    def oom_kills(self) -> int:
        """Processes the OOM killer has killed in this group so far."""
        name = "memory.oom_control" if self.ctl.version == 1 else "memory.events"
        try:
            with open(f"{self.path}/{name}", encoding="ascii") as f:
                for line in f:
                    key, _, value = line.partition(" ")
                    if key == "oom_kill":
                        return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def killed_since_prepare(self) -> bool:
        """Whether the OOM killer struck in this group since `prepare`."""
        return self.oom_kills() > self._kills

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run so that its first process is already in this group."""
        return ["/bin/sh", "-c", 'echo 0 > "$0" && exec "$@"', self.join_file, *argv]


_groups: dict[int, Group] = {}
_groups_lock = threading.Lock()


def group(slot: int) -> Group | None:
    """The memory group of sandbox slot `slot` (None without a controller)."""
    ctl = controller()
    if ctl is None:
        return None
    with _groups_lock:
        if slot not in _groups:
            _groups[slot] = Group(ctl, f"s{slot}")
        return _groups[slot]

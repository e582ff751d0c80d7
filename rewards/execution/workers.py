"""Persistent sandboxed workers: one JVM that compiles Java with javax.tools, one Node
process that syntax-checks JavaScript, and a pool of Python zygotes that fork test runs.

Started on first use (startup dominates: a cold `javac` costs ~1 s, a warm compile tens
of ms), killed and restarted when a request runs past its deadline, and stopped once
idle for ``PPOCODER_WORKER_IDLE_S`` seconds (default 120). At most ``PPOCODER_ZYGOTES``
zygotes exist at once (default twice the cores, at least 4); a caller beyond that waits
for a free one. Nothing starts on import.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import queue
import selectors
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from core.languages import ExecutionSpec
from rewards.execution import memcg, sandbox, scheduler
from rewards.execution.limits import Limits, check_count
from rewards.execution.sandbox import HARNESS_DIR, Sandbox
from rewards.execution.toolchain import COMPILE_MEMORY_MB, format_argv, run_env, run_limits


class WorkerDied(RuntimeError):
    """The worker exited or ran past the deadline (it has been killed and will restart)."""


def idle_timeout_s() -> float:
    """Seconds a persistent worker may sit unused before it is stopped."""
    raw = os.environ.get("PPOCODER_WORKER_IDLE_S", "").strip()
    try:
        value = float(raw) if raw else 120.0
    except ValueError:
        raise ValueError(f"PPOCODER_WORKER_IDLE_S must be a number, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"PPOCODER_WORKER_IDLE_S must be positive, got {raw!r}")
    return value


def max_zygotes() -> int:
    """The most Python zygotes alive at once."""
    raw = os.environ.get("PPOCODER_ZYGOTES", "").strip()
    if not raw:
        return max(2 * (os.cpu_count() or 1), 4)
    try:
        return check_count("PPOCODER_ZYGOTES", int(raw), 1024)
    except ValueError:
        raise ValueError(f"PPOCODER_ZYGOTES must be a whole number from 1 to 1024, got {raw!r}") from None


# --------------------------------------------------------------------------- spawning


@cache
def _spawn_requests() -> queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]]:
    """The queue of the spawner thread (started on first use)."""
    requests: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()

    def spawner() -> None:
        while True:
            make, reply = requests.get()
            try:
                reply.put((make(), None))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                reply.put((None, exc))

    threading.Thread(target=spawner, name="ppocoder-spawner", daemon=True).start()
    return requests


def _spawn(make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Start a long-lived process from one long-lived thread.

    bubblewrap's --die-with-parent follows the *thread* that forked it, so a worker
    started from a short-lived pool thread would be killed when that thread ends.
    """
    reply: queue.Queue[Any] = queue.Queue()
    _spawn_requests().put((make, reply))
    proc, exc = reply.get()
    if exc is not None:
        raise exc
    return proc


class PersistentWorker:
    """A long-lived sandboxed process spoken to over stdin/stdout; thread-safe."""

    def __init__(self, command: Sequence[str], limits: Limits, rw_dir: str | None = None,
                 ro_binds: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 capabilities: Sequence[str] = (), python_packages: bool = False):
        self.command, self.limits, self.ro_binds, self.env = list(command), limits, ro_binds, env
        self.python_packages = python_packages
        self.capabilities = tuple(capabilities)
        self.rw_dir = rw_dir
        self.lock = threading.Lock()
        self.box: Sandbox | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_used = time.monotonic()
        self._buf = b""

    def _start(self) -> None:
        self.box = box = Sandbox(self.limits, rw_dir=self.rw_dir, ro_binds=self.ro_binds,
                                 env=self.env, capabilities=self.capabilities,
                                 python_packages=self.python_packages)
        command = [box.path(a) if a.startswith("/tmp/") else a for a in self.command]
        self.proc = _spawn(lambda: box.popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL))
        self._buf = b""
        _reaper().start()

    def stop(self) -> None:
        if self.proc is not None and self.box is not None:
            self.box.kill(self.proc)
            self.box.close()
        self.proc = self.box = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_started(self) -> Sandbox:
        self.last_used = time.monotonic()
        if not self.running:
            self.stop()
            self._start()
        assert self.box is not None
        return self.box

    def send(self, data: bytes) -> None:
        self.ensure_started()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            self.stop()
            raise WorkerDied(f"worker exited: {exc}") from exc

    def readable(self, deadline: float) -> bool:
        """Whether output is waiting (or arrives before `deadline`); never stops the worker."""
        if self._buf:
            return True
        assert self.proc is not None and self.proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout.fileno(), selectors.EVENT_READ)
            return bool(sel.select(max(deadline - time.monotonic(), 0)))

    def read(self, n: int, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while len(self._buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise WorkerDied("worker ran past its deadline")
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_READ)
                if not sel.select(left):
                    continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.stop()
                raise WorkerDied("worker exited")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        self.last_used = time.monotonic()
        return out


_workers: dict[str, PersistentWorker] = {}
"""The named workers (``java``, ``node``); zygotes live in `_zygotes`."""
_workers_lock = threading.Lock()


def _all_workers() -> list[PersistentWorker]:
    return [*_workers.values(), *_zygotes.members]


def shutdown_workers() -> None:
    """Stop every persistent worker (they restart on the next request)."""
    for worker in _all_workers():
        # at exit a daemon thread may hold a lock for ever: stop the worker anyway
        held = worker.lock.acquire(timeout=5)
        try:
            worker.stop()
        finally:
            if held:
                worker.lock.release()


atexit.register(shutdown_workers)


class _Reaper:
    """A thread that stops workers idle for longer than `idle_timeout_s`; it runs only
    while some worker is alive (started again by the next worker start)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self.loop, name="ppocoder-reaper", daemon=True)
                self.thread.start()

    def loop(self) -> None:
        while True:
            limit = idle_timeout_s()
            time.sleep(min(max(limit / 4, 0.2), 10.0))
            alive = 0
            for worker in _all_workers():
                # a busy worker holds its lock: never stopped mid-request
                if worker.running and worker.lock.acquire(blocking=False):
                    try:
                        if time.monotonic() - worker.last_used > limit:
                            worker.stop()
                        alive += worker.running
                    finally:
                        worker.lock.release()
                else:
                    alive += worker.running
            _zygotes.forget_stopped()
            with self.lock:
                if not alive:
                    self.thread = None
                    return


@cache
def _reaper() -> _Reaper:
    return _Reaper()


# --------------------------------------------------------------------------- Java


@dataclass
class Diagnostic:
    line: int | None
    column: int | None
    severity: str
    text: str


_JAVA_SOURCES = ("CompileWorker.java", "CaseRunner.java")
_java_lock = threading.Lock()


def java_classes() -> str:
    """The Java harness (compile worker, case runner) compiled once into the private
    cache, readable only by sandboxed processes; its directory."""
    sources = [HARNESS_DIR / name for name in _JAVA_SOURCES]
    digest = hashlib.sha256(b"".join(src.read_bytes() for src in sources)).hexdigest()[:16]
    target = os.path.join(sandbox.private_cache_dir(), f"javaworker-{digest}")
    with _java_lock:  # our own sources, compiled once; callers need the classes anyway
        if not os.path.exists(os.path.join(target, "CaseRunner.class")):
            _compile_java_harness(sources, target)
    return target


def _compile_java_harness(sources: list[Path], target: str) -> None:
    staging = tempfile.mkdtemp(prefix=".build-", dir=os.path.dirname(target))
    try:
        subprocess.run(["javac", "-nowarn", "-d", staging, *map(str, sources)], check=True,
                       capture_output=True, timeout=120)
        sandbox.seal_for_sandbox(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process won the race
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def java_worker(ex: ExecutionSpec) -> PersistentWorker:
    """The one compile JVM (started on first use)."""
    with _workers_lock:
        if "java" not in _workers:
            classes = java_classes()
            rw = sandbox.make_run_dir()
            atexit.register(shutil.rmtree, rw, True)  # the worker is idle by then
            threads = str(max(os.cpu_count() or 1, 1))
            _workers["java"] = PersistentWorker(
                format_argv(ex.worker_command, COMPILE_MEMORY_MB, harness="/tmp/javaworker",
                            threads=threads),
                run_limits(ex, COMPILE_MEMORY_MB, None, file_size_mb=64, open_files=1024,
                           processes=1024, tmpfs_mb=64),
                rw_dir=rw, ro_binds={classes: "/tmp/javaworker"}, env=run_env(ex, COMPILE_MEMORY_MB))
        return _workers["java"]


def _pack(s: str) -> bytes:
    data = s.encode("utf-8", "replace")
    return struct.pack(">i", len(data)) + data


def java_compile(ex: ExecutionSpec, units: Sequence[tuple[str, str, str]], threads: int,
                 timeout_s: float) -> list[tuple[bool, list[Diagnostic]] | None]:
    """Compile (file name, source, out dir inside the worker or "") units in the JVM,
    at most `threads` at once. Returns per unit (ok, diagnostics), or None where the
    worker ran out of time."""
    worker = java_worker(ex)
    out: list[tuple[bool, list[Diagnostic]] | None] = [None] * len(units)
    with worker.lock:
        payload = struct.pack(">ii", len(units), threads) + b"".join(
            _pack(name) + _pack(src) + _pack(outdir) for name, src, outdir in units)
        deadline = time.monotonic() + timeout_s + 30  # + JVM start on first use
        try:
            worker.send(payload)
            for _ in units:
                index, ok, count = struct.unpack(">iii", worker.read(12, deadline))
                diags = []
                for _ in range(count):
                    line, column = struct.unpack(">qq", worker.read(16, deadline))
                    kind = _read_str(worker, deadline)
                    text = _read_str(worker, deadline)
                    diags.append(Diagnostic(line if line > 0 else None,
                                            column if column > 0 else None, kind, text))
                out[index] = (bool(ok), diags)
        except WorkerDied:
            pass
    return out


def _read_str(worker: PersistentWorker, deadline: float) -> str:
    (n,) = struct.unpack(">i", worker.read(4, deadline))
    return worker.read(n, deadline).decode("utf-8", "replace")


def java_worker_dir(ex: ExecutionSpec) -> str:
    """Host directory the Java worker sees as its working directory (build outputs)."""
    worker = java_worker(ex)
    assert worker.rw_dir is not None
    return worker.rw_dir


# --------------------------------------------------------------------------- JavaScript


def node_worker(ex: ExecutionSpec) -> PersistentWorker:
    """The one syntax-checking Node process (started on first use)."""
    with _workers_lock:
        if "node" not in _workers:
            host, inside = sandbox.harness_binding()
            binds = {host: inside} if host != inside else {}
            _workers["node"] = PersistentWorker(
                format_argv(ex.worker_command, COMPILE_MEMORY_MB, harness=inside),
                run_limits(ex, COMPILE_MEMORY_MB, None, processes=256, tmpfs_mb=16), ro_binds=binds)
        return _workers["node"]


def node_check(ex: ExecutionSpec, codes: Sequence[str], timeout_s: float) -> list[dict[str, object] | None]:
    """Syntax-check JavaScript sources in the persistent Node worker."""
    worker = node_worker(ex)
    out: list[dict[str, object] | None] = [None] * len(codes)
    with worker.lock:
        for k, code in enumerate(codes):
            body = json.dumps({"code": code}).encode()
            deadline = time.monotonic() + timeout_s + (10 if worker.proc is None else 0)
            try:
                worker.send(struct.pack("<I", len(body)) + body)
                (n,) = struct.unpack("<I", worker.read(4, deadline))
                out[k] = json.loads(worker.read(n, deadline))
            except WorkerDied:
                out[k] = None
    return out


# --------------------------------------------------------------------------- Python zygotes

ZYGOTE_CAPS = ("CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_CHOWN")


class _ZygotePool:
    """Warm zygotes: at most `max_zygotes` exist; idle ones are reused, last used first
    (so the least used go idle and the reaper stops them)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.members: list[PersistentWorker] = []
        self.idle: list[PersistentWorker] = []
        self._gate: threading.BoundedSemaphore | None = None

    def gate(self) -> threading.BoundedSemaphore:
        with self.lock:
            if self._gate is None:
                self._gate = threading.BoundedSemaphore(max_zygotes())
            return self._gate

    def take(self) -> PersistentWorker:
        self.gate().acquire()
        with self.lock:
            if self.idle:
                return self.idle.pop()
            host, inside = sandbox.harness_binding()
            # no limits of its own: the zygote sets each run's
            limits = Limits(wall_s=None, cpu_s=None, address_space_mb=None, file_size_mb=None,
                            open_files=None, processes=None, tmpfs_mb=16)
            worker = PersistentWorker(
                [sandbox.python_executable(), "-I", "-S", f"{inside}/zygote.py"], limits,
                ro_binds={host: inside}, capabilities=ZYGOTE_CAPS, python_packages=True)
            self.members.append(worker)
            return worker

    def give_back(self, worker: PersistentWorker) -> None:
        with self.lock:
            self.idle.append(worker)
        self.gate().release()

    def forget_stopped(self) -> None:
        """Drop idle zygotes the reaper stopped (a new one starts when needed)."""
        with self.lock:
            stopped = [w for w in self.idle if w.proc is None]
            self.idle = [w for w in self.idle if w.proc is not None]
            self.members = [w for w in self.members if w not in stopped]

    def alive(self) -> int:
        """Zygote processes running now."""
        with self.lock:
            return sum(w.running for w in self.members)


_zygotes = _ZygotePool()


def _frame(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack("<I", len(body)) + body


def zygote_run(job: dict[str, object], nonce: str, *, limits: dict[str, int], wall_s: float,
               tmpfs_mb: int, env: dict[str, str],
               memory_mb: int | None = None) -> tuple[str | None, bool, bool]:
    """Run one test job in a warm zygote (namespaces level); (verdict text, timed out,
    memory exceeded: the run's memory group, of `memory_mb`, hit its limit).

    Raises `WorkerDied` when the zygote itself failed (never the candidate's doing: it
    runs as another uid); the caller falls back to a cold sandbox.
    """
    worker = _zygotes.take()
    try:
        with worker.lock:
            box = worker.ensure_started()
            assert box.slot is not None
            group = box.memcg if memory_mb is not None else None
            # the Python prefix under /tmp (a virtual environment) is shown again over
            # each run's fresh /tmp
            request = {"uid": box.slot.uid, "limits": limits, "wall_s": wall_s,
                       "tmpfs_mb": tmpfs_mb, "env": env,
                       "binds": {p: p for p in sandbox.tmp_prefixes()},
                       "memcg": (f"{sandbox.MEMCG_INSIDE}/{os.path.basename(group.join_file)}"
                                 if group else None)}
            if group is not None:
                group.prepare(memcg.limit_bytes(memory_mb))
            deadline = time.monotonic() + wall_s + 20
            # the job (tests, expected outputs, nonce) travels in its own frame, which the
            # zygote splices to the run after forking it: no process memory of the
            # zygote, and so of no later run, ever holds it
            worker.send(_frame(request) + _frame({**job, "nonce": nonce}))
            if not worker.readable(time.monotonic() + scheduler.SLOW_S):
                scheduler.release_slot()  # a slow run (a loop?) waits beside the others
            (n,) = struct.unpack("<I", worker.read(4, deadline))
            reply = json.loads(worker.read(n, deadline))
            exceeded = group is not None and group.killed_since_prepare()
            return reply["verdict"], bool(reply["timed_out"]), exceeded
    finally:
        _zygotes.give_back(worker)


__all__ = ["PersistentWorker", "WorkerDied", "java_compile", "java_classes", "node_check",
           "shutdown_workers", "zygote_run"]

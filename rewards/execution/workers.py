"""Persistent sandboxed workers: one JVM that compiles Java with javax.tools, one Node
process that syntax-checks JavaScript. Started on first use, kept for the life of the
process (startup dominates: a cold `javac` costs ~1 s, a warm compile tens of ms), killed
and restarted when a request runs past its deadline.
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
from pathlib import Path
from typing import Any

from rewards.execution import sandbox
from rewards.execution.sandbox import BOX, HARNESS_DIR, Limits, Sandbox

_WORKER_LIMITS_JAVA = Limits(wall_s=0, cpu_s=0, address_space_mb=4096, file_size_mb=64,
                             open_files=1024, processes=1024, tmpfs_mb=64)
_WORKER_LIMITS_NODE = Limits(wall_s=0, cpu_s=0, address_space_mb=16384, file_size_mb=16,
                             open_files=256, processes=256, tmpfs_mb=16)
JAVA_FLAGS = ("-Xmx768m", "-Xss16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
              "-XX:ReservedCodeCacheSize=64m", "-XX:CompressedClassSpaceSize=128m",
              "-Xshare:auto", "-XX:-UsePerfData")


class WorkerDied(RuntimeError):
    """The worker exited or ran past the deadline (it has been killed and will restart)."""


_spawn_requests: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()


def _spawner() -> None:
    while True:
        make, reply = _spawn_requests.get()
        try:
            reply.put((make(), None))
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            reply.put((None, exc))


_spawner_thread = threading.Thread(target=_spawner, name="ppocoder-spawner", daemon=True)
_spawner_thread.start()


def _spawn(make: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """Start a long-lived process from one long-lived thread.

    bubblewrap's --die-with-parent follows the *thread* that forked it, so a worker
    started from a short-lived pool thread would be killed when that thread ends.
    """
    reply: queue.Queue[Any] = queue.Queue()
    _spawn_requests.put((make, reply))
    proc, exc = reply.get()
    if exc is not None:
        raise exc
    return proc


class PersistentWorker:
    """A long-lived sandboxed process spoken to over stdin/stdout; thread-safe."""

    def __init__(self, command: Sequence[str], limits: Limits, rw_dir: str | None = None,
                 ro_binds: dict[str, str] | None = None, env: dict[str, str] | None = None,
                 capabilities: Sequence[str] = ()):
        self.command, self.limits, self.ro_binds, self.env = list(command), limits, ro_binds, env
        self.capabilities = tuple(capabilities)
        self.rw_dir = rw_dir
        self.lock = threading.Lock()
        self.box: Sandbox | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._buf = b""

    @property
    def isolation(self) -> str:
        return sandbox.isolation_level()

    def _start(self) -> None:
        self.box = box = Sandbox(self.limits, rw_dir=self.rw_dir, ro_binds=self.ro_binds,
                                 env=self.env, capabilities=self.capabilities)
        command = [box.path(a) if a.startswith("/tmp/") else a for a in self.command]
        self.proc = _spawn(lambda: box.popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL))
        self._buf = b""

    def stop(self) -> None:
        if self.proc is not None and self.box is not None:
            self.box.kill(self.proc)
            self.box.close()
        self.proc = self.box = None

    def ensure_started(self) -> Sandbox:
        if self.proc is None or self.proc.poll() is not None:
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
        return out


_workers: dict[str, PersistentWorker] = {}
_workers_lock = threading.Lock()


def _shutdown() -> None:
    for worker in _workers.values():
        worker.stop()


atexit.register(_shutdown)


def shutdown_workers() -> None:
    """Stop every persistent worker (they restart on the next request)."""
    with _workers_lock:
        _shutdown()


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
    """Compile the Java harness (compile worker, case runner) once into a world-readable
    cache directory; its path."""
    sources = [HARNESS_DIR / name for name in _JAVA_SOURCES]
    digest = hashlib.sha256(b"".join(src.read_bytes() for src in sources)).hexdigest()[:12]
    target = os.path.join(tempfile.gettempdir(), f"ppocoder-javaworker-{digest}")
    with _java_lock:
        if not os.path.exists(os.path.join(target, "CaseRunner.class")):
            _compile_java_harness(sources, target)
    return target


def _compile_java_harness(sources: list[Path], target: str) -> None:
    staging = tempfile.mkdtemp(prefix="ppocoder-javaworker-")
    subprocess.run(["javac", "-nowarn", "-d", staging, *map(str, sources)], check=True,
                   capture_output=True, timeout=120)
    os.chmod(staging, 0o755)
    for name in os.listdir(staging):
        os.chmod(os.path.join(staging, name), 0o644)
    try:
        os.rename(staging, target)
    except OSError:  # another process won the race
        shutil.rmtree(staging, ignore_errors=True)


def java_worker(threads: int) -> PersistentWorker:
    key = f"java{threads}"
    with _workers_lock:
        if key not in _workers:
            classes = java_classes()
            rw = sandbox.make_run_dir()
            atexit.register(shutil.rmtree, rw, True)  # the worker is idle by then
            _workers[key] = PersistentWorker(
                ["java", *JAVA_FLAGS, "-cp", "/tmp/javaworker", "CompileWorker", str(threads)],
                _WORKER_LIMITS_JAVA, rw_dir=rw, ro_binds={classes: "/tmp/javaworker"},
                env={"MALLOC_ARENA_MAX": "2"})
        return _workers[key]


def _pack(s: str) -> bytes:
    data = s.encode("utf-8", "replace")
    return struct.pack(">i", len(data)) + data


def java_compile(units: Sequence[tuple[str, str, str]], threads: int,
                 timeout_s: float) -> list[tuple[bool, list[Diagnostic]] | None]:
    """Compile (file name, source, out dir inside the worker or "") units in one JVM.

    Returns per unit (ok, diagnostics), or None where the worker ran out of time.
    """
    worker = java_worker(threads)
    out: list[tuple[bool, list[Diagnostic]] | None] = [None] * len(units)
    with worker.lock:
        payload = struct.pack(">i", len(units)) + b"".join(
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


def java_worker_dir(threads: int) -> str:
    """Host directory the Java worker sees as its working directory (build outputs)."""
    worker = java_worker(threads)
    assert worker.rw_dir is not None
    return worker.rw_dir


JAVA_BOX = BOX


# --------------------------------------------------------------------------- JavaScript


def node_worker() -> PersistentWorker:
    with _workers_lock:
        if "node" not in _workers:
            host, inside = sandbox.harness_binding()
            binds = {host: inside} if host != inside else {}
            _workers["node"] = PersistentWorker(
                ["node", "--experimental-vm-modules", "--no-warnings", "--stack-size=8000",
                 f"{inside}/node_check.js"], _WORKER_LIMITS_NODE, ro_binds=binds)
        return _workers["node"]


def node_check(codes: Sequence[str], timeout_s: float) -> list[dict[str, object] | None]:
    """Syntax-check JavaScript sources in the persistent Node worker."""
    worker = node_worker()
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
_ZYGOTE_LIMITS = Limits(wall_s=0, cpu_s=0, address_space_mb=0, file_size_mb=0, open_files=0,
                        processes=0, tmpfs_mb=16)
_zygotes: queue.Queue[PersistentWorker] = queue.Queue()
_zygote_count = 0


def _frame(obj: object) -> bytes:
    body = json.dumps(obj).encode()
    return struct.pack("<I", len(body)) + body


def zygote_run(job: dict[str, object], nonce: str, *, limits: dict[str, int], wall_s: float,
               tmpfs_mb: int, env: dict[str, str]) -> tuple[str | None, bool]:
    """Run one test job in a warm zygote (namespaces level); (verdict text, timed out).

    Zygotes are created on demand, one per concurrent caller, and reused. Raises
    `WorkerDied` when the zygote itself failed (never the candidate's doing: it runs as
    another uid); the caller falls back to a cold sandbox.
    """
    global _zygote_count
    try:
        worker = _zygotes.get_nowait()
    except queue.Empty:
        with _workers_lock:
            _zygote_count += 1
            host, inside = sandbox.harness_binding()
            worker = PersistentWorker(
                [sandbox.python_executable(), "-I", "-S", f"{inside}/zygote.py"], _ZYGOTE_LIMITS,
                ro_binds={host: inside}, capabilities=ZYGOTE_CAPS)
            _workers[f"zygote{_zygote_count}"] = worker
    try:
        with worker.lock:
            box = worker.ensure_started()
            assert box.slot is not None
            request = {"uid": box.slot.uid, "limits": limits, "wall_s": wall_s,
                       "tmpfs_mb": tmpfs_mb, "env": env}
            deadline = time.monotonic() + wall_s + 20
            # the job (tests, expected outputs, nonce) travels in its own frame, which the
            # zygote splices to the run after forking it: no process memory of the
            # zygote, and so of no later run, ever holds it
            worker.send(_frame(request) + _frame({**job, "nonce": nonce}))
            (n,) = struct.unpack("<I", worker.read(4, deadline))
            reply = json.loads(worker.read(n, deadline))
            return reply["verdict"], bool(reply["timed_out"])
    finally:
        _zygotes.put(worker)

"""SandboxFusion's ``POST /run_code``, answered by our sandbox (`python -m rewards serve`).

veRL's code rewards (``reward_model.sandbox_fusion.url``, used by its default scorer for
``codecontests``, ``apps``, ``codeforces`` and ``taco``) send each test case of each
response to SandboxFusion's ``/run_code`` and judge what comes back. This module speaks
the same protocol, so pointing that URL at ``http://host:port/run_code`` moves a veRL
run onto our sandbox with no code:

request (SandboxFusion's ``RunCodeRequest``)::

    {"code": "...", "language": "python", "stdin": "1 2\\n", "compile_timeout": 10,
     "run_timeout": 10, "memory_limit_MB": 1024, "files": {"a.txt": "<base64>"},
     "fetch_files": ["out.txt"]}

answer (its ``RunCodeResponse``)::

    {"status": "Success" | "Failed" | "SandboxError", "message": "...",
     "compile_result": {"status": "Finished" | "TimeLimitExceeded" | "Error",
                        "execution_time": s, "return_code": n, "stdout": "...", "stderr": "..."}
                       | null,
     "run_result": {... the same fields ...} | null,
     "executor_pod_name": "..." | null, "files": {"out.txt": "<base64>"}}

Semantics, as SandboxFusion's own ``run_code`` (sandbox/server/sandbox_api.py):
compiled languages (cpp, java, go, rust, csharp, typescript) get a ``compile_result``; a
compile error is ``Finished`` with a non-zero ``return_code`` and no ``run_result``;
interpreted ones (python, nodejs, php) get a ``run_result`` only (a syntax error is a
run that exits 1). A run past its time is ``TimeLimitExceeded`` with no return code; a
crash is ``Finished`` with its non-zero (negative: the signal) return code. ``status`` is
``Success`` when every step finished with 0, ``Failed`` otherwise, ``SandboxError`` when
the server could not run the code: a language it does not run (SandboxFusion's name or
ours, e.g. ``lua``) gets that answer, in the same shape, not an HTTP error.

What differs: programs run in our sandbox (`rewards.execution.sandbox`) under our
limits (a timeout is capped at ``PPOCODER_MAX_TIMEOUT_S``; ``memory_limit_MB`` <= 0
means 1024 MB, and is raised to a runtime's minimum, 256 MB for Java); the same program
is compiled once and reused by later requests (veRL sends one request per test case);
a Python exception's stderr is one ``line N: Error: message`` line, not a traceback;
TypeScript is type-checked by tsc (SandboxFusion runs it with tsx, unchecked); C# is
built with mono's mcs, not dotnet; files given in ``files`` are copies in the working
directory, and ``fetch_files`` come back only from a run that ended (not after a timeout).
A malformed body is answered 400 with ``{"error": ...}`` (SandboxFusion: 422).
"""

from __future__ import annotations

import atexit
import base64
import binascii
import hashlib
import io
import json
import os
import posixpath
import secrets
import shutil
import tarfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core import languages
from core.languages import ExecutionSpec
from rewards.execution import sandbox, workers
from rewards.execution.limits import check_memory, check_timeout
from rewards.execution.sandbox import Sandbox
from rewards.execution.toolchain import (
    Prepared,
    execution_spec,
    format_argv,
    prepare,
    python_compile,
    run_compiler,
    run_env,
    run_limits,
)
from rewards.execution.types import Message

__all__ = ["LANGUAGES", "RunCodeRequest", "run_code", "run_code_body"]

LANGUAGES: dict[str, str] = {
    "python": "python", "cpp": "cpp", "java": "java", "nodejs": "javascript",
    "js": "javascript", "csharp": "c_sharp", "php": "php", "go": "go", "rust": "rust",
    "typescript": "typescript", "ts": "typescript",
}
"""SandboxFusion's language names that we run, and the toolkit's language of each. Any
name of `core.languages` with execution support (``c``, ``javascript``...) works too."""

DEFAULT_MEMORY_MB = 1024
OUTPUT_BYTES = 8 << 20
"""stdout (and stderr) of one run are cut after this many bytes, and the run stopped."""
PROG = "/tmp/prog"
FILES = "/tmp/sf_files"
_CACHE_SIZE = 64


class RunCodeRequest(BaseModel):
    """SandboxFusion's ``RunCodeRequest`` (the same fields and defaults)."""

    model_config = ConfigDict(extra="ignore")

    code: str = Field(description="the program")
    language: str = Field(description="SandboxFusion's language name, e.g. python, cpp, go")
    stdin: str | None = Field(None, description="text given on stdin")
    compile_timeout: float = Field(10, description="seconds for the compiler")
    run_timeout: float = Field(10, description="seconds for the run")
    memory_limit_MB: int = Field(-1, description="memory of the run; <= 0: 1024 MB")
    files: dict[str, str | None] = Field({}, description="path -> base64 content, put in the "
                                         "working directory before the run")
    fetch_files: list[str] = Field([], description="paths read back after the run (base64)")


def run_code_body(body: bytes) -> dict[str, Any]:
    """Parse a ``/run_code`` body and run it; ValueError names what is malformed."""
    try:
        request = RunCodeRequest.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "body"
        raise ValueError(f"bad /run_code request: {where}: {first.get('msg')}") from None
    try:
        return run_code(request)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 - SandboxFusion answers its own failures so
        return _answer(None, None, {}, f"sandbox failure: {type(exc).__name__}: {exc}")


def run_code(request: RunCodeRequest | dict[str, Any]) -> dict[str, Any]:
    """Run one request as SandboxFusion would; the answer as a JSON-ready dict.

    Raises ValueError for a bad limit or file name (the server answers 400).
    """
    req = request if isinstance(request, RunCodeRequest) else RunCodeRequest.model_validate(request)
    name = _our_language(req.language)
    if name is None:
        return _answer(None, None, {}, f"language {req.language!r} is not supported by this "
                       f"server; supported: {', '.join(supported())}")
    ex = execution_spec(name)[1]
    compile_s = check_timeout("compile_timeout", req.compile_timeout)
    run_s = check_timeout("run_timeout", req.run_timeout)
    memory = check_memory("memory_limit_MB", req.memory_limit_MB if req.memory_limit_MB > 0
                          else DEFAULT_MEMORY_MB)
    memory = max(memory, ex.min_memory_mb)
    files = _decode_files(req.files)
    fetch = [_relative(p, "fetch_files") for p in req.fetch_files]
    prepared = prepare(name, req.code)
    if ex.runs_in_harness:  # Python: a syntax error is a run that exits 1, as `python x.py`
        checked = python_compile(req.code)
        if checked.outcome != "ok":
            stderr = "\n".join(str(m) for m in checked.messages) + "\n"
            return _answer(None, _result("Finished", 0.0, 1, "", stderr), {})
        return _run(name, ex, req, prepared, None, run_s, memory, files, fetch, None)
    if not ex.build_command:
        return _run(name, ex, req, prepared, None, run_s, memory, files, fetch, None)
    build = _BUILDS.get(name, ex, prepared, compile_s)
    try:
        if build.compile["status"] != "Finished" or build.compile["return_code"] != 0:
            return _answer(build.compile, None, {})
        return _run(name, ex, req, prepared, build, run_s, memory, files, fetch, build.compile)
    finally:
        _BUILDS.release(build)


def supported() -> list[str]:
    """The language names ``/run_code`` accepts that SandboxFusion knows."""
    return sorted(LANGUAGES)


def _our_language(name: str) -> str | None:
    key = LANGUAGES.get(name)
    if key is None:
        try:
            key = languages.get(name).name
        except ValueError:
            return None
    return key if languages.get(key).execution is not None else None


def _result(status: str, seconds: float, code: int | None, stdout: str, stderr: str) -> dict[str, Any]:
    return {"status": status, "execution_time": round(seconds, 6), "return_code": code,
            "stdout": stdout, "stderr": stderr}


def _answer(compiled: dict[str, Any] | None, ran: dict[str, Any] | None, files: dict[str, str],
            error: str = "") -> dict[str, Any]:
    """SandboxFusion's ``RunCodeResponse``, its status as ``parse_run_status`` decides it."""
    if error:
        status = "SandboxError"
    else:
        steps = [r for r in (compiled, ran) if r is not None]
        failed = any(r["status"] == "TimeLimitExceeded" or
                     (r["return_code"] is not None and r["return_code"] != 0) for r in steps)
        status = "Failed" if failed else "Success"
    return {"status": status, "message": error, "compile_result": compiled, "run_result": ran,
            "executor_pod_name": os.environ.get("MY_POD_NAME"), "files": files}


# ------------------------------------------------------------------ files


def _relative(path: str, field: str) -> str:
    norm = posixpath.normpath(path)
    if not path or norm.startswith(("/", "..")) or norm == ".":
        raise ValueError(f"{field}: {path!r} is not a relative path inside the working directory")
    return norm


def _decode_files(files: dict[str, str | None]) -> dict[str, bytes]:
    out, total = {}, 0
    for path, content in files.items():
        if not isinstance(content, str):
            continue  # SandboxFusion skips a None content
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"files: {path!r} is not base64") from None
        total += len(data)
        if total > 32 << 20:
            raise ValueError("files: more than 32 MB in all")
        out[_relative(path, "files")] = data
    return out


def _write_files(root: str, files: dict[str, bytes]) -> None:
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
    for base, _dirs, names in os.walk(root):
        os.chmod(base, 0o755)
        for n in names:
            os.chmod(os.path.join(base, n), 0o644)


# The run's files travel in and out of its private tmpfs by a shell around the program (bash:
# dash cannot name a descriptor above 9):
# copies of `files` first, then the program, then a tar of `fetch_files` on its own channel.
_WRAPPER = ('out=$1; shift; if [ -d {files} ]; then cp -R {files}/. . || exit 125; fi; '
            '"$@"; rc=$?; if [ "$out" != - ]; then tar -cf - --ignore-failed-read -- {fetch} '
            '2>/dev/null >&"$out"; fi; exit $rc')


def _fetched(data: bytes, wanted: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                name = posixpath.normpath(member.name)
                if member.isfile() and name in wanted:
                    handle = tar.extractfile(member)
                    if handle is not None:
                        out[name] = base64.b64encode(handle.read()).decode()
    except (tarfile.TarError, OSError, EOFError):
        pass
    return out


# ------------------------------------------------------------------ building


@dataclass
class _Build:
    key: str
    compile: dict[str, Any]
    host_dir: str | None
    stem: str
    users: int = 0
    done: threading.Event | None = None
    cached: bool = False


class _BuildCache:
    """Built programs by (language, source): veRL sends every test case of a response as
    its own request, so the same source arrives many times at once. The first request
    compiles; the others wait for it and reuse the build (a compile that ran out of time
    is not kept: the next request may give more)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[str, _Build] = OrderedDict()

    def get(self, name: str, ex: ExecutionSpec, p: Prepared, timeout_s: float) -> _Build:
        key = hashlib.sha256(f"{name}\0{p.file_name}\0{p.text}".encode("utf-8", "surrogatepass")).hexdigest()
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry.cached and entry.host_dir and not os.path.isdir(entry.host_dir):
                self.entries.pop(key)  # removed under us (a temp-directory cleaner): build again
                entry = None
            if entry is not None:
                entry.users += 1
                self.entries.move_to_end(key)
                mine = False
            else:
                entry = _Build(key, {}, None, p.stem, 1, threading.Event())
                self.entries[key] = entry
                mine = True
        if not mine:
            assert entry.done is not None
            entry.done.wait()
            if entry.compile:
                return entry
            return self.get(name, ex, p, timeout_s)  # its compiler failed to run: try again
        try:
            entry.compile, entry.host_dir = _compile(name, ex, p, timeout_s)
        finally:
            with self.lock:
                keep = entry.compile.get("status") == "Finished"
                if not keep:
                    self.entries.pop(key, None)
                entry.cached = keep
                self._evict()
            assert entry.done is not None
            entry.done.set()
        return entry

    def release(self, entry: _Build) -> None:
        with self.lock:
            entry.users -= 1
            if not entry.cached and entry.users == 0 and entry.host_dir:
                shutil.rmtree(entry.host_dir, ignore_errors=True)

    def clear(self) -> None:
        """Remove every idle build (at exit; the next request builds again)."""
        with self.lock:
            for key, entry in list(self.entries.items()):
                if entry.users == 0:
                    self.entries.pop(key)
                    entry.cached = False
                    if entry.host_dir:
                        shutil.rmtree(entry.host_dir, ignore_errors=True)

    def _evict(self) -> None:
        while len(self.entries) > _CACHE_SIZE:
            old = next((k for k, e in self.entries.items() if e.users == 0), None)
            if old is None:
                return
            entry = self.entries.pop(old)
            entry.cached = False
            if entry.host_dir:
                shutil.rmtree(entry.host_dir, ignore_errors=True)


_BUILDS = _BuildCache()
atexit.register(_BUILDS.clear)


def _compile(name: str, ex: ExecutionSpec, p: Prepared, timeout_s: float
             ) -> tuple[dict[str, Any], str | None]:
    """(compile_result, host directory of the built program or None)."""
    start = time.perf_counter()
    if ex.check == "java_worker":
        ok, messages, timed_out, host = _compile_java(ex, p, timeout_s)
    else:
        host = sandbox.make_run_dir()
        ok, messages, _ = run_compiler(ex, ex.build_command, p, host, timeout_s, out_name="prog")
        timed_out = any(m.text.startswith("compiler timed out") for m in messages)
    seconds = time.perf_counter() - start
    stderr = "".join(f"{p.file_name}:{m.line if m.line is not None else '?'}: {m.severity}: {m.text}\n"
                     for m in messages)
    if timed_out:
        result = _result("TimeLimitExceeded", seconds, None, "", stderr)
    else:
        result = _result("Finished", seconds, 0 if ok else 1, "", stderr)
    if not ok and host:
        shutil.rmtree(host, ignore_errors=True)
        host = None
    return result, host


def _compile_java(ex: ExecutionSpec, p: Prepared, timeout_s: float
                  ) -> tuple[bool, list[Message], bool, str | None]:
    """The persistent javax.tools worker (as `run_tests`): classes into their own directory."""
    tag = secrets.token_hex(8)
    found = workers.java_compile(ex, [(p.file_name, p.text, tag)], 1, timeout_s)[0]
    host = os.path.join(workers.java_worker_dir(ex), tag)
    if found is None:
        shutil.rmtree(host, ignore_errors=True)
        return False, [Message(None, f"compiler timed out after {timeout_s:g} s")], True, None
    ok, diags = found
    messages = [Message(d.line - p.line_offset if d.line and d.line > p.line_offset else None,
                        d.text, d.severity, d.column) for d in diags]
    return ok, messages, False, host


# ------------------------------------------------------------------ running


def _run(name: str, ex: ExecutionSpec, req: RunCodeRequest, p: Prepared, build: _Build | None,
         run_s: float, memory_mb: int, files: dict[str, bytes], fetch: list[str],
         compiled: dict[str, Any] | None) -> dict[str, Any]:
    stdin = (req.stdin or "").encode("utf-8", "surrogateescape")
    if ex.runs_in_harness and not files and not fetch and sandbox.isolation_level() == "namespaces":
        ran = _run_in_zygote(ex, req.code, req.stdin or "", run_s, memory_mb)
        if ran is not None:
            return _answer(None, ran, {})
    scratch = sandbox.make_run_dir()
    files_dir = None
    try:
        binds: dict[str, str] = {}
        if build is not None and build.host_dir:
            sandbox.make_readable(build.host_dir)
            binds[build.host_dir] = PROG
            command = format_argv(ex.run_command, memory_mb, src=f"{PROG}/{p.file_name}",
                                  out=PROG if ex.check == "java_worker" else f"{PROG}/prog",
                                  stem=p.stem)
        else:
            with open(os.path.join(scratch, p.file_name), "w", encoding="utf-8",
                      errors="surrogatepass") as f:
                f.write(p.text)
            os.chmod(scratch, 0o755)
            os.chmod(os.path.join(scratch, p.file_name), 0o644)
            binds[scratch] = PROG
            template = [sandbox.python_executable(), "{src}"] if ex.runs_in_harness else ex.run_command
            command = format_argv(template, memory_mb, src=f"{PROG}/{p.file_name}",
                                  out=f"{PROG}/prog", stem=p.stem)
        if files:
            files_dir = sandbox.make_run_dir()
            _write_files(files_dir, files)
            binds[files_dir] = FILES
        ran, fetched = _run_command(ex, command, binds, stdin, run_s, memory_mb, bool(files), fetch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if files_dir:
            shutil.rmtree(files_dir, ignore_errors=True)
    return _answer(compiled, ran, fetched)


def _run_command(ex: ExecutionSpec, command: list[str], binds: dict[str, str], stdin: bytes,
                 run_s: float, memory_mb: int, wrap: bool, fetch: list[str]
                 ) -> tuple[dict[str, Any], dict[str, str]]:
    limits = run_limits(ex, memory_mb, run_s, output_bytes=OUTPUT_BYTES)
    with Sandbox(limits, ro_binds=binds, env=run_env(ex, memory_mb)) as box:
        command = [box.path(a) if a.startswith(PROG) else a for a in command]
        channels: tuple[str, ...] = ()
        if wrap or fetch:
            script = _WRAPPER.format(files=box.path(FILES) if wrap else "/nonexistent",
                                     fetch=" ".join(_quote(f) for f in fetch) or "/dev/null")
            channels = ("files",) if fetch else ()
            command = ["/bin/bash", "-c", script, "bash", "{fd:files}" if fetch else "-", *command]
        res = box.run(command, stdin=stdin, extra_fds=channels)
    stdout = res.stdout.decode("utf-8", "replace")
    stderr = res.stderr.decode("utf-8", "replace")
    if res.timed_out:
        return _result("TimeLimitExceeded", res.wall_s, None, stdout, stderr), {}
    if res.truncated:
        stderr += f"\noutput limit of {OUTPUT_BYTES} bytes exceeded"
    code = res.returncode if res.returncode is not None else -9
    return (_result("Finished", res.wall_s, code, stdout, stderr),
            _fetched(res.extra.get("files", b""), fetch) if fetch else {})


def _quote(path: str) -> str:
    return "'" + path.replace("'", "'\\''") + "'"




def _run_in_zygote(ex: ExecutionSpec, code: str, stdin: str, run_s: float, memory_mb: int
                   ) -> dict[str, Any] | None:
    """A Python run forked from a warm zygote (fresh namespaces, as `run_tests`); None
    when the zygote itself failed (the caller runs it cold)."""
    nonce = secrets.token_hex(16)
    limits = run_limits(ex, memory_mb, run_s + 10, output_bytes=OUTPUT_BYTES)
    rlimits = {"as": limits.address_space_mb << 20, "cpu": int(run_s) + 2,
               "fsize": limits.file_size_mb << 20, "nofile": limits.open_files,
               "nproc": limits.processes, "core": 0}
    job = {"mode": "program", "code": code, "stdin": stdin, "case_timeout": run_s,
           "timeout": run_s + 5, "cap": OUTPUT_BYTES, "command": [],
           "path": list(sandbox.python_path())}
    start = time.perf_counter()
    try:
        verdict_text, timed_out, exceeded = workers.zygote_run(
            job, nonce, limits=rlimits, wall_s=limits.wall_s, tmpfs_mb=limits.tmpfs_mb,
            env=sandbox.scrubbed_env(run_env(ex, memory_mb)), memory_mb=memory_mb)
    except workers.WorkerDied:
        return None
    seconds = time.perf_counter() - start
    if exceeded:  # the run's memory group hit its limit: killed, as a program over its memory is
        return _result("Finished", seconds, -9, "", "memory limit exceeded")
    try:
        verdict = json.loads(verdict_text or "null")
    except ValueError:
        verdict = None
    if not isinstance(verdict, dict) or verdict.get("nonce") != nonce:
        if timed_out:
            return _result("TimeLimitExceeded", seconds, None, "", "")
        return _result("Finished", seconds, -9, "", "the run ended without a result")
    ran = verdict.get("program")
    if verdict.get("outcome") == "timeout" or (isinstance(ran, dict) and ran.get("timeout")):
        return _result("TimeLimitExceeded", seconds, None,
                       (ran or {}).get("stdout", ""), (ran or {}).get("stderr", ""))
    if not isinstance(ran, dict):
        text = "; ".join(m.get("text", "") for m in verdict.get("messages", []))
        return _result("Finished", seconds, -9, "", text or "the program's process died")
    stderr = ran["stderr"] + (f"\noutput limit of {OUTPUT_BYTES} bytes exceeded" if ran["truncated"] else "")
    return _result("Finished", ran.get("wall", seconds), ran["exit"], ran["stdout"], stderr)

"""Compile feedback: does each sample compile, with the compiler's messages and line numbers.

Fast paths per language (chosen by `core.languages` data, `ExecutionSpec.check`):

* ``python_compile``: the built-in `compile()` in this process (parsing runs no code);
* ``java_worker``: one long-lived sandboxed JVM compiles every unit as its own javax.tools
  task, in parallel threads, class files discarded in memory (no collisions, no files);
* ``node_worker``: one long-lived sandboxed Node process, `vm.compileFunction` per sample;
* ``command``: the compiler per sample (C/C++ ``-fsyntax-only`` with a cached
  precompiled ``bits/stdc++.h``, ``mcs``, ``php -l``), each in its own sandbox, in
  parallel over a thread pool.

Fragments (a Java/C# method without a class, C/C++ without includes, PHP without
``<?php``) are wrapped as `ExecutionSpec` says; message lines refer to the sample's own
lines. Warnings never make a compile error. C/C++ are checked, not linked: a function
without ``main`` (a completion or translation target) compiles; `run_tests` builds and
links. C# fragments compile as a library (no ``Main`` needed).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core import languages
from core.languages import ExecutionSpec
from rewards.execution import sandbox, workers
from rewards.execution.sandbox import BOX, Limits, Sandbox
from rewards.execution.types import CompileResult, Message, RewardValues, check_codes

DEFAULT_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Prepared:
    """A sample made into a compilation unit."""

    text: str
    file_name: str
    line_offset: int
    """Lines added before the sample's own first line."""


def execution_spec(lang: str) -> tuple[str, ExecutionSpec]:
    spec = languages.get(lang)
    if spec.execution is None:
        raise ValueError(f"language {spec.name!r} has no execution support")
    return spec.name, spec.execution


def prepare(lang: str, code: str) -> Prepared:
    """Wrap a fragment and pick the file name, as the language's `ExecutionSpec` says."""
    name, ex = execution_spec(lang)
    ext = languages.get(name).file_extension
    text, offset = code, 0
    if ex.complete_program and not re.search(ex.complete_program, code, re.MULTILINE):
        text = ex.fragment_prefix + code + ex.fragment_suffix
        offset = ex.fragment_prefix.count("\n")
    stem = ex.file_stem
    if ex.file_stem_pattern:
        found = re.search(ex.file_stem_pattern, text, re.MULTILINE)
        if found:
            stem = found.group(1)
    return Prepared(text, stem + ext, offset)


def _workers(workers: int) -> int:
    return workers if workers > 0 else max(os.cpu_count() or 1, 1)


def _shift(line: int | None, offset: int) -> int | None:
    if line is None:
        return None
    line -= offset
    return line if line >= 1 else None


def parse_messages(ex: ExecutionSpec, output: str, offset: int, file_name: str = "") -> list[Message]:
    """Diagnostics found by the language's `message_pattern`, lines shifted to the sample.

    With `file_name` (the unit's file), a message about another file (a system header
    where a template failed) keeps its text but gets no line: its line is not the sample's.
    """
    out: list[Message] = []
    if not ex.message_pattern:
        return out
    ours = re.compile(rf"(?<![\w.-]){re.escape(file_name)}(?![\w.-])") if file_name else None
    for found in re.finditer(ex.message_pattern, output, re.MULTILINE):
        groups = found.groupdict()
        severity = groups.get("severity") or "error"
        column = int(groups["column"]) if groups.get("column") else None
        line = _shift(int(groups["line"]), offset)
        if ours and not ours.search(output, found.start(), found.start("line")):
            line = column = None
        out.append(Message(line, groups["text"].strip(),
                           "error" if severity in ex.error_severities else "warning", column))
        if len(out) >= 50:
            break
    return out


def compile_feedback(lang: str, codes: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                     workers: int = 0, rewards: RewardValues | None = None) -> list[CompileResult]:
    """Compile each code string of language `lang`; one `CompileResult` per sample.

    `outcome` is ``ok`` or ``compile_error``; `reward` is `rewards.compile_ok` (+1) or
    `rewards.compile_error` (-1); `messages` hold errors and warnings with line numbers
    of the sample's own code; `isolation` names the sandbox level. `workers` (0: all
    cores) bounds the parallel compilers. Raises ValueError for an unknown language or
    a non-string sample.
    """
    name, ex = execution_spec(lang)
    codes = check_codes(codes)
    values = rewards or RewardValues()
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    if not codes:
        return []
    start = time.perf_counter()
    if ex.check == "python_compile":
        results = [_python_compile(code) for code in codes]
    elif ex.check == "java_worker":
        results = _java_check(name, codes, timeout_s, _workers(workers))
    elif ex.check == "node_worker":
        results = _node_check(codes, timeout_s)
    else:
        results = _command_check(name, ex, codes, timeout_s, _workers(workers))
    share = (time.perf_counter() - start) / len(codes)
    for res in results:
        res.reward = values.for_outcome(res.outcome)
        res.timings.setdefault("compile", share)
    return results


def _result(ok: bool, messages: list[Message], isolation: str) -> CompileResult:
    if not ok and not any(m.severity == "error" for m in messages):
        messages.append(Message(None, "compilation failed", "error"))
    return CompileResult("ok" if ok else "compile_error", 0.0, messages, {}, isolation)


def _python_compile(code: str) -> CompileResult:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        column = exc.offset if isinstance(exc.offset, int) else None
        return _result(False, [Message(exc.lineno, f"{type(exc).__name__}: {exc.msg}", "error",
                                       column)], "in-process")
    except (ValueError, MemoryError, RecursionError, OverflowError) as exc:
        return _result(False, [Message(None, f"{type(exc).__name__}: {exc}", "error")], "in-process")
    return _result(True, [], "in-process")


def _java_check(name: str, codes: list[str], timeout_s: float, threads: int) -> list[CompileResult]:
    prepared = [prepare(name, code) for code in codes]
    found = workers.java_compile([(p.file_name, p.text, "") for p in prepared], threads,
                                 timeout_s * max(1, len(codes) // threads))
    level = sandbox.isolation_level()
    out = []
    for p, res in zip(prepared, found):
        if res is None:  # the worker died or ran out of time: this unit alone, cold
            out.append(_cold_check(execution_spec(name)[1], p, timeout_s))
            continue
        ok, diags = res
        out.append(_result(ok, [Message(_shift(d.line, p.line_offset), d.text, d.severity, d.column)
                                for d in diags], level))
    return out


def _cold_check(ex: ExecutionSpec, p: Prepared, timeout_s: float) -> CompileResult:
    run_dir = sandbox.make_run_dir()
    try:
        ok, messages, level = run_compiler(ex, ex.check_command, p, run_dir, timeout_s, out_name="classes")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return _result(ok, messages, level)


def _node_check(codes: list[str], timeout_s: float) -> list[CompileResult]:
    level = sandbox.isolation_level()
    out = []
    for res in workers.node_check(codes, timeout_s):
        if res is None:
            out.append(_result(False, [Message(None, "syntax check timed out", "error")], level))
            continue
        messages = [] if res["ok"] else [Message(res["line"], str(res["message"]), "error",  # type: ignore[arg-type]
                                                 res["column"])]  # type: ignore[arg-type]
        out.append(_result(bool(res["ok"]), messages, level))
    return out


MAX_PCH_SETS = 32
"""Header sets per process that get a precompiled header (each is 2-100 MB on disk)."""
_pch_lock = threading.Lock()
_pch_built: dict[tuple[tuple[str, ...], tuple[str, ...]], str | None] = {}
_include_sets: Counter[tuple[str, ...]] = Counter()
_INCLUDE = re.compile(r"\s*#\s*include\s*<([\w./+-]+)>\s*(?://.*)?$")
_SKIP = re.compile(r"\s*(?://.*|/\*.*\*/\s*)?$")


def leading_includes(text: str) -> tuple[str, ...]:
    """The system headers a unit includes before anything else (its first directives)."""
    headers: list[str] = []
    for line in text.split("\n", 200)[:200]:
        found = _INCLUDE.match(line)
        if found:
            headers.append(found.group(1))
        elif not _SKIP.match(line):
            break
    return tuple(headers)


def precompiled_header(headers: tuple[str, ...], flags: tuple[str, ...]) -> str | None:
    """A directory with ``pch.h`` (including `headers`, in order) and its ``.gch`` for `flags`.

    Built once (serialised, cached on disk by a hash of headers, compiler and flags);
    None when the compiler cannot build it (the check then runs without it).
    """
    with _pch_lock:
        if (headers, flags) in _pch_built:
            return _pch_built[(headers, flags)]
        key = hashlib.sha256(repr((headers, flags)).encode()).hexdigest()[:12]
        target = os.path.join(tempfile.gettempdir(), f"ppocoder-pch-{key}")
        if not os.path.exists(os.path.join(target, "pch.h.gch")):
            _build_pch(headers, flags, target)
        found = target if os.path.exists(os.path.join(target, "pch.h.gch")) else None
        _pch_built[(headers, flags)] = found
        return found


def _build_pch(headers: tuple[str, ...], flags: tuple[str, ...], target: str) -> None:
    staging = tempfile.mkdtemp(prefix="ppocoder-pch-")
    with open(os.path.join(staging, "pch.h"), "w") as f:
        f.writelines(f"#include <{h}>\n" for h in headers)
    try:
        subprocess.run([*flags, "-x", "c++-header", "pch.h", "-o", "pch.h.gch"], cwd=staging,
                       check=True, capture_output=True, timeout=300)
        os.chmod(staging, 0o755)
        for entry in os.listdir(staging):
            os.chmod(os.path.join(staging, entry), 0o644)
        os.rename(staging, target)
    except (OSError, subprocess.SubprocessError):
        shutil.rmtree(staging, ignore_errors=True)


PCH_INSIDE = "/tmp/pch"


def with_pch(ex: ExecutionSpec, argv: Sequence[str], text: str) -> tuple[list[str], dict[str, str]]:
    """`argv` with ``-include`` of a cached precompiled header, plus the bind it needs.

    Semantics never change: the header set is exactly the unit's own leading
    ``#include <...>`` lines (the language's `precompiled_header`, e.g. bits/stdc++.h,
    is built up front; any other set once it has been seen twice), so force-including
    it first and re-including it (guarded, a no-op) is what the unit asked for anyway.
    """
    if not ex.precompiled_header:
        return list(argv), {}
    headers = leading_includes(text)
    if not headers:
        return list(argv), {}
    with _pch_lock:
        _include_sets[headers] += 1
        seen = _include_sets[headers]
    if headers != (ex.precompiled_header,) and (seen < 2 or len(_pch_built) >= MAX_PCH_SETS):
        return list(argv), {}
    flags = tuple(a for a in argv if a.startswith("-std=") or a.startswith("-O")) or ()
    pch = precompiled_header(headers, (argv[0], *flags))
    if pch is None:
        return list(argv), {}
    return [argv[0], "-include", f"{PCH_INSIDE}/pch.h", *argv[1:]], {pch: PCH_INSIDE}


def run_compiler(ex: ExecutionSpec, template: Sequence[str], prepared: Prepared, run_dir: str,
                 timeout_s: float, out_name: str = "out.bin") -> tuple[bool, list[Message], str]:
    """Write the unit into `run_dir` and run the compiler on it in a sandbox."""
    with open(os.path.join(run_dir, prepared.file_name), "w", encoding="utf-8",
              errors="surrogatepass") as f:
        f.write(prepared.text)
    argv = [a.format(src=prepared.file_name, out=out_name, stem=prepared.file_name.rsplit(".", 1)[0])
            for a in template]
    argv, binds = with_pch(ex, argv, prepared.text)
    limits = Limits(wall_s=timeout_s, cpu_s=int(timeout_s) + 1, address_space_mb=ex.address_space_mb,
                    file_size_mb=64, processes=64, output_bytes=256 << 10)
    with Sandbox(limits, rw_dir=run_dir, ro_binds=binds, env=dict(ex.env)) as box:
        argv = [box.path(a) if a.startswith(PCH_INSIDE) else a for a in argv]
        res = box.run(argv)
    text = (res.stdout + b"\n" + res.stderr).decode("utf-8", "replace")
    messages = parse_messages(ex, text, prepared.line_offset, prepared.file_name)
    if res.timed_out:
        messages.append(Message(None, f"compiler timed out after {timeout_s:g} s", "error"))
    errors = any(m.severity == "error" for m in messages)
    ok = res.returncode == 0 and not errors and not res.timed_out
    if not ok and not errors:
        tail = text.strip()[-300:] or f"compiler exit status {res.returncode}"
        messages.append(Message(None, tail, "error"))
    return ok, messages, res.isolation


def _command_check(name: str, ex: ExecutionSpec, codes: list[str], timeout_s: float,
                   threads: int) -> list[CompileResult]:
    def one(code: str) -> CompileResult:
        run_dir = sandbox.make_run_dir()
        try:
            ok, messages, level = run_compiler(ex, ex.check_command, prepare(name, code), run_dir,
                                               timeout_s)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        return _result(ok, messages, level)

    if threads <= 1 or len(codes) == 1:
        return [one(code) for code in codes]
    with ThreadPoolExecutor(min(threads, len(codes))) as pool:
        return list(pool.map(one, codes))


__all__ = ["compile_feedback", "prepare", "BOX"]

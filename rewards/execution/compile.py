"""Compile feedback: does each sample compile, with the compiler's messages and line numbers.

Fast paths per language (chosen by `core.languages` data, `ExecutionSpec.check`):

* ``python_compile``: the built-in `compile()` in this process (parsing runs no code);
* ``java_worker``: one long-lived sandboxed JVM compiles every unit as its own javax.tools
  task, in parallel threads, class files discarded in memory (no collisions, no files);
* ``node_worker``: one long-lived sandboxed Node process, `vm.compileFunction` per sample;
* ``command``: the compiler per sample (C/C++ ``-fsyntax-only``, C++ with a precompiled
  header of its leading system includes built in the sandbox (`rewards.execution.pch`),
  ``mcs``, ``php -l``), each in its own sandbox, in parallel over a thread pool.

Fragments (a Java/C# method without a class, C/C++ without includes, PHP without
``<?php``) are wrapped as `ExecutionSpec` says; message lines refer to the sample's own
lines. Warnings make no compile error, except those that mean "this text was ignored"
(`ExecutionSpec.promoted_warnings`: extra tokens after a directive, an unknown
``#pragma``, ``#warning``, an ``#if`` on a name never defined).

Function-level code (a completion) gets the fast check: C/C++ are checked, not linked,
and C# compiles as a library, so a function without ``main`` compiles. A *whole
program* (``whole_program=True``: translation, stdin/stdout synthesis) must also link:
C/C++ are built into a binary and C# into an executable (`ExecutionSpec.link_command`:
``main``/``Main`` must exist), and Java's code must declare ``static void main(``
(`ExecutionSpec.main_pattern`, read with comments and strings blanked). Python,
JavaScript and PHP run from the top of the file: their syntax check is the whole check.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Sequence

from core.program_end import code_text
from rewards.execution import sandbox, workers
from rewards.execution.limits import check_timeout, check_workers
from rewards.execution.scheduler import current as current_scheduler
from rewards.execution.toolchain import (
    Prepared,
    compile_result,
    execution_spec,
    isolation_label,
    prepare,
    python_compile,
    run_compiler,
    shift_line,
)
from rewards.execution.types import CompileResult, Message, RewardValues, check_codes

DEFAULT_TIMEOUT_S = 20.0


def _workers(workers: int) -> int:
    return workers if workers > 0 else current_scheduler().max_workers


def compile_feedback(lang: str, codes: Sequence[str], *, timeout_s: float = DEFAULT_TIMEOUT_S,
                     workers: int = 0, rewards: RewardValues | None = None,
                     whole_program: bool = False) -> list[CompileResult]:
    """Compile each code string of language `lang`; one `CompileResult` per sample.

    `outcome` is ``ok`` or ``compile_error``; `reward` is `rewards.compile_ok` (+1) or
    `rewards.compile_error` (-1); `messages` hold errors and warnings with line numbers
    of the sample's own code; `isolation` names the sandbox level and the memory bound
    (``namespaces+rlimit``). With `whole_program`, each sample is a whole program that
    must also link (see the module doc). `timeout_s` bounds each compile (at most
    ``PPOCODER_MAX_TIMEOUT_S``, 60 s by default); `workers` (0: all cores) bounds the
    parallel compilers, on the slots of the current `rewards.execution.scheduler`. Raises ValueError for an unknown language, a non-string sample
    or a bad limit (naming it).
    """
    name, ex = execution_spec(lang)
    codes = check_codes(codes)
    timeout_s = check_timeout("timeout_s", timeout_s)
    threads = _workers(check_workers("workers", workers))
    values = rewards or RewardValues()
    if not codes:
        return []
    start = time.perf_counter()
    if ex.check == "python_compile":
        results = [python_compile(code) for code in codes]
    elif ex.check == "java_worker":
        results = _java_check(name, codes, timeout_s, threads)
    elif ex.check == "node_worker":
        results = _node_check(name, codes, timeout_s)
    else:
        template = ex.link_command if whole_program and ex.link_command else ex.check_command
        results = _command_check(name, codes, timeout_s, threads, template)
    if whole_program and ex.main_pattern:
        results = [_require_main(name, code, res) for code, res in zip(codes, results)]
    share = (time.perf_counter() - start) / len(codes)
    for res in results:
        res.reward = values.for_outcome(res.outcome)
        res.timings.setdefault("compile", share)
    return results


def _java_check(name: str, codes: list[str], timeout_s: float, threads: int) -> list[CompileResult]:
    ex = execution_spec(name)[1]
    prepared = [prepare(name, code) for code in codes]
    found = workers.java_compile(ex, [(p.file_name, p.text, "") for p in prepared], threads,
                                 timeout_s * max(1, len(codes) // threads))
    level = isolation_label(ex, sandbox.isolation_level())
    out = []
    for p, res in zip(prepared, found):
        if res is None:  # the worker died or ran out of time: this unit alone, cold
            out.append(_cold_check(name, p, timeout_s))
            continue
        ok, diags = res
        out.append(compile_result(ok, [Message(shift_line(d.line, p.line_offset), d.text, d.severity,
                                               d.column) for d in diags], level))
    return out


def _cold_check(name: str, p: Prepared, timeout_s: float) -> CompileResult:
    ex = execution_spec(name)[1]
    run_dir = sandbox.make_run_dir()
    try:
        ok, messages, level = run_compiler(ex, ex.check_command, p, run_dir, timeout_s, out_name="classes")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    return compile_result(ok, messages, level)


def _node_check(name: str, codes: list[str], timeout_s: float) -> list[CompileResult]:
    ex = execution_spec(name)[1]
    level = isolation_label(ex, sandbox.isolation_level())
    out = []
    for res in workers.node_check(ex, codes, timeout_s):
        if res is None:
            out.append(compile_result(False, [Message(None, "syntax check timed out", "error")], level))
            continue
        messages = [] if res["ok"] else [Message(res["line"], str(res["message"]), "error",  # type: ignore[arg-type]
                                                 res["column"])]  # type: ignore[arg-type]
        out.append(compile_result(bool(res["ok"]), messages, level))
    return out


def declares_main(lang: str, code: str) -> bool:
    """Whether `code` declares the entry point of a whole program of `lang` (its
    `ExecutionSpec.main_pattern`, comments and strings not counted); False for a
    language without one (Python, JavaScript, PHP run from the top)."""
    name, ex = execution_spec(lang)
    return bool(ex.main_pattern) and re.search(ex.main_pattern, code_text(name, code), re.MULTILINE) is not None


def _require_main(name: str, code: str, res: CompileResult) -> CompileResult:
    """A compiled whole program without its entry point becomes a compile error."""
    if res.outcome != "ok" or declares_main(name, code):
        return res
    return compile_result(False, [Message(None, "a whole program needs an entry point (main); "
                                          "none is declared", "error")], res.isolation or "")


def _command_check(name: str, codes: list[str], timeout_s: float, threads: int,
                   template: Sequence[str]) -> list[CompileResult]:
    ex = execution_spec(name)[1]

    def one(code: str) -> CompileResult:
        run_dir = sandbox.make_run_dir()
        try:
            ok, messages, level = run_compiler(ex, template, prepare(name, code), run_dir,
                                               timeout_s)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)
        return compile_result(ok, messages, level)

    if len(codes) == 1:
        return [one(codes[0])]
    return current_scheduler().map(one, codes, workers=threads)


__all__ = ["compile_feedback", "declares_main"]

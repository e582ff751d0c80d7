"""The execution toolchain that compile feedback and unit tests share.

A sample becomes a compilation unit (`prepare`: fragments wrapped as the language's
`ExecutionSpec` says), a compiler runs on it in a sandbox (`run_compiler`), its output
becomes messages with the sample's own line numbers (`parse_messages`). A run's memory
turns into the language's limits (`run_limits`, `format_argv`, `run_env`: RLIMIT_AS
plus the runtime's own heap cap) and into the ``isolation`` label of its result
(`isolation_label`: ``"<sandbox level>+<memory bound>"``, e.g. ``namespaces+jvm-heap``).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

from core import languages
from core.languages import ExecutionSpec
from rewards.execution import pch, sandbox
from rewards.execution.limits import Limits
from rewards.execution.sandbox import Sandbox
from rewards.execution.types import CompileResult, Message

COMPILE_MEMORY_MB = 1024
"""Memory of one compiler run (and of each persistent compile worker)."""
HEAP_SHARE = 0.75
"""Share of a run's memory that a runtime with its own heap cap may fill (``{heap_mb}``)."""


@dataclass(frozen=True)
class Prepared:
    """A sample made into a compilation unit."""

    text: str
    file_name: str
    line_offset: int
    """Lines added before the sample's own first line."""

    @property
    def stem(self) -> str:
        return self.file_name.rsplit(".", 1)[0]


def execution_spec(lang: str) -> tuple[str, ExecutionSpec]:
    """(canonical name, execution spec) of `lang`; ValueError if it has no execution support."""
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


def shift_line(line: int | None, offset: int) -> int | None:
    """A line of the compilation unit as a line of the sample (None if in the wrapper)."""
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
        line = shift_line(int(groups["line"]), offset)
        if ours and not ours.search(output, found.start(), found.start("line")):
            line = column = None
        text = groups["text"].strip()
        error = severity in ex.error_severities or (
            severity == "warning" and any(re.search(p, text) for p in ex.promoted_warnings))
        out.append(Message(line, text, "error" if error else "warning", column))
        if len(out) >= 50:
            break
    return out


def compile_result(ok: bool, messages: list[Message], isolation: str) -> CompileResult:
    """A `CompileResult` (reward filled in later); a failure always carries an error."""
    if not ok and not any(m.severity == "error" for m in messages):
        messages.append(Message(None, "compilation failed", "error"))
    return CompileResult("ok" if ok else "compile_error", 0.0, messages, {}, isolation)


def python_compile(code: str) -> CompileResult:
    """Python's compile check: the built-in `compile()` in this process (runs nothing)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<candidate>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        column = exc.offset if isinstance(exc.offset, int) else None
        return compile_result(False, [Message(exc.lineno, f"{type(exc).__name__}: {exc.msg}", "error",
                                              column)], "in-process")
    except (ValueError, MemoryError, RecursionError, OverflowError) as exc:
        return compile_result(False, [Message(None, f"{type(exc).__name__}: {exc}", "error")],
                              "in-process")
    return compile_result(True, [], "in-process")


def isolation_label(ex: ExecutionSpec, level: str) -> str:
    """What held a run: the sandbox level, the per-process memory bound and what bounds the
    run's memory as a whole (`sandbox.memory_guard`), e.g. ``namespaces+v8-heap+memcg``."""
    guard = sandbox.memory_guard(level)
    return f"{level}+{ex.memory_bound}" + (f"+{guard}" if guard else "")


def _memory_names(memory_mb: int) -> dict[str, int]:
    return {"heap_mb": max(int(memory_mb * HEAP_SHARE), 16)}


def format_argv(template: Sequence[str], memory_mb: int, **names: str) -> list[str]:
    """`template` with ``{src}``, ``{out}``, ``{stem}``, ``{harness}`` from `names` and
    ``{heap_mb}`` from the run's memory."""
    values = {**_memory_names(memory_mb), **names}
    return [a.format(**values) for a in template]


def run_env(ex: ExecutionSpec, memory_mb: int) -> dict[str, str]:
    """The language's extra environment for a run with `memory_mb` of memory."""
    values = _memory_names(memory_mb)
    return {k: v.format(**values) for k, v in ex.env}


def run_limits(ex: ExecutionSpec, memory_mb: int, wall_s: float | None, *,
               output_bytes: int = 1 << 20, file_size_mb: int = 16, open_files: int = 256,
               processes: int | None = None, tmpfs_mb: int = 64) -> Limits:
    """Limits of a run of this language with `memory_mb` of memory: RLIMIT_AS is the
    memory plus what the runtime reserves without using (`ExecutionSpec.reserved_mb`)."""
    return Limits(wall_s=wall_s, cpu_s=None if wall_s is None else int(wall_s) + 1,
                  address_space_mb=memory_mb + ex.reserved_mb, file_size_mb=file_size_mb,
                  open_files=open_files, processes=processes or ex.processes,
                  output_bytes=output_bytes, tmpfs_mb=tmpfs_mb, memory_mb=memory_mb)


def run_compiler(ex: ExecutionSpec, template: Sequence[str], prepared: Prepared, run_dir: str,
                 timeout_s: float, out_name: str = "out.bin") -> tuple[bool, list[Message], str]:
    """Write the unit into `run_dir` and run the compiler on it in a sandbox;
    (ok, messages, isolation label)."""
    with open(os.path.join(run_dir, prepared.file_name), "w", encoding="utf-8",
              errors="surrogatepass") as f:
        f.write(prepared.text)
    argv = format_argv(template, COMPILE_MEMORY_MB, src=prepared.file_name, out=out_name,
                       stem=prepared.stem)
    argv, binds = pch.with_pch(ex, argv, prepared.text, wait_s=timeout_s)
    limits = run_limits(ex, COMPILE_MEMORY_MB, timeout_s, output_bytes=256 << 10, file_size_mb=64,
                        processes=64)
    with Sandbox(limits, rw_dir=run_dir, ro_binds=binds, env=run_env(ex, COMPILE_MEMORY_MB)) as box:
        argv = [box.path(a) if a.startswith(pch.PCH_INSIDE) else a for a in argv]
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
    return ok, messages, isolation_label(ex, res.isolation)

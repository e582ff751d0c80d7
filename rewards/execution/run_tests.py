"""Unit-test feedback: run each sample against its tests in the sandbox.

Per sample: compile (Python: in-process `compile()`; Java: the persistent javax.tools
worker, each sample into its own directory; C/C++/C#: the build command in a sandbox;
JavaScript/PHP: the syntax check), then one sandbox runs `harness/runner.py`, which keeps
the candidate in a child process (assert-style and call-based tests call it through
data-only proxies;
stdin/stdout cases fork one process per case from that child, or exec the built program)
and writes the verdict, tagged with a per-run random nonce, on a descriptor the candidate
has closed. A pass is never read from an exit status or from the candidate's output.

Outcome classes and rewards (PPOCoder / CodeRL): all tests pass +1, a test fails -0.3,
runtime error -0.6 (timeouts too), compile error -1; see `RewardValues`. A run whose test
code checked nothing (no assert ran) fails. ``test_error`` (reward 0, left out of
pass@k) marks a test that cannot run as written, which is the caller's error, never the
answer's: test code that does not compile is refused earlier, by `TestSpec` (ValueError).

What a pass requires (`harness/runner.py` documents each rule):

* assert-style tests run in the judge's process with the real builtins; the test code
  sees, through data-only proxies, only the candidate's functions that the task's
  contract provides: the entry point, and functions whose name is not a builtin's (so a
  candidate defining ``set`` or ``range`` changes nothing the asserts compute). The
  task's own helpers that the test calls come from `prefixes`, when given.
* call-based return values: tuples are lists, bools are not ints, numbers exactly.
* stdin/stdout: integers exactly, decimals within 1e-6 (`runner.same_output`).
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from core.languages import ExecutionSpec
from rewards.execution import sandbox, workers
from rewards.execution.compile import compile_feedback
from rewards.execution.limits import (
    Limits,
    check_memory,
    check_output_bytes,
    check_timeout,
    check_workers,
    maximums,
)
from rewards.execution.sandbox import Sandbox
from rewards.execution.scheduler import current as current_scheduler
from rewards.execution.toolchain import (
    Prepared,
    execution_spec,
    format_argv,
    isolation_label,
    prepare,
    python_compile,
    run_compiler,
    run_env,
    run_limits,
)
from rewards.execution.types import Message, RewardValues, TestResult, TestSpec, check_codes

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MEMORY_MB = 1024
PROG = "/tmp/prog"
"""Where the built program (or script) is shown, read-only, to the test run."""
JAVA_HARNESS = "/tmp/javaharness"

HARNESS_START_S = 5
"""Seconds a test run gets beyond its tests' own time to start: the sandbox, the judge
and the candidate's child process."""
CASE_SERVER_START_S = 15
"""Seconds more for stdin/stdout cases run by a warm runtime's case server (the JVM's
case runner) to start it."""
SANDBOX_GRACE_S = 5
"""Seconds the sandbox's wall clock allows beyond the judge's own deadline, so the judge,
which stops the candidate first, still writes its verdict."""
COMPILE_MIN_S = 30
"""Seconds a compiler (the build command, the Java worker) gets at least, whatever the
test timeout (within the maximum timeout)."""
SYNTAX_CHECK_MIN_S = 10
"""Seconds a syntax check (JavaScript, PHP) gets at least."""


def run_tests(lang: str, codes: Sequence[str], tests: Sequence[TestSpec], *,
              timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 0,
              rewards: RewardValues | None = None, output_bytes: int = 1 << 20,
              memory_mb: int = DEFAULT_MEMORY_MB,
              prefixes: Sequence[str | None] | None = None) -> list[TestResult]:
    """Run `codes[i]` against `tests[i]`; one `TestResult` per sample.

    A test is a `TestSpec` or any shape `TestSpec.parse` reads (HumanEval, MBPP, APPS...).
    `timeout_s` is the budget of one sample's assert-style tests, or of each stdin/stdout
    case or call (a `TestSpec.timeout_s` overrides it); a sample's whole test run stops at
    ``PPOCODER_MAX_TIMEOUT_S`` (60 s by default). `workers` (0: all cores) sandboxes run
    at once, on the slots of the current `rewards.execution.scheduler` (shared fairly with
    the other batches running in the process). `output_bytes` caps each case's output.
    `memory_mb` is the memory of one
    run: the program is stopped near it (RLIMIT_AS, plus the runtime's own heap cap for
    Java, JavaScript, C# and PHP; `TestResult.isolation` names the bound).
    `prefixes[i]` is the code the task gave sample i (a completion's prompt,
    `Sample.code_prefix`): the functions it defines that the test code calls, other than
    the entry point (HumanEval/38's ``encode_cyclic``), run from that text, not from the
    sample's copy. Raises ValueError on an unknown language, mismatched lengths, tests of
    no known shape or that do not compile, assert-style or call-based tests for a
    language other than Python, or a bad limit (naming it).
    """
    it = run_tests_iter(lang, codes, tests, timeout_s=timeout_s, workers=workers, rewards=rewards,
                        output_bytes=output_bytes, memory_mb=memory_mb, prefixes=prefixes)
    results: list[Any] = [None] * len(codes)
    for k, res in it:
        results[k] = res
    return results


def run_tests_iter(lang: str, codes: Sequence[str], tests: Sequence[TestSpec], *,
                   timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 0,
                   rewards: RewardValues | None = None, output_bytes: int = 1 << 20,
                   memory_mb: int = DEFAULT_MEMORY_MB,
                   prefixes: Sequence[str | None] | None = None) -> Iterator[tuple[int, TestResult]]:
    """`run_tests`, streamed: ``(i, result of codes[i])`` in the order the runs finish.

    Arguments are checked (and `ValueError` raised) when this is called; the runs start
    then too. Compiled languages build each sample in its own job, just before its run;
    Java (one compiler worker) and the syntax checks of JavaScript/PHP build the batch
    first.
    """
    name, ex = execution_spec(lang)
    codes = check_codes(codes)
    timeout_s = check_timeout("timeout_s", timeout_s)
    workers = check_workers("workers", workers)
    output_bytes = check_output_bytes("output_bytes", output_bytes)
    memory_mb = check_memory("memory_mb", memory_mb)
    if memory_mb < ex.min_memory_mb:
        raise ValueError(f"memory_mb must be at least {ex.min_memory_mb} MB for {name}, got {memory_mb}")
    tests = _read_tests(name, ex, codes, tests)
    prefixes = _read_prefixes(codes, prefixes)
    values = rewards or RewardValues()
    if not codes:
        return iter(())
    scheduler = current_scheduler()
    threads = workers if workers > 0 else scheduler.max_workers
    start = time.perf_counter()
    builds = _build(name, ex, codes, timeout_s, threads, memory_mb)
    build_share = (time.perf_counter() - start) / len(codes)

    claimed: set[int] = set()  # jobs that started; the others' build dirs are removed on close
    claim_lock = threading.Lock()
    closed = [False]

    def one(k: int) -> TestResult:
        with claim_lock:
            if closed[0]:
                return _not_run()
            claimed.add(k)
        t0 = time.perf_counter()
        build = _build_in_job(ex, builds[k], codes[k], timeout_s, memory_mb)
        built = time.perf_counter()
        if isinstance(build, TestResult):
            build.timings.setdefault("compile", build_share + built - t0)
            return build
        try:
            res = _run_one(ex, codes[k], tests[k], build, timeout_s, output_bytes, memory_mb,
                           prefixes[k])
        finally:
            if build.host_dir:
                shutil.rmtree(build.host_dir, ignore_errors=True)
        res.timings["run"] = time.perf_counter() - built
        res.timings.setdefault("compile", build_share + built - t0)
        return res

    batch = scheduler.submit([functools.partial(one, k) for k in range(len(codes))], workers)

    def close() -> None:
        batch.close()
        with claim_lock:
            if closed[0]:
                return
            closed[0] = True
            unstarted = [b for k, b in enumerate(builds) if k not in claimed]
        for b in unstarted:
            if isinstance(b, _Build) and b.host_dir:
                shutil.rmtree(b.host_dir, ignore_errors=True)

    def stream() -> Iterator[tuple[int, TestResult]]:
        try:
            for k, res in batch:
                res.reward = values.for_outcome(res.outcome)
                yield k, res
        finally:
            close()

    return _Results(stream(), close)


def _read_tests(name: str, ex: ExecutionSpec, codes: list[str], tests: Sequence[Any]) -> list[TestSpec]:
    """Every sample's tests as a `TestSpec`; ValueError naming the first that is not one."""
    specs = list(tests)
    if len(specs) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(specs)} test specs")
    for k, raw in enumerate(specs):
        if raw is None:
            raise ValueError(f"tests[{k}] is None")
        try:
            spec = specs[k] = TestSpec.parse(raw)
        except ValueError as exc:
            raise ValueError(f"tests[{k}]: {exc}") from None
        if not ex.runs_in_harness and not spec.is_stdio:  # function tests need the Python harness
            raise ValueError(f"tests[{k}]: {name} supports stdin/stdout tests only")
    return specs


def _read_prefixes(codes: list[str], prefixes: Sequence[str | None] | None) -> list[str | None]:
    """Every sample's prefix (None: no prefixes); ValueError naming the first that is bad."""
    found = [None] * len(codes) if prefixes is None else list(prefixes)
    if len(found) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(found)} prefixes")
    for k, prefix in enumerate(found):
        if prefix is not None and not isinstance(prefix, str):
            raise ValueError(f"prefixes[{k}] is {type(prefix).__name__}, not str or None")
    return found


class _Results(Iterator[tuple[int, TestResult]]):
    """Results as they finish; `close` (also before the first read) cancels the runs not
    yet started."""

    def __init__(self, stream: Iterator[tuple[int, TestResult]], close: Any) -> None:
        self._stream, self._close = stream, close

    def __next__(self) -> tuple[int, TestResult]:
        return next(self._stream)

    def close(self) -> None:
        self._close()


class _Build:
    """A built sample: host directory shown at PROG, and the argv that runs it."""

    def __init__(self, host_dir: str | None, command: list[str], stem: str = ""):
        self.host_dir, self.command, self.stem = host_dir, command, stem


def _not_run() -> TestResult:
    """The result of a job whose batch was closed before it started (nobody reads it)."""
    return TestResult("runtime_error", 0.0, messages=[Message(None, "not run")], isolation="")


def _compile_error(messages: list[Message], isolation: str) -> TestResult:
    """A compile error as a test result (its first error line is the failing line)."""
    first = next((m.line for m in messages if m.severity == "error"), None)
    return TestResult("compile_error", 0.0, first_failing_line=first, messages=messages,
                      isolation=isolation)


def _build(name: str, ex: ExecutionSpec, codes: list[str], timeout_s: float, threads: int,
           memory_mb: int) -> list[_Build | TestResult | Prepared]:
    """Compile every sample for running (in parallel); compile errors become results. A
    language with a build command gets its `Prepared` sources back, built per job."""
    if ex.check == "python_compile":  # checked in each sample's own job (`_python_build`)
        return [_PYTHON_CHECK] * len(codes)
    prepared = [prepare(name, code) for code in codes]
    if ex.check == "java_worker":
        return _build_java(ex, prepared, timeout_s, threads, memory_mb)
    build_s = min(max(timeout_s, COMPILE_MIN_S), maximums().timeout_s)
    if not ex.build_command:  # interpreted: check syntax, then run the script itself
        check_s = min(max(timeout_s, SYNTAX_CHECK_MIN_S), build_s)
        checked = compile_feedback(name, codes, timeout_s=check_s, workers=threads)
        out = []
        for p, res in zip(prepared, checked):
            if res.outcome != "ok":
                out.append(_compile_error(res.messages, res.isolation))
                continue
            host = sandbox.make_run_dir()
            with open(os.path.join(host, p.file_name), "w", encoding="utf-8",
                      errors="surrogatepass") as f:
                f.write(p.text)
            out.append(_Build(host, _format(ex.run_command, p, f"{PROG}/{p.file_name}", memory_mb)))
        return out

    return list(prepared)  # compiled in each sample's own job (`_build_command`)


def _build_in_job(ex: ExecutionSpec, build: _Build | TestResult | Prepared, code: str,
                  timeout_s: float, memory_mb: int) -> _Build | TestResult:
    """The part of a sample's build made in its own job, just before its run: the Python
    syntax check (so the first runs start without waiting for the batch's) or the build
    command of a compiled language."""
    if build is _PYTHON_CHECK:
        return _python_build(code)
    if isinstance(build, Prepared):
        return _build_command(ex, build, timeout_s, memory_mb)
    return build


_PYTHON_CHECK: Any = object()
"""The build of a Python sample before its job ran the in-process syntax check."""


def _python_build(code: str) -> _Build | TestResult:
    res = python_compile(code)
    return _compile_error(res.messages, "in-process") if res.outcome != "ok" else _Build(None, [])


def _build_command(ex: ExecutionSpec, p: Prepared, timeout_s: float, memory_mb: int
                   ) -> _Build | TestResult:
    """Build one sample with the language's build command in a sandbox."""
    build_s = min(max(timeout_s, COMPILE_MIN_S), maximums().timeout_s)
    host = sandbox.make_run_dir()
    ok, messages, level = run_compiler(ex, ex.build_command, p, host, build_s, out_name="prog")
    if not ok:
        shutil.rmtree(host, ignore_errors=True)
        return _compile_error(messages, level)
    return _Build(host, _format(ex.run_command, p, f"{PROG}/prog", memory_mb))


def _format(template: Sequence[str], p: Prepared, out: str, memory_mb: int) -> list[str]:
    return format_argv(template, memory_mb, src=f"{PROG}/{p.file_name}", out=out, stem=p.stem)


def _build_java(ex: ExecutionSpec, prepared: list[Prepared], timeout_s: float,
                threads: int, memory_mb: int) -> list[_Build | TestResult]:
    root = workers.java_worker_dir(ex)
    tag = secrets.token_hex(4)
    # relative to the worker's working directory: its run dir, whatever the level
    units = [(p.file_name, p.text, f"{tag}-{k}") for k, p in enumerate(prepared)]
    found = workers.java_compile(ex, units, threads, max(timeout_s, COMPILE_MIN_S))
    level = isolation_label(ex, sandbox.isolation_level())
    out: list[_Build | TestResult] = []
    for k, (p, res) in enumerate(zip(prepared, found)):
        host = os.path.join(root, f"{tag}-{k}")
        if res is None or not res[0]:
            shutil.rmtree(host, ignore_errors=True)
            diags = res[1] if res is not None else []
            messages = [Message(d.line - p.line_offset if d.line and d.line > p.line_offset else None,
                                d.text, d.severity, d.column) for d in diags]
            if not messages:
                messages = [Message(None, "compilation failed or timed out", "error")]
            out.append(_compile_error(messages, level))
            continue
        out.append(_Build(host, _format(ex.run_command, p, PROG, memory_mb), stem=p.stem))
    return out


def _run_one(ex: ExecutionSpec, code: str, spec: TestSpec, build: _Build, timeout_s: float,
             output_bytes: int, memory_mb: int, prefix: str | None = None) -> TestResult:
    level = sandbox.isolation_level()
    label = isolation_label(ex, level)
    binds: dict[str, str] = {}
    harness_host, harness_inside = sandbox.harness_binding()
    if harness_host != harness_inside:
        binds[harness_host] = harness_inside
    if build.host_dir:
        sandbox.make_readable(build.host_dir)  # built by the compile run's uid, read by this run's uid
        binds[build.host_dir] = PROG
    job, total = _job(ex, code, spec, spec.timeout_s or timeout_s, prefix)
    nonce = secrets.token_hex(16)
    job.update(nonce=nonce, cap=output_bytes)
    if ex.runs_in_harness and level in sandbox.NAMESPACED:
        job["path"] = list(sandbox.python_path())
    limits = run_limits(ex, memory_mb, total + SANDBOX_GRACE_S,
                        output_bytes=max(output_bytes, 1 << 16))
    env = run_env(ex, memory_mb)
    if level == "namespaces" and not build.host_dir:
        try:
            return _run_warm(job, nonce, limits, env, level, label)
        except workers.WorkerDied:
            nonce = secrets.token_hex(16)  # fall back to a cold sandbox with a new nonce
            job["nonce"] = nonce
    if spec.is_stdio and ex.case_server and build.host_dir:
        binds[workers.java_classes()] = JAVA_HARNESS
        job["server"] = format_argv(ex.case_server, memory_mb, stem=build.stem, out=PROG,
                                    harness=JAVA_HARNESS)
    with Sandbox(limits, ro_binds=binds, env=env, python_packages=ex.runs_in_harness) as box:
        command = [box.path(a) if a.startswith(PROG) else a for a in build.command]
        job["command"] = command
        if "server" in job:
            job["server"] = [box.path(a) if a.startswith((PROG, JAVA_HARNESS)) else a
                             for a in job["server"]]
        argv = [sandbox.python_executable(), "-I", "-S",
                box.path(f"{harness_inside}/runner.py"), "{fd:verdict}"]
        res = box.run(argv, stdin=json.dumps(job).encode(), extra_fds=("verdict",))
    return _verdict(res, nonce, label)


def _job(ex: ExecutionSpec, code: str, spec: TestSpec, budget: float, prefix: str | None
         ) -> tuple[dict[str, object], float]:
    """The judge's job for one of the three test shapes (stdin/stdout cases, calls, assert-style
    tests), and the seconds the whole run gets: `budget` per case or call, the run as a whole
    stopped at the maximum timeout however many it has, plus the start-up allowances."""
    if spec.is_stdio:
        start = HARNESS_START_S + (CASE_SERVER_START_S if ex.case_server else 0)
        total = min(budget * len(spec.stdio), maximums().timeout_s) + start
        return {"mode": "stdio", "cases": [list(c) for c in spec.stdio], "case_timeout": budget,
                "timeout": total, "python": ex.runs_in_harness, "code": code}, total
    if spec.calls:
        total = min(budget * len(spec.calls), maximums().timeout_s) + HARNESS_START_S
        return {"mode": "calls", "code": code, "entry_point": spec.entry_point,
                "case_timeout": budget, "timeout": total,
                "calls": [[list(args), expected] for args, expected in spec.calls]}, total
    return {"mode": "function", "code": code, "test": spec.test, "entry_point": spec.entry_point,
            "asserts": list(spec.asserts), "timeout": budget, "prefix": prefix or ""}, \
        budget + HARNESS_START_S


def _run_warm(job: dict[str, object], nonce: str, limits: Limits, env: dict[str, str], level: str,
              label: str) -> TestResult:
    """Run `job` forked from a zygote (fresh PID/mount namespaces and tmpfs per run): the warm
    path of a sample with no build directory (Python) at the ``namespaces`` level. Raises
    `workers.WorkerDied` when the zygote failed."""
    job = {k: v for k, v in job.items() if k != "nonce"}
    job["command"] = []
    rlimits = {"as": limits.address_space_mb << 20, "cpu": limits.cpu_s,
               "fsize": limits.file_size_mb << 20, "nofile": limits.open_files,
               "nproc": limits.processes, "core": 0}
    verdict, timed_out, exceeded = workers.zygote_run(
        job, nonce, limits=rlimits, wall_s=limits.wall_s, tmpfs_mb=limits.tmpfs_mb,
        env=sandbox.scrubbed_env(env), memory_mb=limits.memory_mb)
    res = sandbox.RunResult(returncode=None if timed_out else 0, stdout=b"", stderr=b"",
                            timed_out=timed_out, truncated=False, wall_s=0.0, isolation=level,
                            extra={"verdict": (verdict or "").encode()}, memory_exceeded=exceeded)
    return _verdict(res, nonce, label)


def _verdict(res: sandbox.RunResult, nonce: str, label: str) -> TestResult:
    if res.memory_exceeded and not res.timed_out:
        # the kernel killed a process of the run at its memory group's limit: whatever
        # the judge saw, the run did not keep within its memory
        return TestResult("runtime_error", 0.0, messages=[Message(None, "memory limit exceeded")],
                          isolation=label)
    try:
        verdict = json.loads(res.extra.get("verdict", b"") or b"null")
    except (ValueError, RecursionError):
        verdict = None
    if not isinstance(verdict, dict) or verdict.get("nonce") != nonce:
        if res.timed_out:
            return TestResult("timeout", 0.0, messages=[Message(None, "time limit exceeded")],
                              isolation=label)
        why = "output limit exceeded" if res.truncated else (
            f"the test run ended without a verdict (exit status {res.returncode})")
        tail = res.stderr.decode("utf-8", "replace").strip()[-300:]
        message = Message(None, f"{why}{': ' + tail if tail else ''}")
        return TestResult("runtime_error", 0.0, messages=[message], isolation=label)
    passed, total = int(verdict["passed"]), int(verdict["total"])
    outcome = verdict["outcome"]
    ratio = passed / total if total else (1.0 if outcome == "passed" else 0.0)
    messages = [Message(m.get("line"), m.get("text", ""), in_test_code=bool(m.get("in_test_code")))
                for m in verdict.get("messages", [])]
    peak = verdict.get("peak_kb")
    return TestResult(outcome, 0.0, pass_ratio=ratio, passed=passed, total=total,
                      first_failing_line=verdict.get("first_failing_line"), messages=messages,
                      isolation=label,
                      peak_memory_mb=peak / 1024 if isinstance(peak, (int, float)) else None)

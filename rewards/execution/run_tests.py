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
runtime error -0.6 (timeouts too), compile error -1; see `RewardValues`.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sysconfig
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from core.languages import ExecutionSpec
from rewards.execution import sandbox, workers
from rewards.execution.compile import (
    Prepared,
    _python_compile,
    compile_feedback,
    execution_spec,
    prepare,
    run_compiler,
)
from rewards.execution.sandbox import BOX, Limits, Sandbox
from rewards.execution.types import Message, RewardValues, TestResult, TestSpec, check_codes

DEFAULT_TIMEOUT_S = 10.0
PROG = "/tmp/prog"
"""Where the built program (or script) is shown, read-only, to the test run."""
JAVA_HARNESS = "/tmp/javaharness"


def run_tests(lang: str, codes: Sequence[str], tests: Sequence[TestSpec], *,
              timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 0,
              rewards: RewardValues | None = None, output_bytes: int = 1 << 20) -> list[TestResult]:
    """Run `codes[i]` against `tests[i]`; one `TestResult` per sample.

    A test is a `TestSpec` or any shape `TestSpec.parse` reads (HumanEval, MBPP, APPS...).
    `timeout_s` is the budget of one sample's assert-style tests, or of each stdin/stdout
    case or call (a `TestSpec.timeout_s` overrides it). `workers` (0: all cores) sandboxes run at
    once. `output_bytes` caps each case's output. Raises ValueError on an unknown
    language, mismatched lengths, tests of no known shape, or assert-style or
    call-based tests for a language other than Python.
    """
    name, ex = execution_spec(lang)
    codes = check_codes(codes)
    tests = list(tests)
    if len(tests) != len(codes):
        raise ValueError(f"{len(codes)} codes but {len(tests)} test specs")
    for k, raw in enumerate(tests):
        if raw is None:
            raise ValueError(f"tests[{k}] is None")
        try:
            spec = tests[k] = TestSpec.parse(raw)
        except ValueError as exc:
            raise ValueError(f"tests[{k}]: {exc}") from None
        if not ex.runs_in_harness and not spec.is_stdio:  # function tests need the Python harness
            raise ValueError(f"tests[{k}]: {name} supports stdin/stdout tests only")
    if timeout_s <= 0:
        raise ValueError("timeout_s must be positive")
    values = rewards or RewardValues()
    threads = workers if workers > 0 else max(os.cpu_count() or 1, 1)
    if not codes:
        return []
    start = time.perf_counter()
    builds = _build(name, ex, codes, tests, timeout_s, threads)
    build_share = (time.perf_counter() - start) / len(codes)

    def one(k: int) -> TestResult:
        build = builds[k]
        if isinstance(build, TestResult):
            return build
        t0 = time.perf_counter()
        try:
            res = _run_one(name, ex, codes[k], tests[k], build, timeout_s, output_bytes)
        finally:
            if build.host_dir:
                shutil.rmtree(build.host_dir, ignore_errors=True)
        res.timings["run"] = time.perf_counter() - t0
        return res

    with ThreadPoolExecutor(min(threads, len(codes))) as pool:
        results = list(pool.map(one, range(len(codes))))
    for res in results:
        res.reward = values.for_outcome(res.outcome)
        res.timings.setdefault("compile", build_share)
    return results


class _Build:
    """A built sample: host directory shown at PROG, and the argv that runs it."""

    def __init__(self, host_dir: str | None, command: list[str], stem: str = ""):
        self.host_dir, self.command, self.stem = host_dir, command, stem


def _compile_error(messages: list[Message], isolation: str) -> TestResult:
    first = next((m.line for m in messages if m.severity == "error"), None)
    return TestResult("compile_error", 0.0, 0.0, 0, 0, first, messages, {}, isolation)


def _build(name: str, ex: ExecutionSpec, codes: list[str], tests: list[TestSpec],
           timeout_s: float, threads: int) -> list[_Build | TestResult]:
    """Compile every sample for running (in parallel); compile errors become results."""
    if ex.check == "python_compile":
        out: list[_Build | TestResult] = []
        for code in codes:
            res = _python_compile(code)
            out.append(_compile_error(res.messages, "in-process") if res.outcome != "ok"
                       else _Build(None, []))
        return out
    prepared = [prepare(name, code) for code in codes]
    if ex.check == "java_worker":
        return _build_java(ex, prepared, timeout_s, threads)
    if not ex.build_command:  # interpreted: check syntax, then run the script itself
        checked = compile_feedback(name, codes, timeout_s=max(timeout_s, 10), workers=threads)
        out = []
        for p, res in zip(prepared, checked):
            if res.outcome != "ok":
                out.append(_compile_error(res.messages, res.isolation))
                continue
            host = sandbox.make_run_dir()
            with open(os.path.join(host, p.file_name), "w", encoding="utf-8",
                      errors="surrogatepass") as f:
                f.write(p.text)
            out.append(_Build(host, _format(ex.run_command, p, f"{PROG}/{p.file_name}")))
        return out

    def one(p: Prepared) -> _Build | TestResult:
        host = sandbox.make_run_dir()
        ok, messages, level = run_compiler(ex, ex.build_command, p, host, max(timeout_s, 30),
                                           out_name="prog")
        if not ok:
            shutil.rmtree(host, ignore_errors=True)
            return _compile_error(messages, level)
        return _Build(host, _format(ex.run_command, p, f"{PROG}/prog"))

    with ThreadPoolExecutor(min(threads, len(prepared))) as pool:
        return list(pool.map(one, prepared))


def _format(template: Sequence[str], p: Prepared, out: str) -> list[str]:
    stem = p.file_name.rsplit(".", 1)[0]
    return [a.format(src=f"{PROG}/{p.file_name}", out=out, stem=stem) for a in template]


def _build_java(ex: ExecutionSpec, prepared: list[Prepared], timeout_s: float,
                threads: int) -> list[_Build | TestResult]:
    root = workers.java_worker_dir(threads)
    tag = secrets.token_hex(4)
    units = [(p.file_name, p.text, f"{BOX}/{tag}-{k}") for k, p in enumerate(prepared)]
    found = workers.java_compile(units, threads, max(timeout_s, 30))
    level = sandbox.isolation_level()
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
        out.append(_Build(host, _format(ex.run_command, p, PROG), stem=p.file_name.rsplit(".", 1)[0]))
    return out


def _run_one(name: str, ex: ExecutionSpec, code: str, spec: TestSpec, build: _Build,
             timeout_s: float, output_bytes: int) -> TestResult:
    budget = spec.timeout_s or timeout_s
    nonce = secrets.token_hex(16)
    level = sandbox.isolation_level()
    binds: dict[str, str] = {}
    harness_host, harness_inside = sandbox.harness_binding()
    if harness_host != harness_inside:
        binds[harness_host] = harness_inside
    if build.host_dir:
        _readable(build.host_dir)  # built by the compile run's uid, read by this run's uid
        binds[build.host_dir] = PROG
    job: dict[str, object] = {"nonce": nonce, "cap": output_bytes}
    if spec.is_stdio:
        total = budget * len(spec.stdio) + 5 + (15 if ex.case_server else 0)
        job.update(mode="stdio", cases=[list(c) for c in spec.stdio], case_timeout=budget,
                   timeout=total, python=ex.runs_in_harness, code=code)
    elif spec.calls:
        total = budget * len(spec.calls) + 5
        job.update(mode="calls", code=code, entry_point=spec.entry_point, case_timeout=budget,
                   calls=[[list(args), expected] for args, expected in spec.calls], timeout=total)
    else:
        total = budget + 5
        job.update(mode="function", code=code, test=spec.test, entry_point=spec.entry_point,
                   asserts=list(spec.asserts), timeout=budget)
    if ex.runs_in_harness and level in sandbox.NAMESPACED:
        job["path"] = [sysconfig.get_paths()["purelib"]]
    limits = Limits(wall_s=total + 5, cpu_s=int(total) + 2,
                    address_space_mb=max(ex.address_space_mb, 1024),
                    processes=512 if ex.address_space_mb > 1024 else 64,
                    output_bytes=max(output_bytes, 1 << 16))
    if level == "namespaces" and not build.host_dir:
        # warm path: fork from a zygote (fresh PID/mount namespaces and tmpfs per run)
        job.pop("nonce")
        job["command"] = []
        rlimits = {"as": limits.address_space_mb << 20, "cpu": limits.cpu_s,
                   "fsize": limits.file_size_mb << 20, "nofile": limits.open_files,
                   "nproc": limits.processes, "core": 0}
        try:
            verdict, timed_out = workers.zygote_run(job, nonce, limits=rlimits, wall_s=limits.wall_s,
                                                    tmpfs_mb=limits.tmpfs_mb,
                                                    env=sandbox.scrubbed_env(ex.env))
            return _verdict(sandbox.RunResult(None if timed_out else 0, b"", b"", timed_out, False, 0.0,
                                              level, {"verdict": (verdict or "").encode()}), nonce, level)
        except workers.WorkerDied:
            nonce = secrets.token_hex(16)  # fall back to a cold sandbox with a new nonce
            job["nonce"] = nonce
    if spec.is_stdio and ex.case_server and build.host_dir:
        binds[workers.java_classes()] = JAVA_HARNESS
        job["server"] = [a.format(stem=build.stem, out=PROG, harness=JAVA_HARNESS) for a in ex.case_server]
    with Sandbox(limits, ro_binds=binds, env=dict(ex.env)) as box:
        command = [box.path(a) if a.startswith(PROG) else a for a in build.command]
        job["command"] = command
        if "server" in job:
            job["server"] = [box.path(a) if a.startswith(("/tmp/prog", JAVA_HARNESS)) else a
                             for a in job["server"]]
        argv = [sandbox.python_executable(), "-I", "-S",
                box.path(f"{harness_inside}/runner.py"), "{fd:verdict}"]
        res = box.run(argv, stdin=json.dumps(job).encode(), extra_fds=("verdict",))
    return _verdict(res, nonce, level)


def _readable(path: str) -> None:
    """Let every uid read (and run) the built program, whatever the umask was."""
    for root, dirs, files in os.walk(path):
        os.chmod(root, 0o755)
        for name in files:
            full = os.path.join(root, name)
            os.chmod(full, 0o755 if os.access(full, os.X_OK) else 0o644)
        del dirs[64:]


def _verdict(res: sandbox.RunResult, nonce: str, level: str) -> TestResult:
    try:
        verdict = json.loads(res.extra.get("verdict", b"") or b"null")
    except (ValueError, RecursionError):
        verdict = None
    if not isinstance(verdict, dict) or verdict.get("nonce") != nonce:
        if res.timed_out:
            return TestResult("timeout", 0.0, 0.0, 0, 0, None,
                              [Message(None, "time limit exceeded")], {}, level)
        why = "output limit exceeded" if res.truncated else (
            f"the test run ended without a verdict (exit status {res.returncode})")
        tail = res.stderr.decode("utf-8", "replace").strip()[-300:]
        return TestResult("runtime_error", 0.0, 0.0, 0, 0, None,
                          [Message(None, f"{why}{': ' + tail if tail else ''}")], {}, level)
    passed, total = int(verdict["passed"]), int(verdict["total"])
    outcome = verdict["outcome"]
    ratio = passed / total if total else (1.0 if outcome == "passed" else 0.0)
    messages = [Message(m.get("line"), m.get("text", ""), in_test_code=bool(m.get("in_test_code")))
                for m in verdict.get("messages", [])]
    return TestResult(outcome, 0.0, ratio, passed, total, verdict.get("first_failing_line"),
                      messages, {}, level)

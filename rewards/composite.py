"""The PPOCoder reward: execution feedback + AST match + data-flow match, per sample.

    R(sample) = w_exec * R_exec + w_ast * R_ast + w_dfg * R_dfg

- ``R_exec`` is the unit-test reward when the sample carries tests (+1 all pass,
  -0.3 a test fails, -0.6 runtime error, -1 compile error, as in CodeRL/PPOCoder), else
  the compile reward (+1 compiles, -1 does not).
- ``R_ast`` / ``R_dfg`` are the fractions of the reference's subtrees / data-flow edges
  found in the sample (0..1); they apply only when the sample carries a reference.
  With ``structural_gain`` and a `Sample.code_prefix` they measure what the response
  adds instead: ``(m(prefix + response) - m(prefix)) / (1 - m(prefix))``, so a prefix
  that already matches most of the reference earns nothing by itself.
- An empty program, or a response that adds nothing a compiler turns into code to its
  code prefix (white space, comments, string-literal or no-op statements, preprocessor
  directives and ``#if 0`` regions, PHP text outside its tags: `core.program_end.adds_code`),
  is the outcome ``empty``: ``R_exec`` is `RewardValues.empty` (by default the
  compile-error value) and ``R_ast``, ``R_dfg`` their lowest value (0; -1 for the
  gain of a response to a prefix). Stopping at once never pays, and never scores above
  an attempt that fails.
- Structural credit needs a program: where execution says ``compile_error`` (or, with
  execution off, tree-sitter finds ERROR/MISSING nodes), ``R_ast`` and ``R_dfg`` take
  the empty response's value (their lowest). Token soup that shares subtrees with the
  reference, or has no data-flow edges like an edgeless reference (which would score
  DFG 1.0), earns nothing; every text that does not compile scores alike.
- `Sample.whole_program` (translation, stdin/stdout synthesis without tests): the
  compile check also links (C/C++/C# need ``main``, Java a ``static void main``).

The per-token KL penalty of the paper is added by the trainer (``core.shaping``), not
here: this module scores programs, it knows nothing about policies.

    >>> from rewards import Sample, score
    >>> [r.total for r in score([Sample("python", "def f(x):\\n    return x\\n",
    ...                                  reference="def f(y):\\n    return y\\n")])]
    [3.0]
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import math
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from dataclasses import fields as dataclass_fields
from typing import Any, TypeVar

from core import languages
from core.program_end import adds_code
from rewards.execution.limits import check_timeout, check_workers
from rewards.execution.types import RewardValues, TestSpec

T = TypeVar("T")


@dataclass
class Sample:
    """One program to score."""

    language: str
    """Language id or alias (see `core.languages.names()`)."""
    code: str
    """The program text (for completion tasks: prefix + generated completion)."""
    reference: str | None = None
    """A reference solution; enables AST and data-flow match."""
    tests: Any = None
    """Unit tests: a `rewards.TestSpec` or any shape `TestSpec.parse` reads (HumanEval's
    test code, MBPP's asserts, APPS's input_output...); when present, execution means running them."""
    prompt: str | None = None
    """The prompt the program answers (kept for logging only)."""
    code_prefix: str | None = None
    """The start of `code` that the model was given (completion); the rest is its response."""
    whole_program: bool = False
    """`code` is a whole program (translation, stdin/stdout synthesis), not a function:
    without tests, compiling it also requires that it links (C/C++ and C# need ``main``,
    Java a ``static void main``). Completions keep the fast syntax check."""


@dataclass
class RewardConfig:
    """Which reward components apply and how they are weighted."""

    use_execution: bool = True
    """Compile the program (or run its unit tests when the sample has tests)."""
    use_ast: bool = True
    """Add the AST subtree match against the reference."""
    use_dfg: bool = True
    """Add the data-flow-graph match against the reference."""
    execution_weight: float = 1.0
    """Weight of the execution reward."""
    ast_weight: float = 1.0
    """Weight of the AST match."""
    dfg_weight: float = 1.0
    """Weight of the data-flow match."""
    threads: int = 0
    """Threads for structural matching and workers for execution (0: all cores)."""
    timeout_s: float = 10.0
    """Wall-clock limit of one program's compile or test run, in seconds."""
    structural_gain: bool = True
    """AST/DFG match of what a response adds to its code prefix (see the module doc), not of
    the whole program; samples without a code prefix are matched whole either way."""
    execution_values: RewardValues = field(default_factory=RewardValues)
    """Execution reward of each outcome (passed, failed, runtime_error, timeout,
    compile_error, compile_ok); the defaults are the paper's."""

    def __post_init__(self) -> None:
        self.timeout_s = check_timeout("timeout_s", self.timeout_s)
        self.threads = check_workers("threads", self.threads)
        for name in ("execution_weight", "ast_weight", "dfg_weight"):
            _check_finite(name, getattr(self, name))
        if not isinstance(self.execution_values, RewardValues):
            raise ValueError(f"execution_values must be RewardValues, got {type(self.execution_values).__name__}")
        for f in dataclass_fields(self.execution_values):
            value = getattr(self.execution_values, f.name)
            if not (value is None and f.name == "empty"):
                _check_finite(f"execution_values.{f.name}", value)


VALUE_BOUND = 1000.0
"""Weights and outcome rewards lie within +-VALUE_BOUND (and are finite)."""


def _check_finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or abs(value) > VALUE_BOUND:
        raise ValueError(f"{name} must be a finite number within +-{VALUE_BOUND:g}, got {value!r}")


@dataclass
class RewardBreakdown:
    """Every component of one sample's reward, and the total."""

    total: float
    execution: float | None = None
    ast: float | None = None
    dfg: float | None = None
    outcome: str = "not_run"
    """Execution outcome: ok / compile_error (compile) or passed / failed /
    runtime_error / compile_error / timeout / test_error (tests); ``empty`` for an empty program or a
    response that adds nothing to its prefix; ``not_run`` when execution is off."""
    pass_ratio: float | None = None
    errors: list[str] = field(default_factory=list)
    """Compiler or runtime messages (with line numbers where the tool gives them)."""
    error_lines: list[int] = field(default_factory=list)
    """Lines of the scored program (1-based, in `Sample.code`) that execution feedback
    names, sorted: compile errors, and the line where a run failed inside the program
    (a traceback's last line in it, its own failing assert included). Never a line of
    the test code or of a system header; empty for a clean program or when no line is
    known. `core.shaping.line_penalty` turns them into per-token penalties."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per component (structural time is the batch's share per sample)."""
    isolation: str | None = None
    """Sandbox isolation level the execution ran under."""

    def components(self) -> dict[str, float]:
        """The components that apply to this sample, by name."""
        parts = {"execution": self.execution, "ast": self.ast, "dfg": self.dfg}
        return {k: v for k, v in parts.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score(samples: Sequence[Sample], config: RewardConfig | None = None) -> list[RewardBreakdown]:
    """Score a batch of samples; the result list is aligned with `samples`.

    Samples are grouped by language; each group is compiled / tested in parallel
    sandboxed workers and structurally matched in one native call. Raises
    `ValueError` for an unknown language, a sample that is not a `Sample`, or tests of no
    known shape.
    """
    results: list[Any] = [None] * len(samples)
    for i, r in score_iter(samples, config):
        results[i] = r
    return results


def score_iter(samples: Sequence[Sample], config: RewardConfig | None = None
               ) -> Iterator[tuple[int, RewardBreakdown]]:
    """`score`, streamed: ``(i, breakdown of samples[i])`` as each sample is done.

    The samples are checked (`ValueError` as in `score`) and their sandboxed runs queued
    when this is called; results then arrive in the order the runs finish, through the
    one scheduler of sandboxed runs (`rewards.execution.scheduler`), so a sample that
    runs to its timeout delays no other. Samples without execution (empty ones, or
    ``use_execution=False``) come first. Closing the iterator early cancels the runs
    that have not started.
    """
    config = config or RewardConfig()
    samples = list(samples)
    groups = _group(samples)
    results = [RewardBreakdown(total=0.0) for _ in samples]
    ready: list[int] = []  # done without execution
    running: list[Callable[[], Iterator[tuple[int, Any, str]]]] = []
    started: list[Any] = []  # the runs queued so far: cancelled if anything below fails
    try:
        for lang, idx in groups.items():
            empty = {i for i in idx if _adds_nothing(samples[i])}
            for i in sorted(empty):
                _mark_empty(results[i], samples[i], config)
            ready.extend(sorted(empty))
            idx = [i for i in idx if i not in empty]
            if not idx:
                continue
            if config.use_execution:
                running.extend(_start_execution(lang, samples, idx, config, started))
            else:
                ready.extend(idx)
        for lang, idx in groups.items():  # the sandboxes run meanwhile
            idx = [i for i in idx if results[i].outcome != "empty"]
            if idx and (config.use_ast or config.use_dfg):
                _add_structural(lang, [samples[i] for i in idx], [results[i] for i in idx], config)
                if not config.use_execution:  # with execution, `_stream` caps compile errors
                    _cap_unparsed(lang, [samples[i] for i in idx], [results[i] for i in idx], config)
    except BaseException:
        for handle in started:
            handle.close()
        raise
    return _stream(samples, results, ready, running, config)


def _group(samples: list[Sample]) -> dict[str, list[int]]:
    """Sample indices by language (checking each sample; raw tests are parsed in place)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, sample in enumerate(samples):
        if not isinstance(sample, Sample):
            raise ValueError(f"sample {i} is a {type(sample).__name__}, expected rewards.Sample")
        if not isinstance(sample.code, str):
            raise ValueError(f"sample {i}: code must be a str")
        groups[languages.get(sample.language).name].append(i)
        if sample.tests is not None and not isinstance(sample.tests, TestSpec):
            try:  # raw dataset shapes (HumanEval, MBPP, APPS...), read without touching the caller's Sample
                samples[i] = replace(sample, tests=TestSpec.parse(sample.tests))
            except ValueError as exc:
                raise ValueError(f"sample {i}: {exc}") from None
    return groups


def _start_execution(lang: str, samples: list[Sample], idx: list[int], config: RewardConfig,
                     started: list[Any]) -> list[Callable[[], Iterator[tuple[int, Any, str]]]]:
    """Queue a language group's runs; each returned source yields ``(sample index, result,
    timing key)``. Test runs stream (and start now; their handle joins `started`); the
    compile check runs when read."""
    from rewards.execution import run_tests_iter

    with_tests = [i for i in idx if samples[i].tests is not None]
    sources: list[Callable[[], Iterator[tuple[int, Any, str]]]] = []
    if with_tests:
        found = run_tests_iter(lang, [samples[i].code for i in with_tests],
                               [samples[i].tests for i in with_tests], timeout_s=config.timeout_s,
                               workers=config.threads, rewards=config.execution_values,
                               prefixes=[_given_prefix(samples[i]) for i in with_tests])
        started.append(found)
        sources.append(lambda: ((with_tests[k], res, "tests") for k, res in found))
    for whole in (False, True):  # a whole program must also link
        ks = [i for i in idx if samples[i].tests is None and samples[i].whole_program == whole]
        if ks:
            sources.append(functools.partial(_compiled, lang, samples, ks, config, whole))
    return sources


def _compiled(lang: str, samples: list[Sample], ks: list[int], config: RewardConfig,
              whole_program: bool) -> Iterator[tuple[int, Any, str]]:
    """The compile check of samples `ks` (run when read), as ``(index, result, "compile")``."""
    from rewards.execution import compile_feedback

    found = compile_feedback(lang, [samples[i].code for i in ks], timeout_s=config.timeout_s,
                             workers=config.threads, rewards=config.execution_values,
                             whole_program=whole_program)
    return ((i, res, "compile") for i, res in zip(ks, found))


def _stream(samples: list[Sample], results: list[RewardBreakdown], ready: list[int],
            running: list[Callable[[], Iterator[tuple[int, Any, str]]]], config: RewardConfig
            ) -> Iterator[tuple[int, RewardBreakdown]]:
    for i in ready:
        yield i, _with_total(results[i], config)
    for i, res, key in _merge(running):
        out = results[i]
        if key == "tests":
            out.pass_ratio = res.pass_ratio
        _copy_execution(out, res, key, samples[i].code)
        if out.outcome == "compile_error":
            _lowest_structural(out, samples[i], config)
        yield i, _with_total(out, config)


def _with_total(r: RewardBreakdown, config: RewardConfig) -> RewardBreakdown:
    r.total = float(
        config.execution_weight * (r.execution or 0.0)
        + config.ast_weight * (r.ast or 0.0)
        + config.dfg_weight * (r.dfg or 0.0)
    )
    return r


def _merge(sources: list[Callable[[], Iterator[T]]]) -> Iterator[T]:
    """The items of several sources, as each arrives (one reader thread per source beyond
    the first; a source's exception is raised here)."""
    if len(sources) == 1:
        yield from sources[0]()
        return
    if not sources:
        return
    items: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    stop = threading.Event()

    def read(source: Callable[[], Iterator[T]]) -> None:
        it = source()
        try:
            for item in it:
                items.put(("item", item))
                if stop.is_set():
                    break
        except BaseException as exc:  # noqa: BLE001 - raised in the reader's thread
            items.put(("error", exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
            items.put(("done", None))

    for source in sources:  # in the caller's context: its scheduler (`scheduler.using`) holds
        threading.Thread(target=contextvars.copy_context().run, args=(read, source),
                         name="ppocoder-score", daemon=True).start()
    left = len(sources)
    try:
        while left:
            kind, value = items.get()
            if kind == "done":
                left -= 1
            elif kind == "error":
                raise value
            else:
                yield value
    finally:
        stop.set()


def _copy_execution(out: RewardBreakdown, res: Any, timing_key: str, code: str) -> None:
    out.execution = float(res.reward)
    out.outcome = res.outcome
    out.errors.extend(str(m) for m in res.messages)
    n_lines = code.count("\n") + 1  # a line past the end is in a fragment's wrapper
    out.error_lines = sorted({m.line for m in res.messages if m.severity == "error"
                              and not m.in_test_code and m.line is not None and 1 <= m.line <= n_lines})
    out.isolation = getattr(res, "isolation", None)
    timings = getattr(res, "timings", None) or {}
    out.timings[timing_key] = float(sum(timings.values())) if isinstance(timings, dict) else float(timings)


def _given_prefix(sample: Sample) -> str | None:
    """The code prefix the task gave, when the program starts with it (its helpers are
    the task's, not the answer's: see `run_tests`)."""
    prefix = sample.code_prefix
    return prefix if prefix and sample.code.startswith(prefix) else None


def _adds_nothing(sample: Sample) -> bool:
    """An empty program, or a response of nothing but white space and comments after its
    prefix (`core.program_end.adds_code`); a program of comments only is empty too."""
    prefix = sample.code_prefix or ""
    if not sample.code.strip():
        return True
    if not prefix or not sample.code.startswith(prefix):
        prefix = ""
    return not adds_code(sample.language, prefix, sample.code[len(prefix):])


def _mark_empty(out: RewardBreakdown, sample: Sample, config: RewardConfig) -> None:
    out.outcome = "empty"
    if config.use_execution:
        out.execution = config.execution_values.for_outcome("empty")
    if sample.reference is not None:
        # The lowest value each match can take, so that stopping never scores above a
        # failed attempt: a failed attempt's gain can be negative (it broke what the
        # prefix had), and a PPO run learned to answer "\n" where it was unsure.
        lowest = -1.0 if config.structural_gain and sample.code_prefix else 0.0
        out.ast = lowest if config.use_ast else None
        out.dfg = lowest if config.use_dfg else None
    out.errors.append("empty response: nothing but white space or comments was added to "
                      "the code prefix" if sample.code_prefix and sample.code.strip()
                      else "empty program")


def _add_structural(lang: str, group: list[Sample], out: list[RewardBreakdown], config: RewardConfig) -> None:
    with_ref = [k for k, s in enumerate(group) if s.reference is not None]
    if not with_ref:
        return
    from core import structural

    start = time.perf_counter()
    refs = [group[k].reference for k in with_ref]
    counts = structural.match(lang, [group[k].code for k in with_ref], refs, threads=config.threads)
    ast, dfg = counts.ast_score(), counts.dfg_score()
    prefixes = [group[k].code_prefix or "" for k in with_ref]
    if config.structural_gain and any(prefixes):
        # The k samples of a prompt share their (prefix, reference): match each pair once.
        pairs = sorted({(p, r) for p, r in zip(prefixes, refs) if p})
        base = structural.match(lang, [p for p, _ in pairs], [r for _, r in pairs],
                                threads=config.threads)
        base_ast = dict(zip(pairs, base.ast_score().tolist()))
        base_dfg = dict(zip(pairs, base.dfg_score().tolist()))
        for j, (p, r) in enumerate(zip(prefixes, refs)):
            if p:
                ast[j] = structural_gain(ast[j], base_ast[p, r])
                dfg[j] = structural_gain(dfg[j], base_dfg[p, r])
    share = (time.perf_counter() - start) / len(with_ref)
    for j, k in enumerate(with_ref):
        if config.use_ast:
            out[k].ast = float(ast[j])
        if config.use_dfg:
            out[k].dfg = float(dfg[j])
        out[k].timings["structural"] = share


def _cap_unparsed(lang: str, group: list[Sample], out: list[RewardBreakdown],
                  config: RewardConfig) -> None:
    """With execution off, a program in which tree-sitter finds ERROR or MISSING nodes (as
    the compiler would see it, fragments wrapped) gets the structural credit of an empty
    response (`_lowest_structural`); with execution on, `_stream` does the same for every
    ``compile_error``. Structural credit measures programs: no text that is not a program
    of `lang` scores above another, or above stopping."""
    unknown = [k for k, r in enumerate(out) if r.outcome == "not_run" and (r.ast is not None or r.dfg is not None)]
    if unknown:
        parsed = _parses(lang, [group[k].code for k in unknown])
        for k, ok in zip(unknown, parsed):
            if not ok:
                _lowest_structural(out[k], group[k], config)


def _lowest_structural(r: RewardBreakdown, sample: Sample, config: RewardConfig) -> None:
    """AST and DFG at the value an empty response gets (their lowest)."""
    lowest = -1.0 if config.structural_gain and sample.code_prefix else 0.0
    if r.ast is not None:
        r.ast = lowest
    if r.dfg is not None:
        r.dfg = lowest


def _parses(lang: str, codes: list[str]) -> list[bool]:
    """Whether tree-sitter parses each code of `lang` without ERROR or MISSING nodes
    (as a compilation unit: a fragment wrapped as its `ExecutionSpec` says)."""
    import tree_sitter

    from rewards.execution.toolchain import prepare

    spec = languages.get(lang)
    parser = tree_sitter.Parser(tree_sitter.Language(spec.grammar()))
    units = [prepare(lang, c).text if spec.execution else c for c in codes]
    return [not parser.parse(u.encode("utf-8", "surrogatepass")).root_node.has_error for u in units]


def structural_gain(whole: float, prefix_only: float) -> float:
    """What a response adds to a structural match: ``(whole - prefix_only) /
    (1 - prefix_only)`` in [-1, 1] (1: the response supplies all that the prefix lacked;
    0: nothing; below 0: it broke what the prefix had). A prefix that already matches
    fully leaves nothing to add: then the score is ``whole - prefix_only`` (<= 0)."""
    room = 1.0 - prefix_only
    gain = whole - prefix_only if room < 1e-9 else (whole - prefix_only) / room
    return float(min(1.0, max(-1.0, gain)))


def import_reward(path: str) -> Callable[[list[Sample]], Sequence[Any]]:
    """The reward function at ``"package.module:function"`` (takes a list of `Sample`,
    returns one float or `RewardBreakdown` per sample); `ValueError` if it is not there."""
    module, _, attr = path.partition(":")
    if not module or not attr:
        raise ValueError(f"reward function must look like 'module:function', got {path!r}")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import reward function {path!r}: {exc}") from exc
    if not callable(fn):
        raise ValueError(f"reward function {path!r} is not callable")
    return fn


RewardSpec = RewardConfig | str | Callable[[list[Sample]], Sequence[Any]]
"""A reward: the PPOCoder reward's `RewardConfig`, a ``"module:function"`` path, or a
function taking a list of `Sample` and returning one float or `RewardBreakdown` each."""


def resolve_reward(spec: RewardSpec) -> Callable[[list[Sample]], list[RewardBreakdown]]:
    """The one way a reward spec becomes a callable: ``samples -> list[RewardBreakdown]``
    (floats from a custom function become ``RewardBreakdown(total=x)``). Used alike by
    the trainer's reward workers and the Ray pool. `ValueError` for a bad spec."""
    if isinstance(spec, RewardConfig):
        return functools.partial(score, config=spec)
    fn = import_reward(spec) if isinstance(spec, str) else spec
    if not callable(fn):
        raise ValueError(f"a reward must be a RewardConfig, a 'module:function' path or a "
                         f"callable, got {type(spec).__name__}")

    def scored(samples: list[Sample]) -> list[RewardBreakdown]:
        return as_breakdowns(fn(samples), len(samples))

    return scored


def as_breakdowns(results: Sequence[Any], n: int) -> list[RewardBreakdown]:
    """A reward function's results as `RewardBreakdown`s; `ValueError` on a wrong count or
    type (a float becomes ``RewardBreakdown(total=x)``)."""
    if len(results) != n:
        raise ValueError(f"reward function returned {len(results)} scores for {n} samples")
    out = []
    for r in results:
        if isinstance(r, RewardBreakdown):
            out.append(r)
        elif isinstance(r, (int, float)) and not isinstance(r, bool):
            out.append(RewardBreakdown(total=float(r)))
        else:
            raise ValueError(f"a reward must be a float or a RewardBreakdown, got {type(r).__name__}")
    return out

"""The PPOCoder reward: execution feedback + AST match + data-flow match, per sample.

    R(sample) = w_exec * R_exec + w_ast * R_ast + w_dfg * R_dfg

- ``R_exec`` is the unit-test reward when the sample carries tests (+1 all pass,
  -0.3 a test fails, -0.6 runtime error, -1 compile error, as in CodeRL/PPOCoder), else
  the compile reward (+1 compiles, -1 does not).
- ``R_ast`` / ``R_dfg`` are the fractions of the reference's subtrees / data-flow edges
  found in the sample (0..1); they apply only when the sample carries a reference.

The per-token KL penalty of the paper is added by the trainer (``core.shaping``), not
here: this module scores programs, it knows nothing about policies.

    >>> from rewards import Sample, score
    >>> [r.total for r in score([Sample("python", "def f(x):\\n    return x\\n",
    ...                                  reference="def f(y):\\n    return y\\n")])]
    [3.0]
"""

from __future__ import annotations

import importlib
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from core import languages
from rewards.execution.types import RewardValues, TestSpec


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
    execution_values: RewardValues = field(default_factory=RewardValues)
    """Execution reward of each outcome (passed, failed, runtime_error, timeout,
    compile_error, compile_ok); the defaults are the paper's."""


@dataclass
class RewardBreakdown:
    """Every component of one sample's reward, and the total."""

    total: float
    execution: float | None = None
    ast: float | None = None
    dfg: float | None = None
    outcome: str = "not_run"
    """Execution outcome: ok / compile_error (compile) or passed / failed /
    runtime_error / compile_error / timeout (tests); ``not_run`` when execution is off."""
    pass_ratio: float | None = None
    errors: list[str] = field(default_factory=list)
    """Compiler or runtime messages (with line numbers where the tool gives them)."""
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
    config = config or RewardConfig()
    groups: dict[str, list[int]] = defaultdict(list)
    samples = list(samples)
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

    results = [RewardBreakdown(total=0.0) for _ in samples]
    for lang, idx in groups.items():
        group = [samples[i] for i in idx]
        if config.use_execution:
            _add_execution(lang, group, [results[i] for i in idx], config)
        if config.use_ast or config.use_dfg:
            _add_structural(lang, group, [results[i] for i in idx], config)
    for r in results:
        r.total = float(
            config.execution_weight * (r.execution or 0.0)
            + config.ast_weight * (r.ast or 0.0)
            + config.dfg_weight * (r.dfg or 0.0)
        )
    return results


def _add_execution(lang: str, group: list[Sample], out: list[RewardBreakdown], config: RewardConfig) -> None:
    from rewards.execution import compile_feedback, run_tests

    with_tests = [k for k, s in enumerate(group) if s.tests is not None]
    compile_only = [k for k, s in enumerate(group) if s.tests is None]
    if with_tests:
        found = run_tests(lang, [group[k].code for k in with_tests], [group[k].tests for k in with_tests],
                          timeout_s=config.timeout_s, workers=config.threads,
                          rewards=config.execution_values)
        for k, res in zip(with_tests, found):
            out[k].pass_ratio = res.pass_ratio
            _copy_execution(out[k], res, "tests")
    if compile_only:
        found = compile_feedback(lang, [group[k].code for k in compile_only],
                                 timeout_s=config.timeout_s, workers=config.threads,
                          rewards=config.execution_values)
        for k, res in zip(compile_only, found):
            _copy_execution(out[k], res, "compile")


def _copy_execution(out: RewardBreakdown, res: Any, timing_key: str) -> None:
    out.execution = float(res.reward)
    out.outcome = res.outcome
    out.errors.extend(str(m) for m in res.messages)
    out.isolation = getattr(res, "isolation", None)
    timings = getattr(res, "timings", None) or {}
    out.timings[timing_key] = float(sum(timings.values())) if isinstance(timings, dict) else float(timings)


def _add_structural(lang: str, group: list[Sample], out: list[RewardBreakdown], config: RewardConfig) -> None:
    with_ref = [k for k, s in enumerate(group) if s.reference is not None]
    if not with_ref:
        return
    from core import structural

    start = time.perf_counter()
    counts = structural.match(lang, [group[k].code for k in with_ref],
                              [group[k].reference for k in with_ref], threads=config.threads)
    share = (time.perf_counter() - start) / len(with_ref)
    ast, dfg = counts.ast_score(), counts.dfg_score()
    for j, k in enumerate(with_ref):
        if config.use_ast:
            out[k].ast = float(ast[j])
        if config.use_dfg:
            out[k].dfg = float(dfg[j])
        out[k].timings["structural"] = share


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

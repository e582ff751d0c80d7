"""Result and test-description types of execution feedback."""

from __future__ import annotations

import ast
import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rewards.execution.limits import check_timeout


@dataclass(frozen=True)
class RewardValues:
    """Reward of each outcome class (defaults: the PPOCoder paper, after CodeRL)."""

    passed: float = 1.0
    """All unit tests pass."""
    failed: float = -0.3
    """A unit test fails (wrong answer)."""
    runtime_error: float = -0.6
    """The program raised, crashed or exited non-zero."""
    timeout: float = -0.6
    """The program ran past its time limit (CodeRL counts this as a runtime error)."""
    compile_error: float = -1.0
    """The program does not compile (or, in Python, does not parse)."""
    test_error: float = 0.0
    """The test code cannot run as written (it hands the candidate a value that cannot
    cross to it): the caller's error, not the answer's; evaluation leaves it out of pass@k."""
    compile_ok: float = 1.0
    """Compile feedback alone: the program compiles."""
    empty: float | None = None
    """An empty program, or a response that adds nothing to its code prefix (outcome
    ``empty``): a failure, so that stopping at once never pays. None: `compile_error`."""

    def for_outcome(self, outcome: str) -> float:
        """The reward of `outcome` (``ok`` means `compile_ok`)."""
        if outcome == "empty":
            return float(self.compile_error if self.empty is None else self.empty)
        return float(self.compile_ok if outcome == "ok" else getattr(self, outcome))


@dataclass(frozen=True)
class Message:
    """One diagnostic: a compiler message or a test failure, with its line when known."""

    line: int | None
    """1-based line in the sample's own code (in the test code when `in_test_code`)."""
    text: str
    severity: str = "error"
    column: int | None = None
    in_test_code: bool = False
    """`line` is a line of the test code (a failing assert), not of the sample."""

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "line ?"
        return f"{'test ' if self.in_test_code else ''}{where}: {self.severity}: {self.text}"


@dataclass
class CompileResult:
    """Compile feedback for one sample."""

    outcome: str
    """``ok`` or ``compile_error`` (warnings never make an error)."""
    reward: float
    messages: list[Message] = field(default_factory=list)
    """Errors and warnings, with line numbers of the sample's own code."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent, e.g. ``{"compile": 0.02}`` (a batch's time is shared out)."""
    isolation: str = "none"
    """What held the compiler: the sandbox level and the memory bound, e.g.
    ``namespaces+rlimit`` (``in-process`` for Python's `compile()`)."""

    @property
    def first_failing_line(self) -> int | None:
        """Line of the first error, if any."""
        return next((m.line for m in self.messages if m.severity == "error"), None)


@dataclass
class TestResult:
    """Unit-test feedback for one sample."""

    __test__ = False  # not a pytest test class

    outcome: str
    """``passed``, ``failed``, ``runtime_error``, ``compile_error``, ``timeout``, or
    ``test_error`` (the tests, not the answer, could not run; see `RewardValues`). A
    run of assert-style tests in which no assert ran is ``failed``, never ``passed``."""
    reward: float
    pass_ratio: float = 0.0
    """Passed checks / checks run (asserts executed, or stdin/stdout cases)."""
    passed: int = 0
    total: int = 0
    first_failing_line: int | None = None
    """Line of the first failing assert in the test code, or of the error in the sample."""
    messages: list[Message] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    isolation: str = "none"
    """What held the run: the sandbox level and the memory bound, e.g. ``namespaces+rlimit``
    (see `rewards.execution.sandbox` and `core.languages.ExecutionSpec.memory_bound`)."""
    peak_memory_mb: float | None = None
    """Largest resident set of any one process of the test run (None when not measured)."""


@dataclass(frozen=True)
class TestSpec:
    """The unit tests of one sample, in one of three shapes.

    * assert-style (Python only): `test` holds test code, e.g. HumanEval's
      ``def check(candidate): assert candidate(2) == 4``, run as ``check(<entry_point>)``;
      and/or `asserts` holds independent statements like MBPP's
      ``assert add(1, 2) == 3`` that name the candidate's functions directly.
    * call-based (Python only, like APPS problems with a ``fn_name``): `calls` is a
      sequence of ``(arguments, expected return value)`` pairs and `entry_point` names the
      function, either a plain function or a method of ``class Solution`` (LeetCode
      style; one instance serves all calls). A return value matches when it equals the
      expected value with tuples read as lists (numbers by exact value, ``1.0`` = ``1``,
      but a bool only equals a bool), or, as APPS's own harness allows, when the
      expected value is a one-element list holding it; dicts whose keys all read as
      integers (JSON turns them into strings) compare with integer keys, in the first
      argument too.
    * stdin/stdout (any language, like APPS): `stdio` is a sequence of
      ``(stdin, expected stdout)`` pairs; output is compared line by line after trimming
      trailing blanks, then token by token: integers exactly, an integer and a decimal as
      exact decimals, two decimals within 1e-6 absolute or relative error.

    Test code is trusted; it runs outside the candidate's process, with the real
    builtins, and sees the candidate's functions through proxies that pass built-in data
    types only (values of other types, such as objects with a custom ``__eq__``, fail the
    test). It sees the entry point and the candidate's functions whose names are not
    builtins' (give `entry_point` when the function under test is named like a builtin).
    Test code must compile and hold at least one ``assert`` (a test that checks nothing
    cannot pass); otherwise construction raises ValueError naming the field.
    `TestSpec.parse` reads the published dataset formats (HumanEval, MBPP, APPS).
    """

    __test__ = False  # not a pytest test class

    test: str = ""
    entry_point: str = ""
    asserts: tuple[str, ...] = ()
    stdio: tuple[tuple[str, str], ...] = ()
    calls: tuple[tuple[tuple[Any, ...], Any], ...] = ()
    """Call-based tests: (arguments, expected return value) of `entry_point`; JSON data only."""
    timeout_s: float | None = None
    """Time budget of this sample's whole test run, or of each stdin/stdout case or call
    (default: the call's `timeout_s`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "asserts", tuple(self.asserts))
        object.__setattr__(self, "stdio", tuple((str(i), str(o)) for i, o in self.stdio))
        try:
            calls = tuple((tuple(args), expected) for args, expected in self.calls)
            json.dumps(calls)
        except (TypeError, ValueError, RecursionError):
            raise ValueError("TestSpec.calls must be (argument list, expected value) pairs of "
                             "JSON data (numbers, strings, booleans, None, lists, dicts)") from None
        object.__setattr__(self, "calls", calls)
        for name in ("test", "entry_point"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"TestSpec.{name} must be a string")
        if not all(isinstance(a, str) for a in self.asserts):
            raise ValueError("TestSpec.asserts must be strings")
        if self.entry_point and not self.entry_point.isidentifier():
            raise ValueError(f"TestSpec.entry_point {self.entry_point!r} is not an identifier")
        if self.test and not self.entry_point and "def check" in self.test:
            raise ValueError("TestSpec.test defines check(); give the entry_point it is called with")
        if self.calls and not self.entry_point:
            raise ValueError("TestSpec.calls needs the entry_point (function name) they call")
        _check_test_code(self.test, self.asserts)
        if sum(map(bool, (self.stdio, self.calls, self.test or self.asserts))) != 1:
            raise ValueError("a TestSpec needs exactly one kind of tests: stdio cases, calls, "
                             "or assert-style tests")
        if self.timeout_s is not None:
            object.__setattr__(self, "timeout_s", check_timeout("TestSpec.timeout_s", self.timeout_s))

    @property
    def is_stdio(self) -> bool:
        return bool(self.stdio)

    @classmethod
    def parse(cls, raw: Any, entry_point: str | None = None) -> TestSpec | None:
        """Unit tests in any published shape, as a TestSpec (None stays None).

        Every format of `rewards.test_formats.FORMATS` is read (HumanEval(+), MBPP, APPS/TACO,
        CodeContests, LiveCodeBench, veRL prime_code, SandboxFusion assert_case, pytest files,
        Codeforces, open-r1 verification_info, LeetCodeDataset, our own forms), as a value,
        a JSON string of one or a whole dataset record.

        Raises ValueError naming what is wrong otherwise.
        """
        if _test_reader is None:  # the `rewards` package loads the registry on import
            raise RuntimeError("no test format registry: import rewards (rewards.test_formats)")
        return _test_reader(raw, entry_point)

    @classmethod
    def from_humaneval(cls, problem: Mapping[str, Any], timeout_s: float | None = None) -> TestSpec:
        """From a HumanEval problem dict (keys ``test`` and ``entry_point``)."""
        return cls(test=problem["test"], entry_point=problem["entry_point"], timeout_s=timeout_s)

    @classmethod
    def from_io(cls, inputs: Iterable[str], outputs: Iterable[str],
                timeout_s: float | None = None) -> TestSpec:
        """From APPS-style parallel lists of stdin texts and expected stdout texts."""
        inputs, outputs = list(inputs), list(outputs)
        if len(inputs) != len(outputs):
            raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
        return cls(stdio=tuple(zip(inputs, outputs)), timeout_s=timeout_s)


_test_reader: Callable[[Any, str | None], TestSpec | None] | None = None
"""`rewards.test_formats.read_tests`, registered by that module when it loads (the
`rewards` package loads it), so that this module stays below the formats read into it."""


def set_test_reader(reader: Callable[[Any, str | None], TestSpec | None]) -> None:
    """Make `reader` the one that `TestSpec.parse` uses (`rewards.test_formats` does this)."""
    global _test_reader
    _test_reader = reader


def _check_test_code(test: str, asserts: tuple[str, ...]) -> None:
    """ValueError unless every piece of test code compiles and one of them asserts."""
    if not test and not asserts:
        return
    found = [_assert_count(test, "TestSpec.test")] if test else []
    found += [_assert_count(a, f"TestSpec.asserts[{k}]") for k, a in enumerate(asserts)]
    if not any(found):
        raise ValueError("the test code has no assert statement: a test that checks nothing "
                         "cannot pass (write each check as `assert ...`)")


@functools.lru_cache(maxsize=1024)
def _assert_count(source: str, field: str) -> int:
    """How many assert statements `source` holds; ValueError naming `field` when it does
    not compile (the k samples of a prompt share their tests: parsed once)."""
    try:
        tree = compile(source, "<test>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        where = f"line {exc.lineno}: " if getattr(exc, "lineno", None) else ""
        msg = getattr(exc, "msg", None) or str(exc)
        raise ValueError(f"{field} does not compile: {where}{msg}") from None
    except RecursionError:
        raise ValueError(f"{field} is nested too deeply to compile") from None
    return sum(isinstance(node, ast.Assert) for node in ast.walk(tree))


def check_codes(codes: Sequence[str]) -> list[str]:
    """Validate a batch of code strings (ValueError on anything but strings)."""
    if isinstance(codes, (str, bytes)):
        raise ValueError("codes must be a sequence of strings, not a single string")
    out = list(codes)
    for k, code in enumerate(out):
        if not isinstance(code, str):
            raise ValueError(f"codes[{k}] is {type(code).__name__}, not str")
    return out

"""Result and test-description types of execution feedback."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


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
    compile_ok: float = 1.0
    """Compile feedback alone: the program compiles."""

    def for_outcome(self, outcome: str) -> float:
        """The reward of `outcome` (``ok`` means `compile_ok`)."""
        return float(self.compile_ok if outcome == "ok" else getattr(self, outcome))


@dataclass(frozen=True)
class Message:
    """One diagnostic: a compiler message or a test failure, with its line when known."""

    line: int | None
    """1-based line in the sample's own code (or in the test code for assertion failures)."""
    text: str
    severity: str = "error"
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "line ?"
        return f"{where}: {self.severity}: {self.text}"


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
    """Sandbox level the compiler ran under (``in-process`` for Python's `compile()`)."""

    @property
    def first_failing_line(self) -> int | None:
        """Line of the first error, if any."""
        return next((m.line for m in self.messages if m.severity == "error"), None)


@dataclass
class TestResult:
    """Unit-test feedback for one sample."""

    __test__ = False  # not a pytest test class

    outcome: str
    """``passed``, ``failed``, ``runtime_error``, ``compile_error`` or ``timeout``."""
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
    """Sandbox level the tests ran under (see `rewards.execution.sandbox`)."""


@dataclass(frozen=True)
class TestSpec:
    """The unit tests of one sample, in one of two shapes.

    * assert-style (Python only): `test` holds test code, e.g. HumanEval's
      ``def check(candidate): assert candidate(2) == 4``, run as ``check(<entry_point>)``;
      and/or `asserts` holds independent statements like MBPP's
      ``assert add(1, 2) == 3`` that name the candidate's functions directly.
    * stdin/stdout (any language, like APPS): `stdio` is a sequence of
      ``(stdin, expected stdout)`` pairs; output is compared line by line after trimming
      trailing blanks, then token by token with a 1e-6 tolerance for numbers.

    Test code is trusted; it runs outside the candidate's process and sees the candidate's
    functions through proxies that pass built-in data types only (values of other types,
    such as objects with a custom ``__eq__``, fail the test).
    """

    __test__ = False  # not a pytest test class

    test: str = ""
    entry_point: str = ""
    asserts: tuple[str, ...] = ()
    stdio: tuple[tuple[str, str], ...] = ()
    timeout_s: float | None = None
    """Time budget of this sample's whole test run (default: the call's `timeout_s`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "asserts", tuple(self.asserts))
        object.__setattr__(self, "stdio", tuple((str(i), str(o)) for i, o in self.stdio))
        for name in ("test", "entry_point"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"TestSpec.{name} must be a string")
        if not all(isinstance(a, str) for a in self.asserts):
            raise ValueError("TestSpec.asserts must be strings")
        if self.entry_point and not self.entry_point.isidentifier():
            raise ValueError(f"TestSpec.entry_point {self.entry_point!r} is not an identifier")
        if self.test and not self.entry_point and "def check" in self.test:
            raise ValueError("TestSpec.test defines check(); give the entry_point it is called with")
        if bool(self.stdio) == bool(self.test or self.asserts):
            raise ValueError("a TestSpec needs either stdio cases or assert-style tests (not both)")

    @property
    def is_stdio(self) -> bool:
        return bool(self.stdio)

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


def check_codes(codes: Sequence[str]) -> list[str]:
    """Validate a batch of code strings (ValueError on anything but strings)."""
    if isinstance(codes, (str, bytes)):
        raise ValueError("codes must be a sequence of strings, not a single string")
    out = list(codes)
    for k, code in enumerate(out):
        if not isinstance(code, str):
            raise ValueError(f"codes[{k}] is {type(code).__name__}, not str")
    return out

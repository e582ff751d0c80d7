"""Execution feedback: compile and unit-test rewards, run inside a sandbox.

    >>> from rewards.execution import compile_feedback
    >>> compile_feedback("python", ["x = 1", "x = ("])[1].outcome
    'compile_error'

* `compile_feedback(lang, codes)` -> `CompileResult` per sample (``ok`` / ``compile_error``,
  reward +1 / -1, compiler messages with the sample's line numbers).
* `run_tests(lang, codes, tests)` -> `TestResult` per sample (``passed``, ``failed``,
  ``runtime_error``, ``compile_error``, ``timeout``; rewards +1 / -0.3 / -0.6 / -1 / -0.6;
  ``test_error``, 0, when the tests themselves cannot run; pass ratio, first failing line),
  with `TestSpec` in assert style (HumanEval, MBPP) or stdin/stdout style (APPS), for
  python, java, cpp, c, c_sharp, javascript, php, go, rust, typescript.
  `run_tests_iter` streams the same results as the runs finish.
* Runs go through one scheduler (`rewards.execution.scheduler`): bounded worker slots,
  concurrent batches served round-robin, no chunk barrier.
* Every result names what held it: the sandbox level (`isolation_level()`; see
  `rewards.execution.sandbox`) and the memory bound, as ``isolation``
  (``namespaces+jvm-heap``). Reward values are configurable with `RewardValues`.
* Every limit (timeouts, memory, output caps) is validated: a bad one raises ValueError
  naming it; the maximums are configurable (`rewards.execution.limits`).
"""

from rewards.execution.compile import compile_feedback, declares_main
from rewards.execution.limits import Limits, Maximums, maximums
from rewards.execution.run_tests import run_tests, run_tests_iter
from rewards.execution.sandbox import isolation_level
from rewards.execution.scheduler import Scheduler
from rewards.execution.types import CompileResult, Message, RewardValues, TestResult, TestSpec

__all__ = ["CompileResult", "Limits", "Maximums", "Message", "RewardValues", "Scheduler", "TestResult",
           "TestSpec", "compile_feedback", "declares_main", "isolation_level", "maximums", "run_tests",
           "run_tests_iter"]

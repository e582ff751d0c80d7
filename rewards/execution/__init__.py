"""Execution feedback: compile and unit-test rewards, run inside a sandbox.

    >>> from rewards.execution import compile_feedback
    >>> compile_feedback("python", ["x = 1", "x = ("])[1].outcome
    'compile_error'
"""

from rewards.execution.compile import compile_feedback
from rewards.execution.run_tests import run_tests
from rewards.execution.sandbox import Limits, isolation_level
from rewards.execution.types import CompileResult, Message, RewardValues, TestResult, TestSpec

__all__ = ["CompileResult", "Limits", "Message", "RewardValues", "TestResult", "TestSpec",
           "compile_feedback", "isolation_level", "run_tests"]
